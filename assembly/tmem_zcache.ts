// SPDX-License-Identifier: MIT
//
// tmem_zcache.ts: the zcache backend's store protocol (src/zcache.ts is its
// policy and its TypeScript face): a whole store and a whole load are one
// wasm call each, for zcaches on the built-in drivers (zsmalloc, zbud).
//
// It is not zcache's policy (the persistent cap, the remote tier, argument
// checks and registration stay in src/zcache.ts) and not the allocator: it
// reaches zsmalloc and zbud through a small table of driver operations
// (malloc, map, unmap, free, compact: zcache_drivers.ts).
// A zcache on a zpool driver written in JavaScript takes the generic path
// instead (src/tmem/pam.ts's PamBackend: the same order of steps, through
// the zpool API), using only "prepare" and "account" from here.
//
// Key ideas: (1) one protocol in one place: compress (or find the page
// same-filled), allocate, copy, index with replace-under-one-lock, account;
// on an allocation that finds no frame, flush the old copy and evict clean
// pages here and retry with the bytes already compressed; every rejection
// flushes the old copy (a failed put never leaves stale data). (2) Results
// are explicit codes (ZC_PUT_*, ZC_GET_*), and the object id travels as one
// address, of its six words (an ObjectId, in this Worker's call record when
// the host calls: tmem_layout.ts CALL_RECORD), not as six parameters. (3) A
// JS→wasm call costs 5-10 ns and a JS Atomics.add on shared memory about
// 30 ns, while an atomic add inside wasm costs a few ns: a store touches
// seven counters, all here. Per-page counters are per client, so two
// Workers do not bounce one line.
//
// Layout: the zcache state frame (u32 words) is declared once, in
// zcache_layout.ts (src/zcache.ts reads the same names, generated); in short:
//   41 compress_poor │ 256 + client × 16 (one cache line per client, 48):
//   { ephemeral pages, persistent pages, ephemeral zbytes, persistent zbytes,
//     ephemeral puts, persistent puts, ephemeral rejects, persistent rejects,
//     gets, frees, same-filled, unused × 5 }
// Per-page counters live only in client lines: a Worker writes its own line
// (and, when it frees a page another Worker stored, that Worker's line).
// The pampd meta word: length (bits 0..12) │ SAME (13) │ PERSIST (14) │ client << 16.
//
// Concurrency: counters are atomic adds; any Worker may call any function
// at once; scratch areas are this Worker's own. The locked sections are the
// callees' (tmem's stripe and LRU locks, zsmalloc's class locks, zbud's pool
// lock: robust sections there); this file writes shared state only through
// them and through atomic counter adds. A Worker killed between two of them
// leaves at most the leak-only windows those files name (an evicted or
// replaced page's object not yet freed), never a freed object still indexed.
//
// See also: src/zcache.ts, src/tmem/pam.ts, tmem_page.ts, tmem_remote.ts, zsmalloc.ts, zbud.ts, lz4.ts.

import { PAGE_SIZE, E_NOMEM, E_BADMSG, E_BUSY, E_INVAL, E_EXIST, E_FAULT, scratchBase, SCRATCH_IO, SCRATCH_STAGE, SCRATCH_LZ4_HASH } from "./common";
import {
  ZC_C_POOR, ZC_CLIENTS, ZC_CW, ZC_MAX_CLIENTS, ZC_K_EPH, ZC_K_PERS, ZC_K_EPH_Z, ZC_K_PERS_Z, ZC_K_EPH_PUTS, ZC_K_PERS_PUTS,
  ZC_K_EPH_REJ, ZC_K_PERS_REJ, ZC_K_GETS, ZC_K_FREES, ZC_K_SAME, ZC_LEN_MASK, ZC_META_SAME, ZC_META_PERSIST,
  ZC_META_REMOTE, ZC_R_EPH, ZC_R_PERS, ZC_R_EPH_Z, ZC_R_PERS_Z, ZC_R_FREES, ZC_C_ALLOCFAIL, ZC_C_EVICTED,
  ZC_W_MAXZ, ZC_W_ACCEL, ZC_W_DOMAIN,
  ZC_PUT_NEW, ZC_PUT_REPLACED, ZC_PUT_EXISTS, ZC_PUT_REJECTED, ZC_PUT_REJECTED_FLUSHED, ZC_GET_MISS, ZC_GET_HIT, ZC_GET_REMOTE,
} from "./zcache_layout";
import { tmem_page_same_filled, tmem_page_fill } from "./tmem_page";
import { lz4_compress_fast, lz4_decompress_safe_exact } from "./lz4";
import { driverOf, zpoolOf, drvMalloc, drvFree, drvMap, drvUnmap, drvMapBusy, drvCompact } from "./zcache_drivers";
import { tmem_put, tmem_get, tmem_unpin, tmem_flush_page, tmem_evict, tmem_out_area } from "./tmem";
import {
  CALL_RECORD, TMEM_PUT_NEW, TMEM_PUT_REPLACED, TMEM_FLUSH_ABSENT, TMEM_FLUSH_FREED, oidInMemory,
} from "./tmem_layout";

// @ts-ignore: decorator
@inline const W_POOR: usize = ZC_C_POOR;
// @ts-ignore: decorator
@inline const W_CLIENTS: usize = ZC_CLIENTS;
// @ts-ignore: decorator
@inline const CLIENT_WORDS: usize = ZC_CW;
// @ts-ignore: decorator
@inline const MAX_CLIENTS: u32 = ZC_MAX_CLIENTS;
// @ts-ignore: decorator
@inline const K_EPH: usize = ZC_K_EPH;
// @ts-ignore: decorator
@inline const K_PERS: usize = ZC_K_PERS;
// @ts-ignore: decorator
@inline const K_EPH_Z: usize = ZC_K_EPH_Z;
// @ts-ignore: decorator
@inline const K_PERS_Z: usize = ZC_K_PERS_Z;
// @ts-ignore: decorator
@inline const K_EPH_PUTS: usize = ZC_K_EPH_PUTS;
// @ts-ignore: decorator
@inline const K_PERS_PUTS: usize = ZC_K_PERS_PUTS;
// @ts-ignore: decorator
@inline const K_EPH_REJ: usize = ZC_K_EPH_REJ;
// @ts-ignore: decorator
@inline const K_PERS_REJ: usize = ZC_K_PERS_REJ;
// @ts-ignore: decorator
@inline const K_GETS: usize = ZC_K_GETS;
// @ts-ignore: decorator
@inline const K_FREES: usize = ZC_K_FREES;
// @ts-ignore: decorator
@inline const K_SAME: usize = ZC_K_SAME;
// @ts-ignore: decorator
@inline const LEN_MASK: u32 = ZC_LEN_MASK;
// @ts-ignore: decorator
@inline const META_SAME: u32 = ZC_META_SAME;
// @ts-ignore: decorator
@inline const META_PERSIST: u32 = ZC_META_PERSIST;

// @ts-ignore: decorator
@inline function add(st: usize, word: usize, v: i32): void {
  atomic.add<i32>(st + (word << 2), v);
}

/**
 * Prepare the page at `src` for storing: if it is same-filled return -1 (the
 * u64 word is at the start of the out area, as tmem_page_same_filled);
 * otherwise compress it into `dst` (capacity `dstCap`) with `acceleration`
 * and this Worker's hash table `hashTable`, and return the compressed length
 * if it is at most `maxZsize`; else count compress_poor in state frame `st`
 * and return 0.
 */
export function tmem_zcache_prepare(st: usize, src: usize, dst: usize, dstCap: i32, acceleration: i32, hashTable: usize,
                                    maxZsize: i32): i32 {
  if (tmem_page_same_filled(src) == 1) return -1;
  const n = lz4_compress_fast(src, <i32>PAGE_SIZE, dst, dstCap, acceleration, hashTable);
  if (n <= 0 || n > maxZsize) {
    add(st, W_POOR, 1);
    return 0;
  }
  return n;
}

/**
 * Account a page with pampd meta word `meta` in state frame `st`: `op` = 1
 * for a store, -1 for a free (the page left zcache), 0 for a successful get
 * (by client `getter`, this Worker's client index).
 */
export function tmem_zcache_account(st: usize, meta: u32, op: i32, getter: u32): void {
  if (op == 0) {
    add(st, W_CLIENTS + <usize>(getter < MAX_CLIENTS ? getter : MAX_CLIENTS - 1) * CLIENT_WORDS + K_GETS, 1);
    return;
  }
  if ((meta & ZC_META_REMOTE) != 0) {
    // A remote page (tmem_remote.ts): its counters are the remote tier's, shared.
    const pers = (meta & META_PERSIST) != 0;
    add(st, pers ? ZC_R_PERS : ZC_R_EPH, op);
    add(st, pers ? ZC_R_PERS_Z : ZC_R_EPH_Z, op * <i32>(meta & LEN_MASK));
    if (op < 0) add(st, ZC_R_FREES, 1);
    return;
  }
  // Pages are debited to the client that stored them (their line), whoever frees them.
  let client = (meta >> 16) & 0xff;
  if (client >= MAX_CLIENTS) client = MAX_CLIENTS - 1;
  const c = W_CLIENTS + <usize>client * CLIENT_WORDS;
  const persistent = (meta & META_PERSIST) != 0;
  const same = (meta & META_SAME) != 0;
  const z = same ? 0 : <i32>(meta & LEN_MASK);
  add(st, c + (persistent ? K_PERS : K_EPH), op);
  if (z != 0) add(st, c + (persistent ? K_PERS_Z : K_EPH_Z), op * z);
  if (same) add(st, c + K_SAME, op);
  add(st, c + (op > 0 ? (persistent ? K_PERS_PUTS : K_EPH_PUTS) : K_FREES), 1);
}

// ══ Store and load: one call each ══

/** zsmalloc map modes (assembly/zsmalloc_map.ts ZS_MM_*; zbud ignores the mode). */
// @ts-ignore: decorator
@inline const ZS_MM_RO: u32 = 1;
// @ts-ignore: decorator
@inline const ZS_MM_WO: u32 = 2;
/** tmem_get's GET_POLICY mode (assembly/tmem.ts). */
// @ts-ignore: decorator
@inline const GET_POLICY: u32 = 0;
/** Ephemeral pages evicted per round when the zpool or the index finds no frame (src/zcache.ts shrink uses the same). */
// @ts-ignore: decorator
@inline const EVICT_BATCH: u32 = 64;
/** Eviction rounds per allocation before the store is rejected. */
// @ts-ignore: decorator
@inline const EVICT_ROUNDS: i32 = 16;
/** Eviction rounds per index insertion (no frame for a descriptor) before the store is rejected. */
// @ts-ignore: decorator
@inline const PUT_ROUNDS: i32 = 8;
/** Bytes of one OutRecord (assembly/tmem.ts OUT_RECORD). */
// @ts-ignore: decorator
@inline const OUT_RECORD: usize = 16;
if (<usize>CALL_RECORD < SCRATCH_IO + PAGE_SIZE + <usize>EVICT_BATCH * OUT_RECORD) ERROR("the call record overlaps an eviction batch");

/**
 * Free a stored page of this zcache (the driver's object, unless same-filled
 * or remote) and account it. A remote page has no local bytes: only its
 * counters move (its remote copy is the caller's to drop: src/zcache.ts).
 */
export function tmem_zcache_free_stored(st: usize, lo: u32, hi: u32, meta: u32): void {
  freeStored(st, lo, hi, meta);
}

/**
 * Free a stored page that left the index on the host's generic path (a
 * flush, a drain, an exclusive get answered there: src/zcache.ts pamFree) in
 * one call: the driver's object, unless same-filled or remote, then the
 * accounting. Returns 0; or the driver's negative status when it refused the
 * free (nothing freed, nothing accounted: the host's driver object then says
 * why). A remote page's remote copy is the caller's to drop.
 */
export function tmem_zcache_free(st: usize, lo: u32, hi: u32, meta: u32): i32 {
  if ((meta & (META_SAME | ZC_META_REMOTE)) == 0) {
    const r = drvFree(driverOf(st), zpoolOf(st, hi == 1), lo);
    if (r < 0) return r;
  }
  tmem_zcache_account(st, meta, -1, 0);
  return 0;
}

function freeStored(st: usize, lo: u32, hi: u32, meta: u32): void {
  if ((meta & (META_SAME | ZC_META_REMOTE)) == 0) drvFree(driverOf(st), zpoolOf(st, hi == 1), lo);
  tmem_zcache_account(st, meta, -1, 0);
}

/** Hand the one OutRecord of a removal (flush, replace, last unpin) to freeStored. */
// @ts-ignore: decorator
@inline function freeOut(st: usize): void {
  const out = tmem_out_area();
  freeStored(st, load<u32>(out), load<u32>(out, 4), load<u32>(out, 8));
}

/**
 * Evict up to EVICT_BATCH least recently used ephemeral pages of this
 * zcache's LRU domain and free their storage here, in the same call that
 * unlinked them (no window in which the host holds records the index has
 * let go of); then compact the ephemeral zpool. Pages of a remote tier are
 * never on an LRU (tmem_replace_pinned takes them off), so every evicted
 * page is local. Returns the pages evicted (evicted counter moved).
 */
function evictBatch(st: usize, drv: u32): i32 {
  const n = tmem_evict(load<u32>(st + (<usize>ZC_W_DOMAIN << 2)), EVICT_BATCH);
  if (n <= 0) return 0;
  const out = tmem_out_area();
  for (let i: i32 = 0; i < n; i++) {
    const rec = out + <usize>i * OUT_RECORD;
    freeStored(st, load<u32>(rec), load<u32>(rec, 4), load<u32>(rec, 8));
  }
  add(st, ZC_C_EVICTED, n);
  drvCompact(drv, zpoolOf(st, false));
  return n;
}

/** Flush the key's old copy (tmem_flush_page) and free it. Returns whether there was one. */
function flushOld(st: usize, pool: u32, oid: usize, index: u32): bool {
  const f = tmem_flush_page(pool, oid, index);
  if (f == TMEM_FLUSH_FREED) freeOut(st);
  return f > TMEM_FLUSH_ABSENT;
}

/**
 * Store the page in this Worker's I/O slot under (pool, oid, index), the
 * object id being the ObjectId at address `oid` (the host's call record), for
 * the zcache whose state frame is
 * `st` (a built-in driver: ZC_W_DRIVER, ZC_W_BE_EPH, ZC_W_BE_PERS; maxZsize
 * and acceleration from its words). `kind` is the meta bits the caller adds
 * (PERSIST, client << 16); the page goes to the persistent zpool when
 * PERSIST is set. With `noReplace` != 0 an existing copy is kept.
 *
 * One protocol, all here: same-filled test or compression (no allocation
 * for a same-filled page; compress_poor counted beyond maxZsize), allocate,
 * copy, then index with replace-under-one-lock (tmem_put: the old copy leaves
 * the index in the same stripe section that links the new one) and account.
 * When the zpool has no frame: the old copy is flushed first (its room is
 * what a store that replaces may use), then clean pages are evicted
 * (EVICT_BATCH per round, EVICT_ROUNDS) and the allocation retried with the
 * bytes already compressed; the same for an index with no frame for a
 * descriptor (PUT_ROUNDS). A failed put never leaves the old copy behind:
 * every rejection flushes it (unless noReplace). Counts a rejection in the
 * storing client's line (and reject_alloc_fail when the zpool could not
 * allocate). The caller has checked the persistent cap and, with a remote
 * tier, flushed a remote old copy (its remote bytes are the host's to drop).
 *
 * Returns ZC_PUT_NEW, ZC_PUT_REPLACED, ZC_PUT_EXISTS (noReplace), ZC_PUT_REJECTED
 * or ZC_PUT_REJECTED_FLUSHED (nothing stored: compresses too poorly, no
 * memory, or this instance has an object mapped); -E_INVAL when the pool is
 * not alive (nothing stored or counted); -E_FAULT when `oid` is not an
 * address in the memory (nothing done). The ObjectId at `oid` must stay
 * unchanged during the call (the call record does: only the host writes it).
 */
export function tmem_zcache_store(st: usize, kind: u32, pool: u32, oid: usize, index: u32, noReplace: u32): i32 {
  if (!oidInMemory(oid)) return -E_FAULT;
  const io = scratchBase + SCRATCH_IO;
  const stage = scratchBase + SCRATCH_STAGE;
  const persistent = (kind & META_PERSIST) != 0;
  const replace = noReplace == 0;
  const drv = driverOf(st);
  const r = tmem_zcache_prepare(st, io, stage, <i32>(SCRATCH_IO - SCRATCH_STAGE), load<i32>(st + (<usize>ZC_W_ACCEL << 2)),
    scratchBase + SCRATCH_LZ4_HASH, load<i32>(st + (<usize>ZC_W_MAXZ << 2)));
  let flushed = false;
  let lo: u32, hi: u32, meta: u32;
  if (r < 0) {
    const out = tmem_out_area();
    lo = load<u32>(out);
    hi = load<u32>(out, 4);
    meta = META_SAME | kind;
  } else if (r == 0) {
    // compress_poor (counted by prepare).
    return rejected(st, kind, replace && flushOld(st, pool, oid, index));
  } else {
    const zp = zpoolOf(st, persistent);
    let h = drvMalloc(drv, zp, <u32>r);
    if (h == -E_NOMEM && replace) {
      flushed = flushOld(st, pool, oid, index);
      if (flushed) h = drvMalloc(drv, zp, <u32>r);
    }
    for (let round = 0; h == -E_NOMEM && round < EVICT_ROUNDS; round++) {
      if (evictBatch(st, drv) == 0) break;
      h = drvMalloc(drv, zp, <u32>r);
    }
    if (h <= 0) {
      add(st, ZC_C_ALLOCFAIL, 1);
      return rejected(st, kind, flushed || (replace && flushOld(st, pool, oid, index)));
    }
    const addr = drvMap(drv, zp, <u32>h, ZS_MM_WO);
    if (addr == 0) {
      // This instance has an object mapped (the host checks before calling: not reached).
      drvFree(drv, zp, <u32>h);
      return rejected(st, kind, flushed || (replace && flushOld(st, pool, oid, index)));
    }
    memory.copy(addr, stage, <usize>r);
    drvUnmap(drv, zp, <u32>h);
    lo = <u32>h;
    hi = persistent ? 1 : 0;
    meta = <u32>r | kind;
  }
  let p = tmem_put(pool, oid, index, lo, hi, meta, noReplace);
  for (let round = 0; p == -E_NOMEM && round < PUT_ROUNDS; round++) {
    // No frame for a descriptor: the old copy's descriptor first, then clean pages.
    if (replace && !flushed) {
      flushed = flushOld(st, pool, oid, index);
      if (flushed) { p = tmem_put(pool, oid, index, lo, hi, meta, noReplace); continue; }
    }
    if (evictBatch(st, drv) == 0) break;
    p = tmem_put(pool, oid, index, lo, hi, meta, noReplace);
  }
  if (p < 0) {
    if ((meta & META_SAME) == 0) drvFree(drv, zpoolOf(st, persistent), lo);
    if (p == -E_EXIST) return ZC_PUT_EXISTS;
    // The pool is not alive (destroyed, dying or never made): an error, as on the generic path; nothing counted.
    if (p == -E_INVAL) return -E_INVAL;
    return rejected(st, kind, flushed || (replace && flushOld(st, pool, oid, index)));
  }
  tmem_zcache_account(st, meta, 1, 0);
  // The replaced copy's record (none when a reader still pins it: its last unpin frees it).
  if (p == TMEM_PUT_REPLACED) freeOut(st);
  return p != TMEM_PUT_NEW || flushed ? ZC_PUT_REPLACED : ZC_PUT_NEW;
}

/** Count a rejected put in the storing client's line (kind: PERSIST | client << 16); the result for `flushed`. */
function rejected(st: usize, kind: u32, flushed: bool): i32 {
  let client = (kind >> 16) & 0xff;
  if (client >= MAX_CLIENTS) client = MAX_CLIENTS - 1;
  add(st, W_CLIENTS + <usize>client * CLIENT_WORDS + ((kind & META_PERSIST) != 0 ? K_PERS_REJ : K_EPH_REJ), 1);
  return flushed ? ZC_PUT_REJECTED_FLUSHED : ZC_PUT_REJECTED;
}

/**
 * Load (pool, oid, index), the object id being the ObjectId at address `oid`
 * (the host's call record), of the zcache whose state frame is `st` (a built-in driver) into this Worker's
 * I/O slot: tmem_get (exclusive for private ephemeral pools), account the
 * get, decompress from the mapped object, then unpin (or free the storage
 * of a removed page, and of a page flushed meanwhile whose last pin this
 * was). `getter` is this Worker's client index.
 *
 * Returns ZC_GET_HIT (the page is in the I/O slot), ZC_GET_REMOTE when the
 * page is remote (the OutRecord {lo = generation, hi, meta, pin} is left for
 * the caller, which fetches the bytes and then unpins, or frees the removed
 * entry's storage: nothing was accounted), ZC_GET_MISS, -E_BADMSG when the
 * stored copy is corrupt (its storage released as for a hit; the caller
 * flushes the key), -E_BUSY when this Worker already has another zpool
 * object mapped (a kept page stays stored; a removed ephemeral one is
 * dropped, which cleancache allows, and the result is ZC_GET_MISS), -E_INVAL
 * for a bad pool, -E_FAULT when `oid` is not an address in the memory.
 */
export function tmem_zcache_load(st: usize, getter: u32, pool: u32, oid: usize, index: u32): i32 {
  const g = tmem_get(pool, oid, index, GET_POLICY);
  if (g != 1) return g == 0 ? ZC_GET_MISS : g;
  const io = scratchBase + SCRATCH_IO;
  const out = tmem_out_area();
  const lo = load<u32>(out), hi = load<u32>(out, 4), meta = load<u32>(out, 8), pin = load<u32>(out, 12);
  // A remote page: the caller fetches it, then unpins (or, removed: frees) with the record as it is.
  if ((meta & ZC_META_REMOTE) != 0) return ZC_GET_REMOTE;
  tmem_zcache_account(st, meta, 0, getter);
  let ok = true;
  let busy = false;
  if ((meta & META_SAME) != 0) {
    tmem_page_fill(io, lo, hi);
  } else {
    const drv = driverOf(st);
    const zp = zpoolOf(st, hi == 1);
    const addr = drvMap(drv, zp, lo, ZS_MM_RO);
    if (addr == 0) {
      ok = false;
      busy = drvMapBusy(drv);
    } else {
      ok = lz4_decompress_safe_exact(addr, <i32>(meta & LEN_MASK), io, <i32>PAGE_SIZE) == <i32>PAGE_SIZE;
      drvUnmap(drv, zp, lo);
    }
  }
  if (pin != 0) {
    if (tmem_unpin(pin) == 1) freeOut(st);
  } else {
    freeStored(st, lo, hi, meta);
  }
  if (busy) return pin != 0 ? -E_BUSY : ZC_GET_MISS;
  return ok ? ZC_GET_HIT : -E_BADMSG;
}
