// SPDX-License-Identifier: MIT
//
// lz4_decompress.ts: the LZ4 block decoder, safe on hostile input, accepting
// exactly the blocks liblz4 1.9.4's LZ4_decompress_safe accepts.
//
// What it is not: not the reference's "fast" (trusting) decoder and not a
// partial decoder: a block either decodes whole into the destination or the
// call fails. A failure may leave garbage in [dst, dst + dstCap), never
// outside it.
//
// Key idea: the block format's end rules (the last 5 bytes are literals, the
// last match starts ≥ 12 bytes before the end) are what a decoder "is
// allowed to reject" (lz4_Block_format.md), and the reference enforces them
// only where its speculative copies need them. So what it accepts depends on
// where a sequence sits relative to the ends of input and destination, and
// we make the same decisions at the same places: a wide loop while ≥ 64
// bytes of destination remain past the current match (WIDE_OUT_MARGIN), a
// tail loop after. In the wide loop, a short literal run only needs 17 input
// bytes left (else it goes to the tail), a long one 32 input and output bytes
// past its end, a match 64 output bytes past its end. In the tail, a literal
// run that ends within MF_LIMIT of the destination's end or within 8 input
// bytes of the block's end must be the last (it ends the block exactly);
// a match must end ≥ LAST_LITERALS before the destination's end, except via
// the tail's short-sequence shortcut (≤ 14 literals, ≥ 17 input and 32
// output bytes left, a 4..18-byte match with offset ≥ 8), which the
// reference lets end anywhere in the destination. A length byte may not end
// within RUN_MASK (literals) or LAST_LITERALS - 1 (matches) of the input's
// end. Empty destination: only the one-byte block [0] (empty content).
// Speed: inside the wide loop, a far loop runs while no sequence can reach
// either end (one bound compare per sequence, see decompressBlock), so a
// short sequence skips the two position checks whose outcome is known.
// Decision on offset 0: the format says "0 is an invalid value"; liblz4
// 1.9.x decodes it as zeros (an artefact of its own scratch write). We
// follow the format and reject it: such a block comes from no encoder, and
// bytes made up by a decoder are not data. It is the one difference from
// the reference, and the differential test (test/lz4-differential.test.ts)
// checks that every disagreement is one.
// A block whose input ends below address 64 (no real caller's: static data
// fills the first 1024 bytes) skips the wide loop, whose limit compares
// need iend ≥ 64, and is decoded by the tail loop alone: safe, but its end
// decisions may then differ from the reference's.
// 1.9.2 differs from 1.9.4 in one place: a match length byte ending exactly
// 4 bytes before the input's end was an error (1.9.2 is in the `lz4` npm
// addon); we follow 1.9.4 (the Debian `lz4` CLI), and the test knows it.
//
// Guarantee: reads stay inside [src, src + srcLen), the declared prefix
// [dst - prefixLen, dst) and the destination itself (match sources); writes
// stay inside [dst, dst + dstCap). Lengths cannot overflow (a length above
// the output space fails at once; the reference fails it later). Every bad
// path returns -(position) - 1 (the input offset where the block went
// wrong; for a bad offset, the offset's first byte). Trade-off: copies may
// write up to 15 bytes past a sequence's end inside the destination, so
// bytes past the decoded size are scratch.
//
// Layout: the block format is drawn in lz4.ts.
//
// Concurrency: pure function of its arguments; any number of callers may run
// at once on disjoint destinations.
//
// See also: lz4.ts, lz4_compress.ts, test/lz4*.test.ts, test/fuzz/.

import { LAST_LITERALS, MF_LIMIT, MIN_MATCH, ML_BITS, ML_MASK, RUN_MASK, copyExact } from "./lz4_common";

// ══ Margins (the reference's decision points; changing one changes what is accepted) ══

/** The wide loop runs while this much destination remains past the current match's end. */
// @ts-ignore: decorator
@inline const WIDE_OUT_MARGIN: u32 = 64;
/** Wide loop: a short literal run (< 15) stays there while ≥ this much input follows its token. */
// @ts-ignore: decorator
@inline const WIDE_SHORT_IN: u32 = 17;
/** Wide loop: a long literal run stays there while this much input and output remain past it. */
// @ts-ignore: decorator
@inline const WIDE_LONG_MARGIN: u32 = 32;
/** Tail: a literal run must be the last unless this much input remains past it (offset, token, 5 literals). */
// @ts-ignore: decorator
@inline const TAIL_LITERAL_IN: u32 = 2 + 1 + LAST_LITERALS;
/** Tail shortcut: taken when more than this much input follows the token... */
// @ts-ignore: decorator
@inline const SHORTCUT_IN: u32 = 16;
/** ...and at least this much destination remains (14 literals + an 18-byte match). */
// @ts-ignore: decorator
@inline const SHORTCUT_OUT: u32 = 32;
/** The far loop runs while more destination than this remains: 14 literals + an 18-byte match + WIDE_OUT_MARGIN + 1. */
// @ts-ignore: decorator
@inline const FAR_OUT: u32 = 14 + 18 + WIDE_OUT_MARGIN + 1;
/** A wild 16-byte match copy needs this much space past the match's end. */
// @ts-ignore: decorator
@inline const WILD_V128: u32 = 16;
/** A match-length byte may not end closer than this to the input's end. */
// @ts-ignore: decorator
@inline const MATCH_LEN_IN: u32 = LAST_LITERALS - 1;

/** Where the tail loop resumes a sequence the wide loop handed over. */
// @ts-ignore: decorator
@inline const AT_TOKEN: u32 = 0;
// @ts-ignore: decorator
@inline const AT_LITERALS: u32 = 1;
// @ts-ignore: decorator
@inline const AT_MATCH_LENGTH: u32 = 2;
// @ts-ignore: decorator
@inline const AT_MATCH: u32 = 3;
/** As AT_LITERALS, for a literal length < 15: the token is read again at ip - 1. */
// @ts-ignore: decorator
@inline const AT_SHORT_LITERALS: u32 = 4;

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

/**
 * copyMatch for the wide loop, where ≥ WIDE_OUT_MARGIN bytes of destination
 * follow the match's end: no end handling, the stores may run up to 31 bytes
 * past it. Same checks presumed as copyMatch, and ml ≥ 19 (a long match).
 */
// @ts-ignore: decorator
@inline function copyMatchWide(op: usize, offset: u32, ml: u32): void {
  const end = op + ml;
  if (offset >= 16) {
    // Each 16-byte source lies ≥ 16 bytes back, so it is written before it is read.
    let m = op - offset;
    v128.store(op, v128.load(m));
    v128.store(op, v128.load(m, 16), 16);
    op += 32;
    while (op < end) {
      m += 32;
      v128.store(op, v128.load(m));
      v128.store(op, v128.load(m, 16), 16);
      op += 32;
    }
  } else {
    const v = i8x16.swizzle(v128.load(op - offset), v128.load(SMALL_OFFSET_PATTERN + (<usize>offset << 4)));
    const step = <usize>load<u8>(SMALL_OFFSET_STEP + offset);
    do {
      v128.store(op, v);
      op += step;
    } while (op < end);
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
  // An empty destination holds only the empty block, a single 0 token.
  if (dstCap == 0) return srcLen == 1 && load<u8>(src) == 0 ? 0 : fail(src, src);
  if (srcLen == 0) return fail(src, src);
  const iend = src + srcLen;
  const oend = dst + dstCap;
  const lowPrefix = dst - prefixLen;
  let ip = src;
  let op = dst;

  // ── wide loop: ≥ WIDE_OUT_MARGIN of destination past every match ──
  // Only ip and op live from one sequence to the next: a sequence that must
  // go to the tail leaves by a call that takes its state as arguments.
  // (Kept in locals across the loop for that hand-over, token, lengths and
  // offset were spilled to the stack on every sequence by V8.) The limit
  // forms (ip > iend - 17 for iend - ip < 17, ...) need iend ≥ 64, which
  // every real block has (static data alone fills the first 1024 bytes);
  // a block ending below that goes to the tail loop, which is exact.
  if (dstCap >= WIDE_OUT_MARGIN && iend >= WIDE_OUT_MARGIN) {
    // Far from both ends (a token at ip ≤ ipFar, output at op < opFar), a
    // sequence with a short literal run passes every wide-loop decision
    // that depends on where it sits: its literal check (the token's next
    // byte ≤ iend - WIDE_SHORT_IN) and, for a short match, its margin check
    // (op + 14 + 18 < oend - WIDE_OUT_MARGIN). The far loop skips those two
    // and makes every other decision as below, in the same order.
    //
    // One compare per sequence: in the far loop op - ip only grows (a short
    // sequence adds ≥ 1 output byte more than it reads, a long match ≥ 15),
    // so op ≤ op₀ + (ipFar - ip₀) implies ip ≤ ipFar. When that bound is
    // what stops it, the general step runs one sequence and the far loop
    // starts again with the bound taken afresh.
    const ipFar = iend - (1 + WIDE_SHORT_IN);
    const opFar = dstCap > FAR_OUT ? oend - FAR_OUT : dst;
    while (true) {
      let far = op;
      if (ip <= ipFar && op < opFar) {
        const room = ipFar - ip;
        far = room < opFar - op ? op + room + 1 : opFar;
      }
      while (op < far) {
        const token = <u32>load<u8>(ip);
        const ll = token >> ML_BITS;
        if (ll == RUN_MASK) break; // the general step below takes long literal runs
        v128.store(op, v128.load(ip, 1));
        ip += ll + 1;
        op += ll;
        const offset = <u32>load<u16>(ip);
        ip += 2;
        let ml = token & ML_MASK;
        if (ml != ML_MASK) {
          if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, ip - 2);
          const m = op - offset;
          if (offset >= 8) {
            // ≤ 18 bytes in three moves; offset ≥ 8 keeps each source written.
            store<u64>(op, load<u64>(m));
            store<u64>(op, load<u64>(m, 8), 8);
            store<u16>(op, load<u16>(m, 16), 16);
          } else {
            // Period `offset` repeated: two 16-byte stores cover ≥ 12 + 16 bytes.
            const v = i8x16.swizzle(v128.load(m), v128.load(SMALL_OFFSET_PATTERN + (<usize>offset << 4)));
            v128.store(op, v);
            v128.store(op + <usize>load<u8>(SMALL_OFFSET_STEP + offset), v);
          }
          op += ml + MIN_MATCH;
          continue;
        }
        let b: u32;
        do {
          b = load<u8>(ip++);
          ml += b;
          if (ip > iend - MATCH_LEN_IN || ml > <u32>(oend - op)) return fail(src, ip - 1);
        } while (b == 255);
        ml += MIN_MATCH;
        if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, ip - (ml - MIN_MATCH - ML_MASK) / 255 - 3);
        if (ml + WIDE_OUT_MARGIN >= <u32>(oend - op)) {
          return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_MATCH, 0, 0, offset, ip - (ml - MIN_MATCH - ML_MASK) / 255 - 3, ml);
        }
        copyMatchWide(op, offset, ml);
        op += ml;
      }
      // ── one sequence, every decision in place ──
      let token = <u32>load<u8>(ip);
      let ll = token >> ML_BITS;
      ip++;
      if (ll == RUN_MASK) {
        if (ip >= iend - RUN_MASK) return fail(src, ip);
        let b: u32;
        do {
          b = load<u8>(ip++);
          ll += b;
          if (ip > iend - RUN_MASK || ll > <u32>(oend - op)) return fail(src, ip - 1);
        } while (b == 255);
        // The token again, from memory: ll - 15 = 255 × (length bytes - 1) + the last
        // one, so it lies (ll - 15) / 255 + 2 bytes back. Not keeping it alive across
        // the length loop keeps it out of a stack slot on the short-literal path.
        token = <u32>load<u8>(ip - (ll - RUN_MASK) / 255 - 2);
        if (ll + WIDE_LONG_MARGIN > <u32>(iend - ip) || ll + WIDE_LONG_MARGIN > <u32>(oend - op)) {
          return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_LITERALS, token, ll, 0, 0, 0);
        }
        const end = op + ll;
        let s = ip;
        let d = op;
        do {
          v128.store(d, v128.load(s));
          d += 16;
          s += 16;
        } while (d < end);
      } else {
        // The tail reads the token again at ip - 1.
        if (ip > iend - WIDE_SHORT_IN) return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_SHORT_LITERALS, 0, 0, 0, 0, 0);
        // ip + 16 < iend and op + 16 < oend: one wild move.
        v128.store(op, v128.load(ip));
      }
      ip += ll;
      op += ll;
      const offset = <u32>load<u16>(ip);
      ip += 2;
      let ml = token & ML_MASK;
      if (ml == ML_MASK) {
        let b: u32;
        do {
          b = load<u8>(ip++);
          ml += b;
          if (ip > iend - MATCH_LEN_IN || ml > <u32>(oend - op)) return fail(src, ip - 1);
        } while (b == 255);
        ml += MIN_MATCH;
        // The offset's position, from ml as above: (ml - 19) / 255 + 1 length bytes.
        const offsetAt = ip - (ml - MIN_MATCH - ML_MASK) / 255 - 3;
        // One unsigned compare rejects offset 0 (wraps) and offsets before the prefix.
        if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, offsetAt);
        if (ml + WIDE_OUT_MARGIN >= <u32>(oend - op)) {
          return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_MATCH, 0, 0, offset, offsetAt, ml);
        }
      } else {
        ml += MIN_MATCH;
        // ml ≤ 18 and op < oend - 14 here, so op + ml cannot wrap.
        if (op + ml >= oend - WIDE_OUT_MARGIN) {
          return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_MATCH, 0, 0, offset, ip - 2, ml);
        }
        if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, ip - 2);
        if (offset >= 8) {
          // Short match (≤ 18): 8 + 8 + 2 bytes, each source written before it is
          // read (offset ≥ 8), inside the margin.
          const m = op - offset;
          store<u64>(op, load<u64>(m));
          store<u64>(op + 8, load<u64>(m + 8));
          store<u16>(op + 16, load<u16>(m + 16));
          op += ml;
          continue;
        }
      }
      copyMatch(op, offset, ml, oend);
      op += ml;
    }
  }
  return decodeTail(src, iend, dst, oend, lowPrefix, ip, op, AT_TOKEN, 0, 0, 0, 0, 0);
}

/**
 * The tail loop of decompressBlock, entered at `at` (a token, or the
 * literals or match of the sequence the wide loop handed over, with its
 * state as arguments) and run to the block's end.
 *
 * Returns: as decompressBlock.
 */
function decodeTail(src: usize, iend: usize, dst: usize, oend: usize, lowPrefix: usize, ip: usize, op: usize,
                    at: u32, token: u32, ll: u32, offset: u32, offsetAt: usize, ml: u32): i32 {
  if (at == AT_SHORT_LITERALS) {
    token = <u32>load<u8>(ip - 1);
    ll = token >> ML_BITS;
    at = AT_LITERALS;
  }
  // ── the reference's end rules, exact copies ──
  while (true) {
    if (at == AT_TOKEN) {
      token = <u32>load<u8>(ip++);
      ll = token >> ML_BITS;
      if (ll != RUN_MASK && <u32>(iend - ip) > SHORTCUT_IN && <u32>(oend - op) >= SHORTCUT_OUT) {
        // Shortcut: no end rule for this sequence (as in the reference).
        v128.store(op, v128.load(ip));
        ip += ll;
        op += ll;
        offsetAt = ip;
        offset = <u32>load<u16>(ip);
        ip += 2;
        ml = token & ML_MASK;
        if (ml != ML_MASK && offset >= 8 && offset <= <u32>(op - lowPrefix)) {
          // ≤ 18 bytes in three moves; offset ≥ 8 keeps each source written.
          const m = op - offset;
          store<u64>(op, load<u64>(m));
          store<u64>(op + 8, load<u64>(m + 8));
          store<u16>(op + 16, load<u16>(m + 16));
          op += ml + MIN_MATCH;
          continue;
        }
        at = AT_MATCH_LENGTH;
      } else {
        if (ll == RUN_MASK) {
          if (<u32>(iend - ip) <= RUN_MASK) return fail(src, ip);
          let b: u32;
          do {
            b = load<u8>(ip++);
            ll += b;
            if (<u32>(iend - ip) < RUN_MASK || ll > <u32>(oend - op)) return fail(src, ip - 1);
          } while (b == 255);
        }
        at = AT_LITERALS;
      }
    }
    if (at == AT_LITERALS) {
      if (ll + MF_LIMIT > <u32>(oend - op) || ll + TAIL_LITERAL_IN > <u32>(iend - ip)) {
        // This must be the last sequence: it ends the block exactly and fits.
        if (ll != <u32>(iend - ip) || ll > <u32>(oend - op)) return fail(src, ip);
        copyExact(op, ip, ll);
        return <i32>(op + ll - dst);
      }
      copyExact(op, ip, ll);
      ip += ll;
      op += ll;
      offsetAt = ip;
      offset = <u32>load<u16>(ip);
      ip += 2;
      ml = token & ML_MASK;
      at = AT_MATCH_LENGTH;
    }
    if (at == AT_MATCH_LENGTH) {
      if (ml == ML_MASK) {
        let b: u32;
        do {
          b = load<u8>(ip++);
          ml += b;
          if (<u32>(iend - ip) < MATCH_LEN_IN || ml > <u32>(oend - op)) return fail(src, ip - 1);
        } while (b == 255);
      }
      ml += MIN_MATCH;
    }
    // at == AT_MATCH (or fell through to it)
    if (offset - 1 >= <u32>(op - lowPrefix)) return fail(src, offsetAt);
    if (ml + LAST_LITERALS > <u32>(oend - op)) return fail(src, ip);
    copyMatch(op, offset, ml, oend);
    op += ml;
    at = AT_TOKEN;
  }
  // unreachable: the loop returns
}
