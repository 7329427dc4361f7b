// SPDX-License-Identifier: MIT
//
// lz4_decompress.ts: the LZ4 block decoder, safe on hostile input.
//
// What it is not: not the reference's "fast" (trusting) decoder and not a
// partial decoder: a block either decodes whole into the destination or the
// call fails. A failure may leave garbage in [dst, dst + dstCap), never
// outside it.
//
// Key idea: two loops, as G8 asks. The fast loop runs while at least
// FAST_IN_MARGIN input bytes and FAST_OUT_MARGIN output bytes remain; there a
// short literal run (< 15) is copied as one unchecked 16-byte v128 move and a
// match as 16-byte moves (offset ≥ 16: plain copies; offset < 16: a pattern
// built by one i8x16.swizzle and stored every multiple of its period) that may
// overshoot the match's end into space the margins prove is ours. The safe
// loop decodes the tail with every length checked; its copies are exact, or
// wild only where a 16-byte move still ends inside the destination.
//
// Guarantee: reads stay inside [src, src + srcLen), the declared prefix
// [dst - prefixLen, dst) and the destination itself (match sources); writes
// stay inside [dst, dst + dstCap). Every length read from the block is checked against both ends
// before it is used, extended lengths cannot overflow (they are bounded by
// the output space byte by byte), offset 0 and offsets reaching before the
// prefix are errors, and the block must end right after a literal run.
// Every bad path returns -(position) - 1, where position is the input offset
// of the byte that made the block invalid (or srcLen when the block ends too
// early). Trade-off: a match copy may write up to 15 bytes past its end
// inside the destination, so bytes past the decoded size are scratch.
//
// Layout: the block format is drawn in lz4.ts.
//
// Concurrency: pure function of its arguments; any number of callers may run
// at once on disjoint destinations.
//
// See also: lz4.ts, lz4_compress.ts, test/lz4*.test.ts, test/fuzz/.

import { MIN_MATCH, ML_BITS, ML_MASK, RUN_MASK, copyExact } from "./lz4_common";

// ══ Margins ══

/**
 * The fast loop runs while this much input remains: a token, up to 14
 * literals read as one 16-byte move, and the 2-byte offset stay inside it.
 */
// @ts-ignore: decorator
@inline const FAST_IN_MARGIN: u32 = 32;
/**
 * The fast loop runs while this much output space remains: a 16-byte literal
 * move, and a short match (≤ 18 bytes) copied as two 16-byte moves.
 */
// @ts-ignore: decorator
@inline const FAST_OUT_MARGIN: u32 = 64;
/** A wild 16-byte match copy needs this much space past the match's end. */
// @ts-ignore: decorator
@inline const WILD_V128: u32 = 16;

// ══ Helpers ══

/**
 * Swizzle indices that repeat a pattern of period `offset` (row `offset`,
 * lane i = i mod offset) across 16 bytes, for matches with offset < 16.
 * Read-only static data.
 */
const SMALL_OFFSET_PATTERN: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
  0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0,
  0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0,
  0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1,
  0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 2,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0, 1,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0,
]);
/** Bytes to advance per 16-byte store for offset < 16: the largest multiple of offset ≤ 16. */
const SMALL_OFFSET_STEP: usize = memory.data<u8>([0, 16, 16, 15, 16, 15, 12, 14, 16, 9, 10, 11, 12, 13, 14, 15
]);

/** The single exit for bad input: -(position) - 1. */
// @ts-ignore: decorator
@inline function fail(src: usize, ip: usize): i32 {
  return -<i32>(ip - src) - 1;
}

/**
 * Copy a match of `ml` bytes from `offset` back to `op`. The caller has
 * checked 1 ≤ offset ≤ op - lowPrefix and ml ≤ oend - op.
 *
 * The bulk moves 16 bytes per store: plain copies when offset ≥ 16, else a
 * pattern of period `offset` built by one swizzle from its first `offset`
 * bytes (already written) and stored every `step` bytes, a multiple of the
 * period, so phases line up (zero runs are offset 1). Stores may run up to
 * 15 bytes past the match's end, so the bulk stops where a store would pass
 * oend; the exact tail (< 16 bytes) is copied byte by byte, each byte from
 * `offset` back, which repeats the pattern correctly when they overlap.
 */
// @ts-ignore: decorator
@inline function copyMatch(op: usize, offset: u32, ml: u32, oend: usize): void {
  const end = op + ml;
  // Last position a 16-byte store may start at is oend - 16.
  const wildLimit = <u32>(oend - op) >= WILD_V128 ? oend - (WILD_V128 - 1) : op;
  const bulkEnd = end < wildLimit ? end : wildLimit;
  if (op < bulkEnd) {
    if (offset >= 16) {
      let m = op - offset;
      do {
        v128.store(op, v128.load(m));
        op += 16;
        m += 16;
      } while (op < bulkEnd);
    } else {
      // The load may read up to 15 not-yet-written bytes inside dst: unused lanes.
      const v = i8x16.swizzle(v128.load(op - offset), v128.load(SMALL_OFFSET_PATTERN + (<usize>offset << 4)));
      const step = <usize>load<u8>(SMALL_OFFSET_STEP + offset);
      do {
        v128.store(op, v);
        op += step;
      } while (op < bulkEnd);
    }
  }
  while (op < end) {
    store<u8>(op, load<u8>(op - offset));
    op++;
  }
}

// ══ The decoder ══

/**
 * Decode the block [src, src+srcLen) into [dst, dst+dstCap); matches may
 * reach back into the prefix [dst - prefixLen, dst). The following are
 * presumed already validated: every range lies inside the memory,
 * srcLen, dstCap < 2^31, prefixLen ≤ dst.
 *
 * Returns: the decoded size, or -(position) - 1 for malformed input.
 */
export function decompressBlock(src: usize, srcLen: u32, dst: usize, dstCap: u32, prefixLen: u32): i32 {
  const iend = src + srcLen;
  const oend = dst + dstCap;
  const lowPrefix = dst - prefixLen;
  let ip = src;
  let op = dst;

  // ── fast loop ──
  while (<u32>(iend - ip) >= FAST_IN_MARGIN && <u32>(oend - op) >= FAST_OUT_MARGIN) {
    const token = <u32>load<u8>(ip++);
    let ll = token >> ML_BITS;
    if (ll != RUN_MASK) {
      // Margins: ip + 16 ≤ iend and op + 16 ≤ oend, so one wild move suffices.
      v128.store(op, v128.load(ip));
      ip += ll;
      op += ll;
    } else {
      let b: u32;
      do {
        if (ip >= iend) return fail(src, ip);
        b = load<u8>(ip++);
        ll += b;
        if (ll > <u32>(oend - op)) return fail(src, ip - 1);
      } while (b == 255);
      if (ll > <u32>(iend - ip)) return fail(src, ip);
      if (<u32>(iend - ip) - ll >= WILD_V128 && <u32>(oend - op) - ll >= WILD_V128) {
        const end = op + ll;
        let s = ip;
        let d = op;
        do {
          v128.store(d, v128.load(s));
          d += 16;
          s += 16;
        } while (d < end);
      } else {
        memory.copy(op, ip, ll);
      }
      ip += ll;
      op += ll;
      if (ip == iend) return <i32>(op - dst);
      if (<u32>(iend - ip) < 2) return fail(src, ip);
    }
    const offset = <u32>load<u16>(ip);
    // One unsigned compare rejects offset 0 (wraps) and offsets before the prefix.
    if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, ip);
    ip += 2;
    let ml = token & ML_MASK;
    if (ml == ML_MASK) {
      let b: u32;
      do {
        if (ip >= iend) return fail(src, ip);
        b = load<u8>(ip++);
        ml += b;
        if (ml > <u32>(oend - op)) return fail(src, ip - 1);
      } while (b == 255);
    }
    ml += MIN_MATCH;
    if (ml > <u32>(oend - op)) return fail(src, ip - 1);
    if (offset >= 16 && ml <= 32) {
      // Short match, far source: two 16-byte moves, inside FAST_OUT_MARGIN
      // only when no long literal run moved op on; else the general copy.
      if (<u32>(oend - op) >= 32) {
        const m = op - offset;
        v128.store(op, v128.load(m));
        v128.store(op + 16, v128.load(m + 16));
        op += ml;
        continue;
      }
    }
    copyMatch(op, offset, ml, oend);
    op += ml;
  }

  // ── safe loop: every length checked, exact copies ──
  while (true) {
    if (ip >= iend) return fail(src, ip);
    const token = <u32>load<u8>(ip++);
    let ll = token >> ML_BITS;
    if (ll == RUN_MASK) {
      let b: u32;
      do {
        if (ip >= iend) return fail(src, ip);
        b = load<u8>(ip++);
        ll += b;
        if (ll > <u32>(oend - op)) return fail(src, ip - 1);
      } while (b == 255);
    }
    if (ll > <u32>(iend - ip) || ll > <u32>(oend - op)) return fail(src, ip);
    copyExact(op, ip, ll);
    ip += ll;
    op += ll;
    if (ip == iend) return <i32>(op - dst);
    if (<u32>(iend - ip) < 2) return fail(src, ip);
    const offset = <u32>load<u16>(ip);
    // One unsigned compare rejects offset 0 (wraps) and offsets before the prefix.
    if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, ip);
    ip += 2;
    let ml = token & ML_MASK;
    if (ml == ML_MASK) {
      let b: u32;
      do {
        if (ip >= iend) return fail(src, ip);
        b = load<u8>(ip++);
        ml += b;
        if (ml > <u32>(oend - op)) return fail(src, ip - 1);
      } while (b == 255);
    }
    ml += MIN_MATCH;
    if (ml > <u32>(oend - op)) return fail(src, ip - 1);
    copyMatch(op, offset, ml, oend);
    op += ml;
  }
  // unreachable: both loops return
}
