// SPDX-License-Identifier: MIT
//
// zsmalloc_layout.ts: the shared-memory structures of a zsmalloc pool (the pool
// root, size classes, zspage descriptors, the handle table), the size-class
// table rule, and the two-level tables that hold handles and descriptors.
//
// It is not the allocator (zsmalloc.ts is): it owns layout, encodings and the
// pure arithmetic, so the allocator reads as the algorithm.
//
// Key idea: everything a pool keeps lives in frames it allocated, addressed
// by page-frame number, so any Worker attached to the memory can find it from
// the pool id (root pfn + 1). Tables grow a frame at a time behind a two-level
// directory in the root; a leaf frame is zeroed before it is published, so an
// entry that was never handed out reads as "free" to a forged handle.
//
// Layout:
//
// ╒═══ pool root frame (OWNER_META) ════════════════════════════════════════╕
// │ ZsPool fields │ handle table header │ zspage table header │ class frames │
// │ u32[8] │ class map u8[256] (nominal index → kept class) │ room map u32[8] │
// │ leaf-full bitmap u32[512] (zspage leaf n full: bit n) │ its summary u32[16] │
// ╘══════════════════════════════════════════════════════════════════════════╛
// table header = direct leaves u32[128] (leaf pfn + 1) then L2 directory
// u32[64] (L2 frame pfn + 1; 0 = absent); L2 frame = u32[1024] of leaf
// pfn + 1; a handle leaf holds 512 HandleEntry, a zspage leaf 64 slots of
// 64 bytes: its DescLeaf header, then Zspage descriptors (one slot each, two
// for the few classes whose frame list and bitmap need more). Zspage leaves
// are allocated lowest slot first and freed when their last descriptor goes
// (zsmalloc_desc.ts); the root's leaf-full bitmap finds a leaf with room.
//
// ╒═══ HandleEntry (8 bytes) ════════════════════════════════════════════════╕
// │ word0 allocated: zspage id << 11 | slot << 3 | pin count (0..7)          │
// │                  (huge object: its frame's pfn << 11 | pin count)        │
// │       free:      next free idx (0 ends the class's list)                 │
// │ word1 allocated: ALLOC | gen << 20 | class << 12 | (size - 1)            │
// │       free:      gen << 20                                               │
// ╘══════════════════════════════════════════════════════════════════════════╛
// handle = gen << 23 | idx, a positive i32.
//
// Handle entries are handed to size classes in chunks of HANDLE_CHUNK; the
// first entry of every chunk is its ChunkHeader (never a handle, so idx 0 is
// never one), which links the class's chunks: compaction walks them to find
// the owners of the objects it moves. Objects therefore carry no header (the
// kernel puts an 8-byte one in each object for that), and which slots are free
// is kept in the zspage descriptor's bitmap, so malloc and free never touch an
// object's bytes. A huge object fills its own frame; FrameMeta.priv1 = idx.
//
// Concurrency: layout only; see zsmalloc.ts for who holds which lock.
//
// See also: zsmalloc.ts, ../src/zpool/kernel-zsmalloc.ts (the kernel's rule).

import { PAGE_SHIFT, PAGE_SIZE, OWNER_META, E_NOMEM, pfnToAddress } from "./common";
import { frameAlloc, frameFree } from "./frames";
import { mutexLock, mutexUnlock, ustore32, ulogFrameAlloc, LV_ALLOC } from "./robust";

// ══ Size classes ══
//
// Nominal classes are 32 + 16·i bytes, i = 0..254 (kernel ZS_SIZE_CLASS_DELTA
// = PAGE_SIZE >> 8). A smaller delta means less internal waste per object but
// more classes, hence more partly filled zspages; 16 is the kernel's choice.
//
//   [000]: 32   [001]: 48   ...   [254]: 4096

/** Smallest slot (kernel ZS_MIN_ALLOC_SIZE). */
// @ts-ignore: decorator
@inline export const ZS_MIN_ALLOC_SIZE: u32 = 32;
/** Largest object payload (one page). */
// @ts-ignore: decorator
@inline export const ZS_MAX_ALLOC_SIZE: u32 = PAGE_SIZE;
/** log2 of the step between nominal classes. */
// @ts-ignore: decorator
@inline export const ZS_SIZE_CLASS_SHIFT: u32 = 4;
/** Step between nominal classes. */
// @ts-ignore: decorator
@inline export const ZS_SIZE_CLASS_DELTA: u32 = 1 << ZS_SIZE_CLASS_SHIFT;
/** Nominal classes 32..4096. */
// @ts-ignore: decorator
@inline export const ZS_SIZE_CLASSES: u32 = (ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE) / ZS_SIZE_CLASS_DELTA + 1;
/** Most frames per zspage a pool may ask for (kernel CONFIG_ZSMALLOC_CHAIN_SIZE max). */
// @ts-ignore: decorator
@inline export const ZS_MAX_CHAIN: u32 = 16;
/** Most objects in one zspage for any chain ≤ 16 (class 48, 80 or 112: 256). */
// @ts-ignore: decorator
@inline export const ZS_MAX_OBJS: u32 = 256;
/** u32 words of a zspage's free-slot bitmap. */
// @ts-ignore: decorator
@inline export const ZS_BITMAP_WORDS: u32 = ZS_MAX_OBJS / 32;

// ══ Fullness groups ══
//
// The kernel's modern ratio groups: group 0 = empty (the zspage is freed at
// once, never listed), 1..10 = in use ratio in (0,10%], (10,20%], ...,
// (90%,100%), 11 = full (not listed). Allocation takes the fullest listed
// zspage; compaction moves objects out of the emptiest ones.

// @ts-ignore: decorator
@inline export const ZS_EMPTY: u32 = 0;
// @ts-ignore: decorator
@inline export const ZS_NR_PARTIAL: u32 = 10;
// @ts-ignore: decorator
@inline export const ZS_FULL: u32 = ZS_NR_PARTIAL + 1;

/**
 * Fullness group of a zspage holding `inuse` of `objs` objects; `mul` is the
 * class's groupMul = ⌊10·2^16 / objs⌋, so the ratio needs no division on the
 * hot path (groups 1..10 are ⌊10·inuse/objs⌋ + 1, rounded down by mul).
 */
// @ts-ignore: decorator
@inline export function fullnessGroup(inuse: u32, objs: u32, mul: u32): u32 {
  if (inuse == 0) return ZS_EMPTY;
  if (inuse >= objs) return ZS_FULL;
  return ((inuse * mul) >> 16) + 1;
}
/** groupMul of a class with `objs` objects per zspage. */
// @ts-ignore: decorator
@inline export function groupMulOf(objs: u32): u32 {
  return (ZS_NR_PARTIAL << 16) / objs;
}

// ══ Handles ══

/** Bits of the handle-table index in a handle. */
// @ts-ignore: decorator
@inline export const HANDLE_IDX_BITS: u32 = 23;
// @ts-ignore: decorator
@inline export const HANDLE_IDX_MASK: u32 = (1 << HANDLE_IDX_BITS) - 1;
/**
 * Generation bits: bumped at each free of the slot, so a stale handle is
 * refused through 255 reuses of its slot and aliases the live one at exactly
 * the 256th (why no wider: zsmalloc.ts, "Guarantee").
 */
// @ts-ignore: decorator
@inline export const HANDLE_GEN_BITS: u32 = 8;
// @ts-ignore: decorator
@inline export const HANDLE_GEN_MASK: u32 = (1 << HANDLE_GEN_BITS) - 1;
if (HANDLE_IDX_BITS + HANDLE_GEN_BITS != 31) ERROR("a handle must be a positive i32");

/** word1 of an allocated entry has this bit. */
// @ts-ignore: decorator
@inline export const ENTRY_ALLOC: u32 = 0x80000000;
/** word1 of a chunk header has this bit (and the class in its low byte). */
// @ts-ignore: decorator
@inline export const ENTRY_CHUNK: u32 = 0x40000000;
// @ts-ignore: decorator
@inline export const ENTRY_GEN_SHIFT: u32 = 20;
// @ts-ignore: decorator
@inline export const ENTRY_CLASS_SHIFT: u32 = 12;
// @ts-ignore: decorator
@inline export const ENTRY_CLASS_MASK: u32 = 0xFF;
// @ts-ignore: decorator
@inline export const ENTRY_SIZE_MASK: u32 = 0xFFF;
/** word0 of an allocated entry: the low bits count pins (maps in progress). */
// @ts-ignore: decorator
@inline export const ENTRY_PIN_BITS: u32 = 3;
// @ts-ignore: decorator
@inline export const ENTRY_PIN_MASK: u32 = (1 << ENTRY_PIN_BITS) - 1;
// @ts-ignore: decorator
@inline export const ENTRY_SLOT_SHIFT: u32 = ENTRY_PIN_BITS;
// @ts-ignore: decorator
@inline export const ENTRY_SLOT_MASK: u32 = ZS_MAX_OBJS - 1;
/** word0 >> ENTRY_ZSPAGE_SHIFT = zspage id (or a huge object's pfn). */
// @ts-ignore: decorator
@inline export const ENTRY_ZSPAGE_SHIFT: u32 = ENTRY_SLOT_SHIFT + 8;
if (ENTRY_GEN_SHIFT + HANDLE_GEN_BITS > 31) ERROR("entry word1 overflow");
if (ENTRY_SLOT_MASK != 255) ERROR("slot field is 8 bits");

/** word0 of an allocated, unpinned entry for slot `slot` of zspage `id`. */
// @ts-ignore: decorator
@inline export function makeWhere(id: u32, slot: u32): u32 {
  return (id << ENTRY_ZSPAGE_SHIFT) | (slot << ENTRY_SLOT_SHIFT);
}

/** A handle-table entry. */
@unmanaged export class HandleEntry {
  /** Allocated: loc << 4 | pins. Free: next free index (0 ends the list). */
  word0: u32;
  /** Allocated: ENTRY_ALLOC | gen << 20 | class << 12 | (size - 1). Free: gen << 20. */
  word1: u32;
}
// @ts-ignore: decorator
@inline export const HANDLE_ENTRY_SHIFT: u32 = 3;
if (offsetof<HandleEntry>() != 1 << HANDLE_ENTRY_SHIFT) ERROR("HandleEntry must be 8 bytes");

// ══ zspage descriptors ══

/** Zspage.flags: the descriptor describes a live zspage. */
// @ts-ignore: decorator
@inline export const ZSPAGE_INUSE: u32 = 1;
/** Zspage.flags: taken off its fullness list by compaction. */
// @ts-ignore: decorator
@inline export const ZSPAGE_ISOLATED: u32 = 2;
/** FrameMeta.priv0 of a huge object's frame (else the zspage id). */
// @ts-ignore: decorator
@inline export const HUGE_MARK: u32 = 0xFFFFFFFF;

// ╒═══ Zspage (64 bytes; 128 for a few classes: descSlotsFor) ═══════════════╕
// │ 0 next │ 4 prev │ 8 inuse │ 12 cls flags group hint │ 16 objs pages slots │
// │ 20 groupMul │ 24 pfns of its frames u32[pages]                            │
// │ then the free-slot bitmap u32[⌈objs / 32⌉] (bit set = slot free)          │
// ╘═══════════════════════════════════════════════════════════════════════════╛
/**
 * One zspage: the kernel's struct zspage plus its page list. Keeping the free
 * slots and the frame list here (not in the objects and FrameMeta, as the
 * kernel does) means malloc and free touch only metadata, which stays in
 * cache, and never read a cold object. The frame list and the bitmap share
 * what follows the fields, each as long as this zspage needs, so most
 * zspages fit one 64-byte slot (the kernel's struct zspage is 56 bytes); a
 * zspage of many small objects on a long chain (class 48 or 112 of chain 8,
 * 256 objects on 3 or 7 frames) takes two slots.
 */
@unmanaged export class Zspage {
  /** Next zspage id on its fullness list (0 ends). */
  next: u32;
  /** Previous zspage id on its fullness list (0 = head). */
  prev: u32;
  /** Objects allocated in it. */
  inuse: u32;
  /** Kept class index. */
  cls: u8;
  /** ZSPAGE_INUSE | ZSPAGE_ISOLATED. */
  flags: u8;
  /** Fullness group (ZS_EMPTY .. ZS_FULL); listed under it unless isolated. */
  group: u8;
  /** No bitmap word below this one has a free bit. */
  hint: u8;
  /** Object slots in this zspage (its chain length decides it: see pagesForNewZspage). */
  objs: u16;
  /** Frames in this zspage (1 .. the class's pages). */
  pages: u8;
  /** 64-byte table slots this descriptor takes (1 or 2; set when the slots are taken, zsmalloc_desc.ts). */
  descSlots: u8;
  /** groupMulOf(objs): the fullness group without a division. */
  groupMul: u32;
}
/** Offset of the frame list (u32 pfns), right after the fields; the bitmap follows the frame list. */
// @ts-ignore: decorator
@inline export const ZSPAGE_PAGES_OFF: usize = offsetof<Zspage>();
/** log2 of a zspage table slot (64 bytes). */
// @ts-ignore: decorator
@inline export const ZSPAGE_SHIFT: u32 = 6;
/** u32 words in one table slot. */
// @ts-ignore: decorator
@inline export const ZSPAGE_SLOT_WORDS: u32 = (1 << ZSPAGE_SHIFT) >> 2;
/** Most table slots one descriptor takes. */
// @ts-ignore: decorator
@inline export const ZSPAGE_MAX_SLOTS: u32 = 2;
if (ZSPAGE_PAGES_OFF != 24) ERROR("Zspage fields must be 24 bytes");
// The state word: inuse, cls, flags, group, hint are one aligned u64 (one logged store per malloc or free).
if (offsetof<Zspage>("inuse") != 8 || offsetof<Zspage>("cls") != 12 || offsetof<Zspage>("flags") != 13
  || offsetof<Zspage>("group") != 14 || offsetof<Zspage>("hint") != 15) ERROR("Zspage state word layout");
if (offsetof<Zspage>("next") != 0 || offsetof<Zspage>("prev") != 4) ERROR("Zspage links: one aligned u64");
if (offsetof<Zspage>("objs") != 16 || offsetof<Zspage>("descSlots") != 19) ERROR("Zspage geometry word layout");
if ((ZSPAGE_PAGES_OFF >> 2) + ZS_MAX_CHAIN + ZS_BITMAP_WORDS > ZSPAGE_MAX_SLOTS * ZSPAGE_SLOT_WORDS) ERROR("a Zspage must fit two slots");

/**
 * Table slots (1 or 2) for a zspage of `pages` frames and `objs` objects: one
 * while its frame list and bitmap fit the 40 bytes after the fields. With the
 * kernel's chain 8 only classes below 512 bytes on long chains need two
 * (48, 80, 112, 144, 224, 352, 368).
 */
// @ts-ignore: decorator
@inline export function descSlotsFor(pages: u32, objs: u32): u32 {
  return (ZSPAGE_PAGES_OFF >> 2) + pages + ((objs + 31) >> 5) <= ZSPAGE_SLOT_WORDS ? 1 : 2;
}

/** pfn of frame `p` of the zspage at `zs`. */
// @ts-ignore: decorator
@inline export function zspageFrame(zs: usize, p: u32): u32 {
  return load<u32>(zs + ZSPAGE_PAGES_OFF + (<usize>p << 2));
}
/** Address of the free-slot bitmap of the zspage at `zs` (after its frame list). */
// @ts-ignore: decorator
@inline export function zspageBitmapBase(zs: usize): usize {
  return zs + ZSPAGE_PAGES_OFF + (<usize>load<u8>(zs + offsetof<Zspage>("pages")) << 2);
}
/** Address of the bitmap word `w` of the zspage at `zs`. */
// @ts-ignore: decorator
@inline export function zspageBitmap(zs: usize, w: u32): usize {
  return zspageBitmapBase(zs) + (<usize>w << 2);
}
/** Address of byte `off` of the zspage at `zs` (off < pages · 4096). */
// @ts-ignore: decorator
@inline export function zspageAddress(zs: usize, off: u32): usize {
  return pfnToAddress(zspageFrame(zs, off >> PAGE_SHIFT)) + <usize>(off & (PAGE_SIZE - 1));
}

// ══ Size class ══

// ╒═══ SizeClass (128 bytes: its lock on its own cache lines) ═══╕
// │ lock │ size │ objs │ pages │ huge │ groupMask │ handleFree │ spare │      │
// │ objUsed │ objBytes │ zspages │ compacted │ groupMul │ chunks │ frames │    │
// │ slots │ isolated │ release │ descSlots │ lists[12]                       │
// ╘═══════════════════════════════════════════════════════════════╛
/** One kept size class. Every mutable field is guarded by `lock`. */
@unmanaged export class SizeClass {
  /** Per-class mutex (lock.ts level 6). */
  lock: i32;
  /** Slot size in bytes (4096 for the huge class). */
  size: u32;
  /** Objects per zspage of the full chain length `pages`. */
  objs: u32;
  /** Frames per zspage at full length (the kernel's table rule); shorter chains are built while the class is small. */
  pages: u32;
  /** 1 for the huge class. */
  huge: u32;
  /** Bit g set iff fullness list g (1..10) is non-empty. */
  groupMask: u32;
  /** Head of this class's free handle list (index; 0 = empty). */
  handleFree: u32;
  /**
   * A zspage descriptor taken from the pool for this class and not in use
   * (id; 0 = none): the hand-over from the pool's grow-lock section to the
   * class's (zsmalloc_desc.ts takeDescriptor), so a death between the two
   * leaks nothing; newZspage uses it first.
   */
  spare: u32;
  /** Objects allocated (obj_used). Next to objBytes: malloc and free log both in one 8-byte store. */
  objUsed: u32;
  /** Sum of the allocated objects' payload sizes. */
  objBytes: u32;
  /** Live zspages (pages_used = zspages · pages). */
  zspages: u32;
  /** Frames freed by compaction, all time (pages_compacted). */
  compacted: u32;
  /** groupMulOf(objs): fullness group without a division. */
  groupMul: u32;
  /** First of this class's handle chunks: chunk number (start / HANDLE_CHUNK) + 1; 0 = none. */
  chunks: u32;
  /** Frames held by the live zspages (their chains differ in length). */
  frames: u32;
  /** Object slots in the live zspages (obj_allocated). Next to frames: one logged 8-byte store. */
  slots: u32;
  /**
   * Zspages a compaction took off their lists (Zspage.next chains them; 0 =
   * none). Non-zero only inside a compaction, or after the Worker doing one
   * died past one of its commit points: the next holder of the class lock
   * (lockClass) puts them back before anything else.
   */
  isolated: u32;
  /**
   * A freed zspage's descriptor not yet given back to the pool (id; 0 =
   * none): set with the class's own stores, cleared in the grow-lock section
   * that gives it back (zsmalloc_desc.ts releaseDescriptor). Non-zero past a
   * commit point only if that Worker died: lockClass finishes it.
   */
  release: u32;
  /** Table slots of every descriptor of this class (descSlotsFor its full-length zspage). */
  descSlots: u32;
}
if (offsetof<SizeClass>("release") != offsetof<SizeClass>("isolated") + 4 || (offsetof<SizeClass>("isolated") & 7) != 0) ERROR("isolated, release: one aligned u64 (lockClass reads both at once)");
if ((offsetof<SizeClass>("objUsed") & 7) != 0 || offsetof<SizeClass>("objBytes") != offsetof<SizeClass>("objUsed") + 4) ERROR("objUsed, objBytes: one aligned u64");
if ((offsetof<SizeClass>("frames") & 7) != 0 || offsetof<SizeClass>("slots") != offsetof<SizeClass>("frames") + 4) ERROR("frames, slots: one aligned u64");
/** Fullness list heads (zspage id) for groups 0..ZS_FULL follow the fields. */
// @ts-ignore: decorator
@inline export const CLASS_LISTS_OFF: usize = offsetof<SizeClass>();
// @ts-ignore: decorator
@inline export const CLASS_SHIFT: u32 = 7;
// @ts-ignore: decorator
@inline export const CLASSES_PER_FRAME_SHIFT: u32 = PAGE_SHIFT - CLASS_SHIFT;
if (CLASS_LISTS_OFF + (ZS_FULL + 1) * 4 > 1 << CLASS_SHIFT) ERROR("SizeClass must fit 128 bytes");

/** Address of the fullness-list head of group `g` in class `cls`. */
// @ts-ignore: decorator
@inline export function listHead(cls: usize, g: u32): usize {
  return cls + CLASS_LISTS_OFF + (<usize>g << 2);
}

// ══ Pool root ══

/** "ZSML": marks a live pool root. */
// @ts-ignore: decorator
@inline export const ZS_POOL_MAGIC: u32 = 0x4c4d535a;

@unmanaged export class ZsPool {
  /** ZS_POOL_MAGIC while the pool lives. */
  magic: u32;
  /** The pool's own id (root pfn + 1): with the magic, what makes a frame a pool root. */
  self: u32;
  /** Most frames per zspage (chain length). */
  maxPages: u32;
  /** Kept classes, the huge class included. */
  nrClasses: u32;
  /** Kept index of the huge class. */
  hugeClass: u32;
  /** Smallest payload stored as a huge object. */
  hugeMin: u32;
  /** First generation of a fresh handle entry (differs between pools). */
  seed: u32;
  /** Guards the two table directories while they grow. */
  growLock: i32;
  /** Frames held for metadata: root, class frames, table frames. */
  metaFrames: u32;
  /** Next never-used handle index (atomic; grows by HANDLE_CHUNK). */
  handleBrk: u32;
  /** Zspage leaves below this number may exist (a bound for walks; only grows; grow lock). */
  descLeaves: u32;
  /** Zspage table slots in use: descriptors, their second slots, spares (grow lock). */
  descUsed: u32;
}
/**
 * Leaf frames each table names straight from the root (pfn + 1), before its
 * two-level part: 128 handle leaves hold 65,536 handles and 128 zspage leaves
 * 4,096 zspages, so a small or middling pool never pays for an L2 frame (a
 * zcache in a 256-frame memory has two pools: the L2 frames were 2 % of it).
 */
// @ts-ignore: decorator
@inline export const DIRECT_LEAVES: u32 = 128;
/** Slots of each table's L2 directory (each names an L2 frame of 1024 leaves). */
// @ts-ignore: decorator
@inline export const DIR_SLOTS: u32 = 64;
/** Offset in a table header of its L2 directory (the direct leaves come first). */
// @ts-ignore: decorator
@inline export const TABLE_L2_OFF: usize = DIRECT_LEAVES * 4;
/** Bytes of a table header in the root: direct leaves, then the L2 directory. */
// @ts-ignore: decorator
@inline export const TABLE_HEADER_SIZE: usize = TABLE_L2_OFF + DIR_SLOTS * 4;
/** Header of the handle table. */
// @ts-ignore: decorator
@inline export const POOL_HANDLE_DIR: usize = 64;
/** Header of the zspage table. */
// @ts-ignore: decorator
@inline export const POOL_ZSPAGE_DIR: usize = POOL_HANDLE_DIR + TABLE_HEADER_SIZE;
/** Frames holding the SizeClass array: u32[8], pfn + 1. */
// @ts-ignore: decorator
@inline export const POOL_CLASS_FRAMES: usize = POOL_ZSPAGE_DIR + TABLE_HEADER_SIZE;
/** Nominal class index (0..255) → kept class index, u8[256]. */
// @ts-ignore: decorator
@inline export const POOL_CLASS_MAP: usize = POOL_CLASS_FRAMES + 32;
// @ts-ignore: decorator
@inline export const MAX_CLASS_FRAMES: u32 = 8;
if (offsetof<ZsPool>() > POOL_HANDLE_DIR) ERROR("ZsPool fields overflow");
/**
 * Kept classes with room, u32[8]: bit c set iff class c has a listed zspage
 * (groupMask != 0). Set and cleared with atomic or/and by the class's lock
 * holder as its groupMask turns non-zero or zero, read without a lock: a
 * small class looks here for a larger one to borrow a slot from.
 */
// @ts-ignore: decorator
@inline export const POOL_ROOM_MAP: usize = POOL_CLASS_MAP + 256;
/**
 * Zspage leaves that exist and are full, u32[MAX_DESC_LEAVES / 32]: bit n set
 * iff leaf n has no free slot (a missing leaf has room: it can be made).
 * Grow lock; logged stores.
 */
// @ts-ignore: decorator
@inline export const POOL_LEAF_FULL: usize = POOL_ROOM_MAP + 32;
/** Most zspage leaves (64 slots each): 2^20 slots, more zspages than a 4 GiB memory has frames. */
// @ts-ignore: decorator
@inline export const MAX_DESC_LEAVES: u32 = 16384;
/** u32 words of the leaf-full bitmap. */
// @ts-ignore: decorator
@inline export const LEAF_FULL_WORDS: u32 = MAX_DESC_LEAVES >> 5;
/** Summary of the leaf-full bitmap, u32[LEAF_FULL_WORDS / 32]: bit w set iff its word w is all ones. */
// @ts-ignore: decorator
@inline export const POOL_LEAF_SUMMARY: usize = POOL_LEAF_FULL + (<usize>LEAF_FULL_WORDS << 2);
// @ts-ignore: decorator
@inline export const LEAF_SUMMARY_WORDS: u32 = LEAF_FULL_WORDS >> 5;
if (POOL_LEAF_SUMMARY + (<usize>LEAF_SUMMARY_WORDS << 2) > PAGE_SIZE) ERROR("pool root must fit one frame");
if ((MAX_CLASS_FRAMES << CLASSES_PER_FRAME_SHIFT) < 256) ERROR("class frames too few");

/**
 * Handle entries taken from handleBrk at once by a class (divides a leaf's
 * 512): one ChunkHeader and 15 handles. Larger chunks mean fewer refills but
 * more entries idle in classes that hold few objects.
 */
// @ts-ignore: decorator
@inline export const HANDLE_CHUNK: u32 = 16;
/** log2 of HANDLE_CHUNK. */
// @ts-ignore: decorator
@inline export const HANDLE_CHUNK_SHIFT: u32 = 4;
if (HANDLE_CHUNK != 1 << HANDLE_CHUNK_SHIFT) ERROR("HANDLE_CHUNK must be 1 << HANDLE_CHUNK_SHIFT");
/** L2 directory frames hold this many leaf pointers. */
// @ts-ignore: decorator
@inline export const L2_SHIFT: u32 = PAGE_SHIFT - 2;
/** Most handle indices (2^23). */
// @ts-ignore: decorator
@inline export const MAX_HANDLES: u32 = 1 << HANDLE_IDX_BITS;
/** Most zspage ids (leaf number << 6 | slot): within what word0 of an entry can name (2^21) and the directory's reach. */
// @ts-ignore: decorator
@inline export const MAX_ZSPAGES: u32 = MAX_DESC_LEAVES << (PAGE_SHIFT - ZSPAGE_SHIFT);
if (MAX_ZSPAGES > (<u32>1 << (32 - ENTRY_ZSPAGE_SHIFT))) ERROR("zspage ids must fit an entry's word0");
if (((<u64>DIR_SLOTS << L2_SHIFT) + DIRECT_LEAVES) << (PAGE_SHIFT - ZSPAGE_SHIFT) < <u64>MAX_ZSPAGES) ERROR("zspage directory too small");
if (((<u64>DIR_SLOTS << L2_SHIFT) + DIRECT_LEAVES) << (PAGE_SHIFT - HANDLE_ENTRY_SHIFT) < <u64>MAX_HANDLES) ERROR("handle directory too small");

/** Address of kept class `c` of the pool at `root`. */
// @ts-ignore: decorator
@inline export function classAddress(root: usize, c: u32): usize {
  const f = load<u32>(root + POOL_CLASS_FRAMES + (<usize>(c >> CLASSES_PER_FRAME_SHIFT) << 2));
  return pfnToAddress(f - 1) + (<usize>(c & ((1 << CLASSES_PER_FRAME_SHIFT) - 1)) << CLASS_SHIFT);
}

// ══ Two-level tables ══

/**
 * Address of the word that names (pfn + 1) the leaf frame `leafNo` of the
 * table with header `tbl`: in the root for the first DIRECT_LEAVES, else in
 * an L2 frame; 0 when that L2 frame does not exist (yet) or leafNo is past
 * the table's reach.
 */
// @ts-ignore: decorator
@inline export function leafSlot(tbl: usize, leafNo: u32): usize {
  if (leafNo < DIRECT_LEAVES) return tbl + (<usize>leafNo << 2);
  const n = leafNo - DIRECT_LEAVES;
  const slot = n >> L2_SHIFT;
  if (slot >= DIR_SLOTS) return 0;
  const l2 = atomic.load<u32>(tbl + TABLE_L2_OFF + (<usize>slot << 2));
  if (l2 == 0) return 0;
  return pfnToAddress(l2 - 1) + (<usize>(n & ((1 << L2_SHIFT) - 1)) << 2);
}

/**
 * Address of entry `idx` (of 1 << shift bytes) of the table with header
 * `tbl`, or 0 when its leaf frame does not exist (yet).
 */
// @ts-ignore: decorator
@inline export function tableEntry(tbl: usize, idx: u32, shift: u32): usize {
  const leafShift = PAGE_SHIFT - shift;
  const ls = leafSlot(tbl, idx >> leafShift);
  if (ls == 0) return 0;
  const leaf = atomic.load<u32>(ls);
  if (leaf == 0) return 0;
  return pfnToAddress(leaf - 1) + (<usize>(idx & ((1 << leafShift) - 1)) << shift);
}

/** Allocate a zeroed metadata frame (grow lock held: logged, a rollback frees it); pfn + 1, or 0 when memory is out. */
export function zeroedMetaFrame(root: usize): u32 {
  const pfn = frameAlloc(OWNER_META);
  if (pfn < 0) return 0;
  ulogFrameAlloc(<u32>pfn, OWNER_META);
  memory.fill(pfnToAddress(<u32>pfn), 0, PAGE_SIZE);
  // Only grow-lock holders change it (readers load it lock-free).
  ustore32(root + offsetof<ZsPool>("metaFrames"), atomic.load<u32>(root + offsetof<ZsPool>("metaFrames")) + 1);
  return <u32>pfn + 1;
}

/** Publish `v` in the table slot at `slot` (grow lock held): logged, then stored atomically for the lock-free readers. */
// @ts-ignore: decorator
@inline export function publishSlot(slot: usize, v: u32): void {
  ustore32(slot, v);
  atomic.store<u32>(slot, v);
}

/**
 * Make sure the leaf frame holding entry `idx` of the table with header
 * `tbl` exists (and the L2 frame naming it). Takes the pool's grow lock
 * (lock.ts level 6, inside a class lock: growLock is innermost but for the
 * frame allocator). Taking it is a commit point (robust.ts): the caller's
 * class must be consistent here. Returns 0 or -E_NOMEM.
 */
export function tableEnsure(root: usize, tbl: usize, idx: u32, shift: u32): i32 {
  if (tableEntry(tbl, idx, shift) != 0) return 0;
  const leafNo = idx >> (PAGE_SHIFT - shift);
  if (leafNo >= DIRECT_LEAVES && ((leafNo - DIRECT_LEAVES) >> L2_SHIFT) >= DIR_SLOTS) return -E_NOMEM;
  const lock = root + offsetof<ZsPool>("growLock");
  mutexLock(lock, LV_ALLOC);
  const status = ensureLeafLocked(root, tbl, leafNo);
  mutexUnlock(lock);
  return status;
}

/**
 * tableEnsure's part under the grow lock: make leaf frame `leafNo` of the
 * table with header `tbl` exist (and the L2 frame naming it), zeroed. 0 or
 * -E_NOMEM (a leaf number past the directory's reach, or frames out).
 */
export function ensureLeafLocked(root: usize, tbl: usize, leafNo: u32): i32 {
  if (leafNo >= DIRECT_LEAVES && ((leafNo - DIRECT_LEAVES) >> L2_SHIFT) >= DIR_SLOTS) return -E_NOMEM;
  if (leafNo >= DIRECT_LEAVES) {
    const dslot = tbl + TABLE_L2_OFF + (<usize>((leafNo - DIRECT_LEAVES) >> L2_SHIFT) << 2);
    if (atomic.load<u32>(dslot) == 0) {
      const l2 = zeroedMetaFrame(root);
      if (l2 == 0) return -E_NOMEM;
      publishSlot(dslot, l2);
    }
  }
  const ls = leafSlot(tbl, leafNo);
  if (atomic.load<u32>(ls) == 0) {
    const leaf = zeroedMetaFrame(root);
    if (leaf == 0) return -E_NOMEM;
    publishSlot(ls, leaf);
  }
  return 0;
}

/** Free every frame of the table with header `tbl` (pool destroy). */
export function tableRelease(tbl: usize): void {
  for (let i: u32 = 0; i < DIRECT_LEAVES; i++) {
    const leaf = load<u32>(tbl + (<usize>i << 2));
    if (leaf != 0) frameFree(leaf - 1, OWNER_META);
    store<u32>(tbl + (<usize>i << 2), 0);
  }
  for (let s: u32 = 0; s < DIR_SLOTS; s++) {
    const dslot = tbl + TABLE_L2_OFF + (<usize>s << 2);
    const l2 = load<u32>(dslot);
    if (l2 == 0) continue;
    const base = pfnToAddress(l2 - 1);
    for (let i: u32 = 0; i < (1 << L2_SHIFT); i++) {
      const leaf = load<u32>(base + (<usize>i << 2));
      if (leaf != 0) frameFree(leaf - 1, OWNER_META);
    }
    frameFree(l2 - 1, OWNER_META);
    store<u32>(dslot, 0);
  }
}

// ══ The class table rule ══

/**
 * Frames per zspage for slot size `size` (the kernel's modern rule): 1 for a
 * power of two, else the smallest k in 1..maxPages with the least waste
 * k·4096 mod size.
 */
export function pagesPerZspage(size: u32, maxPages: u32): u32 {
  if ((size & (size - 1)) == 0) return 1;
  let best: u32 = 1;
  let bestWaste: u32 = PAGE_SIZE;
  for (let k: u32 = 1; k <= maxPages; k++) {
    const waste = (k << PAGE_SHIFT) % size;
    if (waste < bestWaste) { bestWaste = waste; best = k; }
  }
  return best;
}
