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
// Workers allocating in other classes go on.
//
// See also: zsmalloc_zspage.ts, zsmalloc_handle.ts, zsmalloc.ts,
// ../test/zsmalloc.test.ts (repack and pinning tests).

import { PAGE_SHIFT, PAGE_SIZE, E_INVAL } from "./common";
import { mutexLock, mutexUnlock } from "./robust";
import {
  ZS_NR_PARTIAL, fullnessGroup, ENTRY_ALLOC, HANDLE_CHUNK_SHIFT, ENTRY_SIZE_MASK, ENTRY_PIN_MASK,
  ENTRY_SLOT_SHIFT, ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT, HANDLE_ENTRY_SHIFT, makeWhere,
  ZSPAGE_ISOLATED, Zspage, zspageAddress, SizeClass, listHead, POOL_HANDLE_DIR, HANDLE_CHUNK,
  classAddress, tableEntry,
} from "./zsmalloc_layout";
import { poolRoot, pool_, class_, entry_, zspageAddr, zspageOf } from "./zsmalloc_handle";
import {
  listInsert, listRemove, isListed, regroup, newZspage, allocSlot, freeSlot, freeZspage,
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
 * into zspage `dstId` (listed, or the fresh tail zspage), which has a free slot.
 */
function migrateObject(root: usize, cls: usize, e: usize, srcId: u32, slot: u32, dstId: u32): void {
  const sc = class_(cls);
  const da = zspageAddr(root, dstId);
  const dslot = allocSlot(da);
  const dst = changetype<Zspage>(da);
  dst.inuse++;
  regroup(root, cls, dst, dstId);
  const sa = zspageAddr(root, srcId);
  copyObject(da, dslot * sc.size, sa, slot * sc.size, (entry_(e).word1 & ENTRY_SIZE_MASK) + 1);
  atomic.store<u32>(e, makeWhere(dstId, dslot));
  freeSlot(sa, slot);
  const src = changetype<Zspage>(sa);
  src.inuse--;
  regroup(root, cls, src, srcId);
}

/** Take zspage `id` (listed under group `g`) off its list onto the isolated chain headed by `isolated`; returns the new head. */
function isolate(root: usize, cls: usize, id: u32, g: u32, isolated: u32): u32 {
  const z = zspageOf(root, id);
  listRemove(root, cls, z, g);
  z.flags |= <u8>ZSPAGE_ISOLATED;
  z.next = isolated;
  return id;
}

/** Frames of the shortest zspage of class `sc` with a slot for each of `n` objects. */
// @ts-ignore: decorator
@inline function framesFor(sc: SizeClass, n: u32): u32 {
  return <u32>((<u64>n * sc.size + PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/**
 * Move the `moving` unpinned objects of the isolated zspages (chain at
 * `isolated`) out, then free the emptied zspages and put the rest (those
 * keeping pinned objects) back on their lists. With `repack` false each
 * object goes into the fullest listed zspage; with `repack` true into fresh
 * zspages built one at a time as the last one fills: full-length ones while
 * at least a full zspage of objects is left, then one just long enough for
 * the rest (when a frame is short, the objects not yet moved stay). Returns
 * frames freed minus frames built (may be negative when pinned objects keep
 * a zspage). The objects are found by walking the class's handle chunks
 * once: each chunk is a header and HANDLE_CHUNK - 1 entries.
 */
function moveIsolated(root: usize, cls: usize, c: u32, isolated: u32, moving: u32, repack: bool): i64 {
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
      moving--;
    }
    chunk = entry_(base).word0;
  }
  let freed: u32 = 0;
  while (isolated != 0) {
    const za = zspageAddr(root, isolated);
    const z = changetype<Zspage>(za);
    const next = z.next;
    if (z.inuse == 0) {
      freed += <u32>z.pages;
      freeZspage(cls, za, isolated);
    } else {
      z.flags &= ~<u8>ZSPAGE_ISOLATED;
      const g = fullnessGroup(z.inuse, <u32>z.objs, z.groupMul);
      z.group = <u8>g;
      if (isListed(g)) listInsert(root, cls, z, isolated, g);
    }
    isolated = next;
  }
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
  let isolated: u32 = 0;
  for (;;) {
    const mask = sc.groupMask;
    if (mask == 0) break;
    const g = <u32>ctz(mask);
    const id = load<u32>(listHead(cls, g));
    const z = zspageOf(root, id);
    const freeIn = <u32>z.objs - z.inuse;
    if (moving + z.inuse > room - freeIn) break;   // zs_can_compact: it could not be emptied
    isolated = isolate(root, cls, id, g, isolated);
    moving += z.inuse;
    room -= freeIn;
  }
  let net: i64 = isolated != 0 ? moveIsolated(root, cls, c, isolated, moving, false) : 0;
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
      isolated = 0;
      while (sc.groupMask != 0) {
        const g = <u32>ctz(sc.groupMask);
        isolated = isolate(root, cls, load<u32>(listHead(cls, g)), g, isolated);
      }
      net += moveIsolated(root, cls, c, isolated, left, true);
    }
  }
  // Pinned objects may keep a zspage the repack meant to empty: then the
  // class can hold more frames than before, and reports none freed.
  const freed: u32 = net > 0 ? <u32>net : 0;
  sc.compacted += freed;
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
    mutexLock(cls);
    freed += compactClass(root, cls, c);
    mutexUnlock(cls);
  }
  return <i32>freed;
}
