// SPDX-License-Identifier: MIT
//
// tmem_remote.ts: the zcache half of RAMster's remotify and selfshrink: what
// happens to a zcache page when its bytes move to the remote tier (Redis,
// src/ramster/) and when they come home.
//
// It is not the remotifier (src/ramster/remotifier.ts decides when, ships
// the bytes and waits for the acknowledgement) and not the index (tmem.ts's
// take / replace / release hooks pin and swap descriptors). It is the two
// steps that must be one wasm call because they touch zsmalloc, the index
// and zcache's counters together.
//
// Key idea (RAMster's tmem_replace with a "remote pampd"): every store lands
// in local zcache; a page becomes remote only AFTER the remote tier has
// acknowledged a copy, by a compare-and-swap on its descriptor: the pampd
// the remotifier saw when it pinned the page (take) must still be there and
// no other reader may pin it. Then the local zsmalloc object is freed and the
// descriptor holds a remote pampd: lo = the copy's generation (also stored
// in the remote value's header and checked on every load), hi = 1 for a
// persistent page, meta = compressed length | PERSIST | client | REMOTE.
// A concurrent overwrite, flush or read makes the swap fail; the page stays
// local and the remote copy is an orphan the caller deletes by generation.
// Coming home is the same swap the other way, with a freshly allocated
// zsmalloc object that holds the fetched compressed bytes.
//
// Guarantees: the local bytes are freed only after the swap succeeded (so
// only after the remote acknowledgement); a failed swap changes nothing but
// the pin; every pin taken is released exactly once (the take record's pin
// word is cleared under the stripe lock by the release).
//
// Layout: take records (assembly/tmem_take.ts, ZC_TAKE_RECORD bytes):
//   0 pool │ 4 index │ 8..28 oid[6] │ 32 lo │ 36 hi │ 40 meta │ 44 pin │ 48 generation
// zcache's remote words: zcache_layout.ts (ZC_W_REMOTE, ZC_R_*).
//
// Concurrency: any Worker; the record belongs to the Worker that took it
// (or to its recoverer once it is dead).
//
// The zpool is reached through zcache_drivers.ts, by the ids in the state frame.
//
// See also: tmem_take.ts (tmem_take_lru, tmem_take_scan, tmem_replace_pinned,
// tmem_take_release), tmem_zcache.ts, src/ramster/remotifier.ts.

import { E_NOMEM, E_BUSY } from "./common";
import {
  ZC_LEN_MASK, ZC_META_PERSIST, ZC_META_REMOTE, ZC_R_EPH, ZC_R_PERS, ZC_R_EPH_Z, ZC_R_PERS_Z, ZC_R_REMOTIFIED,
  ZC_R_HOME, ZC_CLIENTS, ZC_CW, ZC_MAX_CLIENTS, ZC_K_EPH, ZC_K_PERS, ZC_K_EPH_Z, ZC_K_PERS_Z,
} from "./zcache_layout";
import { driverOf, zpoolOf, drvMalloc, drvFree, drvMap, drvUnmap } from "./zcache_drivers";
import { tmem_out_area } from "./tmem";
import { tmem_replace_pinned, tmem_take_release } from "./tmem_take";
import { tmem_zcache_free_stored } from "./tmem_zcache";

// @ts-ignore: decorator
@inline const ZS_MM_RO: u32 = 1;
// @ts-ignore: decorator
@inline const ZS_MM_WO: u32 = 2;
// @ts-ignore: decorator
@inline const TK_LO: usize = 32;
// @ts-ignore: decorator
@inline const TK_HI: usize = 36;
// @ts-ignore: decorator
@inline const TK_META: usize = 40;
// @ts-ignore: decorator
@inline const TK_GEN: usize = 48;

// @ts-ignore: decorator
@inline function add(st: usize, word: u32, v: i32): void {
  atomic.add<i32>(st + (<usize>word << 2), v);
}

/** Move one page's local counters (its storing client's line) by `op` (±1). */
function localAccount(st: usize, meta: u32, op: i32): void {
  let client = (meta >> 16) & 0xff;
  if (client >= ZC_MAX_CLIENTS) client = ZC_MAX_CLIENTS - 1;
  const c = ZC_CLIENTS + client * ZC_CW;
  const pers = (meta & ZC_META_PERSIST) != 0;
  add(st, c + (pers ? ZC_K_PERS : ZC_K_EPH), op);
  add(st, c + (pers ? ZC_K_PERS_Z : ZC_K_EPH_Z), op * <i32>(meta & ZC_LEN_MASK));
}

/** Move one page's remote counters by `op` (±1). */
function remoteAccount(st: usize, meta: u32, op: i32): void {
  const pers = (meta & ZC_META_PERSIST) != 0;
  add(st, pers ? ZC_R_PERS : ZC_R_EPH, op);
  add(st, pers ? ZC_R_PERS_Z : ZC_R_EPH_Z, op * <i32>(meta & ZC_LEN_MASK));
}

/** Release the pin of `rec`; free what the last pin of a retired descriptor leaves. Returns tmem_take_release's result. */
function release(st: usize, rec: usize): i32 {
  const r = tmem_take_release(rec);
  if (r == 1) {
    const o = tmem_out_area();
    tmem_zcache_free_stored(st, load<u32>(o), load<u32>(o, 4), load<u32>(o, 8));
  }
  return r;
}

/**
 * Copy the compressed bytes of the local page of take record `rec` to `dst`
 * (capacity `cap`). Returns the length; -E_BUSY when this instance has a
 * zsmalloc object mapped; -E_NOMEM when `cap` is too small. The pin keeps
 * the object alive.
 */
export function tmem_zcache_take_copy(st: usize, rec: usize, dst: usize, cap: u32): i32 {
  const meta = load<u32>(rec + TK_META);
  const len = meta & ZC_LEN_MASK;
  if (len > cap) return -E_NOMEM;
  const drv = driverOf(st);
  const zp = zpoolOf(st, load<u32>(rec + TK_HI) == 1);
  const lo = load<u32>(rec + TK_LO);
  const addr = drvMap(drv, zp, lo, ZS_MM_RO);
  if (addr == 0) return -E_BUSY;
  memory.copy(dst, addr, <usize>len);
  drvUnmap(drv, zp, lo);
  return <i32>len;
}

/**
 * The remote tier acknowledged the copy of take record `rec` (a local page)
 * under the record's generation: swap the descriptor to the remote pampd,
 * free the local object, account, release the pin. Returns 1 when the page
 * is remote now; 0 when the swap lost (the page is unchanged or gone) and
 * 2 when it won but the page was flushed before the release: in both of
 * those the caller deletes the remote copy (by generation).
 */
export function tmem_zcache_remotify_done(st: usize, rec: usize): i32 {
  const lo = load<u32>(rec + TK_LO), hi = load<u32>(rec + TK_HI), meta = load<u32>(rec + TK_META);
  const gen = load<u32>(rec + TK_GEN);
  const r = tmem_replace_pinned(rec, gen, hi, meta | ZC_META_REMOTE, 1);
  if (r == 1) {
    drvFree(driverOf(st), zpoolOf(st, hi == 1), lo);
    localAccount(st, meta, -1);
    remoteAccount(st, meta, 1);
    add(st, ZC_R_REMOTIFIED, 1);
  }
  const rel = release(st, rec);
  if (r != 1) return 0;
  return rel == 1 ? 2 : 1;
}

/**
 * A remote persistent page of take record `rec` came back: `len` compressed
 * bytes at `src`. Allocate a local object, copy, swap the descriptor back
 * to it (only if it is unchanged and unpinned by others), account, release.
 * Returns 1 home (the caller deletes the remote copy), 0 the entry changed
 * (nothing to do), 3 the entry was flushed meanwhile (the caller deletes the
 * remote copy), -E_NOMEM no local room (pin released, still remote).
 */
export function tmem_zcache_home_done(st: usize, rec: usize, src: usize, len: u32): i32 {
  const meta = load<u32>(rec + TK_META);
  if ((meta & ZC_META_REMOTE) == 0 || len != (meta & ZC_LEN_MASK)) { release(st, rec); return 0; }
  const pers = load<u32>(rec + TK_HI) == 1;
  const drv = driverOf(st);
  const zp = zpoolOf(st, pers);
  const h = drvMalloc(drv, zp, len);
  if (h <= 0) { release(st, rec); return -E_NOMEM; }
  const addr = drvMap(drv, zp, <u32>h, ZS_MM_WO);
  if (addr == 0) { drvFree(drv, zp, <u32>h); release(st, rec); return -E_BUSY; }
  memory.copy(addr, src, <usize>len);
  drvUnmap(drv, zp, <u32>h);
  const local = meta & ~ZC_META_REMOTE;
  const r = tmem_replace_pinned(rec, <u32>h, pers ? 1 : 0, local, 0);
  if (r == 1) {
    remoteAccount(st, meta, -1);
    localAccount(st, local, 1);
    add(st, ZC_R_HOME, 1);
  } else {
    drvFree(drv, zp, <u32>h);
  }
  const rel = release(st, rec);
  if (r == 1) return 1;
  return rel == 1 ? 3 : 0;
}

/** Release the pin of take record `rec` without a swap (a failed remote write). Returns 1 if the page was flushed meanwhile (freed here). */
export function tmem_zcache_take_release(st: usize, rec: usize): i32 {
  return release(st, rec);
}
