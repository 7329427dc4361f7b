// SPDX-License-Identifier: MIT
//
// common.ts: the facts every tmem core file shares: the page size, the
// layout of the control block at the bottom of physical memory, status codes,
// owner tags and the DEBUG switch.
//
// It is not a runtime: nothing here allocates. tmem's wasm runs with
// `--runtime stub` and never calls `new`, because every AssemblyScript runtime
// keeps its heap state in per-instance wasm globals while the memory is shared
// by every Worker (reference/toolchain.md §2a). All long-lived state lives in
// host-laid-out regions of the shared memory, addressed by the constants below.
//
// Key idea: one fixed-address control block (CTRL_BASE) describes the whole
// layout. The creator formats it once (pm_format); every later instance reads
// it on attach (pm_attach) into its own globals, so hot paths never reload it.
//
// Layout of the shared memory (byte addresses, all regions 64 KiB aligned):
//
//   0            1024           __heap_base     CTRL_BASE (64 KiB)
//   ├─ unused ───┼─ static data ─┼─ unused ──────┼─ control block (64 KiB) ─┐
//   ┌────────────────────────────────────────────────────────────────────┘
//   ├─ scratch: maxWorkers × scratchSize (one per attached Worker) ──────┐
//   ├─ frame metadata: nframes × FRAME_META_SIZE ────────────────────────┤
//   └─ frames: nframes × PAGE_SIZE ──────────────────────────────────────┘
//
// Static data is read-only and made passive by scripts/passive-segments.mjs,
// so a second instantiation writes nothing (toolchain.md §2c).
//
// Status codes: functions return 0 or a non-negative result on success and a
// negative errno (-E_INVAL, ...) on failure, never a trap. bindings/status.ts
// maps them to TmemError codes; keep the two tables in step.
//
// Concurrency: everything here is constant; see lock.ts and frames.ts.
//
// See also: bindings/layout.ts (the TypeScript mirror of these offsets).

/** TMEM_DEBUG is set by `--use TMEM_DEBUG=1` in the debug target. */
// @ts-ignore: decorator
@lazy export const DEBUG: bool = isDefined(TMEM_DEBUG);

// ══ Pages ══

/** log2 of the page-frame size: 4 KiB frames, as on x86 Linux. */
// @ts-ignore: decorator
@inline export const PAGE_SHIFT: u32 = 12;
/** Size of a page frame in bytes. */
// @ts-ignore: decorator
@inline export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
/** Mask of the offset bits inside a page frame. */
// @ts-ignore: decorator
@inline export const PAGE_MASK: u32 = PAGE_SIZE - 1;
/** Wasm linear-memory page (64 KiB); every region starts on one. */
// @ts-ignore: decorator
@inline export const WASM_PAGE: u32 = 65536;

// ══ Layout version ══

/**
 * ABI version of the shared-memory layout. Bump it whenever any struct or
 * offset that another instance reads changes: attach refuses a memory whose
 * stamp differs (the build hash catches everything else).
 */
// @ts-ignore: decorator
@inline export const LAYOUT_ABI: u32 = 1;
/** "TMEM" little-endian: marks a formatted control block. */
// @ts-ignore: decorator
@inline export const CTRL_MAGIC: u32 = 0x4d454d54;

// ══ Control block (at CTRL_BASE, one 64 KiB wasm page) ══
//
// ╒══════════ control block ════════════════════════════════════════════╕
// │ 0 magic │ 4 abi │ 8 hashLo │ 12 hashHi │ 16 nframes │ 20 framesBase │
// │ 24 metaBase │ 28 scratchBase │ 32 scratchSize │ 36 maxWorkers       │
// │ 40 dataGuard │ 44 reserved │ 48 freeHead: i64 │ 56 brk │ 60 nrUsed   │
// │ 64 workerMap: u32[8]  (one bit per scratch slot, 256 slots at most)  │
// │ 128 ownerFrames: u32[256]  (frames held per owner tag)               │
// │ 4096 .. 65535: ROOTS: fixed roots of the subsystems (zpool, tmem)    │
// ╘═════════════════════════════════════════════════════════════════════╛

/** Address of the control block: wasm page 1, above all static data. */
// @ts-ignore: decorator
@inline export const CTRL_BASE: usize = 65536;

// @ts-ignore: decorator
@inline export const CTRL_MAGIC_OFF: usize = 0;
// @ts-ignore: decorator
@inline export const CTRL_ABI_OFF: usize = 4;
// @ts-ignore: decorator
@inline export const CTRL_HASH_LO_OFF: usize = 8;
// @ts-ignore: decorator
@inline export const CTRL_HASH_HI_OFF: usize = 12;
// @ts-ignore: decorator
@inline export const CTRL_NFRAMES_OFF: usize = 16;
// @ts-ignore: decorator
@inline export const CTRL_FRAMES_BASE_OFF: usize = 20;
// @ts-ignore: decorator
@inline export const CTRL_META_BASE_OFF: usize = 24;
// @ts-ignore: decorator
@inline export const CTRL_SCRATCH_BASE_OFF: usize = 28;
// @ts-ignore: decorator
@inline export const CTRL_SCRATCH_SIZE_OFF: usize = 32;
// @ts-ignore: decorator
@inline export const CTRL_MAX_WORKERS_OFF: usize = 36;
/** Guard word of __init_data (passive data segments); see passive-segments.mjs. */
// @ts-ignore: decorator
@inline export const CTRL_DATA_GUARD_OFF: usize = 40;
/** A reserved word, always zero (the host probes with it whether its thread may block). */
// @ts-ignore: decorator
@inline export const CTRL_RESERVED_OFF: usize = 44;
/** i64: tag << 32 | (pfn + 1) of the top free frame; 0 in the low half = empty. */
// @ts-ignore: decorator
@inline export const CTRL_FREE_HEAD_OFF: usize = 48;
/** Frames below brk have been handed out at least once; above it never. */
// @ts-ignore: decorator
@inline export const CTRL_BRK_OFF: usize = 56;
/** Frames currently allocated. */
// @ts-ignore: decorator
@inline export const CTRL_NR_USED_OFF: usize = 60;
/** Bitmap of claimed scratch slots. */
// @ts-ignore: decorator
@inline export const CTRL_WORKER_MAP_OFF: usize = 64;
/** Frames held per owner tag, u32[MAX_OWNERS]. */
// @ts-ignore: decorator
@inline export const CTRL_OWNER_FRAMES_OFF: usize = 128;
/** Start of the subsystem roots (see ROOT_* below). */
// @ts-ignore: decorator
@inline export const CTRL_ROOTS_OFF: usize = 4096;

/** At most this many Workers may be attached at once (bits in workerMap). */
// @ts-ignore: decorator
@inline export const MAX_WORKERS: u32 = 256;
/** Owner tags are 1..255; 0 marks a free frame. */
// @ts-ignore: decorator
@inline export const MAX_OWNERS: u32 = 256;

// ══ Subsystem roots (fixed addresses inside the control block) ══
//
// Each subsystem that other Workers must find without being told gets a
// fixed slice of the control block. Slices are zero on a fresh memory.
//
//   [ 4096, 20480)  ROOT_ZPOOL   zpool pool table
//   [20480, 36864)  ROOT_TMEM    tmem pool table
//   [36864, 65536)  per-Worker frame lists (pcp), 128 bytes per slot [frames.ts]

// @ts-ignore: decorator
@inline export const ROOT_ZPOOL: usize = CTRL_BASE + CTRL_ROOTS_OFF;
// @ts-ignore: decorator
@inline export const ROOT_ZPOOL_SIZE: usize = 16384;
// @ts-ignore: decorator
@inline export const ROOT_TMEM: usize = ROOT_ZPOOL + ROOT_ZPOOL_SIZE;
// @ts-ignore: decorator
@inline export const ROOT_TMEM_SIZE: usize = 16384;

if (ROOT_TMEM + ROOT_TMEM_SIZE > CTRL_BASE + WASM_PAGE) ERROR("subsystem roots overflow the control block");
if (CTRL_OWNER_FRAMES_OFF + MAX_OWNERS * 4 > CTRL_ROOTS_OFF) ERROR("owner counters overflow");
if (CTRL_WORKER_MAP_OFF + MAX_WORKERS / 8 > CTRL_OWNER_FRAMES_OFF) ERROR("worker map overflow");

// ══ Owner tags ══
// Every allocated frame carries the tag of the subsystem that holds it, so
// stats can say who holds what. Tags >= OWNER_USER_FIRST are the caller's.

/** Internal metadata (tables, indexes). */
// @ts-ignore: decorator
@inline export const OWNER_META: u32 = 1;
// @ts-ignore: decorator
@inline export const OWNER_ZSMALLOC: u32 = 2;
// @ts-ignore: decorator
@inline export const OWNER_ZBUD: u32 = 3;
// @ts-ignore: decorator
@inline export const OWNER_TMEM: u32 = 4;
// @ts-ignore: decorator
@inline export const OWNER_USER_FIRST: u32 = 16;

// ══ Status codes (negated on return) ══
// The Linux errno values, so a reader can map them to the kernel's.

// @ts-ignore: decorator
@inline export const E_NOENT: i32 = 2;
// @ts-ignore: decorator
@inline export const E_2BIG: i32 = 7;
// @ts-ignore: decorator
@inline export const E_NOMEM: i32 = 12;
// @ts-ignore: decorator
@inline export const E_FAULT: i32 = 14;
// @ts-ignore: decorator
@inline export const E_BUSY: i32 = 16;
// @ts-ignore: decorator
@inline export const E_EXIST: i32 = 17;
// @ts-ignore: decorator
@inline export const E_NODEV: i32 = 19;
// @ts-ignore: decorator
@inline export const E_INVAL: i32 = 22;
// @ts-ignore: decorator
@inline export const E_NOSPC: i32 = 28;
/** Malformed compressed data (Linux EBADMSG). */
// @ts-ignore: decorator
@inline export const E_BADMSG: i32 = 74;
/** Layout version mismatch (Linux EPROTO). */
// @ts-ignore: decorator
@inline export const E_PROTO: i32 = 71;

// ══ Per-instance layout (wasm globals: one copy per Worker) ══
// Filled by pm_attach from the control block. Module-level `let` variables are
// wasm globals, hence per instance (toolchain.md §2b): a natural thread-local.

/** Number of page frames. */
export let nrFrames: u32 = 0;
/** Address of frame 0. */
export let framesBase: usize = 0;
/** Address of the frame metadata table. */
export let metaBase: usize = 0;
/** This instance's scratch area (0 until attached). */
export let scratchBase: usize = 0;
/** This instance's robust-section area (scratchBase + SCRATCH_ROBUST; 0 until attached; robust.ts). */
export let robustBase: usize = 0;
/** Size of each scratch area in bytes. */
export let scratchSize: u32 = 0;
/** This instance's scratch slot, or -1 when detached. */
export let workerSlot: i32 = -1;
/** False on a browser main thread, where atomic.wait traps. */
export let canBlock: bool = true;

/** Set the per-instance layout globals (pm_attach only). */
export function setInstanceLayout(nframes: u32, frames: usize, meta: usize, scratch: usize, ssize: u32, slot: i32, block: bool): void {
  nrFrames = nframes;
  framesBase = frames;
  metaBase = meta;
  scratchBase = scratch;
  robustBase = scratch == 0 ? 0 : scratch + SCRATCH_ROBUST;
  scratchSize = ssize;
  workerSlot = slot;
  canBlock = block;
}

/** Scratch area of slot `slot` (any Worker's, e.g. a dead one's for its reclaim). The caller has checked the slot. */
// @ts-ignore: decorator
@inline export function slotScratch(slot: u32): usize {
  return <usize>load<u32>(CTRL_BASE + CTRL_SCRATCH_BASE_OFF) + <usize>slot * <usize>load<u32>(CTRL_BASE + CTRL_SCRATCH_SIZE_OFF);
}

/** Address of page frame `pfn`. The caller has checked pfn < nrFrames. */
// @ts-ignore: decorator
@inline export function pfnToAddress(pfn: u32): usize {
  return framesBase + (<usize>pfn << PAGE_SHIFT);
}

/** Frame number of the frame containing `addr`. The caller has checked the range. */
// @ts-ignore: decorator
@inline export function addressToPfn(addr: usize): u32 {
  return <u32>((addr - framesBase) >> PAGE_SHIFT);
}

// ══ Per-Worker scratch sub-areas (offsets from scratchBase) ══
// Mirrored in bindings/layout.ts. Each attached instance has its own, so
// nothing here needs a lock.
//
//   [    0, 16384)  SCRATCH_LZ4_HASH   LZ4 compressor hash table
//   [16384, 24576)  SCRATCH_MAP        zsmalloc map buffer (objects spanning two frames)
//   [24576, 32768)  SCRATCH_STAGE      compressed-page staging (LZ4 bound of a 4 KiB page)
//   [32768, 65536)  SCRATCH_IO         host I/O: pages copied in or out by TypeScript
//   [65536, 69376)  SCRATCH_ROBUST     robust-section state: held locks, undo log (robust.ts)
//   [69376, 69632)  (the last 256 bytes) frontend grace counters (src/tmem/shared.ts)

// @ts-ignore: decorator
@inline export const SCRATCH_LZ4_HASH: usize = 0;
// @ts-ignore: decorator
@inline export const SCRATCH_MAP: usize = 16384;
// @ts-ignore: decorator
@inline export const SCRATCH_STAGE: usize = 24576;
// @ts-ignore: decorator
@inline export const SCRATCH_IO: usize = 32768;
// @ts-ignore: decorator
@inline export const SCRATCH_ROBUST: usize = 65536;
// @ts-ignore: decorator
@inline export const SCRATCH_ROBUST_SIZE: usize = 3840;
// @ts-ignore: decorator
@inline export const SCRATCH_SIZE_MIN: usize = 69632;
