// SPDX-License-Identifier: MIT
// LZ4 block codec: round trips (fast-check, 0 … 4 MiB, several data shapes),
// the reference's compressed sizes on the corpus, exact and prefix decoding,
// the physical-memory path, and argument errors.
import { describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { type Lz4Codec, createLz4, lz4Ready, compressBound, compressPhysical, decompressPhysical } from "../bindings/lz4.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { SCRATCH_LZ4_HASH } from "../bindings/layout.js";
import { SHAPES, type Shape, makeData } from "./fuzz/lz4-data.js";
import { loadCorpus, throwsWith } from "./helpers.js";

let lz4: Lz4Codec;
beforeAll(async () => {
  lz4 = await lz4Ready();
});

const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length),
  Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

describe("lz4 block round trip", () => {
  it("decodes what it encodes, byte for byte, for every shape and size from 0 to 4 MiB", () => {
    const size = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 64 }) },
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 << 20 }) },
    );
    fc.assert(fc.property(fc.constantFrom(...SHAPES), size, fc.integer(), fc.integer({ min: 1, max: 40 }),
      (shape: Shape, n: number, seed: number, accel: number) => {
        const data = makeData(shape, n, seed);
        const packed = lz4.compressBlock(data, { acceleration: accel });
        expect(packed.length).toBeLessThanOrEqual(compressBound(n));
        expect(equal(lz4.decompressBlock(packed, { exactSize: n }), data)).toBe(true);
        expect(equal(lz4.decompressBlock(packed, n + 100), data)).toBe(true);
      }), { numRuns: 120, seed: 0x1234 });
  });

  it("the 4 MiB extremes: all zeros, all random", () => {
    for (const shape of ["zeros", "random"] as const) {
      const data = makeData(shape, 4 << 20, 7);
      const packed = lz4.compressBlock(data);
      if (shape === "zeros") expect(packed.length).toBeLessThan(20_000);
      else expect(packed.length).toBeLessThanOrEqual(compressBound(data.length));
      const out = new Uint8Array(data.length);
      expect(lz4.decompressBlockInto(packed, out, { exact: true })).toBe(data.length);
      expect(equal(out, data)).toBe(true);
    }
  });

  it("output is deterministic: the same input gives the same block whatever was compressed before", () => {
    const a = makeData("text", 5000, 1);
    const first = lz4.compressBlock(a);
    for (let i = 0; i < 40; i++) lz4.compressBlock(makeData("mixed", 4096, i));
    lz4.compressBlock(makeData("text", 200_000, 3)); // switches the table to u32 mode
    expect(equal(lz4.compressBlock(a), first)).toBe(true);
  });

  it("higher acceleration is never slower to decode wrong: larger or equal output, same content", () => {
    const data = makeData("corpus", 64 << 10, 5);
    let prev = 0;
    for (const a of [1, 2, 8, 64, 65537]) {
      const p = lz4.compressBlock(data, { acceleration: a });
      expect(p.length).toBeGreaterThanOrEqual(prev * 0.98);
      prev = p.length;
      expect(equal(lz4.decompressBlock(p, data.length), data)).toBe(true);
    }
  });

  it("compressBlockInto returns 0 when the block does not fit, and never writes past dst", () => {
    const data = makeData("random", 4096, 9);
    const dst = new Uint8Array(5000).fill(0xa5);
    expect(lz4.compressBlockInto(data, dst.subarray(0, 4000))).toBe(0);
    expect(dst.subarray(4000).every((b) => b === 0xa5)).toBe(true);
    const n = lz4.compressBlockInto(data, dst);
    expect(n).toBeGreaterThan(4096);
    expect(equal(lz4.decompressBlock(dst.subarray(0, n), 4096), data)).toBe(true);
  });

  it("compression into tiny destinations (0 … 40 bytes) fails cleanly or fits, never overruns", () => {
    const guard = new Uint8Array(64 + 40);
    for (const shape of SHAPES) {
      for (const n of [0, 1, 5, 12, 13, 17, 40, 200]) {
        const data = makeData(shape, n, n);
        for (let cap = 0; cap <= 40; cap++) {
          guard.fill(0x5c);
          const k = lz4.compressBlockInto(data, guard.subarray(0, cap));
          expect(guard.subarray(cap).every((b) => b === 0x5c)).toBe(true);
          if (k > 0) expect(equal(lz4.decompressBlock(guard.subarray(0, k), { exactSize: n }), data)).toBe(true);
        }
      }
    }
  });

  it("exact decoding fails unless the block decodes to exactly the expected size", () => {
    const data = makeData("text", 3000, 2);
    const p = lz4.compressBlock(data);
    throwsWith(() => lz4.decompressBlock(p, { exactSize: 2999 }), "EBADMSG");
    throwsWith(() => lz4.decompressBlock(p, { exactSize: 3001 }), "EBADMSG");
    throwsWith(() => lz4.decompressBlock(p, 2999), "EBADMSG");
    expect(lz4.decompressBlock(p, 3001).length).toBe(3000);
  });

  it("linked blocks: a block compressed against a prefix decodes only with that prefix", () => {
    const prev = makeData("text", 100_000, 11);
    const next = prev.slice(50_000, 80_000); // wholly repeated from the last 64 KiB of the prefix
    const linked = lz4.compressBlock(next, { prefix: prev });
    const alone = lz4.compressBlock(next);
    expect(linked.length).toBeLessThan(alone.length / 10);
    expect(equal(lz4.decompressBlock(linked, next.length, { prefix: prev }), next)).toBe(true);
    throwsWith(() => lz4.decompressBlock(linked, next.length), "EBADMSG");
    // Random pairs round-trip.
    fc.assert(fc.property(fc.constantFrom(...SHAPES), fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 100_000 }), fc.integer(),
      (shape: Shape, n: number, pn: number, seed: number) => {
        const both = makeData(shape, n + pn, seed);
        const pre = both.subarray(0, pn), blk = both.subarray(pn);
        const p = lz4.compressBlock(blk, { prefix: pre });
        expect(equal(lz4.decompressBlock(p, { exactSize: n }, { prefix: pre }), blk)).toBe(true);
      }), { numRuns: 40, seed: 99 });
  });

  it("bad arguments throw EINVAL and change nothing", () => {
    const dst = new Uint8Array(10).fill(7);
    throwsWith(() => lz4.compressBlock("abc" as unknown as Uint8Array), "EINVAL");
    throwsWith(() => lz4.compressBlock(new Uint8Array(4), { acceleration: 0 }), "EINVAL");
    throwsWith(() => lz4.compressBlock(new Uint8Array(4), { acceleration: 1.5 }), "EINVAL");
    throwsWith(() => lz4.decompressBlock(new Uint8Array(4), -1), "EINVAL");
    throwsWith(() => lz4.decompressBlock(new Uint8Array(4), { exactSize: Number.NaN }), "EINVAL");
    throwsWith(() => lz4.decompressBlockInto(new Uint8Array([0x10, 1]), [] as unknown as Uint8Array), "EINVAL");
    throwsWith(() => compressBound(-1), "EINVAL");
    expect(dst.every((b) => b === 7)).toBe(true);
  });

  it("an empty input is one token byte; an empty block is malformed", () => {
    const p = lz4.compressBlock(new Uint8Array(0));
    expect([...p]).toEqual([0]);
    expect(lz4.decompressBlock(p, 0).length).toBe(0);
    throwsWith(() => lz4.decompressBlock(new Uint8Array(0), 100), "EBADMSG");
  });

  it("the debug build of the core round-trips the same blocks as the release build", async () => {
    const dbg = await createLz4({ build: "debug" });
    for (const shape of SHAPES) {
      const d = makeData(shape, 70_000, 6);
      const p = dbg.compressBlock(d);
      expect(equal(p, lz4.compressBlock(d))).toBe(true);
      expect(equal(dbg.decompressBlock(p, { exactSize: d.length }), d)).toBe(true);
    }
  });

  it("two codecs are independent instances", async () => {
    const other = await createLz4();
    const d = makeData("records", 9000, 4);
    expect(equal(other.compressBlock(d), lz4.compressBlock(d))).toBe(true);
  });
});

describe("lz4 in physical memory", () => {
  it("compresses a frame into another frame and back with no JS copy", async () => {
    const pm = await PhysicalMemory.create({ frames: 16, maxWorkers: 2 });
    try {
      const a = pm.allocFrame(), b = pm.allocFrame(), c = pm.allocFrame(), d = pm.allocFrame();
      for (const shape of SHAPES) {
        const page = makeData(shape, 4096, 3);
        pm.frameBytes(a).set(page);
        // Destination: two frames (b, c may not be adjacent: use one frame as capacity).
        const n = compressPhysical(pm, pm.frameAddress(a), 4096, pm.frameAddress(b), 4096);
        if (n === 0) {
          expect(shape === "random" || shape === "corpus" || shape === "mixed").toBe(true);
          continue;
        }
        expect(decompressPhysical(pm, pm.frameAddress(b), n, pm.frameAddress(d), 4096, { exact: true })).toBe(4096);
        expect(equal(pm.frameBytes(d), page)).toBe(true);
        throwsWith(() => decompressPhysical(pm, pm.frameAddress(b), n, pm.frameAddress(d), 4095, { exact: true }), "EBADMSG");
      }
      // The scratch hash table is where the layout says.
      expect(pm.scratch + SCRATCH_LZ4_HASH).toBeGreaterThanOrEqual(pm.layout.scratchBase);
      throwsWith(() => compressPhysical(pm, pm.memory.buffer.byteLength - 10, 4096, pm.frameAddress(c), 4096), "EINVAL");
      throwsWith(() => decompressPhysical(pm, -1, 10, pm.frameAddress(c), 4096), "EINVAL");
    } finally {
      pm.detach();
    }
  });

  it("writes no byte past dst + dstCap at any capacity, the compress bound (no room checks) included", async () => {
    // compressPhysical writes straight into physical memory, so an overshoot
    // would land on a neighbour: guard bytes after the capacity must stay.
    // At dstCap ≥ the bound the compressor skips its per-sequence room
    // checks (the bound always fits); below it every sequence is checked.
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 1 });
    const GUARD = 64;
    try {
      const base = pm.layout.framesBase;
      const src = base, dst = base + (24 << 12);
      fc.assert(fc.property(fc.constantFrom(...SHAPES), fc.integer({ min: 0, max: 70_000 }), fc.integer(),
        fc.constantFrom("bound", "exact", "short", "random"), fc.integer({ min: 0, max: 1 << 30 }),
        (shape: Shape, n: number, seed: number, capKind: string, r: number) => {
          const data = makeData(shape, n, seed);
          pm.u8.set(data, src);
          const bound = compressBound(n);
          pm.u8.fill(0, dst, dst + bound + GUARD);
          const size = compressPhysical(pm, src, n, dst, bound);
          expect(size).toBeGreaterThan(0);
          const cap = capKind === "bound" ? bound : capKind === "exact" ? size : capKind === "short" ? size - 1 : r % (bound + 1);
          pm.u8.fill(0xa5, dst, dst + cap + GUARD);
          const k = compressPhysical(pm, src, n, dst, cap);
          for (let i = dst + cap; i < dst + cap + GUARD; i++) if (pm.u8[i] !== 0xa5) expect.fail(`byte ${i - dst} written, capacity ${cap}`);
          if (cap >= size) expect(k).toBe(size);
          if (capKind === "short") expect(k).toBe(0);
          if (k > 0) {
            const out = base + (44 << 12);
            expect(decompressPhysical(pm, dst, k, out, n, { exact: true })).toBe(n);
            expect(equal(pm.u8.subarray(out, out + n), data)).toBe(true);
          }
        }), { numRuns: 300, seed: 0x51a7 });
    } finally {
      pm.detach();
    }
  });
});

describe("lz4 ratio against the reference", () => {
  for (const name of ["anon", "file"] as const) {
    it(`${name} corpus: total compressed size within 1 % of liblz4 at acceleration 1`, async () => {
      // The full corpus when ../shared is present, else the repo's sample with the reference's sizes of its pages.
      const { pages, sizes: ref } = await loadCorpus(name);
      const dst = new Uint8Array(compressBound(4096));
      const back = new Uint8Array(4096);
      let ours = 0, theirs = 0, oursCapped = 0, theirsCapped = 0;
      for (let i = 0; i < ref.length; i++) {
        const page = pages.subarray(i * 4096, (i + 1) * 4096);
        const n = lz4.compressBlockInto(page, dst);
        ours += n;
        theirs += ref[i]!;
        // Incompressible pages (≥ 4096) are stored raw by a store path: compare as that.
        oursCapped += Math.min(n, 4096);
        theirsCapped += Math.min(ref[i]!, 4096);
        if (i % 64 === 0) {
          lz4.decompressBlockInto(dst.subarray(0, n), back, { exact: true });
          expect(equal(back, page)).toBe(true);
        }
      }
      expect(Math.abs(ours / theirs - 1)).toBeLessThan(0.01);
      expect(Math.abs(oursCapped / theirsCapped - 1)).toBeLessThan(0.01);
    });
  }
});
