// The synchronous-over-async channel to the ramster helper Worker, against a
// real redis-server: sync and async calls from the main thread and from a
// worker_thread, timeouts on a stopped server, the tier marked down and back
// up, and a helper that dies mid-operation ending every wait with an error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { RemoteChannel } from "../src/ramster/channel.js";
import { redisAvailable, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { bundleWorker, helperUrl } from "./redis/bundle.js";
import { noise, rejectsWith, throwsWith } from "./helpers.js";

const ok = redisAvailable("test/ramster-channel.test.ts");
const eph = { persistent: false, pool: 1 };

function open(server: RedisServer, extra: Record<string, unknown> = {}, timeoutMs = 1000): Promise<RemoteChannel> {
  return RemoteChannel.create({
    workerUrl: helperUrl, timeoutMs, deadAfterMs: 400,
    init: { redis: `redis://127.0.0.1:${server.port}`, node: "n1", commandTimeoutMs: 300, failuresToDown: 2, downRetryMs: 100, ...extra },
  });
}

type WorkerReply = { ok: boolean; value?: unknown; code?: string; ms: number };
function ask(w: Worker, op: string, args: unknown, timeoutMs?: number): Promise<WorkerReply> {
  return new Promise((resolve) => { w.once("message", resolve); w.postMessage({ op, args, timeoutMs }); });
}

describe.skipIf(!ok)("ramster channel (helper Worker + Atomics.wait) on a real redis-server", () => {
  let server: RedisServer;
  let attachUrl: URL;
  beforeAll(async () => {
    server = await startRedis({ policy: "allkeys-lru", maxmemory: "32mb" });
    attachUrl = await bundleWorker("test/redis/attach-worker.ts");
  });
  afterAll(stopAll);

  it("a synchronous put and get from the main thread return exactly the bytes", async () => {
    const ch = await open(server);
    const page = noise(7).subarray(0, 1500);
    expect(ch.callSync("put", [{ pool: eph, oid: "abc", index: 3, gen: 9, data: page }])).toEqual(["ok"]);
    const got = ch.callSync("get", { pool: eph, oid: "abc", index: 3, gen: 9 });
    expect(got).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(got as Uint8Array).equals(Buffer.from(page))).toBe(true);
    // into a caller's buffer
    const into = new Uint8Array(4096);
    const view = ch.callSync("get", { pool: eph, oid: "abc", index: 3, gen: 9 }, [], undefined, into) as Uint8Array;
    expect(view.buffer).toBe(into.buffer);
    expect(view.byteLength).toBe(1500);
    // a helper-side error comes back typed
    throwsWith(() => ch.callSync("get", { pool: eph, oid: "XYZ", index: 0 }), "EINVAL");
    throwsWith(() => ch.callSync("nosuchop", {}), "EINVAL");
    // async form
    expect(await ch.call("echo", new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
    await ch.close();
    throwsWith(() => ch.callSync("echo", new Uint8Array(1)), "ENOTCONN");
  });

  it("a worker_thread attached to the channel makes its own synchronous calls", async () => {
    const ch = await open(server);
    const h = ch.connect();
    const w = new Worker(attachUrl, { workerData: h, transferList: [h.port] });
    await new Promise((r) => w.once("message", r));
    const page = noise(11).subarray(0, 900);
    const put = await ask(w, "put", [{ pool: eph, oid: "a1", index: 0, gen: 1, data: page }]);
    expect(put).toMatchObject({ ok: true, value: ["ok"] });
    // the main thread sees what the worker put, and vice versa
    expect(Buffer.from(ch.callSync("get", { pool: eph, oid: "a1", index: 0, gen: 1 }) as Uint8Array).equals(Buffer.from(page))).toBe(true);
    ch.callSync("put", [{ pool: eph, oid: "a1", index: 1, gen: 2, data: page.subarray(0, 10) }]);
    const got = await ask(w, "get", { pool: eph, oid: "a1", index: 1, gen: 2 });
    expect(Buffer.from(got.value as Uint8Array).equals(Buffer.from(page.subarray(0, 10)))).toBe(true);
    await w.terminate();
    await ch.close();
  });

  it("kill -STOP: calls end in ETIMEDOUT within their bound, the tier is marked down, puts are refused without a round trip; kill -CONT brings it back", async () => {
    const s = await startRedis({ policy: "allkeys-lru" });
    const ch = await open(s, {}, 800);
    expect(ch.callSync("put", [{ pool: eph, oid: "1", index: 0, gen: 1, data: new Uint8Array(100) }])).toEqual(["ok"]);
    s.pause();
    const t0 = Date.now();
    // the store's command timeout (300 ms) answers first: an ephemeral get misses, a put reports "timeout"
    expect(ch.callSync("get", { pool: eph, oid: "1", index: 0, gen: 1 })).toBe(null);
    expect(ch.callSync("put", [{ pool: eph, oid: "1", index: 1, gen: 2, data: new Uint8Array(100) }])).toEqual(["timeout"]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(ch.tierDown).toBe(true);
    const t1 = Date.now();
    expect(ch.callSync("put", [{ pool: eph, oid: "1", index: 2, gen: 3, data: new Uint8Array(100) }])).toEqual(["down"]);
    expect(Date.now() - t1).toBeLessThan(100);
    // a persistent get on a stopped server is an error, not a miss
    const pers = { persistent: true, pool: 2 };
    throwsWith(() => ch.callSync("get", { pool: pers, oid: "1", index: 0, gen: 1 }), "ETIMEDOUT");
    // a call whose channel timeout is shorter than the store's: the channel's own ETIMEDOUT
    throwsWith(() => ch.callSync("get", { pool: eph, oid: "1", index: 0, gen: 1 }, [], 100), "ETIMEDOUT");
    await rejectsWith(ch.call("get", { pool: eph, oid: "1", index: 0, gen: 1 }, [], 100), "ETIMEDOUT");
    s.resume();
    const end = Date.now() + 5000;
    while (ch.tierDown && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(ch.tierDown).toBe(false);
    expect(ch.callSync("put", [{ pool: eph, oid: "1", index: 3, gen: 4, data: new Uint8Array(100) }])).toEqual(["ok"]);
    const st = ch.callSync("stats", {}) as Record<string, number>;
    expect(st.timeouts).toBeGreaterThanOrEqual(3);
    await ch.close();
    await s.stop();
  });

  it("the helper Worker killed mid-operation: the owner's blocked call, a worker_thread's blocked call and pending async calls all end in ENOTCONN", async () => {
    const s = await startRedis({ policy: "allkeys-lru" });
    const ch = await open(s, { commandTimeoutMs: 10_000 }, 10_000);
    const h = ch.connect();
    const w = new Worker(attachUrl, { workerData: h, transferList: [h.port] });
    await new Promise((r) => w.once("message", r));
    s.pause(); // every op now hangs inside the helper
    const pending = ch.call("get", { pool: eph, oid: "9", index: 0 }, [], 10_000);
    const fromWorker = ask(w, "get", { pool: eph, oid: "9", index: 0 }, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    // Kill the helper, then block at once: the exit event cannot reach this
    // (blocked) thread, so the stalled heartbeat must end the wait.
    void ch.worker!.terminate();
    const t0 = Date.now();
    throwsWith(() => ch.callSync("get", { pool: eph, oid: "9", index: 1 }, [], 10_000), "ENOTCONN");
    expect(Date.now() - t0).toBeLessThan(3000);
    await rejectsWith(pending, "ENOTCONN");
    const wr = await fromWorker;
    expect(wr.ok).toBe(false);
    expect(wr.code).toBe("ENOTCONN");
    expect(wr.ms).toBeLessThan(5000);
    expect(ch.dead).toBe(true);
    await w.terminate();
    s.resume();
    await s.stop();
  });

  it("a helper that cannot reach Redis fails to start with ENOTCONN", async () => {
    const s = await startRedis();
    await s.stop();
    await rejectsWith(open(s), "ENOTCONN");
  });
});
