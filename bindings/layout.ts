// SPDX-License-Identifier: MIT
/**
 * layout.ts: the TypeScript mirror of the shared-memory layout in
 * assembly/common.ts, and the arithmetic that sizes a physical memory.
 *
 * Keep every constant here in step with assembly/common.ts; test/layout.test.ts
 * checks the ones the wasm exports.
 *
 * @module
 */

/** Size of a page frame in bytes (4 KiB). */
export const PAGE_SIZE = 4096;
/** Size of a wasm memory page (64 KiB); every region starts on one. */
export const WASM_PAGE = 65536;
/** Address of the control block (assembly/common.ts CTRL_BASE). */
export const CTRL_BASE = 65536;
/** Offset of the subsystem roots in the control block. */
export const CTRL_ROOTS_OFF = 4096;
/** Offset of the passive-data guard word (scripts/passive-segments.mjs). */
export const CTRL_DATA_GUARD_OFF = 40;
/** A reserved, always-zero word (used to probe whether this thread may block). */
export const CTRL_RESERVED_OFF = 44;
/** Bytes of metadata per frame (assembly/frames.ts FrameMeta). */
export const FRAME_META_SIZE = 16;
/** Most Workers that can be attached to one memory at once. */
export const MAX_WORKERS = 256;
/** Most wasm pages a memory may have (wasm32: 4 GiB). */
export const MAX_WASM_PAGES = 65536;

/** Default number of page frames: 16 MiB of physical memory. */
export const DEFAULT_FRAMES = 4096;
/** Default number of Worker slots. */
export const DEFAULT_MAX_WORKERS = 16;
/**
 * Bytes of scratch per attached Worker. Sub-areas (offsets from the scratch
 * base) are fixed so every subsystem knows where its per-Worker buffers are:
 *
 *   [    0, 16384)  SCRATCH_LZ4_HASH   LZ4 compressor hash table
 *   [16384, 24576)  SCRATCH_MAP        zsmalloc map buffer (objects spanning two frames)
 *   [24576, 32768)  SCRATCH_STAGE      compressed-page staging (LZ4 output bound of 4 KiB)
 *   [32768, 65536)  SCRATCH_IO         host I/O: pages copied in or out by TypeScript
 */
export const SCRATCH_SIZE = 65536;
export const SCRATCH_LZ4_HASH = 0;
export const SCRATCH_MAP = 16384;
export const SCRATCH_STAGE = 24576;
export const SCRATCH_IO = 32768;

/** Owner tags of frames (assembly/common.ts OWNER_*). Tags 16..255 are the caller's. */
export const Owner = {
  /** Internal metadata: tables, indexes. */
  META: 1,
  ZSMALLOC: 2,
  ZBUD: 3,
  TMEM: 4,
  /** First tag free for callers. */
  USER: 16,
} as const;

/** Where each region of a physical memory lives (byte addresses). */
export interface Layout {
  /** Number of page frames. */
  readonly frames: number;
  /** Worker slots. */
  readonly maxWorkers: number;
  /** First scratch area; slot i is at scratchBase + i * SCRATCH_SIZE. */
  readonly scratchBase: number;
  /** Frame metadata table. */
  readonly metaBase: number;
  /** Frame 0. */
  readonly framesBase: number;
  /** Total wasm pages of the memory. */
  readonly wasmPages: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Lay out a physical memory of `frames` frames and `maxWorkers` scratch
 * areas. Pure arithmetic; returns null when it does not fit in 4 GiB.
 */
export function computeLayout(frames: number, maxWorkers: number): Layout | null {
  const scratchBase = CTRL_BASE + WASM_PAGE;
  const metaBase = scratchBase + maxWorkers * SCRATCH_SIZE;
  const framesBase = alignUp(metaBase + frames * FRAME_META_SIZE, WASM_PAGE);
  const wasmPages = alignUp(framesBase + frames * PAGE_SIZE, WASM_PAGE) / WASM_PAGE;
  if (wasmPages > MAX_WASM_PAGES) return null;
  return { frames, maxWorkers, scratchBase, metaBase, framesBase, wasmPages };
}

/** The most frames a memory with `maxWorkers` slots can hold. */
export function maxFrames(maxWorkers: number): number {
  // Solve framesBase + n * PAGE_SIZE <= 4 GiB, then step down past rounding.
  let n = Math.floor((MAX_WASM_PAGES * WASM_PAGE - (CTRL_BASE + 2 * WASM_PAGE + maxWorkers * SCRATCH_SIZE)) / (PAGE_SIZE + FRAME_META_SIZE));
  while (n > 0 && computeLayout(n, maxWorkers) === null) n--;
  return n;
}
