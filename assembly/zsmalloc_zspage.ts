// SPDX-License-Identifier: MIT
//
// zsmalloc_zspage.ts: zsmalloc's zspages: chains of frames built and freed
// for a size class, their free slots, and the fullness groups they are
// listed under.
//
// It is not the allocator's policy on which zspage an object goes to
// (zsmalloc.ts) nor compaction (zsmalloc_compact.ts); it keeps a class's
// zspages and lists consistent for them.
//
// Key idea: a zspage is a descriptor (zsmalloc_layout.ts Zspage, taken from
// the pool's descriptor slab, zsmalloc_desc.ts) naming 1 ..
// the class's full length of single frames; which of its slots are free is
// a bitmap in the descriptor, so taking and freeing a slot never touches an
// object. A class lists its partly used zspages under ten fullness groups
// (the kernel's ratio groups) and marks in the pool's room map whether it has
// any; a class holding few objects builds short chains (pagesForNewZspage),
// which is what lets a small pool pack as well as zbud.
//
// Guarantee: newZspage changes nothing when a frame is short (frames it took
// go back, the descriptor stays the class's spare); an empty zspage is freed
// at once (frames, and the descriptor once the caller releases it).
//
// Concurrency: everything here runs under the class lock of the zspage's
// class; the room map bits are set and cleared with atomics (classes share
// its words) and read lock-free by mallocBorrow.
//
// See also: zsmalloc_layout.ts (Zspage, SizeClass, fullness groups),
// zsmalloc.ts, zsmalloc_compact.ts.

import { PAGE_SHIFT, PAGE_SIZE, OWNER_ZSMALLOC, E_NOMEM } from "./common";
import { FrameMeta, frameAlloc, pfnToMeta } from "./frames";
import { ustore32, ustore64, ulogFrameAlloc, udeferFrameFree, ulogOpen, ulogPut32, ulogPut64, ulogClose, upark } from "./robust";
import {
  ZS_EMPTY, ZS_FULL, fullnessGroup, groupMulOf, ZSPAGE_INUSE, ZSPAGE_ISOLATED,
  Zspage, ZSPAGE_PAGES_OFF, zspageFrame, zspageBitmapBase, SizeClass, listHead,
  POOL_ROOM_MAP,
} from "./zsmalloc_layout";
import { class_, zspageAddr } from "./zsmalloc_handle";
import { takeDescriptor } from "./zsmalloc_desc";

// ══ Logged stores (class lock held) ══
//
// Every store below to a class, a listed or live zspage or a handle entry is
// a logged store (robust.ts), so a Worker killed under the class lock is
// rolled back to the last commit point. The fields written together sit in
// aligned 8-byte words (zsmalloc_layout.ts): one undo entry each.

/** Logged store of the zspage state word: inuse, flags, group, hint (cls kept). */
// @ts-ignore: decorator
@inline export function setZspageState(za: usize, inuse: u32, flags: u32, group: u32, hint: u32): void {
  const hi = <u32>load<u8>(za + offsetof<Zspage>("cls")) | (flags << 8) | (group << 16) | (hint << 24);
  ustore64(za + offsetof<Zspage>("inuse"), <u64>inuse | (<u64>hi << 32));
}

/** Logged store of a zspage's list links. */
// @ts-ignore: decorator
@inline export function setZspageLinks(za: usize, next: u32, prev: u32): void {
  ustore64(za, <u64>next | (<u64>prev << 32));
}

/** Logged store of the u32 class field at byte `off` of class `cls`. */
// @ts-ignore: decorator
@inline export function setClassField(cls: usize, off: usize, v: u32): void {
  ustore32(cls + off, v);
}

/** Logged store of a class's objUsed and objBytes. */
// @ts-ignore: decorator
@inline export function setClassObjects(cls: usize, used: u32, bytes: u32): void {
  ustore64(cls + offsetof<SizeClass>("objUsed"), <u64>used | (<u64>bytes << 32));
}

/** Logged store of a class's frames and slots. */
// @ts-ignore: decorator
@inline export function setClassFrames(cls: usize, frames: u32, slots: u32): void {
  ustore64(cls + offsetof<SizeClass>("frames"), <u64>frames | (<u64>slots << 32));
}

// ══ Fullness lists (class lock held) ══

export function listInsert(root: usize, cls: usize, za: usize, id: u32, g: u32): void {
  const head = listHead(cls, g);
  const old = load<u32>(head);
  setZspageLinks(za, old, 0);
  if (old != 0) ustore32(zspageAddr(root, old) + offsetof<Zspage>("prev"), id);
  ustore32(head, id);
  const mask = class_(cls).groupMask;
  // The room map is a hint for borrowers, not rolled back (its words are
  // shared by 32 classes): a rollback may leave a bit set on a class without
  // room (mallocBorrow clears it under the lock) or clear on one with room
  // (not offered to borrowers until its lists empty and fill again).
  if (mask == 0) roomMapSet(root, <u32>changetype<Zspage>(za).cls);
  setClassField(cls, offsetof<SizeClass>("groupMask"), mask | (<u32>1 << g));
}

export function listRemove(root: usize, cls: usize, za: usize, g: u32): void {
  const zs = changetype<Zspage>(za);
  const next = zs.next, prev = zs.prev;
  if (prev != 0) ustore32(zspageAddr(root, prev) + offsetof<Zspage>("next"), next);
  else ustore32(listHead(cls, g), next);
  if (next != 0) ustore32(zspageAddr(root, next) + offsetof<Zspage>("prev"), prev);
  // A list that empties clears its groupMask bit, the last one the room bit.
  if (load<u32>(listHead(cls, g)) == 0) {
    const mask = class_(cls).groupMask & ~(<u32>1 << g);
    setClassField(cls, offsetof<SizeClass>("groupMask"), mask);
    if (mask == 0) roomMapClear(root, <u32>zs.cls);
  }
}

/** Mark class `c` as having room (a listed zspage) in the pool's room map. */
// @ts-ignore: decorator
@inline function roomMapSet(root: usize, c: u32): void {
  atomic.or<u32>(root + POOL_ROOM_MAP + (<usize>(c >> 5) << 2), <u32>1 << (c & 31));
}
/** Mark class `c` as having no room (its lock held, its groupMask 0). */
// @ts-ignore: decorator
@inline export function roomMapClear(root: usize, c: u32): void {
  atomic.and<u32>(root + POOL_ROOM_MAP + (<usize>(c >> 5) << 2), ~(<u32>1 << (c & 31)));
}

// @ts-ignore: decorator
@inline export function isListed(g: u32): bool {
  return g != ZS_EMPTY && g != ZS_FULL;
}

/**
 * Give zspage `id` (at `za`) `inuse` objects and bitmap hint `hint`, moving it
 * to the fullness list that count says (an isolated one stays unlisted): the
 * zspage's one state store plus, when its group changes, the list splices.
 */
// @ts-ignore: decorator
@inline export function updateZspage(root: usize, cls: usize, za: usize, id: u32, inuse: u32, hint: u32): void {
  const zs = changetype<Zspage>(za);
  const ng = fullnessGroup(inuse, <u32>zs.objs, zs.groupMul);
  const og = <u32>zs.group;
  const flags = <u32>zs.flags;
  if (ng != og && (flags & ZSPAGE_ISOLATED) == 0) {
    if (isListed(og) && isListed(ng)) { moveListed(root, cls, za, id, og, ng, inuse, hint); return; }
    if (isListed(og)) listRemove(root, cls, za, og);
    if (isListed(ng)) listInsert(root, cls, za, id, ng);
  }
  setZspageState(za, inuse, flags, ng, hint);
}

/**
 * updateZspage's common group change: zspage `id` (at `za`, listed under
 * `og`) moves to the list of `ng` (another partial group), with `inuse`
 * objects and bitmap hint `hint`. The same stores as listRemove, listInsert
 * and setZspageState (up to seven: the neighbours' links or the old head,
 * the zspage's links, the new list's old head's prev, the new head, the
 * group mask, the state word), logged as one batch (robust.ts ulogOpen).
 * Their words are distinct: the neighbours are on list og, the new list's
 * head on list ng. The room map does not change (the class has a listed
 * zspage before and after).
 */
function moveListed(root: usize, cls: usize, za: usize, id: u32, og: u32, ng: u32, inuse: u32, hint: u32): void {
  const zs = changetype<Zspage>(za);
  const next = zs.next, prev = zs.prev;
  const r1 = prev != 0 ? zspageAddr(root, prev) + offsetof<Zspage>("next") : listHead(cls, og);
  const r2 = next != 0 ? zspageAddr(root, next) + offsetof<Zspage>("prev") : 0;
  const hn = listHead(cls, ng);
  const old = load<u32>(hn);
  const i2 = old != 0 ? zspageAddr(root, old) + offsetof<Zspage>("prev") : 0;
  const mask = class_(cls).groupMask;
  let nmask = mask | (<u32>1 << ng);
  if (prev == 0 && next == 0) nmask &= ~(<u32>1 << og);
  const maskAddr = cls + offsetof<SizeClass>("groupMask");
  const sa = za + offsetof<Zspage>("inuse");
  const state = <u64>inuse | (<u64>(<u32>zs.cls | (<u32>zs.flags << 8) | (ng << 16) | (hint << 24)) << 32);
  const k: u32 = 4 + (r2 != 0 ? 1 : 0) + (i2 != 0 ? 1 : 0) + (nmask != mask ? 1 : 0);
  const b = ulogOpen(k);
  if (b != 0) {
    let i: u32 = 0;
    ulogPut32(b, i++, r1);
    if (r2 != 0) ulogPut32(b, i++, r2);
    ulogPut64(b, i++, za);
    if (i2 != 0) ulogPut32(b, i++, i2);
    ulogPut32(b, i++, hn);
    if (nmask != mask) ulogPut32(b, i++, maskAddr);
    ulogPut64(b, i++, sa);
    ulogClose(b, k);
  }
  upark(); store<u32>(r1, next);
  if (r2 != 0) { upark(); store<u32>(r2, prev); }
  upark(); store<u64>(za, <u64>old);
  if (i2 != 0) { upark(); store<u32>(i2, id); }
  upark(); store<u32>(hn, id);
  if (nmask != mask) { upark(); store<u32>(maskAddr, nmask); }
  upark(); store<u64>(sa, state);
}

// ══ Building and freeing zspages (class lock held) ══

/**
 * Frames for the next zspage of class `sc` (no listed zspage has room). While
 * its objects fill less than a full-length zspage, a short chain: of the
 * lengths 1 .. the frames its objects would fill with one more, the one that
 * wastes the least tail per frame, so a class of 3 objects costs a frame or
 * two, not eight, and never keeps more slots idle than it fills. From then on
 * the class's full length (the kernel's least-waste rule). The bound trades
 * idle slots (a longer chain) against tail waste (short chains pack worse:
 * 1504-byte slots waste 1088 bytes of one frame, 256 of three); twice as long
 * held fewer pages in small zcache pools (test/zsmalloc-small-memory).
 */
export function pagesForNewZspage(sc: SizeClass): u32 {
  const full = sc.pages;
  const size = sc.size;
  const grow = <u32>((<u64>(sc.objUsed + 1) * size + PAGE_SIZE - 1) >> PAGE_SHIFT);
  if (grow >= full) return full;
  let best: u32 = 1;
  let bestWaste: u32 = PAGE_SIZE % size;
  for (let j: u32 = 2; j <= grow; j++) {
    const waste = (j << PAGE_SHIFT) % size;
    // waste / j < bestWaste / best, without a division
    if (waste * best < bestWaste * j) { best = j; bestWaste = waste; }
  }
  return best;
}

/**
 * Build a new zspage of `pages` frames (1 .. the class's full length) for
 * class `c`: its frames, its descriptor with every slot free. Returns its id,
 * or -E_NOMEM with nothing changed (but perhaps a refilled descriptor list).
 */
export function newZspage(root: usize, cls: usize, c: u32, pages: u32): i32 {
  const sc = class_(cls);
  const d = takeDescriptor(root, cls);
  if (d < 0) return d;
  const id = <u32>d;
  const za = zspageAddr(root, id);
  const zs = changetype<Zspage>(za);
  for (let p: u32 = 0; p < pages; p++) {
    const r = frameAlloc(OWNER_ZSMALLOC);
    if (r < 0) {
      // Logged as allocated: freed at the next commit point, or by a rollback.
      for (let q: u32 = 0; q < p; q++) udeferFrameFree(zspageFrame(za, q), OWNER_ZSMALLOC);
      ustore32(cls + offsetof<SizeClass>("spare"), id);   // the class keeps the descriptor
      return -E_NOMEM;
    }
    ulogFrameAlloc(<u32>r, OWNER_ZSMALLOC);
    store<u32>(za + ZSPAGE_PAGES_OFF + (<usize>p << 2), <u32>r);
    const meta = changetype<FrameMeta>(pfnToMeta(<u32>r));
    meta.priv0 = id;
    meta.priv1 = p;
  }
  // The descriptor is not in use (flags 0) until the logged stores below and
  // no one else reaches it (the class owns it, it is on no list), so its
  // frame list, geometry and bitmap are plain stores.
  const objs = (pages << PAGE_SHIFT) / sc.size;
  zs.objs = <u16>objs;
  zs.pages = <u8>pages;
  zs.groupMul = groupMulOf(objs);
  const bm = zspageBitmapBase(za);
  const words = (objs + 31) >> 5;
  for (let w: u32 = 0; w < words; w++) {
    const first = w << 5;
    store<u32>(bm + (<usize>w << 2), objs >= first + 32 ? 0xFFFFFFFF : (<u32>1 << (objs - first)) - 1);
  }
  store<u8>(za + offsetof<Zspage>("cls"), <u8>c);
  setZspageLinks(za, 0, 0);
  setZspageState(za, 0, ZSPAGE_INUSE, ZS_EMPTY, 0);
  setClassField(cls, offsetof<SizeClass>("zspages"), sc.zspages + 1);
  setClassFrames(cls, sc.frames + pages, sc.slots + objs);
  return <i32>id;
}

/**
 * Take the lowest free slot of a zspage that has one (a logged bitmap
 * store). The new hint is the slot's word (slot >> 5): the caller stores it
 * with the state word (updateZspage).
 */
// @ts-ignore: decorator
@inline export function allocSlot(za: usize): u32 {
  const zs = changetype<Zspage>(za);
  const bm = zspageBitmapBase(za);
  const last = (<u32>zs.objs - 1) >> 5;
  let w = <u32>zs.hint;
  let bits = load<u32>(bm + (<usize>w << 2));
  while (bits == 0 && w < last) { w++; bits = load<u32>(bm + (<usize>w << 2)); }
  ustore32(bm + (<usize>w << 2), bits & (bits - 1));
  return (w << 5) | <u32>ctz(bits);
}

/** Mark slot `slot` of a zspage free (a logged bitmap store); returns the new hint. */
// @ts-ignore: decorator
@inline export function freeSlot(za: usize, slot: u32): u32 {
  const w = slot >> 5;
  const p = zspageBitmapBase(za) + (<usize>w << 2);
  ustore32(p, load<u32>(p) | (<u32>1 << (slot & 31)));
  const hint = <u32>changetype<Zspage>(za).hint;
  return w < hint ? w : hint;
}

/**
 * Free an empty, unlisted zspage: its frames at the next commit point
 * (udeferFrameFree: a rollback restores a descriptor that names them), its
 * descriptor into the class's release field: the caller gives it back to
 * the pool (releaseDescriptor) once the class is consistent.
 */
export function freeZspage(cls: usize, za: usize, id: u32): void {
  const sc = class_(cls);
  const zs = changetype<Zspage>(za);
  const pages = <u32>zs.pages;
  for (let p: u32 = 0; p < pages; p++) udeferFrameFree(zspageFrame(za, p), OWNER_ZSMALLOC);
  setZspageState(za, 0, 0, ZS_EMPTY, 0);
  setZspageLinks(za, 0, 0);
  setClassField(cls, offsetof<SizeClass>("release"), id);
  setClassField(cls, offsetof<SizeClass>("zspages"), sc.zspages - 1);
  setClassFrames(cls, sc.frames - pages, sc.slots - <u32>zs.objs);
}
