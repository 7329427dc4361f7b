// SPDX-License-Identifier: MIT
//
// zsmalloc.ts: zsmalloc, the dense allocator for compressed pages, after the
// kernel's mm/zsmalloc.c: size classes of 16-byte steps, zspages chained from
// single non-contiguous page frames, objects that may straddle two frames,
// opaque handles, fullness groups and compaction.
//
// It is not a general-purpose malloc: objects are 1..4096 bytes, they are
// reached only through map/unmap, and an object that spans two frames is
// copied through a per-Worker buffer (SCRATCH_MAP) rather than mapped in place.
//
// Key idea: a size class packs objects of one slot size end to end over a
// zspage of k frames, k chosen (kernel's modern rule) to waste the fewest
// bytes, so objects of any size pack almost without loss; classes with the
// same (k, objects per zspage) are merged. An object is named by a handle, an
// index into a handle table that records where the object is, so compaction
// can move objects from the emptiest zspages into the fullest and give frames
// back, as zs_compact does. Compaction finds the owner of each object it moves
// by walking its class's handle chunks, so an object needs no back-pointer.
// Unlike the kernel, k is the class's full chain length, not every zspage's:
// a class that holds few objects builds short zspages (pagesForNewZspage)
// and first borrows free slots of a somewhat larger class (mallocBorrow), so
// a small pool does not keep a mostly empty 8-frame zspage per class; and
// compaction, after the kernel's step, repacks a class's partly used zspages
// into full ones plus one just long enough for the rest (compactClass).
//
// Guarantee: never needs more than one frame at a time from the frame
// allocator; an accepted object keeps its bytes until freed; a freed,
// double-freed or forged handle returns -E_INVAL and changes nothing, within
// this bound: a handle carries an 8-bit generation of its table slot, bumped
// at every free of the slot, so a stale handle is refused through the next
// 255 reuses of its slot and names the slot's object again at exactly the
// 256th (free lists are LIFO: one object freed and reallocated 256 times in
// a row gets there; test "generation wrap"). Why no wider: a handle is a
// positive i32 (statuses are negative; tmem keeps it in 32 bits), the slot
// index needs 23 bits for the 2^23 objects a 4 GiB memory can hold, and the
// entry's second word holds class, size and 10 bits of generation at most.
// A forged handle must hit a live slot and its generation. Trade-off: a
// straddling object costs a copy on map (unless write-only) and on unmap
// (unless read-only); every object costs an 8-byte handle-table entry (plus
// one chunk-header entry per 15 handles) and every zspage a 64-byte
// descriptor (128 for a few classes of small objects on long chains), all
// outside the object frames: objects carry no header (the kernel's carry 8
// bytes), so malloc and free never touch object bytes and a request of L
// bytes takes the class of L, not of L + 8. Descriptors come from one
// pool-wide slab, lowest slot first, whose table frames go back to the frame
// allocator as they empty (zsmalloc_desc.ts).
//
// API peculiarities: one object mapped at a time per instance (per Worker):
// zs_map_object while one is mapped is -E_BUSY, zs_unmap_object of another
// handle is -E_INVAL. A mapped object is pinned: compaction (from any Worker)
// leaves it in place, and zs_free of it is -E_BUSY. zs_map_object returns an
// address (0 on failure, the status in zs_last_error) and writes the object's
// size at scratch + ZS_MAP_INFO for the host.
//
// Layout: drawn in zsmalloc_layout.ts (pool root, SizeClass, Zspage,
// HandleEntry, ChunkHeader). The allocator is one file per idea: this one
// (pool lifetime, malloc and free, slot borrowing), zsmalloc_handle.ts
// (handles, the pool root lookup), zsmalloc_desc.ts (the descriptor slab),
// zsmalloc_zspage.ts (zspage chains,
// fullness groups, the room map), zsmalloc_map.ts (map/unmap and pinning),
// zsmalloc_compact.ts (compaction and the repack), zsmalloc_stats.ts (stats).
//
// Concurrency: every export may be called from any Worker attached to the
// memory. Each size class has its own mutex guarding its lists, zspages,
// counters, free handles and free descriptors, so Workers in different
// classes do not contend; the hot paths touch no pool-wide word except to
// grow the tables (an atomic add per 16 handles or per zspage descriptor)
// and the room map (an atomic or/and when a class gains or loses its last
// partly used zspage). A caller must
// not free a handle while another Worker maps or frees it (it owns its
// handles, as with zpool). zs_destroy_pool must not race anything on its pool.
// lock ordering: class lock → pool grow lock → frame allocator (lock-free);
// both locks are level 6 of lock.ts's order.
//
// Dying Workers: every critical section is recoverable (robust.ts). Each
// store under the class or grow lock to state another Worker can reach is
// logged (ustore*; the fields written together share one aligned 8-byte
// word, so a malloc or a free logs five entries), frames taken inside are
// logged (ulogFrameAlloc) and frames given back are deferred to the next
// commit point (udeferFrameFree), so pm.reclaim of a Worker killed inside
// rolls the section back to its last commit point. Compaction commits after
// each isolated zspage and each moved object; the zspages it isolated are
// chained from SizeClass.isolated, and the next holder of the class lock
// (lockClass) puts back what a dead compactor left (recovery by redo). A
// descriptor passes between the pool and a class through SizeClass.spare and
// .release, written inside the grow-lock section, so a death on either side
// of it leaks nothing (lockClass gives back a release left behind). The
// handle counter is taken lock-free (takeChunk): a death between that and
// the logged stores leaks the indices (zs_check calls them orphans). A
// Worker that dies with an object mapped leaves a pin; its map record (in
// its scratch) lets PhysicalMemory.reclaim drop it (zs_reclaim_slot). The
// room map is only a hint and is not rolled back (a stale bit costs density,
// never correctness). zs_check (zsmalloc_check.ts) checks the rest, for the
// tests. Cost: malloc and free without a fullness-group change, and a move
// between two partial lists, log their stores as one batch (robust.ts
// ulogOpen: one entry-count bump, no per-store checks); callgrind, zs_malloc
// + zs_free pairs through pm.core at 20,000 live, JS loop included
// (bench/zsmalloc-pairs.ts): 1,163 instructions per pair before robust
// sections (2d0b798), 1,713 with per-store logging, 1,556 batched.
//
// See also: zsmalloc_layout.ts, ../src/zpool/drivers/zsmalloc.ts (the zpool
// adapter), ../src/zpool/kernel-zsmalloc.ts (the kernel's density yardstick),
// ../test/zsmalloc.test.ts, ../test/robust-zsmalloc.test.ts (Workers killed
// inside each lock), reference/kernel.md §1.11 and §2.1.

import {
  PAGE_SIZE, OWNER_META, OWNER_ZSMALLOC, E_INVAL, E_NOMEM, E_BUSY, E_NOSPC, pfnToAddress,
} from "./common";
import { FrameMeta, frameAlloc, frameFree, pfnToMeta } from "./frames";
import {
  mutexUnlock, ustore64, ulogFrameAlloc, udeferFrameFree, ulogOpen, ulogPut32, ulogPut64, ulogClose, upark,
} from "./robust";
import {
  ZS_MIN_ALLOC_SIZE, ZS_MAX_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA, ZS_SIZE_CLASSES, ZS_MAX_CHAIN,
  groupMulOf, HANDLE_IDX_BITS, HANDLE_IDX_MASK, HANDLE_GEN_MASK, ENTRY_ALLOC, ENTRY_GEN_SHIFT,
  ENTRY_CLASS_SHIFT, ENTRY_CLASS_MASK, ENTRY_SIZE_MASK, ENTRY_PIN_MASK, ENTRY_SLOT_SHIFT,
  ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT, HandleEntry, HANDLE_ENTRY_SHIFT, makeWhere, ZSPAGE_INUSE,
  ZSPAGE_ISOLATED, HUGE_MARK, Zspage, ZSPAGE_SHIFT, zspageFrame, CLASSES_PER_FRAME_SHIFT, listHead, SizeClass,
  ZS_POOL_MAGIC, ZsPool, POOL_HANDLE_DIR, POOL_ZSPAGE_DIR, POOL_CLASS_FRAMES, POOL_CLASS_MAP,
  POOL_ROOM_MAP, MAX_CLASS_FRAMES, classAddress, tableEntry, tableRelease, pagesPerZspage, descSlotsFor,
  fullnessGroup, zspageBitmapBase,
} from "./zsmalloc_layout";
import { leafHeader, releaseDescriptor, LEAF_SLOTS_SHIFT } from "./zsmalloc_desc";
import {
  poolRoot, pool_, class_, entry_, zspageAddr, classIndexOf, lookupHandle, entryMatches,
  refillHandles,
} from "./zsmalloc_handle";
import {
  listRemove, isListed, updateZspage, pagesForNewZspage, newZspage, allocSlot, freeSlot, freeZspage,
  setClassField, setClassObjects, setClassFrames, roomMapClear,
} from "./zsmalloc_zspage";
import { lockClass } from "./zsmalloc_compact";
import { mappedPoolIs, clearMapRecords } from "./zsmalloc_map";

// The entry points that live in the files of their concept.
export { zs_map_object, zs_unmap_object, zs_last_error, zs_mapped_handle, zs_reclaim_slot } from "./zsmalloc_map";
export { zs_compact } from "./zsmalloc_compact";
export { zs_check } from "./zsmalloc_check";
export {
  zs_frame_info, zs_obj_size, zs_get_total_pages, zs_class_count, zs_huge_class_size, zs_lookup_class_index,
  zs_class_stats, zs_pool_stats,
} from "./zsmalloc_stats";

// ══ Pool lifetime ══

/**
 * zs_create_pool: make a pool whose zspages have at most `maxPages` frames
 * (the kernel's CONFIG_ZSMALLOC_CHAIN_SIZE; 1..16, the kernel allows 4..16).
 * Returns the pool id (> 0: root pfn + 1), -E_INVAL for a bad chain length,
 * -E_NOMEM when frames run out. Thread safety: any Worker, any time.
 */
export function zs_create_pool(maxPages: u32): i32 {
  if (maxPages < 1 || maxPages > ZS_MAX_CHAIN) return -E_INVAL;
  const r = frameAlloc(OWNER_META);
  if (r < 0) return -E_NOMEM;
  const rootPfn = <u32>r;
  const root = pfnToAddress(rootPfn);
  memory.fill(root, 0, PAGE_SIZE);
  // Count kept classes (largest first, merging equal (pages, objs)).
  let n: u32 = 0, lastK: u32 = 0, lastO: u32 = 0;
  for (let i = <i32>ZS_SIZE_CLASSES - 1; i >= 0; i--) {
    const size = ZS_MIN_ALLOC_SIZE + <u32>i * ZS_SIZE_CLASS_DELTA;
    const k = pagesPerZspage(size, maxPages);
    const o = (k * PAGE_SIZE) / size;
    if (k != lastK || o != lastO) { n++; lastK = k; lastO = o; }
  }
  const nframes = (n + (1 << CLASSES_PER_FRAME_SHIFT) - 1) >> CLASSES_PER_FRAME_SHIFT;
  if (nframes > MAX_CLASS_FRAMES) { frameFree(rootPfn, OWNER_META); return -E_INVAL; }
  for (let f: u32 = 0; f < nframes; f++) {
    const cf = frameAlloc(OWNER_META);
    if (cf < 0) {
      for (let g: u32 = 0; g < f; g++) frameFree(load<u32>(root + POOL_CLASS_FRAMES + (<usize>g << 2)) - 1, OWNER_META);
      frameFree(rootPfn, OWNER_META);
      return -E_NOMEM;
    }
    memory.fill(pfnToAddress(<u32>cf), 0, PAGE_SIZE);
    store<u32>(root + POOL_CLASS_FRAMES + (<usize>f << 2), <u32>cf + 1);
  }
  // Fill the classes and the nominal → kept map.
  let kept = n;
  lastK = 0; lastO = 0;
  let largestNonHuge: u32 = 0;
  for (let i = <i32>ZS_SIZE_CLASSES - 1; i >= 0; i--) {
    const size = ZS_MIN_ALLOC_SIZE + <u32>i * ZS_SIZE_CLASS_DELTA;
    const k = pagesPerZspage(size, maxPages);
    const o = (k * PAGE_SIZE) / size;
    if (k != lastK || o != lastO) {
      kept--;
      lastK = k; lastO = o;
      const sc = class_(classAddress(root, kept));
      sc.size = size;
      sc.objs = o;
      sc.pages = k;
      sc.huge = k == 1 && o == 1 ? 1 : 0;
      sc.groupMul = groupMulOf(o);
      sc.descSlots = descSlotsFor(k, o);
      if (sc.huge == 0 && size > largestNonHuge) largestNonHuge = size;
    }
    store<u8>(root + POOL_CLASS_MAP + <usize>i, <u8>kept);
  }
  // Index 255 is never looked up (4096 is index 254); map it to the huge class all the same.
  store<u8>(root + POOL_CLASS_MAP + ZS_SIZE_CLASSES, load<u8>(root + POOL_CLASS_MAP + ZS_SIZE_CLASSES - 1));
  const p = pool_(root);
  p.self = rootPfn + 1;
  p.maxPages = maxPages;
  p.nrClasses = n;
  p.hugeClass = <u32>load<u8>(root + POOL_CLASS_MAP + ZS_SIZE_CLASSES - 1);
  p.hugeMin = largestNonHuge + 1;
  p.seed = (rootPfn * 0x9E3779B1) >> 24;
  p.metaFrames = 1 + nframes;
  p.handleBrk = 0;
  p.descLeaves = 0;   // zspage id 0 (leaf 0's header) ends every list
  // The magic goes last: a Worker that sees it sees a complete pool.
  atomic.store<u32>(root + offsetof<ZsPool>("magic"), ZS_POOL_MAGIC);
  return <i32>(rootPfn + 1);
}

/**
 * zs_destroy_pool: free every frame of the pool, objects included. Returns the
 * number of objects that were still allocated (the caller decides whether
 * that was a leak), -E_INVAL for a bad pool, -E_BUSY if this instance has an
 * object of it mapped. Must not race any other call on the pool.
 */
export function zs_destroy_pool(pool: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  if (mappedPoolIs(pool)) return -E_BUSY;
  const p = pool_(root);
  let live: u32 = 0;
  for (let c: u32 = 0; c < p.nrClasses; c++) live += class_(classAddress(root, c)).objUsed;
  atomic.store<u32>(root + offsetof<ZsPool>("magic"), 0);
  clearMapRecords(pool);
  const nleaves = p.descLeaves;
  for (let leafNo: u32 = 0; leafNo < nleaves; leafNo++) {
    const hdr = leafHeader(root, leafNo);
    if (hdr == 0) continue;
    const used = load<u64>(hdr);
    for (let s: u32 = 1; s < (1 << LEAF_SLOTS_SHIFT); s++) {
      // A slot not taken may hold a freed pair's second half (any bytes).
      if (((used >> s) & 1) == 0) continue;
      const z = changetype<Zspage>(hdr + (<usize>s << ZSPAGE_SHIFT));
      if ((<u32>z.flags & ZSPAGE_INUSE) != 0) {
        for (let q: u32 = 0; q < <u32>z.pages; q++) frameFree(zspageFrame(changetype<usize>(z), q), OWNER_ZSMALLOC);
      }
      if (z.descSlots == 2) s++;   // a pair's second slot is not a descriptor
    }
  }
  const hbrk = p.handleBrk;
  for (let idx: u32 = 1; idx < hbrk; idx++) {
    const e = tableEntry(root + POOL_HANDLE_DIR, idx, HANDLE_ENTRY_SHIFT);
    if (e == 0) continue;
    const info = entry_(e).word1;
    if ((info & ENTRY_ALLOC) == 0) continue;
    const c = (info >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK;
    if (c < p.nrClasses && class_(classAddress(root, c)).huge != 0) {
      frameFree(entry_(e).word0 >> ENTRY_ZSPAGE_SHIFT, OWNER_ZSMALLOC);
    }
  }
  tableRelease(root + POOL_HANDLE_DIR);
  tableRelease(root + POOL_ZSPAGE_DIR);
  for (let f: u32 = 0; f < MAX_CLASS_FRAMES; f++) {
    const cf = load<u32>(root + POOL_CLASS_FRAMES + (<usize>f << 2));
    if (cf != 0) frameFree(cf - 1, OWNER_META);
  }
  frameFree(pool - 1, OWNER_META);
  return <i32>live;
}

/** 1 if `pool` is a live zsmalloc pool id, else 0. */
export function zs_pool_valid(pool: u32): i32 {
  return poolRoot(pool) != 0 ? 1 : 0;
}

// ══ Allocation ══

/**
 * zs_malloc: allocate an object of `size` bytes (1..4096). Returns its handle
 * (> 0), -E_INVAL for a bad pool or size 0, -E_NOSPC for a size above 4096,
 * -E_NOMEM when frames (or handle slots, 2^23 per pool) run out; on failure
 * nothing changes. Thread safety: takes only the size class's lock.
 */
export function zs_malloc(pool: u32, size: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0 || size == 0) return -E_INVAL;
  if (size > ZS_MAX_ALLOC_SIZE) return -E_NOSPC;
  const c = classIndexOf(root, size);
  const cls = classAddress(root, c);
  lockClass(root, cls);
  const sc = class_(cls);
  if (sc.groupMask == 0 && sc.objUsed < 2 * sc.objs && sc.huge == 0) {
    // A small class (under two full zspages of objects) with no room: borrow
    // a free slot of a somewhat larger class before starting a zspage.
    mutexUnlock(cls);
    const b = mallocBorrow(root, c, size);
    if (b != 0) return b;
    lockClass(root, cls);
  }
  const r = mallocLocked(root, cls, c, size);
  mutexUnlock(cls);
  return r;
}

/**
 * Slot bytes a borrowed slot may exceed its object by: the larger of
 * BORROW_MIN_SLACK and size >> BORROW_SHIFT. More slack packs a small pool
 * tighter (fewer zspages started for a handful of objects) but wastes more
 * bytes per borrowed object, for as long as it lives: half the size measured
 * best for small zcache pools (a quarter held 6 % fewer pages at 512 frames);
 * only small classes borrow, so a large pool is hardly touched.
 */
// @ts-ignore: decorator
@inline const BORROW_SHIFT: u32 = 1;
// @ts-ignore: decorator
@inline const BORROW_MIN_SLACK: u32 = 64;

/**
 * Allocate `size` bytes in a free slot of a larger kept class than its own
 * class `c` (at most the slack above it; not the huge class), for a class
 * that holds less than two full zspages of objects and has no room: it would
 * otherwise start a zspage mostly left empty. The object then belongs to
 * that class in every way (its handle, lock, compaction), and records its
 * real size. Returns the handle, 0 when no such class has a free slot, or a
 * status from mallocLocked. Takes one class lock at a time (never two).
 */
function mallocBorrow(root: usize, c: u32, size: u32): i32 {
  const slack = size >> BORROW_SHIFT;
  const limit = size + (slack > BORROW_MIN_SLACK ? slack : BORROW_MIN_SLACK);
  const n = pool_(root).nrClasses;
  // The next class with room above d - 1, from the room map (a lock-free
  // peek: rechecked under that class's lock).
  let d = c + 1;
  while (d < n) {
    const w = d >> 5;
    const bits = atomic.load<u32>(root + POOL_ROOM_MAP + (<usize>w << 2)) & (<u32>-1 << (d & 31));
    if (bits == 0) { d = (w + 1) << 5; continue; }
    d = (w << 5) | <u32>ctz(bits);
    if (d >= n) break;
    const dcls = classAddress(root, d);
    const dsc = class_(dcls);
    if (dsc.size > limit || dsc.huge != 0) break;   // kept classes ascend by size
    lockClass(root, dcls);
    let r: i32 = 0;
    if (dsc.groupMask != 0) r = mallocLocked(root, dcls, d, size);
    // A stale room bit (a rollback can leave one: see listInsert): clear it under the lock.
    else roomMapClear(root, d);
    mutexUnlock(dcls);
    if (r != 0) return r;
    d++;
  }
  return 0;
}

function mallocLocked(root: usize, cls: usize, c: u32, size: u32): i32 {
  const sc = class_(cls);
  if (sc.handleFree == 0 && refillHandles(root, cls, c) < 0) return -E_NOMEM;
  const idx = sc.handleFree;
  let where: u32;
  if (sc.huge != 0) {
    const r = frameAlloc(OWNER_ZSMALLOC);
    if (r < 0) return -E_NOMEM;
    ulogFrameAlloc(<u32>r, OWNER_ZSMALLOC);
    const meta = changetype<FrameMeta>(pfnToMeta(<u32>r));
    meta.priv0 = HUGE_MARK;
    meta.priv1 = idx;
    where = <u32>r << ENTRY_ZSPAGE_SHIFT;
    setClassField(cls, offsetof<SizeClass>("zspages"), sc.zspages + 1);
    setClassFrames(cls, sc.frames + 1, sc.slots + 1);
  } else {
    const mask = sc.groupMask;
    let id: u32;
    if (mask != 0) {
      id = load<u32>(listHead(cls, 31 - <u32>clz(mask)));
    } else {
      const r = newZspage(root, cls, c, pagesForNewZspage(sc));
      if (r < 0) return r;
      id = <u32>r;
    }
    const za = zspageAddr(root, id);
    const zs = changetype<Zspage>(za);
    if (fullnessGroup(zs.inuse + 1, <u32>zs.objs, zs.groupMul) == <u32>zs.group) return mallocFast(root, cls, c, size, idx, za, id);
    const slot = allocSlot(za);
    updateZspage(root, cls, za, id, zs.inuse + 1, slot >> 5);
    where = makeWhere(id, slot);
  }
  const e = tableEntry(root + POOL_HANDLE_DIR, idx, HANDLE_ENTRY_SHIFT);
  const ent = entry_(e);
  setClassField(cls, offsetof<SizeClass>("handleFree"), ent.word0);
  const gen = (ent.word1 >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK;
  const info = ENTRY_ALLOC | (gen << ENTRY_GEN_SHIFT) | (c << ENTRY_CLASS_SHIFT) | (size - 1);
  ustore64(e, <u64>where | (<u64>info << 32));
  setClassObjects(cls, sc.objUsed + 1, sc.objBytes + size);
  return <i32>((gen << HANDLE_IDX_BITS) | idx);
}

/**
 * mallocLocked's common case: the object goes into slot of zspage `id` (at
 * `za`) without moving it to another fullness group. Its five stores (the
 * bitmap word, the zspage's state word, the class's free-handle head, the
 * handle entry, the class's object counts) are logged as one batch
 * (robust.ts ulogOpen): one entry count bump instead of five. Same stores,
 * same order, same result as the general path.
 */
// @ts-ignore: decorator
@inline function mallocFast(root: usize, cls: usize, c: u32, size: u32, idx: u32, za: usize, id: u32): i32 {
  const sc = class_(cls);
  const zs = changetype<Zspage>(za);
  // The slot: the lowest free one from the hint on (allocSlot, unstored).
  const bm = zspageBitmapBase(za);
  const last = (<u32>zs.objs - 1) >> 5;
  let w = <u32>zs.hint;
  let bits = load<u32>(bm + (<usize>w << 2));
  while (bits == 0 && w < last) { w++; bits = load<u32>(bm + (<usize>w << 2)); }
  const bwa = bm + (<usize>w << 2);
  const slot = (w << 5) | <u32>ctz(bits);
  const inuse = zs.inuse + 1;
  const state = <u64>inuse | (<u64>(<u32>zs.cls | (<u32>zs.flags << 8) | (<u32>zs.group << 16) | (w << 24)) << 32);
  const e = tableEntry(root + POOL_HANDLE_DIR, idx, HANDLE_ENTRY_SHIFT);
  const ent = entry_(e);
  const next = ent.word0;
  const gen = (ent.word1 >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK;
  const info = ENTRY_ALLOC | (gen << ENTRY_GEN_SHIFT) | (c << ENTRY_CLASS_SHIFT) | (size - 1);
  const objects = <u64>(sc.objUsed + 1) | (<u64>(sc.objBytes + size) << 32);
  const b = ulogOpen(5);
  if (b != 0) {
    ulogPut32(b, 0, bwa);
    ulogPut64(b, 1, za + offsetof<Zspage>("inuse"));
    ulogPut32(b, 2, cls + offsetof<SizeClass>("handleFree"));
    ulogPut64(b, 3, e);
    ulogPut64(b, 4, cls + offsetof<SizeClass>("objUsed"));
    ulogClose(b, 5);
  }
  upark(); store<u32>(bwa, bits & (bits - 1));
  upark(); store<u64>(za + offsetof<Zspage>("inuse"), state);
  upark(); store<u32>(cls + offsetof<SizeClass>("handleFree"), next);
  upark(); store<u64>(e, <u64>makeWhere(id, slot) | (<u64>info << 32));
  upark(); store<u64>(cls + offsetof<SizeClass>("objUsed"), objects);
  return <i32>((gen << HANDLE_IDX_BITS) | idx);
}

/**
 * zs_free: free the object `handle`. Returns 0; -E_INVAL for a bad pool or a
 * freed, double-freed or forged handle; -E_BUSY while the object is mapped
 * (pinned) by some Worker. Nothing changes on failure. Thread safety: takes
 * only the object's class lock; the caller must not free one handle twice
 * concurrently.
 */
export function zs_free(pool: u32, handle: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -E_INVAL;
  const e = lookupHandle(root, handle);
  if (e == 0) return -E_INVAL;
  const c = (atomic.load<u32>(e + offsetof<HandleEntry>("word1")) >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK;
  const cls = classAddress(root, c);
  lockClass(root, cls);
  const r = freeLocked(root, cls, c, handle, e);
  mutexUnlock(cls);
  return r;
}

function freeLocked(root: usize, cls: usize, c: u32, handle: u32, e: usize): i32 {
  const ent = entry_(e);
  const info = ent.word1;
  if (!entryMatches(info, handle, c)) return -E_INVAL;
  const w0 = atomic.load<u32>(e);
  if ((w0 & ENTRY_PIN_MASK) != 0) return -E_BUSY;
  const sc = class_(cls);
  if (sc.huge != 0) {
    // Freed at the unlock: until then a rollback restores the entry naming it.
    udeferFrameFree(w0 >> ENTRY_ZSPAGE_SHIFT, OWNER_ZSMALLOC);
    setClassField(cls, offsetof<SizeClass>("zspages"), sc.zspages - 1);
    setClassFrames(cls, sc.frames - 1, sc.slots - 1);
  } else {
    const id = w0 >> ENTRY_ZSPAGE_SHIFT;
    const za = zspageAddr(root, id);
    const zs = changetype<Zspage>(za);
    const inuse = zs.inuse - 1;
    if (inuse != 0 && fullnessGroup(inuse, <u32>zs.objs, zs.groupMul) == <u32>zs.group) {
      freeFast(cls, handle, e, info, za, (w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK, inuse);
      return 0;
    }
    const hint = freeSlot(za, (w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK);
    if (inuse == 0) {
      const g = <u32>zs.group;
      if (isListed(g) && (<u32>zs.flags & ZSPAGE_ISOLATED) == 0) listRemove(root, cls, za, g);
      freeZspage(cls, za, id);
    } else {
      updateZspage(root, cls, za, id, inuse, hint);
    }
  }
  const gen = ((info >> ENTRY_GEN_SHIFT) + 1) & HANDLE_GEN_MASK;
  ustore64(e, <u64>sc.handleFree | (<u64>(gen << ENTRY_GEN_SHIFT) << 32));
  setClassField(cls, offsetof<SizeClass>("handleFree"), handle & HANDLE_IDX_MASK);
  setClassObjects(cls, sc.objUsed - 1, sc.objBytes - ((info & ENTRY_SIZE_MASK) + 1));
  // The class is consistent: a freed zspage's descriptor goes back to the pool.
  if (sc.release != 0) releaseDescriptor(root, cls);
  return 0;
}

/**
 * freeLocked's common case: the object's zspage keeps objects and its
 * fullness group. The five stores (bitmap word, zspage state word, handle
 * entry, free-handle head, object counts) are logged as one batch, as in
 * mallocFast.
 */
// @ts-ignore: decorator
@inline function freeFast(cls: usize, handle: u32, e: usize, info: u32, za: usize, slot: u32, inuse: u32): void {
  const sc = class_(cls);
  const zs = changetype<Zspage>(za);
  const w = slot >> 5;
  const bwa = zspageBitmapBase(za) + (<usize>w << 2);
  const hint = w < <u32>zs.hint ? w : <u32>zs.hint;
  const state = <u64>inuse | (<u64>(<u32>zs.cls | (<u32>zs.flags << 8) | (<u32>zs.group << 16) | (hint << 24)) << 32);
  const gen = ((info >> ENTRY_GEN_SHIFT) + 1) & HANDLE_GEN_MASK;
  const freed = <u64>sc.handleFree | (<u64>(gen << ENTRY_GEN_SHIFT) << 32);
  const objects = <u64>(sc.objUsed - 1) | (<u64>(sc.objBytes - ((info & ENTRY_SIZE_MASK) + 1)) << 32);
  const b = ulogOpen(5);
  if (b != 0) {
    ulogPut32(b, 0, bwa);
    ulogPut64(b, 1, za + offsetof<Zspage>("inuse"));
    ulogPut64(b, 2, e);
    ulogPut32(b, 3, cls + offsetof<SizeClass>("handleFree"));
    ulogPut64(b, 4, cls + offsetof<SizeClass>("objUsed"));
    ulogClose(b, 5);
  }
  upark(); store<u32>(bwa, load<u32>(bwa) | (<u32>1 << (slot & 31)));
  upark(); store<u64>(za + offsetof<Zspage>("inuse"), state);
  upark(); store<u64>(e, freed);
  upark(); store<u32>(cls + offsetof<SizeClass>("handleFree"), handle & HANDLE_IDX_MASK);
  upark(); store<u64>(cls + offsetof<SizeClass>("objUsed"), objects);
}
