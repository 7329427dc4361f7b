// SPDX-License-Identifier: MIT
// The LZ4 decoder's copy paths, one by one, on blocks built sequence by
// sequence (not by our compressor, which never emits some shapes): short
// literal runs with short matches at offsets 1-7 (the period pattern),
// 8-15 and ≥ 16, long matches at every offset class (the wide 32-byte
// copies), long literal runs, and the hand-over to the exact tail near the
// end of the destination. Each block is decoded into physical memory at
// its exact size and with slack, with guard bytes after the capacity:
// the content must equal a byte-by-byte reference decode, nothing past
// dst + dstCap may change, and liblz4 (the `lz4` addon, when it loads)
// must give the same verdict and bytes.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decompressPhysical } from "../bindings/lz4.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import { loadNodeLz4 } from "./fuzz/lz4-diff.js";

const { lib: nodeLz4 } = loadNodeLz4();

/** One sequence: literal bytes, then a match (absent for the last one). */
interface Seq { lits: number; ml: number; offset: number }

/** The shapes the decoder tells apart. */
const OFFSET_CLASSES = [[1, 1], [2, 7], [8, 15], [16, 31], [32, 300]] as const;

const seqArb = fc.record({
  lits: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 14 }) }, { weight: 1, arbitrary: fc.integer({ min: 15, max: 300 }) }),
  ml: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 4, max: 18 }) }, { weight: 2, arbitrary: fc.integer({ min: 19, max: 600 }) }),
  cls: fc.integer({ min: 0, max: OFFSET_CLASSES.length - 1 }),
  r: fc.integer({ min: 0, max: 1 << 30 }),
});

/** Write a length's extension bytes (value - 15 as 255… + rest). */
function pushLength(out: number[], rest: number): void {
  while (rest >= 255) {
    out.push(255);
    rest -= 255;
  }
  out.push(rest);
}

/**
 * Build a valid block from sequences (offsets clipped to the output so
 * far; a match that would break the end rules is dropped) and its content.
 */
function build(raw: { lits: number; ml: number; cls: number; r: number }[], lastLits: number, seed: number): { block: Uint8Array; content: Uint8Array } {
  let x = seed >>> 0;
  const byte = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 24;
  };
  const seqs: Seq[] = [];
  let size = 0;
  for (const s of raw) {
    const [lo, hi] = OFFSET_CLASSES[s.cls]!;
    const avail = size + s.lits;
    if (avail < 1) {
      seqs.push({ lits: s.lits, ml: 0, offset: 0 });
      size += s.lits;
      continue;
    }
    const offset = Math.min(avail, lo + (s.r % (hi - lo + 1)));
    seqs.push({ lits: s.lits, ml: s.ml, offset });
    size += s.lits + s.ml;
  }
  // Sequences without a match (avail 0) become literals of the next one.
  const bytes: number[] = [];
  const content: number[] = [];
  let pending = 0;
  const emit = (lits: number, ml: number, offset: number): void => {
    const token = (Math.min(lits, 15) << 4) | Math.min(ml - 4, 15);
    bytes.push(token);
    if (lits >= 15) pushLength(bytes, lits - 15);
    for (let i = 0; i < lits; i++) {
      const b = byte();
      bytes.push(b);
      content.push(b);
    }
    bytes.push(offset & 255, offset >> 8);
    if (ml - 4 >= 15) pushLength(bytes, ml - 4 - 15);
    for (let i = 0; i < ml; i++) content.push(content[content.length - offset]!);
  };
  for (const s of seqs) {
    if (s.ml === 0) {
      pending += s.lits;
      continue;
    }
    emit(pending + s.lits, s.ml, s.offset);
    pending = 0;
  }
  // The last sequence: literals only, ≥ 5 of them, and the last match must start ≥ 12 bytes before the end.
  let tail = pending + Math.max(lastLits, 12);
  const token = Math.min(tail, 15) << 4;
  bytes.push(token);
  if (tail >= 15) pushLength(bytes, tail - 15);
  while (tail-- > 0) {
    const b = byte();
    bytes.push(b);
    content.push(b);
  }
  return { block: Uint8Array.from(bytes), content: Uint8Array.from(content) };
}

const GUARD = 80;

describe("lz4 decoder copy paths", () => {
  it("blocks of every sequence shape decode to the reference bytes, at the exact size and with slack, writing nothing past dstCap", async () => {
    const pm = await PhysicalMemory.create({ frames: 128, maxWorkers: 1 });
    try {
      const base = pm.layout.framesBase;
      const src = base, dst = base + (32 << 12);
      const ref = Buffer.alloc(1 << 19);
      let runs = 0, slackRuns = 0;
      // The last match is a short one and the final literal run often the
      // shortest the end rules allow (12): where a wide copy would pass the
      // capacity if a margin were wrong.
      const endArb = fc.record({ lits: fc.integer({ min: 0, max: 14 }), ml: fc.integer({ min: 4, max: 8 }),
        cls: fc.integer({ min: 0, max: OFFSET_CLASSES.length - 1 }), r: fc.integer({ min: 0, max: 1 << 30 }) });
      const lastArb = fc.oneof(fc.constant(12), fc.integer({ min: 12, max: 40 }));
      fc.assert(fc.property(fc.array(seqArb, { minLength: 0, maxLength: 400 }), endArb, lastArb, fc.integer(),
        fc.integer({ min: 0, max: 200 }), (raw, end, lastLits, seed, slack) => {
          const { block, content } = build([...raw, end], lastLits, seed);
          pm.u8.set(block, src);
          for (const cap of [content.length, content.length + slack]) {
            pm.u8.fill(0x5a, dst, dst + cap + GUARD);
            let n: number | string;
            try {
              n = decompressPhysical(pm, src, block.length, dst, cap);
            } catch (e) {
              n = e instanceof TmemError ? e.code : String(e);
            }
            expect(n, `cap ${cap} of ${content.length}, ${block.length}-byte block`).toBe(content.length);
            expect(Buffer.compare(pm.u8.subarray(dst, dst + content.length), content)).toBe(0);
            for (let i = dst + cap; i < dst + cap + GUARD; i++) if (pm.u8[i] !== 0x5a) expect.fail(`byte ${i - dst} written, capacity ${cap}`);
            if (nodeLz4) expect(nodeLz4.decodeBlock(Buffer.from(block), ref.subarray(0, cap)), `liblz4, cap ${cap}`).toBe(content.length);
            runs++;
            if (cap > content.length) slackRuns++;
          }
        }), { numRuns: 600, seed: 0xc0b1 });
      expect(runs).toBe(1200);
      expect(slackRuns).toBeGreaterThan(500);
    } finally {
      pm.detach();
    }
  });
});
