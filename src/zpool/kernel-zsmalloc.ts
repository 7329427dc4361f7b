// SPDX-License-Identifier: MIT
/**
 * kernel-zsmalloc.ts: what the Linux kernel's zsmalloc would do with a given
 * multiset of object sizes, computed from its published rules: the size-class
 * table (modern least-waste rule or the legacy used-percent rule, with a chain
 * length), class merging, the huge-class watermark, and the pool pages a fully
 * compacted pool needs (reference/kernel.md §1.11 and §2.1).
 *
 * It is not an allocator and shares no code with ours (assembly/zsmalloc.ts):
 * it is the yardstick our pool's density is measured against, so it follows
 * the kernel's arithmetic literally, including its 8-byte in-object handle
 * header (ZS_HANDLE_SIZE) that is added to every request before the class is
 * chosen. Our allocator uses the same class table but a 4-byte header.
 *
 * Key idea: a nominal class i has slot size c = 32 + 16·i; its zspage holds
 * k pages and o = ⌊k·4096 / c⌋ objects. Classes are kept from the largest down,
 * and a class whose (k, o) equals the last kept one merges into it, so an
 * object uses the largest slot of its merged run. A kept class with k = 1 and
 * o = 1 is "huge": one object per page.
 *
 * Thread safety: pure functions; results are fresh objects (the class tables
 * are memoised per (rule, chain) and frozen).
 *
 * See also: test/kernel-zsmalloc.test.ts (checked against kernel.md's tables),
 * test/zsmalloc-density.test.ts (our pool against these figures).
 *
 * @module
 */

/** Bytes per page (4 KiB, x86). */
export const KERNEL_PAGE_SIZE = 4096;
/** The kernel's in-object handle header (sizeof(unsigned long)), 4.x and later. */
export const ZS_HANDLE_SIZE = 8;
/** Smallest slot size. */
export const ZS_MIN_ALLOC_SIZE = 32;
/** Largest object (one page). */
export const ZS_MAX_ALLOC_SIZE = KERNEL_PAGE_SIZE;
/** Step between nominal classes (PAGE_SIZE >> CLASS_BITS). */
export const ZS_SIZE_CLASS_DELTA = 16;
/** Nominal classes: sizes 32, 48, ..., 4096. */
export const ZS_SIZE_CLASSES = (ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE) / ZS_SIZE_CLASS_DELTA + 1;
/** Default CONFIG_ZSMALLOC_CHAIN_SIZE (6.3+). */
export const ZS_DEFAULT_CHAIN = 8;

/** How pages per zspage are chosen. */
export type ClassRule = "modern" | "legacy";

/** One kept size class. */
export interface KernelClass {
  /** Index of the kept class's own nominal class (its largest). */
  readonly index: number;
  /** Slot size in bytes. */
  readonly size: number;
  /** Pages per zspage (k). */
  readonly pagesPerZspage: number;
  /** Objects per zspage (o). */
  readonly objsPerZspage: number;
  /** One object per page (k = 1, o = 1). */
  readonly huge: boolean;
}

/** A whole class table for one rule and chain length. */
export interface KernelClassTable {
  readonly rule: ClassRule;
  readonly chain: number;
  /** Kept classes, ascending by size. */
  readonly classes: readonly KernelClass[];
  /** nominal index (0..254) → position in `classes`. */
  readonly nominalToKept: readonly number[];
  /** Size of the largest non-huge kept class. */
  readonly largestNonHuge: number;
}

/**
 * Pages per zspage for slot size `c` under `rule` with at most `chain` pages.
 * Modern: 1 for a power of two, else the smallest k minimising k·4096 mod c.
 * Legacy: the smallest k maximising ⌊100·used/(k·4096)⌋.
 * @throws RangeError for a chain outside 1..64 or a bad size.
 */
export function pagesPerZspage(c: number, chain: number, rule: ClassRule = "modern"): number {
  if (!Number.isInteger(chain) || chain < 1 || chain > 64) throw new RangeError(`chain must be 1..64, not ${chain}`);
  if (!Number.isInteger(c) || c < 1 || c > KERNEL_PAGE_SIZE) throw new RangeError(`slot size must be 1..4096, not ${c}`);
  if (rule === "modern") {
    if ((c & (c - 1)) === 0) return 1;
    let best = 1, bestWaste = Infinity;
    for (let k = 1; k <= chain; k++) {
      const waste = (k * KERNEL_PAGE_SIZE) % c;
      if (waste < bestWaste) { bestWaste = waste; best = k; }
    }
    return best;
  }
  let best = 1, bestPct = -1;
  for (let k = 1; k <= chain; k++) {
    const span = k * KERNEL_PAGE_SIZE;
    const pct = Math.floor((100 * (span - (span % c))) / span);
    if (pct > bestPct) { bestPct = pct; best = k; }
  }
  return best;
}

const tables = new Map<string, KernelClassTable>();

/**
 * The kept class table for `chain` (CONFIG_ZSMALLOC_CHAIN_SIZE) and `rule`.
 * Memoised; the result is frozen.
 * @throws RangeError for a chain outside 1..64.
 */
export function kernelClassTable(chain: number = ZS_DEFAULT_CHAIN, rule: ClassRule = "modern"): KernelClassTable {
  const key = `${rule}/${chain}`;
  const hit = tables.get(key);
  if (hit) return hit;
  const keptDesc: KernelClass[] = [];
  const nominalToDesc: number[] = new Array<number>(ZS_SIZE_CLASSES);
  for (let i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
    const size = ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA;
    const k = pagesPerZspage(size, chain, rule);
    const o = Math.floor((k * KERNEL_PAGE_SIZE) / size);
    const last = keptDesc[keptDesc.length - 1];
    if (last && last.pagesPerZspage === k && last.objsPerZspage === o) {
      nominalToDesc[i] = keptDesc.length - 1;
      continue;
    }
    keptDesc.push(Object.freeze({ index: i, size, pagesPerZspage: k, objsPerZspage: o, huge: k === 1 && o === 1 }));
    nominalToDesc[i] = keptDesc.length - 1;
  }
  const n = keptDesc.length;
  const classes = keptDesc.slice().reverse();
  const nominalToKept = nominalToDesc.map((d) => n - 1 - d);
  let largestNonHuge = 0;
  for (const c of classes) if (!c.huge) largestNonHuge = Math.max(largestNonHuge, c.size);
  const t: KernelClassTable = Object.freeze({
    rule, chain, classes: Object.freeze(classes), nominalToKept: Object.freeze(nominalToKept), largestNonHuge,
  });
  tables.set(key, t);
  return t;
}

/** Nominal class index of an `s`-byte slot request (s already includes any header), capped at 254. */
export function nominalIndex(s: number): number {
  if (s <= ZS_MIN_ALLOC_SIZE) return 0;
  return Math.min(ZS_SIZE_CLASSES - 1, Math.ceil((s - ZS_MIN_ALLOC_SIZE) / ZS_SIZE_CLASS_DELTA));
}

/**
 * The kept class the kernel puts an object of `length` payload bytes in
 * (length + ZS_HANDLE_SIZE, then the index lookup).
 * @throws RangeError for a length outside 1..4096.
 */
export function kernelClassOf(length: number, chain: number = ZS_DEFAULT_CHAIN, rule: ClassRule = "modern"): KernelClass {
  if (!Number.isInteger(length) || length < 1 || length > ZS_MAX_ALLOC_SIZE) {
    throw new RangeError(`object length must be 1..4096, not ${length}`);
  }
  const t = kernelClassTable(chain, rule);
  return t.classes[t.nominalToKept[nominalIndex(length + ZS_HANDLE_SIZE)]!]!;
}

/**
 * zs_huge_class_size(): the smallest payload length that the kernel stores
 * in a page of its own = largest non-huge class size - (ZS_HANDLE_SIZE - 1).
 * 3625 for the modern rule with chain 8.
 */
export function zsHugeClassSize(chain: number = ZS_DEFAULT_CHAIN, rule: ClassRule = "modern"): number {
  return kernelClassTable(chain, rule).largestNonHuge - (ZS_HANDLE_SIZE - 1);
}

/** What the kernel's pool would use for a multiset of object lengths. */
export interface KernelUsage {
  /** Objects counted. */
  objects: number;
  /** Pool pages when fully compacted: Σ over kept classes ⌈n/o⌉·k. */
  pages: number;
  /** Objects that went to the huge class (one page each). */
  hugeObjects: number;
  /** zspages when fully compacted. */
  zspages: number;
  /**
   * Extra RAM outside the pool (kernel.md §2.1 step 7): the 8-byte zs_handle
   * slab object per object plus ~56 bytes of struct zspage per zspage.
   */
  extraBytes: number;
}

/** Estimated bytes of one `struct zspage` (6.x; kernel.md §2.1 step 7). */
export const KERNEL_ZSPAGE_STRUCT_BYTES = 56;

/**
 * Pages the kernel's zsmalloc uses for `lengths` (each 1..4096), fully
 * compacted (kernel.md §2.1 step 6). Lengths above 4096 must be excluded or
 * clamped by the caller.
 * @throws RangeError for a length outside 1..4096.
 */
export function kernelZsmallocUsage(lengths: Iterable<number>, chain: number = ZS_DEFAULT_CHAIN,
                                    rule: ClassRule = "modern"): KernelUsage {
  const t = kernelClassTable(chain, rule);
  const counts = new Array<number>(t.classes.length).fill(0);
  let objects = 0;
  for (const len of lengths) {
    if (!Number.isInteger(len) || len < 1 || len > ZS_MAX_ALLOC_SIZE) throw new RangeError(`object length must be 1..4096, not ${len}`);
    counts[t.nominalToKept[nominalIndex(len + ZS_HANDLE_SIZE)]!]!++;
    objects++;
  }
  let pages = 0, zspages = 0, hugeObjects = 0;
  t.classes.forEach((c, i) => {
    const n = counts[i]!;
    if (n === 0) return;
    const z = Math.ceil(n / c.objsPerZspage);
    zspages += z;
    pages += z * c.pagesPerZspage;
    if (c.huge) hugeObjects += n;
  });
  return { objects, pages, hugeObjects, zspages, extraBytes: objects * ZS_HANDLE_SIZE + zspages * KERNEL_ZSPAGE_STRUCT_BYTES };
}
