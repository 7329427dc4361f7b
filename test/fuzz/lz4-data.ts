// SPDX-License-Identifier: MIT
/**
 * lz4-data.ts: deterministic test data for the LZ4 tests and the fuzzer:
 * a seeded PRNG and data shapes (zeros, text, random, memory-like records,
 * real corpus pages: ../shared/corpus when present, else the repo's samples).
 * @module
 */
import { loadCorpus } from "../corpus.js";

/** xorshift32: a small seeded PRNG, good enough to shape test data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  /** Next u32. */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
}

const WORDS = ("the of and to in is was that for it with as his on be at by had are but from or have an they which one " +
  "you were her all she there would their we him been has when who will more no if out so said what up its about " +
  "into than them can only other new some could time these two may then do first any my now such like our over " +
  "memory page frame zspage buddy compress store load invalidate swap cache object pool handle class").split(" ");

/** The data shapes the round-trip properties draw from. */
export type Shape = "zeros" | "text" | "random" | "records" | "corpus" | "mixed";
export const SHAPES: readonly Shape[] = ["zeros", "text", "random", "records", "corpus", "mixed"];

// Loaded once when this module is imported (the sample's frames decode asynchronously).
const CORPUS: Uint8Array = await (async () => {
  const [x, y] = await Promise.all([loadCorpus("anon"), loadCorpus("file")]);
  const all = new Uint8Array(x.pages.length + y.pages.length);
  all.set(x.pages);
  all.set(y.pages, x.pages.length);
  return all;
})();

/** The anon + file corpus pages: 64 MiB from ../shared/corpus, or the repo's 2 × 512-page sample (4 MiB). */
export function corpus(): Uint8Array {
  return CORPUS;
}

function fill(shape: Shape, out: Uint8Array, rng: Rng): void {
  const n = out.length;
  switch (shape) {
    case "zeros":
      out.fill(0);
      return;
    case "random":
      for (let i = 0; i < n; i++) out[i] = rng.u32() & 0xff;
      return;
    case "text": {
      let i = 0;
      while (i < n) {
        const w = WORDS[rng.int(WORDS.length)]!;
        for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
        if (i < n) out[i++] = rng.int(12) === 0 ? 10 : 32;
      }
      return;
    }
    case "records": {
      // Heap-like: 32-byte records with small integers, pointers and padding.
      let i = 0, ptr = 0x1000 + rng.int(1 << 20);
      while (i < n) {
        const rec = [rng.int(16), 0, 0, 0, ptr & 0xff, (ptr >> 8) & 0xff, (ptr >> 16) & 0xff, 0];
        for (let k = 0; k < 32 && i < n; k++) out[i++] = k < 8 ? rec[k]! : k < 12 ? rng.int(4) : 0;
        ptr += 32 * (1 + rng.int(3));
      }
      return;
    }
    case "corpus": {
      const c = corpus();
      let i = 0;
      while (i < n) {
        const page = rng.int(c.length >> 12) << 12;
        const take = Math.min(4096, n - i);
        out.set(c.subarray(page, page + take), i);
        i += take;
      }
      return;
    }
    case "mixed": {
      let i = 0;
      while (i < n) {
        const len = Math.min(n - i, 1 + rng.int(20000));
        fill(SHAPES[rng.int(5)]!, out.subarray(i, i + len), rng);
        i += len;
      }
      return;
    }
  }
}

/** `size` bytes of `shape`, deterministic in `seed`. */
export function makeData(shape: Shape, size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  fill(shape, out, new Rng(seed));
  return out;
}
