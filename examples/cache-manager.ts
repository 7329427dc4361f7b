// SPDX-License-Identifier: MIT
/**
 * examples/cache-manager.ts: cache-manager 7 with tmem as its in-process
 * tier, in front of a second store.
 *
 * What it shows: a two-tier cache-manager cache. Tier 1 is a Keyv over
 * KeyvTmem: values compressed in a shared physical memory under a hard byte
 * budget, one tier for every Worker of the process. Tier 2 is any other Keyv
 * store; here Keyv's own in-memory Map stands in for what a service would
 * put there (@keyv/redis for a Redis shared between processes and hosts).
 * A get tries tier 1 first and falls through to tier 2; `wrap` memoizes a
 * slow function through both.
 *
 * Run it: `node scripts/run-ts.mjs examples/cache-manager.ts`; the test
 * test/cache-manager.test.ts runs {@link runExample} and checks what it reports.
 *
 * In your code, import from the package instead of the source tree:
 *   import { KeyvTmem, TmemCache, PhysicalMemory } from "tmem/keyv";
 * @module
 */
import Keyv from "keyv";
import { createCache } from "cache-manager";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCache } from "../src/cache/cache.js";
import { KeyvTmem } from "../src/cache/keyv.js";

/** What the example saw, for the test to check. */
export interface ExampleReport {
  fetches: number;
  first: unknown;
  second: unknown;
  inTier1: boolean;
  inTier2: boolean;
  afterTier1Evicted: unknown;
  tier1Stats: ReturnType<TmemCache["stats"]>;
}

/** Build the two tiers, use them, report. `log` receives readable lines. */
export async function runExample(log: (line: string) => void = console.log): Promise<ExampleReport> {
  const pm = await PhysicalMemory.create({ frames: 2048 }); // 8 MiB of physical memory
  const tmem = await TmemCache.create(pm, { budget: { share: 0.5 } }); // tier 1 may hold 4 MiB, metadata included
  const tier1 = new Keyv({ store: new KeyvTmem(tmem) });
  const tier2 = new Keyv(); // stands in for new Keyv({ store: new KeyvRedis("redis://...") })
  const cache = createCache({ stores: [tier1, tier2], ttl: 60_000 });

  let fetches = 0;
  const slowFetch = async (id: number): Promise<{ id: number; name: string; body: string }> => {
    fetches++;
    return { id, name: `user ${id}`, body: "profile text ".repeat(500) };
  };
  const first = await cache.wrap("user:1", () => slowFetch(1));
  const second = await cache.wrap("user:1", () => slowFetch(1)); // served from tier 1, no fetch
  const inTier1 = (await tier1.get("user:1")) !== undefined;
  const inTier2 = (await tier2.get("user:1")) !== undefined;
  log(`wrap twice: ${fetches} fetch; in tier 1: ${inTier1}, in tier 2: ${inTier2}`);

  // Tier 1 loses the entry (evicted, or another Worker deleted it): the get falls through to tier 2.
  await tier1.delete("user:1");
  const afterTier1Evicted = await cache.get("user:1");
  const s = tmem.stats();
  log(`after tier 1 lost it: ${afterTier1Evicted !== undefined ? "still served (tier 2)" : "miss"}; ` +
    `tier 1 holds ${s.entries} entries in ${s.bytesHeld} of ${s.budget} bytes`);
  const report = { fetches, first, second, inTier1, inTier2, afterTier1Evicted, tier1Stats: s };
  await cache.disconnect();
  tmem.close();
  pm.detach();
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) await runExample();
