// SPDX-License-Identifier: MIT
/**
 * ramster-profile.ts: one remotify + remote-load run of the real stack
 * (frontswap → zcache → remotifier Worker → Redis; loads through the
 * helper Worker), instrumented for profiling rather than for the table:
 * run it under `node --cpu-prof --cpu-prof-dir=DIR` to get one profile per
 * thread (caller, helper, remotifier), and it prints the Redis round trips
 * it caused (INFO commandstats before/after), the time to remotify, and
 * the load latencies beside the same client's raw GET.
 *
 * Env: RAMSTER_PAGES (16384), RAMSTER_LOADS (3000), RAMSTER_PAUSE_FIRST (1:
 * pause the remotifier before the first store, as bench:ramster does).
 *
 * See also: bench/ramster.ts (the side-by-side table).
 */
import { Redis } from "ioredis";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createLz4 } from "../bindings/lz4.js";
import { decompressFrameSync } from "../src/lz4/frame.js";
import { startRedis, stopAll } from "../test/redis/harness.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Ramster } from "../src/ramster/backend.js";

const N = Number(process.env.RAMSTER_PAGES ?? 16384);
const LOADS = Number(process.env.RAMSTER_LOADS ?? 3000);
const PAUSE_FIRST = (process.env.RAMSTER_PAUSE_FIRST ?? "1") === "1";
const PAGE = 4096;
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!; };

async function commandstats(r: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await r.info("commandstats")).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}
const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]).filter(([, v]) => v !== 0));

const codec = await createLz4();
const corpus = decompressFrameSync(codec, readFileSync("data/sample-anon.pages.lz4"));
const nCorpus = corpus.byteLength / PAGE;
const raw = Array.from({ length: nCorpus }, (_, i) => corpus.slice(i * PAGE, (i + 1) * PAGE));
const server = await startRedis({ policy: "noeviction", maxmemory: "2gb" });
const url = `redis://127.0.0.1:${server.port}`;
const peer = new Redis(url, { maxRetriesPerRequest: 0, commandTimeout: 5000 });
const helperUrl = new URL("../dist/ramster-worker.js", `file://${process.cwd()}/bench/`);
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);

const pm = await PhysicalMemory.create({ frames: 16384, maxWorkers: 8 });
const zcache = await Zcache.create(pm);
const ramster = await Ramster.create(pm, {
  redis: url, node: "prof", workerUrl: helperUrl, commandTimeoutMs: 5000, allowSinglePointOfFailure: true, zcache,
  remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 1, batch: 256 },
});
if (PAUSE_FIRST) ramster.pauseRemotify(true);
const fs = Frontswap.for(pm);
await fs.init(0);
await fs.registerOps(zcache);
const isStored = new Uint8Array(N);
let stored = 0;
for (let i = 0; i < N; i++) if (fs.store(0, i, raw[i % nCorpus]!)) { stored++; isStored[i] = 1; }
const movable = stored - zcache.stats().sameFilledPages;
const c0 = await commandstats(peer);
const t0 = performance.now();
ramster.pauseRemotify(false);
let firstAt = -1;
for (;;) {
  const r = zcache.stats().remote!;
  if (firstAt < 0 && r.persistentPages > 0) firstAt = performance.now() - t0;
  if (r.persistentPages >= movable) break;
  if (performance.now() - t0 > 120_000) throw new Error(`remotify stalled at ${r.persistentPages} of ${movable}`);
  await new Promise((res) => setTimeout(res, 1));
}
const tr = performance.now() - t0;
const c1 = await commandstats(peer);
const rs = ramster.stats();
console.log(JSON.stringify({ stored, movable, remotifyMs: Math.round(tr), firstRemoteAfterMs: Math.round(firstAt),
  pagesPerSec: Math.round(movable / (tr / 1000)), redisCalls: diff(c0, c1), remotifier: rs.remotifier }));

const order = Array.from({ length: LOADS }, (_, i) => (i * 7919) % N).filter((i) => isStored[i] === 1);
const into = new Uint8Array(PAGE);
const ours: number[] = [], theirs: number[] = [];
await peer.set("raw:probe", Buffer.from(raw[1]!));
const c2 = await commandstats(peer);
for (const i of order) {
  let s = performance.now();
  if (!fs.load(0, i, into)) throw new Error(`page ${i} missing`);
  ours.push((performance.now() - s) * 1000);
  s = performance.now();
  await peer.getBuffer("raw:probe");
  theirs.push((performance.now() - s) * 1000);
}
const c3 = await commandstats(peer);
console.log(JSON.stringify({ loads: order.length, ours: { p50: pct(ours, 50), p99: pct(ours, 99) }, peerGet: { p50: pct(theirs, 50), p99: pct(theirs, 99) },
  ratioP50: pct(ours, 50) / pct(theirs, 50), redisCalls: diff(c2, c3), loadavg: loadavg() }));
await ramster.pauseRemotify(true);
await fs.invalidateArea(0);
await fs.unregisterOps(zcache);
await ramster.destroy();
zcache.destroy();
pm.detach();
peer.disconnect();
await server.stop();
await stopAll();
