// SPDX-License-Identifier: MIT
// Attacks on RAMster's remote copies (session 5, the attacker's pass over
// ram's remotify batching and remote load path), on real redis-servers of our
// own (loopback, free ports, stopped by PID): values swapped between two
// pages of one object and between objects (each a well-formed value of this
// node), values cut short or given a huge declared length, and the server
// killed with -9 while a remotify round is in flight. A load answers the
// page's own bytes, or a miss (ephemeral) / a clear error (persistent);
// never another page's bytes, never a hang.
import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Ramster, type RamsterOptions } from "../src/ramster/backend.js";
import { redisAvailable, startRedis, stopAll, type RedisServer } from "./redis/harness.js";
import { helperUrl } from "./redis/bundle.js";
import { errorCode } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";

const ok = redisAvailable("test/attack-s5-ramster.test.ts");
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

async function until(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function setup(server: RedisServer, extra: Partial<RamsterOptions> = {}) {
  const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 8 });
  const zcache = await Zcache.create(pm);
  const ramster = await Ramster.create(pm, {
    redis: `redis://127.0.0.1:${server.port}`, node: "atk", workerUrl: helperUrl, commandTimeoutMs: 1500, waitTimeoutMs: 300,
    allowSinglePointOfFailure: true, zcache, remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2 }, ...extra,
  });
  const fs = Frontswap.for(pm);
  await fs.init(0);
  await fs.registerOps(zcache);
  return { pm, zcache, ramster, fs };
}

/** Parse a RESP array reply of bulk strings (as rawCommand returns it) into strings. */
function bulks(reply: string): string[] {
  const out: string[] = [];
  const lines = reply.split("\r\n");
  for (let i = 0; i < lines.length; i++) if (lines[i]!.startsWith("$") && lines[i] !== "$-1") out.push(lines[++i]!);
  return out;
}

/** Every (hash key, field) of this node's remote pages, sorted; `kind` "p" persistent or "e" ephemeral. */
async function pairs(server: RedisServer, kind: "p" | "e"): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const k of bulks(await server.command("KEYS", `tmem:*:${kind}[0-9]*`)).sort()) {
    for (const f of bulks(await server.command("HKEYS", k)).sort()) out.push([k, f]);
  }
  return out;
}

/** A redis-cli-free way to move binary values: DUMP/RESTORE would need binary-safe I/O, so use Lua. */
async function lua(server: RedisServer, script: string, keys: string[], args: string[] = []): Promise<string> {
  return server.command("EVAL", script, String(keys.length), ...keys, ...args);
}

describe.skipIf(!ok)("remote values that are not the page's own", () => {
  afterAll(stopAll);

  it("values swapped between two pages (frontswap's one-page hashes, fields of one cleancache hash) and copied over a third: never another page's bytes", async () => {
    const server = await startRedis({ policy: "noeviction" });
    const a = await setup(server);
    const cc = Cleancache.for(a.pm);
    const fsId = await cc.initFs();
    await cc.registerOps(a.zcache);
    const N = 24;
    for (let i = 0; i < N; i++) {
      expect(a.fs.store(0, i, stampPage(1, i))).toBe(true);
      expect(cc.putPage(fsId, 5n, i, stampPage(2, i))).toBe(true);
      expect(cc.putPage(fsId, 6n, i, stampPage(3, i))).toBe(true);
    }
    await until("all remote", 30_000, () => { const r = a.zcache.stats().remote!; return r.persistentPages >= N && r.ephemeralPages >= 2 * N; });
    a.ramster.pauseRemotify(true);
    // Frontswap: one hash per page here; swap the values of two pages' hashes, and move a third's into a fourth.
    const pp = await pairs(server, "p");
    expect(pp.length).toBe(N);
    const SWAP = "local a = redis.call('HGET', KEYS[1], ARGV[1]); local b = redis.call('HGET', KEYS[2], ARGV[2]); redis.call('HSET', KEYS[1], ARGV[1], b); redis.call('HSET', KEYS[2], ARGV[2], a); return 1";
    const COPY = "local a = redis.call('HGET', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[2], ARGV[2], a); return 1";
    expect(await lua(server, SWAP, [pp[0]![0], pp[1]![0]], [pp[0]![1], pp[1]![1]])).toBe(":1\r\n");
    expect(await lua(server, COPY, [pp[2]![0], pp[3]![0]], [pp[2]![1], pp[3]![1]])).toBe(":1\r\n");
    // Cleancache: two objects of 24 pages each; swap fields inside one hash, and copy one across the two.
    const ep = await pairs(server, "e");
    expect(ep.length).toBe(2 * N);
    expect(await lua(server, SWAP, [ep[0]![0], ep[1]![0]], [ep[0]![1], ep[1]![1]])).toBe(":1\r\n");
    expect(await lua(server, COPY, [ep[2]![0], ep[ep.length - 1]![0]], [ep[2]![1], ep[ep.length - 1]![1]])).toBe(":1\r\n");
    const into = new Uint8Array(4096);
    const wrong: string[] = [];
    const tally = { fsError: 0, ccMiss: 0 };
    for (let i = 0; i < N; i++) {
      let got: unknown;
      const code = errorCode(() => { got = a.fs.load(0, i, into); });
      if (got === true && !same(into, stampPage(1, i))) wrong.push(`frontswap ${i}: another page's bytes`);
      if (code === "no error" && got !== true) wrong.push(`frontswap ${i}: false for a persistent page`);
      if (code !== "no error") tally.fsError++;
      for (const [obj, seed] of [[5n, 2], [6n, 3]] as const) {
        let hit: unknown;
        const c2 = errorCode(() => { hit = cc.getPage(fsId, obj, i, into); });
        if (hit === true && !same(into, stampPage(seed, i))) wrong.push(`cleancache ${obj}/${i}: another page's bytes`);
        if (c2 !== "no error") wrong.push(`cleancache ${obj}/${i}: ${c2} (a bad ephemeral copy is a miss)`);
        if (hit === false) tally.ccMiss++;
      }
    }
    expect(wrong).toEqual([]);
    // Exactly the three frontswap pages given another's value are lost (EIO), the three cleancache ones miss.
    expect(tally).toEqual({ fsError: 3, ccMiss: 3 });
    await a.ramster.disconnect();
    a.pm.detach();
    await server.stop();
  }, 90_000);

  it("values cut to 0, 15, 16 and 17 bytes, or given a header that claims 2^31 bytes: a clear error or a miss, promptly", async () => {
    const server = await startRedis({ policy: "noeviction" });
    const a = await setup(server);
    const N = 10;
    for (let i = 0; i < N; i++) expect(a.fs.store(0, i, stampPage(4, i))).toBe(true);
    await until("all remote", 30_000, () => a.zcache.stats().remote!.persistentPages >= N);
    a.ramster.pauseRemotify(true);
    const pp = await pairs(server, "p");
    expect(pp.length).toBe(N);
    const CUT = "local v = redis.call('HGET', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, tonumber(ARGV[2]))); return 1";
    for (const [j, n] of [0, 15, 16, 17].entries()) expect(await lua(server, CUT, [pp[j]![0]], [pp[j]![1], String(n)])).toBe(":1\r\n");
    const HUGE = "local v = redis.call('HGET', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[1], ARGV[1], string.sub(v, 1, 8) .. string.char(0, 0, 0, 128) .. string.sub(v, 13)); return 1";
    expect(await lua(server, HUGE, [pp[4]![0]], [pp[4]![1]])).toBe(":1\r\n");
    const into = new Uint8Array(4096);
    const tally = { exact: 0, error: 0, wrong: 0 };
    for (let i = 0; i < N; i++) {
      const t0 = Date.now();
      let got: unknown;
      const code = errorCode(() => { got = a.fs.load(0, i, into); });
      if (code !== "no error") tally.error++;
      else if (got === true && same(into, stampPage(4, i))) tally.exact++;
      else tally.wrong++;
      expect(Date.now() - t0).toBeLessThan(10_000); // bounded: the command timeout is 1.5 s
    }
    expect(tally).toEqual({ exact: 5, error: 5, wrong: 0 });
    await a.ramster.disconnect();
    a.pm.detach();
    await server.stop();
  }, 90_000);
});

describe.skipIf(!ok)("the server killed mid-remotify", () => {
  afterAll(stopAll);

  it("kill -9 while rounds are in flight: every page loads exact or throws (never false, never wrong bytes); stores go on locally", async () => {
    const server = await startRedis({ policy: "noeviction" });
    const a = await setup(server, { commandTimeoutMs: 500, failuresToDown: 2, downRetryMs: 200 });
    const N = 600;
    for (let i = 0; i < N; i++) expect(a.fs.store(0, i, stampPage(7, i))).toBe(true);
    await until("remotify under way", 30_000, () => a.zcache.stats().remote!.persistentPages >= 50);
    await server.kill9();
    const killedAt = a.zcache.stats().remote!.persistentPages;
    for (let i = N; i < N + 50; i++) expect(a.fs.store(0, i, stampPage(7, i))).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const into = new Uint8Array(4096);
    const tally = { exact: 0, thrown: 0 };
    const wrong: string[] = [];
    for (let i = 0; i < N + 50; i++) {
      let got: unknown;
      const code = errorCode(() => { got = a.fs.load(0, i, into); });
      if (code !== "no error") { tally.thrown++; continue; }
      if (got !== true) wrong.push(`${i}: false`);
      else if (!same(into, stampPage(7, i))) wrong.push(`${i}: wrong bytes`);
      else tally.exact++;
    }
    console.log("killed at", killedAt, "remote;", tally);
    expect(wrong.slice(0, 10)).toEqual([]);
    // The pages stored after the kill are local and exact.
    expect(tally.exact).toBeGreaterThanOrEqual(50);
    expect(tally.thrown).toBeGreaterThan(0);
    await a.ramster.disconnect().catch(() => undefined);
    a.pm.detach();
  }, 90_000);
});

/** The hostile proxy (test/workers/attack-s5-proxy.mjs) in front of `port`, as a child process. */
async function startProxy(port: number): Promise<{ port: number; mode(m: string): Promise<void>; stop(): void }> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL("./workers/attack-s5-proxy.mjs", import.meta.url)), String(port)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  await until("the proxy's port", 10_000, () => lines.length > 0);
  return {
    port: Number(lines.shift()),
    async mode(m: string) { child.stdin!.write(`mode ${m}\n`); await until(`proxy mode ${m}`, 5_000, () => lines.includes(`ok ${m}`)); lines.length = 0; },
    stop() { child.kill("SIGKILL"); },
  };
}

describe.skipIf(!ok)("a hostile connection to the server (a proxy that splits, pads, stalls or forges HGET replies)", () => {
  afterAll(stopAll);

  it("loads are exact or an error, each bounded; pages never touched by an error load exact once the proxy behaves", async () => {
    const server = await startRedis({ policy: "noeviction" });
    const proxy = await startProxy(server.port);
    try {
      const a = await setup({ port: proxy.port } as RedisServer, { commandTimeoutMs: 800, failuresToDown: 1000 });
      const N = 30;
      for (let i = 0; i < N; i++) expect(a.fs.store(0, i, stampPage(8, i))).toBe(true);
      await until("all remote", 30_000, () => a.zcache.stats().remote!.persistentPages >= N);
      a.ramster.pauseRemotify(true);
      const into = new Uint8Array(4096);
      const errored = new Set<number>();
      const report: Record<string, { exact: number; error: number }> = {};
      const wrong: string[] = [];
      for (const [m, loads] of [["split", N], ["trail", N], ["other", 6], ["stall", 3]] as const) {
        await proxy.mode(m);
        const r = (report[m] = { exact: 0, error: 0 });
        for (let i = 0; i < loads; i++) {
          const t0 = Date.now();
          let got: unknown;
          const code = errorCode(() => { got = a.fs.load(0, i, into); });
          if (Date.now() - t0 > 15_000) wrong.push(`${m} ${i}: took ${Date.now() - t0} ms`);
          if (code !== "no error") { r.error++; errored.add(i); continue; }
          if (got !== true) wrong.push(`${m} ${i}: false`);
          else if (!same(into, stampPage(8, i))) wrong.push(`${m} ${i}: wrong bytes`);
          else r.exact++;
        }
        await proxy.mode("pass");
      }
      console.log("hostile proxy:", JSON.stringify(report), "direct:", JSON.stringify((a.ramster.stats() as { direct?: unknown }).direct ?? null));
      expect(wrong).toEqual([]);
      // A proxy that only re-chunks is harmless: every load exact.
      expect(report.split).toEqual({ exact: N, error: 0 });
      await until("the tier up", 15_000, () => a.ramster.stats().remote?.down !== true);
      for (let i = 0; i < N; i++) {
        if (errored.has(i)) continue;
        expect(a.fs.load(0, i, into), `page ${i} after the proxy behaves`).toBe(true);
        expect(same(into, stampPage(8, i))).toBe(true);
      }
      await a.ramster.disconnect().catch(() => undefined);
      a.pm.detach();
    } finally {
      proxy.stop();
      await server.stop();
    }
  }, 120_000);
});
