// SPDX-License-Identifier: MIT
// LZ4 against the reference, case by case: mutated blocks decoded by ours and
// by liblz4 (the `lz4` addon), mutated frames by ours and by `lz4 -d`; same
// verdict, same bytes where both succeed, and only the documented
// disagreements (test/fuzz/lz4-diff.ts). Then the frame rules the
// differential run found or the issue named: content size 0, legacy frames,
// DictID frames, and the expansion limit (a small decompression bomb).
import { describe, expect, it, beforeAll } from "vitest";
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { type Lz4Codec, lz4Ready } from "../bindings/lz4.js";
import {
  compressFrameSync, decompressFrame, decompressFrameSync, createDecompressStream, FrameDecoder, xxhash32,
  DEFAULT_MAX_OUTPUT, LZ4_LEGACY_MAGIC,
} from "../src/lz4/index.js";
import { TmemError } from "../bindings/status.js";
import { Lz4Differ, LZ4_CLI, emptyDiffReport, loadNodeLz4 } from "./fuzz/lz4-diff.js";
import { makeData } from "./fuzz/lz4-data.js";
import { throwsWith } from "./helpers.js";

const { lib: nodeLz4, why } = loadNodeLz4();
if (!nodeLz4) console.warn(`lz4 differential: the lz4 addon cannot load (${why}); block cases skipped`);
const haveCli = existsSync(LZ4_CLI);
if (!haveCli) console.warn("lz4 differential: /usr/bin/lz4 is missing; frame cases skipped");

let lz4: Lz4Codec;
beforeAll(async () => {
  lz4 = await lz4Ready();
});

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof TmemError) return e.code;
    throw e;
  }
  return "ok";
};

function cliDecode(frame: Uint8Array): { ok: boolean; out: Buffer } {
  const r = spawnSync(LZ4_CLI, ["-d", "-c", "-q"], { input: frame, maxBuffer: 1 << 28 });
  return { ok: r.status === 0, out: r.stdout };
}

describe("differential: ours and the reference on mutated input", () => {
  it.skipIf(!nodeLz4)("60,000 mutated and synthesized blocks: same verdict as liblz4's LZ4_decompress_safe, same bytes", async () => {
    const d = await Lz4Differ.create(nodeLz4!, lz4, 0x5eed15);
    try {
      const rep = d.run(60_000, 0, emptyDiffReport());
      expect(rep.mismatches).toEqual([]);
      expect(rep.blocks).toBe(60_000);
      // Both sides must really be exercised: many accepted, many rejected.
      expect(rep.bothOk).toBeGreaterThan(6000);
      expect(rep.bothBad).toBeGreaterThan(30_000);
    } finally {
      d.dispose();
    }
  });

  it.skipIf(!nodeLz4 || !haveCli)("150 mutated frames: same verdict as lz4 -d, same content", async () => {
    const d = await Lz4Differ.create(nodeLz4!, lz4, 0xf4a3e5);
    try {
      const rep = d.run(0, 150, emptyDiffReport());
      expect(rep.mismatches).toEqual([]);
      expect(rep.frames).toBe(150);
      expect(rep.framesOk).toBeGreaterThan(20);
    } finally {
      d.dispose();
    }
  });

  it.skipIf(!nodeLz4)("offset 0: liblz4 decodes it (as zeros), ours rejects it at the offset, as the block format says", () => {
    // 5 literals, a match of 4 with offset 0, then 8 literals to end the block.
    const block = new Uint8Array([0x50, 1, 2, 3, 4, 5, 0, 0, 0x80, 1, 2, 3, 4, 5, 6, 7, 8]);
    const out = Buffer.alloc(100);
    expect(nodeLz4!.decodeBlock(Buffer.from(block), out)).toBe(17);
    expect(Buffer.from(out.subarray(5, 9)).equals(Buffer.alloc(4))).toBe(true);
    expect(throwsWith(() => lz4.decompressBlock(block, 100), "EBADMSG").message).toContain("at byte 6 of 17");
    // Offset 1 in the same place is valid for both.
    block[6] = 1;
    expect(nodeLz4!.decodeBlock(Buffer.from(block), out)).toBe(17);
    expect(Buffer.from(lz4.decompressBlock(block, 100)).equals(out.subarray(0, 17))).toBe(true);
  });

  it.skipIf(!nodeLz4)("the end rules: a block ending in a match and a bare token is accepted or refused as liblz4 does, by capacity", () => {
    // 20 literals, match (offset 20, length 4), then a token with no literals:
    // the last 5 bytes are not literals. liblz4 accepts this in its wide loop
    // (capacity ≥ 64 past the match) and refuses it near the end.
    const lits = Array.from({ length: 20 }, (_, i) => 65 + i);
    const block = new Uint8Array([0xf0, 5, ...lits, 20, 0, 0x00]);
    for (const cap of [24, 30, 40, 63, 64, 87, 88, 89, 100, 1000]) {
      const out = Buffer.alloc(cap);
      const ref = nodeLz4!.decodeBlock(Buffer.from(block), out);
      const ours = codeOf(() => lz4.decompressBlock(block, cap));
      expect(ours === "ok", `cap ${cap}: reference ${ref}`).toBe(ref >= 0);
    }
  });
});

describe("frame rules matched to lz4 -d", () => {
  const data = makeData("text", 70_000, 3);

  /** A frame with a content size field of `size` (header checksum fixed). */
  function withContentSize(size: number): Uint8Array {
    const f = compressFrameSync(lz4, data, { contentSize: true });
    const v = new DataView(f.buffer, f.byteOffset);
    v.setUint32(6, size % 2 ** 32, true);
    v.setUint32(10, Math.floor(size / 2 ** 32), true);
    f[14] = (xxhash32(f.subarray(4, 14)) >>> 8) & 0xff;
    return f;
  }

  it("a content size of 0 means unknown: the frame decodes (lz4 -d agrees)", () => {
    const f = withContentSize(0);
    expect(Buffer.from(decompressFrameSync(lz4, f)).equals(Buffer.from(data))).toBe(true);
    if (haveCli) expect(cliDecode(f).out.equals(Buffer.from(data))).toBe(true);
    // Any other wrong size is still refused, by both.
    const g = withContentSize(data.length + 1);
    expect(codeOf(() => decompressFrameSync(lz4, g))).toBe("EBADMSG");
    if (haveCli) expect(cliDecode(g).ok).toBe(false);
  });

  it.skipIf(!haveCli)("legacy frames (lz4 -l): decoded one-shot and streamed, concatenated with modern frames, and truncated ones refused", async () => {
    const big = makeData("mixed", 9 << 20, 4); // more than one 8 MiB legacy block
    const leg = new Uint8Array(spawnSync(LZ4_CLI, ["-l", "-c", "-q"], { input: big, maxBuffer: 1 << 28 }).stdout);
    expect(new DataView(leg.buffer, leg.byteOffset).getUint32(0, true)).toBe(LZ4_LEGACY_MAGIC);
    expect(Buffer.from(await decompressFrame(leg)).equals(Buffer.from(big))).toBe(true);
    const small = makeData("text", 5000, 1);
    const both = Buffer.concat([leg, compressFrameSync(lz4, small), leg.subarray(0, 200_000 + 4), ]);
    // legacy + frame + a legacy stream cut in a block: the CLI refuses, so do we.
    expect(cliDecode(both).ok).toBe(false);
    expect(codeOf(() => decompressFrameSync(lz4, both))).toBe("EBADMSG");
    const good = Buffer.concat([leg, compressFrameSync(lz4, small), leg]);
    const want = Buffer.concat([big, small, big]);
    expect(cliDecode(good).out.equals(want)).toBe(true);
    const dec = new FrameDecoder(lz4);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < good.length; i += 777_777) parts.push(...dec.push(good.subarray(i, i + 777_777)));
    dec.finish();
    expect(Buffer.concat(parts).equals(want)).toBe(true);
    expect(dec.frames).toBe(3);
  });

  it("a frame with a DictID decodes without the dictionary when no block needs it (as lz4 -d does)", () => {
    const f = compressFrameSync(lz4, data, { contentChecksum: true });
    // Insert a DictID (4 bytes) after BD and set FLG bit 0; fix the header checksum.
    const g = new Uint8Array(f.length + 4);
    g.set(f.subarray(0, 6));
    g[4]! |= 0x01;
    g.set([1, 2, 3, 4], 6);
    g[10] = (xxhash32(g.subarray(4, 10)) >>> 8) & 0xff;
    g.set(f.subarray(7), 11);
    expect(Buffer.from(decompressFrameSync(lz4, g)).equals(Buffer.from(data))).toBe(true);
    if (haveCli) expect(cliDecode(g).out.equals(Buffer.from(data))).toBe(true);
  });
});

describe("the expansion limit (maxOutput)", () => {
  // 8 frames of 16 MiB of zeros: ~0.5 MB of input, 128 MiB of content.
  let bomb: Uint8Array;
  beforeAll(() => {
    const one = compressFrameSync(lz4, new Uint8Array(16 << 20), { blockSize: 4 << 20 });
    bomb = Buffer.concat(Array.from({ length: 8 }, () => one));
  });

  it("a small bomb fails with E2BIG under a limit, before it is decoded whole, and decodes under a larger one", async () => {
    expect(bomb.length).toBeLessThan(600_000);
    const rss0 = process.memoryUsage().rss;
    let err: unknown;
    try {
      await decompressFrame(bomb, { maxOutput: 20 << 20 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("E2BIG");
    expect(String(err)).toMatch(/maxOutput \(20971520 bytes\)/);
    // It stopped at the limit: far less than the 128 MiB it would have made (plus copies).
    expect(process.memoryUsage().rss - rss0).toBeLessThan(100 << 20);
    expect((await decompressFrame(bomb, { maxOutput: 128 << 20 })).length).toBe(128 << 20);
    expect(codeOf(() => decompressFrameSync(lz4, bomb, { maxOutput: (128 << 20) - 1 }))).toBe("E2BIG");
  });

  it("the one-shot default is 256 MiB; a declared content size over the limit fails at the header", () => {
    expect(DEFAULT_MAX_OUTPUT).toBe(256 << 20);
    const f = compressFrameSync(lz4, new Uint8Array(1 << 20), { contentSize: true });
    const dec = new FrameDecoder(lz4, { maxOutput: 1000 });
    let err: unknown;
    try {
      dec.push(f.subarray(0, 15)); // the header only
    } catch (e) {
      err = e;
    }
    expect((err as TmemError).code).toBe("E2BIG");
    expect(String(err)).toMatch(/declares 1048576 bytes/);
  });

  it("the stream decoder takes maxOutput too, and errors instead of passing it", async () => {
    const ts = createDecompressStream({ maxOutput: 10 << 20 });
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    let got = 0;
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        got += value.length;
      }
    })();
    const writing = (async () => {
      await writer.write(bomb);
      await writer.close();
    })();
    const results = await Promise.allSettled([writing, reading]);
    const reason = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    expect((reason?.reason as TmemError | undefined)?.code).toBe("E2BIG");
    expect(got).toBeLessThanOrEqual(10 << 20);
  });

  it("bad maxOutput values and unknown decoder options are EINVAL", () => {
    expect(codeOf(() => decompressFrameSync(lz4, bomb, { maxOutput: -1 }))).toBe("EINVAL");
    expect(codeOf(() => decompressFrameSync(lz4, bomb, { maxOutput: 1.5 }))).toBe("EINVAL");
    expect(codeOf(() => decompressFrameSync(lz4, bomb, { maxOuput: 5 } as unknown as { maxOutput: number }))).toBe("EINVAL");
    throwsWith(() => createDecompressStream({ maxOutput: Number.NaN }), "EINVAL");
  });
});
