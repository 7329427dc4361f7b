// SPDX-License-Identifier: MIT
//
// zsmalloc_check.ts: zs_check, a consistency checker of one zsmalloc pool's
// metadata, for the tests (above all the ones that kill a Worker inside a
// critical section and reclaim it: test/robust-zsmalloc.test.ts).
//
// It is not a repair tool: it reads, and answers 0 or the first
// inconsistency it found (a negative code, listed at zs_check). The one
// thing it changes is what any class-lock holder changes: lockClass finishes
// the put-back of a compaction whose Worker died (zsmalloc_compact.ts).
//
// Key idea: every fact is checked from two sides. Fullness lists against the
// zspage descriptors (every live zspage of a partial group on exactly its
// list), descriptors' bitmaps against the handle entries that name their
// slots (in this instance's SCRATCH_IO, one 256-bit map per zspage id), the
// class counters against sums, handle chunks against the class chunk lists,
// pins against the Workers' map records. Every walk is bounded by the pool's
// own counters (handleBrk, descLeaves), so a cyclic list ends in a code, not a
// hang.
//
// Guarantee: 0 means the pool is as a run of single-threaded operations
// could leave it, except for what a death may leak by design: handle chunks
// taken from the pool-wide counter and never given to a class ("orphans":
// all free, never reused). Cost: O(classes × zspage ids +
// handles + frames of the tables); tests only.
//
// Concurrency: each class is checked under its lock, the pool-wide facts
// (chunk ownership, descriptor ids, metadata frames) without one: exact only
// while no other Worker works on the pool.
//
// See also: zsmalloc_layout.ts (what is checked), zsmalloc_compact.ts
// (lockClass), zsmalloc_map.ts (map records), zbud.ts (zbud_check).

import { OWNER_META, OWNER_ZSMALLOC, PAGE_SHIFT, SCRATCH_IO, nrFrames, pfnToAddress, scratchBase } from "./common";
import { FrameMeta, pfnToMeta } from "./frames";
import { mutexUnlock } from "./robust";
import {
  ZS_BITMAP_WORDS, ZS_NR_PARTIAL, fullnessGroup, groupMulOf, HANDLE_IDX_BITS, HANDLE_GEN_MASK,
  ENTRY_ALLOC, ENTRY_CHUNK, ENTRY_GEN_SHIFT, ENTRY_CLASS_SHIFT, ENTRY_CLASS_MASK, ENTRY_SIZE_MASK,
  ENTRY_PIN_MASK, ENTRY_SLOT_SHIFT, ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT, HANDLE_ENTRY_SHIFT, HANDLE_CHUNK,
  HANDLE_CHUNK_SHIFT, ZSPAGE_INUSE, ZSPAGE_ISOLATED, HUGE_MARK, Zspage, ZSPAGE_SHIFT, zspageFrame,
  zspageBitmap, listHead, ZsPool, POOL_HANDLE_DIR, POOL_ZSPAGE_DIR, POOL_CLASS_FRAMES, POOL_LEAF_FULL,
  POOL_LEAF_SUMMARY, descSlotsFor,
  MAX_CLASS_FRAMES, DIRECT_LEAVES, DIR_SLOTS, TABLE_L2_OFF, L2_SHIFT, classAddress, tableEntry,
} from "./zsmalloc_layout";
import { poolRoot, pool_, class_, entry_ } from "./zsmalloc_handle";
import { leafHeader, zspageIdLimit, LEAF_SLOTS_SHIFT, LEAF_EMPTY, LEAF_FULL } from "./zsmalloc_desc";
import { isListed } from "./zsmalloc_zspage";
import { lockClass } from "./zsmalloc_compact";
import { mapRecordsNaming } from "./zsmalloc_map";

/** zspage ids whose slot map fits SCRATCH_IO (32 bytes each); larger pools skip that one check. */
// @ts-ignore: decorator
@inline const SLOTMAP_IDS: u32 = 1024;
/** Bytes of one zspage's slot map (256 bits). */
// @ts-ignore: decorator
@inline const SLOTMAP_BYTES: u32 = ZS_BITMAP_WORDS * 4;
if (<usize>SLOTMAP_IDS * SLOTMAP_BYTES > 32768) ERROR("slot maps must fit SCRATCH_IO");

/**
 * Descriptor address of id `id` if its table slot is taken and starts a
 * descriptor (not a leaf header, not a pair's second slot), else 0 (never a
 * leaf that is missing).
 */
function desc(root: usize, id: u32): usize {
  const s = id & ((1 << LEAF_SLOTS_SHIFT) - 1);
  if (s == 0) return 0;
  const hdr = leafHeader(root, id >> LEAF_SLOTS_SHIFT);
  if (hdr == 0) return 0;
  const used = load<u64>(hdr);
  if (((used >> s) & 1) == 0) return 0;
  if ((s & 1) != 0 && ((used >> (s - 1)) & 1) != 0 && s > 1
    && changetype<Zspage>(hdr + (<usize>(s - 1) << ZSPAGE_SHIFT)).descSlots == 2) return 0;
  return hdr + (<usize>s << ZSPAGE_SHIFT);
}

/** The allocated-slot set of zspage `za` (the complement of its free bits, within objs), word `w`. */
// @ts-ignore: decorator
@inline function usedBits(za: usize, w: u32, objs: u32): u32 {
  const first = w << 5;
  let valid: u32 = 0;
  if (objs >= first + 32) valid = 0xFFFFFFFF;
  else if (objs > first) valid = (<u32>1 << (objs - first)) - 1;
  return ~load<u32>(zspageBitmap(za, w)) & valid;
}

/**
 * zs_check: check pool `pool`'s metadata; 0 when consistent, else the first
 * inconsistency: -1 not a live pool; -2 a class still has an isolated chain;
 * fullness lists: -3 an id with no descriptor, -4 a zspage not live, isolated
 * or of another class, -5 under the wrong group, -6 a prev link that
 * disagrees, -7 a cycle, -8 groupMask disagrees with the heads (-9 unused:
 * the room map is a hint, see zsmalloc_zspage.ts listInsert); live zspages: -10 geometry (objs,
 * pages, groupMul), -11 bitmap (free slots != objs - inuse, bits past objs,
 * inuse 0, or a hint above a free slot), -12 a group that disagrees with
 * inuse or a partial zspage on no list, -13 a frame whose owner or FrameMeta
 * disagrees, -14 the class's zspages, frames or slots counters; handles: -15
 * a class chunk list (range, header, cycle), -16 an allocated entry of the
 * wrong class or too big for its slot, -17 one naming a slot that is not a
 * live allocated slot of this class, -18 two entries naming one slot or an
 * allocated slot no entry names, -19 a huge object's frame, -20 the free
 * handle list (range, allocated entry, header, other class, cycle, count),
 * -21 objUsed or objBytes, -22 the class's spare or release descriptor; pool-wide: -23 a
 * chunk claimed by no class list but holding objects, or chunk lists that
 * disagree with the headers, -24 live descriptors of no class (or more than
 * the classes count), -25 metaFrames, -26 a pin count != the map records
 * naming the handle, -27 a table frame not owned as metadata, -28 the
 * descriptor slab (taken slots != descUsed, a leaf mask, the leaf-full
 * bitmap or its summary, or a leaf kept with no descriptor).
 * Thread safety: any Worker; exact only while no other Worker uses the pool.
 */
export function zs_check(pool: u32): i32 {
  const root = poolRoot(pool);
  if (root == 0) return -1;
  const p = pool_(root);
  const n = p.nrClasses;
  const zbrk = zspageIdLimit(root);
  const hbrk = atomic.load<u32>(root + offsetof<ZsPool>("handleBrk"));
  let liveDescs: u32 = 0, chunksListed: u32 = 0, spares: u32 = 0;
  for (let c: u32 = 0; c < n; c++) {
    const cls = classAddress(root, c);
    lockClass(root, cls);
    const r = checkClass(pool, root, cls, c, zbrk, hbrk);
    const sc = class_(cls);
    if (sc.huge == 0) liveDescs += sc.zspages;
    if (sc.spare != 0) spares++;
    chunksListed += countChunks(root, sc.chunks, hbrk);
    mutexUnlock(cls);
    if (r != 0) return r;
  }
  // Chunks: each header claims a class; a chunk that claims none is an orphan and must hold no object.
  let claimed: u32 = 0;
  for (let k: u32 = 0; (k << HANDLE_CHUNK_SHIFT) < hbrk; k++) {
    const base = tableEntry(root + POOL_HANDLE_DIR, k << HANDLE_CHUNK_SHIFT, HANDLE_ENTRY_SHIFT);
    if (base == 0) continue;
    const hw = entry_(base).word1;
    if ((hw & ENTRY_CHUNK) != 0) {
      if ((hw & ENTRY_CLASS_MASK) >= n) return -23;
      claimed++;
      continue;
    }
    for (let i: u32 = 1; i < HANDLE_CHUNK; i++) {
      if ((entry_(base + (<usize>i << HANDLE_ENTRY_SHIFT)).word1 & ENTRY_ALLOC) != 0) return -23;
    }
  }
  if (claimed != chunksListed) return -23;
  // Descriptors: every live one belongs to a class that counts it; the
  // taken slots are the live descriptors (one or two slots each) and the
  // classes' spares; the leaf-full bitmap and the leaf masks agree; no leaf
  // without a descriptor is kept.
  let live: u32 = 0, taken: u32 = 0, idle: u32 = 0;
  for (let id: u32 = 1; id < zbrk; id++) {
    const za = desc(root, id);
    if (za == 0) continue;
    const z = changetype<Zspage>(za);
    taken += <u32>z.descSlots;
    if (z.descSlots != 1 && z.descSlots != 2) return -24;
    if ((<u32>z.flags & ZSPAGE_INUSE) == 0) { idle++; continue; }
    if (<u32>z.cls >= n || (<u32>z.flags & ZSPAGE_ISOLATED) != 0) return -24;
    if (<u32>z.descSlots != class_(classAddress(root, z.cls)).descSlots) return -24;
    live++;
  }
  if (live != liveDescs || idle != spares) return -24;
  if (taken != atomic.load<u32>(root + offsetof<ZsPool>("descUsed"))) return -28;
  for (let leafNo: u32 = 0; leafNo < (zbrk >> LEAF_SLOTS_SHIFT); leafNo++) {
    const hdr = leafHeader(root, leafNo);
    const fullBit = (load<u32>(root + POOL_LEAF_FULL + (<usize>(leafNo >> 5) << 2)) >> (leafNo & 31)) & 1;
    const sumBit = (load<u32>(root + POOL_LEAF_SUMMARY + (<usize>(leafNo >> 10) << 2)) >> ((leafNo >> 5) & 31)) & 1;
    const wordFull = load<u32>(root + POOL_LEAF_FULL + (<usize>(leafNo >> 5) << 2)) == 0xFFFFFFFF ? 1 : 0;
    if (sumBit != wordFull) return -28;
    if (hdr == 0) { if (fullBit != 0) return -28; continue; }
    const used = load<u64>(hdr);
    if ((used & 1) == 0 || used == LEAF_EMPTY || fullBit != (used == LEAF_FULL ? 1 : 0)) return -28;
  }
  // Metadata frames: root, class frames, table leaves and L2 frames.
  let meta: u32 = 1;
  for (let f: u32 = 0; f < MAX_CLASS_FRAMES; f++) {
    const cf = load<u32>(root + POOL_CLASS_FRAMES + (<usize>f << 2));
    if (cf == 0) continue;
    if (!ownedAs(cf - 1, OWNER_META)) return -27;
    meta++;
  }
  const h = tableFrames(root + POOL_HANDLE_DIR);
  if (h < 0) return h;
  const z = tableFrames(root + POOL_ZSPAGE_DIR);
  if (z < 0) return z;
  meta += <u32>h + <u32>z;
  if (atomic.load<u32>(root + offsetof<ZsPool>("metaFrames")) != meta) return -25;
  return 0;
}

/** Is frame `pfn` allocated to `owner`? */
// @ts-ignore: decorator
@inline function ownedAs(pfn: u32, owner: u32): bool {
  return pfn < nrFrames && atomic.load<u32>(pfnToMeta(pfn) + offsetof<FrameMeta>("owner")) == owner;
}

/** Frames of the table with header `tbl` (leaves and L2 frames), or -27 when one is not metadata. */
function tableFrames(tbl: usize): i32 {
  let k: i32 = 0;
  for (let i: u32 = 0; i < DIRECT_LEAVES; i++) {
    const leaf = atomic.load<u32>(tbl + (<usize>i << 2));
    if (leaf == 0) continue;
    if (!ownedAs(leaf - 1, OWNER_META)) return -27;
    k++;
  }
  for (let s: u32 = 0; s < DIR_SLOTS; s++) {
    const l2 = atomic.load<u32>(tbl + TABLE_L2_OFF + (<usize>s << 2));
    if (l2 == 0) continue;
    if (!ownedAs(l2 - 1, OWNER_META)) return -27;
    k++;
    const base = pfnToAddress(l2 - 1);
    for (let i: u32 = 0; i < (1 << L2_SHIFT); i++) {
      const leaf = load<u32>(base + (<usize>i << 2));
      if (leaf == 0) continue;
      if (!ownedAs(leaf - 1, OWNER_META)) return -27;
      k++;
    }
  }
  return k;
}

/** Length of the chunk list starting at `chunk` (bounded; a broken list is checkClass's -15). */
function countChunks(root: usize, chunk: u32, hbrk: u32): u32 {
  let k: u32 = 0;
  const limit = (hbrk >> HANDLE_CHUNK_SHIFT) + 1;
  while (chunk != 0 && k < limit) {
    const base = tableEntry(root + POOL_HANDLE_DIR, (chunk - 1) << HANDLE_CHUNK_SHIFT, HANDLE_ENTRY_SHIFT);
    if (base == 0) break;
    k++;
    chunk = entry_(base).word0;
  }
  return k;
}

function checkClass(pool: u32, root: usize, cls: usize, c: u32, zbrk: u32, hbrk: u32): i32 {
  const sc = class_(cls);
  if (sc.isolated != 0) return -2;
  // Fullness lists.
  let listed: u32 = 0;
  for (let g: u32 = 1; g <= ZS_NR_PARTIAL; g++) {
    const head = load<u32>(listHead(cls, g));
    if ((head != 0) != ((sc.groupMask & (<u32>1 << g)) != 0)) return -8;
    let prev: u32 = 0, id = head, k: u32 = 0;
    while (id != 0) {
      if (++k > zbrk) return -7;
      if (id >= zbrk) return -3;
      const za = desc(root, id);
      if (za == 0) return -3;
      const z = changetype<Zspage>(za);
      if (<u32>z.flags != ZSPAGE_INUSE || <u32>z.cls != c) return -4;
      if (<u32>z.group != g || fullnessGroup(z.inuse, <u32>z.objs, z.groupMul) != g) return -5;
      if (z.prev != prev) return -6;
      prev = id;
      id = z.next;
    }
    listed += k;
  }
  if ((sc.groupMask & ~(((<u32>1 << (ZS_NR_PARTIAL + 1)) - 1) & ~<u32>1)) != 0) return -8;
  // Live zspages of this class; clear their slot maps.
  const slotmaps = scratchBase + SCRATCH_IO;
  let zspages: u32 = 0, frames: u32 = 0, slots: u32 = 0, partial: u32 = 0;
  if (sc.huge == 0) {
    for (let id: u32 = 1; id < zbrk; id++) {
      const za = desc(root, id);
      if (za == 0) continue;
      const z = changetype<Zspage>(za);
      if ((<u32>z.flags & ZSPAGE_INUSE) == 0 || <u32>z.cls != c) continue;
      const pages = <u32>z.pages;
      const objs = <u32>z.objs;
      if (pages == 0 || pages > sc.pages || objs != (pages << PAGE_SHIFT) / sc.size || objs == 0 || z.groupMul != groupMulOf(objs)) return -10;
      let free: u32 = 0;
      if (<u32>z.descSlots != sc.descSlots || descSlotsFor(pages, objs) > sc.descSlots) return -10;
      for (let w: u32 = 0; w < ((objs + 31) >> 5); w++) {
        const bits = load<u32>(zspageBitmap(za, w));
        if ((bits & ~validMask(w, objs)) != 0) return -11;   // bits past objs
        if (w < <u32>z.hint && bits != 0) return -11;
        free += <u32>popcnt(bits);
      }
      if (z.inuse == 0 || z.inuse > objs || free != objs - z.inuse) return -11;
      const g = fullnessGroup(z.inuse, objs, z.groupMul);
      if (<u32>z.group != g) return -12;
      if (isListed(g)) partial++;
      for (let q: u32 = 0; q < pages; q++) {
        const pfn = zspageFrame(za, q);
        if (!ownedAs(pfn, OWNER_ZSMALLOC)) return -13;
        const m = changetype<FrameMeta>(pfnToMeta(pfn));
        if (m.priv0 != id || m.priv1 != q) return -13;
      }
      if (id < SLOTMAP_IDS) memory.fill(slotmaps + <usize>id * SLOTMAP_BYTES, 0, SLOTMAP_BYTES);
      zspages++;
      frames += pages;
      slots += objs;
    }
    if (partial != listed) return -12;
  }
  // Handles: the class's chunks.
  let used: u32 = 0, freeEntries: u32 = 0;
  let bytes: u32 = 0, huge: u32 = 0;
  let chunk = sc.chunks, nch: u32 = 0;
  const limit = (hbrk >> HANDLE_CHUNK_SHIFT) + 1;
  while (chunk != 0) {
    if (++nch > limit || ((chunk - 1) << HANDLE_CHUNK_SHIFT) >= hbrk) return -15;
    const start = (chunk - 1) << HANDLE_CHUNK_SHIFT;
    const base = tableEntry(root + POOL_HANDLE_DIR, start, HANDLE_ENTRY_SHIFT);
    if (base == 0 || entry_(base).word1 != (ENTRY_CHUNK | c)) return -15;
    for (let i: u32 = 1; i < HANDLE_CHUNK; i++) {
      const e = base + (<usize>i << HANDLE_ENTRY_SHIFT);
      const w1 = entry_(e).word1;
      if ((w1 & ENTRY_ALLOC) == 0) { freeEntries++; continue; }
      const w0 = entry_(e).word0;
      const size = (w1 & ENTRY_SIZE_MASK) + 1;
      if (((w1 >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK) != c || size > sc.size) return -16;
      used++;
      bytes += size;
      const idx = start + i;
      const pins = w0 & ENTRY_PIN_MASK;
      const handle = (((w1 >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK) << HANDLE_IDX_BITS) | idx;
      if (mapRecordsNaming(pool, handle) != pins) return -26;
      if (sc.huge != 0) {
        const pfn = w0 >> ENTRY_ZSPAGE_SHIFT;
        if (!ownedAs(pfn, OWNER_ZSMALLOC)) return -19;
        const m = changetype<FrameMeta>(pfnToMeta(pfn));
        if (m.priv0 != HUGE_MARK || m.priv1 != idx) return -19;
        huge++;
        continue;
      }
      const id = w0 >> ENTRY_ZSPAGE_SHIFT;
      const slot = (w0 >> ENTRY_SLOT_SHIFT) & ENTRY_SLOT_MASK;
      const za = id != 0 && id < zbrk ? desc(root, id) : 0;
      if (za == 0) return -17;
      const z = changetype<Zspage>(za);
      if (<u32>z.flags != ZSPAGE_INUSE || <u32>z.cls != c || slot >= <u32>z.objs) return -17;
      if ((load<u32>(zspageBitmap(za, slot >> 5)) & (<u32>1 << (slot & 31))) != 0) return -17;
      if (id < SLOTMAP_IDS) {
        const wp = slotmaps + <usize>id * SLOTMAP_BYTES + (<usize>(slot >> 5) << 2);
        const bit = <u32>1 << (slot & 31);
        if ((load<u32>(wp) & bit) != 0) return -18;
        store<u32>(wp, load<u32>(wp) | bit);
      }
    }
    chunk = entry_(base).word0;
  }
  if (sc.huge == 0) {
    // Every allocated slot is named by exactly one entry.
    for (let id: u32 = 1; id < zbrk && id < SLOTMAP_IDS; id++) {
      const za = desc(root, id);
      if (za == 0) continue;
      const z = changetype<Zspage>(za);
      if ((<u32>z.flags & ZSPAGE_INUSE) == 0 || <u32>z.cls != c) continue;
      for (let w: u32 = 0; w < ((<u32>z.objs + 31) >> 5); w++) {
        if (load<u32>(slotmaps + <usize>id * SLOTMAP_BYTES + (<usize>w << 2)) != usedBits(za, w, <u32>z.objs)) return -18;
      }
    }
  } else {
    zspages = huge; frames = huge; slots = huge;
  }
  if (sc.zspages != zspages || sc.frames != frames || sc.slots != slots) return -14;
  if (sc.objUsed != used || sc.objBytes != bytes) return -21;
  // The free handle list: entries of this class's chunks that are free, each once.
  let id = sc.handleFree, k: u32 = 0;
  while (id != 0) {
    if (++k > freeEntries || id >= hbrk || (id & (HANDLE_CHUNK - 1)) == 0) return -20;
    const e = tableEntry(root + POOL_HANDLE_DIR, id, HANDLE_ENTRY_SHIFT);
    if (e == 0 || (entry_(e).word1 & ENTRY_ALLOC) != 0) return -20;
    const hdr = tableEntry(root + POOL_HANDLE_DIR, id & ~(HANDLE_CHUNK - 1), HANDLE_ENTRY_SHIFT);
    if (hdr == 0 || entry_(hdr).word1 != (ENTRY_CHUNK | c)) return -20;
    id = entry_(e).word0;
  }
  if (k != freeEntries) return -20;
  // The descriptor hand-over fields: no release left (lockClass finished
  // it), a spare is a taken slot of this class's size that is not in use.
  if (sc.release != 0) return -22;
  if (sc.spare != 0) {
    const za = sc.spare < zbrk ? desc(root, sc.spare) : 0;
    if (za == 0 || (<u32>changetype<Zspage>(za).flags & ZSPAGE_INUSE) != 0 || <u32>changetype<Zspage>(za).descSlots != sc.descSlots) return -22;
  }
  return 0;
}

/** Bits of bitmap word `w` that name slots (< objs). */
// @ts-ignore: decorator
@inline function validMask(w: u32, objs: u32): u32 {
  const first = w << 5;
  if (objs >= first + 32) return 0xFFFFFFFF;
  if (objs > first) return (<u32>1 << (objs - first)) - 1;
  return 0;
}
