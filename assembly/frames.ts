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
// Guarantee: a frame is handed out to at most one caller until it is freed;
// a free of a frame that is not allocated (double free, forged pfn) returns
// -E_INVAL and changes nothing; running out returns -E_NOMEM, never a trap.
// Trade-off: no contiguous multi-frame allocations (zsmalloc does not need
// them), and a stack head that every Worker's alloc and free touch.
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
  nrFrames, metaBase, scratchBase, workerSlot, setInstanceLayout,
} from "./common";

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
  const ssize = load<u32>(c + CTRL_SCRATCH_SIZE_OFF);
  // Claim the lowest clear bit of the worker map.
  for (let slot: u32 = 0; slot < maxWorkers; slot++) {
    const word = c + CTRL_WORKER_MAP_OFF + ((slot >> 5) << 2);
    const bit: u32 = 1 << (slot & 31);
    const old = atomic.or<u32>(word, bit);
    if ((old & bit) == 0) {
      setInstanceLayout(load<u32>(c + CTRL_NFRAMES_OFF), load<u32>(c + CTRL_FRAMES_BASE_OFF),
        load<u32>(c + CTRL_META_BASE_OFF),
        <usize>load<u32>(c + CTRL_SCRATCH_BASE_OFF) + <usize>slot * <usize>ssize, ssize, <i32>slot, block);
      return <i32>slot;
    }
  }
  return -E_BUSY;
}

/** Release this instance's scratch slot. Returns 0, or -E_INVAL if not attached. */
export function pmDetach(): i32 {
  const slot = workerSlot;
  if (slot < 0) return -E_INVAL;
  const word = CTRL_BASE + CTRL_WORKER_MAP_OFF + ((<u32>slot >> 5) << 2);
  atomic.and<u32>(word, ~(<u32>1 << (<u32>slot & 31)));
  setInstanceLayout(0, 0, 0, 0, 0, -1, true);
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
  const head = CTRL_BASE + CTRL_FREE_HEAD_OFF;
  let pfn: u32 = 0;
  for (;;) {
    const old = atomic.load<i64>(head);
    const top = <u32>old;
    if (top == 0) {
      // Stack empty: take a never-used frame from above brk.
      const brkp = CTRL_BASE + CTRL_BRK_OFF;
      let b = atomic.load<u32>(brkp);
      while (b < nrFrames) {
        const seen = atomic.cmpxchg<u32>(brkp, b, b + 1);
        if (seen == b) break;
        b = seen;
      }
      if (b < nrFrames) { pfn = b; break; }
      // brk is exhausted; a free may have landed meanwhile.
      if (<u32>atomic.load<i64>(head) != 0) continue;
      return -E_NOMEM;
    }
    // A stale `next` (top popped and pushed again meanwhile) is caught by the tag.
    const next = atomic.load<u32>(pfnToMeta(top - 1) + offsetof<FrameMeta>("link"));
    const tag = (old >>> 32) + 1;
    if (atomic.cmpxchg<i64>(head, old, (tag << 32) | <i64>next) == old) { pfn = top - 1; break; }
  }
  const meta = pfnToMeta(pfn);
  atomic.store<u32>(meta + offsetof<FrameMeta>("owner"), owner);
  store<u32>(meta + offsetof<FrameMeta>("link"), 0);
  store<u32>(meta + offsetof<FrameMeta>("priv0"), 0);
  store<u32>(meta + offsetof<FrameMeta>("priv1"), 0);
  atomic.add<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>owner << 2), 1);
  atomic.add<u32>(CTRL_BASE + CTRL_NR_USED_OFF, 1);
  return <i32>pfn;
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
  atomic.sub<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>cur << 2), 1);
  atomic.sub<u32>(CTRL_BASE + CTRL_NR_USED_OFF, 1);
  const head = CTRL_BASE + CTRL_FREE_HEAD_OFF;
  for (;;) {
    const old = atomic.load<i64>(head);
    atomic.store<u32>(meta + offsetof<FrameMeta>("link"), <u32>old);
    const tag = (old >>> 32) + 1;
    if (atomic.cmpxchg<i64>(head, old, (tag << 32) | <i64>(pfn + 1)) == old) break;
  }
  return 0;
}

/** Owner tag of frame `pfn` (0 = free), or -E_INVAL if out of range. */
export function frameOwner(pfn: u32): i32 {
  if (pfn >= nrFrames) return -E_INVAL;
  return <i32>atomic.load<u32>(pfnToMeta(pfn) + offsetof<FrameMeta>("owner"));
}

/** Frames currently allocated (all owners). */
export function framesUsed(): u32 {
  return atomic.load<u32>(CTRL_BASE + CTRL_NR_USED_OFF);
}

/** Frames currently held by `owner`, 0 for a bad tag. */
export function framesOwned(owner: u32): u32 {
  if (owner >= MAX_OWNERS) return 0;
  return atomic.load<u32>(CTRL_BASE + CTRL_OWNER_FRAMES_OFF + (<usize>owner << 2));
}
