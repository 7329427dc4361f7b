// SPDX-License-Identifier: MIT
//
// zsmalloc_handle.ts: zsmalloc's handles: from a pool id to its root, from a
// handle to its table entry, and the per-class supply of fresh entries.
//
// It is not the table itself (zsmalloc_layout.ts draws HandleEntry and the
// two-level tables) nor what uses an entry (allocation, mapping, compaction).
//
// Key idea: a handle is gen << 23 | index into the pool's handle table; the
// entry says where the object is (zspage id and slot, or a huge object's
// frame), its class and size, and is handed to size classes HANDLE_CHUNK
// entries at a time, the first of each chunk a header that links the class's
// chunks, so compaction can walk a class's objects without reading them.
//
// Guarantee: lookupHandle answers 0, never a wrong entry, for a freed,
// double-freed or forged handle within the generation bound (8 bits, stated
// in zsmalloc.ts "Guarantee"): an entry never handed out lies in a missing
// leaf or a leaf zeroed at creation, and a free entry carries no ALLOC bit.
//
// Concurrency: lookupHandle is lock-free (its callers re-check the entry
// under the class lock: entryMatches); refillHandles runs under the class
// lock and takes the pool's grow lock only to add a table frame; takeChunk
// is one compare-and-swap loop on a pool-wide counter.
//
// See also: zsmalloc_layout.ts (HandleEntry, tables), zsmalloc.ts (malloc,
// free), zsmalloc_map.ts, zsmalloc_compact.ts.

import { E_NOMEM, nrFrames, pfnToAddress } from "./common";
import { FrameMeta } from "./frames";
import { ustore32, ustore64 } from "./robust";
import {
  ZS_MIN_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA, HANDLE_IDX_BITS, HANDLE_IDX_MASK, HANDLE_GEN_MASK,
  ENTRY_ALLOC, ENTRY_CHUNK, HANDLE_CHUNK_SHIFT, ENTRY_GEN_SHIFT, ENTRY_CLASS_SHIFT,
  ENTRY_CLASS_MASK, HandleEntry, HANDLE_ENTRY_SHIFT, Zspage, ZSPAGE_SHIFT, SizeClass,
  ZS_POOL_MAGIC, ZsPool, POOL_HANDLE_DIR, POOL_ZSPAGE_DIR, POOL_CLASS_MAP, HANDLE_CHUNK,
  MAX_HANDLES, tableEntry, tableEnsure,
} from "./zsmalloc_layout";

// ══ Pool root and accessors ══

/**
 * Root address of pool id `pool` (root pfn + 1), or 0 if it is not a live
 * pool: the frame must start with the magic and the pool's own id. (It reads
 * only the root's first line, which no hot path writes: checking the frame's
 * FrameMeta owner instead would read a line that frees of neighbouring frames
 * write, from any Worker.)
 */
// @ts-ignore: decorator
@inline export function poolRoot(pool: u32): usize {
  if (pool == 0 || pool > nrFrames) return 0;
  const root = pfnToAddress(pool - 1);
  if (atomic.load<u32>(root + offsetof<ZsPool>("magic")) != ZS_POOL_MAGIC) return 0;
  if (load<u32>(root + offsetof<ZsPool>("self")) != pool) return 0;
  return root;
}

// @ts-ignore: decorator
@inline export function pool_(root: usize): ZsPool { return changetype<ZsPool>(root); }
// @ts-ignore: decorator
@inline export function class_(addr: usize): SizeClass { return changetype<SizeClass>(addr); }
// @ts-ignore: decorator
@inline export function entry_(addr: usize): HandleEntry { return changetype<HandleEntry>(addr); }

/** Descriptor address of zspage `id` (the caller knows it exists). */
// @ts-ignore: decorator
@inline export function zspageAddr(root: usize, id: u32): usize {
  return tableEntry(root + POOL_ZSPAGE_DIR, id, ZSPAGE_SHIFT);
}
// @ts-ignore: decorator
@inline export function zspageOf(root: usize, id: u32): Zspage {
  return changetype<Zspage>(zspageAddr(root, id));
}

/** Kept class index for a payload of `size` bytes (1..4096). */
// @ts-ignore: decorator
@inline export function classIndexOf(root: usize, size: u32): u32 {
  const s = size < ZS_MIN_ALLOC_SIZE ? ZS_MIN_ALLOC_SIZE : size;
  return <u32>load<u8>(root + POOL_CLASS_MAP + <usize>((s - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) >> 4));
}

/**
 * The entry of `handle` if it names a live object of the pool at `root`,
 * else 0. Lock-free: the caller re-checks under the class lock.
 */
export function lookupHandle(root: usize, handle: u32): usize {
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
@inline export function entryMatches(info: u32, handle: u32, c: u32): bool {
  return (info & ENTRY_ALLOC) != 0
    && ((info >> ENTRY_GEN_SHIFT) & HANDLE_GEN_MASK) == handle >> HANDLE_IDX_BITS
    && ((info >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK) == c;
}

// ══ Fresh handles (class lock held) ══

/** Take `chunk` fresh indices from the counter at `brkp`; the first, or -1 past `limit`. */
export function takeChunk(brkp: usize, chunk: u32, limit: u32): i64 {
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
export function refillHandles(root: usize, cls: usize, c: u32): i32 {
  const start = takeChunk(root + offsetof<ZsPool>("handleBrk"), HANDLE_CHUNK, MAX_HANDLES);
  if (start < 0) return -E_NOMEM;
  const s = <u32>start;
  if (tableEnsure(root, root + POOL_HANDLE_DIR, s, HANDLE_ENTRY_SHIFT) < 0) return -E_NOMEM;
  const sc = class_(cls);
  const base = tableEntry(root + POOL_HANDLE_DIR, s, HANDLE_ENTRY_SHIFT);
  // The chunk's entries are unreachable until the logged stores of chunks
  // and handleFree; only its header is logged, so that a rollback leaves the
  // chunk an orphan (header zero: zs_check tells it from a class's chunk).
  // A Worker killed between takeChunk and here leaks the chunk's indices.
  const end = s + HANDLE_CHUNK;
  const gen0 = (pool_(root).seed & HANDLE_GEN_MASK) << ENTRY_GEN_SHIFT;
  for (let i = s + 1; i < end; i++) {
    const e = entry_(base + (<usize>(i - s) << HANDLE_ENTRY_SHIFT));
    e.word0 = i + 1 < end ? i + 1 : sc.handleFree;
    e.word1 = gen0;
  }
  ustore64(base, <u64>sc.chunks | (<u64>(ENTRY_CHUNK | c) << 32));
  ustore32(cls + offsetof<SizeClass>("chunks"), (s >> HANDLE_CHUNK_SHIFT) + 1);
  ustore32(cls + offsetof<SizeClass>("handleFree"), s + 1);
  return 0;
}
