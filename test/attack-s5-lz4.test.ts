// SPDX-License-Identifier: MIT
// Attacks on the LZ4 block compressor (session 5, the attacker's pass over
// lz4c's faster compressor): inputs built to hit its decision points (sizes
// around MFLIMIT, LASTLITERALS, the 64 KiB small-block hash limit and the
// window; matches at offsets 1..8, 65535 and 65536; literal and match lengths
// at 15 + 255·k), every acceleration and HC level, destinations one byte too
// small (guard bytes after them), and compressPhysical with ranges that
// overlap its own source or hash table. Every block must decode to its input
// with the native liblz4 addon as with ours, and (framed) with /usr/bin/lz4.
import { describe, expect, it, beforeAll } from "vitest";
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { type Lz4Codec, lz4Ready, compressBound, compressPhysical } from "../bindings/lz4.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { SCRATCH_LZ4_HASH } from "../bindings/layout.generated.js";
import { compressFrameSync } from "../src/lz4/frame.js";
import { loadNodeLz4 } from "./fuzz/lz4-diff.js";
import { errorCode } from "./helpers.js";

const native = loadNodeLz4().lib;
let lz: Lz4Codec;
beforeAll(async () => { lz = await lz4Ready(); });

/** liblz4's verdict on a block: the decoded bytes, or null. */
function nativeDecode(block: Uint8Array, size: number): Buffer | null {
  const dst = Buffer.alloc(size + 64);
  const n = native!.decodeBlock(Buffer.from(block), dst);
  return n < 0 ? null : dst.subarray(0, n);
}
const same = (a: Uint8Array, b: Uint8Array | null): boolean => b !== null && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** Data made of segments aimed at the compressor's decisions. */
type Seg = { k: "lit"; n: number; seed: number } | { k: "copy"; back: number; n: number } | { k: "run"; b: number; n: number };
const seg: fc.Arbitrary<Seg> = fc.oneof(
  fc.record({ k: fc.constant("lit" as const), n: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(14, 15, 16, 269, 270, 271, 524, 525), fc.integer({ min: 0, max: 3000 })), seed: fc.nat() }),
  fc.record({ k: fc.constant("copy" as const), back: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constantFrom(65534, 65535, 65536, 65537), fc.integer({ min: 1, max: 70000 })), n: fc.oneof(fc.integer({ min: 4, max: 24 }), fc.constantFrom(18, 19, 20, 273, 274, 275), fc.integer({ min: 4, max: 5000 })) }),
  fc.record({ k: fc.constant("run" as const), b: fc.constantFrom(0, 0xff, 0x41), n: fc.integer({ min: 1, max: 2000 }) }),
);
function build(segs: Seg[], cap = 200_000): Uint8Array {
  const out = new Uint8Array(cap);
  let n = 0;
  for (const s of segs) {
    if (s.k === "lit") {
      let x = s.seed >>> 0 || 1;
      for (let i = 0; i < s.n && n < cap; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[n++] = x & 255; }
    } else if (s.k === "run") {
      for (let i = 0; i < s.n && n < cap; i++) out[n++] = s.b;
    } else if (s.back <= n) {
      for (let i = 0; i < s.n && n < cap; i++) { out[n] = out[n - s.back]!; n++; }
    }
  }
  return out.slice(0, n);
}

const OPTIONS = [undefined, { acceleration: 1 }, { acceleration: 2 }, { acceleration: 9 }, { acceleration: 65537 }, { level: 3 }, { level: 9 }, { level: 12 }] as const;

describe.skipIf(native === undefined)("the compressor against liblz4's decoder", () => {
  it("structured inputs (fast-check): every acceleration and HC level decodes back with liblz4 and ours, within compressBound", () => {
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 40 }), fc.nat({ max: OPTIONS.length - 1 }), (segs, o) => {
      const src = build(segs);
      const opt = OPTIONS[o];
      const block = lz.compressBlock(src, opt);
      expect(block.length).toBeLessThanOrEqual(compressBound(src.length));
      expect(same(src, nativeDecode(block, src.length)), `native, ${JSON.stringify(opt)}, ${src.length} B`).toBe(true);
      expect(same(src, lz.decompressBlock(block, { exactSize: src.length }))).toBe(true);
    }), { numRuns: 400, seed: 20261202 });
  });

  it("every size 0..40, and around 4 KiB, 64 KiB (the u16 hash limit) and 128 KiB, of zeros, noise, a period-3 pattern and text", () => {
    const sizes = [...Array(41).keys()];
    for (const c of [4096, 65536, 65547, 131072]) for (let d = -13; d <= 13; d++) sizes.push(c + d);
    const fill = [
      (n: number) => new Uint8Array(n),
      (n: number) => build([{ k: "lit", n, seed: n + 1 }]),
      (n: number) => Uint8Array.from({ length: n }, (_, i) => [7, 8, 9][i % 3]!),
      (n: number) => Uint8Array.from({ length: n }, (_, i) => 97 + ((i * 7) % 13) + (i % 101 === 0 ? 1 : 0)),
    ];
    const bad: string[] = [];
    // HC on the big sizes takes seconds each (the fast-check case covers HC up to 200 KB).
    const big = [undefined, { acceleration: 2 }, { acceleration: 65537 }] as const;
    for (const n of sizes) for (const [f, make] of fill.entries()) for (const opt of n > 5000 ? big : OPTIONS) {
      const src = make(n);
      const block = lz.compressBlock(src, opt);
      if (block.length > compressBound(n) || !same(src, nativeDecode(block, n))) bad.push(`${n}/${f}/${JSON.stringify(opt)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("compressBlockInto with every capacity from 0 to the block's size + 1: 0 or a whole valid block, never a byte past the capacity", () => {
    const src = build([{ k: "lit", n: 300, seed: 3 }, { k: "copy", back: 300, n: 700 }, { k: "lit", n: 50, seed: 4 }, { k: "run", b: 0, n: 300 }]);
    const full = lz.compressBlock(src);
    for (const opt of [undefined, { acceleration: 3 }, { level: 9 }] as const) {
      const want = lz.compressBlock(src, opt).length;
      for (let cap = 0; cap <= full.length + 1; cap++) {
        const buf = new Uint8Array(cap + 32).fill(0xa5);
        const n = lz.compressBlockInto(src, buf.subarray(0, cap), opt);
        expect(buf.subarray(cap).every((b) => b === 0xa5), `guard at cap ${cap}`).toBe(true);
        if (n === 0) { expect(cap).toBeLessThan(want); continue; }
        expect(n).toBeLessThanOrEqual(cap);
        expect(same(src, nativeDecode(buf.subarray(0, n), src.length)), `cap ${cap}`).toBe(true);
      }
    }
  });
});

describe.skipIf(!existsSync("/usr/bin/lz4"))("framed, against lz4 -d", () => {
  it("structured inputs in a frame of 64 KiB blocks decode with /usr/bin/lz4", () => {
    const samples = fc.sample(fc.array(seg, { minLength: 5, maxLength: 60 }), { numRuns: 12, seed: 7 });
    for (const segs of samples) {
      const src = build(segs, 300_000);
      const f = compressFrameSync(lz, src, { blockSize: 65536 });
      const r = spawnSync("/usr/bin/lz4", ["-d", "-c"], { input: f, maxBuffer: 1 << 24 });
      expect(r.status).toBe(0);
      expect(same(src, r.stdout)).toBe(true);
    }
  });
});

describe.skipIf(native === undefined)("compressPhysical with ranges inside the memory that overlap", () => {
  // WAS A BUG (fixed by the lead: compressPhysical refuses overlapping ranges with EINVAL): any two ranges inside the memory are accepted, also a
  // destination over the source: the block is written over input not read yet and what comes out does
  // not decode to the source (or decodes to other bytes). Fix: refuse overlapping src/dst ranges with
  // EINVAL in compressPhysical (one compare), as liblz4 documents in-place compression unsupported.
  it("dst overlapping src is EINVAL or a block that decodes to the original source", async () => {
    const pm = await PhysicalMemory.create({ frames: 256, maxWorkers: 1 });
    const f = pm.allocFrame(), g = pm.allocFrame(), h = pm.allocFrame();
    expect([g, h]).toEqual([f + 1, f + 2]); // the destinations stay inside our three frames
    const at = pm.frameAddress(f);
    const src = build([{ k: "lit", n: 2000, seed: 9 }, { k: "copy", back: 1500, n: 800 }, { k: "lit", n: 1296, seed: 10 }]);
    const bad: string[] = [];
    for (const shift of [-64, -1, 0, 1, 16, 100]) {
      pm.u8.set(src, at);
      let n = -1;
      const code = errorCode(() => { n = compressPhysical(pm, at, 4096, at + shift + (shift < 0 ? 4096 : 0), 4200); });
      if (code === "EINVAL") continue;
      const block = pm.u8.slice(at + shift + (shift < 0 ? 4096 : 0), at + shift + (shift < 0 ? 4096 : 0) + n);
      if (!(n === 0 || same(src, nativeDecode(block, 4096)))) bad.push(`shift ${shift}: ${code}, n ${n}`);
    }
    expect(bad).toEqual([]);
    pm.detach();
  });

  // WAS A BUG (fixed: compressPhysical refuses ranges over the hash table with EINVAL): a destination over this thread's own hash table
  // (pm.scratch + SCRATCH_LZ4_HASH, 16 KiB) is accepted; the output overwrites the table while the
  // compressor reads it, candidates come from the block's own bytes, and the block returned does not
  // decode to the source (15 of 15 cases here). Fix: refuse (EINVAL) a dst range that overlaps
  // [pm.scratch + SCRATCH_LZ4_HASH, +16 KiB) (and src/dst overlap, above) in compressPhysical.
  it("dst over this thread's own hash table: no trap; the result is 0, EINVAL or a block that decodes to the source", async () => {
    const pm = await PhysicalMemory.create({ frames: 256, maxWorkers: 1 });
    const f = pm.allocFrame();
    const at = pm.frameAddress(f);
    const hash = pm.scratch + SCRATCH_LZ4_HASH;
    const bad: string[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const src = build([{ k: "lit", n: 600, seed }, { k: "copy", back: 500, n: 1500 }, { k: "lit", n: 900, seed: seed + 9 }, { k: "copy", back: 2000, n: 1096 }]);
      pm.u8.set(src, at);
      for (const off of [0, 1024, 8000]) {
        let n = -1;
        const code = errorCode(() => { n = compressPhysical(pm, at, 4096, hash + off, 4200); });
        if (code !== "no error") { if (code !== "EINVAL") bad.push(`${seed}/${off}: ${code}`); continue; }
        if (n !== 0 && !same(src, nativeDecode(pm.u8.slice(hash + off, hash + off + n), 4096))) bad.push(`${seed}/${off}: bad block of ${n}`);
      }
    }
    expect(bad).toEqual([]);
    pm.detach();
  });
});
