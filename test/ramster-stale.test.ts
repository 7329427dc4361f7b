// A stale remote copy must never be returned. The model test cannot show it:
// there an overwrite's HSET replaces the old copy in Redis, so an older
// generation is simply missing, and removing the generation check changes
// nothing. Here the old copy is really there: we read the exact bytes Redis
// held for a page's earlier generation (an older put, or a page since
// invalidated) and write them back behind the store's back, as a late or
// replayed command, a failover to a replica that lagged, or another node's
// old write would. Then we load through the real stack (frontswap /
// cleancache → zcache's remote descriptor → the helper → HGET) and through
// the protocol alone: the answer is the current page, a miss (ephemeral)
// or EIO (persistent), never the old bytes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Ramster } from "../src/ramster/backend.js";
import { RemoteChannel } from "../src/ramster/channel.js";
import type { PoolRef } from "../src/ramster/protocol.js";
import { redisAvailable, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode, noise } from "./helpers.js";
import { createLz4, type Lz4Codec } from "../bindings/lz4.js";

const ok = redisAvailable("test/ramster-stale.test.ts");

/**
 * A compressible, not same-filled page (zcache keeps it, remotify moves it):
 * 64 chunks of 16 random bytes (high bit set: none extends a zero run),
 * each followed by 48 zeros. `version` XORs the random bytes with a
 * constant below 0x80, which keeps every equality between bytes, so LZ4
 * finds the same matches and a version of a seed compresses to the same
 * length, mostly; hash-table collisions can shift it by a byte, so
 * {@link sameLengthVersion} picks a version whose length matches (and the
 * test checks the lengths in Redis): zcache's length check cannot tell an old version from
 * the current one, only the generation can.
 */
function page(seed: number, version = 0): Uint8Array {
  const p = new Uint8Array(4096);
  const n = noise(seed);
  const x = (version * 0x35) & 0x7f;
  for (let c = 0; c < 64; c++) for (let j = 0; j < 16; j++) p[c * 64 + j] = (n[c * 16 + j]! | 0x80) ^ x;
  return p;
}

let codec: Lz4Codec | undefined;
/** The first version ≥ 1 of `seed` that our LZ4 (zcache's) compresses to version 0's length. */
function sameLengthVersion(seed: number): Uint8Array {
  const want = codec!.compressBlock(page(seed)).byteLength;
  for (let v = 1; v < 128; v++) {
    const p = page(seed, v);
    if (codec!.compressBlock(p).byteLength === want) return p;
  }
  throw new Error(`no version of seed ${seed} compresses to ${want} bytes`);
}

/** The payload length in a value's header (protocol.ts: offset 8). */
const payloadLen = (v: Buffer) => v.readUInt32LE(8);

/** Each old copy's payload is as long as the current copy of its field (else the test would prove only the length check). */
async function expectSameLengths(r: Redis, old: Map<string, Buffer>): Promise<void> {
  const now = await snapshot(r);
  for (const [kf, v] of old) {
    const cur = now.get(kf);
    expect(cur, `current copy of ${kf}`).toBeDefined();
    expect(payloadLen(cur!), `payload lengths of ${kf}`).toBe(payloadLen(v));
    expect(cur!.equals(v), `${kf} changed`).toBe(false);
  }
}

async function until(what: string, ms: number, cond: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every (key, field, value) this node holds in Redis. */
async function snapshot(r: Redis): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const key of await r.keys("tmem:*")) {
    const h = await r.hgetallBuffer(key);
    for (const [f, v] of Object.entries(h)) out.set(`${key}\u0000${f}`, v);
  }
  return out;
}

async function plant(r: Redis, copies: Map<string, Buffer>): Promise<void> {
  for (const [kf, v] of copies) {
    const [key, field] = kf.split("\u0000") as [string, string];
    await r.hset(key, field, v);
  }
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!ok)("ramster: a stale remote copy planted in Redis is never returned", () => {
  let server: RedisServer;
  let peer: Redis;
  beforeAll(async () => {
    codec = await createLz4();
    server = await startRedis({ policy: "noeviction", maxmemory: "64mb" });
    peer = new Redis(`redis://127.0.0.1:${server.port}`, { maxRetriesPerRequest: 0 });
  });
  afterAll(async () => { peer?.disconnect(); await stopAll(); });

  async function stack() {
    await peer.flushall();
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 8 });
    const zcache = await Zcache.create(pm);
    const ramster = await Ramster.create(pm, {
      redis: `redis://127.0.0.1:${server.port}`, node: "stale", workerUrl: helperUrl, commandTimeoutMs: 3000,
      allowSinglePointOfFailure: true, zcache, remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2 },
    });
    return { pm, zcache, ramster };
  }

  it("frontswap: after an overwrite and after an invalidate + store, the old generation's copy put back is EIO, never the old page", async () => {
    const { pm, zcache, ramster } = await stack();
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    const N = 8, into = new Uint8Array(4096);
    for (let off = 0; off < N; off++) expect(fs.store(0, off, page(off))).toBe(true);
    await until("generation 1 remote", 20_000, () => zcache.stats().remote!.persistentPages === N);
    const old = await snapshot(peer);
    expect(old.size).toBe(N);
    // Half overwritten in place, half invalidated and stored again: both get a new generation.
    for (let off = 0; off < N; off++) {
      if (off % 2 === 1) fs.invalidatePage(0, off);
      expect(fs.store(0, off, sameLengthVersion(off))).toBe(true);
    }
    await until("generation 2 remote", 20_000, () => zcache.stats().remote!.persistentPages === N && zcache.stats().persistentPages === 0);
    ramster.pauseRemotify(true);
    // Sanity: the new copies load right before we tamper.
    expect(fs.load(0, 0, into)).toBe(true);
    expect(same(into, sameLengthVersion(0))).toBe(true);
    await expectSameLengths(peer, old);
    await plant(peer, old);
    for (let off = 0; off < N; off++) {
      let got: boolean | string;
      try { got = fs.load(0, off, into); } catch (e) { got = (e as { code?: string }).code ?? String(e); }
      expect(same(into, page(off)), `page ${off}: the old generation's bytes came back`).toBe(false);
      expect(got, `page ${off}`).toBe("EIO");
    }
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
    zcache.destroy();
    pm.detach();
  }, 60_000);

  it("cleancache: the old generation's copy put back after an overwrite or an invalidate + put is a miss, never the old page", async () => {
    const { pm, zcache, ramster } = await stack();
    const cc = Cleancache.for(pm);
    const fsId = await cc.initFs();
    await cc.registerOps(zcache);
    const N = 8, into = new Uint8Array(4096);
    for (let i = 0; i < N; i++) expect(cc.putPage(fsId, 7n, i, page(200 + i))).toBe(true);
    await until("generation 1 remote", 20_000, () => zcache.stats().remote!.ephemeralPages === N);
    const old = await snapshot(peer);
    expect(old.size).toBe(N);
    for (let i = 0; i < N; i++) {
      if (i % 2 === 1) cc.invalidatePage(fsId, 7n, i);
      expect(cc.putPage(fsId, 7n, i, sameLengthVersion(200 + i))).toBe(true);
    }
    await until("generation 2 remote", 20_000, () => zcache.stats().remote!.ephemeralPages === N && zcache.stats().ephemeralPages === 0);
    ramster.pauseRemotify(true);
    await expectSameLengths(peer, old);
    await plant(peer, old);
    for (let i = 0; i < N; i++) {
      into.fill(0);
      const hit = cc.getPage(fsId, 7n, i, into);
      expect(same(into, page(200 + i)), `page ${i}: the old generation's bytes came back`).toBe(false);
      expect(hit, `page ${i}`).toBe(false);
    }
    await cc.invalidateFs(fsId);
    await cc.unregisterOps(zcache);
    await ramster.destroy();
    zcache.destroy();
    pm.detach();
  }, 60_000);

  it("protocol: a get naming generation g never returns a planted copy of another generation", async () => {
    await peer.flushall();
    const ch = await RemoteChannel.create({
      workerUrl: helperUrl, timeoutMs: 5000,
      init: { redis: `redis://127.0.0.1:${server.port}`, node: "stalep", commandTimeoutMs: 3000, allowSinglePointOfFailure: true },
    });
    try {
      for (const persistent of [false, true]) {
        const pool: PoolRef = { persistent, pool: persistent ? 2 : 1 };
        const a = noise(1).subarray(0, 1200), b = noise(2).subarray(0, 1200);
        expect(ch.callSync("put", [{ pool, oid: "ab", index: 3, gen: 41, data: a }])).toEqual(["ok"]);
        const old = await snapshot(peer);
        expect(ch.callSync("put", [{ pool, oid: "ab", index: 3, gen: 42, data: b }])).toEqual(["ok"]);
        const current = ch.callSync("get", { pool, oid: "ab", index: 3, gen: 42 });
        expect(current instanceof Uint8Array && same(current, b)).toBe(true);
        await plant(peer, old);
        const get = () => ch.callSync("get", { pool, oid: "ab", index: 3, gen: 42 });
        if (persistent) expect(errorCode(get)).toBe("EIO");
        else expect(get()).toBe(null);
        await peer.flushall();
      }
    } finally {
      await ch.close();
    }
  });
});
