// SPDX-License-Identifier: MIT
//
// frames.ts: physical memory: the page-frame allocator, per-frame metadata
// with owner tags, and the attach/detach of Workers to one shared memory.
//
// It is not a general allocator: it hands out whole 4 KiB frames, as the
// kernel's page allocator hands out order-0 pages to zsmalloc and zbud. It
// never zeroes a frame (no __GFP_ZERO): the owner does that if it must.
//
// Key idea: free frames form a lock-free LIFO stack (a Treiber stack) whose
// head is one i64 word: the top frame's pfn + 1 in the low half and an ABA tag
// in the high half, bumped on every change. Frames that were never handed out
// sit above `brk` and cost nothing: a fresh memory needs no O(N) free-list
// initialisation, and the hottest (most recently freed) frames are reused
// first.
//
// Each attached Worker also keeps a small cache of free frames of its own
// (the kernel's per-CPU page lists): frees go to it and allocations come from
// it, so alloc/free pairs never touch the shared stack head; it is refilled
// and flushed a batch at a time, a whole chain per compare-and-swap. Frames in
// one Worker's cache are free (the counters say so) but not available to the
// others: up to PCP_HIGH frames per attached Worker. The kernel drains per-CPU
// lists on an allocation failure; a Worker cannot drain another's, so near a
// full memory one Worker may see -E_NOMEM while another caches a few frames.
// Detach flushes the cache; attach flushes what a dead previous holder left.
//
// Guarantee: a frame is handed out to at most one caller until it is freed;
// a free of a frame that is not allocated (double free, forged pfn) returns
// -E_INVAL and changes nothing; running out returns -E_NOMEM, never a trap.
// Trade-off: no contiguous multi-frame allocations (zsmalloc does not need
// them), and a few free frames parked in each Worker's list (below).
//
// Layout: the control block is drawn in common.ts. Per-frame metadata:
//
// ╒══════ FrameMeta (16 bytes per frame, at metaBase + pfn * 16) ══════╕
// │ owner: u32 │ link: u32 │ priv0: u32 │ priv1: u32                      │
// ╘═════════════════════════════════════════════════════════════════════╛
//
// Concurrency: every function may be called concurrently from any attached
// instance. Nothing here takes a lock (lock.ts order level 6), so allocators
// may call frameAlloc/frameFree while holding their own locks.
//
// See also: common.ts (layout), bindings/physmem.ts, test/frames.test.ts.

import {
  CTRL_BASE, CTRL_MAGIC, CTRL_MAGIC_OFF, CTRL_ABI_OFF, CTRL_HASH_LO_OFF, CTRL_HASH_HI_OFF,
  CTRL_NFRAMES_OFF, CTRL_FRAMES_BASE_OFF, CTRL_META_BASE_OFF, CTRL_SCRATCH_BASE_OFF,
  CTRL_SCRATCH_SIZE_OFF, CTRL_MAX_WORKERS_OFF, CTRL_FREE_HEAD_OFF, CTRL_BRK_OFF,
  CTRL_NR_USED_OFF, CTRL_WORKER_MAP_OFF, CTRL_OWNER_FRAMES_OFF, LAYOUT_ABI, MAX_WORKERS,
  MAX_OWNERS, PAGE_SIZE, E_INVAL, E_NOMEM, E_BUSY, E_PROTO, E_NODEV,
  nrFrames, metaBase, scratchBase, robustBase, workerSlot, setInstanceLayout,
} from "./common";
import { LOCK_SLOT_SHIFT, LOCK_GEN_SHIFT, LOCK_GEN_MASK, setLockTag, currentLockTag } from "./lock";

// ══ Frame metadata ══

/** Per-frame metadata. The owner may use link, priv0 and priv1 while it holds the frame. */
@unmanaged export class FrameMeta {
  /** Owner tag (1..255) while allocated; 0 while free. */
  owner: u32;
  /** Free-stack link (next pfn + 1) while free; the owner's while allocated. */
  link: u32;
  /** The owner's (e.g. zsmalloc: zspage). */
  priv0: u32;
  /** The owner's (e.g. zsmalloc: first object offset). */
  priv1: u32;
}

/** Bytes of metadata per frame. */
// @ts-ignore: decorator
@inline export const FRAME_META_SIZE: u32 = 16;
if (offsetof<FrameMeta>() != FRAME_META_SIZE) ERROR("FrameMeta must be 16 bytes");

/** Address of frame `pfn`'s metadata. The caller has checked pfn < nrFrames. */
// @ts-ignore: decorator
@inline export function pfnToMeta(pfn: u32): usize {
  return metaBase + (<usize>pfn << 4);
}

// ══ Per-Worker frame cache (pcp) ══
//
// ╒══ pcp list of slot s, at CTRL_BASE + PCP_OFF + s * PCP_STRIDE ═══════╕
// │ 0 count: u32 │ 4 pfn: u32[PCP_MAX] (pfn[count - 1] is handed out next) │
// │ 104 pending: i64 = owner << 32 | (u32) frames held, not yet counted    │
// ╘═══════════════════════════════════════════════════════════════════════╛
// Only the instance holding slot s writes its list, so plain loads and
// stores suffice for it. `pending` batches the per-owner frame counter the
// same way: a Worker counts its allocations and frees for one owner here and
// adds them to the shared counter only when it switches owner or detaches, so
// two Workers never write one counter line per frame. Readers (stats) add
// every slot's pending count to the shared one; the word is written
// atomically, so they see a consistent (owner, count) pair.

/** Offset of the pcp lists in the control block (after the subsystem roots). */
// @ts-ignore: decorator
@inline const PCP_OFF: usize = 36864;
/**
 * Bytes per slot's list: two cache lines, so that no two Workers' lists share
 * a line (a 112-byte stride made neighbours false-share and halved scaling).
 */
// @ts-ignore: decorator
@inline const PCP_STRIDE: usize = 128;
/** Slots with a list: those that fit in the control block; higher slots use the shared stack. */
// @ts-ignore: decorator
@inline const PCP_SLOTS: i32 = 224;
/** Capacity of a list: (104 - 4) / 4. */
// @ts-ignore: decorator
@inline const PCP_MAX: u32 = 25;
/** Offset of the pending owner count in a slot's list. */
// @ts-ignore: decorator
@inline const PCP_PENDING: usize = 104;
/**
 * Frames moved between a list and the shared stack at a time. Larger batches
 * touch the stack head less often; they also strand more frames per Worker.
 */
// @ts-ignore: decorator
@inline const PCP_BATCH: u32 = 8;
/** A free that finds the list this full first flushes PCP_BATCH frames. */
// @ts-ignore: decorator
@inline const PCP_HIGH: u32 = 24;
if (PCP_OFF + <usize>PCP_SLOTS * PCP_STRIDE > 65536) ERROR("pcp lists overflow the control block");
if (PCP_OFF % 64 != 0) ERROR("pcp lists must start on a cache line");
if (<u32>4 + PCP_MAX * 4 > <u32>PCP_PENDING || PCP_PENDING + 8 > PCP_STRIDE || PCP_HIGH + 1 > PCP_MAX) ERROR("pcp list geometry");
if ((PCP_OFF + PCP_PENDING) % 8 != 0 || PCP_STRIDE % 8 != 0) ERROR("pcp pending words must be 8-byte aligned");

/**
 * Count `delta` frames for `owner` on behalf of the instance in `slot`:
 * batched in the slot's pending word while the owner stays the same.
 */
function countFrames(slot: i32, owner: u32, delta: i32): void {
  if (slot < 0 || slot >= PCP_SLOTS) {
    atomic.add<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>owner << 2), <u32>delta);
    return;
  }
  const pp = pcpList(slot) + PCP_PENDING;
  const cur = atomic.load<i64>(pp);
  const curOwner = <u32>(cur >>> 32);
  if (curOwner == owner) {
    atomic.store<i64>(pp, (<i64>owner << 32) | <i64>(<u32>(<i32>cur + delta)));
    return;
  }
  // Switching owner: publish the old owner's count first, then start the new one.
  if (curOwner != 0) atomic.add<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>curOwner << 2), <u32>cur);
  atomic.store<i64>(pp, (<i64>owner << 32) | <i64>(<u32>delta));
}

/** Publish slot `slot`'s pending count to the shared counters (detach). */
function flushCount(slot: i32): void {
  const pp = pcpList(slot) + PCP_PENDING;
  // Taken in one exchange before it is added: a death in between loses the count, a repeat never adds it twice.
  const cur = atomic.xchg<i64>(pp, 0);
  const curOwner = <u32>(cur >>> 32);
  if (curOwner != 0 && curOwner < MAX_OWNERS) atomic.add<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>curOwner << 2), <u32>cur);
}

/** Frames held by `owner`: its shared counter plus every slot's pending count for it. */
function ownedFrames(owner: u32): u32 {
  let n = atomic.load<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>owner << 2));
  for (let s: usize = 0; s < <usize>PCP_SLOTS; s++) {
    const cur = atomic.load<i64>(CTRL_BASE + PCP_OFF + s * PCP_STRIDE + PCP_PENDING);
    if (<u32>(cur >>> 32) == owner) n += <u32>cur;
  }
  return n;
}

// @ts-ignore: decorator
@inline function pcpList(slot: i32): usize {
  return CTRL_BASE + PCP_OFF + <usize>slot * PCP_STRIDE;
}

/**
 * Push `n` frames, list[from .. from+n), onto the shared stack as one chain
 * (one compare-and-swap). They must already be free (owner 0).
 */
function stackPushChain(list: usize, from: u32, n: u32): void {
  // Link list[from] -> list[from+1] -> ... -> list[from+n-1] -> old top.
  for (let i: u32 = 0; i + 1 < n; i++) {
    const p = load<u32>(list + 4 + (<usize>(from + i) << 2));
    const q = load<u32>(list + 4 + (<usize>(from + i + 1) << 2));
    atomic.store<u32>(pfnToMeta(p) + offsetof<FrameMeta>("link"), q + 1);
  }
  stackPush(load<u32>(list + 4 + (<usize>from << 2)), load<u32>(list + 4 + (<usize>(from + n - 1) << 2)));
}

/**
 * Push the chain first → … → last (its inner links already set) onto the
 * shared stack: one compare-and-swap that also links `last` to the old top.
 */
function stackPush(first: u32, last: u32): void {
  const head = CTRL_BASE + CTRL_FREE_HEAD_OFF;
  let old = atomic.load<i64>(head);
  for (;;) {
    atomic.store<u32>(pfnToMeta(last) + offsetof<FrameMeta>("link"), <u32>old);
    const tag = (old >>> 32) + 1;
    const seen = atomic.cmpxchg<i64>(head, old, (tag << 32) | <i64>(first + 1));
    if (seen == old) return;
    old = seen;
  }
}

/**
 * Refill an empty list with up to PCP_BATCH frames: a chain off the shared
 * stack in one compare-and-swap, else never-used frames above brk. Stored so
 * that the frame that would have come off the stack first is handed out first.
 * Returns the new count (0 when no frame is free anywhere but other lists).
 */
function pcpRefill(list: usize): u32 {
  const n = pcpRefillFromStack(list);
  if (n > 0) return n;
  // Stack empty: take never-used frames from above brk.
  const brkp = CTRL_BASE + CTRL_BRK_OFF;
  let b = atomic.load<u32>(brkp);
  while (b < nrFrames) {
    const e = b + PCP_BATCH < nrFrames ? b + PCP_BATCH : nrFrames;
    const seen = atomic.cmpxchg<u32>(brkp, b, e);
    if (seen == b) {
      const k = e - b;
      for (let i: u32 = 0; i < k; i++) store<u32>(list + 4 + (<usize>(k - 1 - i) << 2), b + i);
      store<u32>(list, k);
      return k;
    }
    b = seen;
  }
  // brk is exhausted; a free may have landed on the stack meanwhile.
  return pcpRefillFromStack(list);
}

/**
 * Move a chain of up to PCP_BATCH frames off the shared stack into the empty
 * `list` in one compare-and-swap. Returns how many (0 when the stack is empty).
 * (Two functions rather than one loop with a `break`: asc 0.28 dropped the
 * code after such a loop.)
 */
function pcpRefillFromStack(list: usize): u32 {
  const head = CTRL_BASE + CTRL_FREE_HEAD_OFF;
  let old = atomic.load<i64>(head);
  while (<u32>old != 0) {
    const top = <u32>old;
    // Walk up to PCP_BATCH links; stale reads are caught by the tag below.
    let n: u32 = 1;
    let last = top;
    let nx = atomic.load<u32>(pfnToMeta(last - 1) + offsetof<FrameMeta>("link"));
    while (n < PCP_BATCH && nx != 0 && nx <= nrFrames) {
      last = nx;
      n++;
      nx = atomic.load<u32>(pfnToMeta(last - 1) + offsetof<FrameMeta>("link"));
    }
    const tag = (old >>> 32) + 1;
    const seen = atomic.cmpxchg<i64>(head, old, (tag << 32) | <i64>nx);
    if (seen == old) {
      // The chain top..last is ours now (the tag proves no one changed it).
      let p = top;
      for (let i: u32 = 0; i < n; i++) {
        store<u32>(list + 4 + (<usize>(n - 1 - i) << 2), p - 1);
        p = load<u32>(pfnToMeta(p - 1) + offsetof<FrameMeta>("link"));
      }
      store<u32>(list, n);
      return n;
    }
    old = seen;
  }
  return 0;
}

/**
 * Flush every frame of slot `slot`'s list to the shared stack. Entries that
 * are not free frames (a list a dead Worker left half-written) are dropped.
 */
function pcpDrain(slot: i32): void {
  const list = pcpList(slot);
  let n = load<u32>(list);
  if (n > PCP_MAX) n = PCP_MAX;
  let k: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = load<u32>(list + 4 + (<usize>i << 2));
    if (p >= nrFrames || atomic.load<u32>(pfnToMeta(p) + offsetof<FrameMeta>("owner")) != 0) continue;
    store<u32>(list + 4 + (<usize>k << 2), p);
    k++;
  }
  // The count first: a death before the push leaks these frames; a repeat
  // (a reclaim finishing another's that died here) never pushes them twice.
  store<u32>(list, 0);
  if (k > 0) stackPushChain(list, 0, k);
}

// ══ Format and attach ══

/**
 * Format the control block of a fresh (all-zero) memory. Called once, by the
 * creator, before any attach. The regions' addresses are computed by the host
 * (bindings/layout.ts) and checked here only for order.
 *
 * Returns 0, -E_BUSY if the memory is already formatted, or -E_INVAL for an
 * inconsistent layout.
 */
export function pmFormat(nframes: u32, framesAddr: usize, metaAddr: usize, scratchAddr: usize,
                         ssize: u32, maxWorkers: u32, hashLo: u32, hashHi: u32): i32 {
  if (nframes == 0 || maxWorkers == 0 || maxWorkers > MAX_WORKERS || ssize == 0) return -E_INVAL;
  if (scratchAddr < CTRL_BASE + 65536) return -E_INVAL;
  if (metaAddr < scratchAddr + <usize>maxWorkers * ssize) return -E_INVAL;
  if (framesAddr < metaAddr + <usize>nframes * FRAME_META_SIZE) return -E_INVAL;
  if (<u64>framesAddr + <u64>nframes * PAGE_SIZE > <u64>memory.size() << 16) return -E_INVAL;
  const c = CTRL_BASE;
  if (atomic.load<u32>(c + CTRL_MAGIC_OFF) != 0) return -E_BUSY;
  store<u32>(c + CTRL_ABI_OFF, LAYOUT_ABI);
  store<u32>(c + CTRL_HASH_LO_OFF, hashLo);
  store<u32>(c + CTRL_HASH_HI_OFF, hashHi);
  store<u32>(c + CTRL_NFRAMES_OFF, nframes);
  store<u32>(c + CTRL_FRAMES_BASE_OFF, <u32>framesAddr);
  store<u32>(c + CTRL_META_BASE_OFF, <u32>metaAddr);
  store<u32>(c + CTRL_SCRATCH_BASE_OFF, <u32>scratchAddr);
  store<u32>(c + CTRL_SCRATCH_SIZE_OFF, ssize);
  store<u32>(c + CTRL_MAX_WORKERS_OFF, maxWorkers);
  atomic.store<i64>(c + CTRL_FREE_HEAD_OFF, 0);
  atomic.store<u32>(c + CTRL_BRK_OFF, 0);
  atomic.store<u32>(c + CTRL_NR_USED_OFF, 0);
  // The magic goes last: an attacher that sees it sees everything above.
  atomic.store<u32>(c + CTRL_MAGIC_OFF, CTRL_MAGIC);
  return 0;
}

/**
 * Attach this instance to the formatted memory: load the layout into this
 * instance's globals and claim a scratch slot. `block` is false on a browser
 * main thread (locks then spin instead of waiting).
 *
 * Returns the slot (>= 0); -E_NODEV if the memory is not formatted; -E_PROTO
 * if it was formatted by another build (hashLo/hashHi) or layout ABI;
 * -E_BUSY if every slot is taken or this instance is already attached.
 */
export function pmAttach(hashLo: u32, hashHi: u32, block: bool): i32 {
  const c = CTRL_BASE;
  if (workerSlot >= 0) return -E_BUSY;
  if (atomic.load<u32>(c + CTRL_MAGIC_OFF) != CTRL_MAGIC) return -E_NODEV;
  if (load<u32>(c + CTRL_ABI_OFF) != LAYOUT_ABI) return -E_PROTO;
  if (load<u32>(c + CTRL_HASH_LO_OFF) != hashLo || load<u32>(c + CTRL_HASH_HI_OFF) != hashHi) return -E_PROTO;
  const maxWorkers = load<u32>(c + CTRL_MAX_WORKERS_OFF);
  // Claim the lowest clear bit of the worker map.
  for (let slot: u32 = 0; slot < maxWorkers; slot++) {
    const word = c + CTRL_WORKER_MAP_OFF + ((slot >> 5) << 2);
    const bit: u32 = 1 << (slot & 31);
    const old = atomic.or<u32>(word, bit);
    if ((old & bit) == 0) {
      takeSlot(slot, block);
      return <i32>slot;
    }
  }
  return -E_BUSY;
}

// ══ Slot generations, reservations and reclaim of a dead Worker's slot ══
//
// ╒══ in the control block, after ownerFrames (free space up to ROOTS) ═══╕
// │ 1152 slotGen: u32[256]   bumped by every attach and every reclaim of  │
// │                          the slot: a lock word names its owner by      │
// │                          (slot, slotGen) (lock.ts), so once a slot is  │
// │                          reclaimed its old owner's locks read as dead  │
// │ 2176 reserveMap: u32[8]  slots claimed by pmReserve, not yet attached  │
// │ 2208 deadMap: u32[8]     slots being reclaimed (set by pmReclaim,      │
// │                          cleared by pmReclaimEnd)                      │
// │ 2240 takeovers: u32      locks taken over from a dead owner (stats)    │
// │ 2560 reclaimer: u32[256] 0, or the lock tag (slot + 1, generation) of  │
// │                          the instance reclaiming this slot: the        │
// │                          reclaim's exclusion (one cmpxchg), and how a  │
// │                          reclaim of a dead RECLAIMER finds the reclaims │
// │                          it left half done (tmem_reclaim.ts)           │
// ╘═══════════════════════════════════════════════════════════════════════╛
// A reclaim is two steps so that the layers above can clear what the slot
// held between them, while the worker-map bit still keeps the slot from
// being attached again: pmReclaim (mark dead, bump the generation, hand the
// pcp list back, publish the pending count), the host's reclaim hooks, then
// pmReclaimEnd (clear the reservation, the map bit and the dead bit).

/** Offset of the per-slot generations in the control block. */
// @ts-ignore: decorator
@inline export const CTRL_SLOT_GEN_OFF: usize = 1152;
/** Offset of the reserved-slot bitmap. */
// @ts-ignore: decorator
@inline const CTRL_RESERVE_MAP_OFF: usize = 2176;
/** Offset of the slots-being-reclaimed bitmap. */
// @ts-ignore: decorator
@inline const CTRL_DEAD_MAP_OFF: usize = 2208;
/** Offset of the lock takeover counter. */
// @ts-ignore: decorator
@inline export const CTRL_TAKEOVERS_OFF: usize = 2240;
/** Offset of the per-slot reclaimer tags (after robust.ts's park hook and counter at 2304..2324). */
// @ts-ignore: decorator
@inline export const CTRL_RECLAIMER_OFF: usize = 2560;
if (CTRL_SLOT_GEN_OFF < CTRL_OWNER_FRAMES_OFF + <usize>MAX_OWNERS * 4 || CTRL_TAKEOVERS_OFF + 4 > 2304
    || CTRL_RECLAIMER_OFF + <usize>MAX_WORKERS * 4 > 4096) ERROR("slot words overlap");

/** Address of slot `slot`'s reclaimer tag. */
// @ts-ignore: decorator
@inline export function reclaimerWord(slot: u32): usize {
  return CTRL_BASE + CTRL_RECLAIMER_OFF + (<usize>slot << 2);
}

/** The lock tag slot `slot` has now (its current generation): what its reclaims' reclaimer words hold. */
export function slotTag(slot: u32): u32 {
  return tagFor(slot, atomic.load<u32>(CTRL_BASE + CTRL_SLOT_GEN_OFF + (<usize>slot << 2)));
}

// @ts-ignore: decorator
@inline function mapWord(off: usize, slot: u32): usize {
  return CTRL_BASE + off + ((<usize>slot >> 5) << 2);
}

/** The lock tag of an instance in `slot` at generation `gen` (lock.ts LOCK_* fields). */
// @ts-ignore: decorator
@inline function tagFor(slot: u32, gen: u32): u32 {
  return ((slot + 1) << LOCK_SLOT_SHIFT) | ((gen & LOCK_GEN_MASK) << LOCK_GEN_SHIFT);
}

/** Set up this instance in claimed slot `slot` (its map bit is ours). */
function takeSlot(slot: u32, block: bool): void {
  const c = CTRL_BASE;
  const ssize = load<u32>(c + CTRL_SCRATCH_SIZE_OFF);
  // A new generation: locks a dead previous holder of this slot left read as dead.
  const gen = atomic.add<u32>(c + CTRL_SLOT_GEN_OFF + (<usize>slot << 2), 1) + 1;
  setInstanceLayout(load<u32>(c + CTRL_NFRAMES_OFF), load<u32>(c + CTRL_FRAMES_BASE_OFF),
    load<u32>(c + CTRL_META_BASE_OFF),
    <usize>load<u32>(c + CTRL_SCRATCH_BASE_OFF) + <usize>slot * <usize>ssize, ssize, <i32>slot, block);
  setLockTag(tagFor(slot, gen));
  // No held locks, an empty undo log (robust.ts area header; a reclaim left it so).
  memory.fill(robustBase, 0, 16);
  // A previous holder that died without detaching may have left frames here.
  if (<i32>slot < PCP_SLOTS) { pcpDrain(<i32>slot); flushCount(<i32>slot); }
}

/**
 * Reserve a slot for a Worker that will attach later with pmAttachSlot (so
 * its parent knows the slot, and can reclaim it, before the Worker runs).
 * Returns the slot, -E_NODEV if the memory is not formatted, -E_BUSY if
 * every slot is taken.
 */
export function pmReserve(): i32 {
  const c = CTRL_BASE;
  if (atomic.load<u32>(c + CTRL_MAGIC_OFF) != CTRL_MAGIC) return -E_NODEV;
  const maxWorkers = load<u32>(c + CTRL_MAX_WORKERS_OFF);
  for (let slot: u32 = 0; slot < maxWorkers; slot++) {
    const bit: u32 = 1 << (slot & 31);
    if ((atomic.or<u32>(mapWord(CTRL_WORKER_MAP_OFF, slot), bit) & bit) == 0) {
      // A new generation at reserve too: a supervisor of an earlier holder of
      // this slot (its window is [its generation, + 2)) never reaches this reservation.
      atomic.add<u32>(c + CTRL_SLOT_GEN_OFF + (<usize>slot << 2), 1);
      atomic.or<u32>(mapWord(CTRL_RESERVE_MAP_OFF, slot), bit);
      return <i32>slot;
    }
  }
  return -E_BUSY;
}

/**
 * Attach this instance to slot `slot`, reserved by pmReserve. Returns the
 * slot; -E_INVAL if it is not reserved (or was attached or reclaimed since);
 * -E_BUSY if this instance is attached; -E_NODEV / -E_PROTO as pmAttach.
 */
export function pmAttachSlot(slot: u32, hashLo: u32, hashHi: u32, block: bool): i32 {
  const c = CTRL_BASE;
  if (workerSlot >= 0) return -E_BUSY;
  if (atomic.load<u32>(c + CTRL_MAGIC_OFF) != CTRL_MAGIC) return -E_NODEV;
  if (load<u32>(c + CTRL_ABI_OFF) != LAYOUT_ABI) return -E_PROTO;
  if (load<u32>(c + CTRL_HASH_LO_OFF) != hashLo || load<u32>(c + CTRL_HASH_HI_OFF) != hashHi) return -E_PROTO;
  if (slot >= load<u32>(c + CTRL_MAX_WORKERS_OFF)) return -E_INVAL;
  const bit: u32 = 1 << (slot & 31);
  // Consume the reservation: of two attaches to one reserved slot, one wins.
  if ((atomic.and<u32>(mapWord(CTRL_RESERVE_MAP_OFF, slot), ~bit) & bit) == 0) return -E_INVAL;
  if ((atomic.load<u32>(mapWord(CTRL_DEAD_MAP_OFF, slot)) & bit) != 0) return -E_INVAL;
  takeSlot(slot, block);
  return <i32>slot;
}

/**
 * Step 1 of reclaiming slot `slot`, whose Worker the caller knows is dead
 * (tmem_reclaim.ts pmReclaim runs it, rolls the slot's locks back, then calls
 * pmReclaimFinish): check it and mark it dead. The map bit stays set until
 * pmReclaimEnd. Returns 0; -E_INVAL for this instance's own slot, a slot out
 * of range or one that is not attached (or reserved); -E_BUSY if another
 * reclaim of it is in progress. With `span` > 0, only a slot whose
 * generation is in [expectGen, expectGen + span) is reclaimed (else -E_INVAL):
 * a supervisor that saw its Worker's slot at expectGen never reclaims a slot
 * that the Worker detached and another Worker attached since.
 */
export function pmReclaimBegin(slot: u32, expectGen: u32, span: u32): i32 {
  const c = CTRL_BASE;
  if (atomic.load<u32>(c + CTRL_MAGIC_OFF) != CTRL_MAGIC) return -E_NODEV;
  const me = currentLockTag();
  if (slot >= load<u32>(c + CTRL_MAX_WORKERS_OFF) || <i32>slot == workerSlot || me == 0) return -E_INVAL;
  const bit: u32 = 1 << (slot & 31);
  if ((atomic.load<u32>(mapWord(CTRL_WORKER_MAP_OFF, slot)) & bit) == 0) return -E_INVAL;
  // The exclusion: one cmpxchg names this instance the slot's reclaimer, so
  // a reclaim of this instance, should it die from here on, knows for
  // certain that the reclaim of `slot` is its to finish (tmem_reclaim.ts).
  if (atomic.cmpxchg<u32>(reclaimerWord(slot), 0, me) != 0) return -E_BUSY;
  atomic.or<u32>(mapWord(CTRL_DEAD_MAP_OFF, slot), bit);
  // Re-check as the reclaimer: a detach may have cleared the map bit meanwhile.
  const gen = atomic.load<u32>(c + CTRL_SLOT_GEN_OFF + (<usize>slot << 2));
  if ((atomic.load<u32>(mapWord(CTRL_WORKER_MAP_OFF, slot)) & bit) == 0 || (span != 0 && gen - expectGen >= span)) {
    atomic.and<u32>(mapWord(CTRL_DEAD_MAP_OFF, slot), ~bit);
    atomic.store<u32>(reclaimerWord(slot), 0);
    return -E_INVAL;
  }
  return 0;
}

/**
 * The end of step 1 (after robust.ts rolled back what the slot held): bump
 * the generation (locks its Worker held and robust.ts did not release now
 * read as dead: their waiters take them over), hand its pcp list back and
 * publish its pending owner count.
 */
export function pmReclaimFinish(slot: u32): void {
  atomic.add<u32>(CTRL_BASE + CTRL_SLOT_GEN_OFF + (<usize>slot << 2), 1);
  if (<i32>slot < PCP_SLOTS) { pcpDrain(<i32>slot); flushCount(<i32>slot); }
}

/**
 * Step 2 of a reclaim: free slot `slot` for a new attach. Returns 0, or
 * -E_INVAL if this instance is not its reclaimer (pmReclaim did not run here).
 *
 * Order: the map bit goes last, so until then the slot can be neither
 * reserved nor attached, and everything before it may be redone by a
 * reclaim of this instance should it die here. The reclaimer word goes just
 * before the map bit: a death between those two leaves the slot attached to
 * nobody (in stats until a pm.reclaim of it, which then has nothing to do),
 * never handed to two owners.
 */
export function pmReclaimEnd(slot: u32): i32 {
  if (slot >= MAX_WORKERS) return -E_INVAL;
  const me = currentLockTag();
  if (me == 0 || atomic.load<u32>(reclaimerWord(slot)) != me) return -E_INVAL;
  const bit: u32 = 1 << (slot & 31);
  atomic.and<u32>(mapWord(CTRL_RESERVE_MAP_OFF, slot), ~bit);
  atomic.and<u32>(mapWord(CTRL_DEAD_MAP_OFF, slot), ~bit);
  atomic.store<u32>(reclaimerWord(slot), 0);
  atomic.and<u32>(mapWord(CTRL_WORKER_MAP_OFF, slot), ~bit);
  return 0;
}

/** The generation of slot `slot` (bumped by each attach and reclaim), 0 out of range. */
export function pmSlotGen(slot: u32): u32 {
  if (slot >= MAX_WORKERS) return 0;
  return atomic.load<u32>(CTRL_BASE + CTRL_SLOT_GEN_OFF + (<usize>slot << 2));
}

/** Locks taken over from a dead owner since the memory was formatted. */
export function pmTakeovers(): u32 {
  return atomic.load<u32>(CTRL_BASE + CTRL_TAKEOVERS_OFF);
}

/** Whether slot `slot` is reserved (by pmReserve) and not yet attached: 1 or 0. */
export function pmReserved(slot: u32): i32 {
  if (slot >= MAX_WORKERS) return 0;
  return (atomic.load<u32>(mapWord(CTRL_RESERVE_MAP_OFF, slot)) >>> (slot & 31)) & 1;
}

/** Release this instance's scratch slot. Returns 0, or -E_INVAL if not attached. */
export function pmDetach(): i32 {
  const slot = workerSlot;
  if (slot < 0) return -E_INVAL;
  if (slot < PCP_SLOTS) { pcpDrain(slot); flushCount(slot); }
  const word = CTRL_BASE + CTRL_WORKER_MAP_OFF + ((<u32>slot >> 5) << 2);
  atomic.and<u32>(word, ~(<u32>1 << (<u32>slot & 31)));
  setInstanceLayout(0, 0, 0, 0, 0, -1, true);
  setLockTag(0);
  return 0;
}

/** Number of attached instances (set bits in the worker map). */
export function pmAttached(): u32 {
  let n: u32 = 0;
  for (let i: usize = 0; i < MAX_WORKERS / 32; i++) {
    n += <u32>popcnt(atomic.load<u32>(CTRL_BASE + CTRL_WORKER_MAP_OFF + (i << 2)));
  }
  return n;
}

/** This instance's scratch area address, 0 when detached. */
export function pmScratch(): usize {
  return scratchBase;
}

// ══ Frame allocator ══

/**
 * Allocate one page frame for `owner` (1..255). Its contents are whatever the
 * previous owner left. Returns the pfn (>= 0), -E_NOMEM when no frame is free,
 * -E_INVAL for a bad owner tag.
 */
export function frameAlloc(owner: u32): i32 {
  if (owner == 0 || owner >= MAX_OWNERS) return -E_INVAL;
  let pfn: u32 = 0;
  const slot = workerSlot;
  if (slot >= 0 && slot < PCP_SLOTS) {
    // This Worker's list first; refill it a batch at a time.
    const list = pcpList(slot);
    let n = load<u32>(list);
    if (n == 0) n = pcpRefill(list);
    if (n == 0) return -E_NOMEM;
    pfn = load<u32>(list + 4 + (<usize>(n - 1) << 2));
    store<u32>(list, n - 1);
  } else {
    const r = stackPop();
    if (r < 0) return r;
    pfn = <u32>r;
  }
  const meta = pfnToMeta(pfn);
  atomic.store<u32>(meta + offsetof<FrameMeta>("owner"), owner);
  store<u32>(meta + offsetof<FrameMeta>("link"), 0);
  store<u32>(meta + offsetof<FrameMeta>("priv0"), 0);
  store<u32>(meta + offsetof<FrameMeta>("priv1"), 0);
  // Counted per owner (batched per Worker); the total is their sum (framesUsed).
  countFrames(slot, owner, 1);
  return <i32>pfn;
}

/**
 * One frame off the shared stack (or from above brk), for an instance that is
 * not attached and so has no list. Returns the pfn or -E_NOMEM.
 */
function stackPop(): i32 {
  const head = CTRL_BASE + CTRL_FREE_HEAD_OFF;
  for (;;) {
    const old = atomic.load<i64>(head);
    const top = <u32>old;
    if (top == 0) {
      const brkp = CTRL_BASE + CTRL_BRK_OFF;
      let b = atomic.load<u32>(brkp);
      while (b < nrFrames) {
        const seen = atomic.cmpxchg<u32>(brkp, b, b + 1);
        if (seen == b) return <i32>b;
        b = seen;
      }
      if (<u32>atomic.load<i64>(head) != 0) continue;
      return -E_NOMEM;
    }
    // A stale `next` (top popped and pushed again meanwhile) is caught by the tag.
    const next = atomic.load<u32>(pfnToMeta(top - 1) + offsetof<FrameMeta>("link"));
    const tag = (old >>> 32) + 1;
    if (atomic.cmpxchg<i64>(head, old, (tag << 32) | <i64>next) == old) return <i32>(top - 1);
  }
  return -E_NOMEM; // not reached: the loop returns
}

/**
 * Free frame `pfn`. If `owner` is non-zero the frame must be held by that
 * owner. Returns 0, or -E_INVAL (pfn out of range, frame already free, or held
 * by another owner) and changes nothing.
 */
export function frameFree(pfn: u32, owner: u32): i32 {
  if (pfn >= nrFrames) return -E_INVAL;
  const meta = pfnToMeta(pfn);
  const ownerp = meta + offsetof<FrameMeta>("owner");
  const cur = atomic.load<u32>(ownerp);
  if (cur == 0 || (owner != 0 && cur != owner)) return -E_INVAL;
  // Claim the free: of two racing frees of one frame, exactly one wins.
  if (atomic.cmpxchg<u32>(ownerp, cur, 0) != cur) return -E_INVAL;
  const slot = workerSlot;
  countFrames(slot, cur, -1);
  if (slot >= 0 && slot < PCP_SLOTS) {
    // Onto this Worker's list; when it is full, a batch goes to the shared stack first.
    const list = pcpList(slot);
    let n = load<u32>(list);
    if (n >= PCP_HIGH) {
      stackPushChain(list, 0, PCP_BATCH);
      n -= PCP_BATCH;
      memory.copy(list + 4, list + 4 + (<usize>PCP_BATCH << 2), <usize>n << 2);
    }
    store<u32>(list + 4 + (<usize>n << 2), pfn);
    store<u32>(list, n + 1);
    return 0;
  }
  stackPush(pfn, pfn);
  return 0;
}

/** Owner tag of frame `pfn` (0 = free), or -E_INVAL if out of range. */
export function frameOwner(pfn: u32): i32 {
  if (pfn >= nrFrames) return -E_INVAL;
  return <i32>atomic.load<u32>(pfnToMeta(pfn) + offsetof<FrameMeta>("owner"));
}

/** Frames currently allocated (all owners). */
export function framesUsed(): u32 {
  // The sum over owners: exact when no Worker allocates or frees meanwhile.
  let n: u32 = 0;
  for (let o: usize = 1; o < MAX_OWNERS; o++) n += atomic.load<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (o << 2));
  for (let s: usize = 0; s < <usize>PCP_SLOTS; s++) {
    const cur = atomic.load<i64>(CTRL_BASE + PCP_OFF + s * PCP_STRIDE + PCP_PENDING);
    if ((cur >>> 32) != 0) n += <u32>cur;
  }
  return n;
}

/** Frames currently held by `owner`, 0 for a bad tag. */
export function framesOwned(owner: u32): u32 {
  if (owner == 0 || owner >= MAX_OWNERS) return 0;
  return ownedFrames(owner);
}

/**
 * Frames held per owner, all owners at once: writes u32[MAX_OWNERS] at `out`
 * (index = owner tag; [0] is 0) and returns their sum. One pass over the
 * pending counts instead of one per owner (stats).
 */
export function framesOwnedAll(out: usize): u32 {
  store<u32>(out, 0);
  for (let o: usize = 1; o < MAX_OWNERS; o++) store<u32>(out + (o << 2), atomic.load<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (o << 2)));
  for (let s: usize = 0; s < <usize>PCP_SLOTS; s++) {
    const cur = atomic.load<i64>(CTRL_BASE + PCP_OFF + s * PCP_STRIDE + PCP_PENDING);
    const owner = <u32>(cur >>> 32);
    if (owner != 0 && owner < MAX_OWNERS) store<u32>(out + (<usize>owner << 2), load<u32>(out + (<usize>owner << 2)) + <u32>cur);
  }
  let n: u32 = 0;
  for (let o: usize = 1; o < MAX_OWNERS; o++) n += load<u32>(out + (o << 2));
  return n;
}
