// SPDX-License-Identifier: MIT
// Attacks on the LZ4 decoders (the attacker's pass over the decoder's
// strictness and maxOutput): frames made to expand (concatenated zero frames,
// a header that declares petabytes, legacy frames), frames cut at every byte
// or followed by garbage, blocks with offsets and lengths that point outside,
// and limits given as NaN, negative, fractional, strings or null. Each must
// end in one TmemError (E2BIG before the limit is passed, EBADMSG, EINVAL),
// never in a hang, a trap, an out-of-memory or a silently accepted default.
import { describe, expect, it } from "vitest";
import { lz4Ready } from "../bindings/lz4.js";
import { compressFrame, decompressFrame, FrameDecoder } from "../src/lz4/frame.js";
import { xxhash32 } from "../src/lz4/xxhash32.js";
import { errorCode, errorCodeAsync } from "./helpers.js";
import { corpusPage, loadCorpus } from "./helpers.js";

/** A frame header: magic, FLG (version 01, independent blocks, content size when given), BD (4 MiB), HC. */
function header(contentSize?: bigint): Uint8Array {
  const flg = 0x60 | (contentSize !== undefined ? 0x08 : 0);
  const h = [0x04, 0x22, 0x4d, 0x18, flg, 0x70];
  if (contentSize !== undefined) for (let i = 0n; i < 8n; i++) h.push(Number((contentSize >> (8n * i)) & 0xffn));
  const desc = Uint8Array.from(h.slice(4));
  h.push((xxhash32(desc) >>> 8) & 0xff);
  return Uint8Array.from(h);
}

describe("frames made to expand", () => {
  it("100 concatenated 4 MiB zero frames stop at maxOutput with E2BIG, long before 400 MiB are held", async () => {
    const one = await compressFrame(new Uint8Array(4 << 20), { blockSize: 4 << 20 });
    expect(one.length).toBeLessThan(20_000);
    const bomb = Buffer.concat(new Array(100).fill(one));
    const t0 = performance.now();
    expect(await errorCodeAsync(() => decompressFrame(bomb, { maxOutput: 8 << 20 }))).toBe("E2BIG");
    expect(performance.now() - t0).toBeLessThan(5000);
    // Exactly at the limit is fine.
    expect((await decompressFrame(Buffer.concat([one, one]), { maxOutput: 8 << 20 })).length).toBe(8 << 20);
  });

  it("a header that declares 2^60 bytes is E2BIG at the header, before any block is read", async () => {
    const f = Buffer.concat([header(1n << 60n), Buffer.from([0, 0, 0, 0])]);
    expect(await errorCodeAsync(() => decompressFrame(f))).toBe("E2BIG");
    expect(await errorCodeAsync(() => decompressFrame(f, { maxOutput: Infinity }))).toBe("EBADMSG");
  });

  it("a streaming decoder with a limit refuses the block that passes it and returns nothing of it", async () => {
    const one = await compressFrame(new Uint8Array(1 << 20));
    const dec = new FrameDecoder(await lz4Ready(), { maxOutput: (1 << 20) + 10 });
    let got = 0;
    for (const p of dec.push(one)) got += p.length;
    expect(got).toBe(1 << 20);
    expect(errorCode(() => dec.push(one))).toBe("E2BIG");
  });
});

describe("frames that end oddly", () => {
  it("every cut of a real frame is EBADMSG (never accepted short, never a raw error); 1..4 bytes of garbage after it are EBADMSG", async () => {
    const corpus = await loadCorpus("file");
    const data = Buffer.concat([corpusPage(corpus, 0), corpusPage(corpus, 1), corpusPage(corpus, 2)]);
    for (const opts of [{}, { blockChecksum: true, contentSize: true }, { linked: true, contentChecksum: false }]) {
      const f = await compressFrame(data, { blockSize: 65536, ...opts });
      expect(Buffer.compare(Buffer.from(await decompressFrame(f)), data)).toBe(0);
      for (let cut = 1; cut < f.length; cut++) {
        const code = await errorCodeAsync(() => decompressFrame(f.subarray(0, cut)));
        // A frame without a content checksum is complete at its end mark, 4 bytes before its end.
        if (code === "no error") expect(cut).toBe(f.length);
        else expect(code, `cut at ${cut} of ${f.length}`).toBe("EBADMSG");
      }
      for (const tail of [[1], [0, 0], [1, 2, 3], [0, 0, 0, 0], [0x04, 0x22, 0x4d, 0x18]]) {
        expect(await errorCodeAsync(() => decompressFrame(Buffer.concat([f, Buffer.from(tail)]))), `tail ${tail}`).toBe("EBADMSG");
      }
    }
  });

  it("a block length past the frame's block size, a skippable frame cut short and a legacy block past 8 MiB are EBADMSG", async () => {
    const tooBig = Buffer.concat([header(), Buffer.from([0x01, 0x00, 0x41, 0x00])]); // 4 MiB + 1
    expect(await errorCodeAsync(() => decompressFrame(tooBig))).toBe("EBADMSG");
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    expect(await errorCodeAsync(() => decompressFrame(skippable))).toBe("EBADMSG");
    // Legacy frame with one block whose length word is valid but whose bytes expand past 8 MiB.
    const codec = await lz4Ready();
    const big = codec.compressBlock(new Uint8Array((8 << 20) + 4096));
    const legacy = Buffer.alloc(8 + big.length);
    legacy.writeUInt32LE(0x184c2102, 0); legacy.writeUInt32LE(big.length, 4); legacy.set(big, 8);
    expect(await errorCodeAsync(() => decompressFrame(legacy))).toBe("EBADMSG");
  });
});

describe("blocks and limits", () => {
  it("blocks whose offsets or lengths point outside are EBADMSG; bad sizes and limits are EINVAL, maxOutput null included", async () => {
    const codec = await lz4Ready();
    for (const b of [
      [0x1f, 0x41, 0x00, 0x00, 0xff, 0x10, 0x00], // offset 0
      [0x14, 0x41, 0x10, 0x00, 0x50, 1, 2, 3, 4, 5], // offset 16 after 1 byte
      [0xf0, 255, 255, 255, 255, 255, 255, 1], // literal run past the input
      [0x0f, 0x01, 0x00, 255, 255, 255], // match run never ends
      [],
    ]) expect(errorCode(() => codec.decompressBlock(Uint8Array.from(b), 4096)), `block ${b}`).toBe("EBADMSG");
    const block = codec.compressBlock(new Uint8Array(100_000));
    expect(errorCode(() => codec.decompressBlock(block, 1000))).toBe("EBADMSG");
    expect(errorCode(() => codec.decompressBlock(block, { exactSize: 99_999 }))).toBe("EBADMSG");
    for (const size of [NaN, -1, 1.5, 2 ** 31, "10", null, { exactSize: NaN }, { exactSize: -1 }]) {
      expect(errorCode(() => codec.decompressBlock(block, size as number)), JSON.stringify(size)).toBe("EINVAL");
    }
    const frame = await compressFrame(new Uint8Array(1000));
    for (const m of [NaN, -1, 0.5, 1e300, "5", null, -Infinity]) {
      expect(await errorCodeAsync(() => decompressFrame(frame, { maxOutput: m as number })), `maxOutput ${String(m)}`).toBe("EINVAL");
    }
    expect(await errorCodeAsync(() => decompressFrame(frame, { maxOutput: 999 }))).toBe("E2BIG");
    expect((await decompressFrame(frame, { maxOutput: 1000 })).length).toBe(1000);
  });
});
