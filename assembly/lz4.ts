// SPDX-License-Identifier: MIT
//
// lz4.ts: the LZ4 block codec's wasm entry points (lz4_compress_fast,
// lz4_decompress_safe and their prefix/exact variants), the argument checks
// at the wasm boundary, and the block format they speak.
//
// What it is not: not the frame format (magic, checksums, block sizes: that is
// TypeScript in src/lz4/frame.ts) and not an allocator: every buffer, the
// compressor's 16 KiB hash table included, is a caller-provided address in the
// linear memory, so the codec runs the same on a page frame of physical
// memory (zswap's case: no copy through JavaScript) and on a private memory
// that bindings/lz4.ts fills from JS arrays.
//
// Key idea: these functions only validate and dispatch. The compressor
// (lz4_compress.ts) is the reference's greedy fast matcher with its table
// shapes; the decoder (lz4_decompress.ts) is a fast loop with named margins
// plus an exact safe loop. Both are written from the format description,
// not from any implementation.
//
// Guarantee: no entry point traps or touches memory outside its arguments'
// ranges, whatever the arguments: an address range outside the memory or a
// negative length returns LZ4_E_ARGS (decoders) or -E_INVAL / -E_FAULT
// (compressors) before any access. Malformed compressed input returns
// -(position) - 1. Compression that does not fit dstCap returns -E_NOSPC.
//
// The block format (doc/lz4_Block_format.md of the reference) is a series of
// sequences; the last one has literals only:
//
//   ┌───────┬──────────────┬──────────┬────────┬──────────────┐
//   │ token │ [lit length] │ literals │ offset │ [match len]  │
//   │ LLLL  │ 255… + rest  │ LL bytes │ u16 LE │ 255… + rest  │
//   │  MMMM │ if LLLL = 15 │          │ 1..64K │ if MMMM = 15 │
//   └───────┴──────────────┴──────────┴────────┴──────────────┘
//   match length = MMMM + 4 (+ extension); the match copies from `offset`
//   bytes back and may overlap its own output (a repeating pattern). The
//   last 5 bytes are literals and the last match starts ≥ 12 bytes before
//   the end (the compressor keeps both rules; the decoder enforces them
//   where liblz4 does, so it accepts exactly the blocks liblz4 1.9.4 does,
//   offset 0 aside: lz4_decompress.ts says where and why).
//
// Concurrency: decoders are pure; a compressor call owns its hash table for
// the call, so each Worker uses its own table (pm.scratch + SCRATCH_LZ4_HASH).
//
// See also: lz4_common.ts, lz4_compress.ts, lz4_decompress.ts,
// bindings/lz4.ts, src/lz4/frame.ts, test/lz4*.test.ts.

import { E_FAULT, E_INVAL, E_NOSPC, WASM_PAGE } from "./common";
import { MAX_INPUT_SIZE, MAX_DISTANCE } from "./lz4_common";
import { ACCELERATION_MAX, HASH_TABLE_SIZE, compressBlock } from "./lz4_compress";
import { decompressBlock } from "./lz4_decompress";

/**
 * Decoder status for invalid arguments (a range outside the memory, a
 * negative length). It cannot collide with a -(position) - 1 status because
 * positions stay below MAX_INPUT_SIZE.
 */
// @ts-ignore: decorator
@inline const LZ4_E_ARGS: i32 = i32.MIN_VALUE;

// ══ Helpers ══

/** Bytes of linear memory now (it may grow between calls, never during one). */
// @ts-ignore: decorator
@inline function memoryBytes(): u64 {
  return <u64>memory.size() * WASM_PAGE;
}

/** True when [addr, addr + len) lies inside the memory and len ≥ 0. */
// @ts-ignore: decorator
@inline function inMemory(addr: usize, len: i32): bool {
  return len >= 0 && <u64>addr + <u64>len <= memoryBytes();
}

// ══ API ══

/**
 * Worst-case compressed size of `n` input bytes (LZ4_compressBound):
 * n + n/255 + 16. Returns 0 when n is negative or above MAX_INPUT_SIZE.
 */
export function lz4_compress_bound(n: i32): i32 {
  if (n < 0 || <u32>n > MAX_INPUT_SIZE) return 0;
  return n + n / 255 + 16;
}

/**
 * Compress the block [src, src+srcLen) into [dst, dst+dstCap).
 * `acceleration` ≥ 1 trades ratio for speed (values < 1 mean 1, values above
 * 65537 mean 65537). `hashTable` is a 16 KiB scratch area the caller owns for
 * the call (pm.scratch + SCRATCH_LZ4_HASH); the call clears it first, so it
 * needs no preparation, and nobody may write it during the call.
 *
 * Returns: the compressed size (≥ 1); -E_NOSPC when it does not fit dstCap
 * (dstCap ≥ lz4_compress_bound(srcLen) always fits); -E_INVAL for a negative
 * length or srcLen above 0x7E000000; -E_FAULT when a range lies outside the memory.
 * Concurrency: one call at a time per hash table.
 */
export function lz4_compress_fast(src: usize, srcLen: i32, dst: usize, dstCap: i32, acceleration: i32, hashTable: usize): i32 {
  return lz4_compress_fast_prefix(src, srcLen, dst, dstCap, acceleration, hashTable, 0);
}

/**
 * As lz4_compress_fast, but matches may also reach back into the prefix
 * [src - prefixLen, src) (the previous block of a linked frame; only its last
 * 64 KiB is used). The block then decodes only with that prefix in front of
 * its destination (lz4_decompress_safe_prefix).
 *
 * Returns: as lz4_compress_fast; -E_INVAL also when prefixLen < 0 or > src.
 */
export function lz4_compress_fast_prefix(src: usize, srcLen: i32, dst: usize, dstCap: i32, acceleration: i32,
                                         hashTable: usize, prefixLen: i32): i32 {
  if (srcLen < 0 || dstCap < 0 || prefixLen < 0 || <u32>srcLen > MAX_INPUT_SIZE || <usize>prefixLen > src) return -E_INVAL;
  if (!inMemory(src - prefixLen, srcLen + prefixLen) || !inMemory(dst, dstCap) || !inMemory(hashTable, HASH_TABLE_SIZE)) {
    return -E_FAULT;
  }
  let accel = acceleration < 1 ? 1 : acceleration;
  if (accel > ACCELERATION_MAX) accel = ACCELERATION_MAX;
  const pre = <u32>prefixLen > MAX_DISTANCE + 1 ? MAX_DISTANCE + 1 : <u32>prefixLen;
  const n = compressBlock(src, <u32>srcLen, dst, <u32>dstCap, <u32>accel, hashTable, pre);
  return n == 0 ? -E_NOSPC : <i32>n;
}

/**
 * Decode the block [src, src+srcLen) into [dst, dst+dstCap). Reads only
 * inside the source, writes only inside the destination (bytes past the
 * decoded size may be overwritten too).
 *
 * Returns: the decoded size; -(position) - 1 for malformed input or a
 * destination too small; LZ4_E_ARGS (i32 min) for invalid ranges.
 * Concurrency: pure; safe from any number of callers on disjoint destinations.
 */
export function lz4_decompress_safe(src: usize, srcLen: i32, dst: usize, dstCap: i32): i32 {
  if (!inMemory(src, srcLen) || !inMemory(dst, dstCap)) return LZ4_E_ARGS;
  return decompressBlock(src, <u32>srcLen, dst, <u32>dstCap, 0);
}

/**
 * As lz4_decompress_safe with dstCap = `expected`, and a block that decodes
 * to any other size is malformed (-(srcLen) - 1).
 */
export function lz4_decompress_safe_exact(src: usize, srcLen: i32, dst: usize, expected: i32): i32 {
  if (!inMemory(src, srcLen) || !inMemory(dst, expected)) return LZ4_E_ARGS;
  const n = decompressBlock(src, <u32>srcLen, dst, <u32>expected, 0);
  if (n >= 0 && n != expected) return -srcLen - 1;
  return n;
}

/**
 * As lz4_decompress_safe, but matches may reach back into the prefix
 * [dst - prefixLen, dst): the previously decoded data of a linked frame,
 * which the caller keeps immediately before dst. The prefix is only read.
 *
 * Returns: as lz4_decompress_safe; LZ4_E_ARGS also when prefixLen < 0 or > dst.
 */
export function lz4_decompress_safe_prefix(src: usize, srcLen: i32, dst: usize, dstCap: i32, prefixLen: i32): i32 {
  if (!inMemory(src, srcLen) || !inMemory(dst, dstCap) || prefixLen < 0 || <usize>prefixLen > dst) return LZ4_E_ARGS;
  return decompressBlock(src, <u32>srcLen, dst, <u32>dstCap, <u32>prefixLen);
}
