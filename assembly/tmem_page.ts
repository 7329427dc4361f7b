// SPDX-License-Identifier: MIT
//
// tmem_page.ts: whole-page helpers the zcache backend calls on its store and
// load paths: the same-filled test (zswap's) and its inverse, the fill.
//
// It is not part of the index (tmem.ts): these touch page bytes, never
// descriptors or locks. Key idea: a page whose 512 u64 words are all equal is
// stored as that one word with no allocation (zswap same_filled_pages; 10-20%
// of swap pages in the kernel's measurements, ~1% in our anon corpus). The
// test compares the first and last words first, as zswap does, so most
// pages are rejected after two loads; the full test runs 16 bytes at a time
// with SIMD.
//
// Layout: results go to the same per-Worker out area as tmem.ts.
// Concurrency: pure functions of the bytes at `addr`; the caller owns them.
//
// See also: src/zcache.ts, kernel.md §1.12.

import { PAGE_SIZE, scratchBase, SCRATCH_IO } from "./common";

/**
 * Test whether the 4 KiB page at `addr` is one u64 word repeated. Returns 1
 * and writes the word (lo, hi as two u32) at the start of the out area, or 0.
 */
export function tmem_page_same_filled(addr: usize): i32 {
  const first = load<u64>(addr);
  if (load<u64>(addr + PAGE_SIZE - 8) != first) return 0;
  const w = i64x2.splat(<i64>first);
  let diff = v128.xor(v128.load(addr), w);
  for (let off: usize = 16; off < PAGE_SIZE; off += 64) {
    diff = v128.or(diff, v128.xor(v128.load(addr + off), w));
    diff = v128.or(diff, v128.xor(v128.load(addr + off + 16), w));
    diff = v128.or(diff, v128.xor(v128.load(addr + off + 32), w));
    // The last lane group of the page is covered by the previous loads when off + 48 == PAGE_SIZE.
    if (off + 48 < PAGE_SIZE) diff = v128.or(diff, v128.xor(v128.load(addr + off + 48), w));
    if (v128.any_true(diff)) return 0;
  }
  const out = scratchBase + SCRATCH_IO + PAGE_SIZE;
  store<u64>(out, first);
  return 1;
}

/** Fill the 4 KiB page at `addr` with the u64 word (hi << 32 | lo). */
export function tmem_page_fill(addr: usize, lo: u32, hi: u32): void {
  const w = i64x2.splat((<i64>hi << 32) | <i64>lo);
  for (let off: usize = 0; off < PAGE_SIZE; off += 16) v128.store(addr + off, w);
}
