// SPDX-License-Identifier: MIT
/**
 * kernel-zbud.ts: what the kernel's zbud would use for a sequence of
 * allocations, computed in plain TypeScript (reference/kernel.md §2.2), so
 * tests and benchmarks can hold our wasm zbud to it frame for frame.
 *
 * What it is: a model of zbud's placement only (no bytes, no locks): 64-byte
 * chunks, 63 usable chunks per 4 KiB page, at most two buddies per page, an
 * object of c chunks takes the head of the first non-empty unbuddied[i] list
 * for i = c .. 62 (smallest sufficient free run), else a new page; lists are
 * LIFO (a page is pushed at the head whenever its free run changes), freeing
 * both buddies frees the page. It is not our allocator: it shares no code with
 * assembly/zbud.ts, which is the point of comparing them.
 *
 * Also: {@link zbudStaticOptimum}, the best any two-per-page packing could do
 * (N - M, M = the largest set of disjoint pairs whose chunks sum to <= 63).
 *
 * Concurrency: plain objects, one thread.
 *
 * See also: ../../test/zbud-density.test.ts, ../../bench/zpool.ts.
 *
 * @module
 */

/** Bytes per chunk. */
export const KZBUD_CHUNK_SIZE = 64;
/** Usable chunks per page (the header takes one of 64). */
export const KZBUD_NCHUNKS = 63;
/** Largest object (bytes): larger ones are rejected with -ENOSPC. */
export const KZBUD_MAX_SIZE = 4096 - 64 - 64;

interface Page {
  first: number;
  last: number;
  /** Links in the page's list (null at the ends). */
  next: Page | null;
  prev: Page | null;
  list: number;
}

/** Chunks of an object of `size` bytes. */
export function zbudChunks(size: number): number {
  return Math.ceil(size / KZBUD_CHUNK_SIZE);
}

/**
 * The kernel's zbud placement, online, with frees. Object ids are what
 * {@link KernelZbud.alloc} returns.
 */
export class KernelZbud {
  /** Pages in use now (the kernel's pages_nr). */
  pages = 0;
  /** Most pages ever in use. */
  peakPages = 0;
  /** Objects rejected because they were too big. */
  rejected = 0;
  /** unbuddied[free chunks] (index 0..62) and, at index 63, the buddied list. */
  private readonly heads: Array<Page | null> = new Array<Page | null>(KZBUD_NCHUNKS + 1).fill(null);
  private readonly objects = new Map<number, { page: Page; last: boolean }>();
  private nextId = 1;

  private static readonly BUDDIED = KZBUD_NCHUNKS;

  private listOf(p: Page): number {
    return p.first !== 0 && p.last !== 0 ? KernelZbud.BUDDIED : KZBUD_NCHUNKS - p.first - p.last;
  }

  private push(p: Page): void {
    const l = this.listOf(p);
    p.list = l;
    p.prev = null;
    p.next = this.heads[l]!;
    if (p.next !== null) p.next.prev = p;
    this.heads[l] = p;
  }

  private unlink(p: Page): void {
    if (p.prev !== null) p.prev.next = p.next;
    else this.heads[p.list] = p.next;
    if (p.next !== null) p.next.prev = p.prev;
    p.next = p.prev = null;
  }

  /** Place an object of `size` bytes; returns its id, or 0 when rejected (size > 3968 or < 1). */
  alloc(size: number): number {
    if (!(size >= 1 && size <= KZBUD_MAX_SIZE)) {
      this.rejected++;
      return 0;
    }
    const c = zbudChunks(size);
    let page: Page | null = null;
    for (let i = c; i < KZBUD_NCHUNKS && page === null; i++) page = this.heads[i]!;
    if (page !== null) {
      this.unlink(page);
    } else {
      page = { first: 0, last: 0, next: null, prev: null, list: -1 };
      this.pages++;
      if (this.pages > this.peakPages) this.peakPages = this.pages;
    }
    const last = page.first !== 0;
    if (last) page.last = c;
    else page.first = c;
    this.push(page);
    const id = this.nextId++;
    this.objects.set(id, { page, last });
    return id;
  }

  /** Free object `id`. @throws Error for an unknown id. */
  free(id: number): void {
    const o = this.objects.get(id);
    if (o === undefined) throw new Error(`KernelZbud: no object ${id}`);
    this.objects.delete(id);
    const p = o.page;
    this.unlink(p);
    if (o.last) p.last = 0;
    else p.first = 0;
    if (p.first === 0 && p.last === 0) this.pages--;
    else this.push(p);
  }

  /** Objects placed now. */
  get size(): number {
    return this.objects.size;
  }
}

/**
 * Pages the kernel's zbud uses for `sizes` allocated in order, no frees.
 * Sizes above 3968 (or below 1) are rejected and counted, as zswap does.
 */
export function kernelZbudPages(sizes: Iterable<number>): { pages: number; objects: number; rejected: number } {
  const k = new KernelZbud();
  for (const s of sizes) k.alloc(s);
  return { pages: k.pages, objects: k.size, rejected: k.rejected };
}

/**
 * The static optimum for zbud: N - M pages, where M is the largest number of
 * disjoint pairs with chunk sums <= 63 (sort, pair the largest with the
 * smallest that fits). Sizes above 3968 are left out.
 */
export function zbudStaticOptimum(sizes: Iterable<number>): number {
  const c: number[] = [];
  for (const s of sizes) if (s >= 1 && s <= KZBUD_MAX_SIZE) c.push(zbudChunks(s));
  c.sort((a, b) => a - b);
  let lo = 0, hi = c.length - 1, pairs = 0;
  while (lo < hi) {
    if (c[lo]! + c[hi]! <= KZBUD_NCHUNKS) {
      pairs++;
      lo++;
    }
    hi--;
  }
  return c.length - pairs;
}
