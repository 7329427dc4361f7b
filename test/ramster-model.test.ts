// Model-based test of the remote store protocol (fast-check) on a real
// redis-server: random bursts of puts, page flushes and object flushes sent
// without waiting for each other (so they pipeline and race inside the
// helper), gets in between, against a Map model. Every page the model holds
// reads back exactly with its generation; every older generation and every
// flushed page is a miss (ephemeral) or EIO (persistent), never bytes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { RemoteChannel } from "../src/ramster/channel.js";
import type { PoolRef } from "../src/ramster/protocol.js";
import { redisAvailable, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode, noise } from "./helpers.js";

const ok = redisAvailable("test/ramster-model.test.ts");

type Op =
  | { t: "put"; o: number; i: number; len: number; seed: number }
  | { t: "flushPage"; o: number; i: number }
  | { t: "flushObject"; o: number }
  | { t: "get"; o: number; i: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("put" as const), o: fc.nat(3), i: fc.nat(5), len: fc.integer({ min: 1, max: 3000 }), seed: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("flushPage" as const), o: fc.nat(3), i: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("flushObject" as const), o: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("get" as const), o: fc.nat(3), i: fc.nat(5) }) },
);

describe.skipIf(!ok)("ramster protocol model (fast-check) on a real redis-server", () => {
  let server: RedisServer;
  let ch: RemoteChannel;
  let run = 0;
  beforeAll(async () => {
    server = await startRedis({ policy: "noeviction", maxmemory: "256mb" });
    ch = await RemoteChannel.create({
      workerUrl: helperUrl, timeoutMs: 5000,
      init: { redis: `redis://127.0.0.1:${server.port}`, node: "model", commandTimeoutMs: 3000, allowSinglePointOfFailure: true },
    });
  });
  afterAll(async () => { await ch?.close(); await stopAll(); });

  it("pipelined puts and flushes keep per-object order; loads see the last put or miss, never stale bytes", async () => {
    let gen = 0;
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(op, { minLength: 10, maxLength: 80 }), async (persistent, ops) => {
      const pool: PoolRef = { persistent, pool: ++run };
      const model = new Map<string, { gen: number; data: Uint8Array }>();
      const oldGens = new Map<string, number[]>();
      let writes: Promise<unknown>[] = [];
      const settle = async () => { await Promise.all(writes); writes = []; };
      const check = (o: number, i: number) => {
        const k = `${o}/${i}`;
        const m = model.get(k);
        const get = (g: number) => () => ch.callSync("get", { pool, oid: (o + 10).toString(16), index: i, gen: g });
        if (m !== undefined) {
          const got = get(m.gen)();
          expect(got instanceof Uint8Array && Buffer.from(got).equals(Buffer.from(m.data)), `page ${k} gen ${m.gen}`).toBe(true);
        }
        for (const g of oldGens.get(k) ?? []) {
          if (m !== undefined && g === m.gen) continue;
          if (persistent) expect(errorCode(get(g)), `stale ${k} gen ${g}`).toBe("EIO");
          else expect(get(g)(), `stale ${k} gen ${g}`).toBe(null);
        }
      };
      for (const x of ops) {
        if (x.t === "put") {
          const data = noise(x.seed).subarray(0, x.len);
          const g = ++gen;
          model.set(`${x.o}/${x.i}`, { gen: g, data });
          oldGens.set(`${x.o}/${x.i}`, [...(oldGens.get(`${x.o}/${x.i}`) ?? []), g]);
          writes.push(ch.call("put", [{ pool, oid: (x.o + 10).toString(16), index: x.i, gen: g, data }]).then((r) => expect(r).toEqual(["ok"])));
        } else if (x.t === "flushPage") {
          model.delete(`${x.o}/${x.i}`);
          writes.push(ch.call("flush", { pool, oid: (x.o + 10).toString(16), index: x.i }));
        } else if (x.t === "flushObject") {
          for (const k of [...model.keys()]) if (k.startsWith(`${x.o}/`)) model.delete(k);
          writes.push(ch.call("flush", { pool, oid: (x.o + 10).toString(16) }));
        } else {
          await settle();
          check(x.o, x.i);
        }
      }
      await settle();
      for (let o = 0; o < 4; o++) for (let i = 0; i < 6; i++) check(o, i);
      // flushPool removes everything this pool left
      await ch.call("flushPool", { pool });
      for (const [k, m] of model) {
        const [o, i] = k.split("/").map(Number) as [number, number];
        const got = () => ch.callSync("get", { pool, oid: (o + 10).toString(16), index: i, gen: m.gen });
        if (persistent) expect(errorCode(got)).toBe("EIO"); else expect(got()).toBe(null);
      }
    }), { numRuns: 25, seed: 20261201 });
  });
});
