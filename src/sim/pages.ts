// SPDX-License-Identifier: MIT
/**
 * pages.ts: turning bytes into the simulation's pages: cutting any data into
 * 4 KiB pages (the tail zero-padded, as the page cache does) and cycling a
 * sample into a larger working set with every copy made distinct.
 * @module
 */
import { PAGE_SIZE } from "../../bindings/layout.js";

/** Cut `data` into 4 KiB pages, zero-padding the tail. Returns `data` itself when it is whole pages. */
export function toPages(data: Uint8Array): Uint8Array {
  const n = Math.ceil(data.length / PAGE_SIZE);
  if (n * PAGE_SIZE === data.length) return data;
  const out = new Uint8Array(n * PAGE_SIZE);
  out.set(data);
  return out;
}

/**
 * `n` pages cycled from the whole pages of `src`. Each copy after the first is
 * made distinct by its copy number in the page's last word (so it is a
 * different page with nearly the same compressed size).
 */
export function cycle(src: Uint8Array, n: number): Uint8Array {
  const m = src.length / PAGE_SIZE;
  if (n === m) return src;
  const out = new Uint8Array(n * PAGE_SIZE);
  for (let i = 0; i < n; i++) {
    out.set(src.subarray((i % m) * PAGE_SIZE, (i % m + 1) * PAGE_SIZE), i * PAGE_SIZE);
    const copy = Math.floor(i / m);
    if (copy > 0) new DataView(out.buffer, i * PAGE_SIZE + PAGE_SIZE - 4, 4).setUint32(0, copy, true);
  }
  return out;
}
