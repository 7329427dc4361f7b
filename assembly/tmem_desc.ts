// SPDX-License-Identifier: MIT
//
// tmem_desc.ts: the page-descriptor slab. It holds 64-byte PageDescs carved
// from OWNER_TMEM frames, a global lock-free free stack, a small per-Worker
// cache in front of it, and the reap that gives wholly free descriptor
// frames back to the frame allocator.
//
// It is not the index: it only hands descriptors out and takes them back.
// Linking them into chains and LRUs is tmem.ts's and tmem_lru.ts's job.
//
// Key idea: a tagged stack (tag << 32 | top, as in frames.ts) that Workers
// CAS on in batches of CACHE_BATCH, so the put and removal paths touch only
// this Worker's cache. A free inside a critical section goes to the cache
// through logged stores, so a rollback takes it back. A CAS on the shared
// stack cannot be undone, so it happens only outside locks (descTrim,
// cacheGive).
//
// Guarantees: a descriptor is on at most one free list. A dead Worker's
// cache, its put in flight and its reap in flight are recovered by
// tmem_reclaim.ts (cacheGive(whole), stackPushChain, reapFinish). What a
// death in the stated windows can lose is at most one chain or one frame,
// never a double free. Trade-off: frames stay with the slab until a reap
// finds them wholly free, and a Worker's cache holds up to CACHE_MAX
// descriptors that others cannot use until it trims.
//
// Layout: PageDesc and TmemRoot.slabHead/descFrames are in tmem_layout.ts.
// The cache's words (head, count, put in flight, an unused word, reap chain,
// reap frame count) sit in the slot's robust area (robust.ts R_DESC_CACHE).
// A reap's tables sit in the slot's out area.
//
// Concurrency: descAlloc, descTrim and tmem_slab_reap are lock-free or
// try-locked and run with no lock held. descFree may run inside a stripe
// section. The reap lock (LV_TMEM_POOLS level) is only try-locked.
//
// See also: tmem.ts (the design essay), tmem_reclaim.ts, frames.ts,
// test/robust.test.ts (reaps killed mid-way).

import {
  PAGE_SIZE, OWNER_TMEM, E_BADMSG, nrFrames, framesBase, scratchBase, SCRATCH_ROBUST,
  pfnToAddress, addressToPfn, DEBUG,
} from "./common";
import { frameAlloc, frameFree, pfnToMeta } from "./frames";
import { mutexTryLock, mutexUnlock, ustore32, LV_TMEM_POOLS, R_DESC_CACHE } from "./robust";
import { TmemRoot, DESC_SIZE, DESCS_PER_FRAME, OUT_BYTES, root, desc, outBase, ready } from "./tmem_layout";

// ══ Descriptor slab (lock-free tagged stack + a per-Worker cache) ══
//
// The global free stack's head is one word every Worker would CAS on every
// put and every removal. Each Worker therefore keeps a small private cache
// (head and count in its slot's robust area, robust.ts R_DESC_CACHE, so a
// reclaim can hand a dead Worker's cache back: tmem_reclaim_slot): allocation
// pops the cache and refills it with up to CACHE_BATCH descriptors in ONE
// CAS (a carved fresh frame goes to the cache whole); a free pushes to the
// cache. A free inside a critical section (a removal under its stripe lock)
// pushes with logged stores, so a rollback takes it back out; a CAS on the
// global stack cannot be undone, so only descTrim, called after the locks
// are released, gives a cache above CACHE_MAX back to the global stack.
// Trade-off: a Worker's cache holds up to CACHE_MAX descriptors (plus what
// one operation frees) that others cannot use until it trims.

/** FrameMeta.priv1 of a frame carved into descriptors (OWNER_TMEM also owns the bucket table's frames). */
// @ts-ignore: decorator
@inline const DESC_FRAME_TAG: u32 = 0x44455343; // "DESC"

/** Whether address `a` lies in a frame carved into descriptors. */
export function isDescFrame(a: u32): bool {
  if (<usize>a < framesBase || <usize>a >= framesBase + (<usize>nrFrames << 12)) return false;
  const m = pfnToMeta(<u32>((<usize>a - framesBase) >> 12));
  return atomic.load<u32>(m) == OWNER_TMEM && load<u32>(m, 12) == DESC_FRAME_TAG;
}

/** Descriptors taken from the global stack per refill (one CAS). */
// @ts-ignore: decorator
@inline const CACHE_BATCH: u32 = 16;
/** A cache above this many is trimmed to half of it (descTrim). */
// @ts-ignore: decorator
@inline const CACHE_MAX: u32 = 64;

/** Address of this Worker's cache head (u32; the count follows it). */
// @ts-ignore: decorator
@inline export function cacheWords(): usize {
  return scratchBase + SCRATCH_ROBUST + R_DESC_CACHE;
}

/** Take one PageDesc; 0 when no frame is left. Lock-free; call it outside critical sections. */
export function descAlloc(): u32 {
  if (DEBUG) assert(scratchBase != 0); // tmem runs on attached instances only
  const cw = cacheWords();
  const cached = load<u32>(cw);
  if (cached != 0) {
    store<u32>(cw, load<u32>(<usize>cached));
    store<u32>(cw, load<u32>(cw, 4) - 1, 4);
    return cached;
  }
  const r = root();
  const head = changetype<usize>(r) + offsetof<TmemRoot>("slabHead");
  for (;;) {
    const old = atomic.load<i64>(head);
    const top = <u32>old;
    if (top == 0) {
      // Empty: carve a fresh frame; keep its first descriptor, cache the rest.
      const pfn = frameAlloc(OWNER_TMEM);
      if (pfn < 0) return 0;
      // Tagged as a descriptor frame (the bucket table's frames are OWNER_TMEM too): tmem_unpin checks it.
      store<u32>(pfnToMeta(<u32>pfn) + 12, DESC_FRAME_TAG);
      const base = <u32>pfnToAddress(<u32>pfn);
      for (let i: u32 = 1; i < DESCS_PER_FRAME - 1; i++) {
        store<u32>(<usize>(base + i * DESC_SIZE), base + (i + 1) * DESC_SIZE);
      }
      store<u32>(<usize>(base + (DESCS_PER_FRAME - 1) * DESC_SIZE), 0);
      store<u32>(cw, base + DESC_SIZE);
      store<u32>(cw, DESCS_PER_FRAME - 1, 4);
      atomic.add<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames"), 1);
      return base;
    }
    // Take top..last (up to CACHE_BATCH) in one CAS. The links read here are
    // consistent if the CAS succeeds: every push and pop bumps the tag.
    let last = top;
    let n: u32 = 1;
    while (n < CACHE_BATCH) {
      const nx = atomic.load<u32>(<usize>last);
      if (nx == 0) break;
      last = nx;
      n++;
    }
    const next = atomic.load<u32>(<usize>last);
    if (atomic.cmpxchg<i64>(head, old, (((old >>> 32) + 1) << 32) | <i64>next) == old) {
      if (n > 1) {
        store<u32>(<usize>last, 0);
        store<u32>(cw, load<u32>(<usize>top));
        store<u32>(cw, n - 1, 4);
      }
      return top;
    }
  }
  return 0; // unreachable
}

/**
 * Return a PageDesc to this Worker's cache. The caller has unlinked it
 * everywhere. Undoable inside a critical section (robust.ts).
 */
export function descFree(d: u32): void {
  if (DEBUG) assert((d & (DESC_SIZE - 1)) == 0 && desc(d).refs == 0); // a whole, unpinned descriptor
  const cw = cacheWords();
  ustore32(<usize>d, load<u32>(cw));
  ustore32(cw, d);
  ustore32(cw + 4, load<u32>(cw, 4) + 1);
}

/** Push the chain first..last (linked through word 0) onto the global free stack. */
export function stackPushChain(first: u32, last: u32): void {
  const head = changetype<usize>(root()) + offsetof<TmemRoot>("slabHead");
  for (;;) {
    const old = atomic.load<i64>(head);
    atomic.store<u32>(<usize>last, <u32>old);
    if (atomic.cmpxchg<i64>(head, old, (((old >>> 32) + 1) << 32) | <i64>first) == old) break;
  }
}

/**
 * Give the cache above CACHE_MAX / 2 back to the global stack when it holds
 * more than CACHE_MAX. Call with no lock held. The chain is cut from the cache
 * before it is pushed: a death in between leaks it rather than sharing it.
 */
export function descTrim(): void {
  const cw = cacheWords();
  const count = load<u32>(cw, 4);
  if (count > CACHE_MAX) cacheGive(cw, count - CACHE_MAX / 2, false);
}

/**
 * Cut the first `max` descriptors (fewer if the chain is shorter) off the
 * cache whose words are at `cw` and push them onto the global stack. The
 * chain is cut from the cache before it is pushed: a death in between leaks
 * it rather than sharing it. With `whole` (the cache is given back entirely:
 * a reap, a reclaim) a chain longer than every descriptor carved is corrupt:
 * the cache is emptied, nothing is pushed, and the result is -E_BADMSG.
 * Returns the number of descriptors given.
 */
export function cacheGive(cw: usize, max: u32, whole: bool): i32 {
  const first = load<u32>(cw);
  if (first == 0 || max == 0) return 0;
  const limit = whole ? atomic.load<u32>(changetype<usize>(root()) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME : max;
  let last = first;
  let k: u32 = 1;
  while (k < limit) {
    const nx = load<u32>(<usize>last);
    if (nx == 0) break;
    last = nx;
    k++;
  }
  const rest = load<u32>(<usize>last);
  if (whole && rest != 0) {
    store<u32>(cw, 0);
    store<u32>(cw, 0, 4);
    return -E_BADMSG;
  }
  store<u32>(cw, rest);
  store<u32>(cw, whole ? 0 : load<u32>(cw, 4) - k, 4);
  stackPushChain(first, last);
  return <i32>k;
}

/**
 * Give descriptor frames back to the frame allocator: every frame all of
 * whose DESCS_PER_FRAME descriptors are free on the global stack (this
 * Worker's cache is flushed there first; other Workers' caches keep their
 * frames). Any Worker, any time, with no lock held; one reap runs at a time
 * (a second returns 0 at once). Returns the frames freed.
 *
 * It takes the whole global stack in one CAS and counts its descriptors per
 * frame in a private table (this slot's out area, REAP_*); the frames found
 * wholly free are listed there too. Then it walks the chain, pushing back
 * every descriptor of a frame that stays, and only after the walk frees the
 * listed frames. The slot's robust-area words R_REAP_* say how far it got,
 * so a reclaim of a Worker that died in the middle finishes its reap
 * (tmem_reclaim_slot → reapFinish): nothing leaks but what a death between
 * the CAS and its record, or between a count and its free, can leak (one
 * chain; one frame).
 */
export function tmem_slab_reap(): i32 {
  if (!ready()) return 0;
  const r = root();
  const lock = changetype<usize>(r) + offsetof<TmemRoot>("reapLock");
  if (!mutexTryLock(lock, LV_TMEM_POOLS)) return 0;
  const freed = reap(r, cacheWords(), outBase());
  mutexUnlock(lock);
  return freed;
}

/** Out-area layout of a reap: a hash of (pfn + 1, count) pairs, then the list of frames to free. */
// @ts-ignore: decorator
@inline const REAP_SLOTS: u32 = 2048;
// @ts-ignore: decorator
@inline const REAP_MAX_FRAMES: u32 = 1536;
// @ts-ignore: decorator
@inline const REAP_LIST: usize = <usize>REAP_SLOTS * 8;
if (REAP_LIST + <usize>REAP_MAX_FRAMES * 4 > <usize>OUT_BYTES) ERROR("reap tables overflow the out area");
/** Robust-area words (after the descriptor cache's four): the chain still to push back, the frames listed to free. */
// @ts-ignore: decorator
@inline export const R_REAP_HEAD: usize = 16;
// @ts-ignore: decorator
@inline export const R_REAP_NFREE: usize = 20;

/** The hash slot of frame `pfn` in the reap table at `tab` (inserting it if `add`); -1 if absent or full. */
function reapSlot(tab: usize, pfn: u32, add: bool): i32 {
  let h = (pfn * 0x9e3779b1) >> 21; // 11 bits: REAP_SLOTS
  for (let i: u32 = 0; i < REAP_SLOTS; i++) {
    const e = tab + (<usize>((h + i) & (REAP_SLOTS - 1)) << 3);
    const k = load<u32>(e);
    if (k == pfn + 1) return <i32>((h + i) & (REAP_SLOTS - 1));
    if (k == 0) {
      if (!add) return -1;
      store<u32>(e, pfn + 1);
      store<u32>(e, 0, 4);
      return <i32>((h + i) & (REAP_SLOTS - 1));
    }
  }
  return -1;
}

function reap(r: TmemRoot, cw: usize, tab: usize): i32 {
  const head = changetype<usize>(r) + offsetof<TmemRoot>("slabHead");
  // This Worker's cache first: its descriptors may complete a frame.
  cacheGive(cw, 0xffffffff, true);
  memory.fill(tab, 0, REAP_LIST);
  store<u32>(cw, 0, R_REAP_NFREE);
  let old: i64 = 0;
  for (;;) {
    old = atomic.load<i64>(head);
    if (<u32>old == 0) return 0;
    if (atomic.cmpxchg<i64>(head, old, ((old >>> 32) + 1) << 32) == old) break;
  }
  const first = <u32>old;
  store<u32>(cw, first, R_REAP_HEAD);
  // Count free descriptors per frame (private table; frames past REAP_MAX_FRAMES are kept).
  const limit = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME;
  let frames: u32 = 0;
  let n: u32 = 0;
  for (let d = first; d != 0 && n < limit; d = load<u32>(<usize>d), n++) {
    const pfn = addressToPfn(<usize>d);
    let i = reapSlot(tab, pfn, false);
    if (i < 0 && frames < REAP_MAX_FRAMES) { i = reapSlot(tab, pfn, true); frames++; }
    if (i >= 0) store<u32>(tab + (<usize>i << 3), load<u32>(tab + (<usize>i << 3), 4) + 1, 4);
  }
  // List the wholly free frames; their count is published last.
  let nfree: u32 = 0;
  for (let i: u32 = 0; i < REAP_SLOTS; i++) {
    const e = tab + (<usize>i << 3);
    if (load<u32>(e) != 0 && load<u32>(e, 4) == DESCS_PER_FRAME) {
      store<u32>(tab + REAP_LIST + (<usize>nfree << 2), load<u32>(e) - 1);
      nfree++;
    }
  }
  store<u32>(cw, nfree, R_REAP_NFREE);
  return reapFinish(r, cw, tab);
}

/**
 * The rest of a reap (also run by a reclaim for a Worker that died in one):
 * walk the chain from R_REAP_HEAD, pushing back each descriptor whose frame
 * is not listed to free, then free the listed frames.
 */
export function reapFinish(r: TmemRoot, cw: usize, tab: usize): i32 {
  const nfree = load<u32>(cw, R_REAP_NFREE);
  const limit = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME;
  let d = load<u32>(cw, R_REAP_HEAD);
  for (let n: u32 = 0; d != 0 && n < limit; n++) {
    const next = load<u32>(<usize>d);
    // Progress first: a death after it loses at most this one descriptor, never pushes one twice.
    store<u32>(cw, next, R_REAP_HEAD);
    const i = reapSlot(tab, addressToPfn(<usize>d), false);
    if (i < 0 || load<u32>(tab + (<usize>i << 3), 4) != DESCS_PER_FRAME) stackPushChain(d, d);
    d = next;
  }
  store<u32>(cw, 0, R_REAP_HEAD);
  let freed: i32 = 0;
  for (let k = nfree; k > 0; k--) {
    const pfn = load<u32>(tab + REAP_LIST + (<usize>(k - 1) << 2));
    // The count first: a death in between leaks this frame, never frees it twice.
    store<u32>(cw, k - 1, R_REAP_NFREE);
    atomic.sub<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames"), 1);
    frameFree(pfn, OWNER_TMEM);
    freed++;
  }
  return freed;
}
