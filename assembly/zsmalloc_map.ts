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
// Concurrency: the pin is taken, dropped and checked under the class lock
// (unmap takes it too, so a pin is one logged store, exact under rollback);
// the mapping state is wasm globals, one copy per instance, so per Worker,
// plus a map record in the Worker's scratch (ZS_MAP_RECORD) that outlives
// it: zs_reclaim_slot drops a dead Worker's pin.
//
// See also: zsmalloc_handle.ts (lookupHandle), zsmalloc.ts (zs_free refuses a
// pinned object, zs_destroy_pool one mapped here), ../src/zpool/drivers/zsmalloc.ts.

import {
  PAGE_SHIFT, PAGE_SIZE, E_INVAL, E_BUSY, SCRATCH_MAP, CTRL_BASE, slotScratch,
  CTRL_MAX_WORKERS_OFF, scratchBase, workerSlot, pfnToAddress,
} from "./common";
import { mutexUnlock, ustore32, ustore64 } from "./robust";
import { lockClass } from "./zsmalloc_compact";
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
/**
 * Offset from a slot's scratch base of its map record: the pool (u32) and
 * handle (u32) it has pinned, 0 when none. Written with the pin, under the
 * class lock, with logged stores: a rollback undoes both or neither. It is
 * how a reclaim finds the pin of a Worker that died while mapping
 * (zs_reclaim_slot). Lies between ZS_MAP_INFO and the host's stats buffer
 * (src/zpool/drivers/zsmalloc.ts, ZS_MAP_INFO + 64).
 */
// @ts-ignore: decorator
@inline export const ZS_MAP_RECORD: usize = ZS_MAP_INFO + 16;

// ══ Per-instance state (wasm globals: one per Worker) ══

let mappedPool: u32 = 0;
let mappedHandle: u32 = 0;
let mappedEntry: usize = 0;
let mappedClass: usize = 0;
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
  lockClass(root, cls);
  const info = entry_(e).word1;
  const w0 = atomic.load<u32>(e);
  let status: i32 = 0;
  if (!entryMatches(info, handle, c)) status = -E_INVAL;
  else if ((w0 & ENTRY_PIN_MASK) == ENTRY_PIN_MASK) status = -E_BUSY;
  else {
    // Pins change only under the class lock (unmap takes it too), so a
    // logged store is exact; the record goes with it.
    ustore32(e, w0 + 1);
    ustore64(scratchBase + ZS_MAP_RECORD, <u64>pool | (<u64>handle << 32));
  }
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
  mappedClass = cls;
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
  // This instance's destroy refuses while it maps the pool; another Worker's
  // (a race the API forbids) leaves nothing to unpin and no lock to take.
  const root = poolRoot(pool);
  if (root != 0) {
    lockClass(root, mappedClass);
    ustore32(mappedEntry, atomic.load<u32>(mappedEntry) - 1);
    ustore64(scratchBase + ZS_MAP_RECORD, 0);
    mutexUnlock(mappedClass);
  }
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

// ══ Pins of dead Workers ══

/** Address of slot `slot`'s map record. */
// @ts-ignore: decorator
@inline function recordOf(slot: u32): usize {
  return slotScratch(slot) + ZS_MAP_RECORD;
}

/**
 * zs_reclaim_slot: drop the pin that slot `slot`'s Worker, now dead, held on
 * the object it had mapped (its map record), so the object can be freed and
 * compacted again. Run by PhysicalMemory.reclaim after robust.ts rolled the
 * slot's critical sections back (a map that died before its unlock left no
 * record and no pin). Returns 1 when a pin was dropped, 0 when there was
 * none, -E_INVAL for a slot out of range. A record naming a pool destroyed
 * since is dropped (zs_destroy_pool clears every record naming its pool).
 * Thread safety: any attached instance, once the slot's Worker is dead.
 */
export function zs_reclaim_slot(slot: u32): i32 {
  if (slot >= load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF) || <i32>slot == workerSlot) return -E_INVAL;
  const rec = recordOf(slot);
  const pool = load<u32>(rec);
  const handle = load<u32>(rec, 4);
  if (pool == 0) return 0;
  store<u64>(rec, 0);
  const root = poolRoot(pool);
  if (root == 0) return 0;
  const e = lookupHandle(root, handle);
  if (e == 0) return 0;
  const c = (atomic.load<u32>(e + offsetof<HandleEntry>("word1")) >> ENTRY_CLASS_SHIFT) & ENTRY_CLASS_MASK;
  const cls = classAddress(root, c);
  lockClass(root, cls);
  let r: i32 = 0;
  const w0 = atomic.load<u32>(e);
  if (entryMatches(entry_(e).word1, handle, c) && (w0 & ENTRY_PIN_MASK) != 0) {
    ustore32(e, w0 - 1);
    r = 1;
  }
  mutexUnlock(cls);
  return r;
}

/** Clear every slot's map record that names pool `pool` (zs_destroy_pool: its ids may be reused). */
export function clearMapRecords(pool: u32): void {
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  for (let s: u32 = 0; s < n; s++) {
    const rec = recordOf(s);
    if (load<u32>(rec) == pool) store<u64>(rec, 0);
  }
}

/** Slots whose map record names `handle` of `pool` (zs_check: must equal the entry's pin count). */
export function mapRecordsNaming(pool: u32, handle: u32): u32 {
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  let k: u32 = 0;
  for (let s: u32 = 0; s < n; s++) {
    const rec = recordOf(s);
    if (load<u32>(rec) == pool && load<u32>(rec, 4) == handle) k++;
  }
  return k;
}
