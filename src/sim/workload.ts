// SPDX-License-Identifier: MIT
/**
 * workload.ts: the memory-access pattern of the simulated program.
 *
 * A program touches `workingSet` virtual pages while only `ram` of them fit in
 * its RAM budget. Accesses follow a mix that real programs show: most go to a
 * hot subset (skewed, as with a heap's live objects), some sweep sequentially
 * through the whole working set (as a GC mark phase or a scan does), and the
 * hot subset drifts over time. The resident set is kept in LRU order; touching
 * a page that is not resident evicts the least recently used page. The
 * simulator swaps the evicted page out (frontswap store) and the touched page
 * in (frontswap load).
 *
 * Deterministic for a given seed, allocation-free per access.
 * @module
 */

/** Parameters of an {@link AccessPattern}. */
export interface WorkloadOptions {
  /** Virtual pages the program uses. */
  workingSet: number;
  /** Pages that fit in RAM (resident at once), 1 ≤ ram ≤ workingSet. */
  ram: number;
  /** PRNG seed. */
  seed: number;
  /** Share of accesses that go to the hot subset, 0..1. @defaultValue 0.8 */
  hotShare?: number;
  /** Size of the hot subset as a share of the working set. @defaultValue 0.2 */
  hotSize?: number;
  /** Share of accesses that continue a sequential sweep. @defaultValue 0.1 */
  sweepShare?: number;
}

/** xorshift32: small, fast, good enough for a workload. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  /** Next u32. */
  next(): number {
    let s = this.s;
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    this.s = s;
    return s;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number { return Math.floor((this.next() / 4294967296) * n); }
}

/** What one access did to residency. */
export interface Access {
  /** The page touched. */
  page: number;
  /** True if it was not resident (must be swapped in). */
  fault: boolean;
  /** The page evicted to make room (must be swapped out), or -1. */
  evicted: number;
}

/**
 * Generates page accesses and tracks the resident set in LRU order (a doubly
 * linked list over page numbers in typed arrays: O(1) per access).
 */
export class AccessPattern {
  readonly workingSet: number;
  readonly ram: number;
  private readonly rng: Rng;
  private readonly hotShare: number;
  private readonly hotSize: number;
  private readonly sweepShare: number;
  private hotBase = 0;
  private sweep = 0;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly resident: Uint8Array;
  private head = -1; // most recent
  private tail = -1; // least recent
  private count = 0;
  private accesses = 0;
  private readonly out: Access = { page: 0, fault: false, evicted: -1 };

  constructor(o: WorkloadOptions) {
    if (!Number.isInteger(o.workingSet) || o.workingSet < 1) throw new RangeError("workingSet must be a positive integer");
    if (!Number.isInteger(o.ram) || o.ram < 1 || o.ram > o.workingSet) throw new RangeError("ram must be an integer from 1 to workingSet");
    this.workingSet = o.workingSet;
    this.ram = o.ram;
    this.rng = new Rng(o.seed);
    this.hotShare = o.hotShare ?? 0.8;
    this.hotSize = Math.max(1, Math.floor(o.workingSet * (o.hotSize ?? 0.2)));
    this.sweepShare = o.sweepShare ?? 0.1;
    this.prev = new Int32Array(o.workingSet).fill(-1);
    this.next = new Int32Array(o.workingSet).fill(-1);
    this.resident = new Uint8Array(o.workingSet);
  }

  /** Pages resident now. */
  get residentPages(): number { return this.count; }

  /** Whether `page` is resident. */
  isResident(page: number): boolean { return this.resident[page] === 1; }

  private unlink(p: number): void {
    const a = this.prev[p]!, b = this.next[p]!;
    if (a >= 0) this.next[a] = b; else this.head = b;
    if (b >= 0) this.prev[b] = a; else this.tail = a;
    this.prev[p] = this.next[p] = -1;
  }

  private pushFront(p: number): void {
    this.prev[p] = -1;
    this.next[p] = this.head;
    if (this.head >= 0) this.prev[this.head] = p; else this.tail = p;
    this.head = p;
  }

  private pick(): number {
    const r = this.rng.next() / 4294967296;
    if (r < this.sweepShare) {
      this.sweep = (this.sweep + 1) % this.workingSet;
      return this.sweep;
    }
    if (r < this.sweepShare + this.hotShare) return (this.hotBase + this.rng.below(this.hotSize)) % this.workingSet;
    return this.rng.below(this.workingSet);
  }

  /**
   * Make the next access. The returned object is reused by the next call.
   * Every fault of a page never seen before is a first touch (the caller
   * knows, by keeping a "was ever stored" set).
   */
  step(): Access {
    // The hot subset drifts slowly, so pages go cold and come back.
    if (++this.accesses % 4096 === 0) this.hotBase = (this.hotBase + Math.max(1, this.hotSize >> 4)) % this.workingSet;
    const page = this.pick();
    const out = this.out;
    out.page = page;
    out.evicted = -1;
    if (this.resident[page]) {
      out.fault = false;
      if (this.head !== page) { this.unlink(page); this.pushFront(page); }
      return out;
    }
    out.fault = true;
    if (this.count === this.ram) {
      const victim = this.tail;
      this.unlink(victim);
      this.resident[victim] = 0;
      this.count--;
      out.evicted = victim;
    }
    this.resident[page] = 1;
    this.count++;
    this.pushFront(page);
    return out;
  }
}
