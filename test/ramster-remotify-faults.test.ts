// RAMster remotify under faults, on real redis-servers: a stopped server
// (kill -STOP: timeouts, then the tier marked down; stores stay local;
// remote persistent pages throw, never false or wrong bytes; a replica
// serves them when configured), a full server (OOM under noeviction: pages
// stay local), the single-point-of-failure rule (no replica: persistent
// pages stay local unless opted in by name), and kill -9 of a Redis Cluster
// primary while pages are remotified and loaded.
import { afterAll, describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Ramster, type RamsterOptions } from "../src/ramster/backend.js";
import { redisAvailable, role, startCluster, startPrimaryReplica, startRedis, stopAll } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode } from "./helpers.js";
import { corpusPage, loadCorpus } from "./corpus.js";
import { createLz4 } from "../bindings/lz4.js";

const ok = redisAvailable("test/ramster-remotify-faults.test.ts");

/** `n` real anon pages zcache takes: not same-filled, compressing to at most 7/8 of a page. */
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

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

async function setup(redis: RamsterOptions["redis"], extra: Partial<RamsterOptions> = {}) {
  const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 8 });
  const zcache = await Zcache.create(pm);
  const ramster = await Ramster.create(pm, {
    redis, node: "f1", workerUrl: helperUrl, commandTimeoutMs: 3000, waitTimeoutMs: 2000,
    zcache, remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2 }, ...extra,
  });
  const fs = Frontswap.for(pm);
  await fs.init(0);
  await fs.registerOps(zcache);
  return { pm, zcache, ramster, fs };
}

describe.skipIf(!ok)("ramster remotify under faults", () => {
  afterAll(stopAll);

  it("kill -STOP: remote loads time out, then the tier is down (ENOTCONN at once); stores stay local; a replica serves reads; after CONT all pages are exact", async () => {
    const pages = await samplePages(40);
    const { primary, replica } = await startPrimaryReplica({ policy: "noeviction" });
    const opts = { commandTimeoutMs: 400, waitTimeoutMs: 250, failuresToDown: 2, downRetryMs: 200, timeoutMs: 2000 };
    const a = await setup(`redis://127.0.0.1:${primary.port}`, opts);
    const into = new Uint8Array(4096);
    for (let i = 0; i < 120; i++) expect(a.fs.store(0, i, pages[i % pages.length]!)).toBe(true);
    await until("the pages remote", 20_000, () => a.zcache.stats().remote!.persistentPages >= 120);
    primary.pause();
    try {
      const codes: string[] = [];
      for (let i = 0; i < 8; i++) codes.push(errorCode(() => a.fs.load(0, i, into)));
      // never false, never bytes: a timeout first, then the tier is marked down and loads fail at once
      for (const c of codes) expect(["ETIMEDOUT", "ENOTCONN"]).toContain(c);
      expect(codes).toContain("ETIMEDOUT");
      expect(codes[codes.length - 1]).toBe("ENOTCONN");
      // stores are accepted locally while Redis is stopped (and stay local: the remotifier's puts time out)
      for (let i = 200; i < 240; i++) expect(a.fs.store(0, i, pages[i % pages.length]!)).toBe(true);
      await until("the remotifier seeing timeouts", 10_000, () => a.ramster.stats().remotifier!.kept > 0);
      for (let i = 200; i < 240; i++) { expect(a.fs.load(0, i, into)).toBe(true); expect(same(into, pages[i % pages.length]!)).toBe(true); }
    } finally {
      primary.resume();
    }
    await until("the tier back up", 10_000, () => a.ramster.stats().remote?.down === false);
    for (const i of [...Array(120).keys(), ...Array.from({ length: 40 }, (_, k) => 200 + k)]) {
      expect(a.fs.load(0, i, into)).toBe(true);
      expect(same(into, pages[i % pages.length]!)).toBe(true);
    }
    a.ramster.pauseRemotify(true);
    await a.fs.invalidateArea(0);
    await a.fs.unregisterOps(a.zcache);
    await a.ramster.destroy();
    a.pm.detach();

    // With replicas: reads fail over to the replica while the primary is stopped.
    const b = await setup(`redis://127.0.0.1:${primary.port}`, { ...opts, replicas: [`redis://127.0.0.1:${replica.port}`], failuresToDown: 1000 });
    for (let i = 0; i < 60; i++) expect(b.fs.store(0, i, pages[i % pages.length]!)).toBe(true);
    await until("the pages remote", 20_000, () => b.zcache.stats().remote!.persistentPages >= 60);
    primary.pause();
    try {
      for (let i = 0; i < 60; i += 6) { expect(b.fs.load(0, i, into)).toBe(true); expect(same(into, pages[i % pages.length]!)).toBe(true); }
      expect(b.ramster.stats().remote!.replicaReads).toBeGreaterThan(0);
    } finally {
      primary.resume();
    }
    b.ramster.pauseRemotify(true);
    await b.fs.invalidateArea(0);
    await b.fs.unregisterOps(b.zcache);
    await b.ramster.destroy();
  }, 90_000);

  it("no replica: persistent pages stay local (WAIT finds none) while ephemeral ones go remote; opted in by name, persistent ones go too", async () => {
    const pages = await samplePages(20);
    const server = await startRedis({ policy: "noeviction" });
    const url = `redis://127.0.0.1:${server.port}`;
    const a = await setup(url, { waitTimeoutMs: 100, remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2, refusedBackoffMs: 50 } });
    const cc = Cleancache.for(a.pm);
    const fsId = await cc.initFs();
    await cc.registerOps(a.zcache);
    for (let i = 0; i < 40; i++) { a.fs.store(0, i, pages[i % pages.length]!); cc.putPage(fsId, 1n, i, pages[(i + 3) % pages.length]!); }
    await until("ephemeral pages remote", 20_000, () => a.zcache.stats().remote!.ephemeralPages >= 30)
      .catch((e) => { console.log(JSON.stringify({ z: a.zcache.stats(), r: a.ramster.stats() })); throw e; });
    await until("persistent pages refused", 20_000, () => a.ramster.stats().remotifier!.refused > 0);
    expect(a.zcache.stats().remote!.persistentPages).toBe(0);
    const into = new Uint8Array(4096);
    for (let i = 0; i < 40; i++) { expect(a.fs.load(0, i, into)).toBe(true); expect(same(into, pages[i % pages.length]!)).toBe(true); }
    a.ramster.pauseRemotify(true);
    await a.fs.invalidateArea(0);
    await cc.invalidateFs(fsId);
    await a.fs.unregisterOps(a.zcache);
    await cc.unregisterOps(a.zcache);
    await a.ramster.destroy();
    a.pm.detach();

    const b = await setup(url, { allowSinglePointOfFailure: true });
    for (let i = 0; i < 40; i++) b.fs.store(0, i, pages[i % pages.length]!);
    await until("persistent pages remote (SPOF opted in)", 20_000, () => b.zcache.stats().remote!.persistentPages >= 40);
    for (let i = 0; i < 40; i++) { expect(b.fs.load(0, i, into)).toBe(true); expect(same(into, pages[i % pages.length]!)).toBe(true); }
    // and its server dies: a remote persistent page is a clear error, never false
    await server.kill9();
    const code = errorCode(() => b.fs.load(0, 5, into));
    expect(["ETIMEDOUT", "ENOTCONN", "EIO"]).toContain(code);
    await b.ramster.disconnect();
    b.pm.detach();
  }, 90_000);

  it("OOM under noeviction: remotify stops (pages stay local), every accepted page loads back exactly", async () => {
    const pages = await samplePages(64);
    const server = await startRedis({ policy: "noeviction", maxmemory: "1200kb" });
    const a = await setup(`redis://127.0.0.1:${server.port}`, { allowSinglePointOfFailure: true });
    const accepted = new Map<number, number>();
    for (let i = 0; i < 600; i++) if (a.fs.store(0, i, pages[i % pages.length]!)) accepted.set(i, i % pages.length);
    await until("the server full", 20_000, () => a.ramster.stats().remotifier!.kept > 0);
    const s = a.zcache.stats();
    expect(s.remote!.persistentPages).toBeGreaterThan(0);
    expect(s.persistentPages).toBeGreaterThan(0); // some stayed local: the server refused them
    const into = new Uint8Array(4096);
    for (const [off, p] of accepted) { expect(a.fs.load(0, off, into)).toBe(true); expect(same(into, pages[p]!)).toBe(true); }
    a.ramster.pauseRemotify(true);
    await a.fs.invalidateArea(0);
    await a.fs.unregisterOps(a.zcache);
    await a.ramster.destroy();
  }, 60_000);

  it("kill -9 of a Redis Cluster primary during remotify and loads: no page lost, no wrong byte; loads are exact or a clear error until the failover", async () => {
    const pages = await samplePages(40);
    const c = await startCluster(3, { clusterNodeTimeoutMs: 1000 });
    const seeds = c.nodes.slice(0, 3).map((n) => ({ host: "127.0.0.1", port: n.port }));
    const a = await setup({ cluster: seeds }, { commandTimeoutMs: 1500, waitTimeoutMs: 1000, failuresToDown: 1000, timeoutMs: 4000 });
    const model = new Map<number, number>();
    for (let i = 0; i < 200; i++) if (a.fs.store(0, i, pages[i % pages.length]!)) model.set(i, i % pages.length);
    await until("half the pages remote", 30_000, () => a.zcache.stats().remote!.persistentPages >= 100);
    // more stores while the remotifier works, then kill a primary that holds keys
    for (let i = 200; i < 300; i++) if (a.fs.store(0, i, pages[i % pages.length]!)) model.set(i, i % pages.length);
    let victim = c.nodes[0]!;
    for (const n of c.nodes) if ((await role(n)) === "master" && Number((await n.command("DBSIZE")).slice(1)) > 0) { victim = n; break; }
    await victim.kill9();
    const into = new Uint8Array(4096);
    const deadline = Date.now() + 30_000;
    let pending = [...model.keys()];
    let failed = 0;
    while (pending.length > 0 && Date.now() < deadline) {
      const next: number[] = [];
      for (const off of pending) {
        let hit = false;
        const code = errorCode(() => { hit = a.fs.load(0, off, into); });
        if (code === "no error") { expect(hit).toBe(true); expect(same(into, pages[model.get(off)!]!)).toBe(true); }
        else { expect(["ETIMEDOUT", "ENOTCONN"]).toContain(code); next.push(off); failed++; }
      }
      pending = next;
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(pending).toEqual([]);
    console.log("cluster kill -9:", JSON.stringify({ pages: model.size, failedLoadsDuringFailover: failed, remote: a.zcache.stats().remote, remotifier: a.ramster.stats().remotifier }));
    a.ramster.pauseRemotify(true);
    await a.fs.invalidateArea(0);
    await a.fs.unregisterOps(a.zcache);
    await a.ramster.destroy();
    await c.stop();
  }, 120_000);
});
