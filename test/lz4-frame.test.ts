// SPDX-License-Identifier: MIT
// LZ4 frame format: golden frames and blocks from the reference CLI, frames we
// write decoded by the CLI and the other way round, checksums, truncation,
// magic numbers, concatenated and skippable frames, Web Streams, xxHash32.
import { describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { type Lz4Codec, lz4Ready } from "../bindings/lz4.js";
import {
  compressFrame, decompressFrame, compressFrameSync, decompressFrameSync, createCompressStream, createDecompressStream,
  xxhash32, XxHash32, type FrameOptions,
} from "../src/lz4/index.js";
import { TmemError } from "../bindings/status.js";
import { SHAPES, type Shape, makeData, Rng } from "./fuzz/lz4-data.js";
import { rejectsWith, throwsWith } from "./helpers.js";

const FIX = (f: string): string => fileURLToPath(new URL(`./fixtures/lz4/${f}`, import.meta.url));
const LZ4_CLI = "/usr/bin/lz4";
const haveCli = existsSync(LZ4_CLI);
if (!haveCli) console.warn("lz4 frame tests: /usr/bin/lz4 is missing; CLI interop tests are skipped");

let lz4: Lz4Codec;
beforeAll(async () => {
  lz4 = await lz4Ready();
});

const equal = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length),
  Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

function cli(args: string[], input: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(LZ4_CLI, ["-q", ...args], { input, maxBuffer: 1 << 28 }));
}

async function streamThrough(ts: TransformStream<Uint8Array, Uint8Array>, data: Uint8Array, rng: Rng): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const writer = ts.writable.getWriter();
  const reading = (async () => {
    const reader = ts.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
    }
  })();
  const writing = (async () => {
    let i = 0;
    while (i < data.length) {
      const n = Math.min(data.length - i, 1 + rng.int(rng.int(2) ? 300 : 200_000));
      await writer.write(data.slice(i, i + n));
      i += n;
    }
    await writer.close();
  })();
  // Both sides reject on a decode error: wait for both, so neither is unhandled.
  await Promise.all([writing, reading]);
  return Buffer.concat(chunks);
}

interface Manifest {
  frames: { file: string; input: string; flags: string[] }[];
  blocks: { file: string; input: string; offset: number; length: number }[];
}
const manifest = JSON.parse(readFileSync(FIX("manifest.json"), "utf8")) as Manifest;

describe("golden fixtures from the reference lz4 CLI", () => {
  it("every committed frame decodes to its input, one-shot and streamed in random chunks", async () => {
    expect(manifest.frames.length).toBeGreaterThanOrEqual(10);
    const rng = new Rng(5);
    for (const f of manifest.frames) {
      const frame = new Uint8Array(readFileSync(FIX(f.file)));
      const input = new Uint8Array(readFileSync(FIX(f.input)));
      expect(equal(await decompressFrame(frame), input), f.file).toBe(true);
      expect(equal(await streamThrough(createDecompressStream(), frame, rng), input), f.file).toBe(true);
    }
  });

  it("every committed raw block decodes exactly to its slice of the input", () => {
    expect(manifest.blocks.length).toBeGreaterThan(0);
    for (const b of manifest.blocks) {
      const block = new Uint8Array(readFileSync(FIX(b.file)));
      const input = new Uint8Array(readFileSync(FIX(b.input)));
      const out = lz4.decompressBlock(block, { exactSize: b.length });
      expect(equal(out, input.subarray(b.offset, b.offset + b.length)), b.file).toBe(true);
    }
  });
});

describe("frames we write", () => {
  const variants: FrameOptions[] = [
    {}, { linked: true }, { blockSize: 262144, blockChecksum: true }, { blockSize: 1 << 20, linked: true, contentSize: true },
    { blockSize: 7, contentChecksum: false, blockChecksum: true, linked: true }, { acceleration: 9 },
  ];

  it.skipIf(!haveCli)("decode with the reference lz4 CLI, every block size, linked or not, with or without checksums", async () => {
    for (const [k, opts] of variants.entries()) {
      for (const shape of ["text", "corpus", "random", "zeros"] as Shape[]) {
        const data = makeData(shape, 300_000 + k * 1000, k);
        const frame = await compressFrame(data, opts);
        expect(equal(cli(["-d", "-c"], frame), data), `${shape} ${JSON.stringify(opts)}`).toBe(true);
      }
    }
    expect(cli(["-d", "-c"], await compressFrame(new Uint8Array(0))).length).toBe(0);
  });

  it("round-trip through our decoder for random data, sizes and options (fast-check)", () => {
    fc.assert(fc.property(fc.constantFrom(...SHAPES), fc.integer({ min: 0, max: 600_000 }), fc.integer(),
      fc.record({
        blockSize: fc.constantFrom(65536, 262144, 1 << 20, 4 << 20), linked: fc.boolean(), blockChecksum: fc.boolean(),
        contentChecksum: fc.boolean(), contentSize: fc.boolean(), acceleration: fc.integer({ min: 1, max: 20 }),
      }),
      (shape: Shape, n: number, seed: number, opts: FrameOptions) => {
        const data = makeData(shape, n, seed);
        expect(equal(decompressFrameSync(lz4, compressFrameSync(lz4, data, opts)), data)).toBe(true);
      }), { numRuns: 60, seed: 42 });
  });

  it("streams: compress stream → decompress stream in random chunks equals the input, and matches lz4 -d", async () => {
    const rng = new Rng(77);
    for (const opts of [{}, { linked: true, blockChecksum: true }, { blockSize: 262144, contentSize: 250_001 }] as FrameOptions[]) {
      const data = makeData("mixed", 250_001, 3);
      const frame = await streamThrough(createCompressStream(opts), data, rng);
      expect(equal(await streamThrough(createDecompressStream(), frame, rng), data)).toBe(true);
      if (haveCli) expect(equal(cli(["-d", "-c"], frame), data)).toBe(true);
    }
  });

  it("bad options throw EINVAL", async () => {
    throwsWith(() => createCompressStream({ blockSize: 1000 }), "EINVAL");
    throwsWith(() => createCompressStream({ contentSize: true }), "EINVAL");
    await rejectsWith(compressFrame(new Uint8Array(4), { acceleration: 0 }), "EINVAL");
    await rejectsWith(compressFrame("x" as unknown as Uint8Array), "EINVAL");
    throwsWith(() => compressFrameSync(lz4, new Uint8Array(4), { contentSize: -1 }), "EINVAL");
  });
});

describe("frames the reference CLI writes", () => {
  it.skipIf(!haveCli)("decode with ours: -B4 … -B7, -BD or independent, -BX, --no-frame-crc, --content-size", async () => {
    const data = makeData("corpus", 5_000_000, 12);
    for (const b of ["-B4", "-B5", "-B6", "-B7"]) {
      for (const extra of [[], ["-BD"], ["-BX"], ["--no-frame-crc"], ["--content-size", "-BD", "-BX"]]) {
        const frame = cli(["-c", b, ...extra], data);
        expect(equal(decompressFrameSync(lz4, frame), data), `${b} ${extra.join(" ")}`).toBe(true);
      }
    }
  });
});

describe("malformed frames are EBADMSG", () => {
  const data = makeData("text", 150_000, 8);
  let frame: Uint8Array;
  beforeAll(() => {
    frame = compressFrameSync(lz4, data, { blockChecksum: true, contentSize: true });
  });
  const expectBad = (f: Uint8Array, re: RegExp = /EBADMSG/): void => {
    let err: unknown;
    try {
      decompressFrameSync(lz4, f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("EBADMSG");
    expect(String((err as Error).message)).toMatch(re);
  };

  it("a bad content checksum", () => {
    const f = compressFrameSync(lz4, data);
    f[f.length - 1]! ^= 1;
    expectBad(f, /content checksum/);
  });
  it("a bad block checksum", () => {
    const f = frame.slice();
    // First block: after the 15-byte header (magic, FLG, BD, 8-byte size, HC).
    const len = f[15]! | (f[16]! << 8) | (f[17]! << 16);
    f[19 + len]! ^= 0x80;
    expectBad(f, /block checksum/);
  });
  it("a bad header checksum", () => {
    const f = frame.slice();
    f[14]! ^= 0xff;
    expectBad(f, /header checksum/);
  });
  it("a corrupted block without checksums", () => {
    const f = compressFrameSync(lz4, data, { contentChecksum: false });
    f[11] = 0xff; // the first block's data: a token with huge lengths
    f[12] = 0xff;
    expectBad(f);
  });
  it("every truncation of a frame", () => {
    const small = compressFrameSync(lz4, makeData("text", 70_000, 1), { blockChecksum: true });
    for (let n = 1; n < small.length; n += n < 64 ? 1 : 97) expectBad(small.subarray(0, n));
    expectBad(small.subarray(0, small.length - 1), /truncated/);
  });
  it("an unknown magic and trailing garbage (an empty input is empty content, as for lz4 -d)", () => {
    expectBad(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), /magic/);
    const f = compressFrameSync(lz4, data);
    expectBad(Buffer.concat([f, Buffer.from([0x04, 0x22, 0x4d, 0x19])]), /magic/);
    expectBad(Buffer.concat([f, Buffer.from([0x04, 0x22])]), /truncated/);
    expect(decompressFrameSync(lz4, new Uint8Array(0)).length).toBe(0);
  });
  it("a content size that disagrees with the content", () => {
    const f = compressFrameSync(lz4, data, { contentSize: true });
    f[6]! ^= 1; // low byte of the content size
    f[14] = (xxhash32(f.subarray(4, 14)) >>> 8) & 0xff; // keep the header checksum valid
    expectBad(f, /content/);
  });
  it("reserved bits and bad block size ids", () => {
    const f = compressFrameSync(lz4, data);
    const g = f.slice();
    g[5] = 0x30; // block size id 3
    g[6] = (xxhash32(g.subarray(4, 6)) >>> 8) & 0xff;
    expectBad(g, /block size/);
    const h = f.slice();
    h[4]! |= 0x02;
    h[6] = (xxhash32(h.subarray(4, 6)) >>> 8) & 0xff;
    expectBad(h, /reserved/);
  });
  it("the stream decoder errors the same way", async () => {
    const f = compressFrameSync(lz4, data);
    f[f.length - 2]! ^= 1;
    await rejectsWith(streamThrough(createDecompressStream(), f, new Rng(1)), "EBADMSG");
    await rejectsWith(streamThrough(createDecompressStream(), f.subarray(0, 100), new Rng(1)), "EBADMSG");
  });
});

describe("concatenated and skippable frames", () => {
  it("are joined and skipped, in one shot and streamed", async () => {
    const a = makeData("text", 90_000, 1), b = makeData("records", 10_000, 2);
    const skip = (magicLow: number, n: number): Uint8Array => {
      const s = new Uint8Array(8 + n).fill(0xee);
      new DataView(s.buffer).setUint32(0, 0x184d2a50 + magicLow, true);
      new DataView(s.buffer).setUint32(4, n, true);
      return s;
    };
    const all = Buffer.concat([skip(0, 5), await compressFrame(a), skip(15, 0), await compressFrame(b, { linked: true }),
      ...(haveCli ? [cli(["-c", "-BD"], a)] : []), skip(7, 3000)]);
    const want = Buffer.concat([a, b, ...(haveCli ? [a] : [])]);
    expect(equal(await decompressFrame(all), want)).toBe(true);
    expect(equal(await streamThrough(createDecompressStream(), all, new Rng(3)), want)).toBe(true);
    if (haveCli) expect(equal(cli(["-d", "-c"], all), want)).toBe(true);
  });
});

describe("xxHash32", () => {
  it("matches the specification's value for empty input and the native xxhash addon on random input", () => {
    expect(xxhash32(new Uint8Array(0))).toBe(0x02cc5d05);
    let native: { xxHash(b: Buffer, seed: number): number } | undefined;
    try {
      native = createRequire(import.meta.url)("lz4/build/Release/xxhash.node") as typeof native;
    } catch {
      console.warn("xxHash32 test: the lz4 addon's native xxhash is missing; compared with the CLI's checksums only");
    }
    const rng = new Rng(9);
    for (let k = 0; k < 200; k++) {
      const b = new Uint8Array(rng.int(k < 100 ? 64 : 5000));
      for (let i = 0; i < b.length; i++) b[i] = rng.u32();
      const seed = k % 3 === 0 ? rng.u32() : 0;
      const h = xxhash32(b, seed);
      if (native) expect(h).toBe(native.xxHash(Buffer.from(b), seed) >>> 0);
      const s = new XxHash32(seed);
      let i = 0;
      while (i < b.length) {
        const n = rng.int(40);
        s.update(b.subarray(i, i + n));
        i += n;
      }
      expect(s.digest()).toBe(h);
    }
  });
});
