// SPDX-License-Identifier: MIT
//
// zbud.ts: zbud, the buddy allocator for compressed pages: at most two
// objects ("buddies") per 4 KiB page frame, after the kernel's mm/zbud.c.
//
// It is not a dense allocator (zsmalloc is): a frame never holds more than two
// objects, so the pool never uses fewer than half a frame per object. In
// exchange the ratio of objects to frames is always >= 1 ("zbud never does
// harm"), reclaim is simple and deterministic (evict the two buddies of the
// least recently used frame and the frame is free), and nothing ever needs
// compaction.
//
// Key idea: a frame is cut into 64-byte chunks. The first chunk is the frame
// header; the FIRST buddy starts right after it, the LAST buddy is
// right-aligned at the frame's end, so freeing either leaves one contiguous
// free run in the middle. Frames with one buddy sit on unbuddied[free chunks];
// an allocation of c chunks takes the head of the first non-empty list from
// unbuddied[c] upward (best fit), or a fresh frame.
//
// Guarantee: an accepted object keeps its bytes until freed; a freed,
// double-freed or forged handle returns -E_INVAL and changes nothing, because
// handles are tagged (see "Handles" below), not raw addresses as in the kernel.
// Objects bigger than 3968 bytes (PAGE_SIZE - header - one chunk) get -E_NOSPC.
//
// Handles: a handle encodes the buddy (FIRST/LAST), the frame number and a
// generation drawn from a per-pool counter at each allocation and kept per
// buddy in the frame header:
//
//   bit 31 │ 30 ........... pfnBits+1 │ pfnBits .. 1 │ 0
//     0    │ generation (1..genMask)  │ pfn          │ buddy (0 FIRST, 1 LAST)
//
// pfnBits = bits needed for nrFrames - 1, generation bits = 30 - pfnBits
// (18 for a 4096-frame memory, 10 at the 2^20-frame maximum), and a handle is
// always a positive i32 (statuses are negative). A double free or a freed
// handle is always refused; a stale handle can be mistaken for a live one
// only if its buddy slot was refilled exactly k·(2^genBits - 1) allocations
// of the pool later; a forged one must hit a live buddy's generation.
//
// Eviction: the kernel's zbud_reclaim_page calls the user's evict callback with
// the pool lock dropped. Our callback lives in TypeScript, so reclaim is three
// calls: zbud_reclaim_begin (unlink the LRU tail frame, mark it under reclaim),
// zbud_reclaim_handle (its buddies' handles, for the callback, which writes
// back and frees them), zbud_reclaim_end (free the frame if both buddies went,
// else put it back at the LRU head). zbud_free of a buddy whose frame is
// under reclaim only clears the buddy.
//
// Layout: a pool is one descriptor frame (ZbudPool below; the pool id is its
// pfn); every data frame starts with a ZbudHeader chunk (its pool, buddy sizes
// and generations). The list links (unbuddied next/prev, LRU next/prev: four
// 24-bit frame numbers + 1) are packed into the frame's FrameMeta words link,
// priv0 and priv1 (drawn below): that table is dense (16 bytes per frame), so
// a list splice touches warm cache lines instead of one 4 KiB frame per
// neighbour (random churn at 100k live objects is cache-miss bound). Unlike
// the kernel, frames with both buddies are on no list: the kernel's buddied
// list is never searched, and destroy walks the LRU, which holds every frame.
//
// ╒══════ FrameMeta of a zbud data frame (frames.ts owns `owner`) ═════════╕
// │ link : unbuddied next (bits 0..23) │ LRU prev bits 0..7   (bits 24..31) │
// │ priv0: unbuddied prev (bits 0..23) │ LRU prev bits 8..15  (bits 24..31) │
// │ priv1: LRU next       (bits 0..23) │ LRU prev bits 16..23 (bits 24..31) │
// ╘═════════════════════════════════════════════════════════════════════════╛
// A descriptor frame's priv1 is ZBUD_POOL_MAGIC, whose low 24 bits exceed
// any frame number + 1 (a wasm32 memory has < 2^20 frames), so the two never
// look alike.
//
// Concurrency: every function may be called concurrently from any Worker on
// the same pool; one pool lock (lock.ts level 6) guards the lists, headers and
// counters. zbud_map/zbud_unmap take no lock: the caller owns its handle and
// must not free it while mapped. One object may be mapped per instance (per
// Worker) at a time. lock ordering: pool lock, then the lock-free frame
// allocator. Dying Workers: every store under the pool lock to the
// descriptor, a frame header or a FrameMeta link is logged (robust.ts;
// a store of the value already there is skipped), a fresh frame is logged
// and a freed one deferred to the unlock, so pm.reclaim rolls a Worker
// killed under the lock back to where it took it. Not recovered: a frame
// whose zbud_reclaim_begin ran and whose zbud_reclaim_end never will (the
// three calls span no lock) stays under reclaim, and destroy then refuses
// (EBUSY); a death inside destroy, after the pool is gone, leaks the frames
// not yet freed. zbud_check verifies a pool, for the tests.
//
// See also: ../src/zpool/drivers/zbud.ts (the zpool adapter),
// ../src/zpool/kernel-zbud.ts (the kernel's placement, for density checks),
// ../test/zbud.test.ts, ../test/robust-zsmalloc.test.ts, reference/kernel.md §1.9 and §2.2.

import {
  PAGE_SIZE, PAGE_SHIFT, E_INVAL, E_NOSPC, E_BUSY, E_NOENT, OWNER_ZBUD,
  nrFrames, pfnToAddress,
} from "./common";
import { FrameMeta, frameAlloc, frameFree, pfnToMeta } from "./frames";
import {
  mutexLock, mutexUnlock, ustore8, ustore16, ustore32, ustore64, ulogFrameAlloc, udeferFrameFree, ucommit, LV_ALLOC,
} from "./robust";

// ══ Constants ══

/**
 * log2 of the number of chunks a frame is cut into. 6 gives 64-byte chunks:
 * a larger order wastes less per object (rounding to a chunk) but needs more
 * unbuddied lists and a finer header; a smaller one rounds coarser. The kernel
 * uses 6; the density checks against kernel.md §2.2 depend on it.
 */
// @ts-ignore: decorator
@inline const NCHUNKS_ORDER: u32 = 6;
/** log2 of the chunk size. */
// @ts-ignore: decorator
@inline const CHUNK_SHIFT: u32 = PAGE_SHIFT - NCHUNKS_ORDER;
/** Bytes per chunk (64). */
// @ts-ignore: decorator
@inline const CHUNK_SIZE: u32 = 1 << CHUNK_SHIFT;
/** The frame header takes one chunk. */
// @ts-ignore: decorator
@inline const ZHDR_SIZE_ALIGNED: u32 = CHUNK_SIZE;
/** Usable chunks per frame (63); also the number of unbuddied lists. */
// @ts-ignore: decorator
@inline const NCHUNKS: u32 = (PAGE_SIZE - ZHDR_SIZE_ALIGNED) >> CHUNK_SHIFT;
/** Largest object: the frame less the header and one chunk (3968 bytes). */
// @ts-ignore: decorator
@inline const ZBUD_MAX_SIZE: u32 = PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE;

/** FrameMeta.priv1 of a pool descriptor frame (see the FrameMeta drawing above). */
// @ts-ignore: decorator
@inline const ZBUD_POOL_MAGIC: u32 = 0x4c4f4f50; // "POOL"
/** ZbudPool.magic while the pool is alive. */
// @ts-ignore: decorator
@inline const ZBUD_ALIVE: u32 = 0x4255425a; // "ZBUB"

/** Buddy numbers (bit 0 of a handle). */
// @ts-ignore: decorator
@inline const FIRST: u32 = 0;
// @ts-ignore: decorator
@inline const LAST: u32 = 1;

// ══ Structs ══

// ╒══════════ ZbudHeader (first chunk of every data frame) ═══════════════╕
// │ 0 firstGen │ 4 lastGen │ 8 firstSize:u16 │ 10 lastSize:u16             │
// │ 12 firstChunks:u8 │ 13 lastChunks:u8 │ 14 underReclaim:u8 │ 15 pad   │
// │ 16 pool (pool pfn + 1)                                               │
// ╘═════════════════════════════════════════════════════════════════════╛

/** Header of a data frame; the buddies' bookkeeping. */
@unmanaged class ZbudHeader {
  /** Generation of the FIRST buddy's handle; meaningful while firstChunks != 0. */
  firstGen: u32;
  /** Generation of the LAST buddy's handle; meaningful while lastChunks != 0. */
  lastGen: u32;
  /** Exact size of the FIRST buddy in bytes (the mapped view's length). */
  firstSize: u16;
  /** Exact size of the LAST buddy in bytes. */
  lastSize: u16;
  /** Chunks of the FIRST buddy; 0 = free. */
  firstChunks: u8;
  /** Chunks of the LAST buddy; 0 = free. */
  lastChunks: u8;
  /** 1 between zbud_reclaim_begin and zbud_reclaim_end (the frame is on no list). */
  underReclaim: u8;
  /** Padding. */
  pad: u8;
  /** The pool holding this frame: its descriptor's pfn + 1. */
  pool: u32;
}
if (offsetof<ZbudHeader>() > ZHDR_SIZE_ALIGNED) ERROR("ZbudHeader must fit in one chunk");

// ╒══════════ ZbudPool (pool descriptor, at the start of its own frame) ══╕
// │ 0 lock │ 4 magic │ 8 pagesNr │ 12 objects │ 16 objectBytes:u64        │
// │ 24 genCounter │ 28 reclaiming │ 32 lruHead │ 36 lruTail              │
// │ 40 nonEmpty:u64 (bit i: unbuddied[i] has frames)                     │
// │ 48 unbuddied[NCHUNKS]: u32 (pfn + 1 of each list head)              │
// ╘═════════════════════════════════════════════════════════════════════╛

/** A zbud pool's descriptor. */
@unmanaged class ZbudPool {
  /** The pool lock (lock.ts mutex word). */
  lock: i32;
  /** ZBUD_ALIVE while the pool exists. */
  magic: u32;
  /** Data frames held (the kernel's pages_nr). */
  pagesNr: u32;
  /** Objects allocated. */
  objects: u32;
  /** Sum of the allocated objects' sizes in bytes. */
  objectBytes: u64;
  /** Last generation handed out (1..genMask, wraps). */
  genCounter: u32;
  /** Frames under reclaim now. */
  reclaiming: u32;
  /** Most recently used frame (pfn + 1), 0 if none. */
  lruHead: u32;
  /** Least recently used frame (pfn + 1), 0 if none. */
  lruTail: u32;
  /** Bit i set while unbuddied[i] is not empty: best fit is one ctz, not a scan of 63 heads. */
  nonEmpty: u64;
}
/** Start of unbuddied[NCHUNKS] inside the descriptor. */
// @ts-ignore: decorator
@inline const UNBUDDIED_OFFSET: usize = offsetof<ZbudPool>();
if (UNBUDDIED_OFFSET + (<usize>NCHUNKS << 2) > PAGE_SIZE) ERROR("ZbudPool must fit in one frame");

// ══ Per-instance state (wasm globals: one per Worker) ══

/** Handle mapped by this instance, 0 if none. */
let mappedHandle: u32 = 0;
/** Pool of the mapped handle. */
let mappedPool: u32 = 0;

// ══ Helpers ══

/** Address of the list head unbuddied[i] of pool `pool`. */
// @ts-ignore: decorator
@inline function UNBUDDIED(pool: usize, i: u32): usize {
  return pool + UNBUDDIED_OFFSET + (<usize>i << 2);
}

/** Header of data frame `pfn`. */
// @ts-ignore: decorator
@inline function header(pfn: u32): ZbudHeader {
  return changetype<ZbudHeader>(pfnToAddress(pfn));
}

/** Bits of a handle that hold the pfn: enough for nrFrames - 1, at least 1. */
// @ts-ignore: decorator
@inline function pfnBits(): u32 {
  return nrFrames <= 2 ? 1 : 32 - <u32>clz(nrFrames - 1);
}

/** Largest generation (generations are 1..genMask). */
// @ts-ignore: decorator
@inline function genMask(): u32 {
  return (<u32>1 << (30 - pfnBits())) - 1;
}

/** Encode a handle. */
// @ts-ignore: decorator
@inline function encodeHandle(pfn: u32, bud: u32, gen: u32): u32 {
  return (((gen << pfnBits()) | pfn) << 1) | bud;
}

/** Chunks needed for `size` bytes. */
// @ts-ignore: decorator
@inline function sizeToChunks(size: u32): u32 {
  return (size + CHUNK_SIZE - 1) >> CHUNK_SHIFT;
}

/** Free chunks of a frame (between its buddies). */
// @ts-ignore: decorator
@inline function numFreeChunks(h: ZbudHeader): u32 {
  return NCHUNKS - <u32>h.firstChunks - <u32>h.lastChunks;
}

/**
 * The descriptor address of pool `id` (its pfn), or 0 when `id` is not a live
 * zbud pool. Reads without a lock: a pool is destroyed only by its owner.
 */
function poolFromId(id: u32): usize {
  if (id >= nrFrames) return 0;
  const meta = changetype<FrameMeta>(pfnToMeta(id));
  if (atomic.load<u32>(changetype<usize>(meta) + offsetof<FrameMeta>("owner")) != OWNER_ZBUD) return 0;
  if (meta.priv1 != ZBUD_POOL_MAGIC) return 0;
  const pool = pfnToAddress(id);
  if (changetype<ZbudPool>(pool).magic != ZBUD_ALIVE) return 0;
  return pool;
}

/**
 * The buddy a handle names, validated against pool `poolId`: returns the pfn
 * (>= 0) when the handle is live, or -E_INVAL. The caller holds the pool lock
 * for a result it acts on (free); map reads it unlocked.
 */
function handleToPfn(poolId: u32, handle: u32): i32 {
  const bits = pfnBits();
  const rest = handle >>> 1;
  const pfn = rest & ((<u32>1 << bits) - 1);
  const gen = rest >>> bits;
  if (gen == 0 || (handle >>> 31) != 0 || pfn >= nrFrames || pfn == poolId) return -E_INVAL;
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  if (atomic.load<u32>(changetype<usize>(meta) + offsetof<FrameMeta>("owner")) != OWNER_ZBUD) return -E_INVAL;
  if (meta.priv1 == ZBUD_POOL_MAGIC) return -E_INVAL;
  const h = header(pfn);
  if (h.pool != poolId + 1) return -E_INVAL;
  if ((handle & 1) == FIRST) {
    if (h.firstChunks == 0 || h.firstGen != gen) return -E_INVAL;
  } else {
    if (h.lastChunks == 0 || h.lastGen != gen) return -E_INVAL;
  }
  return <i32>pfn;
}

/** Mask of a 24-bit link (pfn + 1, 0 = none) in a FrameMeta word. */
// @ts-ignore: decorator
@inline const LINK_MASK: u32 = 0xffffff;
/** Shift of the LRU-prev byte in each FrameMeta word. */
// @ts-ignore: decorator
@inline const LRU_PREV_SHIFT: u32 = 24;
if (LINK_MASK < (<u32>1 << 20)) ERROR("links must hold any pfn + 1 of a wasm32 memory");
if ((ZBUD_POOL_MAGIC & LINK_MASK) <= (<u32>1 << 20)) ERROR("ZBUD_POOL_MAGIC must not look like a link");

/** Address of FrameMeta word `field` of frame `pfn`. */
// @ts-ignore: decorator
@inline function META(pfn: u32, field: usize): usize {
  return pfnToMeta(pfn) + field;
}

/** The 24-bit link in the low bits of a FrameMeta word. */
// @ts-ignore: decorator
@inline function GETLINK(addr: usize): u32 {
  return load<u32>(addr) & LINK_MASK;
}

/**
 * A logged store (robust.ts) of `v` at `addr` under the pool lock, skipped
 * when the word already holds `v`: list splices rewrite many links to the
 * value they have, and a compare is cheaper than an undo entry.
 */
// @ts-ignore: decorator
@inline function ST32(addr: usize, v: u32): void {
  if (load<u32>(addr) != v) ustore32(addr, v);
}

/** Set the 24-bit link in the low bits of a FrameMeta word, keeping its top byte (logged). */
// @ts-ignore: decorator
@inline function SETLINK(addr: usize, v: u32): void {
  ST32(addr, (load<u32>(addr) & ~LINK_MASK) | v);
}

/** Next frame (pfn + 1) in frame `pfn`'s unbuddied list. */
// @ts-ignore: decorator
@inline function NEXT(pfn: u32): usize {
  return META(pfn, offsetof<FrameMeta>("link"));
}

/** Previous frame (pfn + 1) in frame `pfn`'s unbuddied list, 0 at the head. */
// @ts-ignore: decorator
@inline function PREV(pfn: u32): usize {
  return META(pfn, offsetof<FrameMeta>("priv0"));
}

/** Next frame (pfn + 1) toward the LRU tail. */
// @ts-ignore: decorator
@inline function LRU_NEXT(pfn: u32): usize {
  return META(pfn, offsetof<FrameMeta>("priv1"));
}

/** Previous frame (pfn + 1) toward the LRU head: the top bytes of link, priv0, priv1. */
// @ts-ignore: decorator
@inline function GETLRUPREV(pfn: u32): u32 {
  const m = pfnToMeta(pfn);
  return (load<u32>(m + offsetof<FrameMeta>("link")) >>> LRU_PREV_SHIFT) |
    ((load<u32>(m + offsetof<FrameMeta>("priv0")) >>> LRU_PREV_SHIFT) << 8) |
    ((load<u32>(m + offsetof<FrameMeta>("priv1")) >>> LRU_PREV_SHIFT) << 16);
}

/** Set frame `pfn`'s LRU prev link (pfn + 1, 0 = none; logged). */
// @ts-ignore: decorator
@inline function SETLRUPREV(pfn: u32, v: u32): void {
  const m = pfnToMeta(pfn);
  const a = m + offsetof<FrameMeta>("link"), b = m + offsetof<FrameMeta>("priv0"), c = m + offsetof<FrameMeta>("priv1");
  ST32(a, (load<u32>(a) & LINK_MASK) | ((v & 0xff) << LRU_PREV_SHIFT));
  ST32(b, (load<u32>(b) & LINK_MASK) | (((v >>> 8) & 0xff) << LRU_PREV_SHIFT));
  ST32(c, (load<u32>(c) & LINK_MASK) | (((v >>> 16) & 0xff) << LRU_PREV_SHIFT));
}

/** Logged store of the u32 pool field at byte `off` of the descriptor `pool`. */
// @ts-ignore: decorator
@inline function SETPOOL(pool: usize, off: usize, v: u32): void {
  ustore32(pool + off, v);
}

/** Logged store of the pool's nonEmpty bitmap. */
// @ts-ignore: decorator
@inline function SETNONEMPTY(pool: usize, v: u64): void {
  ustore64(pool + offsetof<ZbudPool>("nonEmpty"), v);
}

/** listFor's answer for a frame with both buddies: it is on no list. */
// @ts-ignore: decorator
@inline const NO_LIST: u32 = 0xffffffff;
if (NCHUNKS > 64) ERROR("nonEmpty has one bit per unbuddied list");

/** Push frame `pfn` at the head of unbuddied[i] of `pool` (nothing for NO_LIST). */
function listAdd(pool: usize, i: u32, pfn: u32): void {
  if (i == NO_LIST) return;
  const headp = UNBUDDIED(pool, i);
  const first = load<u32>(headp);
  if (first == 0) SETNONEMPTY(pool, changetype<ZbudPool>(pool).nonEmpty | (<u64>1 << i));
  SETLINK(PREV(pfn), 0);
  SETLINK(NEXT(pfn), first);
  if (first != 0) SETLINK(PREV(first - 1), pfn + 1);
  ustore32(headp, pfn + 1);
}

/** Unlink frame `pfn` from unbuddied[i] of `pool` (nothing for NO_LIST). */
function listDel(pool: usize, i: u32, pfn: u32): void {
  if (i == NO_LIST) return;
  const headp = UNBUDDIED(pool, i);
  const next = GETLINK(NEXT(pfn));
  const prev = GETLINK(PREV(pfn));
  if (prev != 0) SETLINK(NEXT(prev - 1), next);
  else {
    ustore32(headp, next);
    if (next == 0) SETNONEMPTY(pool, changetype<ZbudPool>(pool).nonEmpty & ~(<u64>1 << i));
  }
  if (next != 0) SETLINK(PREV(next - 1), prev);
  SETLINK(NEXT(pfn), 0);
  SETLINK(PREV(pfn), 0);
}

/** The list a frame belongs on: unbuddied[free chunks], or NO_LIST with both buddies. */
function listFor(h: ZbudHeader): u32 {
  if (h.firstChunks != 0 && h.lastChunks != 0) return NO_LIST;
  return numFreeChunks(h);
}

/** Put frame `pfn` at the LRU head (most recently used). */
function lruAdd(pool: usize, pfn: u32): void {
  const p = changetype<ZbudPool>(pool);
  SETLRUPREV(pfn, 0);
  SETLINK(LRU_NEXT(pfn), p.lruHead);
  if (p.lruHead != 0) SETLRUPREV(p.lruHead - 1, pfn + 1);
  else SETPOOL(pool, offsetof<ZbudPool>("lruTail"), pfn + 1);
  SETPOOL(pool, offsetof<ZbudPool>("lruHead"), pfn + 1);
}

/** Unlink frame `pfn` from the LRU. */
function lruDel(pool: usize, pfn: u32): void {
  const prev = GETLRUPREV(pfn);
  const next = GETLINK(LRU_NEXT(pfn));
  if (prev != 0) SETLINK(LRU_NEXT(prev - 1), next);
  else SETPOOL(pool, offsetof<ZbudPool>("lruHead"), next);
  if (next != 0) SETLRUPREV(next - 1, prev);
  else SETPOOL(pool, offsetof<ZbudPool>("lruTail"), prev);
  SETLINK(LRU_NEXT(pfn), 0);
  SETLRUPREV(pfn, 0);
}

/** Next generation of pool `p` (1..genMask). The caller holds the pool lock. */
function nextGen(p: ZbudPool): u32 {
  let g = p.genCounter + 1;
  if (g > genMask()) g = 1;
  SETPOOL(changetype<usize>(p), offsetof<ZbudPool>("genCounter"), g);
  return g;
}

// ══ API ══

/**
 * Create a zbud pool: allocates its descriptor frame.
 *
 * Returns: the pool id (the descriptor's pfn, >= 0), or -E_NOMEM.
 * Concurrency: any Worker, any time.
 */
export function zbud_create_pool(): i32 {
  const pfn = frameAlloc(OWNER_ZBUD);
  if (pfn < 0) return pfn;
  const pool = pfnToAddress(<u32>pfn);
  memory.fill(pool, 0, UNBUDDIED_OFFSET + (<usize>NCHUNKS << 2));
  changetype<FrameMeta>(pfnToMeta(<u32>pfn)).priv1 = ZBUD_POOL_MAGIC;
  atomic.store<u32>(pool + offsetof<ZbudPool>("magic"), ZBUD_ALIVE);
  return pfn;
}

/**
 * Destroy pool `id`: free every data frame and the descriptor. Live objects
 * are freed with it (the zpool layer refuses that unless forced).
 *
 * Returns: frames freed (data frames + 1), -E_INVAL for a bad pool id, or
 * -E_BUSY while a frame is under reclaim.
 * Concurrency: no other call on this pool may run or follow.
 */
export function zbud_destroy_pool(id: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  const p = changetype<ZbudPool>(pool);
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  if (p.reclaiming != 0) {
    mutexUnlock(lock);
    return -E_BUSY;
  }
  // The pool dies first (a commit point): a Worker killed while the frames
  // go back leaks the rest of them, never a live pool with freed frames.
  ustore32(pool + offsetof<ZbudPool>("magic"), 0);
  ucommit();
  let freed: i32 = 0;
  let cur = p.lruHead;
  for (let n: u32 = 0; cur != 0 && n < nrFrames; n++) {
    const next = GETLINK(LRU_NEXT(cur - 1));
    frameFree(cur - 1, OWNER_ZBUD);
    freed++;
    cur = next;
  }
  mutexUnlock(lock);
  frameFree(id, OWNER_ZBUD);
  return freed + 1;
}

/**
 * Allocate `size` bytes (1..3968): best fit among frames with one buddy, else
 * a fresh frame. The frame moves to the LRU head.
 *
 * Returns: the handle (> 0); -E_INVAL for size 0 or a bad pool; -E_NOSPC for
 * size > 3968; -E_NOMEM when no frame is free.
 * Concurrency: any Worker; takes the pool lock.
 */
export function zbud_alloc(id: u32, size: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0 || size == 0) return -E_INVAL;
  if (size > ZBUD_MAX_SIZE) return -E_NOSPC;
  const chunks = sizeToChunks(size);
  const p = changetype<ZbudPool>(pool);
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  let pfn: u32 = 0;
  // Best fit: the first non-empty unbuddied[i], i >= chunks.
  const fits = p.nonEmpty & (<u64>-1 << <u64>chunks);
  const found = fits != 0;
  if (found) {
    const i = <u32>ctz(fits);
    pfn = load<u32>(UNBUDDIED(pool, i)) - 1;
    listDel(pool, i, pfn);
  }
  if (!found) {
    const got = frameAlloc(OWNER_ZBUD);
    if (got < 0) {
      mutexUnlock(lock);
      return got;
    }
    pfn = <u32>got;
    // A rollback frees it (nothing links to it until the logged stores below).
    ulogFrameAlloc(pfn, OWNER_ZBUD);
    // frameAlloc zeroed link, priv0 and priv1: every list link is 0.
    memory.fill(pfnToAddress(pfn), 0, offsetof<ZbudHeader>());
    header(pfn).pool = id + 1;
    SETPOOL(pool, offsetof<ZbudPool>("pagesNr"), p.pagesNr + 1);
  }
  const h = header(pfn);
  const ha = changetype<usize>(h);
  const gen = nextGen(p);
  let bud: u32;
  if (h.firstChunks == 0) {
    bud = FIRST;
    ustore8(ha + offsetof<ZbudHeader>("firstChunks"), <u8>chunks);
    ustore16(ha + offsetof<ZbudHeader>("firstSize"), <u16>size);
    ustore32(ha + offsetof<ZbudHeader>("firstGen"), gen);
  } else {
    bud = LAST;
    ustore8(ha + offsetof<ZbudHeader>("lastChunks"), <u8>chunks);
    ustore16(ha + offsetof<ZbudHeader>("lastSize"), <u16>size);
    ustore32(ha + offsetof<ZbudHeader>("lastGen"), gen);
  }
  listAdd(pool, listFor(h), pfn);
  if (found) lruDel(pool, pfn);
  lruAdd(pool, pfn);
  SETPOOL(pool, offsetof<ZbudPool>("objects"), p.objects + 1);
  ustore64(pool + offsetof<ZbudPool>("objectBytes"), p.objectBytes + size);
  mutexUnlock(lock);
  return <i32>encodeHandle(pfn, bud, gen);
}

/**
 * Free `handle`. Frees the frame when its other buddy is free too (unless the
 * frame is under reclaim: then zbud_reclaim_end decides).
 *
 * Returns: 0, or -E_INVAL for a bad pool or a stale, double-freed or forged
 * handle (nothing changes then).
 * Concurrency: any Worker; takes the pool lock. Not concurrently with a map
 * of the same handle.
 */
export function zbud_free(id: u32, handle: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  const p = changetype<ZbudPool>(pool);
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  const r = handleToPfn(id, handle);
  if (r < 0) {
    mutexUnlock(lock);
    return r;
  }
  const pfn = <u32>r;
  const h = header(pfn);
  const reclaim = h.underReclaim != 0;
  if (!reclaim) listDel(pool, listFor(h), pfn);
  const ha = changetype<usize>(h);
  if ((handle & 1) == FIRST) {
    ustore64(pool + offsetof<ZbudPool>("objectBytes"), p.objectBytes - h.firstSize);
    ustore8(ha + offsetof<ZbudHeader>("firstChunks"), 0);
    ustore16(ha + offsetof<ZbudHeader>("firstSize"), 0);
    ustore32(ha + offsetof<ZbudHeader>("firstGen"), 0);
  } else {
    ustore64(pool + offsetof<ZbudPool>("objectBytes"), p.objectBytes - h.lastSize);
    ustore8(ha + offsetof<ZbudHeader>("lastChunks"), 0);
    ustore16(ha + offsetof<ZbudHeader>("lastSize"), 0);
    ustore32(ha + offsetof<ZbudHeader>("lastGen"), 0);
  }
  SETPOOL(pool, offsetof<ZbudPool>("objects"), p.objects - 1);
  if (!reclaim) {
    if (h.firstChunks == 0 && h.lastChunks == 0) {
      lruDel(pool, pfn);
      ustore32(ha + offsetof<ZbudHeader>("pool"), 0);
      // Freed at the unlock (a rollback still needs it: it relinks it).
      udeferFrameFree(pfn, OWNER_ZBUD);
      SETPOOL(pool, offsetof<ZbudPool>("pagesNr"), p.pagesNr - 1);
    } else {
      listAdd(pool, listFor(h), pfn);
    }
  }
  if (mappedHandle == handle && mappedPool == id) mappedHandle = 0;
  mutexUnlock(lock);
  return 0;
}

/**
 * Map `handle` for this instance: returns (size << 12) | offset, where offset
 * is the object's byte offset in its frame (the frame is the handle's pfn).
 *
 * Returns: the packed position (> 0); -E_INVAL for a bad pool or handle;
 * -E_BUSY when this instance already has an object mapped.
 * Concurrency: no lock; the caller must not free the handle meanwhile.
 */
export function zbud_map(id: u32, handle: u32): i32 {
  if (mappedHandle != 0) return -E_BUSY;
  if (poolFromId(id) == 0) return -E_INVAL;
  const r = handleToPfn(id, handle);
  if (r < 0) return r;
  const h = header(<u32>r);
  let off: u32, size: u32;
  if ((handle & 1) == FIRST) {
    off = ZHDR_SIZE_ALIGNED;
    size = h.firstSize;
  } else {
    off = PAGE_SIZE - (<u32>h.lastChunks << CHUNK_SHIFT);
    size = h.lastSize;
  }
  mappedHandle = handle;
  mappedPool = id;
  return <i32>((size << PAGE_SHIFT) | off);
}

/**
 * zbud_map for wasm callers (tmem_zcache.ts's driver table): map `handle`
 * and return the address of its first byte (its length is the size the
 * caller allocated), or 0 on failure: zbud_mapped() != 0 tells -E_BUSY (this
 * instance already has an object mapped) from -E_INVAL (a bad pool or
 * handle). Unmap with zbud_unmap. Concurrency: as zbud_map.
 */
export function zbud_map_address(id: u32, handle: u32): usize {
  const r = zbud_map(id, handle);
  if (r < 0) return 0;
  return pfnToAddress((handle >>> 1) & ((<u32>1 << pfnBits()) - 1)) + <usize>(<u32>r & (PAGE_SIZE - 1));
}

/**
 * Unmap `handle`, mapped by this instance.
 *
 * Returns: 0, or -E_INVAL if it is not the handle this instance mapped.
 */
export function zbud_unmap(id: u32, handle: u32): i32 {
  if (mappedHandle == 0 || mappedHandle != handle || mappedPool != id) return -E_INVAL;
  mappedHandle = 0;
  return 0;
}

/** The handle this instance has mapped, 0 if none. */
export function zbud_mapped(): u32 {
  return mappedHandle;
}

/**
 * How full data frame `pfn` is, for a memory map: chunks used (header
 * included) as a percent of the frame, 0..100; -E_INVAL when `pfn` is not a
 * zbud data frame. Reads without the pool lock: a snapshot for display.
 */
export function zbud_frame_info(pfn: u32): i32 {
  if (pfn >= nrFrames) return -E_INVAL;
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  if (atomic.load<u32>(changetype<usize>(meta) + offsetof<FrameMeta>("owner")) != OWNER_ZBUD) return -E_INVAL;
  if (meta.priv1 == ZBUD_POOL_MAGIC) return -E_INVAL;
  const h = header(pfn);
  const used: u32 = 1 + <u32>h.firstChunks + <u32>h.lastChunks;
  return <i32>((used * 100) / (NCHUNKS + 1));
}

/** Data frames of pool `id` (the kernel's zbud_get_pool_size), or -E_INVAL. */
export function zbud_get_pool_size(id: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  return <i32>atomic.load<u32>(pool + offsetof<ZbudPool>("pagesNr"));
}

/** Objects allocated in pool `id`, or -E_INVAL. */
export function zbud_pool_objects(id: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  return <i32>atomic.load<u32>(pool + offsetof<ZbudPool>("objects"));
}

/** Sum of the object sizes of pool `id` in bytes (as f64: may exceed 2^31), or -E_INVAL. */
export function zbud_pool_bytes(id: u32): f64 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  return <f64>atomic.load<u64>(pool + offsetof<ZbudPool>("objectBytes"));
}

/** Bits of a handle's pfn field for this memory (for the TypeScript adapter). */
export function zbud_pfn_bits(): u32 {
  return pfnBits();
}

// ══ Eviction ══

/**
 * Start reclaiming the least recently used frame of pool `id`: unlink it from
 * its list and the LRU and mark it under reclaim. The caller then evicts its
 * buddies (zbud_reclaim_handle) and must call zbud_reclaim_end.
 *
 * Returns: the frame's pfn; -E_NOENT when the LRU is empty; -E_INVAL for a
 * bad pool.
 * Concurrency: any Worker; takes the pool lock.
 */
export function zbud_reclaim_begin(id: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -E_INVAL;
  const p = changetype<ZbudPool>(pool);
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  const tail = p.lruTail;
  if (tail == 0) {
    mutexUnlock(lock);
    return -E_NOENT;
  }
  const pfn = tail - 1;
  const h = header(pfn);
  listDel(pool, listFor(h), pfn);
  lruDel(pool, pfn);
  ustore8(changetype<usize>(h) + offsetof<ZbudHeader>("underReclaim"), 1);
  SETPOOL(pool, offsetof<ZbudPool>("reclaiming"), p.reclaiming + 1);
  mutexUnlock(lock);
  return <i32>pfn;
}

/**
 * The handle of buddy `bud` (0 FIRST, 1 LAST) of frame `pfn`, under reclaim
 * in pool `id`.
 *
 * Returns: the handle, 0 when that buddy is free, -E_INVAL when the frame is
 * not under reclaim in this pool.
 */
export function zbud_reclaim_handle(id: u32, pfn: u32, bud: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0 || pfn >= nrFrames || bud > LAST) return -E_INVAL;
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  let r: i32 = -E_INVAL;
  if (meta.owner == OWNER_ZBUD && meta.priv1 != ZBUD_POOL_MAGIC && header(pfn).pool == id + 1 && header(pfn).underReclaim != 0) {
    const h = header(pfn);
    if (bud == FIRST) r = h.firstChunks == 0 ? 0 : <i32>encodeHandle(pfn, FIRST, h.firstGen);
    else r = h.lastChunks == 0 ? 0 : <i32>encodeHandle(pfn, LAST, h.lastGen);
  }
  mutexUnlock(lock);
  return r;
}

/**
 * Finish reclaiming frame `pfn`: free it when both buddies were freed,
 * otherwise relist it and put it at the LRU head.
 *
 * Returns: 1 when the frame was freed, 0 when it was kept, -E_INVAL when the
 * frame is not under reclaim in this pool.
 */
export function zbud_reclaim_end(id: u32, pfn: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0 || pfn >= nrFrames) return -E_INVAL;
  const p = changetype<ZbudPool>(pool);
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  if (meta.owner != OWNER_ZBUD || meta.priv1 == ZBUD_POOL_MAGIC || header(pfn).pool != id + 1 || header(pfn).underReclaim == 0) {
    mutexUnlock(lock);
    return -E_INVAL;
  }
  const h = header(pfn);
  const ha = changetype<usize>(h);
  ustore8(ha + offsetof<ZbudHeader>("underReclaim"), 0);
  SETPOOL(pool, offsetof<ZbudPool>("reclaiming"), p.reclaiming - 1);
  let r: i32 = 0;
  if (h.firstChunks == 0 && h.lastChunks == 0) {
    ustore32(ha + offsetof<ZbudHeader>("pool"), 0);
    udeferFrameFree(pfn, OWNER_ZBUD);
    SETPOOL(pool, offsetof<ZbudPool>("pagesNr"), p.pagesNr - 1);
    r = 1;
  } else {
    listAdd(pool, listFor(h), pfn);
    lruAdd(pool, pfn);
  }
  mutexUnlock(lock);
  return r;
}

// ══ Consistency check (tests) ══

/** Is frame `pfn` a data frame of the pool with id `id`? */
// @ts-ignore: decorator
@inline function isDataFrameOf(id: u32, pfn: u32): bool {
  if (pfn >= nrFrames || pfn == id) return false;
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  if (atomic.load<u32>(changetype<usize>(meta) + offsetof<FrameMeta>("owner")) != OWNER_ZBUD) return false;
  if (meta.priv1 == ZBUD_POOL_MAGIC) return false;
  return header(pfn).pool == id + 1;
}

/** A buddy's bookkeeping is sane: free (all zero) or chunks, size and generation that agree. */
// @ts-ignore: decorator
@inline function buddyOk(chunks: u32, size: u32, gen: u32): bool {
  if (chunks == 0) return size == 0 && gen == 0;
  return size != 0 && sizeToChunks(size) == chunks && gen != 0 && gen <= genMask();
}

/**
 * zbud_check: walk pool `id`'s metadata under its lock and return 0 when it
 * is consistent, else the first inconsistency found (a negative code):
 * -1 not a live pool; unbuddied lists: -2 a frame that is not this pool's,
 * -3 a frame under reclaim or without exactly one buddy, -4 on the wrong
 * list, -5 a prev link that disagrees, -6 longer than the memory (a cycle),
 * -7 nonEmpty disagrees with the heads; LRU: -8 a frame that is not this
 * pool's, -9 one under reclaim or with no buddy, -10 a prev link that
 * disagrees, -11 a cycle, -12 lruTail is not the last; -13 a buddy's chunks,
 * size or generation disagree, or the buddies overlap; -14 frames with one
 * buddy on the LRU != frames on unbuddied lists; -15 the pool's frames in
 * the memory != LRU + under reclaim, or under reclaim != reclaiming; -16
 * pagesNr, -17 objects, -18 objectBytes disagree; -19 a frame with both
 * buddies still has unbuddied links. Every walk is bounded by the memory's
 * frame count, so a corrupt list never hangs it. Tests only: O(frames).
 * Concurrency: takes the pool lock; any Worker.
 */
export function zbud_check(id: u32): i32 {
  const pool = poolFromId(id);
  if (pool == 0) return -1;
  const lock = pool + offsetof<ZbudPool>("lock");
  mutexLock(lock, LV_ALLOC);
  const r = checkLocked(pool, id);
  mutexUnlock(lock);
  return r;
}

function checkLocked(pool: usize, id: u32): i32 {
  const p = changetype<ZbudPool>(pool);
  let onLists: u32 = 0;
  for (let i: u32 = 0; i < NCHUNKS; i++) {
    const head = load<u32>(UNBUDDIED(pool, i));
    if ((head != 0) != ((p.nonEmpty & (<u64>1 << i)) != 0)) return -7;
    let prev: u32 = 0, cur = head, n: u32 = 0;
    while (cur != 0) {
      if (++n > nrFrames) return -6;
      const pfn = cur - 1;
      if (!isDataFrameOf(id, pfn)) return -2;
      const h = header(pfn);
      if (h.underReclaim != 0 || (h.firstChunks == 0) == (h.lastChunks == 0)) return -3;
      if (numFreeChunks(h) != i) return -4;
      if (GETLINK(PREV(pfn)) != prev) return -5;
      prev = cur;
      cur = GETLINK(NEXT(pfn));
    }
    onLists += n;
  }
  let lru: u32 = 0, single: u32 = 0, objects: u32 = 0;
  let bytes: u64 = 0;
  let prev: u32 = 0, cur = p.lruHead;
  while (cur != 0) {
    if (++lru > nrFrames) return -11;
    const pfn = cur - 1;
    if (!isDataFrameOf(id, pfn)) return -8;
    const h = header(pfn);
    if (h.underReclaim != 0 || (h.firstChunks == 0 && h.lastChunks == 0)) return -9;
    if (GETLRUPREV(pfn) != prev) return -10;
    if (!buddyOk(h.firstChunks, h.firstSize, h.firstGen) || !buddyOk(h.lastChunks, h.lastSize, h.lastGen)) return -13;
    if (<u32>h.firstChunks + <u32>h.lastChunks > NCHUNKS) return -13;
    if (h.firstChunks != 0 && h.lastChunks != 0) {
      if (GETLINK(NEXT(pfn)) != 0 || GETLINK(PREV(pfn)) != 0) return -19;
    } else {
      single++;
    }
    if (h.firstChunks != 0) { objects++; bytes += h.firstSize; }
    if (h.lastChunks != 0) { objects++; bytes += h.lastSize; }
    prev = cur;
    cur = GETLINK(LRU_NEXT(pfn));
  }
  if (p.lruTail != prev) return -12;
  if (single != onLists) return -14;
  // Frames under reclaim are on no list: find them (and any stray frame) in the memory.
  let owned: u32 = 0, underReclaim: u32 = 0;
  for (let pfn: u32 = 0; pfn < nrFrames; pfn++) {
    if (!isDataFrameOf(id, pfn)) continue;
    owned++;
    const h = header(pfn);
    if (h.underReclaim != 0) {
      underReclaim++;
      if (!buddyOk(h.firstChunks, h.firstSize, h.firstGen) || !buddyOk(h.lastChunks, h.lastSize, h.lastGen)) return -13;
      if (h.firstChunks != 0) { objects++; bytes += h.firstSize; }
      if (h.lastChunks != 0) { objects++; bytes += h.lastSize; }
    }
  }
  if (owned != lru + underReclaim || underReclaim != p.reclaiming) return -15;
  if (p.pagesNr != owned) return -16;
  if (p.objects != objects) return -17;
  if (p.objectBytes != bytes) return -18;
  return 0;
}
