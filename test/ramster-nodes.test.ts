// Two tmem nodes (two Node processes) on one Redis, each remotifying its
// cleancache pages: a page one node puts in a SHARED pool (initSharedFs,
// same uuid) is got by the other from Redis; the private pools of one are
// invisible to the other; after an invalidate on the first node the second
// misses once the invalidation has reached Redis (coherence: a node's gets
// of pages it does not hold locally see the other node's flushes, in order;
// a copy a node holds locally is its own until it invalidates it).
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { redisAvailable, startRedis, stopAll } from "./redis/harness.js";
import { bundleWorker, helperUrl } from "./redis/bundle.js";

const ok = redisAvailable("test/ramster-nodes.test.ts");

/** A node process and a call function over its stdin/stdout. */
async function startNode(script: URL): Promise<{ call: (op: string, args?: Record<string, unknown>) => Promise<unknown>; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [fileURLToPath(script)], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let id = 0;
  let ready: () => void;
  const isReady = new Promise<void>((r) => { ready = r; });
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const m = JSON.parse(line) as { ready?: boolean; id: number; value?: unknown; error?: string };
    if (m.ready) { ready(); return; }
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error)); else w?.resolve(m.value);
  });
  await isReady;
  return {
    proc,
    call: (op, args = {}) => new Promise((resolve, reject) => {
      waiting.set(++id, { resolve, reject });
      proc.stdin!.write(JSON.stringify({ id, op, args }) + "\n");
    }),
  };
}

async function until(what: string, ms: number, cond: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(!ok)("two tmem nodes (processes) on one Redis", () => {
  const procs: ChildProcess[] = [];
  afterAll(async () => { for (const p of procs) p.kill("SIGKILL"); await stopAll(); });

  it("a shared cleancache pool is seen from both; private pools are invisible to the other node; an invalidate reaches the other node's gets", async () => {
    const server = await startRedis({ policy: "allkeys-lru" });
    const script = await bundleWorker("test/redis/node-proc.ts");
    const [a, b] = await Promise.all([startNode(script), startNode(script)]);
    procs.push(a.proc, b.proc);
    const init = { redis: `redis://127.0.0.1:${server.port}`, helperUrl: helperUrl.href, uuid: "0123456789abcdef0123456789abcdef" };
    await a.call("init", { ...init, node: "node-a" });
    await b.call("init", { ...init, node: "node-b" });
    for (let i = 0; i < 20; i++) {
      expect(await a.call("put", { shared: true, ino: 1, idx: i, seed: 1000 + i })).toBe(true);
      expect(await a.call("put", { shared: false, ino: 1, idx: i, seed: 2000 + i })).toBe(true);
    }
    await until("node a's pages remote", 20_000, async () => {
      const r = (await a.call("remote")) as { ephemeralPages: number };
      return r.ephemeralPages >= 40;
    });
    // node b holds none of them locally: the shared ones come from Redis, exact
    for (let i = 0; i < 20; i++) expect(await b.call("get", { shared: true, ino: 1, idx: i, seed: 1000 + i })).toEqual({ hit: true, same: true });
    // node a's private pool is another key space: b's private fs misses the same (ino, index)
    for (let i = 0; i < 20; i++) expect(await b.call("get", { shared: false, ino: 1, idx: i })).toEqual({ hit: false });
    // an invalidate on node a: b's gets miss once it reached Redis (a's drop is asynchronous, ordered)
    for (let i = 0; i < 5; i++) expect(await a.call("inval", { shared: true, ino: 1, idx: i })).toBe(true);
    await until("the invalidations seen from node b", 5_000, async () => {
      for (let i = 0; i < 5; i++) if (((await b.call("get", { shared: true, ino: 1, idx: i })) as { hit: boolean }).hit) return false;
      return true;
    });
    expect(await b.call("get", { shared: true, ino: 1, idx: 5, seed: 1005 })).toEqual({ hit: true, same: true });
    // and node a still gets its private pages back (remote, exact; the exclusive get removes them)
    for (let i = 0; i < 20; i++) expect(await a.call("get", { shared: false, ino: 1, idx: i, seed: 2000 + i })).toEqual({ hit: true, same: true });
    await a.call("exit");
    await b.call("exit");
  }, 90_000);

  it("tmem simulate --remote: the remote tier catches the overflow; hits split local/remote; no page corrupt or lost", async () => {
    const server = await startRedis({ policy: "noeviction" });
    const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
    // watermark 0.05: the remotifier moves pages from the first swap-outs on (a loaded machine starves its Worker)
    const r = spawnSync(process.execPath, [cli, "simulate", "--pages", "3072", "--remote", `redis://127.0.0.1:${server.port}`,
      "--allow-single-point-of-failure", "--remote-watermark", "0.05", "--json"], { encoding: "utf8", timeout: 80_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { totals: { corrupt: number; lost: number; hits: number }; frames: number;
      remote: { localHits: number; remoteHits: number; remoteMisses: number; remotified: number; payloadBytesPerPage: number; redisBytesPerPage: number } };
    expect(out.totals.corrupt).toBe(0);
    expect(out.totals.lost).toBe(0);
    expect(out.remote.remotified).toBeGreaterThan(0);
    expect(out.remote.remoteHits).toBeGreaterThan(0);
    expect(out.remote.localHits + out.remote.remoteHits).toBe(out.totals.hits);
    expect(out.remote.remoteMisses).toBe(0);
    expect(out.remote.payloadBytesPerPage).toBeGreaterThan(0);
    expect(out.remote.redisBytesPerPage).toBeGreaterThan(out.remote.payloadBytesPerPage);
    console.log("simulate --remote:", JSON.stringify({ frames: out.frames, hits: out.totals.hits, remote: { ...out.remote, tier: undefined } }));
  }, 90_000);
});
