// SPDX-License-Identifier: MIT
/**
 * simulate.ts: the swap simulation behind `tmem simulate` and the browser demo.
 *
 * What it is: a program whose working set is larger than its RAM budget. Its
 * pages are real pages (the embedded sample, or any file). It touches them in
 * a realistic pattern (sim/workload.ts); when RAM is full, the least recently
 * used page is swapped out through frontswap into zcache (LZ4 into a zpool),
 * and a page touched again is loaded back. Some touches write the page, so
 * what is stored changes over time. Every load is compared with what was
 * stored: the run counts any wrong byte as corruption (there must be none).
 * A store that zcache rejects (incompressible page, cap reached) goes to the
 * simulated swap disk instead, as the kernel would write it to the swap device.
 *
 * What it is not: a benchmark of a real kernel. Times are those of the
 * frontswap calls only (store/load), not of the simulated program.
 *
 * Pacing: with `accessesPerSecond` the processes hold back to that rate, so
 * a viewer can watch memory fill (the browser demo). A Worker sleeps with
 * Atomics.wait; the main thread runs in short slices and awaits a timer.
 * Live counts reach the caller through `onProgress` while the run goes on
 * (Workers write them to a shared Int32Array, LIVE_WORDS words each).
 *
 * It is platform-neutral (no Node APIs): Workers are spawned through a
 * function the caller provides (Node worker_threads in the CLI, Web Workers
 * in the browser).
 *
 * At the end it measures density: the compressed sizes of the pages stored at
 * that moment are replayed into a fresh zsmalloc pool and a fresh zbud pool,
 * and set beside what the kernel's zsmalloc and zbud would use for the same
 * sizes (src/zpool/kernel-*.ts).
 *
 * Frame figures: a run yields several frame counts for one allocator, each
 * true of something different. They carry one name each ({@link FRAME_FIGURES}),
 * and the command's text, its JSON, the SVG legend, the density table and the
 * browser demo all use those names:
 *
 *   pool frames      = object frames + pool metadata frames of the run's pool
 *   object frames    frames holding compressed pages (owner tag zsmalloc/zbud)
 *   compacted replay object frames of a fresh pool given the same sizes, then
 *                    compacted (no fragmentation left from the run)
 *   kernel frames    what the kernel's allocator would use for those sizes
 * @module
 */
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { Owner, PAGE_SIZE } from "../../bindings/layout.js";
import { argCheck } from "../../bindings/status.js";
import { Frontswap, type SwapType } from "../frontswap.js";
import { Zcache, type ZcacheStats } from "../zcache.js";
import { createPool, type ZpoolStats } from "../zpool/index.js";
import { kernelZsmallocUsage } from "../zpool/kernel-zsmalloc.js";
import { kernelZbudPages } from "../zpool/kernel-zbud.js";
import { lz4Ready, type Lz4Codec } from "../../bindings/lz4.js";
import { AccessPattern } from "./workload.js";
import { FRAME_FIGURES, type FrameInfo } from "./memmap.js";

export { FRAME_FIGURES };


/** One simulated process (a Worker, or the main thread). */
export interface ProcessOptions {
  /** Swap type (0..31) of this process. */
  type: SwapType;
  /** Resident pages (RAM budget). */
  ram: number;
  /** Page accesses to make. */
  accesses: number;
  /** PRNG seed. */
  seed: number;
  /** Share of accesses that write the page. @defaultValue 0.3 */
  writeShare?: number;
  /** Hold back to at most this many accesses per second (pacing for a viewer). @defaultValue unpaced */
  accessesPerSecond?: number;
}

/** The counts a run reports while it goes on (see {@link SimulateOptions.onProgress}). */
export interface LiveCounts {
  accesses: number;
  faults: number;
  hits: number;
  misses: number;
  stores: number;
  rejected: number;
}

/** Words per process in the shared live-count array: the {@link LiveCounts} fields, in this order. */
export const LIVE_WORDS = 6;
const LIVE_KEYS = ["accesses", "faults", "hits", "misses", "stores", "rejected"] as const;

/** Live counts of `r` plus `base`. */
function liveOf(r: ProcessResult, base?: LiveCounts): LiveCounts {
  const out = {} as LiveCounts;
  for (const k of LIVE_KEYS) out[k] = r[k] + (base?.[k] ?? 0);
  return out;
}

/** What one simulated process saw. */
export interface ProcessResult {
  accesses: number;
  /** Touches of a page that was not resident. */
  faults: number;
  /** First touches (nothing to load). */
  firstTouches: number;
  /** Pages swapped out (evictions of pages ever written or loaded). */
  swapOuts: number;
  /** Swap-outs frontswap accepted. */
  stores: number;
  /** Swap-outs frontswap rejected (went to the simulated disk). */
  rejected: number;
  /** Faults served from frontswap. */
  hits: number;
  /** Faults served from the simulated disk (the page had been rejected). */
  misses: number;
  /** Loads whose bytes differed from what was stored: must be 0. */
  corrupt: number;
  /** Loads that missed although the store had been accepted: must be 0. */
  lost: number;
  /** Milliseconds spent in frontswap store / load calls. */
  storeMs: number;
  loadMs: number;
}

/** A result with every count zero. */
function emptyResult(): ProcessResult {
  return { accesses: 0, faults: 0, firstTouches: 0, swapOuts: 0, stores: 0, rejected: 0, hits: 0, misses: 0, corrupt: 0, lost: 0, storeMs: 0, loadMs: 0 };
}

/** Page contents of a process: base pages plus a per-page write version. */
class PageSet {
  readonly n: number;
  private readonly base: Uint8Array;
  private readonly version: Uint32Array;

  constructor(base: Uint8Array) {
    this.base = base;
    this.n = base.length / PAGE_SIZE;
    this.version = new Uint32Array(this.n);
  }

  write(page: number): void { this.version[page]!++; }

  /** Fill `out` with the current contents of `page`: the base page, its first word replaced by the version once written. */
  fill(page: number, out: Uint8Array): void {
    out.set(this.base.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE));
    const v = this.version[page]!;
    if (v !== 0) { out[0] = v; out[1] = v >>> 8; out[2] = v >>> 16; out[3] = 0xa5; }
  }
}

const now = (): number => performance.now();

/** A simulated process that can run in slices (the browser's main thread yields between them). */
export class ProcessState {
  private readonly set: PageSet;
  private readonly pattern: AccessPattern;
  private readonly writeShare: number;
  private readonly state: Uint8Array; // 0 never touched, 1 resident, 2 in frontswap, 3 on disk
  private readonly buf = new Uint8Array(PAGE_SIZE);
  private readonly got = new Uint8Array(PAGE_SIZE);
  private x: number;
  /** Accesses made by every run() so far, and when the first began (ms), for pacing. */
  private done = 0;
  private startedAt = -1;
  private sleepCell: Int32Array | undefined;

  constructor(pages: Uint8Array, readonly o: ProcessOptions) {
    this.set = new PageSet(pages);
    this.pattern = new AccessPattern({ workingSet: this.set.n, ram: Math.min(o.ram, this.set.n), seed: o.seed });
    this.writeShare = o.writeShare ?? 0.3;
    this.state = new Uint8Array(this.set.n);
    this.x = (o.seed * 2654435761) >>> 0 || 1;
  }

  /**
   * Milliseconds until the accesses made so far are due at
   * `o.accessesPerSecond` (0 when unpaced or behind).
   */
  msUntilDue(): number {
    const rate = this.o.accessesPerSecond;
    if (!rate || this.startedAt < 0) return 0;
    return Math.max(0, this.startedAt + (this.done / rate) * 1000 - now());
  }

  /**
   * Make `count` accesses against `fs`; returns what they did.
   * @param progress - called every 256 accesses with the accesses done in this call and the counts so far.
   * @param block - pace by blocking (Atomics.wait): only where the thread may block (a Worker).
   */
  run(count: number, fs: Frontswap, progress?: (done: number, r: ProcessResult) => void, block = false): ProcessResult {
    const { set, pattern, state, buf, got, o } = this;
    const r = emptyResult();
    if (this.startedAt < 0) this.startedAt = now();
    const paced = block && (o.accessesPerSecond ?? 0) > 0;
    if (paced) this.sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < count; i++) {
      this.done++;
      if (paced && (i & 15) === 15) {
        const wait = this.msUntilDue();
        if (wait > 1) Atomics.wait(this.sleepCell!, 0, 0, wait);
      }
      const a = pattern.step();
      r.accesses++;
      if (a.evicted >= 0) {
        set.fill(a.evicted, buf);
        r.swapOuts++;
        const t0 = now();
        const ok = fs.store(o.type, a.evicted, buf);
        r.storeMs += now() - t0;
        if (ok) { r.stores++; state[a.evicted] = 2; } else { r.rejected++; state[a.evicted] = 3; }
      }
      if (a.fault) {
        r.faults++;
        const s = state[a.page]!;
        if (s === 0) r.firstTouches++;
        else if (s === 3) r.misses++;
        else if (s === 2) {
          const t0 = now();
          const ok = fs.load(o.type, a.page, got);
          if (ok) fs.invalidatePage(o.type, a.page); // the swap slot is freed on swap-in
          r.loadMs += now() - t0;
          if (!ok) r.lost++;
          else {
            r.hits++;
            set.fill(a.page, buf);
            for (let k = 0; k < PAGE_SIZE; k++) if (got[k] !== buf[k]) { r.corrupt++; break; }
          }
        }
        state[a.page] = 1;
      }
      let x = this.x;
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      this.x = x;
      if (x / 4294967296 < this.writeShare) set.write(a.page);
      if (progress && (i & 255) === 255) progress(i + 1, r);
    }
    progress?.(count, r);
    return r;
  }
}

/**
 * Run one process against `fs`. Synchronous; the caller has registered a
 * backend and called `fs.init(type)`.
 * @param pages - the process's working set, a whole number of 4 KiB pages.
 * @param progress - called every 1024 accesses with the accesses done.
 */
export function runProcess(fs: Frontswap, pages: Uint8Array, o: ProcessOptions, progress?: (done: number, r: ProcessResult) => void, block = false): ProcessResult {
  return new ProcessState(pages, o).run(o.accesses, fs, progress, block);
}

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** The working set: a whole number of 4 KiB pages (split among the Workers). */
  pages: Uint8Array;
  /** RAM budget in pages, for the whole program (split among the Workers). */
  ram: number;
  /** Page accesses in all. @defaultValue 12 × the working set */
  accesses?: number;
  /** zpool driver zcache stores into. @defaultValue "zsmalloc" */
  allocator?: string;
  /** Simulated processes, each in its own Worker when > 1. @defaultValue 1 */
  workers?: number;
  /** Page frames of physical memory. @defaultValue enough for the working set: pages + 512 */
  frames?: number;
  /** PRNG seed. @defaultValue 1 */
  seed?: number;
  /**
   * Progress: accesses done of total (all processes), and the counts so far
   * (with Workers, as of the last ~100 ms; each count exact, the set not atomic).
   */
  onProgress?: (done: number, total: number, live: LiveCounts) => void;
  /**
   * Hold back to about this many accesses per second in all (split among the
   * processes), so the run can be watched. @defaultValue unpaced
   */
  accessesPerSecond?: number;
  /**
   * Called once the accesses are done, before the density measurement and
   * before the memory is detached: a UI stops sampling the memory here.
   */
  beforeEnd?: () => void;
  /** Called once the physical memory and zcache exist, before the run (a UI draws them live). */
  onStart?: (pm: PhysicalMemory, zcache: Zcache) => void;
  /**
   * With one process: yield to the event loop every this many accesses, so a
   * browser main thread stays responsive. 0 runs without yielding.
   * @defaultValue 0
   */
  yieldEvery?: number;
  /** Create the memory in a page that is not cross-origin isolated (one thread only). @defaultValue false */
  allowUnisolated?: boolean;
  /**
   * A remote tier behind zcache (`tmem simulate --remote`): called once the
   * memory and zcache exist, before the run; what it returns is asked for its
   * figures at the end and closed. The simulation itself stays
   * platform-neutral: the caller brings the tier (the CLI starts a Ramster).
   */
  remote?: (pm: PhysicalMemory, zcache: Zcache) => Promise<SimRemote>;
  /**
   * Runs process `i` in a Worker (needed when workers > 1). It must attach to
   * `handle`, call {@link runWorkerProcess} and resolve with its result;
   * `progress` is a shared Int32Array where the Worker keeps its live counts
   * at `[i * LIVE_WORDS ...]`.
   */
  spawn?: (i: number, msg: WorkerProcessMessage) => Promise<ProcessResult>;
}

/** A remote tier as the simulation sees it (see {@link SimulateOptions.remote}). */
export interface SimRemote {
  /** Bytes the remote server holds now (Redis INFO memory used_memory), or null if it cannot say. */
  usedBytes(): Promise<number | null>;
  /** Its counters, for the JSON output. */
  stats(): object;
  /** Stop it (after the run's pages are gone). */
  close(): Promise<void>;
}

/** The remote tier's part of a result (`--remote`). */
export interface RemoteResult {
  /** Swap-ins served from local zcache and from the remote tier. */
  localHits: number;
  remoteHits: number;
  /** Loads of remote pages that failed (must be 0 for frontswap). */
  remoteMisses: number;
  /** Pages remote at the end of the access loop, and made remote in all. */
  remotePages: number;
  remotified: number;
  /** Compressed payload bytes per remote page (what zcache sent). */
  payloadBytesPerPage: number;
  /** Redis memory per remote page (INFO used_memory growth over the run / remote pages), null when unknown. */
  redisBytesPerPage: number | null;
  /** The tier's own counters. */
  tier: object;
}

/** What a simulation Worker receives. */
export interface WorkerProcessMessage {
  handle: PhysicalMemoryHandle;
  pages: Uint8Array;
  process: ProcessOptions;
  progress: Int32Array;
  index: number;
}

/** The body of a simulation Worker: attach, open the frontend, run, detach. */
export async function runWorkerProcess(msg: WorkerProcessMessage): Promise<ProcessResult> {
  const pm = await PhysicalMemory.attach(msg.handle);
  try {
    const fs = Frontswap.for(pm);
    await fs.ready();
    const at = msg.index * LIVE_WORDS;
    return runProcess(fs, msg.pages, msg.process, (_done, r) => {
      LIVE_KEYS.forEach((k, j) => Atomics.store(msg.progress, at + j, r[k]));
    }, true);
  } finally {
    pm.detach();
  }
}

/** Density of one allocator for the stored sizes (a compacted replay into a fresh pool). */
export interface DensityRow {
  allocator: string;
  /** Objects placed (same-filled pages need none). */
  objects: number;
  /** {@link FRAME_FIGURES}.replay: object frames of the fresh pool after the replay and compaction. */
  objectFrames: number;
  /** {@link FRAME_FIGURES}.meta: the fresh pool's metadata frames. */
  metaFrames: number;
  /** {@link FRAME_FIGURES}.kernel: object frames the kernel's allocator would use for the same sizes. */
  kernelFrames: number;
  /** Compressed bytes / frame bytes. */
  density: number;
  /** Raw page bytes / frame bytes: the effective compression ratio. */
  effectiveRatio: number;
}

/** The outcome of a simulation. */
export interface SimulateResult {
  allocator: string;
  workers: number;
  workingSetPages: number;
  ramPages: number;
  frames: number;
  processes: ProcessResult[];
  totals: ProcessResult;
  /** Pages in frontswap at the end. */
  storedPages: number;
  /** Σ raw / Σ compressed over the pages stored at the end (same-filled pages count as their 8-byte word). */
  compressionRatio: number;
  /** {@link FRAME_FIGURES}.pool: frames of zcache's persistent zpool at the end of the run (object + metadata). */
  poolFrames: number;
  /** {@link FRAME_FIGURES}.object: of those, frames holding objects (the memory map's allocator cells). */
  objectFrames: number;
  /** {@link FRAME_FIGURES}.meta: of those, the pool's metadata frames. */
  metaFrames: number;
  /** Objects in the run's pool at the end (stored pages less same-filled ones, which need no object). */
  poolObjects: number;
  zcache: ZcacheStats;
  density: DensityRow[];
  /** Frontswap store / load throughput (pages per second of time inside the calls). */
  storePagesPerSec: number;
  loadPagesPerSec: number;
  /** Wall time of the access loop, ms. */
  wallMs: number;
  /** The memory map at the end (one entry per frame). */
  memoryMap: FrameInfo[];
  /** With a remote tier: the hits split local/remote and its cost. */
  remote?: RemoteResult;
}

function sum(rs: ProcessResult[]): ProcessResult {
  const t = emptyResult();
  for (const r of rs) for (const k of Object.keys(t) as (keyof ProcessResult)[]) t[k] += r[k];
  return t;
}

/** A pool's frames split into object frames and metadata frames (zsmalloc's objectPages, zbud's zbudPages). */
function splitFrames(stats: ZpoolStats): { objectFrames: number; metaFrames: number } {
  const st = stats as ZpoolStats & { objectPages?: number; zbudPages?: number };
  const objectFrames = st.objectPages ?? st.zbudPages ?? st.pages;
  return { objectFrames, metaFrames: st.pages - objectFrames };
}

/**
 * Replay `sizes` into a fresh pool of `allocator`, compact it, and count its
 * frames: those holding objects (what the kernel's figure counts) and the
 * pool's own metadata frames (the kernel keeps those in slab caches outside).
 */
async function replay(allocator: string, sizes: number[]): Promise<{ objectFrames: number; metaFrames: number; objects: number }> {
  const frames = sizes.length + 256;
  // A scratch memory of this thread only: it is never shared, so isolation is not needed.
  const pm = await PhysicalMemory.create({ frames, maxWorkers: 1, allowUnisolated: true });
  try {
    const pool = await createPool(allocator, pm);
    let objects = 0;
    for (const s of sizes) { pool.malloc(s); objects++; }
    pool.compact();
    return { ...splitFrames(pool.stats()), objects };
  } finally {
    pm.detach();
  }
}

/**
/** What a same-filled page costs zcache: the one u64 word it keeps. */
const SAME_FILLED_BYTES = 8;

/**
 * Compressed sizes of the pages frontswap holds now for swap types
 * 0..types-1, compressed as zcache does (same-filled pages count
 * SAME_FILLED_BYTES and are not in `sizes`: they need no object). Loads each page, so it
 * costs a load and a compress per stored page; safe while Workers store
 * and invalidate (a page invalidated meanwhile is simply not counted).
 */
export function storedSizes(fs: Frontswap, types: number, codec: Lz4Codec): { sizes: number[]; raw: number; compressed: number } {
  const sizes: number[] = [];
  let raw = 0, compressed = 0;
  const buf = new Uint8Array(PAGE_SIZE);
  const words = new BigUint64Array(buf.buffer);
  for (let i = 0; i < types; i++) {
    const t = fs.swapType(i);
    for (const off of fs.storedOffsets(t)) {
      if (!fs.load(t, off, buf)) continue;
      raw += PAGE_SIZE;
      // Same-filled as zcache (and zswap) define it: all 512 u64 words equal; zcache keeps the word.
      if (words.every((w) => w === words[0])) { compressed += SAME_FILLED_BYTES; continue; }
      const z = codec.compressBlock(buf).length;
      compressed += z;
      sizes.push(z);
    }
  }
  return { sizes, raw, compressed };
}

/** {@link FRAME_FIGURES}.kernel for `sizes`: the object frames the kernel's zsmalloc and zbud would use. */
export function kernelFrames(sizes: number[]): { zsmalloc: number; zbud: number } {
  return {
    zsmalloc: sizes.length ? kernelZsmallocUsage(sizes).pages : 0,
    zbud: sizes.length ? kernelZbudPages(sizes).pages : 0,
  };
}

/**
 * Per-frame owner, size class and fill, for the memory map (a zbud pool's
 * descriptor frame shows as metadata). `zsPools` are the
 * driver-level ids of the zsmalloc pools whose frames should show their size
 * class (a zsmalloc frame of another pool shows as simply in use). A snapshot:
 * read without locks while Workers may be changing it.
 */
export function memoryMap(pm: PhysicalMemory, zsPools: readonly number[] = []): FrameInfo[] {
  const out: FrameInfo[] = [];
  const core = pm.core;
  for (let pfn = 0; pfn < pm.frames; pfn++) {
    const owner = core.frame_owner(pfn);
    const f: FrameInfo = { owner, classSize: 0, fill: owner === 0 ? 0 : 1 };
    if (owner === Owner.ZSMALLOC) {
      for (const pool of zsPools) {
        const info = core.zs_frame_info(pool, pfn);
        if (info >= 0) { f.classSize = info >>> 8; f.fill = (info & 0xff) / 100; break; }
      }
    } else if (owner === Owner.ZBUD) {
      const fill = core.zbud_frame_info(pfn);
      if (fill >= 0) f.fill = fill / 100;
      // A zbud pool's descriptor frame carries the zbud tag but holds no
      // objects: the map shows it as metadata, so the zbud cells are the
      // pool's object frames (FRAME_FIGURES.object), as with zsmalloc.
      else f.owner = Owner.META;
    }
    out.push(f);
  }
  return out;
}

/** The driver-level ids of a zcache's zsmalloc pools (none for another driver). */
export function zsmallocPoolsOf(z: Zcache): number[] {
  return [z.ephemeral, z.persistent].filter((p) => p.type === "zsmalloc").map((p) => p.backend.id);
}

/**
 * Run the simulation. Creates its own physical memory, zcache backend and
 * frontswap, runs the processes, then measures density.
 * @throws TmemError EINVAL for bad options (no pages, ram < 1, workers > 1 without spawn).
 */
export async function simulate(o: SimulateOptions): Promise<SimulateResult> {
  argCheck(o.pages instanceof Uint8Array && o.pages.length >= PAGE_SIZE && o.pages.length % PAGE_SIZE === 0,
    "pages must be a non-empty whole number of 4 KiB pages");
  const n = o.pages.length / PAGE_SIZE;
  const workers = o.workers ?? 1;
  argCheck(Number.isInteger(workers) && workers >= 1 && workers <= 31, "workers must be an integer from 1 to 31");
  argCheck(workers === 1 || typeof o.spawn === "function", "workers > 1 needs a spawn function");
  argCheck(n >= workers, `the working set (${n} pages) must have at least one page per worker`);
  argCheck(Number.isInteger(o.ram) && o.ram >= workers, `ram must be an integer of at least ${workers} page(s)`);
  const allocator = o.allocator ?? "zsmalloc";
  const accesses = o.accesses ?? 12 * n;
  argCheck(Number.isInteger(accesses) && accesses >= 1, "accesses must be a positive integer");
  const frames = o.frames ?? n + 512;
  const pm = await PhysicalMemory.create({ frames, maxWorkers: workers + 2, allowUnisolated: o.allowUnisolated === true });
  const zcache = await Zcache.create(pm, { zpool: allocator });
  const fs = Frontswap.for(pm);
  await fs.registerOps(zcache);
  const per = Math.floor(n / workers);
  const procs: Array<{ pages: Uint8Array; process: ProcessOptions }> = [];
  for (let i = 0; i < workers; i++) {
    const first = i * per, last = i === workers - 1 ? n : first + per;
    const type = fs.swapType(i);
    await fs.init(type);
    procs.push({
      pages: o.pages.slice(first * PAGE_SIZE, last * PAGE_SIZE),
      process: {
        type, ram: Math.max(1, Math.floor(o.ram / workers)), accesses: Math.floor(accesses / workers), seed: (o.seed ?? 1) + i * 7919,
        ...(o.accessesPerSecond ? { accessesPerSecond: o.accessesPerSecond / workers } : {}),
      },
    });
  }
  const total = procs.reduce((a, p) => a + p.process.accesses, 0);
  const tier = o.remote ? await o.remote(pm, zcache) : undefined;
  const used0 = tier ? await tier.usedBytes() : null;
  o.onStart?.(pm, zcache);
  const t0 = now();
  let processes: ProcessResult[];
  const yieldEvery = o.yieldEvery ?? 0;
  if (workers === 1 && yieldEvery > 0) {
    // Run in slices, yielding between them; the slices continue one process.
    // Paced: slices of about 50 ms of accesses, each awaiting its due time.
    const p = procs[0]!;
    const rate = p.process.accessesPerSecond;
    const slice = rate ? Math.max(8, Math.min(yieldEvery, Math.ceil(rate / 20))) : yieldEvery;
    const parts: ProcessResult[] = [];
    const state = new ProcessState(p.pages, p.process);
    for (let done = 0; done < p.process.accesses; done += slice) {
      parts.push(state.run(Math.min(slice, p.process.accesses - done), fs));
      o.onProgress?.(Math.min(done + slice, total), total, liveOf(sum(parts)));
      await new Promise((resolve) => setTimeout(resolve, state.msUntilDue()));
    }
    processes = [sum(parts)];
  } else if (workers === 1) {
    processes = [runProcess(fs, procs[0]!.pages, procs[0]!.process, (d, r) => o.onProgress?.(d, total, liveOf(r)))];
  } else {
    const progress = new Int32Array(new SharedArrayBuffer(4 * LIVE_WORDS * workers));
    const live = (): LiveCounts => {
      const l = liveOf(emptyResult());
      for (let i = 0; i < workers; i++) LIVE_KEYS.forEach((k, j) => { l[k] += Atomics.load(progress, i * LIVE_WORDS + j); });
      return l;
    };
    const timer = setInterval(() => { const l = live(); o.onProgress?.(l.accesses, total, l); }, 100);
    try {
      processes = await Promise.all(procs.map((p, i) => o.spawn!(i, { handle: pm.handle, pages: p.pages, process: p.process, progress, index: i })));
    } finally {
      clearInterval(timer);
    }
  }
  const wallMs = now() - t0;
  const totals = sum(processes);
  o.onProgress?.(totals.accesses, total, liveOf(totals));
  o.beforeEnd?.();
  // The remote figures before storedSizes loads every stored page (those loads would count as hits).
  let remote: RemoteResult | undefined;
  if (tier) {
    const rs = zcache.stats().remote;
    const used1 = await tier.usedBytes();
    const pages = rs ? rs.persistentPages + rs.ephemeralPages : 0;
    const zb = rs ? rs.persistentZbytes + rs.ephemeralZbytes : 0;
    remote = {
      localHits: totals.hits - (rs?.remoteHits ?? 0), remoteHits: rs?.remoteHits ?? 0, remoteMisses: rs?.remoteMisses ?? 0,
      remotePages: pages, remotified: rs?.remotified ?? 0, payloadBytesPerPage: pages ? zb / pages : 0,
      redisBytesPerPage: used0 !== null && used1 !== null && pages > 0 ? (used1 - used0) / pages : null, tier: tier.stats(),
    };
  }

  // Sizes of what is stored now: compress each stored page as zcache did.
  const codec = await lz4Ready();
  const { sizes, raw, compressed } = storedSizes(fs, workers, codec);
  const zs = zcache.stats();
  const storedPages = zs.persistentPages + (zs.remote?.persistentPages ?? 0);
  const kernel = kernelFrames(sizes);
  const density: DensityRow[] = [];
  for (const name of ["zsmalloc", "zbud"]) {
    const fit = name === "zbud" ? sizes.filter((s) => s <= 3968) : sizes;
    const r = fit.length ? await replay(name, fit) : { objectFrames: 0, metaFrames: 0, objects: 0 };
    const bytes = fit.reduce((a, b) => a + b, 0);
    density.push({
      allocator: name, objects: r.objects, objectFrames: r.objectFrames, metaFrames: r.metaFrames, kernelFrames: name === "zbud" ? kernel.zbud : kernel.zsmalloc,
      density: r.objectFrames ? bytes / (r.objectFrames * PAGE_SIZE) : 0,
      effectiveRatio: r.objectFrames ? r.objects / r.objectFrames : 0,
    });
  }
  const poolStats = zcache.persistent.stats();
  const run = splitFrames(poolStats);
  const memmap = memoryMap(pm, zsmallocPoolsOf(zcache));
  const result: SimulateResult = {
    allocator, workers, workingSetPages: n, ramPages: o.ram, frames,
    processes, totals, storedPages,
    compressionRatio: compressed ? raw / compressed : 0,
    poolFrames: zs.zpoolPages.persistent,
    objectFrames: run.objectFrames,
    metaFrames: run.metaFrames,
    poolObjects: poolStats.objects,
    zcache: zs,
    density,
    storePagesPerSec: totals.storeMs ? totals.stores / (totals.storeMs / 1000) : 0,
    loadPagesPerSec: totals.loadMs ? totals.hits / (totals.loadMs / 1000) : 0,
    wallMs,
    memoryMap: memmap,
    ...(remote ? { remote } : {}),
  };
  await fs.unregisterOps(zcache, { writeback: () => undefined });
  await tier?.close();
  pm.detach();
  return result;
}
