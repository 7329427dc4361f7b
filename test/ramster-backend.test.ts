// The "ramster" backend chained behind zcache in the frontends, against real
// redis-servers: a model-based frontswap/cleancache run with a local memory
// small enough that most stores overflow to Redis; a dead persistent server
// makes loads throw (never false, never wrong bytes) and stores fall back;
// an ephemeral server that goes away turns gets into misses.
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Ramster } from "../src/ramster/backend.js";
import { redisAvailable, startPrimaryReplica, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode } from "./helpers.js";
import { corpusPage, loadCorpus } from "./corpus.js";

/** `n` real anon pages (distinct, compressible ones first doesn't matter: zcache rejects the poor ones). */
async function samplePages(n: number): Promise<Uint8Array[]> {
  const c = await loadCorpus("anon");
  return Array.from({ length: n }, (_, i) => corpusPage(c, (i * 37) % c.count).slice());
}

const ok = redisAvailable("test/ramster-backend.test.ts");

async function setup(server: RedisServer, extra: Record<string, unknown> = {}) {
  const pm = await PhysicalMemory.create({ frames: 256, maxWorkers: 4 });
  // zcache may use 10 % of 1 MiB for persistent pages: most stores overflow to the remote tier
  const zcache = await Zcache.create(pm, { maxPoolPercent: 10 });
  const ramster = await Ramster.create(pm, {
    redis: `redis://127.0.0.1:${server.port}`, node: "t1", workerUrl: helperUrl, commandTimeoutMs: 3000, waitTimeoutMs: 2000, ...extra,
  });
  return { pm, zcache, ramster };
}

describe.skipIf(!ok)("ramster backend behind zcache, on real redis-servers", () => {
  afterAll(stopAll);
  let pages: Uint8Array[] = [];

  it("frontswap model (fast-check): every accepted page loads back exactly, most of them from Redis", async () => {
    pages = await samplePages(64);
    const { primary, replica } = await startPrimaryReplica({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(primary);
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(ramster);
    await fs.registerOps(zcache); // newest first: zcache is the head, ramster takes what it rejects
    const model = new Map<number, number>(); // offset → page number
    const into = new Uint8Array(4096);
    await fc.assert(fc.property(fc.array(fc.record({ op: fc.constantFrom("store", "store", "load", "inval"), off: fc.nat(199), p: fc.nat(pages.length - 1) }), { minLength: 50, maxLength: 200 }), (ops) => {
      for (const { op, off, p } of ops) {
        if (op === "store") {
          if (fs.store(0, off, pages[p]!)) model.set(off, p); else model.delete(off);
        } else if (op === "load") {
          const hit = fs.load(0, off, into);
          expect(hit).toBe(model.has(off));
          if (hit) expect(Buffer.from(into).equals(Buffer.from(pages[model.get(off)!]!))).toBe(true);
        } else {
          fs.invalidatePage(0, off);
          model.delete(off);
        }
      }
      for (const [off, p] of model) {
        expect(fs.load(0, off, into)).toBe(true);
        expect(Buffer.from(into).equals(Buffer.from(pages[p]!))).toBe(true);
      }
    }), { numRuns: 8, seed: 11 });
    const st = ramster.stats();
    expect(st.stores).toBeGreaterThan(100);
    expect(st.remote!.hits).toBeGreaterThan(100);
    expect(st.remote!.staleOrCorrupt).toBe(0);
    expect(st.remotePages).toBeGreaterThan(0);
    // the persistent pages are on the replica too
    const keys = await replica.command("DBSIZE");
    expect(Number(keys.slice(1))).toBeGreaterThan(0);
    // unregistering moves ramster's pages out (remote loads), to zcache or the writeback: nothing lost on the way
    const written = new Map<number, Uint8Array>();
    await fs.unregisterOps(ramster, { writeback: (_t, off, pg) => { written.set(off, pg.slice()); } });
    expect(written.size).toBeGreaterThan(0);
    for (const [off, p] of model) {
      const got = fs.load(0, off, into) ? into : written.get(off);
      expect(got, `offset ${off}`).toBeDefined();
      expect(Buffer.from(got!).equals(Buffer.from(pages[p]!))).toBe(true);
    }
    await ramster.destroy();
    await primary.stop(); await replica.stop();
  });

  it("a persistent server that dies: stores still succeed locally or are refused, a remote page's load throws, never false or wrong", async () => {
    if (pages.length === 0) pages = await samplePages(64);
    const s = await startRedis({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(s, { allowSinglePointOfFailure: true, commandTimeoutMs: 300, failuresToDown: 1 });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(ramster);
    await fs.registerOps(zcache);
    const stored: number[] = [];
    for (let off = 0; off < 120; off++) if (fs.store(0, off, pages[off % pages.length]!)) stored.push(off);
    expect(stored.length).toBe(120);
    expect(ramster.stats().stores).toBeGreaterThan(0);
    await s.kill9();
    const into = new Uint8Array(4096);
    let remoteErrors = 0;
    for (const off of stored) {
      const code = errorCode(() => {
        expect(fs.load(0, off, into)).toBe(true);
        expect(Buffer.from(into).equals(Buffer.from(pages[off % pages.length]!))).toBe(true);
      });
      if (code !== "no error") { expect(["EIO", "ENOTCONN", "ETIMEDOUT"]).toContain(code); remoteErrors++; }
    }
    expect(remoteErrors).toBe(ramster.stats().stores);
    // the tier is down now: a new store is rejected by ramster at once (zcache is full) — false, the caller keeps it
    const t0 = Date.now();
    const r = fs.store(0, 500, pages[0]!);
    expect(Date.now() - t0).toBeLessThan(200);
    if (!r) expect(fs.load(0, 500, into)).toBe(false);
    await ramster.disconnect();
  });

  it("cleancache: pages overflow to an allkeys-lru server; after it dies gets miss (never an error) and puts are refused", async () => {
    if (pages.length === 0) pages = await samplePages(64);
    const s = await startRedis({ policy: "allkeys-lru" });
    const { pm, zcache, ramster } = await setup(s, { commandTimeoutMs: 300, failuresToDown: 1 });
    const cc = Cleancache.for(pm);
    const fsId = await cc.initFs();
    await cc.registerOps(ramster);
    await cc.registerOps(zcache);
    // zcache evicts clean pages rather than refusing them: fill it past its frames so ramster sees puts
    let accepted = 0;
    for (let i = 0; i < 400; i++) if (cc.putPage(fsId, 7n, i, pages[i % pages.length]!)) accepted++;
    expect(accepted).toBeGreaterThan(0);
    const into = new Uint8Array(4096);
    let hits = 0;
    for (let i = 0; i < 400; i++) {
      if (cc.getPage(fsId, 7n, i, into)) {
        expect(Buffer.from(into).equals(Buffer.from(pages[i % pages.length]!))).toBe(true);
        hits++;
      }
    }
    expect(hits).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) cc.putPage(fsId, 8n, i, pages[i % pages.length]!);
    await s.kill9();
    for (let i = 0; i < 50; i++) {
      const hit = cc.getPage(fsId, 8n, i, into);
      if (hit) expect(Buffer.from(into).equals(Buffer.from(pages[i % pages.length]!))).toBe(true);
    }
    await cc.unregisterOps(ramster);
    await ramster.destroy();
  });
});
