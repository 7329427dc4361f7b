#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/**
 * cli.ts: the `tmem` command.
 *
 *   tmem [simulate] [options]     swap simulation on real pages (the default)
 *   tmem lz4 [-d|-z] [options] [in [out]]
 *                                 LZ4 frames, as the `lz4` CLI (src/lz4/cli.ts)
 *   tmem demo [options]           Workers sharing one physical memory's frames
 *
 * Exit status: 0 on success, 1 when the run found a fault (corruption, lost
 * page) or an operation failed, 2 for bad usage or bad input.
 * @module
 */
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import {
  accessSync, closeSync, constants as fsConstants, fstatSync, openSync, readdirSync, readFileSync,
  readSync, statSync, writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import { PAGE_SIZE } from "../bindings/layout.js";
import type { FrameStressResult } from "./demo/frames.js";
import { decompressFrame } from "./lz4/frame.js";
import { lz4Main } from "./lz4/cli.js";
import { simulate, type ProcessResult, type SimRemote, type SimulateResult, type WorkerProcessMessage } from "./sim/simulate.js";
import type { Zcache } from "./zcache.js";
import { FRAME_FIGURES, renderMemoryMapSvg } from "./sim/memmap.js";
import { cycle, toPages } from "./sim/pages.js";
import { registeredDrivers } from "./zpool/index.js";

const USAGE = `usage: tmem [command] [options]

commands:
  simulate    a program whose working set is larger than its RAM swaps through
              frontswap into zcache; prints what compression saved (default)
  lz4         tmem lz4 [-d|-z] [-c -f -k -q -B4..-B7 -BD -BX ...] [in [out]]: LZ4
              frames, with the lz4 CLI's flags and file names (tmem lz4 -h)
  demo        Workers share one physical memory and allocate/free frames at
              random, checking that no frame is ever handed out twice

simulate options:
  --corpus FILE|DIR   pages to use: any file cut into 4 KiB pages (tail zero-padded),
                      or every readable, non-empty regular file under a directory,
                      subfolders included (32 levels deep, in name order; symbolic
                      links are not followed). At most 1 GiB is read; the report
                      says when the corpus was cut. (default: the embedded sample
                      of 512 real anonymous-memory pages)
  --pages N           working-set size in pages (default: 4096 for the sample, which is
                      cycled with each copy made distinct; the corpus's size otherwise)
  --allocator NAME    zpool driver zcache stores into: zsmalloc (default) or zbud
  --ram SIZE          RAM budget: N pages, a size (512K, 4M, 1G) or a share (25%, default)
  --accesses N        page accesses (default 12 × the working set)
  --workers N         simulated processes, each in its own Worker (default 1)
  --seed N            workload seed (default 1)
  --json              print the result as JSON
  --svg FILE          write a picture of the memory map at the end (the path is
                      checked before the run)
  --remote redis://HOST:PORT
                      a remote tier on that Redis: the local memory is small
                      (a quarter of the working set + 512 frames, at least 1024) and a
                      background Worker moves cold compressed pages to Redis; the
                      report splits hits local/remote and shows remote bytes/page
  --allow-single-point-of-failure
                      with --remote: let swap pages be remote-only without a
                      replica (WAIT) confirming them
  --remote-watermark F
                      with --remote: move pages out above this fraction of the
                      frames in use (default 0.5)
  --frames N          physical memory in page frames (default: pages + 512)

demo options:
  --frames N  --workers N  --ops N  --json

  -h, --help          this text`;

/** A usage or input error: message, exit 2. */
class UsageError extends Error {}

function fail(msg: string, code: number): never {
  process.stderr.write(`tmem: ${msg}\n`);
  process.exit(code);
}

function intOption(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return n;
}

/**
 * Join `--opt -5` into `--opt=-5` for string options, so a negative (or
 * dash-led) value reaches the option's own check ("--ram must be ...")
 * instead of the argument parser's "argument is ambiguous".
 */
function joinDashValues(argv: string[], options: Record<string, { type: "string" | "boolean" }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith("--") && !a.includes("=") ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === "string" && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function parse<T extends Record<string, { type: "string" | "boolean"; short?: string }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: joinDashValues(argv, options), options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

// ══ Pages ══

/**
 * The most corpus read: 1 GiB, i.e. 262,144 pages, which is also the largest
 * working set (--pages). Reading stops there, and the report says so.
 */
const CORPUS_LIMIT_BYTES = 1 << 30;
/** How deep --corpus DIR descends: the directory itself is level 0. */
const CORPUS_MAX_DEPTH = 32;

/** Pages read for --corpus, and what the reader met on the way. */
interface Corpus {
  pages: Uint8Array;
  /** Where the pages came from, for the report. */
  what: string;
  /** Files whose bytes were used (in part when the limit cut the last one). */
  files: number;
  /** Reading stopped at CORPUS_LIMIT_BYTES. */
  truncated: boolean;
  /** What was passed over: empty or unreadable files, symbolic links, other file types, directories too deep or unreadable. */
  skipped: { empty: number; unreadable: number; links: number; special: number; tooDeep: number; unreadableDirs: number };
}

/** Read up to `limit` bytes of the file at `p` (all of it when smaller). */
function readHead(p: string, limit: number): Uint8Array {
  const fd = openSync(p, "r");
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(size, limit);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === want ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * Pages of a file, or of every readable, non-empty regular file under a
 * directory: subfolders to CORPUS_MAX_DEPTH levels, in name order, symbolic
 * links not followed (neither to files nor to directories, so a link cannot
 * loop or leave the tree). At most CORPUS_LIMIT_BYTES are read; each file's
 * tail is zero-padded to a whole page.
 */
function readCorpus(path: string): Corpus {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`--corpus: no such file or directory: ${path}`);
  }
  const skipped = { empty: 0, unreadable: 0, links: 0, special: 0, tooDeep: 0, unreadableDirs: 0 };
  if (!st.isDirectory()) {
    let data: Uint8Array;
    try {
      data = readHead(path, CORPUS_LIMIT_BYTES);
    } catch (e) {
      throw new UsageError(`--corpus: cannot read ${path}: ${(e as Error).message}`);
    }
    if (data.length === 0) throw new UsageError(`--corpus: ${path} is empty`);
    return { pages: toPages(data), what: path, files: 1, truncated: st.size > CORPUS_LIMIT_BYTES, skipped };
  }
  const parts: Uint8Array[] = [];
  let files = 0, bytes = 0, truncated = false;
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      skipped.unreadableDirs++;
      return;
    }
    for (const e of entries) {
      if (truncated) return;
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) { skipped.links++; continue; }
      if (e.isDirectory()) {
        if (depth < CORPUS_MAX_DEPTH) walk(p, depth + 1); else skipped.tooDeep++;
        continue;
      }
      if (!e.isFile()) { skipped.special++; continue; }
      let d: Uint8Array;
      try {
        d = readHead(p, CORPUS_LIMIT_BYTES - bytes);
      } catch {
        skipped.unreadable++;
        continue;
      }
      if (d.length === 0) {
        // A file emptied by the limit is not "empty": it was not read.
        if (bytes >= CORPUS_LIMIT_BYTES) truncated = true; else skipped.empty++;
        continue;
      }
      const pg = toPages(d);
      parts.push(pg);
      files++;
      bytes += pg.length;
      try {
        if (statSync(p).size > d.length) truncated = true;
      } catch { /* gone since: what was read stays */ }
      if (bytes >= CORPUS_LIMIT_BYTES) truncated = true;
    }
  };
  walk(path, 0);
  if (files === 0) {
    const passed = [
      skipped.empty && `${skipped.empty} empty`, skipped.unreadable && `${skipped.unreadable} unreadable`,
      skipped.links && `${skipped.links} symbolic links`, skipped.special && `${skipped.special} not regular files`,
      skipped.unreadableDirs && `${skipped.unreadableDirs} unreadable directories`,
      skipped.tooDeep && `${skipped.tooDeep} directories deeper than ${CORPUS_MAX_DEPTH} levels`,
    ].filter(Boolean);
    throw new UsageError(`--corpus: found no readable, non-empty regular file in ${path} or its subfolders ` +
      `(${CORPUS_MAX_DEPTH} levels deep; symbolic links are not followed)${passed.length ? `; passed over: ${passed.join(", ")}` : ""}`);
  }
  const pages = new Uint8Array(bytes);
  let o = 0;
  for (const p of parts) { pages.set(p, o); o += p.length; }
  return { pages, what: `${fmt(files)} files under ${path}`, files, truncated, skipped };
}

/** The report's line about a corpus cut to the limit, or undefined. */
function corpusNote(c: Corpus): string | undefined {
  if (!c.truncated) return undefined;
  return `the corpus is larger than 1 GiB: only its first 1 GiB (${fmt(CORPUS_LIMIT_BYTES / PAGE_SIZE)} pages) was read` +
    (c.files > 1 ? `, from ${fmt(c.files)} files in name order; the rest was not read` : "");
}

/** The embedded sample: 512 real pages of a Node process's anonymous memory (LZ4 frame). */
async function samplePages(): Promise<Uint8Array> {
  const frame = readFileSync(new URL("../data/sample-anon.pages.lz4", import.meta.url));
  return decompressFrame(frame);
}

function parseRam(v: string | undefined, workingSet: number): number {
  if (v === undefined) return Math.max(1, Math.floor(workingSet / 4));
  let m: RegExpExecArray | null;
  if ((m = /^(\d+(?:\.\d+)?)%$/.exec(v))) {
    const pct = Number(m[1]);
    if (pct <= 0 || pct > 100) throw new UsageError(`--ram share must be in (0, 100]%, not '${v}'`);
    return Math.max(1, Math.floor((workingSet * pct) / 100));
  }
  if ((m = /^(\d+(?:\.\d+)?)([KMG])i?B?$/i.exec(v))) {
    const bytes = Number(m[1]) * { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as "K" | "M" | "G"];
    return Math.max(1, Math.floor(bytes / PAGE_SIZE));
  }
  if (/^\d+$/.test(v)) {
    if (Number(v) < 1) throw new UsageError(`--ram must be at least 1 page, not '${v}'`);
    return Number(v);
  }
  throw new UsageError(`--ram must be pages (1024), a size (4M) or a share (25%), not '${v}'`);
}

// ══ simulate ══

/**
 * `--remote redis://HOST:PORT`: a Ramster remotifying the simulation's
 * zcache (above --remote-watermark of the frames, default 0.5, down to 0.05
 * less; bring-home below 0.3 less).
 * Persistent pages need a replica (WAIT) unless
 * --allow-single-point-of-failure names the risk.
 */
async function startRemote(pm: PhysicalMemory, zcache: Zcache, url: string, spof: boolean, high: number): Promise<SimRemote> {
  const { Ramster } = await import("./ramster/backend.js");
  const r = await Ramster.create(pm, {
    redis: url, node: "sim", zcache, allowSinglePointOfFailure: spof,
    remotify: { highWatermark: high, lowWatermark: Math.max(0, high - 0.05), homeWatermark: Math.max(0, high - 0.3) },
  });
  return {
    usedBytes: () => r.usedMemory(),
    stats: () => { const s = r.stats(); return { remotifier: s.remotifier, helper: s.remote }; },
    close: () => r.destroy({ force: true }),
  };
}

function progressBar(label: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  let lastShown = -1;
  return (done, total) => {
    const pct = Math.floor((done / total) * 100);
    if (tty) {
      if (pct === lastShown) return;
      lastShown = pct;
      const width = 30;
      const fill = Math.round((done / total) * width);
      process.stderr.write(`\r${label} [${"#".repeat(fill)}${".".repeat(width - fill)}] ${String(pct).padStart(3)}% ${done}/${total}`);
      if (done >= total) process.stderr.write("\n");
    } else {
      const step = Math.floor(pct / 25) * 25;
      if (step === lastShown) return;
      lastShown = step;
      process.stderr.write(`${label} ${step}% (${done}/${total} accesses)\n`);
    }
  };
}

function spawnNode(i: number, msg: WorkerProcessMessage): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./simulate-worker.js", import.meta.url));
    w.once("message", (m: ProcessResult | { error: string }) => {
      void w.terminate();
      if ("error" in m) reject(new Error(`worker ${i}: ${m.error}`)); else resolve(m);
    });
    w.once("error", reject);
    w.postMessage(msg);
  });
}

const mib = (pages: number): string => `${((pages * PAGE_SIZE) / 1048576).toFixed(1)} MiB`;
const fmt = (n: number, d = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

/** The remote tier's rows of the final table (--remote). */
function remoteRows(r: SimulateResult): Array<[string, string]> {
  const m = r.remote!;
  return [
    ["swap-in hits", `${fmt(m.localHits)} from local zcache, ${fmt(m.remoteHits)} from Redis (${fmt(m.remoteMisses)} remote failures)`],
    ["remote tier", `${fmt(m.remotified)} pages made remote; ${fmt(m.remotePages)} remote at the end`],
    ["remote bytes", `${fmt(m.payloadBytesPerPage)} B/page payload (LZ4 as zcache holds it); ` +
      (m.redisBytesPerPage === null ? "Redis memory unknown" : `${fmt(m.redisBytesPerPage)} B/page in Redis (INFO used_memory, keys and headers included)`)],
  ];
}

function printReport(r: SimulateResult, source: string, note: string | undefined): void {
  const t = r.totals;
  const F = FRAME_FIGURES;
  const rows: Array<[string, string]> = [
    ["pages", `${fmt(r.workingSetPages)} (${mib(r.workingSetPages)}) from ${source}`],
    ...(note ? [["corpus", note] as [string, string]] : []),
    ["RAM budget", `${fmt(r.ramPages)} pages (${mib(r.ramPages)}); physical memory ${fmt(r.frames)} frames`],
    ["accesses", `${fmt(t.accesses)}: ${fmt(t.faults)} faults (${fmt(t.firstTouches)} first touches)`],
    ["swap-outs", `${fmt(t.swapOuts)}: ${fmt(t.stores)} stored in zcache, ${fmt(t.rejected)} rejected to disk`],
    ["swap-ins", `${fmt(t.hits)} hits from zcache, ${fmt(t.misses)} misses (read from disk)`],
    ["checks", `${t.corrupt} corrupt pages, ${t.lost} lost pages`],
    ["pages stored", `${fmt(r.storedPages)} now (${fmt(r.zcache.sameFilledPages)} same-filled, no allocation)`],
    ["compression", `ratio ${r.compressionRatio.toFixed(2)} (LZ4, stored pages); ${fmt(r.zcache.compressPoor)} pages rejected as incompressible`],
    ["frames used", `${fmt(r.poolFrames)} ${F.pool} (${mib(r.poolFrames)}) in ${r.allocator} = ${fmt(r.objectFrames)} ${F.object} ` +
      `+ ${fmt(r.metaFrames)} ${F.meta}, for ${fmt(r.poolObjects)} objects`],
    ...(r.remote ? remoteRows(r) : []),
    ["throughput", `store ${fmt(r.storePagesPerSec)} pages/s (${fmt((r.storePagesPerSec * PAGE_SIZE) / 1e6)} MB/s), load ${fmt(r.loadPagesPerSec)} pages/s (${fmt((r.loadPagesPerSec * PAGE_SIZE) / 1e6)} MB/s)`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(`\ntmem simulate: ${r.workers} process(es) swapping through frontswap into zcache (${r.allocator})\n`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  console.log("\n  density: the pages stored at the end, replayed into a fresh pool of each allocator and compacted, beside the kernel's figure:\n");
  const cols = ["allocator", "objects", F.replay, F.kernel, `+ ${F.meta}`, "pages/frame", "bytes stored/frame bytes"];
  console.log(`  ${cols.join("  ")}`);
  for (const d of r.density) {
    const cells = [d.allocator, String(d.objects), String(d.objectFrames), String(d.kernelFrames), String(d.metaFrames),
      d.effectiveRatio.toFixed(2), `${(d.density * 100).toFixed(1)} %`];
    console.log(`  ${cells.map((c, i) => (i === 0 ? c.padEnd(cols[i]!.length) : c.padStart(cols[i]!.length))).join("  ")}`);
  }
  console.log(`\n  ${F.pool} = ${F.object} + ${F.meta} of the run's pool; the memory map's allocator cells are its ${F.object}.`);
  console.log(`  ${F.replay}: the same sizes in a fresh pool after compaction, so no fragmentation is left from the run;`);
  console.log(`  ${F.kernel}: what the kernel's allocator would use for them (it keeps its metadata in slab caches outside the pool).`);
}

/**
 * Check before the run that `path` can be written: its directory exists and
 * is writable, and the path is not a directory or a read-only file. (The
 * write after the run can still fail, e.g. a full disk; the results are
 * printed first, so they are not lost.)
 */
function checkOutputPath(option: string, path: string): void {
  const full = resolve(path);
  let st;
  try {
    st = statSync(full);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`${option}: ${path} is a directory, not a file`);
  const dir = dirname(full);
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`${option}: cannot write ${path}: ${dir} is not a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${option}: cannot write ${path}: no such directory ${dir}`);
  }
  try {
    accessSync(st ? full : dir, fsConstants.W_OK);
  } catch {
    throw new UsageError(`${option}: cannot write ${path}: permission denied`);
  }
}

async function cmdSimulate(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, {
    corpus: { type: "string" }, pages: { type: "string" }, allocator: { type: "string" }, ram: { type: "string" },
    accesses: { type: "string" }, workers: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" }, svg: { type: "string" },
    remote: { type: "string" }, frames: { type: "string" }, "allow-single-point-of-failure": { type: "boolean" },
    "remote-watermark": { type: "string" },
  });
  if (v.help) { console.log(USAGE); return; }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const allocator = (v.allocator as string | undefined) ?? "zsmalloc";
  const known = registeredDrivers();
  if (!known.includes(allocator)) throw new UsageError(`--allocator must be one of ${known.join(", ")}, not '${allocator}'`);
  const workers = intOption("workers", v.workers as string | undefined, 1, 1, 16);
  const seed = intOption("seed", v.seed as string | undefined, 1, 0, 2 ** 31);
  const svg = v.svg as string | undefined;
  if (svg !== undefined) checkOutputPath("--svg", svg);
  let src: Uint8Array, source: string, defaultPages: number, corpus: Corpus | undefined;
  if (v.corpus !== undefined) {
    corpus = readCorpus(v.corpus as string);
    src = corpus.pages; source = corpus.what; defaultPages = Math.min(src.length / PAGE_SIZE, 262144);
  } else {
    src = await samplePages(); source = "the embedded sample (512 real anonymous-memory pages of a Node.js process)"; defaultPages = 4096;
  }
  const note = corpus && corpusNote(corpus);
  const n = intOption("pages", v.pages as string | undefined, defaultPages, Math.max(1, workers), 262144);
  const pages = cycle(src, n);
  const ram = parseRam(v.ram as string | undefined, n);
  if (ram > n) throw new UsageError(`--ram (${ram} pages) must not exceed the working set (${n} pages)`);
  if (ram < workers) throw new UsageError(`--ram must give each worker at least one page`);
  const accesses = intOption("accesses", v.accesses as string | undefined, 12 * n, 1, 1e9);
  const remoteUrl = v.remote as string | undefined;
  if (remoteUrl !== undefined && !/^redis:\/\/[^/\s]+:\d+\/?$/.test(remoteUrl)) throw new UsageError(`--remote must be redis://HOST:PORT, not '${remoteUrl}'`);
  if (remoteUrl !== undefined && allocator !== "zsmalloc") throw new UsageError("--remote needs --allocator zsmalloc (the remote tier moves zsmalloc objects)");
  // With a remote tier the local memory is small on purpose: a quarter of the working set (at least 1024 frames).
  const rwm = v["remote-watermark"] === undefined ? 0.5 : Number(v["remote-watermark"]);
  if (!(rwm >= 0 && rwm <= 1)) throw new UsageError(`--remote-watermark must be a fraction from 0 to 1, not '${String(v["remote-watermark"])}'`);
  const frames = intOption("frames", v.frames as string | undefined, remoteUrl !== undefined ? Math.max(1024, Math.ceil(n / 4) + 512) : n + 512, 256, 1 << 22);
  const r = await simulate({
    pages, ram, accesses, allocator, workers, seed, frames,
    ...(remoteUrl !== undefined ? { remote: (pm: PhysicalMemory, zcache: Zcache) => startRemote(pm, zcache, remoteUrl, v["allow-single-point-of-failure"] === true, rwm) } : {}),
    onProgress: v.json ? undefined : progressBar("simulating"),
    spawn: spawnNode,
  });
  // The results first, then the picture: a failed write must not lose a finished run.
  if (v.json) {
    const { memoryMap, ...rest } = r;
    console.log(JSON.stringify({
      ...rest, source, frameFigures: FRAME_FIGURES,
      ...(corpus ? { corpus: { files: corpus.files, bytes: corpus.pages.length, truncated: corpus.truncated, note, skipped: corpus.skipped } } : {}),
      memoryMap: { frames: memoryMap.length, used: memoryMap.filter((f) => f.owner !== 0).length },
    }, null, 2));
  } else {
    printReport(r, source, note);
  }
  let svgFailed = false;
  if (svg !== undefined) {
    try {
      writeFileSync(svg, renderMemoryMapSvg(r.memoryMap, { title: `tmem physical memory after the simulation (${r.allocator}): ${r.frames} frames` }));
      if (!v.json) console.log(`\n  memory map written to ${svg}`);
    } catch (e) {
      svgFailed = true;
      process.stderr.write(`tmem: --svg: the run finished (results above) but the memory map could not be written to ${svg}: ${(e as Error).message}\n`);
    }
  }
  if (r.totals.corrupt > 0 || r.totals.lost > 0) fail(`${r.totals.corrupt} corrupt and ${r.totals.lost} lost pages`, 1);
  if (svgFailed) process.exit(1);
}

// ══ demo ══

async function cmdDemo(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, { frames: { type: "string" }, workers: { type: "string" }, ops: { type: "string" }, json: { type: "boolean" } });
  if (v.help) { console.log(USAGE); return; }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const frames = intOption("frames", v.frames as string | undefined, 4096, 16, 1_000_000);
  const workers = intOption("workers", v.workers as string | undefined, 2, 1, 64);
  const ops = intOption("ops", v.ops as string | undefined, 200_000, 1, 100_000_000);
  const pm = await PhysicalMemory.create({ frames, maxWorkers: workers + 1 });
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = workers;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: workers }, (_, i) => new Promise<FrameStressResult & { ms: number; slot: number }>((resolve, reject) => {
    const w = new Worker(new URL("./demo-frames-worker.js", import.meta.url), {
      workerData: { handle: pm.handle, barrier, options: { ops, seed: 0x1234 + i * 7919, maxHeld: Math.floor(frames / workers), owner: 16 + i } },
    });
    w.once("message", resolve);
    w.once("error", reject);
  })));
  const wall = performance.now() - t0;
  const stats = pm.stats();
  const bad = results.reduce((a, r) => a + r.corrupt + r.duplicates + r.wrongOwner, 0);
  const ok = bad === 0 && stats.usedFrames === 0;
  if (v.json) {
    console.log(JSON.stringify({ frames, workers, opsPerWorker: ops, wallMs: wall, results, stats, ok }, null, 2));
  } else {
    console.log(`tmem demo: ${workers} Workers share one physical memory of ${frames} frames (${(frames * 4 / 1024).toFixed(1)} MiB)\n`);
    console.log("worker  ops        allocs     frees      ENOMEM   peak held  corrupt  ns/op");
    for (const r of results) {
      console.log(`${String(r.slot).padEnd(8)}${String(r.ops).padEnd(11)}${String(r.allocs).padEnd(11)}${String(r.frees).padEnd(11)}` +
        `${String(r.enomem).padEnd(9)}${String(r.peakHeld).padEnd(11)}${String(r.corrupt + r.duplicates + r.wrongOwner).padEnd(9)}${(r.ms * 1e6 / r.ops).toFixed(0)}`);
    }
    console.log(`\nafter the run: ${stats.usedFrames} frames in use, ${stats.freeFrames} free; wall ${wall.toFixed(0)} ms`);
    console.log(ok ? "OK: no frame was handed out twice, every signature intact, every frame free again."
      : "FAILED: see the corrupt column and the frames in use.");
  }
  pm.detach();
  if (!ok) process.exit(1);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd.startsWith("-")) {
    if (cmd === "-h" || cmd === "--help") { console.log(USAGE); return; }
    return cmdSimulate(argv);
  }
  if (cmd === "simulate") return cmdSimulate(rest);
  if (cmd === "lz4") { process.exitCode = await lz4Main(rest); return; }
  if (cmd === "demo") return cmdDemo(rest);
  if (cmd === "cache-bench") return (await import("./cache/cli.js")).cacheBench(rest);
  if (cmd === "help") { console.log(USAGE); return; }
  throw new UsageError(`unknown command '${cmd}'`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) fail(`${e.message}\n(tmem --help for usage)`, 2);
  if (e instanceof TmemError) fail(e.message, 1);
  fail(e instanceof Error ? (e.stack ?? e.message) : String(e), 1);
});
