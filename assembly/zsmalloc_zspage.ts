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
// Key idea: a zspage is a descriptor (zsmalloc_layout.ts Zspage) naming 1 ..
// the class's full length of single frames; which of its slots are free is
// a bitmap in the descriptor, so taking and freeing a slot never touches an
// object. A class lists its partly used zspages under ten fullness groups
// (the kernel's ratio groups) and marks in the pool's room map whether it has
// any; a class holding few objects builds short chains (pagesForNewZspage),
// which is what lets a small pool pack as well as zbud.
//
// Guarantee: newZspage changes nothing when a frame is short (frames it took
// go back); an empty zspage is freed at once (frames and descriptor).
//
// Concurrency: everything here runs under the class lock of the zspage's
// class; the room map bits are set and cleared with atomics (classes share
// its words) and read lock-free by mallocBorrow.
//
// See also: zsmalloc_layout.ts (Zspage, SizeClass, fullness groups),
// zsmalloc.ts, zsmalloc_compact.ts.

import { PAGE_SHIFT, PAGE_SIZE, OWNER_ZSMALLOC, E_NOMEM } from "./common";
import { FrameMeta, frameAlloc, frameFree, pfnToMeta } from "./frames";
import {
  ZS_BITMAP_WORDS, ZS_EMPTY, ZS_FULL, fullnessGroup, groupMulOf, ZSPAGE_INUSE, ZSPAGE_ISOLATED,
  Zspage, ZSPAGE_SHIFT, ZSPAGE_PAGES_OFF, zspageFrame, zspageBitmap, SizeClass, listHead, ZsPool,
  POOL_ZSPAGE_DIR, POOL_ROOM_MAP, ZSPAGE_CHUNK, MAX_ZSPAGES, tableEnsure,
} from "./zsmalloc_layout";
import { class_, zspageAddr, zspageOf, takeChunk } from "./zsmalloc_handle";

// ══ Fullness lists (class lock held) ══

export function listInsert(root: usize, cls: usize, zs: Zspage, id: u32, g: u32): void {
  const head = listHead(cls, g);
  const old = load<u32>(head);
  zs.next = old;
  zs.prev = 0;
  if (old != 0) zspageOf(root, old).prev = id;
  store<u32>(head, id);
  const mask = class_(cls).groupMask;
  if (mask == 0) roomMapSet(root, <u32>zs.cls);
  class_(cls).groupMask = mask | (<u32>1 << g);
}

export function listRemove(root: usize, cls: usize, zs: Zspage, g: u32): void {
  const next = zs.next, prev = zs.prev;
  if (prev != 0) zspageOf(root, prev).next = next;
  else store<u32>(listHead(cls, g), next);
  if (next != 0) zspageOf(root, next).prev = prev;
  if (load<u32>(listHead(cls, g)) == 0) {
    const mask = class_(cls).groupMask & ~(<u32>1 << g);
    class_(cls).groupMask = mask;
    if (mask == 0) roomMapClear(root, <u32>zs.cls);
  }
}

/** Mark class `c` as having room (a listed zspage) in the pool's room map. */
// @ts-ignore: decorator
@inline function roomMapSet(root: usize, c: u32): void {
  atomic.or<u32>(root + POOL_ROOM_MAP + (<usize>(c >> 5) << 2), <u32>1 << (c & 31));
}
/** Mark class `c` as having no room. */
// @ts-ignore: decorator
@inline function roomMapClear(root: usize, c: u32): void {
  atomic.and<u32>(root + POOL_ROOM_MAP + (<usize>(c >> 5) << 2), ~(<u32>1 << (c & 31)));
}

// @ts-ignore: decorator
@inline export function isListed(g: u32): bool {
  return g != ZS_EMPTY && g != ZS_FULL;
}

/** Move zspage `id` to the fullness group its inuse count says (isolated ones stay unlisted). */
export function regroup(root: usize, cls: usize, zs: Zspage, id: u32): void {
  const ng = fullnessGroup(zs.inuse, <u32>zs.objs, zs.groupMul);
  const og = <u32>zs.group;
  if (ng == og) return;
  const listed = (<u32>zs.flags & ZSPAGE_ISOLATED) == 0;
  if (listed && isListed(og)) listRemove(root, cls, zs, og);
  zs.group = <u8>ng;
  if (listed && isListed(ng)) listInsert(root, cls, zs, id, ng);
}

/** Give class `cls` ZSPAGE_CHUNK fresh zspage descriptors. 0 or -E_NOMEM. */
export function refillZspages(root: usize, cls: usize): i32 {
  const start = takeChunk(root + offsetof<ZsPool>("zspageBrk"), ZSPAGE_CHUNK, MAX_ZSPAGES);
  if (start < 0) return -E_NOMEM;
  const s = <u32>start;   // >= 1: zspageBrk starts at 1 (id 0 ends lists)
  if (tableEnsure(root, root + POOL_ZSPAGE_DIR, s, ZSPAGE_SHIFT) < 0) return -E_NOMEM;
  const first: u32 = s;
  const end = s + ZSPAGE_CHUNK;
  for (let i = first; i < end; i++) {
    const z = zspageOf(root, i);
    z.next = i + 1 < end ? i + 1 : class_(cls).zspageFree;
    z.flags = 0;
  }
  class_(cls).zspageFree = first;
  return 0;
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
  if (sc.zspageFree == 0 && refillZspages(root, cls) < 0) return -E_NOMEM;
  const id = sc.zspageFree;
  const za = zspageAddr(root, id);
  const zs = changetype<Zspage>(za);
  for (let p: u32 = 0; p < pages; p++) {
    const r = frameAlloc(OWNER_ZSMALLOC);
    if (r < 0) {
      for (let q: u32 = 0; q < p; q++) frameFree(zspageFrame(za, q), OWNER_ZSMALLOC);
      return -E_NOMEM;
    }
    store<u32>(za + ZSPAGE_PAGES_OFF + (<usize>p << 2), <u32>r);
    const meta = changetype<FrameMeta>(pfnToMeta(<u32>r));
    meta.priv0 = id;
    meta.priv1 = p;
  }
  sc.zspageFree = zs.next;
  const objs = (pages << PAGE_SHIFT) / sc.size;
  for (let w: u32 = 0; w < ZS_BITMAP_WORDS; w++) {
    const first = w << 5;
    let bits: u32 = 0;
    if (objs >= first + 32) bits = 0xFFFFFFFF;
    else if (objs > first) bits = (<u32>1 << (objs - first)) - 1;
    store<u32>(zspageBitmap(za, w), bits);
  }
  zs.next = 0;
  zs.prev = 0;
  zs.inuse = 0;
  zs.cls = <u8>c;
  zs.flags = <u8>ZSPAGE_INUSE;
  zs.group = <u8>ZS_EMPTY;
  zs.hint = 0;
  zs.objs = <u16>objs;
  zs.pages = <u8>pages;
  zs.groupMul = groupMulOf(objs);
  sc.zspages++;
  sc.frames += pages;
  sc.slots += objs;
  return <i32>id;
}

/** Take the lowest free slot of a zspage that has one. */
// @ts-ignore: decorator
@inline export function allocSlot(za: usize): u32 {
  const zs = changetype<Zspage>(za);
  let w = <u32>zs.hint;
  let bits = load<u32>(zspageBitmap(za, w));
  while (bits == 0) { w++; bits = load<u32>(zspageBitmap(za, w)); }
  store<u32>(zspageBitmap(za, w), bits & (bits - 1));
  zs.hint = <u8>w;
  return (w << 5) | <u32>ctz(bits);
}

/** Mark slot `slot` of a zspage free. */
// @ts-ignore: decorator
@inline export function freeSlot(za: usize, slot: u32): void {
  const w = slot >> 5;
  const p = zspageBitmap(za, w);
  store<u32>(p, load<u32>(p) | (<u32>1 << (slot & 31)));
  const zs = changetype<Zspage>(za);
  if (w < <u32>zs.hint) zs.hint = <u8>w;
}

/** Free an empty, unlisted zspage's frames and recycle its descriptor. */
export function freeZspage(cls: usize, za: usize, id: u32): void {
  const sc = class_(cls);
  const zs = changetype<Zspage>(za);
  const pages = <u32>zs.pages;
  for (let p: u32 = 0; p < pages; p++) frameFree(zspageFrame(za, p), OWNER_ZSMALLOC);
  zs.flags = 0;
  zs.next = sc.zspageFree;
  sc.zspageFree = id;
  sc.zspages--;
  sc.frames -= pages;
  sc.slots -= <u32>zs.objs;
}
