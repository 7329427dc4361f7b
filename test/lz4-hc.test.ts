// SPDX-License-Identifier: MIT
// LZ4 HC (levels 3-12, assembly/lz4hc.ts): round trips at every level, with
// and without a prefix, read back by our decoder, by liblz4 (the lz4 addon)
// and by lz4 -d; sizes within 1 % of the reference's lz4 -9; destinations
// too small; option checks (unknown options are refused, issue 16.6).
import { describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type Lz4Codec, lz4Ready, compressBound } from "../bindings/lz4.js";
import { compressFrame, compressFrameSync, decompressFrameSync } from "../src/lz4/index.js";
import { loadNodeLz4 } from "./fuzz/lz4-diff.js";
import { SHAPES, type Shape, makeData } from "./fuzz/lz4-data.js";
import { loadCorpus, throwsWith } from "./helpers.js";

const LZ4 = "/usr/bin/lz4";
const haveCli = existsSync(LZ4);
const { lib: nodeLz4 } = loadNodeLz4();
const FIX = (f: string): string => fileURLToPath(new URL(`./fixtures/lz4/${f}`, import.meta.url));

let lz4: Lz4Codec;
beforeAll(async () => {
  lz4 = await lz4Ready();
});
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

describe("LZ4 HC blocks", () => {
  it("every level 3-12 round-trips every shape, and liblz4 decodes the same bytes", () => {
    fc.assert(fc.property(fc.constantFrom(...SHAPES), fc.integer({ min: 0, max: 70_000 }), fc.integer(), fc.integer({ min: 3, max: 12 }),
      (shape: Shape, n: number, seed: number, level: number) => {
        const data = makeData(shape, n, seed);
        const packed = lz4.compressBlock(data, { level });
        expect(packed.length).toBeLessThanOrEqual(compressBound(n));
        expect(same(lz4.decompressBlock(packed, { exactSize: n }), data)).toBe(true);
        if (nodeLz4) {
          const out = Buffer.alloc(n);
          expect(nodeLz4.decodeBlock(Buffer.from(packed), out)).toBe(n);
          expect(same(out, data)).toBe(true);
        }
      }), { numRuns: 60, seed: 0x4c });
  });

  it("HC is never larger than the fast compressor by more than a few bytes, and smaller on text", () => {
    for (const shape of SHAPES) {
      const data = makeData(shape, 65536, 9);
      const fast = lz4.compressBlock(data).length, hc = lz4.compressBlock(data, { level: 9 }).length;
      expect(hc, shape).toBeLessThanOrEqual(fast + 16);
    }
    const text = makeData("text", 65536, 2);
    expect(lz4.compressBlock(text, { level: 9 }).length).toBeLessThan(lz4.compressBlock(text).length * 0.95);
  });

  it("with a prefix (linked blocks): decodes only with that prefix", () => {
    fc.assert(fc.property(fc.constantFrom(...SHAPES), fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: 0, max: 90_000 }), fc.integer(),
      (shape: Shape, n: number, pn: number, seed: number) => {
        const both = makeData(shape, n + pn, seed);
        const pre = both.subarray(0, pn), blk = both.subarray(pn);
        const p = lz4.compressBlock(blk, { level: 6, prefix: pre });
        expect(same(lz4.decompressBlock(p, { exactSize: n }, { prefix: pre }), blk)).toBe(true);
      }), { numRuns: 30, seed: 7 });
    const prev = makeData("text", 100_000, 11);
    const next = prev.slice(50_000, 80_000);
    expect(lz4.compressBlock(next, { level: 9, prefix: prev }).length).toBeLessThan(200);
  });

  it("a destination too small returns 0 (stored raw by a frame) and nothing past it is written", () => {
    const dst = new Uint8Array(5000);
    for (const shape of SHAPES) {
      const data = makeData(shape, 4096, 3);
      const fits = lz4.compressBlock(data, { level: 9 }).length;
      for (const cap of [0, 1, 10, fits - 1, fits]) {
        if (cap < 0) continue;
        dst.fill(0x5c);
        const k = lz4.compressBlockInto(data, dst.subarray(0, cap), { level: 9 });
        expect(dst.subarray(cap).every((b) => b === 0x5c), `${shape} cap ${cap}`).toBe(true);
        expect(k, `${shape} cap ${cap}`).toBe(cap >= fits ? fits : 0);
      }
    }
  });

  it("options: levels 1-12 only, acceleration only with 1-2, unknown keys refused", () => {
    const b = new Uint8Array(100);
    throwsWith(() => lz4.compressBlock(b, { level: 13 }), "EINVAL");
    throwsWith(() => lz4.compressBlock(b, { level: 0 }), "EINVAL");
    throwsWith(() => lz4.compressBlock(b, { level: 9, acceleration: 2 }), "EINVAL");
    throwsWith(() => lz4.compressBlock(b, { levle: 9 } as unknown as { level: number }), "EINVAL");
    throwsWith(() => compressFrameSync(lz4, b, { levle: 9 } as unknown as { level: number }), "EINVAL");
    throwsWith(() => compressFrameSync(lz4, b, { level: 9, acceleration: 3 }), "EINVAL");
  });
});

describe("LZ4 HC frames against the reference", () => {
  it.skipIf(!haveCli)("compressFrame({ level: 9 }) is read by lz4 -d, and is within 1 % of lz4 -9 on the committed inputs", async () => {
    for (const name of ["text.bin", "mixed.bin"]) {
      const data = new Uint8Array(readFileSync(FIX(name)));
      const ours = await compressFrame(data, { level: 9, blockSize: 4 << 20 });
      const back = spawnSync(LZ4, ["-d", "-c", "-q"], { input: ours, maxBuffer: 1 << 28 });
      expect(back.status).toBe(0);
      expect(Buffer.compare(back.stdout, data)).toBe(0);
      const ref = spawnSync(LZ4, ["-c", "-q", "-9", "-B7"], { input: data, maxBuffer: 1 << 28 }).stdout;
      expect(ours.length / ref.length, name).toBeLessThan(1.01);
      expect(same(decompressFrameSync(lz4, ours), data)).toBe(true);
    }
  });

  it.skipIf(!haveCli)("on the page corpora (the full corpus, or the repo's sample without ../shared): within 1 % of lz4 -9", async () => {
    for (const name of ["anon", "file"] as const) {
      const data = (await loadCorpus(name)).pages.subarray(0, 4 << 20);
      const ours = compressFrameSync(lz4, data, { level: 9, blockSize: 4 << 20 });
      const ref = spawnSync(LZ4, ["-c", "-q", "-9", "-B7"], { input: data, maxBuffer: 1 << 28 }).stdout;
      expect(ours.length / ref.length, name).toBeLessThan(1.01);
      expect(same(decompressFrameSync(lz4, ours), data)).toBe(true);
    }
  });

  it("linked HC frames round-trip", () => {
    const data = makeData("mixed", 400_000, 5);
    for (const level of [3, 9, 12]) {
      const f = compressFrameSync(lz4, data, { level, linked: true, blockSize: 65536 });
      expect(same(decompressFrameSync(lz4, f), data)).toBe(true);
      if (haveCli) expect(Buffer.compare(spawnSync(LZ4, ["-d", "-c", "-q"], { input: f, maxBuffer: 1 << 28 }).stdout, data)).toBe(0);
    }
  });
});
