// SPDX-License-Identifier: MIT
//
// zsmalloc_stats.ts: what a zsmalloc pool reports: its totals, each size
// class's row of the kernel's debugfs `classes` table, an object's size, and
// what a frame holds (for a memory map).
//
// It is not accounting: the counters live in SizeClass and are kept by the
// allocator; this only reads them out in the layouts the TypeScript driver
// decodes (src/zpool/drivers/zsmalloc.ts).
//
// Key idea: totals are summed over the classes at the time of the call, so
// nothing pool-wide is written on the hot paths.
//
// Guarantee: a bad pool or class is -E_INVAL with nothing written but the
// zero-filled output block.
//
// Concurrency: zs_class_stats takes the class lock (its fullness counts walk
// the lists); the others are lock-free snapshots: each counter exact, the set
// not atomic.
//
// See also: zsmalloc_layout.ts (SizeClass), ../src/zpool/drivers/zsmalloc.ts.

import { PAGE_SIZE, OWNER_ZSMALLOC, E_INVAL, nrFrames } from "./common";
import { FrameMeta, pfnToMeta } from "./frames";
import { mutexUnlock } from "./robust";
import { lockClass } from "./zsmalloc_compact";
import {
  ZS_MAX_ALLOC_SIZE, ZS_MAX_CHAIN, ZS_NR_PARTIAL, ENTRY_SIZE_MASK, HandleEntry, HUGE_MARK, Zspage,
  ZSPAGE_SHIFT, ZSPAGE_SLOT_WORDS, ZSPAGE_PAGES_OFF, zspageFrame, listHead, ZsPool, POOL_ZSPAGE_DIR, classAddress, tableEntry,
} from "./zsmalloc_layout";
import { poolRoot, pool_, class_, zspageOf, classIndexOf, lookupHandle } from "./zsmalloc_handle";

/** u32 words zs_class_stats writes. */
// @ts-ignore: decorator
@inline const ZS_CLASS_STAT_WORDS: u32 = 24;
/** u32 words zs_pool_stats writes. */
// @ts-ignore: decorator
@inline const ZS_POOL_STAT_WORDS: u32 = 12;

// ══ Objects and frames ══

/**
 * What frame `pfn` holds for pool `pool`, for a memory map: the class slot
 * size in bytes << 8 | how full its zspage is in percent (0..100). A huge
 * object's frame is 4096 << 8 | 100. Returns -E_INVAL when the frame is not a
 * frame of one of this pool's zspages. Reads without the class lock: a
 * snapshot for display, exact only when no Worker changes the class meanwhile.
 */
export function zs_frame_info(pool: u32, pfn: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0 || pfn >= nrFrames) return -E_INVAL;
  const meta = changetype<FrameMeta>(pfnToMeta(pfn));
  if (atomic.load<u32>(changetype<usize>(meta) + offsetof<FrameMeta>("owner")) != OWNER_ZSMALLOC) return -E_INVAL;
  const id = meta.priv0;
  if (id == HUGE_MARK) return <i32>((PAGE_SIZE << 8) | 100);
  const p = meta.priv1;
  if (id == 0 || p >= ZS_MAX_CHAIN) return -E_INVAL;
  const za = tableEntry(root + POOL_ZSPAGE_DIR, id, ZSPAGE_SHIFT);
  // The leaf may be freed and reused under this lock-free read: stay inside
  // the descriptor's own slots (the frame list of a pair reaches into its second).
  if (za == 0 || (id & 1) != 0 && p >= ZSPAGE_SLOT_WORDS - <u32>(ZSPAGE_PAGES_OFF >> 2)) return -E_INVAL;
  if (zspageFrame(za, p) != pfn) return -E_INVAL;
  const zs = changetype<Zspage>(za);
  if (<u32>zs.cls >= pool_(root).nrClasses) return -E_INVAL;
  const sc = class_(classAddress(root, zs.cls));
  const objs: u32 = zs.objs == 0 ? 1 : <u32>zs.objs;
  const fill: u32 = zs.inuse >= objs ? 100 : (zs.inuse * 100) / objs;
  return <i32>((sc.size << 8) | fill);
}

/** zs_obj_size: the size `handle` was allocated with, or -E_INVAL. */
export function zs_obj_size(pool: u32, handle: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  const e = lookupHandle(root, handle);
  if (e == 0) return -E_INVAL;
  return <i32>(atomic.load<u32>(e + offsetof<HandleEntry>("word1")) & ENTRY_SIZE_MASK) + 1;
}

// ══ Statistics ══

/** zs_get_total_pages: frames holding objects (not metadata), or -E_INVAL. Lock-free snapshot. */
export function zs_get_total_pages(pool: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  let pages: u32 = 0;
  const n = pool_(root).nrClasses;
  for (let c: u32 = 0; c < n; c++) {
    const sc = class_(classAddress(root, c));
    pages += sc.frames;
  }
  return <i32>pages;
}

/** Number of kept size classes of the pool (huge included), or -E_INVAL. */
export function zs_class_count(pool: u32): i32 {
  const root = poolRoot(pool);
  return root == 0 ? -E_INVAL : <i32>pool_(root).nrClasses;
}

/** zs_huge_class_size: the smallest payload stored as a huge object, or -E_INVAL. */
export function zs_huge_class_size(pool: u32): i32 {
  const root = poolRoot(pool);
  return root == 0 ? -E_INVAL : <i32>pool_(root).hugeMin;
}

/** zs_lookup_class_index: kept class of a `size`-byte object, or -E_INVAL. */
export function zs_lookup_class_index(pool: u32, size: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0 || size == 0 || size > ZS_MAX_ALLOC_SIZE) return -E_INVAL;
  return <i32>classIndexOf(root, size);
}

/**
 * Write class `c`'s statistics (the kernel's debugfs `classes` row) as
 * ZS_CLASS_STAT_WORDS u32 at `out`: [0] size, [1] objs_per_zspage,
 * [2] pages_per_zspage, [3] huge, [4] obj_allocated, [5] obj_used,
 * [6] pages_used, [7] freeable (pages), [8] pages_compacted, [9] payload bytes,
 * [10..19] zspages in fullness groups 1..10 (0-10 % ... 90-99 %), [20] full
 * zspages, [21] zspages. Takes the class lock. Returns 0 or -E_INVAL.
 */
export function zs_class_stats(pool: u32, c: u32, out: usize): i32 {
  const root = poolRoot(pool);
  if (root == 0 || c >= pool_(root).nrClasses) return -E_INVAL;
  const cls = classAddress(root, c);
  const sc = class_(cls);
  memory.fill(out, 0, ZS_CLASS_STAT_WORDS << 2);
  lockClass(root, cls);
  const allocated = sc.slots;
  store<u32>(out, sc.size);
  store<u32>(out, sc.objs, 4);
  store<u32>(out, sc.pages, 8);
  store<u32>(out, sc.huge, 12);
  store<u32>(out, allocated, 16);
  store<u32>(out, sc.objUsed, 20);
  store<u32>(out, sc.frames, 24);
  store<u32>(out, ((allocated - sc.objUsed) / sc.objs) * sc.pages, 28);
  store<u32>(out, sc.compacted, 32);
  store<u32>(out, sc.objBytes, 36);
  let partial: u32 = 0;
  for (let g: u32 = 1; g <= ZS_NR_PARTIAL; g++) {
    let count: u32 = 0;
    let id = load<u32>(listHead(cls, g));
    while (id != 0) { count++; id = zspageOf(root, id).next; }
    store<u32>(out + (<usize>(9 + g) << 2), count);
    partial += count;
  }
  store<u32>(out, sc.zspages - partial, 80);
  store<u32>(out, sc.zspages, 84);
  mutexUnlock(cls);
  return 0;
}

/**
 * Write pool totals as ZS_POOL_STAT_WORDS u32 at `out`: [0] object frames,
 * [1] metadata frames, [2] objects, [3] payload bytes, [4] classes,
 * [5] max pages per zspage, [6] huge class size, [7] handle slots made,
 * [8] zspage table slots in use (64 bytes each: descriptors, pairs' second
 * slots, spares), [9] huge objects, [10] pages compacted.
 * A lock-free snapshot. Returns 0 or -E_INVAL.
 */
export function zs_pool_stats(pool: u32, out: usize): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  const p = pool_(root);
  let pages: u32 = 0, objects: u32 = 0, bytes: u32 = 0, huge: u32 = 0, compacted: u32 = 0;
  for (let c: u32 = 0; c < p.nrClasses; c++) {
    const sc = class_(classAddress(root, c));
    pages += sc.frames;
    objects += sc.objUsed;
    bytes += sc.objBytes;
    compacted += sc.compacted;
    if (sc.huge != 0) huge += sc.objUsed;
  }
  memory.fill(out, 0, ZS_POOL_STAT_WORDS << 2);
  store<u32>(out, pages);
  store<u32>(out, atomic.load<u32>(root + offsetof<ZsPool>("metaFrames")), 4);
  store<u32>(out, objects, 8);
  store<u32>(out, bytes, 12);
  store<u32>(out, p.nrClasses, 16);
  store<u32>(out, p.maxPages, 20);
  store<u32>(out, p.hugeMin, 24);
  store<u32>(out, atomic.load<u32>(root + offsetof<ZsPool>("handleBrk")), 28);
  store<u32>(out, atomic.load<u32>(root + offsetof<ZsPool>("descUsed")), 32);
  store<u32>(out, huge, 36);
  store<u32>(out, compacted, 40);
  return 0;
}
