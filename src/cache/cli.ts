// SPDX-License-Identifier: MIT
/**
 * cache/cli.ts: `tmem cache-bench`, the cache's demo on the command line:
 * replay a realistic value workload through a TmemCache and, beside it in
 * the same run, an lru-cache holding the same values under the same limit.
 *
 * What it is not: not the benchmark (bench/cache.ts compares more peers,
 * medians over repeats, memory in child processes); this is what a user runs
 * on their own files to see what tmem would do with them.
 *
 * Workload: every .json, .md, .txt, .html, .css, .js and .d.ts file (16 B ..
 * 1 MiB) under `--dir` (default: ./node_modules, else the current
 * directory), read as strings, keyed by path; a Zipf(`--skew`) trace of
 * `--reads` reads, where a miss is followed by a set (read-through). Both
 * caches get a limit of `--budget` (bytes like 8M, or a share of the
 * values' raw bytes like 25%): tmem counts its physical frames, metadata
 * included; lru-cache counts what its `sizeCalculation` returns (the values'
 * UTF-8 bytes), which leaves its per-entry overhead out.
 *
 * Output: hit rate, reads/s, memory held and entries at the end, for both;
 * `--json` prints one JSON object instead. lru-cache is loaded if it is
 * installed (a devDependency of tmem, not a dependency); without it only
 * tmem's figures are printed, with a note.
 *
 * Exit codes: 0 done, 2 bad usage (message on stderr), 1 other errors.
 *
 * See also: cache.ts, ../cli.ts (dispatch), ../../bench/cache.ts.
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PhysicalMemory } from "../../bindings/physmem.js";
import { TmemCache } from "./cache.js";

const USAGE = `usage: tmem cache-bench [options]

Replays a Zipf trace of reads over your files' contents (read-through: a miss
sets the value) through a TmemCache and an lru-cache with the same limit.

options:
  --dir DIR        where to take values from (default ./node_modules, else .)
  --budget B|P%    the limit: bytes (8M, 512K) or a share of the values' bytes (default 25%)
  --reads N        reads to replay (default 200000)
  --skew S         Zipf exponent (default 0.9)
  --max-files N    at most N files (default 20000)
  --json           print one JSON object`;

const EXTS = [".json", ".md", ".txt", ".html", ".css", ".js", ".d.ts"];

class CacheBenchUsage extends Error {}

function parse(argv: string[]): { dir: string; budget: string; reads: number; skew: number; maxFiles: number; json: boolean } {
  const o = { dir: "", budget: "25%", reads: 200_000, skew: 0.9, maxFiles: 20_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new CacheBenchUsage(`${a} needs a value`);
      return v;
    };
    const int = (v: string, min: number): number => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < min) throw new CacheBenchUsage(`${a} must be an integer ≥ ${min}, not '${v}'`);
      return n;
    };
    if (a === "--dir") o.dir = val();
    else if (a === "--budget") o.budget = val();
    else if (a === "--reads") o.reads = int(val(), 1);
    else if (a === "--max-files") o.maxFiles = int(val(), 1);
    else if (a === "--skew") { const v = val(); o.skew = Number(v); if (!(o.skew >= 0 && o.skew <= 3)) throw new CacheBenchUsage(`--skew must be a number from 0 to 3, not '${v}'`); }
    else if (a === "--json") o.json = true;
    else if (a === "-h" || a === "--help") { console.log(USAGE); process.exit(0); }
    else throw new CacheBenchUsage(`unknown option '${a}'`);
  }
  return o;
}

function walk(dir: string, out: string[], max: number, depth = 0): void {
  if (depth > 32 || out.length >= max) return;
  let ents;
  try { ents = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of ents) {
    if (out.length >= max) return;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out, max, depth + 1);
    else if (e.isFile() && EXTS.some((x) => e.name.endsWith(x))) {
      try { const n = statSync(p).size; if (n >= 16 && n <= 1 << 20) out.push(p); } catch { /* gone */ }
    }
  }
}

function parseBudget(v: string, raw: number): number {
  let m: RegExpExecArray | null;
  if ((m = /^(\d+(?:\.\d+)?)%$/.exec(v))) {
    const p = Number(m[1]);
    if (p <= 0 || p > 100) throw new CacheBenchUsage(`--budget share must be in (0, 100]%, not '${v}'`);
    return Math.floor((raw * p) / 100);
  }
  if ((m = /^(\d+(?:\.\d+)?)([KMG])?i?B?$/i.exec(v))) {
    return Math.floor(Number(m[1]) * (m[2] === undefined ? 1 : { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as "K" | "M" | "G"]));
  }
  throw new CacheBenchUsage(`--budget must be bytes (8M) or a share (25%), not '${v}'`);
}

interface Side { hitRate: number; readsPerSecond: number; heldBytes: number | null; entries: number }

/** A Zipf(`s`) trace over `n` items (a fixed seed, a scrambled rank → item map). */
function zipfTrace(n: number, reads: number, s: number): Int32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) { sum += 1 / Math.pow(i + 1, s); cdf[i] = sum; }
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let x = 20261201;
  const next = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x; };
  for (let i = n - 1; i > 0; i--) { const j = next() % (i + 1); const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t; }
  const trace = new Int32Array(reads);
  for (let i = 0; i < reads; i++) {
    const u = (next() / 2 ** 32) * sum;
    let lo = 0, hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid]! < u) lo = mid + 1; else hi = mid; }
    trace[i] = perm[lo]!;
  }
  return trace;
}

/**
 * Run `tmem cache-bench` with the arguments after the command name.
 * Prints its report; sets process.exitCode 2 on bad usage.
 */
export async function cacheBench(argv: string[]): Promise<void> {
  let o;
  try { o = parse(argv); } catch (e) {
    if (e instanceof CacheBenchUsage) { console.error(`tmem cache-bench: ${e.message}\n(tmem cache-bench --help for usage)`); process.exitCode = 2; return; }
    throw e;
  }
  let dir = o.dir;
  if (dir === "") { try { dir = statSync("node_modules").isDirectory() ? "node_modules" : "."; } catch { dir = "."; } }
  else {
    let st;
    try { st = statSync(dir); } catch { st = undefined; }
    if (st === undefined || !st.isDirectory()) { console.error(`tmem cache-bench: --dir ${dir} is not a directory`); process.exitCode = 2; return; }
  }
  const files: string[] = [];
  walk(dir, files, o.maxFiles);
  if (files.length === 0) { console.error(`tmem cache-bench: no ${EXTS.join("/")} files of 16 B .. 1 MiB under ${dir}`); process.exitCode = 2; return; }
  const values = files.map((f) => readFileSync(f, "utf8"));
  const raw = values.reduce((a, v) => a + Buffer.byteLength(v), 0);
  let budget: number;
  try { budget = parseBudget(o.budget, raw); } catch (e) { console.error(`tmem cache-bench: ${(e as Error).message}`); process.exitCode = 2; return; }
  const trace = zipfTrace(files.length, o.reads, o.skew);

  const frames = Math.max(256, Math.ceil(budget / 4096) + 64);
  const pm = await PhysicalMemory.create({ frames });
  let cache: TmemCache;
  try {
    cache = await TmemCache.create(pm, { budget: Math.min(budget, frames * 4096), sweepIntervalMs: 0 });
  } catch (e) {
    pm.detach();
    console.error(`tmem cache-bench: ${(e as Error).message} (raise --budget)`);
    process.exitCode = 2;
    return;
  }
  const replay = (get: (k: string) => unknown, set: (k: string, v: string) => void): { hits: number; ms: number } => {
    let hits = 0;
    const t = performance.now();
    for (let i = 0; i < trace.length; i++) {
      const k = trace[i]!;
      if (get(files[k]!) !== undefined) hits++; else set(files[k]!, values[k]!);
    }
    return { hits, ms: performance.now() - t };
  };
  const r = replay((k) => cache.get(k), (k, v) => { cache.set(k, v); });
  const st = cache.stats();
  const tmem: Side = { hitRate: r.hits / trace.length, readsPerSecond: trace.length / (r.ms / 1000), heldBytes: st.bytesHeld, entries: st.entries };
  cache.destroy();
  pm.detach();

  let lru: Side | null = null;
  let note = "";
  try {
    const { LRUCache } = (await import("lru-cache")) as { LRUCache: new (o: object) => { get(k: string): unknown; set(k: string, v: string): void; size: number } };
    const c = new LRUCache({ maxSize: Math.max(1, budget), sizeCalculation: (v: string) => Math.max(1, Buffer.byteLength(v)) });
    const rl = replay((k) => c.get(k), (k, v) => { c.set(k, v); });
    lru = { hitRate: rl.hits / trace.length, readsPerSecond: trace.length / (rl.ms / 1000), heldBytes: null, entries: c.size };
  } catch {
    note = "lru-cache is not installed here (npm i lru-cache to compare beside it)";
  }
  const report = { dir, files: files.length, rawBytes: raw, budget, reads: trace.length, skew: o.skew, tmem, lruCache: lru, note: note || undefined };
  if (o.json) { console.log(JSON.stringify(report)); return; }
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
  console.log(`tmem cache-bench: ${files.length} files under ${dir} (${mib(raw)}), limit ${mib(budget)}, ${trace.length} reads, Zipf ${o.skew}`);
  console.log("");
  console.log("cache       hit rate  reads/s    entries  memory held");
  const line = (name: string, s: Side, mem: string): void =>
    console.log(`${name.padEnd(10)}  ${(s.hitRate * 100).toFixed(1).padStart(6)} %  ${Math.round(s.readsPerSecond).toString().padStart(9)}  ${String(s.entries).padStart(7)}  ${mem}`);
  line("tmem", tmem, `${mib(tmem.heldBytes!)} physical, metadata included`);
  if (lru !== null) line("lru-cache", lru, `${mib(budget)} of values by its count (its own overhead not counted)`);
  else console.log(note);
}
