// The remote store protocol (src/ramster/store.ts through the helper Worker)
// against real redis-servers: the persistent safety rule (WAIT on a
// noeviction server, or the named single-point-of-failure opt-in), stale
// and corrupt values, OOM under noeviction, and kill -9 of a primary during
// puts and gets with a replica to read from.
import { afterAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { RemoteChannel } from "../src/ramster/channel.js";
import { objectKey, type PoolRef } from "../src/ramster/protocol.js";
import type { PutOutcome, RemoteStats } from "../src/ramster/store.js";
import { redisAvailable, startPrimaryReplica, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { noise, throwsWith } from "./helpers.js";

const ok = redisAvailable("test/ramster-store.test.ts");
const pers: PoolRef = { persistent: true, pool: 5 };
const eph: PoolRef = { persistent: false, pool: 6 };

function open(server: RedisServer, extra: Record<string, unknown> = {}): Promise<RemoteChannel> {
  return RemoteChannel.create({
    workerUrl: helperUrl, timeoutMs: 5000,
    init: { redis: `redis://127.0.0.1:${server.port}`, node: "n1", instance: "i1", commandTimeoutMs: 3000, waitTimeoutMs: 2000, ...extra },
  });
}

const page = (seed: number, len = 1200) => noise(seed).subarray(0, len);
const item = (pool: PoolRef, oid: string, index: number, gen: number, data: Uint8Array) => ({ pool, oid, index, gen, data });
const same = (a: unknown, b: Uint8Array) => a instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!ok)("ramster remote store on real redis-servers", () => {
  afterAll(stopAll);

  it("persistent pages: 'ok' only after WAIT sees a replica on a noeviction server; the replica holds them", async () => {
    const { primary, replica } = await startPrimaryReplica({ policy: "noeviction" });
    const ch = await open(primary);
    const items = Array.from({ length: 50 }, (_, i) => item(pers, (i % 5).toString(16), i, 100 + i, page(i)));
    expect(ch.callSync("put", items)).toEqual(items.map(() => "ok"));
    for (const it of items) expect(same(ch.callSync("get", { pool: pers, oid: it.oid, index: it.index, gen: it.gen }), it.data)).toBe(true);
    const r = new Redis(replica.port, "127.0.0.1");
    expect(await r.hlen(objectKey("n1", "i1", pers, "0"))).toBe(10);
    r.disconnect();
    const st = ch.callSync("stats", {}) as unknown as RemoteStats;
    expect(st.remotePages).toBe(50);
    expect(st.remoteBytes).toBe(50 * 1200);
    expect(st.rttP99us).toBeGreaterThan(0);
    await ch.close();
    await primary.stop(); await replica.stop();
  });

  it("no replica: persistent pages are 'unreplicated' and removed again; with allowSinglePointOfFailure they are 'ok'; an evicting server refuses them", async () => {
    const s = await startRedis({ policy: "noeviction" });
    const ch = await open(s, { waitTimeoutMs: 50 });
    expect(ch.callSync("put", [item(pers, "1", 0, 1, page(1)), item(eph, "1", 0, 1, page(2))])).toEqual(["unreplicated", "ok"]);
    const r = new Redis(s.port, "127.0.0.1");
    // the unreplicated copy is deleted behind the put (in the object's FIFO)
    const persKey = objectKey("n1", "i1", pers, "1");
    const end = Date.now() + 2000;
    while ((await r.hlen(persKey)) !== 0 && Date.now() < end) await new Promise((x) => setTimeout(x, 20));
    expect(await r.hlen(persKey)).toBe(0);
    await ch.close();
    const spof = await open(s, { waitTimeoutMs: 50, allowSinglePointOfFailure: true });
    expect(spof.callSync("put", [item(pers, "1", 0, 1, page(1))])).toEqual(["ok"]);
    expect(same(spof.callSync("get", { pool: pers, oid: "1", index: 0, gen: 1 }), page(1))).toBe(true);
    await spof.close();
    const lru = await startRedis({ policy: "allkeys-lru" });
    const ch2 = await open(lru, { allowSinglePointOfFailure: true });
    expect(ch2.callSync("put", [item(pers, "1", 0, 1, page(1)), item(eph, "1", 0, 1, page(1))])).toEqual(["refused", "ok"]);
    await ch2.close();
    r.disconnect();
    await s.stop(); await lru.stop();
  });

  it("a stale generation or corrupt bytes: a miss for an ephemeral page, EIO for a persistent one, never the bytes", async () => {
    const s = await startRedis({ policy: "noeviction" });
    const ch = await open(s, { allowSinglePointOfFailure: true });
    ch.callSync("put", [item(eph, "a", 1, 10, page(10)), item(pers, "a", 1, 10, page(10))]);
    ch.callSync("put", [item(eph, "a", 1, 11, page(11)), item(pers, "a", 1, 11, page(11))]); // overwrite
    expect(ch.callSync("get", { pool: eph, oid: "a", index: 1, gen: 10 })).toBe(null);
    throwsWith(() => ch.callSync("get", { pool: pers, oid: "a", index: 1, gen: 10 }), "EIO");
    expect(same(ch.callSync("get", { pool: eph, oid: "a", index: 1, gen: 11 }), page(11))).toBe(true);
    // flip one payload byte behind the store's back
    const r = new Redis(s.port, "127.0.0.1");
    for (const p of [eph, pers]) {
      const k = objectKey("n1", "i1", p, "a");
      const v = (await r.hgetBuffer(k, "1"))!;
      v[100]! ^= 1;
      await r.hset(k, "1", v);
    }
    expect(ch.callSync("get", { pool: eph, oid: "a", index: 1, gen: 11 })).toBe(null);
    throwsWith(() => ch.callSync("get", { pool: pers, oid: "a", index: 1, gen: 11 }), "EIO");
    // a flushed persistent page is lost remotely, not a miss
    ch.callSync("flush", { pool: pers, oid: "a", index: 1, pages: 1, bytes: 1200 });
    throwsWith(() => ch.callSync("get", { pool: pers, oid: "a", index: 1, gen: 11 }), "EIO");
    const st = ch.callSync("stats", {}) as unknown as RemoteStats;
    expect(st.staleOrCorrupt).toBe(4);
    r.disconnect();
    await ch.close();
    await s.stop();
  });

  it("OOM under noeviction: the remote refuses ('full'), every page it accepted reads back exactly", async () => {
    const s = await startRedis({ policy: "noeviction", maxmemory: "3mb" });
    const ch = await open(s, { allowSinglePointOfFailure: true });
    const accepted: Array<ReturnType<typeof item>> = [];
    let full = 0;
    for (let b = 0; b < 40 && full === 0; b++) {
      const batch = Array.from({ length: 64 }, (_, i) => item(pers, (b * 64 + i).toString(16), 0, b * 64 + i, page(b * 64 + i, 2000)));
      const res = ch.callSync("put", batch) as PutOutcome[];
      res.forEach((r, i) => { if (r === "ok") accepted.push(batch[i]!); else { expect(r).toBe("full"); full++; } });
    }
    expect(full).toBeGreaterThan(0);
    expect(accepted.length).toBeGreaterThan(100);
    for (const it of accepted) expect(same(ch.callSync("get", { pool: pers, oid: it.oid, index: 0, gen: it.gen }), it.data)).toBe(true);
    // a full server is alive: the tier is not marked down
    expect(ch.tierDown).toBe(false);
    await ch.close();
    await s.stop();
  });

  it("kill -9 of the primary during puts and gets: no put that said 'ok' is lost, reads fail over to the replica, the tier goes down", async () => {
    const { primary, replica } = await startPrimaryReplica({ policy: "noeviction" });
    const ch = await open(primary, { replicas: [`redis://127.0.0.1:${replica.port}`], failuresToDown: 2 });
    const acked: Array<ReturnType<typeof item>> = [];
    const inflight: Promise<unknown>[] = [];
    for (let b = 0; b < 30; b++) {
      const batch = Array.from({ length: 32 }, (_, i) => item(pers, (b % 7).toString(16), b * 32 + i, b * 32 + i + 1, page(b * 32 + i)));
      if (b === 15) void primary.kill9();
      const p = ch.call("put", batch).then((res) => (res as PutOutcome[]).forEach((r, i) => { if (r === "ok") acked.push(batch[i]!); }), () => {});
      // the first 10 batches one after another (acknowledged), the rest in flight around the kill
      if (b < 10) await p; else inflight.push(p);
      if (b % 3 === 0) await new Promise((x) => setTimeout(x, 5));
    }
    await Promise.all(inflight);
    expect(primary.alive).toBe(false);
    expect(acked.length).toBeGreaterThanOrEqual(10 * 32);
    expect(acked.length).toBeLessThan(30 * 32);
    for (const it of acked) expect(same(ch.callSync("get", { pool: pers, oid: it.oid, index: it.index, gen: it.gen }), it.data)).toBe(true);
    const st = ch.callSync("stats", {}) as unknown as RemoteStats;
    expect(st.replicaReads).toBe(acked.length);
    expect(ch.tierDown).toBe(true);
    expect(ch.callSync("put", [item(pers, "1", 0, 1, page(1))])).toEqual(["down"]);
    await ch.close();
    await replica.stop();
  });
});

describe.skipIf(!ok)("two nodes on one redis-server", () => {
  afterAll(stopAll);

  it("a shared pool (by uuid) is seen from both nodes; a private pool of one is invisible to the other; an invalidate on one node is a miss on the other", async () => {
    const s = await startRedis({ policy: "allkeys-lru" });
    const mk = (node: string) => RemoteChannel.create({ workerUrl: helperUrl, timeoutMs: 5000, init: { redis: `redis://127.0.0.1:${s.port}`, node, commandTimeoutMs: 3000 } });
    const [a, b] = [await mk("node-a"), await mk("node-b")];
    const shared: PoolRef = { persistent: false, pool: 1, uuid: "0123456789abcdef0123456789abcdef" };
    const priv: PoolRef = { persistent: false, pool: 1 };
    expect(a.callSync("put", [item(shared, "5", 0, 1, page(5)), item(priv, "5", 0, 1, page(6))])).toEqual(["ok", "ok"]);
    // node b reads the shared page with no descriptor of its own (any generation), not a's private one
    expect(same(b.callSync("get", { pool: shared, oid: "5", index: 0 }), page(5))).toBe(true);
    expect(b.callSync("get", { pool: priv, oid: "5", index: 0 })).toBe(null);
    expect(same(a.callSync("get", { pool: priv, oid: "5", index: 0, gen: 1 }), page(6))).toBe(true);
    // b overwrites the shared page: a's descriptor (generation 1) no longer matches — a miss, not b's bytes as a's
    b.callSync("put", [item(shared, "5", 0, 77, page(7))]);
    expect(a.callSync("get", { pool: shared, oid: "5", index: 0, gen: 1 })).toBe(null);
    expect(same(a.callSync("get", { pool: shared, oid: "5", index: 0 }), page(7))).toBe(true);
    // b invalidates it: a misses
    await b.call("flush", { pool: shared, oid: "5", index: 0 });
    expect(a.callSync("get", { pool: shared, oid: "5", index: 0 })).toBe(null);
    await a.close(); await b.close();
    await s.stop();
  });
});
