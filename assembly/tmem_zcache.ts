// SPDX-License-Identifier: MIT
//
// tmem_zcache.ts: the two per-page steps of the zcache backend (src/zcache.ts)
// that are cheaper in wasm than in JavaScript: "prepare" (same-filled test,
// else LZ4 compression into the staging area, in one call) and "account"
// (every counter a store, free or get touches, in one call).
//
// It is not zcache's policy: the caller decides what to do with the result,
// allocates from the zpool and indexes the page. Except on the zsmalloc fast
// path: when zcache's zpools are zsmalloc (the default), a whole store (same-
// filled test or compression, zs_malloc, copy, index, accounting) and a whole
// load (lookup, map, decompress, unmap, unpin or free) are one wasm call each,
// through zsmalloc's own entry points; policy (cap, eviction on -E_NOMEM, the
// generic zpool path for every other driver) stays in src/zcache.ts. Key idea: a JS→wasm call
// costs 5-10 ns and a JS Atomics.add on shared memory about 30 ns, while an
// atomic add inside wasm costs a few ns; a store touches seven counters and
// the same-filled test plus the compressor were two calls. Folding them
// saves a few hundred ns per page on a path whose floor is the compressor.
// Per-page counters are per client, so two Workers do not bounce one line.
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
// Concurrency: counters are atomic adds; any Worker may call both functions
// at once. prepare uses this Worker's scratch only.
//
// See also: src/zcache.ts, tmem_page.ts, lz4.ts.

import { PAGE_SIZE, E_NOMEM, E_BADMSG, E_BUSY, scratchBase, SCRATCH_IO, SCRATCH_STAGE, SCRATCH_LZ4_HASH } from "./common";
import {
  ZC_C_POOR, ZC_CLIENTS, ZC_CW, ZC_MAX_CLIENTS, ZC_K_EPH, ZC_K_PERS, ZC_K_EPH_Z, ZC_K_PERS_Z, ZC_K_EPH_PUTS, ZC_K_PERS_PUTS,
  ZC_K_GETS, ZC_K_FREES, ZC_K_SAME, ZC_LEN_MASK, ZC_META_SAME, ZC_META_PERSIST, ZC_STORE_POOR, ZC_STORE_FLUSHED,
  ZC_META_REMOTE, ZC_R_EPH, ZC_R_PERS, ZC_R_EPH_Z, ZC_R_PERS_Z, ZC_R_FREES,
} from "./zcache_layout";
import { tmem_page_same_filled, tmem_page_fill } from "./tmem_page";
import { lz4_compress_fast, lz4_decompress_safe_exact } from "./lz4";
import { zs_malloc, zs_free, zs_map_object, zs_unmap_object, zs_last_error } from "./zsmalloc";
import { tmem_put, tmem_get, tmem_unpin, tmem_flush_page } from "./tmem";

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

// ══ zsmalloc fast path ══

/** zsmalloc map modes (assembly/zsmalloc.ts ZS_MM_*). */
// @ts-ignore: decorator
@inline const ZS_MM_RO: u32 = 1;
// @ts-ignore: decorator
@inline const ZS_MM_WO: u32 = 2;
/** tmem_get's GET_POLICY mode (assembly/tmem.ts). */
// @ts-ignore: decorator
@inline const GET_POLICY: u32 = 0;
/** Store result: the page compresses too poorly (compress_poor counted). */
// @ts-ignore: decorator
@inline const STORE_POOR: i32 = ZC_STORE_POOR;
/** Added to (subtracted from) a store result when an old copy was flushed first. */
// @ts-ignore: decorator
@inline const STORE_FLUSHED: i32 = ZC_STORE_FLUSHED;

/**
 * Free a stored page of this zcache (zsmalloc pools `zsEph`/`zsPers`) and
 * account it. A remote page has no local bytes: only its counters move (its
 * remote copy is the caller's to drop: src/zcache.ts).
 */
export function tmem_zcache_free_stored(st: usize, zsEph: u32, zsPers: u32, lo: u32, hi: u32, meta: u32): void {
  freeStored(st, zsEph, zsPers, lo, hi, meta);
}

function freeStored(st: usize, zsEph: u32, zsPers: u32, lo: u32, hi: u32, meta: u32): void {
  if ((meta & (META_SAME | ZC_META_REMOTE)) == 0) zs_free(hi == 1 ? zsPers : zsEph, lo);
  tmem_zcache_account(st, meta, -1, 0);
}

/**
 * Store the page in this Worker's I/O slot under (pool, oid, index) of a
 * zcache whose zpools are the zsmalloc pools `zsEph` and `zsPers`: prepare,
 * zs_malloc, copy, tmem_put, account, all here. `kind` is the meta bits the
 * caller adds (PERSIST, client << 16); the page goes to zsPers when PERSIST is
 * set. A replaced old copy is freed here too. The caller has flushed the
 * key's old copy first (unless noReplace) and checked the persistent cap.
 *
 * Unless `noReplace`, the key's old copy is flushed FIRST (tmem_put's rule),
 * here, before anything is stored; STORE_FLUSHED is then added to a
 * non-negative result and subtracted from a negative one, so the caller
 * knows an old copy went (a failed store leaves none).
 *
 * Returns 0 (new) or 1 (replaced); STORE_POOR (-1000) when it compresses
 * beyond maxZsize; -E_NOMEM when zsmalloc or the tmem index has no memory
 * (the caller may evict and retry); -E_BUSY when this instance already has
 * a zsmalloc object mapped; -E_EXIST (noReplace and the key exists),
 * -E_INVAL (pool not alive): nothing stored in every error case.
 */
export function tmem_zcache_store_zs(st: usize, zsEph: u32, zsPers: u32, kind: u32, maxZsize: i32, acceleration: i32,
                                     pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32,
                                     noReplace: u32): i32 {
  const io = scratchBase + SCRATCH_IO;
  const out = io + PAGE_SIZE;
  let flushed: i32 = 0;
  if (noReplace == 0) {
    const f = tmem_flush_page(pool, o0, o1, o2, o3, o4, o5, index);
    if (f == 1) freeStored(st, zsEph, zsPers, load<u32>(out), load<u32>(out, 4), load<u32>(out, 8));
    if (f > 0) flushed = STORE_FLUSHED;
  }
  const r = storeZs(st, zsEph, zsPers, kind, maxZsize, acceleration, pool, o0, o1, o2, o3, o4, o5, index, noReplace);
  return r >= 0 ? r + flushed : r - flushed;
}

/** tmem_zcache_store_zs after the flush. */
function storeZs(st: usize, zsEph: u32, zsPers: u32, kind: u32, maxZsize: i32, acceleration: i32,
                 pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32, noReplace: u32): i32 {
  const io = scratchBase + SCRATCH_IO;
  const stage = scratchBase + SCRATCH_STAGE;
  const out = io + PAGE_SIZE;
  const r = tmem_zcache_prepare(st, io, stage, <i32>(SCRATCH_IO - SCRATCH_STAGE), acceleration, scratchBase + SCRATCH_LZ4_HASH, maxZsize);
  const persistent = (kind & META_PERSIST) != 0;
  let lo: u32, hi: u32, meta: u32;
  if (r < 0) {
    lo = load<u32>(out);
    hi = load<u32>(out, 4);
    meta = META_SAME | kind;
  } else if (r == 0) {
    return STORE_POOR;
  } else {
    const zs = persistent ? zsPers : zsEph;
    const h = zs_malloc(zs, <u32>r);
    if (h <= 0) return h == 0 ? -E_NOMEM : h;
    const addr = zs_map_object(zs, <u32>h, ZS_MM_WO);
    if (addr == 0) { zs_free(zs, <u32>h); return -E_BUSY; } // this instance has an object mapped
    memory.copy(addr, stage, <usize>r);
    zs_unmap_object(zs, <u32>h);
    lo = <u32>h;
    hi = persistent ? 1 : 0;
    meta = <u32>r | kind;
  }
  tmem_zcache_account(st, meta, 1, 0);
  const p = tmem_put(pool, o0, o1, o2, o3, o4, o5, index, lo, hi, meta, noReplace);
  if (p < 0) {
    freeStored(st, zsEph, zsPers, lo, hi, meta);
    return p;
  }
  if (p == 1) {
    // The replaced copy's record (all zero if a reader still pins it).
    const olo = load<u32>(out), ohi = load<u32>(out, 4), ometa = load<u32>(out, 8);
    if ((olo | ohi | ometa) != 0) freeStored(st, zsEph, zsPers, olo, ohi, ometa);
  }
  return p;
}

/**
 * Load (pool, oid, index) of a zcache whose zpools are zsmalloc into this
 * Worker's I/O slot: tmem_get (exclusive for private ephemeral pools),
 * account the get, decompress from the mapped object, then unpin (or free
 * the storage of a removed page, and of a page flushed meanwhile whose last
 * pin this was). `getter` is this Worker's client index.
 *
 * Returns 1 on a hit (the page is in the I/O slot), 2 when the page is
 * remote (the OutRecord {lo = generation, hi, meta, pin} is left for the
 * caller, which fetches the bytes and then unpins, or frees the removed
 * entry's storage: nothing was accounted), 0 on a miss, -E_BADMSG
 * when the stored copy is corrupt (its storage released as for a hit; the
 * caller flushes the key), -E_BUSY when this Worker already has another
 * zsmalloc object mapped (a kept page stays stored; a removed ephemeral one
 * is dropped, which cleancache allows), -E_INVAL for a bad pool.
 */
export function tmem_zcache_load_zs(st: usize, zsEph: u32, zsPers: u32, getter: u32,
                                    pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32): i32 {
  const g = tmem_get(pool, o0, o1, o2, o3, o4, o5, index, GET_POLICY);
  if (g != 1) return g;
  const io = scratchBase + SCRATCH_IO;
  const out = io + PAGE_SIZE;
  const lo = load<u32>(out), hi = load<u32>(out, 4), meta = load<u32>(out, 8), pin = load<u32>(out, 12);
  // A remote page: the caller fetches it, then unpins (or, removed: frees) with the record as it is.
  if ((meta & ZC_META_REMOTE) != 0) return 2;
  tmem_zcache_account(st, meta, 0, getter);
  let ok = true;
  let busy = false;
  if ((meta & META_SAME) != 0) {
    tmem_page_fill(io, lo, hi);
  } else {
    const zs = hi == 1 ? zsPers : zsEph;
    const addr = zs_map_object(zs, lo, ZS_MM_RO);
    if (addr == 0) {
      ok = false;
      busy = zs_last_error() == -E_BUSY;
    } else {
      ok = lz4_decompress_safe_exact(addr, <i32>(meta & LEN_MASK), io, <i32>PAGE_SIZE) == <i32>PAGE_SIZE;
      zs_unmap_object(zs, lo);
    }
  }
  if (pin != 0) {
    if (tmem_unpin(pin) == 1) freeStored(st, zsEph, zsPers, load<u32>(out), load<u32>(out, 4), load<u32>(out, 8));
  } else {
    freeStored(st, zsEph, zsPers, lo, hi, meta);
  }
  if (busy) return pin != 0 ? -E_BUSY : 0;
  return ok ? 1 : -E_BADMSG;
}
