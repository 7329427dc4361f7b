// SPDX-License-Identifier: MIT
//
// zsmalloc_map.ts: zs_map_object and zs_unmap_object, zsmalloc's map/unmap
// discipline, with the per-Worker state of the one object mapped.
//
// It is not a general view into the pool: an object is reached only between
// map and unmap, one at a time per instance (per Worker).
//
// Key idea: mapping pins the object (a count in its entry's low bits, at most
// 7 Workers at once), so neither compaction nor a free from any Worker moves
// or releases it; an object that straddles two frames is copied into this
// Worker's SCRATCH_MAP buffer on map (unless write-only) and back on unmap
// (unless read-only), one that does not is returned in place.
//
// Guarantee: a bad pool, handle or mode maps nothing (0, with the status in
// zs_last_error); unmap of any handle but the mapped one changes nothing.
//
// Concurrency: the pin is taken and checked under the class lock; the
// mapping state is wasm globals, one copy per instance, so per Worker.
//
// See also: zsmalloc_handle.ts (lookupHandle), zsmalloc.ts (zs_free refuses a
// pinned object, zs_destroy_pool one mapped here), ../src/zpool/drivers/zsmalloc.ts.

import { PAGE_SHIFT, PAGE_SIZE, E_INVAL, E_BUSY, SCRATCH_MAP, scratchBase, pfnToAddress } from "./common";
import { mutexLock, mutexUnlock } from "./robust";
import {
  ENTRY_CLASS_SHIFT, ENTRY_CLASS_MASK, ENTRY_SIZE_MASK, ENTRY_PIN_MASK, ENTRY_SLOT_SHIFT,
  ENTRY_SLOT_MASK, ENTRY_ZSPAGE_SHIFT, HandleEntry, zspageFrame, zspageAddress, classAddress,
} from "./zsmalloc_layout";
import { poolRoot, class_, entry_, zspageAddr, lookupHandle, entryMatches } from "./zsmalloc_handle";

/** Map modes (kernel enum zs_mapmode). */
// @ts-ignore: decorator
@inline export const ZS_MM_RW: u32 = 0;
// @ts-ignore: decorator
@inline export const ZS_MM_RO: u32 = 1;
// @ts-ignore: decorator
@inline export const ZS_MM_WO: u32 = 2;
/** Offset from scratchBase of the u32 where zs_map_object leaves the mapped size. */
// @ts-ignore: decorator
@inline export const ZS_MAP_INFO: usize = SCRATCH_MAP + PAGE_SIZE;

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
/** True if this instance has an object of pool `pool` mapped (zs_destroy_pool refuses then). */
export function mappedPoolIs(pool: u32): bool {
  return mappedHandle != 0 && mappedPool == pool;
}

// ══ Map and unmap ══

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
