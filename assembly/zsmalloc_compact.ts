// SPDX-License-Identifier: MIT
//
// zsmalloc_compact.ts: zs_compact, moving objects out of a size class's
// least used zspages so whole zspages empty and their frames go back.
//
// It is not a defragmenter across classes: an object stays in its class (a
// borrowed one in the class it borrowed), and a mapped (pinned) object stays
// where it is.
//
// Key idea: two steps per class. The kernel's: isolate the least used
// zspages the others' free slots can absorb, move their objects into the
// fullest. Ours on top: repack what is still partly used into full zspages
// plus one just long enough, so a class keeps less than a frame (plus tail)
// idle where the kernel keeps up to a chain. Objects are found by walking the
// class's handle chunks: objects carry no back-pointer to their handle.
//
// Guarantee: every object keeps its bytes and its handle; the repack needs a
// few fresh frames for a moment (fewer than it frees) and, when one is short,
// stops where it is with every list consistent.
//
// Concurrency: one class lock at a time, held for that class's whole pass;
// Workers allocating in other classes go on. The pass commits (robust.ts)
// after each isolated zspage and each moved object, with the isolated
// zspages chained from SizeClass.isolated: a Worker killed in the pass is
// rolled back to its last commit, and lockClass, which every class-lock
// holder uses, puts the chain back (putBackIsolated).
//
// See also: zsmalloc_zspage.ts, zsmalloc_handle.ts, zsmalloc.ts,
// ../test/zsmalloc.test.ts (repack and pinning tests).

import { PAGE_SHIFT, PAGE_SIZE, E_INVAL } from "./common";
import { mutexLock, mutexUnlock, ustore32, ucommit, LV_ALLOC } from "./robust";
import {
  ZS_NR_PARTIAL, fullnessGroup, ENTRY_ALLOC, HANDLE_CHUNK_SHIFT, ENTRY_SIZE_MASK, ENTRY_PIN_MASK,
  ENTRY_SLOT_SHIFT, ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT, HANDLE_ENTRY_SHIFT, makeWhere,
  ZSPAGE_ISOLATED, Zspage, zspageAddress, SizeClass, listHead, POOL_HANDLE_DIR, HANDLE_CHUNK,
  classAddress, tableEntry,
} from "./zsmalloc_layout";
import { poolRoot, pool_, class_, entry_, zspageAddr, zspageOf } from "./zsmalloc_handle";
import { releaseDescriptor, releaseSpare, zspageIdLimit } from "./zsmalloc_desc";
import {
  listInsert, listRemove, isListed, updateZspage, setZspageState, setZspageLinks, newZspage, allocSlot,
  freeSlot, freeZspage,
} from "./zsmalloc_zspage";

// ══ Compaction ══

/** Copy `len` bytes from byte `soff` of zspage `sa` to byte `doff` of zspage `da`. */
function copyObject(da: usize, doff: u32, sa: usize, soff: u32, len: u32): void {
  while (len > 0) {
    let n = len;
    const si = soff & (PAGE_SIZE - 1), di = doff & (PAGE_SIZE - 1);
    if (n > PAGE_SIZE - si) n = PAGE_SIZE - si;
    if (n > PAGE_SIZE - di) n = PAGE_SIZE - di;
    memory.copy(zspageAddress(da, doff), zspageAddress(sa, soff), n);
    len -= n;
    soff += n;
    doff += n;
  }
}

/**
 * Move object `e` (unpinned, in slot `slot` of the isolated zspage `srcId`)
 * into zspage `dstId` (listed, or the fresh tail zspage), which has a free
 * slot. Consistent when it returns (the caller's commit point): the entry
 * names the copy, both zspages' bitmaps and counts agree with it.
 */
function migrateObject(root: usize, cls: usize, e: usize, srcId: u32, slot: u32, dstId: u32): void {
  const sc = class_(cls);
  const da = zspageAddr(root, dstId);
  const dslot = allocSlot(da);
  updateZspage(root, cls, da, dstId, changetype<Zspage>(da).inuse + 1, dslot >> 5);
  const sa = zspageAddr(root, srcId);
  // The copy goes to a slot no entry names (a rollback leaves it unnamed).
  copyObject(da, dslot * sc.size, sa, slot * sc.size, (entry_(e).word1 & ENTRY_SIZE_MASK) + 1);
  ustore32(e, makeWhere(dstId, dslot));
  const hint = freeSlot(sa, slot);
  updateZspage(root, cls, sa, srcId, changetype<Zspage>(sa).inuse - 1, hint);
}

/** Take zspage `id` (listed under group `g`) off its list onto the class's isolated chain. */
function isolate(root: usize, cls: usize, id: u32, g: u32): void {
  const za = zspageAddr(root, id);
  const z = changetype<Zspage>(za);
  listRemove(root, cls, za, g);
  setZspageState(za, z.inuse, <u32>z.flags | ZSPAGE_ISOLATED, <u32>z.group, <u32>z.hint);
  setZspageLinks(za, class_(cls).isolated, 0);
  ustore32(cls + offsetof<SizeClass>("isolated"), id);
}

/**
 * Put every zspage of class `cls`'s isolated chain back: free the empty
 * ones, relist the others under the group their count says. One zspage per
 * commit point. Returns the frames freed. Run by compaction when its moves
 * are done, and by lockClass when a compacting Worker died past a commit
 * point (the chain is consistent at each of them): recovery by redo.
 */
export function putBackIsolated(root: usize, cls: usize): u32 {
  let freed: u32 = 0;
  const limit = zspageIdLimit(root);
  let id = class_(cls).isolated;
  for (let n: u32 = 0; id != 0 && n < limit; n++) {
    const za = zspageAddr(root, id);
    const z = changetype<Zspage>(za);
    const next = z.next;
    ustore32(cls + offsetof<SizeClass>("isolated"), next);
    if (z.inuse == 0) {
      freed += <u32>z.pages;
      freeZspage(cls, za, id);
      releaseDescriptor(root, cls);   // a commit point: the chain is consistent here
    } else {
      const g = fullnessGroup(z.inuse, <u32>z.objs, z.groupMul);
      setZspageState(za, z.inuse, <u32>z.flags & ~ZSPAGE_ISOLATED, g, <u32>z.hint);
      if (isListed(g)) listInsert(root, cls, za, id, g);
      else setZspageLinks(za, 0, 0);
    }
    ucommit();
    id = next;
  }
  return freed;
}

/**
 * Take class `cls`'s lock (lock-order level 6) and finish what a Worker that
 * died in it past a commit point left: a compaction's isolated chain
 * (putBackIsolated), a freed descriptor not given back (releaseDescriptor),
 * so every holder sees the class as consistent: its zspages listed by their
 * counts, every descriptor either in use, its spare or the pool's. One load
 * on the hot path (isolated and release share an aligned u64).
 */
// @ts-ignore: decorator
@inline export function lockClass(root: usize, cls: usize): void {
  mutexLock(cls, LV_ALLOC);
  if (load<u64>(cls + offsetof<SizeClass>("isolated")) != 0) finishClass(root, cls);
}

/** lockClass's slow path: a dead Worker's compaction put back, its released descriptor given back. */
function finishClass(root: usize, cls: usize): void {
  if (class_(cls).isolated != 0) putBackIsolated(root, cls);
  releaseDescriptor(root, cls);
}

/** Frames of the shortest zspage of class `sc` with a slot for each of `n` objects. */
// @ts-ignore: decorator
@inline function framesFor(sc: SizeClass, n: u32): u32 {
  return <u32>((<u64>n * sc.size + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/**
 * Move the `moving` unpinned objects of the class's isolated zspages
 * (SizeClass.isolated) out, then free the emptied zspages and put the rest (those
 * keeping pinned objects) back on their lists. With `repack` false each
 * object goes into the fullest listed zspage; with `repack` true into fresh
 * zspages built one at a time as the last one fills: full-length ones while
 * at least a full zspage of objects is left, then one just long enough for
 * the rest (when a frame is short, the objects not yet moved stay). Returns
 * frames freed minus frames built (may be negative when pinned objects keep
 * a zspage). The objects are found by walking the class's handle chunks
 * once: each chunk is a header and HANDLE_CHUNK - 1 entries.
 */
function moveIsolated(root: usize, cls: usize, c: u32, moving: u32, repack: bool): i64 {
  const sc = class_(cls);
  let built: u32 = 0;
  let cur: u32 = 0;
  let chunk = sc.chunks;
  while (chunk != 0 && moving != 0) {
    const base = tableEntry(root + POOL_HANDLE_DIR, (chunk - 1) << HANDLE_CHUNK_SHIFT, HANDLE_ENTRY_SHIFT);
    for (let i: u32 = 1; i < HANDLE_CHUNK; i++) {
      const e = base + (<usize>i << HANDLE_ENTRY_SHIFT);
      if ((entry_(e).word1 & ENTRY_ALLOC) == 0) continue;
      const w0 = atomic.load<u32>(e);
      if ((w0 & ENTRY_PIN_MASK) != 0) continue;   // mapped somewhere: leave it
      const id = w0 >> ENTRY_ZSPAGE_SHIFT;
      if ((<u32>zspageOf(root, id).flags & ZSPAGE_ISOLATED) == 0) continue;
      let to: u32;
      if (repack) {
        if (cur == 0 || zspageOf(root, cur).inuse >= <u32>zspageOf(root, cur).objs) {
          const k = moving >= sc.objs ? sc.pages : framesFor(sc, moving);
          const r = newZspage(root, cls, c, k);
          if (r < 0) { moving = 0; break; }
          cur = <u32>r;
          built += k;
        }
        to = cur;
      } else {
        const mask = sc.groupMask;
        if (mask == 0) { moving = 0; break; }
        to = load<u32>(listHead(cls, 31 - <u32>clz(mask)));
      }
      migrateObject(root, cls, e, id, (w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK, to);
      // A commit point between two objects: everything is consistent here
      // (the isolated chain included), and the undo log stays short.
      ucommit();
      moving--;
    }
    chunk = entry_(base).word0;
  }
  const freed = putBackIsolated(root, cls);
  return <i64>freed - built;
}

/**
 * Compact class `c` (its lock held); returns frames freed. Two steps:
 *
 * 1. The kernel's: isolate the least used zspages, as many as the other
 *    zspages' free slots can absorb, move their objects into the fullest
 *    ones, free the emptied zspages. It needs no frame, but stops when no
 *    single zspage can be emptied into the others (four half-full zspages).
 * 2. The repack (ours): when the partly used zspages left hold n objects in
 *    more frames than ⌊n / objs⌋ full zspages plus one zspage just long
 *    enough for the rest would take, move them all into such fresh zspages.
 *    The kernel keeps up to a whole chain per class idle; this keeps less
 *    than one frame plus the tail. It needs those frames for a moment (fewer
 *    than it frees); when one is short it stops where it is, consistent.
 */
export function compactClass(root: usize, cls: usize, c: u32): u32 {
  const sc = class_(cls);
  // Step 1. room: free slots outside the isolated zspages; moving: objects inside them.
  let room = sc.slots - sc.objUsed;
  let moving: u32 = 0;
  for (;;) {
    const mask = sc.groupMask;
    if (mask == 0) break;
    const g = <u32>ctz(mask);
    const id = load<u32>(listHead(cls, g));
    const z = zspageOf(root, id);
    const freeIn = <u32>z.objs - z.inuse;
    if (moving + z.inuse > room - freeIn) break;   // zs_can_compact: it could not be emptied
    moving += z.inuse;
    room -= freeIn;
    isolate(root, cls, id, g);
    ucommit();
  }
  let net: i64 = sc.isolated != 0 ? moveIsolated(root, cls, c, moving, false) : 0;
  // Step 2: the repack.
  if (sc.groupMask != 0) {
    let left: u32 = 0, frames: u32 = 0;
    for (let g: u32 = 1; g <= ZS_NR_PARTIAL; g++) {
      let id = load<u32>(listHead(cls, g));
      while (id != 0) {
        const z = zspageOf(root, id);
        left += z.inuse;
        frames += <u32>z.pages;
        id = z.next;
      }
    }
    const target = (left / sc.objs) * sc.pages + framesFor(sc, left % sc.objs);
    if (target < frames) {
      while (sc.groupMask != 0) {
        const g = <u32>ctz(sc.groupMask);
        isolate(root, cls, load<u32>(listHead(cls, g)), g);
        ucommit();
      }
      net += moveIsolated(root, cls, c, left, true);
    }
  }
  // Pinned objects may keep a zspage the repack meant to empty: then the
  // class can hold more frames than before, and reports none freed.
  const freed: u32 = net > 0 ? <u32>net : 0;
  ustore32(cls + offsetof<SizeClass>("compacted"), sc.compacted + freed);
  // An idle spare descriptor (a failed newZspage's) keeps its table leaf: give it back.
  releaseSpare(root, cls);
  return freed;
}

/**
 * zs_compact: in every class, move objects out of the least used zspages into
 * the fullest and free the emptied frames. Mapped (pinned) objects stay.
 * Returns the frames freed, or -E_INVAL for a bad pool. Thread safety: takes
 * each class lock in turn (one at a time).
 */
export function zs_compact(pool: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  let freed: u32 = 0;
  const n = pool_(root).nrClasses;
  for (let c: u32 = 0; c < n; c++) {
    const cls = classAddress(root, c);
    if (class_(cls).huge != 0) continue;
    lockClass(root, cls);
    freed += compactClass(root, cls, c);
    mutexUnlock(cls);
  }
  return <i32>freed;
}
