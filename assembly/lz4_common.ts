// SPDX-License-Identifier: MIT
//
// lz4_common.ts: the LZ4 block format's constants and the one helper both
// directions share (match-length counting).
//
// What it is not: no state, no exports to the wasm (only lz4.ts exports).
//
// Key idea: every constant here is a fact of the block format, named once and
// cited, so the compressor's margins and the decompressor's checks read as
// the format's rules rather than as bare numbers.
//
// Concurrency: constants and a pure function; nothing to share.
//
// See also: lz4.ts (the format drawn), the reference's
// doc/lz4_Block_format.md#parsing-restrictions.

/** Shortest match the format can express (a token's match nibble 0 = 4 bytes). */
// @ts-ignore: decorator
@inline export const MIN_MATCH: u32 = 4;
/** The last 5 bytes of a block are always literals (Block_format.md, parsing restrictions). */
// @ts-ignore: decorator
@inline export const LAST_LITERALS: u32 = 5;
/** The last match must start at least 12 bytes before the end of the block (ibid.). */
// @ts-ignore: decorator
@inline export const MF_LIMIT: u32 = 12;
/** Largest match offset: a u16, and 0 is invalid. */
// @ts-ignore: decorator
@inline export const MAX_DISTANCE: u32 = 65535;
/** Bits of the match length in a token (low nibble). */
// @ts-ignore: decorator
@inline export const ML_BITS: u32 = 4;
/** Nibble value that says "more length bytes follow" for the match length. */
// @ts-ignore: decorator
@inline export const ML_MASK: u32 = (1 << ML_BITS) - 1;
/** Nibble value that says "more length bytes follow" for the literal length. */
// @ts-ignore: decorator
@inline export const RUN_MASK: u32 = (1 << (8 - ML_BITS)) - 1;
/** Largest input LZ4 accepts (the reference's LZ4_MAX_INPUT_SIZE). */
// @ts-ignore: decorator
@inline export const MAX_INPUT_SIZE: u32 = 0x7e000000;

/**
 * Number of equal bytes at `p` and `m` (m < p), not reading at or past
 * `limit` on the p side. Most matches are short, so the first 8 bytes are
 * compared as one u64 (measured faster than a v128 compare for them); long
 * matches (zero runs, repeated records) continue 16 bytes at a time with
 * SIMD, then 8, 4, 2, 1.
 */
// @ts-ignore: decorator
@inline export function countMatch(p: usize, m: usize, limit: usize): u32 {
  const start = p;
  if (p + 8 <= limit) {
    const diff = load<u64>(p) ^ load<u64>(m);
    if (diff != 0) return <u32>(ctz(diff) >> 3);
    p += 8;
    m += 8;
  }
  while (p + 16 <= limit) {
    const eq = i8x16.bitmask(i8x16.eq(v128.load(p), v128.load(m)));
    if (eq != 0xffff) return <u32>(p - start) + <u32>ctz(~eq);
    p += 16;
    m += 16;
  }
  if (p + 8 <= limit) {
    const diff = load<u64>(p) ^ load<u64>(m);
    if (diff != 0) return <u32>(p - start) + <u32>(ctz(diff) >> 3);
    p += 8;
    m += 8;
  }
  if (p + 4 <= limit && load<u32>(p) == load<u32>(m)) {
    p += 4;
    m += 4;
  }
  if (p + 2 <= limit && load<u16>(p) == load<u16>(m)) {
    p += 2;
    m += 2;
  }
  if (p < limit && load<u8>(p) == load<u8>(m)) p++;
  return <u32>(p - start);
}

/**
 * Copy exactly `n` bytes between non-overlapping ranges, touching no byte
 * outside either. Short copies use two overlapping loads/stores of one width
 * (head and tail), which stays inside both ranges, instead of memory.copy,
 * whose call costs more than the copy below ~32 bytes in V8.
 */
// @ts-ignore: decorator
@inline export function copyExact(dst: usize, src: usize, n: u32): void {
  if (n >= 32) {
    memory.copy(dst, src, n);
  } else if (n >= 16) {
    const head = v128.load(src), tail = v128.load(src + n - 16);
    v128.store(dst, head);
    v128.store(dst + n - 16, tail);
  } else if (n >= 8) {
    const head = load<u64>(src), tail = load<u64>(src + n - 8);
    store<u64>(dst, head);
    store<u64>(dst + n - 8, tail);
  } else if (n >= 4) {
    const head = load<u32>(src), tail = load<u32>(src + n - 4);
    store<u32>(dst, head);
    store<u32>(dst + n - 4, tail);
  } else {
    for (let i: u32 = 0; i < n; i++) store<u8>(dst + i, load<u8>(src + i));
  }
}
