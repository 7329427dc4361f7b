// SPDX-License-Identifier: MIT
//
// tmem_zcache.ts: the two per-page steps of the zcache backend (src/zcache.ts)
// that are cheaper in wasm than in JavaScript: "prepare" (same-filled test,
// else LZ4 compression into the staging area, in one call) and "account"
// (every counter a store, free or get touches, in one call).
//
// It is not zcache's policy: the caller decides what to do with the result,
// allocates from the zpool and indexes the page. Key idea: a JS→wasm call
// costs 5-10 ns and a JS Atomics.add on shared memory about 30 ns, while an
// atomic add inside wasm costs a few ns; a store touches seven counters and
// the same-filled test plus the compressor were two calls. Folding them
// saves a few hundred ns per page on a path whose floor is the compressor.
//
// Layout: the zcache state frame (u32 words) is drawn in src/zcache.ts; the
// word indexes below mirror it and must stay in step with it:
//   32 ephemeral pages │ 33 persistent pages │ 34 same-filled pages │
//   35 ephemeral zbytes │ 36 persistent zbytes │ 37 ephemeral puts │
//   38 persistent puts │ 41 compress_poor │ 45 gets │ 46 frees │
//   256 + client × 16 (one cache line each, 48 clients):
//        { ephemeral, persistent, zbytes, puts, rejects, gets, frees, same, unused × 8 }
// The pampd meta word: length (bits 0..12) │ SAME (13) │ PERSIST (14) │ client << 16.
//
// Concurrency: counters are atomic adds; any Worker may call both functions
// at once. prepare uses this Worker's scratch only.
//
// See also: src/zcache.ts, tmem_page.ts, lz4.ts.

import { PAGE_SIZE } from "./common";
import { tmem_page_same_filled } from "./tmem_page";
import { lz4_compress_fast } from "./lz4";

// @ts-ignore: decorator
@inline const W_EPH_PAGES: usize = 32;
// @ts-ignore: decorator
@inline const W_PERS_PAGES: usize = 33;
// @ts-ignore: decorator
@inline const W_SAME: usize = 34;
// @ts-ignore: decorator
@inline const W_EPH_Z: usize = 35;
// @ts-ignore: decorator
@inline const W_PERS_Z: usize = 36;
// @ts-ignore: decorator
@inline const W_EPH_PUTS: usize = 37;
// @ts-ignore: decorator
@inline const W_PERS_PUTS: usize = 38;
// @ts-ignore: decorator
@inline const W_POOR: usize = 41;
// @ts-ignore: decorator
@inline const W_GETS: usize = 45;
// @ts-ignore: decorator
@inline const W_FREES: usize = 46;
// @ts-ignore: decorator
@inline const W_CLIENTS: usize = 256;
// @ts-ignore: decorator
@inline const CLIENT_WORDS: usize = 16;
// @ts-ignore: decorator
@inline const MAX_CLIENTS: u32 = 48;
// @ts-ignore: decorator
@inline const K_EPH: usize = 0;
// @ts-ignore: decorator
@inline const K_PERS: usize = 1;
// @ts-ignore: decorator
@inline const K_Z: usize = 2;
// @ts-ignore: decorator
@inline const K_PUTS: usize = 3;
// @ts-ignore: decorator
@inline const K_GETS: usize = 5;
// @ts-ignore: decorator
@inline const K_FREES: usize = 6;
// @ts-ignore: decorator
@inline const K_SAME: usize = 7;
// @ts-ignore: decorator
@inline const LEN_MASK: u32 = 0x1fff;
// @ts-ignore: decorator
@inline const META_SAME: u32 = 1 << 13;
// @ts-ignore: decorator
@inline const META_PERSIST: u32 = 1 << 14;

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
    add(st, W_GETS, 1);
    add(st, W_CLIENTS + <usize>(getter < MAX_CLIENTS ? getter : MAX_CLIENTS - 1) * CLIENT_WORDS + K_GETS, 1);
    return;
  }
  let client = (meta >> 16) & 0xff;
  if (client >= MAX_CLIENTS) client = MAX_CLIENTS - 1;
  const c = W_CLIENTS + <usize>client * CLIENT_WORDS;
  const persistent = (meta & META_PERSIST) != 0;
  const same = (meta & META_SAME) != 0;
  const z = same ? 0 : <i32>(meta & LEN_MASK);
  add(st, persistent ? W_PERS_PAGES : W_EPH_PAGES, op);
  add(st, persistent ? W_PERS_Z : W_EPH_Z, op * z);
  add(st, c + (persistent ? K_PERS : K_EPH), op);
  add(st, c + K_Z, op * z);
  if (same) {
    add(st, W_SAME, op);
    add(st, c + K_SAME, op);
  }
  if (op > 0) {
    add(st, persistent ? W_PERS_PUTS : W_EPH_PUTS, 1);
    add(st, c + K_PUTS, 1);
  } else {
    add(st, W_FREES, 1);
    add(st, c + K_FREES, 1);
  }
}
