// SPDX-License-Identifier: MIT
//
// index.ts: the wasm module's exports, and nothing else.
//
// Export names carry the subsystem prefix and mirror the kernel's entry points
// (pm_/frame_ for physical memory, lz4_, zs_, zbud_, tmem_), so one grep joins
// the TypeScript, the AssemblyScript and the kernel's documentation. Each
// subsystem file keeps its logic; this file only re-exports it under the ABI
// names that bindings/ relies on. Every export returns a status code or a
// value: none traps on a recoverable condition.

import {
  CTRL_BASE, LAYOUT_ABI, PAGE_SIZE, WASM_PAGE, CTRL_MAGIC,
  CTRL_MAGIC_OFF, CTRL_ABI_OFF, CTRL_HASH_LO_OFF, CTRL_HASH_HI_OFF, CTRL_NFRAMES_OFF, CTRL_FRAMES_BASE_OFF,
  CTRL_META_BASE_OFF, CTRL_SCRATCH_BASE_OFF, CTRL_SCRATCH_SIZE_OFF, CTRL_MAX_WORKERS_OFF, CTRL_DATA_GUARD_OFF,
  CTRL_RESERVED_OFF, CTRL_FREE_HEAD_OFF, CTRL_BRK_OFF, CTRL_NR_USED_OFF, CTRL_WORKER_MAP_OFF, CTRL_OWNER_FRAMES_OFF,
  CTRL_ROOTS_OFF, MAX_WORKERS, MAX_OWNERS, ROOT_ZPOOL, ROOT_ZPOOL_SIZE, ROOT_TMEM, ROOT_TMEM_SIZE,
  OWNER_META, OWNER_ZSMALLOC, OWNER_ZBUD, OWNER_TMEM, OWNER_USER_FIRST,
  E_NOENT, E_2BIG, E_NOMEM, E_FAULT, E_BUSY, E_EXIST, E_NODEV, E_INVAL, E_NOSPC, E_PROTO, E_BADMSG,
  SCRATCH_LZ4_HASH, SCRATCH_MAP, SCRATCH_STAGE, SCRATCH_IO, SCRATCH_ROBUST, SCRATCH_SIZE_MIN,
} from "./common";
import { FrameMeta, FRAME_META_SIZE } from "./frames";
import { Zspage, ZSPAGE_SHIFT, HandleEntry } from "./zsmalloc_layout";
import { ZS_MAP_INFO } from "./zsmalloc_map";
import {
  ZC_MAGIC, ZC_W_MAGIC, ZC_W_MAXZ, ZC_W_MAXPCT, ZC_W_ACCEPT, ZC_W_DOMAIN, ZC_W_EPH, ZC_W_PERS, ZC_W_FULL, ZC_W_ACCEL,
  ZC_W_NAMELEN, ZC_W_NAME, ZC_W_NAME_MAX, ZC_C_POOR, ZC_C_LIMIT, ZC_C_ALLOCFAIL, ZC_C_EVICTED, ZC_CLIENTS,
  ZC_MAX_CLIENTS, ZC_CW, ZC_K_EPH, ZC_K_PERS, ZC_K_EPH_Z, ZC_K_PERS_Z, ZC_K_EPH_PUTS, ZC_K_PERS_PUTS, ZC_K_EPH_REJ,
  ZC_K_PERS_REJ, ZC_K_GETS, ZC_K_FREES, ZC_K_SAME, ZC_LEN_MASK, ZC_META_SAME, ZC_META_PERSIST,
  ZC_W_DRIVER, ZC_W_BE_EPH, ZC_W_BE_PERS, ZC_DRV_JS, ZC_DRV_ZSMALLOC, ZC_DRV_ZBUD, ZC_PUT_NEW, ZC_PUT_REPLACED,
  ZC_PUT_EXISTS, ZC_PUT_REJECTED, ZC_PUT_REJECTED_FLUSHED, ZC_GET_MISS, ZC_GET_HIT, ZC_GET_REMOTE, ZC_META_REMOTE, ZC_W_REMOTE, ZC_R_EPH, ZC_R_PERS, ZC_R_EPH_Z, ZC_R_PERS_Z, ZC_R_REMOTIFIED,
  ZC_R_HOME, ZC_R_FREES, ZC_R_HITS, ZC_R_MISSES, ZC_TAKE_RECORD,
} from "./zcache_layout";
import {
  CALL_RECORD, CALL_RECORD_SIZE, OID_BYTES, TMEM_PUT_NEW, TMEM_PUT_REPLACED, TMEM_PUT_REPLACED_PINNED,
  TMEM_FLUSH_ABSENT, TMEM_FLUSH_FREED, TMEM_FLUSH_PINNED,
  MAX_POOLS as T_MAX_POOLS, MAX_DOMAINS as T_MAX_DOMAINS, POOL_ALIVE as T_POOL_ALIVE, POOL_DYING as T_POOL_DYING,
  POOLS_OFF as T_POOLS_OFF, FRONTEND_OFF as T_FRONTEND_OFF, OUT_BYTES as T_OUT_BYTES, OUT_RECORD as T_OUT_RECORD,
  SCAN_RECORD as T_SCAN_RECORD, POOL_GEN_SHIFT as T_POOL_GEN_SHIFT, DESC_SIZE as T_DESC_SIZE, PoolDesc as T_PoolDesc,
} from "./tmem_layout";
import { takeOwnerDied } from "./lock";
import {
  mutexLock, mutexLockTimed, mutexTryLock, mutexUnlock, ustore32, ucommit, uabort, ulogFull, LV_HOST,
  R_DESC_CACHE, R_PINS, PIN_SLOTS, R_ENTRIES, UNDO_CAP,
} from "./robust";
export {
  pmRecovered as pm_recovered, parkArm as pm_park_arm, parkedSlot as pm_parked,
  parkDisarm as pm_park_disarm, robustState as pm_robust_state,
} from "./robust";
export { pmReclaim as pm_reclaim, pmReclaimNext as pm_reclaim_next, tmem_drop_pins } from "./tmem_reclaim";

export {
  pmFormat as pm_format, pmAttach as pm_attach, pmDetach as pm_detach,
  pmAttached as pm_attached, pmScratch as pm_scratch,
  frameAlloc as frame_alloc, frameFree as frame_free, frameOwner as frame_owner,
  framesUsed as frame_used, framesOwned as frame_owned, framesOwnedAll as frame_owned_all,
  pmReserve as pm_reserve, pmAttachSlot as pm_attach_slot,
  pmReclaimEnd as pm_reclaim_end, pmTakeovers as pm_takeovers, pmReserved as pm_reserved, pmSlotGen as pm_slot_gen,
} from "./frames";

/** End of static data: everything the host lays out must start above it. */
export function pm_heap_base(): usize {
  return __heap_base;
}

/** Address of the control block (a layout constant the host checks). */
export function pm_ctrl_base(): usize {
  return CTRL_BASE;
}

/** Acquire the mutex word at `addr` (tests and host-side critical sections). */
export function lock_acquire(addr: usize): void {
  mutexLock(addr, LV_HOST);
}

/**
 * Acquire the mutex word at `addr`, waiting at most about `timeoutMs` ms on a
 * live owner: 0 = held, 1 = held after taking it over from a dead owner,
 * -110 (ETIMEDOUT) = not held.
 */
export function lock_acquire_timed(addr: usize, timeoutMs: u32): i32 {
  const r = mutexLockTimed(addr, timeoutMs, LV_HOST);
  return r < 0 ? -110 : r;
}

/**
 * Acquire the mutex word at `addr` as a ROBUST lock of lock-order level
 * `level` (2..7; not the host level 1): a reclaim of a dead holder rolls back
 * the stores it made through pm_ustore32 under it and releases it (robust.ts).
 * Waits at most about `timeoutMs` ms on a live owner: 0 = held, 1 = held
 * after a takeover, -110 (ETIMEDOUT) = not held, -22 for a bad level.
 */
export function lock_acquire_robust(addr: usize, timeoutMs: u32, level: u32): i32 {
  if (level <= LV_HOST || level > 7) return -22;
  const r = mutexLockTimed(addr, timeoutMs, level);
  return r < 0 ? -110 : r;
}

/**
 * Store `v` (u32) at `addr` inside a robust section, undoably (TypeScript
 * critical sections): 0, or -28 (ENOSPC) when the section's undo log is full
 * (UNDO_CAP stores since its last commit point): nothing is stored then, and
 * the caller must pm_uabort and release (a longer section needs commit
 * points, pm_ucommit, where its state is consistent).
 */
export function pm_ustore32(addr: usize, v: u32): i32 {
  if (ulogFull()) return -28;
  ustore32(addr, v);
  return 0;
}

/**
 * Undo this Worker's logged stores since the last commit point of the robust
 * section it is in, keeping its locks (a TypeScript section's error path).
 * Returns the number of entries undone (0 outside a section).
 */
export function pm_uabort(): u32 {
  return uabort();
}

/** A commit point inside a robust section (the stores so far are final). */
export function pm_ucommit(): void {
  ucommit();
}

/** Locks this instance took over from a dead owner since the last call (and clears the count). */
export function lock_owner_died(): u32 {
  return takeOwnerDied();
}

/** Try to acquire the mutex word at `addr`; 1 if acquired, 0 if held elsewhere. */
export function lock_try(addr: usize): i32 {
  return mutexTryLock(addr, LV_HOST) ? 1 : 0;
}

/** Release the mutex word at `addr`, held by the caller. */
export function lock_release(addr: usize): void {
  mutexUnlock(addr);
}

/**
 * A read-only static table ("tmem" and the layout ABI). It exists so the
 * module always has a data segment, and the tests can check that segments are
 * copied once per memory (by __init_data), never by a later instantiation.
 */
const STATIC_PROBE = memory.data<u8>([0x74, 0x6d, 0x65, 0x6d, <u8>LAYOUT_ABI, 0, 0, 0]);

/** Address of the static probe table (8 bytes). */
export function pm_static_probe(): usize {
  return STATIC_PROBE;
}

/** No-op: the floor of a JS→wasm call, for bench/. */
export function pm_nop(): void {}

// ══ Layout constants for the host ══
//
// Each constant the TypeScript side needs is exported once more, as an
// immutable wasm global named `layout_<NAME>`. scripts/gen-layout.mjs reads
// these globals from the compiled module and writes bindings/layout.generated.ts,
// so the host never retypes a number from assembly/; test/layout.test.ts checks
// the generated file against a live instance. They are plain (not @inline)
// constants declared here, never reached through `export *`: an `@inline
// export const` re-exported that way is what crashed binaryen. Values are
// folded at compile time; the globals cost a few bytes each and no code.

// Pages and the control block (common.ts).
export const layout_PAGE_SIZE: u32 = PAGE_SIZE;
export const layout_WASM_PAGE: u32 = WASM_PAGE;
export const layout_LAYOUT_ABI: u32 = LAYOUT_ABI;
export const layout_CTRL_MAGIC: u32 = CTRL_MAGIC;
export const layout_CTRL_BASE: u32 = <u32>CTRL_BASE;
export const layout_CTRL_MAGIC_OFF: u32 = <u32>CTRL_MAGIC_OFF;
export const layout_CTRL_ABI_OFF: u32 = <u32>CTRL_ABI_OFF;
export const layout_CTRL_HASH_LO_OFF: u32 = <u32>CTRL_HASH_LO_OFF;
export const layout_CTRL_HASH_HI_OFF: u32 = <u32>CTRL_HASH_HI_OFF;
export const layout_CTRL_NFRAMES_OFF: u32 = <u32>CTRL_NFRAMES_OFF;
export const layout_CTRL_FRAMES_BASE_OFF: u32 = <u32>CTRL_FRAMES_BASE_OFF;
export const layout_CTRL_META_BASE_OFF: u32 = <u32>CTRL_META_BASE_OFF;
export const layout_CTRL_SCRATCH_BASE_OFF: u32 = <u32>CTRL_SCRATCH_BASE_OFF;
export const layout_CTRL_SCRATCH_SIZE_OFF: u32 = <u32>CTRL_SCRATCH_SIZE_OFF;
export const layout_CTRL_MAX_WORKERS_OFF: u32 = <u32>CTRL_MAX_WORKERS_OFF;
export const layout_CTRL_DATA_GUARD_OFF: u32 = <u32>CTRL_DATA_GUARD_OFF;
export const layout_CTRL_RESERVED_OFF: u32 = <u32>CTRL_RESERVED_OFF;
export const layout_CTRL_FREE_HEAD_OFF: u32 = <u32>CTRL_FREE_HEAD_OFF;
export const layout_CTRL_BRK_OFF: u32 = <u32>CTRL_BRK_OFF;
export const layout_CTRL_NR_USED_OFF: u32 = <u32>CTRL_NR_USED_OFF;
export const layout_CTRL_WORKER_MAP_OFF: u32 = <u32>CTRL_WORKER_MAP_OFF;
export const layout_CTRL_OWNER_FRAMES_OFF: u32 = <u32>CTRL_OWNER_FRAMES_OFF;
export const layout_CTRL_ROOTS_OFF: u32 = <u32>CTRL_ROOTS_OFF;
export const layout_MAX_WORKERS: u32 = MAX_WORKERS;
export const layout_MAX_OWNERS: u32 = MAX_OWNERS;
export const layout_ROOT_ZPOOL: u32 = <u32>ROOT_ZPOOL;
export const layout_ROOT_ZPOOL_SIZE: u32 = <u32>ROOT_ZPOOL_SIZE;
export const layout_ROOT_TMEM: u32 = <u32>ROOT_TMEM;
export const layout_ROOT_TMEM_SIZE: u32 = <u32>ROOT_TMEM_SIZE;
// Owner tags.
export const layout_OWNER_META: u32 = OWNER_META;
export const layout_OWNER_ZSMALLOC: u32 = OWNER_ZSMALLOC;
export const layout_OWNER_ZBUD: u32 = OWNER_ZBUD;
export const layout_OWNER_TMEM: u32 = OWNER_TMEM;
export const layout_OWNER_USER_FIRST: u32 = OWNER_USER_FIRST;
// Status codes (positive errno values; functions return them negated).
export const layout_E_NOENT: i32 = E_NOENT;
export const layout_E_2BIG: i32 = E_2BIG;
export const layout_E_NOMEM: i32 = E_NOMEM;
export const layout_E_FAULT: i32 = E_FAULT;
export const layout_E_BUSY: i32 = E_BUSY;
export const layout_E_EXIST: i32 = E_EXIST;
export const layout_E_NODEV: i32 = E_NODEV;
export const layout_E_INVAL: i32 = E_INVAL;
export const layout_E_NOSPC: i32 = E_NOSPC;
export const layout_E_PROTO: i32 = E_PROTO;
export const layout_E_BADMSG: i32 = E_BADMSG;
// Per-Worker scratch sub-areas.
export const layout_SCRATCH_LZ4_HASH: u32 = <u32>SCRATCH_LZ4_HASH;
export const layout_SCRATCH_MAP: u32 = <u32>SCRATCH_MAP;
export const layout_SCRATCH_STAGE: u32 = <u32>SCRATCH_STAGE;
export const layout_SCRATCH_IO: u32 = <u32>SCRATCH_IO;
export const layout_SCRATCH_ROBUST: u32 = <u32>SCRATCH_ROBUST;
export const layout_SCRATCH_SIZE_MIN: u32 = <u32>SCRATCH_SIZE_MIN;
// The robust area's words (robust.ts, offsets from SCRATCH_ROBUST; tests read a dead slot's state).
export const layout_R_DESC_CACHE: u32 = <u32>R_DESC_CACHE;
export const layout_R_PINS: u32 = <u32>R_PINS;
export const layout_PIN_SLOTS: u32 = PIN_SLOTS;
export const layout_R_ENTRIES: u32 = <u32>R_ENTRIES;
export const layout_UNDO_CAP: u32 = UNDO_CAP;
// Frame metadata (frames.ts FrameMeta, measured with offsetof).
export const layout_FRAME_META_SIZE: u32 = FRAME_META_SIZE;
export const layout_FRAME_META_STRUCT_SIZE: u32 = <u32>offsetof<FrameMeta>();
// zsmalloc's metadata per zspage and per object (zsmalloc_layout.ts, measured with offsetof) and its map-info word.
export const layout_ZS_ZSPAGE_SLOT_SIZE: u32 = <u32>1 << ZSPAGE_SHIFT;
export const layout_ZS_ZSPAGE_FIELDS_SIZE: u32 = <u32>offsetof<Zspage>();
export const layout_ZS_HANDLE_ENTRY_SIZE: u32 = <u32>offsetof<HandleEntry>();
export const layout_ZS_MAP_INFO: u32 = <u32>ZS_MAP_INFO;

// The tmem core's call record: the object id an export takes by address (tmem_layout.ts).
export const layout_CALL_RECORD: u32 = CALL_RECORD;
export const layout_CALL_RECORD_SIZE: u32 = CALL_RECORD_SIZE;
export const layout_OID_BYTES: u32 = OID_BYTES;
// Results of tmem_put and tmem_flush_page beside a negative status (tmem_layout.ts).
export const layout_TMEM_PUT_NEW: i32 = TMEM_PUT_NEW;
export const layout_TMEM_PUT_REPLACED: i32 = TMEM_PUT_REPLACED;
export const layout_TMEM_PUT_REPLACED_PINNED: i32 = TMEM_PUT_REPLACED_PINNED;
export const layout_TMEM_FLUSH_ABSENT: i32 = TMEM_FLUSH_ABSENT;
export const layout_TMEM_FLUSH_FREED: i32 = TMEM_FLUSH_FREED;
export const layout_TMEM_FLUSH_PINNED: i32 = TMEM_FLUSH_PINNED;
// The tmem core's pool table, out area and descriptor sizes, as src/tmem/core.ts reads them (tmem_layout.ts).
export const layout_TMEM_MAX_POOLS: u32 = T_MAX_POOLS;
export const layout_TMEM_MAX_DOMAINS: u32 = T_MAX_DOMAINS;
export const layout_TMEM_POOL_ALIVE: u32 = T_POOL_ALIVE;
export const layout_TMEM_POOL_DYING: u32 = T_POOL_DYING;
export const layout_TMEM_POOL_GEN_SHIFT: u32 = T_POOL_GEN_SHIFT;
export const layout_TMEM_POOLS_OFF: u32 = <u32>T_POOLS_OFF;
export const layout_TMEM_POOL_DESC_SIZE: u32 = <u32>offsetof<T_PoolDesc>();
export const layout_TMEM_FRONTEND_OFF: u32 = <u32>T_FRONTEND_OFF;
export const layout_TMEM_OUT_BYTES: u32 = T_OUT_BYTES;
export const layout_TMEM_OUT_RECORD: u32 = T_OUT_RECORD;
export const layout_TMEM_SCAN_RECORD: u32 = T_SCAN_RECORD;
export const layout_TMEM_DESC_SIZE: u32 = T_DESC_SIZE;

// zcache's state frame and pampd meta word (zcache_layout.ts).
export const layout_ZC_MAGIC: u32 = ZC_MAGIC;
export const layout_ZC_W_MAGIC: u32 = ZC_W_MAGIC;
export const layout_ZC_W_MAXZ: u32 = ZC_W_MAXZ;
export const layout_ZC_W_MAXPCT: u32 = ZC_W_MAXPCT;
export const layout_ZC_W_ACCEPT: u32 = ZC_W_ACCEPT;
export const layout_ZC_W_DOMAIN: u32 = ZC_W_DOMAIN;
export const layout_ZC_W_EPH: u32 = ZC_W_EPH;
export const layout_ZC_W_PERS: u32 = ZC_W_PERS;
export const layout_ZC_W_FULL: u32 = ZC_W_FULL;
export const layout_ZC_W_ACCEL: u32 = ZC_W_ACCEL;
export const layout_ZC_W_NAMELEN: u32 = ZC_W_NAMELEN;
export const layout_ZC_W_NAME: u32 = ZC_W_NAME;
export const layout_ZC_W_NAME_MAX: u32 = ZC_W_NAME_MAX;
export const layout_ZC_C_POOR: u32 = ZC_C_POOR;
export const layout_ZC_C_LIMIT: u32 = ZC_C_LIMIT;
export const layout_ZC_C_ALLOCFAIL: u32 = ZC_C_ALLOCFAIL;
export const layout_ZC_C_EVICTED: u32 = ZC_C_EVICTED;
export const layout_ZC_CLIENTS: u32 = ZC_CLIENTS;
export const layout_ZC_MAX_CLIENTS: u32 = ZC_MAX_CLIENTS;
export const layout_ZC_CW: u32 = ZC_CW;
export const layout_ZC_K_EPH: u32 = ZC_K_EPH;
export const layout_ZC_K_PERS: u32 = ZC_K_PERS;
export const layout_ZC_K_EPH_Z: u32 = ZC_K_EPH_Z;
export const layout_ZC_K_PERS_Z: u32 = ZC_K_PERS_Z;
export const layout_ZC_K_EPH_PUTS: u32 = ZC_K_EPH_PUTS;
export const layout_ZC_K_PERS_PUTS: u32 = ZC_K_PERS_PUTS;
export const layout_ZC_K_EPH_REJ: u32 = ZC_K_EPH_REJ;
export const layout_ZC_K_PERS_REJ: u32 = ZC_K_PERS_REJ;
export const layout_ZC_K_GETS: u32 = ZC_K_GETS;
export const layout_ZC_K_FREES: u32 = ZC_K_FREES;
export const layout_ZC_K_SAME: u32 = ZC_K_SAME;
export const layout_ZC_LEN_MASK: u32 = ZC_LEN_MASK;
export const layout_ZC_META_SAME: u32 = ZC_META_SAME;
export const layout_ZC_META_PERSIST: u32 = ZC_META_PERSIST;
export const layout_ZC_META_REMOTE: u32 = ZC_META_REMOTE;
export const layout_ZC_W_REMOTE: u32 = ZC_W_REMOTE;
export const layout_ZC_R_EPH: u32 = ZC_R_EPH;
export const layout_ZC_R_PERS: u32 = ZC_R_PERS;
export const layout_ZC_R_EPH_Z: u32 = ZC_R_EPH_Z;
export const layout_ZC_R_PERS_Z: u32 = ZC_R_PERS_Z;
export const layout_ZC_R_REMOTIFIED: u32 = ZC_R_REMOTIFIED;
export const layout_ZC_R_HOME: u32 = ZC_R_HOME;
export const layout_ZC_R_FREES: u32 = ZC_R_FREES;
export const layout_ZC_R_HITS: u32 = ZC_R_HITS;
export const layout_ZC_R_MISSES: u32 = ZC_R_MISSES;
export const layout_ZC_TAKE_RECORD: u32 = ZC_TAKE_RECORD;
export const layout_ZC_W_DRIVER: u32 = ZC_W_DRIVER;
export const layout_ZC_W_BE_EPH: u32 = ZC_W_BE_EPH;
export const layout_ZC_W_BE_PERS: u32 = ZC_W_BE_PERS;
export const layout_ZC_DRV_JS: u32 = ZC_DRV_JS;
export const layout_ZC_DRV_ZSMALLOC: u32 = ZC_DRV_ZSMALLOC;
export const layout_ZC_DRV_ZBUD: u32 = ZC_DRV_ZBUD;
export const layout_ZC_PUT_NEW: i32 = ZC_PUT_NEW;
export const layout_ZC_PUT_REPLACED: i32 = ZC_PUT_REPLACED;
export const layout_ZC_PUT_EXISTS: i32 = ZC_PUT_EXISTS;
export const layout_ZC_PUT_REJECTED: i32 = ZC_PUT_REJECTED;
export const layout_ZC_PUT_REJECTED_FLUSHED: i32 = ZC_PUT_REJECTED_FLUSHED;
export const layout_ZC_GET_MISS: i32 = ZC_GET_MISS;
export const layout_ZC_GET_HIT: i32 = ZC_GET_HIT;
export const layout_ZC_GET_REMOTE: i32 = ZC_GET_REMOTE;

// Subsystems export their own entry points under their ABI names.
export * from "./lz4";
export { lz4_compress_hc } from "./lz4hc";
export * from "./zsmalloc";
export * from "./zbud";
export * from "./tmem";
export { tmem_init, tmem_new_pool, tmem_destroy_pool, tmem_pool_release, tmem_new_domain, tmem_free_domain } from "./tmem_pool";
// The core's other files export only their tmem_* entry points (their helpers are imported by tmem.ts, not exported).
export { tmem_slab_reap } from "./tmem_desc";
export { tmem_reclaim_slot } from "./tmem_reclaim";
export { tmem_check, tmem_check_unaccounted } from "./tmem_check";
export { tmem_take_lru, tmem_take_scan, tmem_replace_pinned, tmem_take_release } from "./tmem_take";
// The page helpers and the zcache backend's wasm half are exported here, not by the core (tmem.ts imports no backend).
export * from "./tmem_page";
export * from "./tmem_zcache";
export * from "./tmem_remote";
