// SPDX-License-Identifier: MIT
/**
 * lz4-port.ts: a pure-TypeScript port of tmem's LZ4 block codec
 * (assembly/lz4_compress.ts, assembly/lz4_decompress.ts), for bench/ only:
 * it shows what compiling the same algorithm to wasm buys. Not shipped,
 * not exported from the package.
 *
 * Same matcher (greedy, one probe, the reference's skip acceleration), same
 * u16 table of generation-stamped positions for blocks ≤ 64 KiB; larger
 * blocks use a u32 table with the 4-byte hash (the wasm uses a 5-byte hash
 * there, which needs 64-bit multiplies JS does not have cheaply), so 1 MiB
 * ratios differ slightly. Bytes are read with shifts from a Uint8Array, as a
 * careful JS codec would; the decoder checks every bound like the wasm one.
 * @module
 */

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const MAX_DISTANCE = 65535;
const SKIP_TRIGGER = 6;
const U16_MAX_SRC = 65536 + MF_LIMIT - 2;

const read32 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
const hash13 = (b: Uint8Array, i: number): number => Math.imul(read32(b, i), 2654435761) >>> 19;
const hash12 = (b: Uint8Array, i: number): number => Math.imul(read32(b, i), 2654435761) >>> 20;

/** The port: one compressor state (its tables) per object. */
export class Lz4Port {
  private readonly t16 = new Uint16Array(8192);
  private readonly t32 = new Uint32Array(4096);
  private gen16 = 0;
  private gen32 = 0;

  /** Worst-case compressed size of n bytes. */
  static bound(n: number): number {
    return n + Math.floor(n / 255) + 16;
  }

  /** Compress src into dst; returns the size, or 0 when it does not fit. */
  compress(src: Uint8Array, dst: Uint8Array, acceleration = 1): number {
    const n = src.length;
    const small = n <= U16_MAX_SRC;
    let gen: number;
    if (small) {
      const span = n >= MF_LIMIT ? n - MF_LIMIT + 1 : 0;
      if (this.gen16 === 0 || this.gen16 + span > 65536) {
        this.t16.fill(0);
        this.gen16 = 1;
      }
      gen = this.gen16;
      this.gen16 += span;
    } else {
      if (this.gen32 === 0 || this.gen32 + n > 0xffffffff) {
        this.t32.fill(0);
        this.gen32 = 1;
      }
      gen = this.gen32;
      this.gen32 += n;
    }
    const t16 = this.t16, t32 = this.t32;
    const oend = dst.length;
    const mflimitPlusOne = n - MF_LIMIT + 1;
    const matchLimit = n - LAST_LITERALS;
    let ip = 0, anchor = 0, op = 0;
    if (n >= MF_LIMIT + 1) {
      if (small) t16[hash13(src, 0)] = gen; else t32[hash12(src, 0)] = gen;
      ip = 1;
      let fh = small ? hash13(src, 1) : hash12(src, 1);
      outer: for (;;) {
        let match = 0;
        let fip = ip, step = 1, searchNb = acceleration << SKIP_TRIGGER;
        for (;;) {
          const h = fh;
          ip = fip;
          fip += step;
          step = searchNb++ >> SKIP_TRIGGER;
          if (fip > mflimitPlusOne) break outer;
          let rel: number;
          if (small) {
            rel = (t16[h]! - gen) >>> 0;
            t16[h] = gen + ip;
            fh = hash13(src, fip);
          } else {
            rel = (t32[h]! - gen) >>> 0;
            t32[h] = gen + ip;
            fh = hash12(src, fip);
          }
          if (rel < ip && ip - rel <= MAX_DISTANCE && read32(src, rel) === read32(src, ip)) {
            match = rel;
            break;
          }
        }
        while (ip > anchor && match > 0 && src[ip - 1] === src[match - 1]) {
          ip--;
          match--;
        }
        const litLen = ip - anchor;
        let token = op++;
        if (oend - op < litLen + 8 + ((litLen / 255) | 0)) return 0;
        if (litLen >= 15) {
          dst[token] = 0xf0;
          let r = litLen - 15;
          for (; r >= 255; r -= 255) dst[op++] = 255;
          dst[op++] = r;
        } else {
          dst[token] = litLen << 4;
        }
        if (litLen > 32) dst.set(src.subarray(anchor, ip), op);
        else for (let k = 0; k < litLen; k++) dst[op + k] = src[anchor + k]!;
        op += litLen;
        for (;;) {
          const off = ip - match;
          dst[op++] = off;
          dst[op++] = off >> 8;
          let p = ip + MIN_MATCH, m = match + MIN_MATCH;
          while (p <= matchLimit - 4 && read32(src, p) === read32(src, m)) {
            p += 4;
            m += 4;
          }
          while (p < matchLimit && src[p] === src[m]) {
            p++;
            m++;
          }
          const extra = p - ip - MIN_MATCH;
          ip = p;
          if (oend - op < 6 + (((extra + 240) / 255) | 0)) return 0;
          if (extra >= 15) {
            dst[token] = dst[token]! | 15;
            let r = extra - 15;
            for (; r >= 255; r -= 255) dst[op++] = 255;
            dst[op++] = r;
          } else {
            dst[token] = dst[token]! | extra;
          }
          anchor = ip;
          if (ip >= mflimitPlusOne) break outer;
          let rel: number;
          if (small) {
            t16[hash13(src, ip - 2)] = gen + ip - 2;
            const h = hash13(src, ip);
            rel = (t16[h]! - gen) >>> 0;
            t16[h] = gen + ip;
          } else {
            t32[hash12(src, ip - 2)] = gen + ip - 2;
            const h = hash12(src, ip);
            rel = (t32[h]! - gen) >>> 0;
            t32[h] = gen + ip;
          }
          if (rel < ip && ip - rel <= MAX_DISTANCE && read32(src, rel) === read32(src, ip)) {
            match = rel;
            token = op++;
            dst[token] = 0;
            continue;
          }
          ip++;
          fh = small ? hash13(src, ip) : hash12(src, ip);
          break;
        }
      }
    }
    const lastRun = n - anchor;
    if (oend - op < 1 + lastRun + (((lastRun + 240) / 255) | 0)) return 0;
    if (lastRun >= 15) {
      dst[op++] = 0xf0;
      let r = lastRun - 15;
      for (; r >= 255; r -= 255) dst[op++] = 255;
      dst[op++] = r;
    } else {
      dst[op++] = lastRun << 4;
    }
    dst.set(src.subarray(anchor, n), op);
    return op + lastRun;
  }

  /** Decode src (a whole block) into dst; returns the size or -(position) - 1. */
  decompress(src: Uint8Array, dst: Uint8Array): number {
    const iend = src.length, oend = dst.length;
    let ip = 0, op = 0;
    for (;;) {
      if (ip >= iend) return -ip - 1;
      const token = src[ip++]!;
      let ll = token >> 4;
      if (ll === 15) {
        let b: number;
        do {
          if (ip >= iend) return -ip - 1;
          b = src[ip++]!;
          ll += b;
          if (ll > oend - op) return -ip;
        } while (b === 255);
      }
      if (ll > iend - ip || ll > oend - op) return -ip - 1;
      if (ll > 16) dst.set(src.subarray(ip, ip + ll), op);
      else for (let k = 0; k < ll; k++) dst[op + k] = src[ip + k]!;
      ip += ll;
      op += ll;
      if (ip === iend) return op;
      if (iend - ip < 2) return -ip - 1;
      const offset = src[ip]! | (src[ip + 1]! << 8);
      if (offset === 0 || offset > op) return -ip - 1;
      ip += 2;
      let ml = token & 15;
      if (ml === 15) {
        let b: number;
        do {
          if (ip >= iend) return -ip - 1;
          b = src[ip++]!;
          ml += b;
          if (ml > oend - op) return -ip;
        } while (b === 255);
      }
      ml += MIN_MATCH;
      if (ml > oend - op) return -ip;
      let m = op - offset;
      if (offset >= ml && ml > 32) {
        dst.copyWithin(op, m, m + ml);
        op += ml;
      } else {
        const end = op + ml;
        while (op < end) dst[op++] = dst[m++]!;
      }
    }
  }
}
