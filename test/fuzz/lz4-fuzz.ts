// SPDX-License-Identifier: MIT
/**
 * lz4-fuzz.ts: the malformed-input fuzzer of the LZ4 block and frame
 * decoders (and a round-trip check of the compressor), shared by the short
 * slice in `npm test` (test/fuzz/lz4-fuzz.test.ts) and the long run behind
 * `npm run fuzz` (scripts/fuzz-lz4.ts).
 *
 * How it catches a bad decoder, in the lz4 ossfuzz manner:
 * - the compressed input is placed so that it ends exactly at the end of the
 *   wasm memory: one byte of over-read traps (a RuntimeError fails the run);
 * - the destination sits between guard bytes (and, for prefix decoding,
 *   behind a prefix that must stay read-only) that are compared after every
 *   call: one byte written outside [dst, dst + cap) fails the run;
 * - a result ≥ 0 must be ≤ cap (= expected for the exact decoder), and an
 *   unmutated block with room must decode to exactly its original bytes.
 * Mutations: bit flips, byte sets (0, 0xFF, random), truncation, appended
 * garbage, inserted and deleted ranges, splices of two blocks, pure noise.
 *
 * Frame cases feed mutated frames to the frame decoder, which must either
 * return or throw TmemError (EBADMSG / ENOTSUP, or E2BIG when a mutated
 * header declares more content than the decoder's maxOutput allows), never
 * anything else.
 * @module
 */
import { PhysicalMemory } from "../../bindings/physmem.js";
import { type Lz4Codec } from "../../bindings/lz4.js";
import { TmemError, Status } from "../../bindings/status.js";
import { compressFrameSync, decompressFrameSync } from "../../src/lz4/frame.js";
import { type Shape, SHAPES, makeData, Rng } from "./lz4-data.js";

/** Guard bytes each side of the destination. */
const GUARD = 256;
/** Largest prefix a case uses (more than the 64 KiB window, to test clamping). */
const MAX_PREFIX = 70_000;
/** Largest destination capacity a case uses. */
const MAX_CAP = 80_000;
/** Frames of the fuzzer's private physical memory (all of them used as scratch). */
const FRAMES = 96;
/** Value the guards and the prefix are filled with (random per run: a pattern plus offsets). */
const GUARD_BYTE = 0xa7;

/** Counts of one run. */
export interface FuzzReport {
  /** Block decoder calls. */
  cases: number;
  /** Calls that returned a size (valid or accidentally valid input). */
  accepted: number;
  /** Calls that returned a negative status. */
  rejected: number;
  /** Compressor round trips checked. */
  roundTrips: number;
  /** Frame decoder cases. */
  frames: number;
}

/** A block decoder fuzzer over its own small physical memory. */
export class Lz4Fuzzer {
  private readonly pm: PhysicalMemory;
  private readonly codec: Lz4Codec;
  private readonly rng: Rng;
  private readonly samples: { block: Uint8Array; original: Uint8Array }[] = [];
  private readonly frames: Uint8Array[] = [];
  private readonly memEnd: number;
  private readonly dst: number;
  private readonly guard = new Uint8Array(MAX_PREFIX + GUARD).fill(GUARD_BYTE);
  private u8: Uint8Array;
  private readonly work = new Uint8Array(MAX_CAP * 2);

  private constructor(pm: PhysicalMemory, codec: Lz4Codec, seed: number) {
    this.pm = pm;
    this.codec = codec;
    this.rng = new Rng(seed);
    this.u8 = pm.u8;
    this.memEnd = pm.memory.buffer.byteLength;
    // dst with room for the prefix and a guard before it, cap and a guard after.
    this.dst = pm.layout.framesBase + MAX_PREFIX + GUARD;
    if (this.dst + MAX_CAP + GUARD > this.memEnd - MAX_CAP * 2) throw new Error("fuzzer memory too small");
    this.u8.fill(GUARD_BYTE, this.dst - MAX_PREFIX - GUARD, this.dst + MAX_CAP + GUARD);
    for (let i = 0; i < 160; i++) this.addSample(SHAPES[i % SHAPES.length]!, i < 120 ? this.rng.int(4200) : this.rng.int(MAX_CAP - 100), i);
    for (let i = 0; i < 12; i++) {
      const data = makeData(SHAPES[i % SHAPES.length]!, this.rng.int(200_000), i);
      this.frames.push(compressFrameSync(codec, data, {
        linked: i % 2 === 0, blockChecksum: i % 3 === 0, contentSize: i % 4 === 0, contentChecksum: i % 5 !== 0,
      }));
    }
  }

  /**
   * A fuzzer with its own physical memory, seeded.
   * @param extraSamples - more valid blocks with their originals (e.g. golden fixtures).
   */
  static async create(codec: Lz4Codec, seed: number, extraSamples: { block: Uint8Array; original: Uint8Array }[] = []): Promise<Lz4Fuzzer> {
    const pm = await PhysicalMemory.create({ frames: FRAMES, maxWorkers: 1 });
    // Take every frame, so nothing else uses the region we scribble on.
    for (let i = 0; i < FRAMES; i++) pm.allocFrame();
    const f = new Lz4Fuzzer(pm, codec, seed);
    f.samples.push(...extraSamples.filter((s) => s.original.length <= MAX_CAP));
    return f;
  }

  private addSample(shape: Shape, n: number, seed: number): void {
    const original = makeData(shape, n, seed);
    this.samples.push({ block: this.codec.compressBlock(original), original });
  }

  /** Release the fuzzer's memory slot. */
  dispose(): void {
    this.pm.detach();
  }

  /** A mutated copy of `b` in this.work; returns its length. */
  private mutate(b: Uint8Array, kind: number): number {
    const r = this.rng, w = this.work;
    let n = Math.min(b.length, MAX_CAP);
    w.set(b.subarray(0, n));
    switch (kind) {
      case 0: // unmutated
        break;
      case 1: { // bit flips
        const k = 1 + r.int(8);
        for (let i = 0; i < k && n > 0; i++) w[r.int(n)]! ^= 1 << r.int(8);
        break;
      }
      case 2: { // byte sets: lengths and offsets blown up or zeroed
        const k = 1 + r.int(6);
        for (let i = 0; i < k && n > 0; i++) w[r.int(n)] = [0, 0xff, 0xf0, 0x0f, r.u32() & 0xff][r.int(5)]!;
        break;
      }
      case 3: // truncation
        n = r.int(n + 1);
        break;
      case 4: { // appended garbage
        const k = 1 + r.int(64);
        for (let i = 0; i < k; i++) w[n + i] = r.int(3) === 0 ? 0xff : r.u32();
        n += k;
        break;
      }
      case 5: { // deleted range
        if (n === 0) break;
        const at = r.int(n), len = Math.min(n - at, 1 + r.int(16));
        w.copyWithin(at, at + len, n);
        n -= len;
        break;
      }
      case 6: { // inserted range
        const at = r.int(n + 1), len = 1 + r.int(16);
        w.copyWithin(at + len, at, n);
        for (let i = 0; i < len; i++) w[at + i] = r.u32();
        n += len;
        break;
      }
      case 7: { // splice with another block
        const o = this.samples[r.int(this.samples.length)]!.block;
        const at = r.int(n + 1), from = r.int(o.length + 1), len = Math.min(o.length - from, r.int(2000), MAX_CAP - at);
        w.set(o.subarray(from, from + len), at);
        n = Math.max(n, at + len);
        break;
      }
      default: { // noise
        n = r.int(r.int(2) ? 64 : 3000);
        for (let i = 0; i < n; i++) w[i] = r.u32();
      }
    }
    return n;
  }

  private fail(msg: string): never {
    throw new Error(`lz4 fuzz: ${msg}`);
  }

  /** One block-decoder case; throws on a safety violation. */
  private blockCase(rep: FuzzReport): void {
    const r = this.rng, u8 = this.u8, core = this.pm.core;
    const sample = this.samples[r.int(this.samples.length)]!;
    const kind = r.int(10) < 2 ? 0 : 1 + r.int(8);
    const n = this.mutate(sample.block, kind);
    const src = this.memEnd - n; // input ends at the end of memory: over-reads trap
    u8.set(this.work.subarray(0, n), src);
    const orig = sample.original.length;
    const capMode = r.int(4);
    const cap = capMode === 0 ? orig : capMode === 1 ? Math.min(MAX_CAP, orig + r.int(100)) : capMode === 2 ? r.int(orig + 1) : r.int(MAX_CAP);
    const mode = r.int(3); // 0 safe, 1 exact, 2 prefix
    const prefixLen = mode === 2 ? r.int(MAX_PREFIX + 1) : 0;
    const dst = this.dst;
    const res = mode === 0 ? core.lz4_decompress_safe(src, n, dst, cap)
      : mode === 1 ? core.lz4_decompress_safe_exact(src, n, dst, cap)
        : core.lz4_decompress_safe_prefix(src, n, dst, cap, prefixLen);
    rep.cases++;
    if (res >= 0) {
      rep.accepted++;
      if (res > cap) this.fail(`decoded ${res} bytes into a ${cap}-byte destination`);
      if (mode === 1 && res !== cap) this.fail(`exact decoder returned ${res}, expected ${cap}`);
    } else {
      rep.rejected++;
      if (-res - 1 > n && res !== -0x80000000) this.fail(`error position ${-res - 1} beyond the input's ${n} bytes`);
    }
    if (kind === 0 && cap >= orig && (mode !== 1 || cap === orig)) {
      if (res !== orig) this.fail(`a valid block decoded to ${res}, not ${orig} (mode ${mode}, cap ${cap})`);
      if (Buffer.compare(u8.subarray(dst, dst + orig), sample.original) !== 0) this.fail("a valid block decoded to different bytes");
    }
    if (kind === 0 && cap < orig && res >= 0) this.fail("a block that does not fit decoded successfully");
    // Guards: GUARD bytes before dst (or the whole prefix) and GUARD after dst + cap.
    const before = Math.max(GUARD, prefixLen + GUARD);
    if (Buffer.compare(u8.subarray(dst - before, dst), this.guard.subarray(0, before)) !== 0) this.fail("a write before the destination (or into the prefix)");
    if (Buffer.compare(u8.subarray(dst + cap, dst + cap + GUARD), this.guard.subarray(0, GUARD)) !== 0) this.fail(`a write past dst + ${cap}`);
    // Restore the scratch between dst and dst + cap for the next case's guard.
    u8.fill(GUARD_BYTE, dst, dst + cap);
  }

  /** One compressor case: random data, random (maybe too small) capacity. */
  private compressCase(rep: FuzzReport): void {
    const r = this.rng, u8 = this.u8, core = this.pm.core;
    const shape = SHAPES[r.int(SHAPES.length)]!;
    const len = r.int(r.int(2) ? 5000 : 60_000);
    const data = makeData(shape, len, r.u32());
    const src = this.memEnd - len;
    u8.set(data, src);
    const bound = len + Math.floor(len / 255) + 16;
    const capMode = r.int(6);
    const cap = capMode === 0 ? r.int(bound + 1) : capMode === 1 ? r.int(24) : bound;
    const dst = this.dst;
    const accel = 1 + r.int(r.int(4) === 0 ? 100 : 3);
    const c = core.lz4_compress_fast(src, len, dst, cap, accel, this.pm.scratch);
    if (Buffer.compare(u8.subarray(dst + cap, dst + cap + GUARD), this.guard.subarray(0, GUARD)) !== 0) this.fail("compressor wrote past dstCap");
    if (c === Status.ENOSPC) {
      if (cap >= bound) this.fail("compressor ran out of room at the bound");
    } else {
      if (c < 1 || c > cap) this.fail(`compressor returned ${c} for cap ${cap}`);
      // Decode it right behind the compressed data's copy at the end of memory.
      const blk = u8.slice(dst, dst + c);
      u8.fill(GUARD_BYTE, dst, dst + cap);
      u8.set(blk, this.memEnd - c);
      const d = core.lz4_decompress_safe_exact(this.memEnd - c, c, dst, len);
      if (d !== len || Buffer.compare(u8.subarray(dst, dst + len), data) !== 0) this.fail(`round trip failed (${shape}, ${len} bytes)`);
      rep.roundTrips++;
      u8.fill(GUARD_BYTE, dst, dst + Math.max(len, cap));
      return;
    }
    u8.fill(GUARD_BYTE, dst, dst + cap);
  }

  /** One frame-decoder case: must return or throw TmemError. */
  private frameCase(rep: FuzzReport): void {
    const r = this.rng;
    const f = this.frames[r.int(this.frames.length)]!;
    const w = f.slice();
    let n = w.length;
    const kind = r.int(4);
    if (kind === 0) for (let i = 0, k = 1 + r.int(4); i < k; i++) w[r.int(n)]! ^= 1 << r.int(8);
    else if (kind === 1) n = r.int(n + 1);
    else if (kind === 2) for (let i = 0, k = 1 + r.int(3); i < k; i++) w[r.int(Math.min(n, 40))] = r.u32();
    else for (let i = 0, k = 1 + r.int(8); i < k; i++) w[r.int(n)] = 0xff;
    try {
      decompressFrameSync(this.codec, w.subarray(0, n));
    } catch (e) {
      if (!(e instanceof TmemError) || (e.code !== "EBADMSG" && e.code !== "ENOTSUP" && e.code !== "E2BIG")) throw e;
    }
    rep.frames++;
  }

  /**
   * Run `cases` block cases, with a compressor case every 64th and a frame
   * case every 256th. Throws on the first violation (the message says which).
   */
  run(cases: number, rep: FuzzReport = { cases: 0, accepted: 0, rejected: 0, roundTrips: 0, frames: 0 }): FuzzReport {
    for (let i = 0; i < cases; i++) {
      this.blockCase(rep);
      if ((i & 63) === 63) this.compressCase(rep);
      if ((i & 255) === 255) this.frameCase(rep);
    }
    return rep;
  }
}
