// SPDX-License-Identifier: MIT
/**
 * cache.ts: `npm run bench:cache`: TmemCache beside what a Node user caches
 * values with today, on real values, in one run.
 *
 * Peers (../shared/reference/peers.md, remote.md §5): `lru-cache` 11 with
 * `maxSize` in bytes holding the raw values; `lru-cache` holding values
 * compressed by the native `lz4` addon (block API); and a local
 * redis-server through ioredis (the client the remote tier uses), what people
 * run to share one cache between Workers and processes.
 *
 * Workloads (real values, never synthetic):
 * - json: every .json file under node_modules (≤ 256 KiB), as strings,
 *   each under 16 keys (copy c of file f is `c:path`, a fresh string), so
 *   that the memory figures are MiB, not KiB;
 * - text: .md and .d.ts files under node_modules (≤ 256 KiB), as strings;
 * - file: the file corpus (../shared/corpus/file.pages, or the repo's
 *   sample) cut into values of 1..16 KiB (log-uniform), as bytes.
 *
 * Sections:
 * 1. Memory per entry, every value held: each peer runs in a child process
 *    of its own (`--child`), which loads the workload, collects garbage,
 *    inserts fresh copies and collects again; the peers' figure is ΔRSS (and
 *    Δ(heap + external) beside it); ours is the physical memory the cache
 *    holds (frames, metadata included) — its ΔRSS is shown too.
 * 2. get and set ops/s in one thread, medians of 5 repeats: set every
 *    value, then get every key in a scrambled order.
 * 3. Hit rate at the same memory: each cache limited to 25 % of the
 *    workload's raw bytes (lru-cache by its own size count, which leaves out
 *    its per-entry overhead; ours by physical frames, metadata included);
 *    a Zipf(0.9) trace of 200,000 reads, a miss followed by a set.
 * 4. Shared by 2 Workers: both get (90 %) and set (10 %) JSON values in one
 *    TmemCache, beside 2 Workers each with an ioredis client on one local
 *    redis-server (one command at a time, as a cache call is awaited);
 *    aggregate ops/s, median of 3.
 *
 * Targets (issue 12): memory per entry ≤ 0.6 × lru-cache raw on json; get ≥
 * 0.5 × lru-cache raw and ≥ 1 × lru-cache + lz4; 2 Workers ≥ 20 × Redis.
 *
 * Run: `npm run bench:cache` (`-- --quick` for a short run).
 * Results: bench/results/cache.json and the tables printed.
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { LRUCache } from "lru-cache";
import { createRequire } from "node:module";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCache } from "../src/cache/index.js";
import { decompressFrame } from "../src/lz4/frame.js";
import { median, report, type Row } from "./harness.js";

const QUICK = process.argv.includes("--quick");
/** The native lz4 addon's block API (it ships no types). */
interface Lz4Native {
  encodeBound(n: number): number;
  encodeBlock(src: Buffer, dst: Buffer): number;
  decodeBlock(src: Buffer, dst: Buffer): number;
}
const lz4 = createRequire(import.meta.url)("lz4") as Lz4Native;
type Value = string | Uint8Array;
interface Workload { name: string; keys: string[]; values: Value[]; rawBytes: number }

const byteLen = (v: Value): number => (typeof v === "string" ? Buffer.byteLength(v) : v.byteLength);

function walk(dir: string, exts: string[], out: string[], max: number): void {
  let ents;
  try { ents = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of ents) {
    if (out.length >= max) return;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, exts, out, max);
    else if (e.isFile() && exts.some((x) => e.name.endsWith(x))) {
      const n = statSync(p).size;
      if (n >= 16 && n <= 256 << 10) out.push(p);
    }
  }
}

async function loadWorkload(name: string): Promise<Workload> {
  const keys: string[] = [], values: Value[] = [];
  if (name === "json" || name === "text") {
    const files: string[] = [];
    walk("node_modules", name === "json" ? [".json"] : [".md", ".d.ts"], files, 4000);
    const copies = name === "json" ? 16 : 1;
    for (let c = 0; c < copies; c++) {
      for (const f of files) { keys.push(`${c}:${f}`); values.push(readFileSync(f, "utf8")); }
    }
  } else {
    // Paths from the repository root (npm runs benches there; this file runs bundled into build/run/).
    const shared = "../shared/corpus/file.pages";
    let pages: Uint8Array;
    try { pages = new Uint8Array(readFileSync(shared)); } catch {
      pages = await decompressFrame(new Uint8Array(readFileSync("data/sample-file.pages.lz4")));
    }
    let x = 12345, o = 0, i = 0;
    const cap = QUICK ? 8 << 20 : pages.length;
    while (o < cap) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const n = Math.min(cap - o, Math.round(1024 * Math.pow(16, x / 2 ** 32)));
      keys.push(`f${i++}`);
      values.push(pages.slice(o, o + n));
      o += n;
    }
  }
  return { name, keys, values, rawBytes: values.reduce((s, v) => s + byteLen(v), 0) };
}

/** A fresh copy: the cache under test must own the only copy of what it holds. */
const fresh = (v: Value): Value => (typeof v === "string" ? Buffer.from(v, "utf8").toString("utf8") : v.slice());

// ── the peers, as one interface ──

interface Peer { name: string; set(k: string, v: Value): void; get(k: string): Value | undefined; memory(): number | null; close(): void }

async function makePeer(kind: string, maxBytes: number, frames: number): Promise<Peer> {
  if (kind === "lru-cache") {
    const c = new LRUCache<string, Value>({ maxSize: maxBytes, sizeCalculation: (v) => Math.max(1, byteLen(v)) });
    return { name: kind, set: (k, v) => { c.set(k, v); }, get: (k) => c.get(k), memory: () => null, close: () => c.clear() };
  }
  if (kind === "lru-cache+lz4") {
    interface Z { z: Buffer; n: number; s: boolean }
    const c = new LRUCache<string, Z>({ maxSize: maxBytes, sizeCalculation: (v) => Math.max(1, v.z.length) });
    const scratch = Buffer.alloc(lz4.encodeBound(1 << 20));
    return {
      name: kind,
      set: (k, v) => {
        const raw = typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
        const out = raw.length <= 1 << 20 ? scratch : Buffer.alloc(lz4.encodeBound(raw.length));
        const n = raw.length === 0 ? 0 : lz4.encodeBlock(raw, out);
        const z = n > 0 && n < raw.length ? Buffer.from(out.subarray(0, n)) : Buffer.from(raw);
        c.set(k, { z, n: n > 0 && n < raw.length ? raw.length : -1, s: typeof v === "string" });
      },
      get: (k) => {
        const e = c.get(k);
        if (e === undefined) return undefined;
        let raw: Buffer;
        if (e.n < 0) raw = e.z; else { raw = Buffer.allocUnsafe(e.n); lz4.decodeBlock(e.z, raw); }
        return e.s ? raw.toString("utf8") : new Uint8Array(raw);
      },
      memory: () => null,
      close: () => c.clear(),
    };
  }
  const pm = await PhysicalMemory.create({ frames, maxWorkers: 4 });
  const c = await TmemCache.create(pm, { budget: Math.min(maxBytes, frames * 4096), sweepIntervalMs: 0 });
  return {
    name: "tmem", set: (k, v) => { c.set(k, v); }, get: (k) => c.get(k), memory: () => c.stats().bytesHeld,
    close: () => { c.destroy(); pm.detach(); },
  };
}

const PEERS = ["lru-cache", "lru-cache+lz4", "tmem"];
const framesFor = (w: Workload): number => Math.ceil((w.rawBytes * 1.3) / 4096) + 2048;

// ── 1. memory, in a child process per peer ──

function gc(): void { (globalThis as { gc?: () => void }).gc?.(); }

async function child(peerName: string, workload: string): Promise<void> {
  const w = await loadWorkload(workload);
  const p = await makePeer(peerName, 2 ** 50, framesFor(w));
  // Warm the code paths on a throwaway key, then measure: the workload stays alive throughout,
  // so the delta is what the cache's own copies (fresh ones, made per set) and its index cost.
  p.set("warm", fresh(w.values[0]!));
  gc(); gc();
  const m0 = process.memoryUsage();
  for (let i = 0; i < w.keys.length; i++) p.set(w.keys[i]!, fresh(w.values[i]!));
  gc(); gc();
  const m1 = process.memoryUsage();
  const out = {
    entries: w.keys.length, rawBytes: w.rawBytes, rss: m1.rss - m0.rss,
    js: (m1.heapUsed + m1.external) - (m0.heapUsed + m0.external), held: p.memory(),
  };
  process.stdout.write(JSON.stringify(out));
}

function memorySection(workloads: string[]): Row[] {
  const rows: Row[] = [];
  const self = process.argv[1]!;
  for (const wl of workloads) {
    const res: Record<string, { entries: number; rawBytes: number; rss: number; js: number; held: number | null }> = {};
    for (const peer of PEERS) {
      try {
        res[peer] = JSON.parse(execFileSync(process.execPath, ["--expose-gc", self, "--child", peer, wl], { encoding: "utf8", maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "pipe"] }));
      } catch (e) {
        throw new Error(`memory child ${peer} ${wl} failed: ${String((e as { stderr?: string }).stderr ?? e).slice(-600)}`);
      }
    }
    const base = res["lru-cache"]!;
    for (const peer of PEERS) {
      const r = res[peer]!;
      const mem = peer === "tmem" ? r.held! : r.rss;
      const baseMem = base.rss;
      rows.push({
        workload: wl, peer, entries: r.entries, "raw B/entry": r.rawBytes / r.entries,
        "memory B/entry": mem / r.entries, measure: peer === "tmem" ? "physical held" : "ΔRSS",
        "ΔRSS B/entry": r.rss / r.entries, "Δ(heap+ext) B/entry": r.js / r.entries,
        "vs lru-cache": mem / baseMem,
      });
    }
  }
  return rows;
}

// ── 2. ops/s ──

function scramble(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = 987654321;
  for (let i = n - 1; i > 0; i--) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; const j = x % (i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
  return order;
}

async function opsSection(w: Workload): Promise<Row[]> {
  const reps = QUICK ? 3 : 5;
  const order = scramble(w.keys.length);
  const sets: Record<string, number[]> = {}, gets: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    for (const kind of PEERS) {
      const p = await makePeer(kind, 2 ** 50, framesFor(w));
      let t = performance.now();
      for (let i = 0; i < w.keys.length; i++) p.set(w.keys[i]!, w.values[i]!);
      const ts = performance.now() - t;
      let miss = 0;
      t = performance.now();
      for (const i of order) if (p.get(w.keys[i]!) === undefined) miss++;
      const tg = performance.now() - t;
      if (miss > 0) throw new Error(`${kind}: ${miss} misses with every value held`);
      (sets[kind] ??= []).push(w.keys.length / (ts / 1000));
      (gets[kind] ??= []).push(w.keys.length / (tg / 1000));
      p.close();
    }
  }
  const bs = median(sets["lru-cache"]!), bg = median(gets["lru-cache"]!), zg = median(gets["lru-cache+lz4"]!);
  return PEERS.map((k) => ({
    workload: w.name, peer: k, "set ops/s": median(sets[k]!), "get ops/s": median(gets[k]!),
    "set vs lru-cache": median(sets[k]!) / bs, "get vs lru-cache": median(gets[k]!) / bg, "get vs lru+lz4": median(gets[k]!) / zg,
  }));
}

// ── 3. hit rate at the same memory ──

async function hitSection(w: Workload): Promise<Row[]> {
  const limit = Math.floor(w.rawBytes * 0.25);
  const n = w.keys.length, N = QUICK ? 50_000 : 200_000;
  // Zipf(0.9) by inverse CDF over a table.
  const cdf = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) { s += 1 / Math.pow(i + 1, 0.9); cdf[i] = s; }
  const perm = scramble(n);
  let x = 42;
  const trace = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = (x / 2 ** 32) * s;
    let lo = 0, hi = n - 1;
    while (lo < hi) { const m = (lo + hi) >> 1; if (cdf[m]! < u) lo = m + 1; else hi = m; }
    trace[i] = perm[lo]!;
  }
  const rows: Row[] = [];
  for (const kind of PEERS) {
    const p = await makePeer(kind, limit, Math.ceil(limit / 4096) + 64);
    let hits = 0;
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      const k = trace[i]!;
      if (p.get(w.keys[k]!) !== undefined) hits++; else p.set(w.keys[k]!, w.values[k]!);
    }
    const ms = performance.now() - t;
    rows.push({ workload: w.name, peer: kind, "limit bytes": limit, "limit counts": kind === "tmem" ? "frames incl. metadata" : "value bytes only",
      "hit rate": hits / N, "ops/s": N / (ms / 1000), held: p.memory() ?? "n/a" });
    p.close();
  }
  return rows;
}

// ── 4. 2 Workers: shared TmemCache vs local Redis ──

async function sharedSection(w: Workload): Promise<Row[]> {
  const { startRedis, redisServerPath } = await import("../test/redis/harness.js");
  const workerUrl = pathToFileURL(join(process.cwd(), "bench/workers/cache-worker.mjs"));
  const keys = w.keys.slice(0, 2000), values = w.values.slice(0, 2000) as string[];
  const ops = QUICK ? 20_000 : 60_000;
  const run = async (mode: "tmem" | "redis", target: unknown): Promise<number> => {
    const barrier = new SharedArrayBuffer(4);
    const rs = await Promise.all([0, 1].map((id) => new Promise<{ ms: number; n: number }>((resolve, reject) => {
      const wk = new Worker(workerUrl, { workerData: { mode, target, keys, values, ops: mode === "redis" ? Math.floor(ops / 10) : ops, seed: 7 + id, barrier } });
      wk.once("message", resolve); wk.once("error", reject);
    })));
    return rs.reduce((a, r) => a + r.n / (r.ms / 1000), 0);
  };
  const tm: number[] = [], rd: number[] = [];
  const pm = await PhysicalMemory.create({ frames: framesFor({ ...w, rawBytes: values.reduce((a, v) => a + byteLen(v), 0) }), maxWorkers: 4 });
  const cache = await TmemCache.create(pm, { budget: pm.frames * 4096, sweepIntervalMs: 0 });
  for (let i = 0; i < keys.length; i++) cache.set(keys[i]!, values[i]!);
  const server = redisServerPath() !== null ? await startRedis({ maxmemory: "512mb" }) : null;
  try {
    for (let r = 0; r < 3; r++) {
      tm.push(await run("tmem", cache.handle));
      if (server !== null) rd.push(await run("redis", server.port));
    }
  } finally {
    await server?.stop();
    cache.destroy();
    pm.detach();
  }
  const t = median(tm);
  const rows: Row[] = [{ peer: "tmem, 2 Workers, one cache", "ops/s (sum)": t, "vs Redis": rd.length > 0 ? t / median(rd) : "n/a" }];
  rows.push({ peer: "redis-server + ioredis, 2 Workers", "ops/s (sum)": rd.length > 0 ? median(rd) : "redis-server not installed", "vs Redis": 1 });
  return rows;
}

if (process.argv[2] === "--child") {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  const workloads = ["json", "text", "file"];
  const loaded = await Promise.all(workloads.map(loadWorkload));
  for (const w of loaded) console.log(`workload ${w.name}: ${w.keys.length} values, ${(w.rawBytes / 2 ** 20).toFixed(1)} MiB, mean ${(w.rawBytes / w.keys.length).toFixed(0)} B`);
  const sections: Record<string, Row[]> = {};
  sections["memory per entry, every value held"] = memorySection(workloads);
  sections["ops/s, one thread (median of repeats)"] = (await Promise.all(loaded.map(opsSection))).flat();
  const hits: Row[] = [];
  for (const w of loaded) hits.push(...(await hitSection(w)));
  sections["hit rate at the same memory (25 % of the raw bytes), Zipf 0.9"] = hits;
  sections["shared by 2 Workers (json values, 90 % get / 10 % set)"] = await sharedSection(loaded[0]!);
  report("cache", sections, { quick: QUICK, workloads: loaded.map((w) => ({ name: w.name, values: w.keys.length, rawBytes: w.rawBytes })) });
}
