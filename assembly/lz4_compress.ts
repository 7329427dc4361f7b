// SPDX-License-Identifier: MIT
//
// lz4_compress.ts: the LZ4 block compressor (LZ4_compress_fast semantics),
// written for wasm over one shared memory.
//
// What it is not: not a high-compression (HC) matcher and not a streaming
// state machine. A call compresses one block, optionally with a prefix (the
// previous block's data lying just before `src`, for the frame format's
// linked mode), and keeps nothing but its hash table between calls.
//
// Key idea: greedy single-probe matching through a 16 KiB hash table of
// positions, with an acceleration that widens the skip step after misses
// (every 2^SKIP_TRIGGER misses the step grows by one). Small blocks (≤ 64 KiB,
// every 4 KiB page) hash 4 bytes into 8192 u16 slots; larger or prefixed
// blocks hash 5 bytes into 4096 u32 slots. These are the reference's table
// shapes at its default memory usage, so the sizes come out within a fraction
// of a percent of liblz4's at acceleration 1.
//
// Guarantee: output always decodes to the input. The table is cleared at the
// start of every call (as the reference clears its state), so every slot
// holds a position of this call, stored before the one being probed: in u16
// mode (blocks ≤ 64 KiB, no prefix) a candidate is therefore inside the
// block, behind the current position and less than 64 KiB back, and only its
// first 4 bytes are compared (as the reference does: the range check cost
// ~5 % of the instructions); in u32 mode it is range-checked too (inside the
// block or prefix, behind, at most 65535 bytes back). Reads stay inside
// [src - prefixLen, src + srcLen); writes stay inside [dst, dst + dstCap):
// below the compress bound every sequence checks its room; at or above it
// the output always fits and only the last literals are checked (the
// reference's notLimited mode; test/lz4-block.test.ts guards the bytes past
// dstCap at every capacity).
// Trade-off, measured (bench/, CPU time on the corpora): stamping slots with
// a per-call generation instead, to clear only every 16th page, kept a
// generation in the search loop and compressed low-ratio file pages about
// 35 % slower (others ~10 %); the 16 KiB memory.fill per call costs less
// (about 150 ns in V8; note that callgrind counts its `rep stosb` as ~16k
// instructions, so instruction counts overstate it).
//
// Layout: the hash table is caller-provided, HASH_TABLE_SIZE bytes
// (SCRATCH_LZ4_HASH of the caller's per-Worker scratch area):
//   small:    4096 × u16 position from src, first 8 KiB  (blocks ≤ 4 KiB; 12 bits)
//   u16 mode: 8192 × u16 position from src          (hash of 4 bytes, 13 bits)
//   u32 mode: 4096 × u32 position from src-prefix   (hash of 5 bytes, 12 bits)
// The block format itself is drawn in lz4.ts.
//
// Concurrency: one call at a time per hash table, and nobody else writes the
// table during the call: each Worker uses its own (its scratch area).
//
// See also: lz4.ts (exports, format), lz4_decompress.ts,
// doc/lz4_Block_format.md of the reference (format facts only).

import { LAST_LITERALS, MF_LIMIT, MIN_MATCH, MAX_DISTANCE, ML_MASK, RUN_MASK, ML_BITS, countMatch, copyExact } from "./lz4_common";

// ══ Constants ══

/** Bytes of the caller's hash table (SCRATCH_LZ4_HASH is 16 KiB). */
// @ts-ignore: decorator
@inline export const HASH_TABLE_SIZE: u32 = 16384;
/** log2 of u16 slots: 8192 slots × 2 bytes fill the table. */
// @ts-ignore: decorator
@inline const HASH_LOG_U16: u32 = 13;
/**
 * log2 of u16 slots for blocks of at most SMALL_MAX_SRC bytes (a page):
 * 4096 slots, the first 8 KiB of the table, so the per-call clear is half
 * as long (measured: memory.fill of 16 KiB 148 ns, of 8 KiB 74 ns). Sizes
 * on the corpora: +0.06 % (anon), +0.14 % (file) against the 13-bit table.
 */
// @ts-ignore: decorator
@inline const HASH_LOG_SMALL: u32 = 12;
/** Largest block hashed into the small table (one page). */
// @ts-ignore: decorator
@inline const SMALL_MAX_SRC: u32 = 4096;
/** log2 of u32 slots: 4096 slots × 4 bytes fill the table. */
// @ts-ignore: decorator
@inline const HASH_LOG_U32: u32 = 12;
/** Knuth's multiplicative constant for the 4-byte hash (a fact of the reference). */
// @ts-ignore: decorator
@inline const PRIME_4BYTES: u32 = 2654435761;
/** Multiplier of the 5-byte hash (reference's value; spreads bytes 0..4 into the top bits). */
// @ts-ignore: decorator
@inline const PRIME_5BYTES: u64 = 889523592379;
/**
 * After 2^SKIP_TRIGGER consecutive misses the search step grows by one byte.
 * Lower = faster on incompressible data, worse ratio; 6 is the reference's.
 */
// @ts-ignore: decorator
@inline const SKIP_TRIGGER: u32 = 6;
/** Largest acceleration that still changes anything (reference's LZ4_ACCELERATION_MAX). */
// @ts-ignore: decorator
@inline export const ACCELERATION_MAX: i32 = 65537;
/**
 * Largest block compressed with the u16 table: stored positions reach
 * srcLen - MF_LIMIT, which must fit a u16 (the reference's LZ4_64Klimit).
 */
// @ts-ignore: decorator
@inline const U16_MAX_SRC: u32 = 65536 + MF_LIMIT - 2;
/** Block too short for any match: all literals (a match needs MF_LIMIT + 1 bytes). */
// @ts-ignore: decorator
@inline const MIN_INPUT_FOR_MATCH: u32 = MF_LIMIT + 1;
/** Literal runs at least this long are copied with memory.copy instead of the u64 loop. */
// @ts-ignore: decorator
@inline const LONG_LITERALS: u32 = 64;
/**
 * Worst case bytes a sequence adds beyond its literals before the literal
 * copy: token(1) + offset(2) + LAST_LITERALS, which also covers the u64 wild
 * copy's overshoot of up to 7 bytes.
 */
// @ts-ignore: decorator
@inline const SEQ_MARGIN: u32 = 1 + 2 + LAST_LITERALS;

// ══ Hashing ══

// @ts-ignore: decorator
@inline function hash4(p: usize, log: u32): u32 {
  return (load<u32>(p) * PRIME_4BYTES) >> (32 - log);
}

// @ts-ignore: decorator
@inline function hash5(p: usize): u32 {
  return <u32>(((load<u64>(p) << 24) * PRIME_5BYTES) >> (64 - HASH_LOG_U32));
}

/**
 * Slot address of position `p` in a table of T entries: u16 (8192 slots),
 * i16 (u16 entries too, 4096 slots: the small table) or u32.
 */
// @ts-ignore: decorator
@inline function slotOf<T>(table: usize, p: usize): usize {
  if (sizeof<T>() == 2) return table + (<usize>hash4(p, isSigned<T>() ? HASH_LOG_SMALL : HASH_LOG_U16) << 1);
  return table + (<usize>hash5(p) << 2);
}

// ══ Sequence writers ══

/** Write the extra bytes of a length ≥ 15 (after the nibble): runs of 255 then the rest. */
// @ts-ignore: decorator
@inline function writeLengthTail(op: usize, rest: u32): usize {
  while (rest >= 255 * 2) {
    store<u16>(op, 0xffff);
    op += 2;
    rest -= 255 * 2;
  }
  if (rest >= 255) {
    store<u8>(op, 255);
    op++;
    rest -= 255;
  }
  store<u8>(op, <u8>rest);
  return op + 1;
}

/**
 * Copy `n` literals from `from` to `op`. The caller has checked that
 * op + n + SEQ_MARGIN ≤ oend and that from + n ≤ iend - LAST_LITERALS, so
 * the u64 loop may overshoot both by up to 7 bytes.
 */
// @ts-ignore: decorator
@inline function copyLiterals(op: usize, from: usize, n: u32): void {
  if (n >= LONG_LITERALS) {
    memory.copy(op, from, n);
    return;
  }
  const end = op + n;
  do {
    store<u64>(op, load<u64>(from));
    op += 8;
    from += 8;
  } while (op < end);
}

// ══ The compressor ══

/**
 * Write the last literals [anchor, iend) at op (token, length tail, bytes)
 * and return the block's size, or 0 when they do not fit before oend.
 */
function lastLiterals(op: usize, anchor: usize, iend: usize, oend: usize, dst: usize): u32 {
  const lastRun = <u32>(iend - anchor);
  if (<u32>(oend - op) < 1 + lastRun + (lastRun + 255 - RUN_MASK) / 255) return 0;
  if (lastRun >= RUN_MASK) {
    store<u8>(op, <u8>(RUN_MASK << ML_BITS));
    op = writeLengthTail(op + 1, lastRun - RUN_MASK);
  } else {
    store<u8>(op, <u8>(lastRun << ML_BITS));
    op++;
  }
  copyExact(op, anchor, lastRun);
  op += lastRun;
  return <u32>(op - dst);
}

/**
 * Compress [src, src+srcLen) into [dst, dst+dstCap) with table entries of
 * type T (u16 or u32), matches allowed back to `base` (= src - prefixLen).
 * `limited` (a constant at each inlined call) is false when dstCap ≥ the compress bound of srcLen: the output
 * then always fits, and the per-sequence room checks are left out (as the
 * reference's notLimited mode does); the last literals are still checked.
 * The following are presumed already validated: all ranges lie inside the
 * memory, srcLen ≤ LZ4_MAX_INPUT_SIZE, 1 ≤ acceleration ≤ ACCELERATION_MAX,
 * prefixLen ≤ MAX_DISTANCE + 1, for T = u16 prefixLen = 0 and
 * srcLen ≤ U16_MAX_SRC, and the table was cleared by this call, with the
 * prefix's positions already indexed.
 *
 * Returns: the compressed size (≥ 1), or 0 when it does not fit in dstCap.
 */
// @ts-ignore: decorator
@inline function compressGeneric<T>(src: usize, srcLen: u32, dst: usize, dstCap: u32,
                                    acceleration: u32, table: usize, base: usize, limited: bool): u32 {
  const iend = src + srcLen;
  const oend = dst + dstCap;
  // Last position where a match may start (it needs MF_LIMIT bytes after it).
  const mflimitPlusOne = iend - MF_LIMIT + 1;
  // Matches stop LAST_LITERALS before the end: the block ends with literals.
  const matchLimit = iend - LAST_LITERALS;
  let ip = src;
  let anchor = src;
  let op = dst;

  if (srcLen < MIN_INPUT_FOR_MATCH) return lastLiterals(op, anchor, iend, oend, dst);
  // The first byte can only be a candidate; start searching at the second.
  if (sizeof<T>() == 2) store<u16>(slotOf<T>(table, ip), <u16>(ip - base));
  else store<u32>(slotOf<T>(table, ip), <u32>(ip - base));
  ip++;
  let forwardSlot = slotOf<T>(table, ip);
  while (true) {
    // ── search: probe one slot per position, skipping faster after misses ──
    let match: usize = 0;
    let forwardIp = ip;
    // The step is derived from the miss count where it is used, not kept in
    // a variable of its own: one value fewer live in the loop, so V8 keeps
    // the end limit in a register (it spilled it). The first step is
    // `acceleration` (the reference takes 1 first, then acceleration), and
    // at acceleration 1 the step reaches 2 one probe earlier than there.
    let searchMatchNb: u32 = acceleration << SKIP_TRIGGER;
    while (true) {
      const slot = forwardSlot;
      ip = forwardIp;
      forwardIp += searchMatchNb++ >> SKIP_TRIGGER;
      if (forwardIp > mflimitPlusOne) return lastLiterals(op, anchor, iend, oend, dst);
      const pos = <u32>(ip - base);
      let rel: u32;
      if (sizeof<T>() == 2) {
        rel = <u32>load<u16>(slot);
        store<u16>(slot, <u16>pos);
      } else {
        rel = load<u32>(slot);
        store<u32>(slot, pos);
      }
      forwardSlot = slotOf<T>(table, forwardIp);
      // u16 mode: the table was cleared by this call and holds only
      // positions stored before this one, so rel < pos (0 for an empty
      // slot; position 0 is stored first) and the match lies inside the
      // block, less than 64 KiB back. u32 mode (a prefix, or a block over
      // 64 KiB) also bounds the distance.
      if (sizeof<T>() == 2 || (rel < pos && pos - rel <= MAX_DISTANCE)) {
        if (load<u32>(base + rel) == load<u32>(ip)) {
          match = base + rel;
          break;
        }
      }
    }

    // ── catch up: extend the match backwards over equal bytes ──
    while (ip > anchor && match > base) {
      if (load<u8>(ip - 1) != load<u8>(match - 1)) break;
      ip--;
      match--;
    }

    // ── literals ──
    const litLen = <u32>(ip - anchor);
    // Room for the token too: checked before writing it (op ≤ oend holds
    // here, so the subtraction cannot wrap).
    if (limited && <u32>(oend - op) < 1 + litLen + SEQ_MARGIN + litLen / 255) return 0;
    let token = op++;
    let tokenBits: u32;
    if (litLen >= RUN_MASK) {
      tokenBits = RUN_MASK << ML_BITS;
      op = writeLengthTail(op, litLen - RUN_MASK);
    } else {
      tokenBits = litLen << ML_BITS;
    }
    if (litLen > 0) copyLiterals(op, anchor, litLen);
    op += litLen;

    // ── matches, as long as the position right after one matches again ──
    while (true) {
      store<u16>(op, <u16>(ip - match));
      op += 2;
      const extra = countMatch(ip + MIN_MATCH, match + MIN_MATCH, matchLimit);
      ip += MIN_MATCH + extra;
      if (limited && <u32>(oend - op) < 1 + LAST_LITERALS + (extra + 240) / 255) return 0;
      if (extra >= ML_MASK) {
        store<u8>(token, <u8>(tokenBits | ML_MASK));
        op = writeLengthTail(op, extra - ML_MASK);
      } else {
        store<u8>(token, <u8>(tokenBits | extra));
      }
      anchor = ip;
      if (ip >= mflimitPlusOne) return lastLiterals(op, anchor, iend, oend, dst);
      // Index a position inside the match, as the reference does (cheap, helps ratio).
      const back = ip - 2;
      if (sizeof<T>() == 2) store<u16>(slotOf<T>(table, back), <u16>(back - base));
      else store<u32>(slotOf<T>(table, back), <u32>(back - base));
      // Test the next position at once: runs of repeats need no literals.
      const slot = slotOf<T>(table, ip);
      const pos = <u32>(ip - base);
      let rel: u32;
      if (sizeof<T>() == 2) {
        rel = <u32>load<u16>(slot);
        store<u16>(slot, <u16>pos);
      } else {
        rel = load<u32>(slot);
        store<u32>(slot, pos);
      }
      if ((sizeof<T>() == 2 || (rel < pos && pos - rel <= MAX_DISTANCE)) && load<u32>(base + rel) == load<u32>(ip)) {
        match = base + rel;
        token = op++;
        tokenBits = 0;
        continue;
      }
      ip++;
      forwardSlot = slotOf<T>(table, ip);
      break;
    }
  }
  // unreachable: every exit returns
  return 0;
}

/**
 * Compress one block, with an optional prefix of `prefixLen` bytes lying
 * just before `src` (only its last MAX_DISTANCE + 1 bytes are used).
 * Arguments are presumed validated as in compressGeneric; this clears the
 * table and indexes the prefix.
 *
 * Returns: the compressed size (≥ 1), or 0 when it does not fit in dstCap.
 */
export function compressBlock(src: usize, srcLen: u32, dst: usize, dstCap: u32,
                              acceleration: u32, table: usize, prefixLen: u32): u32 {
  if (prefixLen > MAX_DISTANCE + 1) prefixLen = MAX_DISTANCE + 1;
  // dstCap ≥ srcLen + srcLen/255 + 16 (the bound) always fits: no room checks.
  const limited = <u64>dstCap < <u64>srcLen + srcLen / 255 + 16;
  if (prefixLen == 0 && srcLen <= SMALL_MAX_SRC) {
    // Blocks too short for a match never touch the table.
    if (srcLen >= MIN_INPUT_FOR_MATCH) memory.fill(table, 0, 2 << HASH_LOG_SMALL);
    if (limited) return compressGeneric<i16>(src, srcLen, dst, dstCap, acceleration, table, src, true);
    return compressGeneric<i16>(src, srcLen, dst, dstCap, acceleration, table, src, false);
  }
  memory.fill(table, 0, HASH_TABLE_SIZE);
  if (prefixLen == 0 && srcLen <= U16_MAX_SRC) {
    if (limited) return compressGeneric<u16>(src, srcLen, dst, dstCap, acceleration, table, src, true);
    return compressGeneric<u16>(src, srcLen, dst, dstCap, acceleration, table, src, false);
  }
  const base = src - prefixLen;
  // Index the prefix every PREFIX_STEP bytes, stopping where a 5-byte hash
  // read would cross into the block being compressed.
  if (prefixLen >= 8) {
    const last = src - 8;
    for (let p = base; p <= last; p += PREFIX_STEP) {
      store<u32>(slotOf<u32>(table, p), <u32>(p - base));
    }
  }
  if (limited) return compressGeneric<u32>(src, srcLen, dst, dstCap, acceleration, table, base, true);
  return compressGeneric<u32>(src, srcLen, dst, dstCap, acceleration, table, base, false);
}

/**
 * Stride of prefix indexing for linked blocks: 1 indexes every position
 * (best ratio, slowest), 3 is the reference's dictionary-load stride.
 */
// @ts-ignore: decorator
@inline const PREFIX_STEP: u32 = 3;
