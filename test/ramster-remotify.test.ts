// RAMster's remotify on real redis-servers: every store lands in local
// zcache; a background Worker moves cold compressed pages to Redis and swaps
// the local entries for remote descriptors after the ack (persistent pages
// after WAIT saw a replica). Model-based runs with a local memory so small
// that most pages go remote; invalidation and overwrite ordering with
// generation checks; faults (a killed remotifier, a stopped server).
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { Redis } from "ioredis";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Ramster, type RamsterOptions } from "../src/ramster/backend.js";
import { redisAvailable, startPrimaryReplica, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode } from "./helpers.js";
import { corpusPage, loadCorpus } from "./corpus.js";
import { createLz4 } from "../bindings/lz4.js";

const ok = redisAvailable("test/ramster-remotify.test.ts");

/** `n` real anon pages that zcache accepts (not same-filled, compress below 7/8 of a page). */
async function samplePages(n: number): Promise<Uint8Array[]> {
  const c = await loadCorpus("anon");
  const codec = await createLz4();
  const out: Uint8Array[] = [];
  for (let i = 0; out.length < n && i < c.count * 4; i++) {
    const p = corpusPage(c, (i * 37) % c.count).slice();
    const w = new BigUint64Array(p.buffer);
    if (w.every((x) => x === w[0]) || codec.compressBlock(p).byteLength > 3584) continue;
    out.push(p);
  }
  return out;
}

async function until(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(server: RedisServer, extra: Partial<RamsterOptions> = {}, frames = 512) {
  const pm = await PhysicalMemory.create({ frames, maxWorkers: 8 });
  const zcache = await Zcache.create(pm);
  const ramster = await Ramster.create(pm, {
    redis: `redis://127.0.0.1:${server.port}`, node: "rm1", workerUrl: helperUrl, commandTimeoutMs: 3000, waitTimeoutMs: 2000,
    zcache, remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2 }, ...extra,
  });
  return { pm, zcache, ramster };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!ok)("ramster remotify: cold zcache pages move to Redis after the ack", () => {
  afterAll(stopAll);

  it("frontswap model (fast-check): every accepted page loads back exactly while most are remote", async () => {
    const pages = await samplePages(64);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(primary);
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const model = new Map<number, number>();
    const into = new Uint8Array(4096);
    let maxRemote = 0;
    await fc.assert(fc.asyncProperty(fc.array(fc.record({
      op: fc.constantFrom("store", "store", "store", "load", "inval", "wait"), off: fc.nat(299), p: fc.nat(pages.length - 1),
    }), { minLength: 50, maxLength: 300 }), async (ops) => {
      for (const { op, off, p } of ops) {
        if (op === "store") {
          if (fs.store(0, off, pages[p]!)) model.set(off, p); else model.delete(off);
        } else if (op === "load") {
          const hit = fs.load(0, off, into);
          expect(hit).toBe(model.has(off));
          if (hit) expect(same(into, pages[model.get(off)!]!)).toBe(true);
        } else if (op === "inval") {
          fs.invalidatePage(0, off);
          model.delete(off);
        } else {
          await new Promise((r) => setTimeout(r, 5)); // let the remotifier run between operations
        }
      }
      maxRemote = Math.max(maxRemote, zcache.stats().remote!.persistentPages);
    }), { numRuns: 15 });
    // Quiesce: most stored pages end up remote; then every one loads back exactly.
    await until("most pages remote", 20_000, () => zcache.stats().remote!.persistentPages >= model.size * 0.9)
      .catch((e) => {
        console.log(JSON.stringify({ model: model.size, used: pm.stats(), z: zcache.stats().remote, r: ramster.stats() })); throw e; });
    // Count with the remotifier paused and no round in flight: a page moving local → remote while
    // stats() reads the local counters and then the remote ones is counted twice (or not at all).
    expect(await ramster.pauseRemotify(true)).toBe(true);
    const s = zcache.stats();
    for (const [off, p] of model) {
      expect(fs.load(0, off, into)).toBe(true);
      expect(same(into, pages[p]!)).toBe(true);
    }
    expect(s.remote!.persistentPages + s.persistentPages).toBe(model.size);
    expect(s.remote!.remotified).toBeGreaterThan(0);
    const rs = ramster.stats();
    console.log("remotify model:", JSON.stringify({ model: model.size, maxRemote, zcacheRemote: s.remote, remotifier: rs.remotifier }));
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
  }, 90_000);

  it("cleancache model (fast-check) on an allkeys-lru server: a get returns the last put bytes or misses, never stale bytes", async () => {
    const pages = await samplePages(48);
    const server = await startRedis({ policy: "allkeys-lru", maxmemory: "64mb" });
    const { pm, zcache, ramster } = await setup(server);
    const cc = Cleancache.for(pm);
    const fsId = await cc.initFs();
    await cc.registerOps(zcache);
    const model = new Map<string, number>();
    const into = new Uint8Array(4096);
    let hits = 0;
    await fc.assert(fc.asyncProperty(fc.array(fc.record({
      op: fc.constantFrom("put", "put", "get", "inval", "wait"), ino: fc.integer({ min: 1, max: 3 }), idx: fc.nat(79), p: fc.nat(pages.length - 1),
    }), { minLength: 50, maxLength: 300 }), async (ops) => {
      for (const { op, ino, idx, p } of ops) {
        const k = `${ino}/${idx}`;
        if (op === "put") {
          if (cc.putPage(fsId, BigInt(ino), idx, pages[p]!)) model.set(k, p); else model.delete(k);
        } else if (op === "get") {
          if (cc.getPage(fsId, BigInt(ino), idx, into)) {
            expect(model.has(k)).toBe(true);
            expect(same(into, pages[model.get(k)!]!)).toBe(true);
            hits++;
          }
          model.delete(k); // a private ephemeral get is exclusive: the page left the pool either way
        } else if (op === "inval") {
          cc.invalidatePage(fsId, BigInt(ino), idx);
          model.delete(k);
        } else {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }), { numRuns: 15 });
    const s = zcache.stats().remote!;
    console.log("cleancache remotify:", JSON.stringify({ hits, remote: s }));
    expect(s.remotified).toBeGreaterThan(0);
    expect(s.remoteHits).toBeGreaterThan(0);
    await cc.invalidateFs(fsId);
    await cc.unregisterOps(zcache);
    await ramster.destroy();
  }, 90_000);

  it("a remotifier Worker killed mid-remotify (a round waiting for its put), again and again: no page lost or wrong, no pin left behind, and it restarts", async () => {
    const pages = await samplePages(64);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(primary);
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const model = new Map<number, number>();
    const into = new Uint8Array(4096);
    let p = 0;
    for (let kill = 0; kill < 5; kill++) {
      for (let i = 0; i < 60; i++) {
        const off = (kill * 37 + i * 11) % 400;
        if (fs.store(0, off, pages[p % pages.length]!)) model.set(off, p % pages.length); else model.delete(off);
        p++;
      }
      const before = ramster.stats().remotifier!;
      // Killed while a round waits for its put (writes held back by CLIENT PAUSE): pages pinned,
      // copies in flight, nothing swapped yet. Kills at random instructions inside wasm sections
      // are the robust and faults tests' matter.
      await primary.command("CLIENT", "PAUSE", "1500", "WRITE");
      await until("a round in its put", 45_000, () => ramster.stats().remotifier!.roundsInPut > 0);
      await ramster.remotifierWorker!.terminate();
      await until("a restarted remotifier", 45_000, () => ramster.stats().remotifier!.restarts > before.restarts);
    }
    await until("most pages remote", 20_000, () => zcache.stats().remote!.persistentPages >= model.size * 0.9);
    for (const [off, q] of model) {
      expect(fs.load(0, off, into)).toBe(true);
      expect(same(into, pages[q]!)).toBe(true);
    }
    const rs = ramster.stats();
    console.log("killed remotifier:", JSON.stringify({ model: model.size, remote: zcache.stats().remote, remotifier: rs.remotifier }));
    expect(rs.remotifier!.restarts).toBeGreaterThanOrEqual(5);
    ramster.pauseRemotify(true);
    await fs.invalidateArea(0);
    const s = zcache.stats();
    // A pin left behind would keep a flushed page's storage: its bytes would stay counted.
    expect(s.persistentPages + s.remote!.persistentPages).toBe(0);
    expect(s.persistentZbytes).toBe(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
  }, 240_000);

  it("a remotifier killed between its writes and its swaps leaves copies no descriptor points to: the sweep after the restart deletes them and keeps every copy the index points to", async () => {
    const pages = await samplePages(64);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(primary);
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const peer = new Redis(`redis://127.0.0.1:${primary.port}`, { maxRetriesPerRequest: 0 });
    const fields = async () => { let n = 0; for (const k of await peer.keys("tmem:*")) n += await peer.hlen(k); return n; };
    const into = new Uint8Array(4096);
    try {
      // A: remote pages, each pointed to by its local descriptor.
      for (let i = 0; i < 40; i++) expect(fs.store(0, i, pages[i]!)).toBe(true);
      await until("A remote", 20_000, () => zcache.stats().remote!.persistentPages >= 40);
      expect(await fields()).toBe(40);
      // B: stored, and the remotifier killed while its round's writes wait in the socket of a
      // stopped server (kill -STOP): they are executed when it continues, after the death.
      // (CLIENT PAUSE would not do: a paused client's commands are dropped when it disconnects.)
      const before = ramster.stats().remotifier!;
      primary.pause();
      try {
        for (let i = 100; i < 140; i++) expect(fs.store(0, i, pages[i % pages.length]!)).toBe(true);
        await until("a round in its put", 20_000, () => ramster.stats().remotifier!.roundsInPut > 0);
        void ramster.pauseRemotify(true); // the restarted remotifier moves nothing: only the sweep runs
        await ramster.remotifierWorker!.terminate();
      } finally {
        primary.resume();
      }
      await until("a restarted remotifier", 20_000, () => ramster.stats().remotifier!.restarts > before.restarts);
      // B's pins are released, its pages local again; invalidated locally, no remote drop is sent for them.
      for (let i = 100; i < 140; i++) fs.invalidatePage(0, i);
      // The held writes land: copies that no descriptor points to.
      await until("the dead remotifier's writes landed", 20_000, async () => (await fields()) > 40);
      const orphans = (await fields()) - 40;
      await until("the orphans swept", 45_000, async () => (await fields()) === 40);
      const rs = ramster.stats().remotifier!;
      console.log("orphan sweep:", JSON.stringify({ orphans, sweeps: rs.sweeps, swept: rs.swept }));
      expect(rs.swept).toBeGreaterThanOrEqual(orphans);
      // Every copy the index points to is still there and exact.
      for (let i = 0; i < 40; i++) { expect(fs.load(0, i, into)).toBe(true); expect(same(into, pages[i]!)).toBe(true); }
      expect(zcache.stats().remote!.persistentPages).toBe(40);
    } finally {
      peer.disconnect();
    }
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
  }, 120_000);

  it("loads of remote pages are read by the loading thread's own connection; a stopped server's page goes to the helper (a clear error, never false or bytes), and the reads come back after it continues", async () => {
    const pages = await samplePages(32);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const { pm, zcache, ramster } = await setup(primary, { commandTimeoutMs: 400, waitTimeoutMs: 250, timeoutMs: 2000, failuresToDown: 1000 });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const into = new Uint8Array(4096);
    for (let i = 0; i < 32; i++) expect(fs.store(0, i, pages[i]!)).toBe(true);
    await until("all remote", 20_000, () => zcache.stats().remote!.persistentPages >= 32);
    await ramster.pauseRemotify(true);
    // The thread's connection opens asynchronously (Ramster.create awaits it, but a reconnect may be under way).
    await until("the direct connection up", 20_000, () => ramster.stats().direct!.connected);
    const d0 = ramster.stats().direct!;
    expect(d0.connected).toBe(true);
    for (let i = 0; i < 32; i++) { expect(fs.load(0, i, into)).toBe(true); expect(same(into, pages[i]!)).toBe(true); }
    const d1 = ramster.stats().direct!;
    expect(d1.hits - d0.hits).toBe(32);
    primary.pause();
    try {
      expect(["ETIMEDOUT", "ENOTCONN"]).toContain(errorCode(() => fs.load(0, 3, into)));
    } finally {
      primary.resume();
    }
    const d2 = ramster.stats().direct!;
    expect(d2.passed).toBeGreaterThan(d1.passed);
    // The connection that timed out was closed (a late reply must never answer a later request); it reopens.
    await until("the direct connection back", 20_000, async () => {
      try { fs.load(0, 5, into); } catch { /* the helper may still time out */ }
      return ramster.stats().direct!.connected;
    });
    const d3 = ramster.stats().direct!;
    for (let i = 0; i < 32; i++) { expect(fs.load(0, i, into)).toBe(true); expect(same(into, pages[i]!)).toBe(true); }
    expect(ramster.stats().direct!.hits - d3.hits).toBe(32);
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
  }, 60_000);

  it("loadAsync (no blocking) returns remote pages exactly; an ephemeral remote page is not removed by it, the sync get then is exclusive", async () => {
    const pages = await samplePages(16);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const { zcache, ramster } = await setup(primary);
    const pers = zcache.createPool({ persistent: true });
    const eph = zcache.createPool({ persistent: false });
    const oid = (i: number) => Uint32Array.of(i, 0, 0, 0, 0, 0);
    for (let i = 0; i < 32; i++) {
      zcache.putPage(pers, oid(i), 0, pages[i % pages.length]!);
      zcache.putPage(eph, oid(i), 1, pages[(i + 5) % pages.length]!);
    }
    await until("all remote", 20_000, () => { const r = zcache.stats().remote!; return r.persistentPages >= 32 && r.ephemeralPages >= 32; });
    const into = new Uint8Array(4096);
    const hits0 = zcache.stats().remote!.remoteHits;
    for (let i = 0; i < 32; i++) {
      expect(await zcache.loadAsync(pers, oid(i), 0, into)).toBe(true);
      expect(same(into, pages[i % pages.length]!)).toBe(true);
      expect(await ramster.loadZcacheAsync(eph, oid(i), 1, into)).toBe(true);
      expect(same(into, pages[(i + 5) % pages.length]!)).toBe(true);
    }
    expect(zcache.stats().remote!.remoteHits - hits0).toBe(64);
    // the async form kept the ephemeral pages; the sync get takes each one (exclusive) and brings it home for good
    for (let i = 0; i < 32; i++) {
      expect(zcache.getPage(eph, oid(i), 1, into)).toBe(true);
      expect(same(into, pages[(i + 5) % pages.length]!)).toBe(true);
      expect(zcache.getPage(eph, oid(i), 1, into)).toBe(false);
    }
    expect(zcache.stats().remote!.ephemeralPages).toBe(0);
    // an overwrite of a remote page wins: the new bytes, never the stale remote copy
    zcache.putPage(pers, oid(3), 0, pages[9]!);
    expect(await zcache.loadAsync(pers, oid(3), 0, into)).toBe(true);
    expect(same(into, pages[9]!)).toBe(true);
    ramster.pauseRemotify(true);
    zcache.destroyPool(pers);
    zcache.destroyPool(eph);
    await ramster.destroy();
  }, 60_000);

  it("selfshrink: when local room returns, remote persistent pages are brought home, exact", async () => {
    const pages = await samplePages(48);
    const { primary } = await startPrimaryReplica({ policy: "noeviction" });
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 8 });
    const zcache = await Zcache.create(pm, { maxPoolPercent: 100 });
    const base = pm.stats().usedFrames / pm.frames;
    // remotify above base + 0.3 of the frames, down to base + 0.25; bring home below base + 0.2
    const ramster = await Ramster.create(pm, {
      redis: `redis://127.0.0.1:${primary.port}`, node: "rm2", workerUrl: helperUrl, commandTimeoutMs: 3000, waitTimeoutMs: 2000,
      zcache, remotify: { highWatermark: base + 0.3, lowWatermark: base + 0.25, homeWatermark: base + 0.2, idleMs: 2 },
    });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const model = new Map<number, number>();
    for (let i = 0; i < 400 && pm.stats().usedFrames / pm.frames < base + 0.4; i++) if (fs.store(0, i, pages[i % pages.length]!)) model.set(i, i % pages.length);
    await until("pages remote", 20_000, () => zcache.stats().remote!.persistentPages > 20);
    // free local room: invalidate every other page (local and remote ones alike)
    for (const off of [...model.keys()]) if (off % 2 === 0) { fs.invalidatePage(0, off); model.delete(off); }
    await until("pages brought home", 20_000, () => zcache.stats().remote!.broughtHome > 0);
    const into = new Uint8Array(4096);
    for (const [off, p] of model) { expect(fs.load(0, off, into)).toBe(true); expect(same(into, pages[p]!)).toBe(true); }
    console.log("selfshrink:", JSON.stringify({ model: model.size, remote: zcache.stats().remote, remotifier: ramster.stats().remotifier }));
    ramster.pauseRemotify(true);
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
  }, 60_000);
});
