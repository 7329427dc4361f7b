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
// one chunk-header entry per 15 handles) and every zspage a 128-byte
// descriptor, all outside the object frames: objects carry no header (the
// kernel's carry 8 bytes), so malloc and free never touch object bytes and a
// request of L bytes takes the class of L, not of L + 8.
//
// API peculiarities: one object mapped at a time per instance (per Worker):
// zs_map_object while one is mapped is -E_BUSY, zs_unmap_object of another
// handle is -E_INVAL. A mapped object is pinned: compaction (from any Worker)
// leaves it in place, and zs_free of it is -E_BUSY. zs_map_object returns an
// address (0 on failure, the status in zs_last_error) and writes the object's
// size at scratch + ZS_MAP_INFO for the host.
//
// Layout: drawn in zsmalloc_layout.ts (pool root, SizeClass, Zspage,
// HandleEntry, ChunkHeader).
//
// Concurrency: every export may be called from any Worker attached to the
// memory. Each size class has its own mutex guarding its lists, zspages,
// counters, free handles and free descriptors, so Workers in different
// classes do not contend; the hot paths touch no pool-wide word except to
// grow the tables (an atomic add per 16 handles or 2 zspages). A caller must
// not free a handle while another Worker maps or frees it (it owns its
// handles, as with zpool). zs_destroy_pool must not race anything on its pool.
// lock ordering: class lock → pool grow lock → frame allocator (lock-free).
//
// See also: zsmalloc_layout.ts, ../src/zpool/drivers/zsmalloc.ts (the zpool
// adapter), ../src/zpool/kernel-zsmalloc.ts (the kernel's density yardstick),
// ../test/zsmalloc.test.ts, reference/kernel.md §1.11 and §2.1.

import {
  PAGE_SHIFT, PAGE_SIZE, OWNER_META, OWNER_ZSMALLOC, E_INVAL, E_NOMEM, E_BUSY, E_NOSPC,
  SCRATCH_MAP, nrFrames, scratchBase, pfnToAddress,
} from "./common";
import { FrameMeta, frameAlloc, frameFree, pfnToMeta } from "./frames";
import { mutexLock, mutexUnlock } from "./lock";
import {
  ZS_MIN_ALLOC_SIZE, ZS_MAX_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA, ZS_SIZE_CLASSES, ZS_MAX_CHAIN,
  ZS_BITMAP_WORDS, ZS_EMPTY, ZS_NR_PARTIAL, ZS_FULL, fullnessGroup, groupMulOf,
  HANDLE_IDX_BITS, HANDLE_IDX_MASK, HANDLE_GEN_MASK, ENTRY_ALLOC, ENTRY_CHUNK, HANDLE_CHUNK_SHIFT, ENTRY_GEN_SHIFT, ENTRY_CLASS_SHIFT,
  ENTRY_CLASS_MASK, ENTRY_SIZE_MASK, ENTRY_PIN_MASK, ENTRY_SLOT_SHIFT, ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT,
  HandleEntry, HANDLE_ENTRY_SHIFT, makeWhere,
  ZSPAGE_INUSE, ZSPAGE_ISOLATED, HUGE_MARK, Zspage, ZSPAGE_SHIFT, ZSPAGE_PAGES_OFF, zspageFrame, zspageBitmap, zspageAddress,
  SizeClass, CLASSES_PER_FRAME_SHIFT, listHead,
  ZS_POOL_MAGIC, ZsPool, POOL_HANDLE_DIR, POOL_ZSPAGE_DIR, POOL_CLASS_FRAMES, POOL_CLASS_MAP, POOL_ROOM_MAP, MAX_CLASS_FRAMES,
  HANDLE_CHUNK, ZSPAGE_CHUNK, MAX_HANDLES, MAX_ZSPAGES, classAddress, tableEntry, tableEnsure, tableRelease,
  pagesPerZspage,
} from "./zsmalloc_layout";

// ══ Constants ══

/** Map modes (kernel enum zs_mapmode). */
// @ts-ignore: decorator
@inline const ZS_MM_RW: u32 = 0;
// @ts-ignore: decorator
@inline const ZS_MM_RO: u32 = 1;
// @ts-ignore: decorator
@inline const ZS_MM_WO: u32 = 2;
/** Offset from scratchBase of the u32 where zs_map_object leaves the mapped size. */
// @ts-ignore: decorator
@inline const ZS_MAP_INFO: usize = SCRATCH_MAP + PAGE_SIZE;
/** u32 words zs_class_stats writes. */
// @ts-ignore: decorator
@inline const ZS_CLASS_STAT_WORDS: u32 = 24;
/** u32 words zs_pool_stats writes. */
// @ts-ignore: decorator
@inline const ZS_POOL_STAT_WORDS: u32 = 12;

// ══ Per-instance state (wasm globals: one per Worker) ══

let mappedPool: u32 = 0;
let mappedHandle: u32 = 0;
let mappedEntry: usize = 0;
let mappedMode: u32 = 0;
let mappedSize: u32 = 0;
/** Where the object's bytes are: one run, or two when it straddles. */
let mappedPart1: usize = 0;
let mappedLen1: u32 = 0;
let mappedPart2: usize = 0;
let mappedStraddles: bool = false;
let lastError: i32 = 0;

// ══ Helpers ══

/**
 * Root address of pool id `pool` (root pfn + 1), or 0 if it is not a live
 * pool: the frame must start with the magic and the pool's own id. (It reads
 * only the root's first line, which no hot path writes: checking the frame's
 * FrameMeta owner instead would read a line that frees of neighbouring frames
 * write, from any Worker.)
 */
// @ts-ignore: decorator
@inline function poolRoot(pool: u32): usize {
  if (pool == 0 || pool > nrFrames) return 0;
  const root = pfnToAddress(pool - 1);
  if (atomic.load<u32>(root + offsetof<ZsPool>("magic")) != ZS_POOL_MAGIC) return 0;
  if (load<u32>(root + offsetof<ZsPool>("self")) != pool) return 0;
  return root;
}

// @ts-ignore: decorator
@inline function pool_(root: usize): ZsPool { return changetype<ZsPool>(root); }
// @ts-ignore: decorator
@inline function class_(addr: usize): SizeClass { return changetype<SizeClass>(addr); }
// @ts-ignore: decorator
@inline function entry_(addr: usize): HandleEntry { return changetype<HandleEntry>(addr); }

/** Descriptor address of zspage `id` (the caller knows it exists). */
// @ts-ignore: decorator
@inline function zspageAddr(root: usize, id: u32): usize {
  return tableEntry(root + POOL_ZSPAGE_DIR, id, ZSPAGE_SHIFT);
}
// @ts-ignore: decorator
@inline function zspageOf(root: usize, id: u32): Zspage {
  return changetype<Zspage>(zspageAddr(root, id));
}

/** Kept class index for a payload of `size` bytes (1..4096). */
// @ts-ignore: decorator
@inline function classIndexOf(root: usize, size: u32): u32 {
  const s = size < ZS_MIN_ALLOC_SIZE ? ZS_MIN_ALLOC_SIZE : size;
  return <u32>load<u8>(root + POOL_CLASS_MAP + <usize>((s - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) >> 4));
}

/**
 * The entry of `handle` if it names a live object of the pool at `root`,
 * else 0. Lock-free: the caller re-checks under the class lock.
 */
function lookupHandle(root: usize, handle: u32): usize {
  // No handleBrk check: an entry never handed out lies in a missing leaf
  // (tableEntry gives 0) or in a leaf zeroed at creation (no ALLOC bit).
  const idx = handle & HANDLE_IDX_MASK;
  if (idx == 0) return 0;
  const e = tableEntry(root + POOL_HANDLE_DIR, idx, HANDLE_ENTRY_SHIFT);
  if (e == 0) return 0;
  const info = atomic.load<u32>(e + offsetof<HandleEntry>("word1"));
  if ((info & ENTRY_ALLOC) == 0) return 0;
  if (((info >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK) != handle >> HANDLE_IDX_BITS) return 0;
  if (((info >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK) >= pool_(root).nrClasses) return 0;
  return e;
}

/** True if `info` (an entry's word1 read under the class lock) still matches `handle` in class `c`. */
// @ts-ignore: decorator
@inline function entryMatches(info: u32, handle: u32, c: u32): bool {
  return (info & ENTRY_ALLOC) != 0
    && ((info >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK) == handle >> HANDLE_IDX_BITS
    && ((info >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK) == c;
}

// ── fullness lists (class lock held) ──

function listInsert(root: usize, cls: usize, zs: Zspage, id: u32, g: u32): void {
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

function listRemove(root: usize, cls: usize, zs: Zspage, g: u32): void {
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
@inline function isListed(g: u32): bool {
  return g != ZS_EMPTY && g != ZS_FULL;
}

/** Move zspage `id` to the fullness group its inuse count says (isolated ones stay unlisted). */
function regroup(root: usize, cls: usize, zs: Zspage, id: u32): void {
  const ng = fullnessGroup(zs.inuse, <u32>zs.objs, zs.groupMul);
  const og = <u32>zs.group;
  if (ng == og) return;
  const listed = (<u32>zs.flags & ZSPAGE_ISOLATED) == 0;
  if (listed && isListed(og)) listRemove(root, cls, zs, og);
  zs.group = <u8>ng;
  if (listed && isListed(ng)) listInsert(root, cls, zs, id, ng);
}

// ── growing the tables (class lock held) ──

/** Take `chunk` fresh indices from the counter at `brkp`; the first, or -1 past `limit`. */
function takeChunk(brkp: usize, chunk: u32, limit: u32): i64 {
  let b = atomic.load<u32>(brkp);
  while (<u64>b + chunk <= <u64>limit) {
    const seen = atomic.cmpxchg<u32>(brkp, b, b + chunk);
    if (seen == b) return <i64>b;
    b = seen;
  }
  return -1;
}

/**
 * Give class `c` a fresh chunk of HANDLE_CHUNK entries: a chunk header linked
 * onto the class's chunk list, and HANDLE_CHUNK - 1 free handles. 0 or
 * -E_NOMEM.
 */
function refillHandles(root: usize, cls: usize, c: u32): i32 {
  const start = takeChunk(root + offsetof<ZsPool>("handleBrk"), HANDLE_CHUNK, MAX_HANDLES);
  if (start < 0) return -E_NOMEM;
  const s = <u32>start;
  if (tableEnsure(root, root + POOL_HANDLE_DIR, s, HANDLE_ENTRY_SHIFT) < 0) return -E_NOMEM;
  const sc = class_(cls);
  const base = tableEntry(root + POOL_HANDLE_DIR, s, HANDLE_ENTRY_SHIFT);
  const head = entry_(base);
  head.word0 = sc.chunks;
  head.word1 = ENTRY_CHUNK | c;
  sc.chunks = (s >> HANDLE_CHUNK_SHIFT) + 1;
  const end = s + HANDLE_CHUNK;
  const gen0 = (pool_(root).seed & HANDLE_GEN_MASK) << ENTRY_GEN_SHIFT;
  for (let i = s + 1; i < end; i++) {
    const e = entry_(base + (<usize>(i - s) << HANDLE_ENTRY_SHIFT));
    e.word0 = i + 1 < end ? i + 1 : sc.handleFree;
    e.word1 = gen0;
  }
  sc.handleFree = s + 1;
  return 0;
}

/** Give class `cls` ZSPAGE_CHUNK fresh zspage descriptors. 0 or -E_NOMEM. */
function refillZspages(root: usize, cls: usize): i32 {
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

// ── zspages (class lock held) ──

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
function pagesForNewZspage(sc: SizeClass): u32 {
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
function newZspage(root: usize, cls: usize, c: u32, pages: u32): i32 {
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
@inline function allocSlot(za: usize): u32 {
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
@inline function freeSlot(za: usize, slot: u32): void {
  const w = slot >> 5;
  const p = zspageBitmap(za, w);
  store<u32>(p, load<u32>(p) | (<u32>1 << (slot & 31)));
  const zs = changetype<Zspage>(za);
  if (w < <u32>zs.hint) zs.hint = <u8>w;
}

/** Free an empty, unlisted zspage's frames and recycle its descriptor. */
function freeZspage(cls: usize, za: usize, id: u32): void {
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
  p.zspageBrk = 1;   // zspage id 0 ends every list
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
  if (mappedHandle != 0 && mappedPool == pool) return -E_BUSY;
  const p = pool_(root);
  let live: u32 = 0;
  for (let c: u32 = 0; c < p.nrClasses; c++) live += class_(classAddress(root, c)).objUsed;
  atomic.store<u32>(root + offsetof<ZsPool>("magic"), 0);
  const zbrk = p.zspageBrk;
  for (let id: u32 = 1; id < zbrk; id++) {
    const z = tableEntry(root + POOL_ZSPAGE_DIR, id, ZSPAGE_SHIFT);
    if (z == 0 || (<u32>changetype<Zspage>(z).flags & ZSPAGE_INUSE) == 0) continue;
    const pages = <u32>changetype<Zspage>(z).pages;
    for (let q: u32 = 0; q < pages; q++) frameFree(zspageFrame(z, q), OWNER_ZSMALLOC);
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
  mutexLock(cls);
  const sc = class_(cls);
  if (sc.groupMask == 0 && sc.objUsed < 2 * sc.objs && sc.huge == 0) {
    // A small class (under two full zspages of objects) with no room: borrow
    // a free slot of a somewhat larger class before starting a zspage.
    mutexUnlock(cls);
    const b = mallocBorrow(root, c, size);
    if (b != 0) return b;
    mutexLock(cls);
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
    mutexLock(dcls);
    let r: i32 = 0;
    if (dsc.groupMask != 0) r = mallocLocked(root, dcls, d, size);
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
    const meta = changetype<FrameMeta>(pfnToMeta(<u32>r));
    meta.priv0 = HUGE_MARK;
    meta.priv1 = idx;
    where = <u32>r << ENTRY_ZSPAGE_SHIFT;
    sc.zspages++;
    sc.frames++;
    sc.slots++;
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
    const slot = allocSlot(za);
    const zs = changetype<Zspage>(za);
    zs.inuse++;
    regroup(root, cls, zs, id);
    where = makeWhere(id, slot);
  }
  const e = entry_(tableEntry(root + POOL_HANDLE_DIR, idx, HANDLE_ENTRY_SHIFT));
  sc.handleFree = e.word0;
  const gen = (e.word1 >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK;
  e.word0 = where;
  e.word1 = ENTRY_ALLOC | (gen << ENTRY_GEN_SHIFT) | (c << ENTRY_CLASS_SHIFT) | (size - 1);
  sc.objUsed++;
  sc.objBytes += size;
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
  mutexLock(cls);
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
    frameFree(w0 >> ENTRY_ZSPAGE_SHIFT, OWNER_ZSMALLOC);
    sc.zspages--;
    sc.frames--;
    sc.slots--;
  } else {
    const id = w0 >> ENTRY_ZSPAGE_SHIFT;
    const za = zspageAddr(root, id);
    freeSlot(za, (w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK);
    const zs = changetype<Zspage>(za);
    zs.inuse--;
    if (zs.inuse == 0) {
      const g = <u32>zs.group;
      if (isListed(g) && (<u32>zs.flags & ZSPAGE_ISOLATED) == 0) listRemove(root, cls, zs, g);
      freeZspage(cls, za, id);
    } else {
      regroup(root, cls, zs, id);
    }
  }
  const gen = ((info >> ENTRY_GEN_SHIFT) + 1) & HANDLE_GEN_MASK;
  ent.word0 = sc.handleFree;
  ent.word1 = gen << ENTRY_GEN_SHIFT;
  sc.handleFree = handle & HANDLE_IDX_MASK;
  sc.objUsed--;
  sc.objBytes -= (info & ENTRY_SIZE_MASK) + 1;
  return 0;
}

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
  if (za == 0 || zspageFrame(za, p) != pfn) return -E_INVAL;
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

// ══ Mapping ══

/**
 * zs_map_object: pin `handle` and return the address of its bytes: in its
 * frame when it lies in one, else this Worker's SCRATCH_MAP buffer, filled
 * from the two frames unless `mode` is ZS_MM_WO. Writes the object's size at
 * scratch + ZS_MAP_INFO. Returns 0 on failure, with zs_last_error():
 * -E_BUSY if this instance already has an object mapped (or 7 Workers have
 * this one pinned), -E_INVAL for a bad pool, handle or mode. Thread safety:
 * takes the class lock briefly; the object stays pinned until unmap.
 */
export function zs_map_object(pool: u32, handle: u32, mode: u32): usize {
  if (mappedHandle != 0) { lastError = -E_BUSY; return 0; }
  const root = poolRoot(pool);
  if (root == 0 || mode > ZS_MM_WO) { lastError = -E_INVAL; return 0; }
  const e = lookupHandle(root, handle);
  if (e == 0) { lastError = -E_INVAL; return 0; }
  const c = (atomic.load<u32>(e + offsetof<HandleEntry>("word1")) >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK;
  const cls = classAddress(root, c);
  mutexLock(cls);
  const info = entry_(e).word1;
  const w0 = atomic.load<u32>(e);
  let status: i32 = 0;
  if (!entryMatches(info, handle, c)) status = -E_INVAL;
  else if ((w0 & ENTRY_PIN_MASK) == ENTRY_PIN_MASK) status = -E_BUSY;
  else atomic.add<u32>(e, 1);
  mutexUnlock(cls);
  if (status < 0) { lastError = status; return 0; }
  // Pinned: the object cannot move or be freed until unmap.
  const size = (info & ENTRY_SIZE_MASK) + 1;
  let addr: usize;
  let straddles = false;
  const sc = class_(cls);
  if (sc.huge != 0) {
    addr = pfnToAddress(w0 >> ENTRY_ZSPAGE_SHIFT);
  } else {
    const za = zspageAddr(root, w0 >> ENTRY_ZSPAGE_SHIFT);
    const off = ((w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK) * sc.size;
    addr = zspageAddress(za, off);
    const inPage = off & (PAGE_SIZE - 1);
    if (inPage + size > PAGE_SIZE) {
      straddles = true;
      const len1 = PAGE_SIZE - inPage;
      mappedPart1 = addr;
      mappedLen1 = len1;
      mappedPart2 = pfnToAddress(zspageFrame(za, (off >> PAGE_SHIFT) + 1));
      const buf = scratchBase + SCRATCH_MAP;
      if (mode != ZS_MM_WO) {
        memory.copy(buf, addr, len1);
        memory.copy(buf + len1, mappedPart2, size - len1);
      }
      addr = buf;
    }
  }
  mappedPool = pool;
  mappedHandle = handle;
  mappedEntry = e;
  mappedMode = mode;
  mappedSize = size;
  mappedStraddles = straddles;
  store<u32>(scratchBase + ZS_MAP_INFO, size);
  lastError = 0;
  return addr;
}

/**
 * zs_unmap_object: end the mapping of `handle` made by this instance: copy a
 * straddling object back unless it was mapped read-only, and unpin it.
 * Returns 0, or -E_INVAL if `handle` (of `pool`) is not the mapped one.
 */
export function zs_unmap_object(pool: u32, handle: u32): i32 {
  if (mappedHandle == 0 || handle != mappedHandle || pool != mappedPool) return -E_INVAL;
  if (mappedStraddles && mappedMode != ZS_MM_RO) {
    const buf = scratchBase + SCRATCH_MAP;
    memory.copy(mappedPart1, buf, mappedLen1);
    memory.copy(mappedPart2, buf + mappedLen1, mappedSize - mappedLen1);
  }
  atomic.sub<u32>(mappedEntry, 1);
  mappedHandle = 0;
  mappedPool = 0;
  mappedEntry = 0;
  mappedStraddles = false;
  return 0;
}

/** The status of this instance's last failed zs_map_object (0 after a success). */
export function zs_last_error(): i32 {
  return lastError;
}

/** The handle this instance has mapped, 0 if none. */
export function zs_mapped_handle(): u32 {
  return mappedHandle;
}

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
function compactClass(root: usize, cls: usize, c: u32): u32 {
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
  mutexLock(cls);
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
 * [8] zspage descriptors made, [9] huge objects, [10] pages compacted.
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
  store<u32>(out, atomic.load<u32>(root + offsetof<ZsPool>("zspageBrk")), 32);
  store<u32>(out, huge, 36);
  store<u32>(out, compacted, 40);
  return 0;
}
