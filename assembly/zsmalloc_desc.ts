// SPDX-License-Identifier: MIT
//
// zsmalloc_desc.ts: the slab of zspage descriptors: which 64-byte slots of
// the pool's zspage table are taken, the lowest free one for a new zspage,
// and the table frames given back when their last descriptor goes.
//
// It is not the descriptor (zsmalloc_layout.ts draws Zspage) nor the zspage
// it describes (zsmalloc_zspage.ts): it hands out and takes back ids.
//
// Key idea: one pool-wide allocator, lowest slot first, instead of a free
// list per class. A table leaf (one frame, 64 slots) starts with a DescLeaf
// header whose 64-bit mask says which slots are taken; the root's leaf-full
// bitmap (and a summary word per 32 of its words) finds the lowest leaf with
// room in a few loads. Taking the lowest free slot packs the live
// descriptors into the low leaves, so when compaction empties zspages the
// high leaves empty too, and a leaf whose last descriptor goes is freed at
// once: metadata frames come back as objects go (with per-class free lists
// they never did: 45 of 68 metadata frames of the density row were idle
// descriptor leaves).
//
// Guarantee: every slot is taken by at most one descriptor, and a leaf frame
// is freed only when no slot of it is taken. Trade-off: taking and giving
// back a descriptor takes the pool's grow lock (once per zspage built or
// freed, not per object).
//
// Concurrency: the leaf masks, the leaf-full bitmap and the table slots of
// zspage leaves change under the pool's grow lock only, with logged stores
// (robust.ts). A class hands descriptors over through two of its fields
// written inside that grow-lock section, so a Worker killed on either side
// of the section's commit points leaks nothing: SizeClass.spare (taken for
// the class, not yet in use; newZspage uses it first) and SizeClass.release
// (freed by the class, not yet given back; lockClass finishes it).
// Lock-free readers of the zspage table (zs_frame_info) may read a leaf
// that is freed under them: they validate what they read.
//
// See also: zsmalloc_layout.ts (Zspage, the table, POOL_LEAF_FULL),
// zsmalloc_zspage.ts (newZspage, freeZspage), zsmalloc_compact.ts
// (lockClass), zsmalloc_check.ts (checks the masks against the descriptors).

import { PAGE_SHIFT, OWNER_META, E_NOMEM } from "./common";
import { mutexLock, mutexUnlock, ustore32, ustore64, udeferFrameFree, LV_ALLOC } from "./robust";
import {
  Zspage, ZSPAGE_SHIFT, SizeClass, ZsPool, POOL_ZSPAGE_DIR, POOL_LEAF_FULL, POOL_LEAF_SUMMARY,
  LEAF_SUMMARY_WORDS, MAX_DESC_LEAVES, leafSlot, publishSlot, ensureLeafLocked, tableEntry,
} from "./zsmalloc_layout";

// ╒═══ DescLeaf (slot 0 of every zspage leaf) ═══════════════════════════════╕
// │ 0 used: u64 (bit s set = slot s taken; bit 0, this header, always set) │
// ╘═══════════════════════════════════════════════════════════════════════════╛
@unmanaged export class DescLeaf {
  /** Slots taken (bit 0 is the header itself). */
  used: u64;
}

/** log2 of the slots in a leaf (64). */
// @ts-ignore: decorator
@inline export const LEAF_SLOTS_SHIFT: u32 = PAGE_SHIFT - ZSPAGE_SHIFT;
/** DescLeaf.used of a leaf with no descriptor. */
// @ts-ignore: decorator
@inline export const LEAF_EMPTY: u64 = 1;
/** DescLeaf.used of a full leaf. */
// @ts-ignore: decorator
@inline export const LEAF_FULL: u64 = 0xFFFFFFFFFFFFFFFF;
/** Slot pairs start at even slots: the mask of those starts. */
// @ts-ignore: decorator
@inline const EVEN_SLOTS: u64 = 0x5555555555555555;
if ((1 << LEAF_SLOTS_SHIFT) != 64) ERROR("a zspage leaf has 64 slots (DescLeaf.used is a u64)");

/** Header of zspage leaf `leafNo`, or 0 when that leaf does not exist. */
// @ts-ignore: decorator
@inline export function leafHeader(root: usize, leafNo: u32): usize {
  return tableEntry(root + POOL_ZSPAGE_DIR, leafNo << LEAF_SLOTS_SHIFT, ZSPAGE_SHIFT);
}

/** Zspage ids below this may name a descriptor (a bound for walks). */
// @ts-ignore: decorator
@inline export function zspageIdLimit(root: usize): u32 {
  return atomic.load<u32>(root + offsetof<ZsPool>("descLeaves")) << LEAF_SLOTS_SHIFT;
}

// ══ Under the grow lock ══

/** Mark leaf `leafNo` full (true) or not in the leaf-full bitmap and its summary (logged). */
function setLeafFull(root: usize, leafNo: u32, full: bool): void {
  const wa = root + POOL_LEAF_FULL + (<usize>(leafNo >> 5) << 2);
  const bit = <u32>1 << (leafNo & 31);
  const old = load<u32>(wa);
  const w = full ? old | bit : old & ~bit;
  ustore32(wa, w);
  const sw = leafNo >> 10;
  const sa = root + POOL_LEAF_SUMMARY + (<usize>sw << 2);
  const sbit = <u32>1 << ((leafNo >> 5) & 31);
  const s = load<u32>(sa);
  const ns = w == 0xFFFFFFFF ? s | sbit : s & ~sbit;
  if (ns != s) ustore32(sa, ns);
}

/**
 * Take `n` (1 or 2: an aligned pair) free slots in leaf `leafNo`, making the
 * leaf when it does not exist and `mayMake`. Returns the id of the first
 * slot, 0 when the leaf has no such room (or does not exist and may not be
 * made), -E_NOMEM when it had to be made and a frame is short.
 */
function takeInLeaf(root: usize, leafNo: u32, n: u32, mayMake: bool): i32 {
  let hdr = leafHeader(root, leafNo);
  if (hdr == 0) {
    if (!mayMake) return 0;
    if (ensureLeafLocked(root, root + POOL_ZSPAGE_DIR, leafNo) < 0) return -E_NOMEM;
    hdr = leafHeader(root, leafNo);
    // A fresh zeroed leaf: its header says "empty" from here on (logged: a
    // rollback frees the frame anyway).
    ustore64(hdr, LEAF_EMPTY);
    const lim = root + offsetof<ZsPool>("descLeaves");
    if (load<u32>(lim) <= leafNo) ustore32(lim, leafNo + 1);
  }
  const used = load<u64>(hdr);
  const free = ~used;
  const cand = n == 1 ? free : free & (free >> 1) & EVEN_SLOTS;
  if (cand == 0) return 0;
  const s = <u32>ctz(cand);
  const nu = used | ((n == 1 ? <u64>1 : <u64>3) << s);
  ustore64(hdr, nu);
  if (nu == LEAF_FULL) setLeafFull(root, leafNo, true);
  const du = root + offsetof<ZsPool>("descUsed");
  ustore32(du, load<u32>(du) + n);
  const id = (leafNo << LEAF_SLOTS_SHIFT) | s;
  // A slot's old bytes may be a freed descriptor's or a pair's second half:
  // the state word says "not in use" and the geometry word records n.
  const za = hdr + (<usize>s << ZSPAGE_SHIFT);
  ustore64(za + offsetof<Zspage>("inuse"), 0);
  ustore32(za + offsetof<Zspage>("objs"), n << 24);
  return <i32>id;
}

/**
 * Take the lowest `n` free slots (1, or 2 aligned) of the pool's table, in
 * an existing leaf or a new one. Grow lock held. Returns the id, or -E_NOMEM
 * when no leaf has room and none can be made.
 */
function descTakeLocked(root: usize, n: u32): i32 {
  const r = descScan(root, n, true);
  // No frame for a new leaf: a higher existing one may still have room.
  return r == -E_NOMEM ? descScan(root, n, false) : r;
}

/** descTakeLocked's walk of the leaf-full bitmap, lowest leaf first; 0 = nothing found without making a leaf. */
function descScan(root: usize, n: u32, mayMake: bool): i32 {
  for (let sw: u32 = 0; sw < LEAF_SUMMARY_WORDS; sw++) {
    let words = ~load<u32>(root + POOL_LEAF_SUMMARY + (<usize>sw << 2));
    while (words != 0) {
      const w = (sw << 5) | <u32>ctz(words);
      words &= words - 1;
      let leaves = ~load<u32>(root + POOL_LEAF_FULL + (<usize>w << 2));
      while (leaves != 0) {
        const leafNo = (w << 5) | <u32>ctz(leaves);
        leaves &= leaves - 1;
        const r = takeInLeaf(root, leafNo, n, mayMake);
        if (r != 0) return r;   // an id, or -E_NOMEM
        // (n == 2 and the leaf has single free slots only, or a missing leaf
        // that may not be made: on to the next.)
      }
    }
  }
  return -E_NOMEM;
}

/** Give back the `n` slots from `id`; a leaf left empty is freed. Grow lock held. */
function descGiveLocked(root: usize, id: u32, n: u32): void {
  const leafNo = id >> LEAF_SLOTS_SHIFT;
  const hdr = leafHeader(root, leafNo);
  const used = load<u64>(hdr);
  const nu = used & ~((n == 1 ? <u64>1 : <u64>3) << (id & ((1 << LEAF_SLOTS_SHIFT) - 1)));
  if (used == LEAF_FULL) setLeafFull(root, leafNo, false);
  const du = root + offsetof<ZsPool>("descUsed");
  ustore32(du, load<u32>(du) - n);
  if (nu != LEAF_EMPTY) {
    ustore64(hdr, nu);
    return;
  }
  // The leaf's last descriptor: unpublish the leaf, free its frame at the
  // commit point (a rollback publishes it again, header untouched).
  const ls = leafSlot(root + POOL_ZSPAGE_DIR, leafNo);
  const leaf = atomic.load<u32>(ls);
  publishSlot(ls, 0);
  udeferFrameFree(leaf - 1, OWNER_META);
  const mf = root + offsetof<ZsPool>("metaFrames");
  ustore32(mf, atomic.load<u32>(mf) - 1);
}

// ══ Class hand-over (class lock held) ══

/**
 * A descriptor for a new zspage of class `cls`: its spare, else the lowest
 * free slots of the pool, taken under the grow lock (a commit point: the
 * class must be consistent when this is called). Clears the spare with a
 * logged class store, so a rollback of the caller's section gives it back
 * to the spare. Returns the id, or -E_NOMEM.
 */
export function takeDescriptor(root: usize, cls: usize): i32 {
  const sc = changetype<SizeClass>(cls);
  if (sc.spare == 0) {
    const lock = root + offsetof<ZsPool>("growLock");
    mutexLock(lock, LV_ALLOC);
    const r = descTakeLocked(root, sc.descSlots);
    // In the grow section: from its commit on, the class owns the slots.
    if (r > 0) ustore32(cls + offsetof<SizeClass>("spare"), <u32>r);
    mutexUnlock(lock);
    if (r < 0) return r;
  }
  const id = sc.spare;
  ustore32(cls + offsetof<SizeClass>("spare"), 0);
  return <i32>id;
}

/**
 * Give back to the pool the descriptor in class `cls`'s release field (set by
 * freeZspage), under the grow lock: a commit point, so the class must be
 * consistent when this is called. The field is cleared in the same grow
 * section; a Worker killed before that section commits leaves it set, and
 * the next class-lock holder calls this (lockClass).
 */
export function releaseDescriptor(root: usize, cls: usize): void {
  const sc = changetype<SizeClass>(cls);
  const id = sc.release;
  if (id == 0) return;
  const lock = root + offsetof<ZsPool>("growLock");
  mutexLock(lock, LV_ALLOC);
  descGiveLocked(root, id, sc.descSlots);
  ustore32(cls + offsetof<SizeClass>("release"), 0);
  mutexUnlock(lock);
}

/** Give back class `cls`'s spare descriptor, if it has one (compaction: an idle spare keeps its leaf). */
export function releaseSpare(root: usize, cls: usize): void {
  const sc = changetype<SizeClass>(cls);
  const id = sc.spare;
  if (id == 0 || sc.release != 0) return;
  ustore32(cls + offsetof<SizeClass>("release"), id);
  ustore32(cls + offsetof<SizeClass>("spare"), 0);
  releaseDescriptor(root, cls);
}
