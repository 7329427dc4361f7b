// SPDX-License-Identifier: MIT
// Attacks on byte-array arguments other than pages (the attacker's pass over
// issue 9's boundary rule, "byteLength, not a length that can be faked"):
// the LZ4 block codec, the frame functions and TmemCache keys and values,
// given arrays whose length or byteLength is shadowed, Proxies, other
// typed-array kinds, SharedArrayBuffer-backed views, detached buffers and
// subarrays at odd offsets. A faked array must be refused before anything
// is read or stored; genuine views of any kind must work byte-exactly.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import { lz4Ready } from "../bindings/lz4.js";
import { compressFrame, decompressFrame } from "../src/lz4/frame.js";
import { TmemCache } from "../src/cache/cache.js";
import { errorCode, errorCodeAsync } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";

/** `real` bytes that claim (through own properties) to be `claimed` bytes long. */
function liar(real: number, claimed: number, fill = 0x42): Uint8Array {
  const a = new Uint8Array(real).fill(fill);
  Object.defineProperty(a, "length", { value: claimed });
  Object.defineProperty(a, "byteLength", { value: claimed });
  return a;
}

describe("LZ4 codec byte arrays", () => {
  it("a faked src length is EINVAL: it used to compress the codec's stale input beyond the real bytes", async () => {
    const codec = await lz4Ready();
    // Leave a recognisable previous input in the codec's private input area.
    const secret = new Uint8Array(4096).fill(0x53);
    codec.compressBlock(secret);
    expect(errorCode(() => codec.compressBlock(liar(16, 4096)))).toBe("EINVAL");
    expect(errorCode(() => codec.compressBlockInto(liar(16, 4096), new Uint8Array(8192)))).toBe("EINVAL");
    const block = codec.compressBlock(stampPage(1, 1));
    const fakeSrc = block.slice();
    Object.defineProperty(fakeSrc, "length", { value: block.length + 500 });
    expect(errorCode(() => codec.decompressBlock(fakeSrc, 4096))).toBe("EINVAL");
  });

  it("a faked dst length is EINVAL (it was a raw RangeError after decoding) and dst is not written", async () => {
    const codec = await lz4Ready();
    const block = codec.compressBlock(stampPage(2, 2));
    const dst = liar(10, 4096, 0);
    const err = (() => { try { codec.decompressBlockInto(block, dst); } catch (e) { return e; } return undefined; })();
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("EINVAL");
    expect(Array.from(new Uint8Array(dst.buffer))).toEqual(new Array(10).fill(0));
    expect(errorCode(() => codec.compressBlockInto(stampPage(2, 2), liar(10, 8192)))).toBe("EINVAL");
  });

  it("Proxies and other typed arrays are EINVAL; SAB-backed, odd-offset and Buffer views round-trip exactly; a detached view is EINVAL (it was a raw TypeError)", async () => {
    const codec = await lz4Ready();
    const page = stampPage(3, 3);
    for (const bad of [new Proxy(page, {}), new Int8Array(4096), new Uint8ClampedArray(4096), new DataView(page.buffer), new Uint16Array(2048), [1, 2, 3], "abc", null]) {
      expect(errorCode(() => codec.compressBlock(bad as Uint8Array)), String(bad?.constructor?.name)).toBe("EINVAL");
      expect(errorCode(() => codec.decompressBlockInto(codec.compressBlock(page), bad as Uint8Array))).toBe("EINVAL");
    }
    const sab = new Uint8Array(new SharedArrayBuffer(4096 + 7), 3, 4096);
    sab.set(page);
    const odd = new Uint8Array(new ArrayBuffer(9000)).subarray(5, 5 + 4096);
    odd.set(page);
    const buf = Buffer.from(page);
    for (const v of [sab, odd, buf]) {
      const c = codec.compressBlock(v);
      const out = new Uint8Array(new SharedArrayBuffer(4101)).subarray(1, 4097);
      expect(codec.decompressBlockInto(c, out, { exact: true })).toBe(4096);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(page))).toBe(0);
    }
    const ab = new ArrayBuffer(4096);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    expect(view.length).toBe(0);
    expect(errorCode(() => codec.compressBlock(view))).toBe("EINVAL");
    expect(errorCode(() => codec.decompressBlock(view, 0))).toBe("EINVAL");
    expect(await errorCodeAsync(() => compressFrame(view))).toBe("EINVAL");
    // A genuine empty array is fine.
    expect(codec.decompressBlock(codec.compressBlock(new Uint8Array(0)), 0).length).toBe(0);
  });

  it("compressFrame and decompressFrame refuse a faked length instead of writing a frame whose header lies", async () => {
    expect(await errorCodeAsync(() => compressFrame(liar(100, 100_000)))).toBe("EINVAL");
    const frame = await compressFrame(stampPage(4, 4));
    const fake = frame.slice();
    Object.defineProperty(fake, "length", { value: frame.length + 64 });
    expect(await errorCodeAsync(() => decompressFrame(fake))).toBe("EINVAL");
    expect(Buffer.compare(Buffer.from(await decompressFrame(frame)), Buffer.from(stampPage(4, 4)))).toBe(0);
  });
});

describe("TmemCache byte keys and values", () => {
  it("a value with a faked byteLength is a TypeError and stores nothing (it used to store a record whose tail was a freed entry's bytes)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 2 << 20 });
    cache.set("secret", new Uint8Array(60).fill(0x53));
    cache.delete("secret");
    for (const claimed of [12, 60, 5000]) {
      expect(() => cache.set("k" + claimed, liar(4, claimed, 1))).toThrow(TypeError);
      expect(cache.get("k" + claimed)).toBeUndefined();
    }
    expect(() => cache.set("p", new Proxy(new Uint8Array(8), {}) as Uint8Array)).toThrow(TypeError);
    expect(cache.size).toBe(0);
    cache.destroy();
    pm.detach();
  });

  it("a byte key with a faked byteLength is a TypeError (it used to be accepted and then never found)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 2 << 20 });
    const key = liar(2, 500, 7);
    expect(() => cache.set(key, "x")).toThrow(TypeError);
    expect(() => cache.get(key)).toThrow(TypeError);
    expect(cache.size).toBe(0);
    // Genuine byte keys at odd offsets and in shared buffers name the same entry as their bytes.
    const k1 = new Uint8Array(new ArrayBuffer(10)).subarray(3, 6); k1.set([1, 2, 3]);
    const k2 = new Uint8Array(new SharedArrayBuffer(3)); k2.set([1, 2, 3]);
    cache.set(k1, new Uint8Array(new SharedArrayBuffer(5000)).fill(9));
    const got = cache.get(k2) as Uint8Array;
    expect(got.length).toBe(5000);
    expect(got.every((b) => b === 9)).toBe(true);
    cache.destroy();
    pm.detach();
  });

  it("a value that is a view of the physical memory is EINVAL even with its buffer property shadowed", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 2 << 20 });
    const v = new Uint8Array(pm.memory.buffer, 4096 * 3, 100);
    Object.defineProperty(v, "buffer", { value: new ArrayBuffer(100) });
    expect(errorCode(() => cache.set("alias", v))).toBe("EINVAL");
    expect(cache.size).toBe(0);
    cache.destroy();
    pm.detach();
  });
});
