// SPDX-License-Identifier: MIT
/**
 * demo/frames.ts: the workload of `tmem demo`: a random allocate/free run
 * over the frame allocator that proves frames are never handed out twice. Each frame held is stamped
 * with a signature unique to (worker, allocation) in three words; the
 * signature is checked just before the frame is freed, so a frame given to
 * two holders at once shows up as a corrupt signature in one of them.
 *
 * What it is not: part of the library's API (the package root does not
 * export it); it ships only inside the command (dist/cli.js and
 * dist/demo-frames-worker.js). The 2-Worker stress test and the browser
 * smoke test run this same workload, so the demo is what is tested.
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";

/** Parameters of {@link frameStress}. */
export interface FrameStressOptions {
  /** Random operations (allocate or free) to perform. */
  ops: number;
  /** PRNG seed; the same seed gives the same operation sequence. */
  seed: number;
  /** Most frames held at once. */
  maxHeld: number;
  /** Owner tag for the frames (16..255). */
  owner: number;
}

/** What one {@link frameStress} run saw. */
export interface FrameStressResult {
  ops: number;
  allocs: number;
  frees: number;
  /** Allocations refused with ENOMEM (the memory was full). */
  enomem: number;
  /** Signatures found damaged at free time: must be 0. */
  corrupt: number;
  /** Frames returned that this worker already held: must be 0. */
  duplicates: number;
  /** Frames whose owner tag was not ours while we held them: must be 0. */
  wrongOwner: number;
  /** Most frames held at once. */
  peakHeld: number;
}

/** Run the workload on `pm`, freeing everything it holds before returning. */
export function frameStress(pm: PhysicalMemory, o: FrameStressOptions): FrameStressResult {
  let s = (o.seed >>> 0) || 0x9e3779b9;
  const rand = (): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
  const u32 = new Uint32Array(pm.memory.buffer);
  const base = pm.layout.framesBase >>> 2;
  const held: number[] = [];
  const sigs: number[] = [];
  const mine = new Uint8Array(pm.frames);
  const r: FrameStressResult = { ops: 0, allocs: 0, frees: 0, enomem: 0, corrupt: 0, duplicates: 0, wrongOwner: 0, peakHeld: 0 };
  const core = pm.core;
  const sigBase = ((pm.slot + 1) << 24) >>> 0;

  const free = (i: number): void => {
    const pfn = held[i]!;
    const sig = sigs[i]!;
    const w = base + pfn * 1024;
    if (u32[w] !== sig || u32[w + 511] !== (sig ^ 0xa5a5a5a5) >>> 0 || u32[w + 1023] !== pfn) r.corrupt++;
    if (core.frame_owner(pfn) !== o.owner) r.wrongOwner++;
    // Swap-remove, then release.
    held[i] = held[held.length - 1]!; held.pop();
    sigs[i] = sigs[sigs.length - 1]!; sigs.pop();
    mine[pfn] = 0;
    if (core.frame_free(pfn, o.owner) !== 0) r.wrongOwner++;
    r.frees++;
  };

  for (let n = 0; n < o.ops; n++) {
    r.ops++;
    const x = rand();
    if (held.length === 0 || (held.length < o.maxHeld && (x & 0xff) < 140)) {
      const pfn = core.frame_alloc(o.owner);
      if (pfn < 0) { r.enomem++; continue; }
      if (mine[pfn]) r.duplicates++;
      mine[pfn] = 1;
      const sig = (sigBase | (r.allocs & 0xffffff)) >>> 0;
      const w = base + pfn * 1024;
      u32[w] = sig;
      u32[w + 511] = (sig ^ 0xa5a5a5a5) >>> 0;
      u32[w + 1023] = pfn;
      held.push(pfn);
      sigs.push(sig);
      r.allocs++;
      if (held.length > r.peakHeld) r.peakHeld = held.length;
    } else {
      free((x >>> 8) % held.length);
    }
  }
  while (held.length > 0) free(held.length - 1);
  return r;
}

/**
 * A start barrier over `barrier` = [arrived, total] (an Int32Array on a
 * SharedArrayBuffer): count this thread in, then wait until all `total` have
 * arrived, so the Workers' timed or racing phases overlap. The thread must be
 * allowed to block (a Worker, or the Node main thread).
 */
export function arriveAndWait(barrier: Int32Array): void {
  Atomics.add(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  for (let seen = Atomics.load(barrier, 0); seen < Atomics.load(barrier, 1); seen = Atomics.load(barrier, 0)) {
    Atomics.wait(barrier, 0, seen, 50);
  }
}
