// SPDX-License-Identifier: MIT
//
// lz4hc.ts: the LZ4 high-compression (HC) block compressor, levels 3-12:
// the same block format as lz4_compress.ts, so every LZ4 decoder reads it.
//
// What it is not: not the reference's optimal parser (its levels 10-12
// price every position); ours runs the same hash-chain search at every
// level, deeper as the level rises, so 10-12 come out slightly larger than
// `lz4 -10..-12` while 3-9 track `lz4 -3..-9`. Not a streaming state: a call
// compresses one block, optionally after a prefix (a linked frame's
// previous block, just before `src`), and keeps nothing.
//
// Key idea: a hash chain over every position (head: the last position per
// 4-byte hash; chain: the distance back to the previous position with the
// same hash, per position mod 64 Ki) walked up to `attempts` candidates
// deep for the longest match, with lazy evaluation: before taking a match,
// look one and two bytes ahead, and take a literal instead when a longer
// match starts there. Then extend the chosen match backwards over equal
// literals. Attempts per level: 2^(level-1) for 3..9 (4 … 256, the
// reference's depths), 1024, 4096, 16384 for 10, 11, 12.
//
// Guarantee: output decodes to the input with any decoder; the end rules
// hold (the last match starts ≥ MF_LIMIT before the end, the last
// LAST_LITERALS bytes are literals). Reads stay inside [src - prefixLen,
// src + srcLen), writes inside [dst, dst + dstCap) and the table. A block
// that does not fit dstCap returns 0 (nothing past dstCap is written).
// Trade-off: the table is 256 KiB (the fast compressor's is 16 KiB), and
// time grows with the level; at 9, measured (bench:lz4, loaded 2-core box):
// 30-36 MB/s on 4 KiB pages, 0.3x liblz4's HC, at +0.1..+0.6 % of its size.
//
// Layout: the caller's table, HC_TABLE_SIZE bytes:
//   [0, 128 KiB)       head:  2^15 × u32, position + 1 from base (0 = none)
//   [128 KiB, 256 KiB) chain: 2^16 × u16, distance to the previous position
//                      with the same hash (0 = none), indexed by position mod 2^16
//   [256 KiB, +64)     the call's Finder (table, base, insertion cursor, result)
//
// Concurrency: one call at a time per table; nothing else writes it meanwhile.
//
// See also: lz4_compress.ts (fast), lz4.ts (format), bindings/lz4.ts (level
// option), test/lz4-hc.test.ts.

import { E_FAULT, E_INVAL, E_NOSPC, WASM_PAGE } from "./common";
import { LAST_LITERALS, MF_LIMIT, MIN_MATCH, MAX_DISTANCE, MAX_INPUT_SIZE, ML_BITS, ML_MASK, RUN_MASK, countMatch, copyExact } from "./lz4_common";

// ══ Constants ══

/** log2 of head slots: 32 Ki hashes of 4 bytes (the reference's LZ4HC_HASH_LOG). */
// @ts-ignore: decorator
@inline const HC_HASH_LOG: u32 = 15;
/** Bytes of head: 2^HC_HASH_LOG × u32. */
// @ts-ignore: decorator
@inline const HC_HEAD_SIZE: u32 = (1 << HC_HASH_LOG) * 4;
/** Chain entries: one per position in a 64 KiB window (u16 each). */
// @ts-ignore: decorator
@inline const HC_CHAIN_ENTRIES: u32 = 1 << 16;
/** Bytes of the chain: one u16 per window position. */
// @ts-ignore: decorator
@inline const HC_CHAIN_SIZE: u32 = HC_CHAIN_ENTRIES * 2;
/** Bytes reserved after the chain for the call's Finder state (it must not live in static data: Workers share the memory). */
// @ts-ignore: decorator
@inline const HC_STATE_SIZE: u32 = 64;
/** Bytes of the caller's table: head, chain, state (256 KiB + 64). */
// @ts-ignore: decorator
@inline export const HC_TABLE_SIZE: u32 = HC_HEAD_SIZE + HC_CHAIN_SIZE + HC_STATE_SIZE;
/** Lowest and highest HC level; below the lowest, callers use the fast compressor. */
// @ts-ignore: decorator
@inline export const HC_LEVEL_MIN: i32 = 3;
// @ts-ignore: decorator
@inline export const HC_LEVEL_MAX: i32 = 12;
/** Knuth's multiplicative constant, as the fast compressor's 4-byte hash. */
// @ts-ignore: decorator
@inline const PRIME_4BYTES: u32 = 2654435761;

if (HC_TABLE_SIZE != 262144 + 64) ERROR("the HC table is 256 KiB + 64 (bindings/lz4.ts reserves that)");

// ══ Helpers ══

// @ts-ignore: decorator
@inline function hashHC(p: usize): u32 {
  return (load<u32>(p) * PRIME_4BYTES) >> (32 - HC_HASH_LOG);
}

/** Chain walk depth of a level. */
function attemptsOf(level: i32): u32 {
  if (level <= 9) return 1 << <u32>(level - 1);
  if (level == 10) return 1024;
  if (level == 11) return 4096;
  return 16384;
}

/** Bytes of linear memory now. */
// @ts-ignore: decorator
@inline function memoryBytes(): u64 {
  return <u64>memory.size() * WASM_PAGE;
}

/** Write the extra bytes of a length ≥ 15 (after the nibble): 255s then the rest. */
// @ts-ignore: decorator
@inline function writeLength(op: usize, rest: u32): usize {
  while (rest >= 255) {
    store<u8>(op++, 255);
    rest -= 255;
  }
  store<u8>(op, <u8>rest);
  return op + 1;
}

/** Bytes a sequence of `litLen` literals and a match of `ml` takes. */
// @ts-ignore: decorator
@inline function sequenceSize(litLen: u32, ml: u32): u32 {
  let n: u32 = 1 + litLen + 2;
  if (litLen >= RUN_MASK) n += (litLen - RUN_MASK) / 255 + 1;
  if (ml - MIN_MATCH >= ML_MASK) n += (ml - MIN_MATCH - ML_MASK) / 255 + 1;
  return n;
}

// ══ The compressor ══

/**
 * The HC match finder's state for one call: the table and the insertion
 * cursor (every position before it is in the chain).
 */
@unmanaged class Finder {
  /** Table base (head, then chain). */
  table: usize;
  /** Start of the data positions are counted from (src - prefixLen). */
  base: usize;
  /** Next position to insert. */
  next: usize;
  /** Candidates walked per search. */
  attempts: u32;
  /** Best match of the last search: its source and length (0: none). */
  matchPos: usize;
  matchLen: u32;
}

if (offsetof<Finder>() > HC_STATE_SIZE) ERROR("Finder must fit HC_STATE_SIZE");

/** Insert every position in [f.next, upto) into the chains. */
// @ts-ignore: decorator
@inline function insertUpTo(f: Finder, upto: usize): void {
  const table = f.table, base = f.base;
  const chain = table + HC_HEAD_SIZE;
  let p = f.next;
  while (p < upto) {
    const slot = table + (<usize>hashHC(p) << 2);
    const pos = <u32>(p - base);
    const prev = load<u32>(slot); // prev position + 1, or 0
    let delta: u32 = 0;
    if (prev != 0) {
      delta = pos - (prev - 1);
      if (delta > MAX_DISTANCE) delta = 0;
    }
    store<u16>(chain + (<usize>(pos & (HC_CHAIN_ENTRIES - 1)) << 1), <u16>delta);
    store<u32>(slot, pos + 1);
    p++;
  }
  f.next = p;
}

/**
 * Longest match for `ip` (inserting every position before it first), at
 * most MAX_DISTANCE back, not reading at or past `matchLimit`. Leaves it
 * in f.matchPos / f.matchLen (0 when shorter than MIN_MATCH).
 */
function findLongest(f: Finder, ip: usize, matchLimit: usize): void {
  insertUpTo(f, ip);
  const table = f.table, base = f.base;
  const chain = table + HC_HEAD_SIZE;
  let best: u32 = MIN_MATCH - 1;
  let bestPos: usize = 0;
  const pos = <u32>(ip - base);
  let head = load<u32>(table + (<usize>hashHC(ip) << 2));
  let attempts = f.attempts;
  const want = load<u32>(ip);
  if (head != 0) {
    let c = head - 1;
    while (attempts > 0) {
      attempts--;
      const dist = pos - c;
      if (dist > MAX_DISTANCE || dist == 0) break;
      const m = base + c;
      // Cheap reject: the byte that would make this one longer than the best.
      if (load<u8>(m + best) == load<u8>(ip + best) && load<u32>(m) == want) {
        const len = MIN_MATCH + countMatch(ip + MIN_MATCH, m + MIN_MATCH, matchLimit);
        if (len > best) {
          best = len;
          bestPos = m;
          if (ip + len >= matchLimit) break; // cannot get longer
        }
      }
      const d = <u32>load<u16>(chain + (<usize>(c & (HC_CHAIN_ENTRIES - 1)) << 1));
      if (d == 0 || d > c) break;
      c -= d;
    }
  }
  f.matchPos = bestPos;
  f.matchLen = best >= MIN_MATCH ? best : 0;
}

/**
 * Compress [src, src+srcLen) into [dst, dst+dstCap) at `level`, matches
 * reaching back into [src - prefixLen, src). The following are presumed
 * already validated: ranges inside the memory, srcLen ≤ MAX_INPUT_SIZE,
 * prefixLen ≤ MAX_DISTANCE + 1, HC_LEVEL_MIN ≤ level ≤ HC_LEVEL_MAX.
 *
 * Returns: the compressed size (≥ 1), or 0 when it does not fit dstCap.
 */
function compressHC(src: usize, srcLen: u32, dst: usize, dstCap: u32, level: i32, table: usize, prefixLen: u32): u32 {
  const iend = src + srcLen;
  const oend = dst + dstCap;
  const base = src - prefixLen;
  let op = dst;
  let anchor = src;
  if (srcLen > MF_LIMIT) {
    memory.fill(table, 0, HC_HEAD_SIZE);
    const f = changetype<Finder>(table + HC_HEAD_SIZE + HC_CHAIN_SIZE);
    f.table = table;
    f.base = base;
    f.next = base;
    f.attempts = attemptsOf(level);
    // The last match starts at most MF_LIMIT before the end, and ends LAST_LITERALS before it.
    const mflimitPlusOne = iend - MF_LIMIT + 1;
    const matchLimit = iend - LAST_LITERALS;
    let ip = src;
    while (ip < mflimitPlusOne) {
      findLongest(f, ip, matchLimit);
      if (f.matchLen == 0) {
        ip++;
        continue;
      }
      let mPos = f.matchPos;
      let mLen = f.matchLen;
      // Lazy evaluation: a longer match one or two bytes on wins over this one.
      while (ip + 1 < mflimitPlusOne) {
        findLongest(f, ip + 1, matchLimit);
        if (f.matchLen > mLen) {
          ip++;
          mPos = f.matchPos;
          mLen = f.matchLen;
          continue;
        }
        if (ip + 2 < mflimitPlusOne) {
          findLongest(f, ip + 2, matchLimit);
          if (f.matchLen > mLen + 1) {
            ip += 2;
            mPos = f.matchPos;
            mLen = f.matchLen;
            continue;
          }
        }
        break;
      }
      // Extend backwards over equal literals.
      while (ip > anchor && mPos > base && load<u8>(ip - 1) == load<u8>(mPos - 1)) {
        ip--;
        mPos--;
        mLen++;
      }
      // ── emit: token, literal length, literals, offset, match length ──
      const litLen = <u32>(ip - anchor);
      if (<u32>(oend - op) < sequenceSize(litLen, mLen)) return 0;
      const token = op++;
      let bits: u32;
      if (litLen >= RUN_MASK) {
        bits = RUN_MASK << ML_BITS;
        op = writeLength(op, litLen - RUN_MASK);
      } else {
        bits = litLen << ML_BITS;
      }
      copyExact(op, anchor, litLen);
      op += litLen;
      store<u16>(op, <u16>(ip - mPos));
      op += 2;
      const mlCode = mLen - MIN_MATCH;
      if (mlCode >= ML_MASK) {
        store<u8>(token, <u8>(bits | ML_MASK));
        op = writeLength(op, mlCode - ML_MASK);
      } else {
        store<u8>(token, <u8>(bits | mlCode));
      }
      ip += mLen;
      anchor = ip;
    }
  }
  // ── last literals ──
  const lastRun = <u32>(iend - anchor);
  const need: u32 = 1 + lastRun + (lastRun >= RUN_MASK ? (lastRun - RUN_MASK) / 255 + 1 : 0);
  if (<u32>(oend - op) < need) return 0;
  if (lastRun >= RUN_MASK) {
    store<u8>(op, <u8>(RUN_MASK << ML_BITS));
    op = writeLength(op + 1, lastRun - RUN_MASK);
  } else {
    store<u8>(op++, <u8>(lastRun << ML_BITS));
  }
  copyExact(op, anchor, lastRun);
  op += lastRun;
  return <u32>(op - dst);
}

// ══ API ══

/**
 * Compress the block [src, src+srcLen) into [dst, dst+dstCap) with LZ4 HC
 * at `level` (values below 3 mean 3, above 12 mean 12). `table` is
 * HC_TABLE_SIZE (256 KiB) of scratch the caller owns for the call; it needs
 * no preparation. Matches may reach into the prefix [src - prefixLen, src)
 * (its last 64 KiB), for a linked frame's next block; pass 0 for none.
 *
 * Returns: the compressed size (≥ 1); -E_NOSPC when it does not fit dstCap
 * (dstCap ≥ lz4_compress_bound(srcLen) always fits); -E_INVAL for a
 * negative length, srcLen above 0x7E000000 or prefixLen > src; -E_FAULT for
 * a range outside the memory.
 * Concurrency: one call at a time per table.
 */
export function lz4_compress_hc(src: usize, srcLen: i32, dst: usize, dstCap: i32, level: i32, table: usize, prefixLen: i32): i32 {
  if (srcLen < 0 || dstCap < 0 || prefixLen < 0 || <u32>srcLen > MAX_INPUT_SIZE || <usize>prefixLen > src) return -E_INVAL;
  const mem = memoryBytes();
  if (<u64>src + <u64>srcLen > mem || <u64>dst + <u64>dstCap > mem || <u64>table + HC_TABLE_SIZE > mem) return -E_FAULT;
  let lv = level < HC_LEVEL_MIN ? HC_LEVEL_MIN : level;
  if (lv > HC_LEVEL_MAX) lv = HC_LEVEL_MAX;
  const pre = <u32>prefixLen > MAX_DISTANCE + 1 ? MAX_DISTANCE + 1 : <u32>prefixLen;
  const n = compressHC(src, <u32>srcLen, dst, <u32>dstCap, lv, table, pre);
  return n == 0 ? -E_NOSPC : <i32>n;
}
