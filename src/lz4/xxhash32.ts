// SPDX-License-Identifier: MIT
/**
 * xxhash32.ts: xxHash32, the checksum of the LZ4 frame format (header
 * checksum, block checksums, content checksum), one-shot and streaming.
 *
 * What it is not: not a cryptographic hash and not xxHash64/XXH3; the frame
 * format uses only XXH32 with seed 0.
 *
 * Key idea: four 32-bit lanes consume 16-byte stripes (multiply, rotate,
 * multiply), then the lanes are merged, the tail is folded in 4 and 1 bytes
 * at a time, and an avalanche mixes the result. `Math.imul` gives exact
 * 32-bit products, so every step is plain integer arithmetic in JS. The
 * constants and the algorithm are those of the xxHash specification
 * (doc/xxhash_spec.md); the code is ours.
 *
 * Guarantee: `xxhash32(a ++ b) === new XxHash32().update(a).update(b).digest()`
 * for any split. Trade-off: ~1 GB/s-class speed in JS is plenty next to
 * LZ4 (checksums are optional in frames; the content checksum is on by default).
 *
 * Thread safety: pure functions; an XxHash32 object belongs to one caller.
 *
 * See also: src/lz4/frame.ts, test/lz4-frame.test.ts.
 * @module
 */

const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;
/** Bytes per stripe: four lanes of four bytes. */
const STRIPE = 16;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

const read32 = (b: Uint8Array, i: number): number =>
  b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, PRIME2)) | 0, 13), PRIME1);
}

/** Fold the tail (< 16 bytes) and avalanche. */
function finish(acc: number, b: Uint8Array, i: number, end: number): number {
  for (; i + 4 <= end; i += 4) acc = Math.imul(rotl((acc + Math.imul(read32(b, i), PRIME3)) | 0, 17), PRIME4);
  for (; i < end; i++) acc = Math.imul(rotl((acc + Math.imul(b[i]!, PRIME5)) | 0, 11), PRIME1);
  acc ^= acc >>> 15;
  acc = Math.imul(acc, PRIME2);
  acc ^= acc >>> 13;
  acc = Math.imul(acc, PRIME3);
  acc ^= acc >>> 16;
  return acc >>> 0;
}

/**
 * xxHash32 of `data`.
 * @param seed - a u32 seed; the LZ4 frame format uses 0.
 * @returns the hash as an unsigned 32-bit integer.
 * Thread safety: pure.
 */
export function xxhash32(data: Uint8Array, seed = 0): number {
  return new XxHash32(seed).update(data).digest();
}

/**
 * Streaming xxHash32: `update` with chunks of any size, then `digest`.
 * Thread safety: one caller per object.
 */
export class XxHash32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private readonly seed: number;
  /** Total bytes hashed (may exceed 2^32; only the low 32 bits enter the hash). */
  private total = 0;
  /** Bytes of an incomplete stripe. */
  private readonly buf = new Uint8Array(STRIPE);
  private bufLen = 0;

  /** @param seed - a u32 seed; the LZ4 frame format uses 0. */
  constructor(seed = 0) {
    this.seed = seed >>> 0;
    this.v1 = (this.seed + PRIME1 + PRIME2) | 0;
    this.v2 = (this.seed + PRIME2) | 0;
    this.v3 = this.seed | 0;
    this.v4 = (this.seed - PRIME1) | 0;
  }

  private stripes(b: Uint8Array, i: number, end: number): number {
    let v1 = this.v1, v2 = this.v2, v3 = this.v3, v4 = this.v4;
    for (; i + STRIPE <= end; i += STRIPE) {
      v1 = round(v1, read32(b, i));
      v2 = round(v2, read32(b, i + 4));
      v3 = round(v3, read32(b, i + 8));
      v4 = round(v4, read32(b, i + 12));
    }
    this.v1 = v1; this.v2 = v2; this.v3 = v3; this.v4 = v4;
    return i;
  }

  /** Hash `data` next. @returns this, for chaining. */
  update(data: Uint8Array): this {
    this.total += data.length;
    let i = 0;
    if (this.bufLen > 0) {
      const take = Math.min(STRIPE - this.bufLen, data.length);
      this.buf.set(data.subarray(0, take), this.bufLen);
      this.bufLen += take;
      i = take;
      if (this.bufLen < STRIPE) return this;
      this.stripes(this.buf, 0, STRIPE);
      this.bufLen = 0;
    }
    i = this.stripes(data, i, data.length);
    if (i < data.length) {
      this.buf.set(data.subarray(i), 0);
      this.bufLen = data.length - i;
    }
    return this;
  }

  /** The hash of everything given so far (the object stays usable). */
  digest(): number {
    let acc: number;
    if (this.total >= STRIPE) {
      acc = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0;
    } else {
      acc = (this.seed + PRIME5) | 0;
    }
    acc = (acc + (this.total >>> 0)) | 0;
    return finish(acc, this.buf, 0, this.bufLen);
  }
}
