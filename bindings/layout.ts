// SPDX-License-Identifier: MIT
/**
 * layout.ts: the shared-memory layout for the host, and the arithmetic that
 * sizes a physical memory.
 *
 * Every number the wasm core also knows comes from bindings/layout.generated.ts,
 * which scripts/gen-layout.mjs writes at build time from the compiled module's
 * `layout_*` globals (assembly/index.ts): the constant is declared once, in
 * assembly/common.ts (or frames.ts), and this file only re-exports it under
 * the host's names. test/layout.test.ts checks the generated file against a
 * live instance and the arithmetic below against the wasm's own pm_format.
 * What stays here is the host's own choice (defaults, the wasm32 limit).
 *
 * @module
 */
import {
  PAGE_SIZE, WASM_PAGE, CTRL_BASE, CTRL_ROOTS_OFF, CTRL_DATA_GUARD_OFF, CTRL_RESERVED_OFF, FRAME_META_SIZE,
  MAX_WORKERS, SCRATCH_SIZE_MIN, SCRATCH_LZ4_HASH, SCRATCH_MAP, SCRATCH_STAGE, SCRATCH_IO,
  OWNER_META, OWNER_ZSMALLOC, OWNER_ZBUD, OWNER_TMEM, OWNER_USER_FIRST,
} from "./layout.generated.js";

export {
  /** Size of a page frame in bytes (4 KiB). */
  PAGE_SIZE,
  /** Size of a wasm memory page (64 KiB); every region starts on one. */
  WASM_PAGE,
  /** Address of the control block (assembly/common.ts CTRL_BASE). */
  CTRL_BASE,
  /** Offset of the subsystem roots in the control block. */
  CTRL_ROOTS_OFF,
  /** Offset of the passive-data guard word (scripts/passive-segments.mjs). */
  CTRL_DATA_GUARD_OFF,
  /** A reserved, always-zero word (used to probe whether this thread may block). */
  CTRL_RESERVED_OFF,
  /** Bytes of metadata per frame (assembly/frames.ts FrameMeta). */
  FRAME_META_SIZE,
  /** Most Workers that can be attached to one memory at once. */
  MAX_WORKERS,
  /*
   * Per-Worker scratch sub-areas (offsets from the scratch base), fixed so
   * every subsystem knows where its per-Worker buffers are:
   *
   *   [    0, 16384)  SCRATCH_LZ4_HASH   LZ4 compressor hash table
   *   [16384, 24576)  SCRATCH_MAP        zsmalloc map buffer (objects spanning two frames)
   *   [24576, 32768)  SCRATCH_STAGE      compressed-page staging (LZ4 output bound of 4 KiB)
   *   [32768, 65536)  SCRATCH_IO         host I/O: pages copied in or out by TypeScript
   */
  SCRATCH_LZ4_HASH, SCRATCH_MAP, SCRATCH_STAGE, SCRATCH_IO,
};

/** Most wasm pages a memory may have (wasm32: 4 GiB). */
export const MAX_WASM_PAGES = 65536;

/** Default number of page frames: 16 MiB of physical memory. */
export const DEFAULT_FRAMES = 4096;
/** Default number of Worker slots. */
export const DEFAULT_MAX_WORKERS = 16;
/** Bytes of scratch per attached Worker (assembly/common.ts SCRATCH_SIZE_MIN; sub-areas above). */
export const SCRATCH_SIZE = SCRATCH_SIZE_MIN;

/** Owner tags of frames (assembly/common.ts OWNER_*). Tags 16..255 are the caller's. */
export const Owner = {
  /** Internal metadata: tables, indexes. */
  META: OWNER_META,
  ZSMALLOC: OWNER_ZSMALLOC,
  ZBUD: OWNER_ZBUD,
  TMEM: OWNER_TMEM,
  /** First tag free for callers. */
  USER: OWNER_USER_FIRST,
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
