// SPDX-License-Identifier: MIT
/**
 * tmem/raw.ts: "tmem-raw", the simplest tmem backend: each page is kept
 * uncompressed in a page frame of its own, up to a fixed number of pages.
 *
 * What it is for: a second, independent backend to chain behind zcache (seed
 * 004: "when zcache fills, puts go to the next backend"), to test the
 * frontends against, and a baseline. It is not dense (4 KiB per page plus a
 * 64-byte descriptor) and never evicts: when full it rejects.
 *
 * Layout: one OWNER_TMEM state frame per instance, u32 words:
 *   0 magic │ 1 maxPages │ 2 pages │ 3 puts │ 4 rejects │ 5 frees
 * pampd: lo = frame number holding the page, hi = 0, meta = 0.
 *
 * Concurrency: any Worker; the page count is claimed with an atomic
 * compare-and-swap loop before a frame is taken, so the cap holds under
 * concurrent puts.
 *
 * See also: pam.ts, ops.ts, ../zcache.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import { PAGE_SIZE, Owner } from "../../bindings/layout.js";
import { PamBackend } from "./pam.js";
import type { TmemBackend } from "./ops.js";
import { TMEM_POOL_PERSIST } from "./core.js";
import { FrontendArea } from "./shared.js";

const MAGIC = 0x57415254; // "TRAW"
const W_MAGIC = 0, W_MAX = 1, W_PAGES = 2, W_PUTS = 3, W_REJECTS = 4, W_FREES = 5;

/** Options of {@link RawBackend.create}. */
export interface RawBackendOptions {
  /** Most pages held at once; puts beyond it are rejected. @defaultValue 1024 */
  maxPages?: number;
}

/** Statistics of a raw backend. */
export interface RawBackendStats {
  /** The cap: pages (frames) the instance may hold at once ({@link RawBackendOptions.maxPages}). */
  maxPages: number;
  /** Pages held now (one 4 KiB frame each). */
  pages: number;
  /** Puts accepted, cumulative (pages). */
  puts: number;
  /** Puts refused, cumulative: the cap was reached or no frame was free (pages). */
  rejects: number;
  /** Stored pages freed, cumulative: flushes, replacements, exclusive gets (pages). */
  frees: number;
}

/** The "tmem-raw" backend: uncompressed pages, one frame each, capped. */
export class RawBackend extends PamBackend<RawBackendStats> implements TmemBackend<RawBackendStats> {
  readonly type = "tmem-raw";
  private readonly st: Int32Array;

  private constructor(pm: PhysicalMemory, instance: number, generation: number, pfn: number) {
    super(pm, instance, generation);
    this.st = new Int32Array(pm.memory.buffer, pm.layout.framesBase + pfn * PAGE_SIZE, 16);
  }

  /**
   * Make a new instance in `pm` (its state is shared: other Workers open it
   * with {@link RawBackend.open} or through the frontends).
   * @throws TmemError EINVAL for a bad maxPages; ENOSPC when 16 instances exist.
   */
  static create(pm: PhysicalMemory, options: RawBackendOptions = {}): RawBackend {
    const maxPages = options.maxPages ?? 1024;
    argCheck(Number.isSafeInteger(maxPages) && maxPages >= 0 && maxPages < 2 ** 31, "maxPages must be an integer ≥ 0");
    const area = FrontendArea.for(pm);
    const inst = area.allocInstance("tmem-raw");
    const b = new RawBackend(pm, inst.id, inst.generation, inst.pfn);
    Atomics.store(b.st, W_MAX, maxPages);
    Atomics.store(b.st, W_MAGIC, MAGIC);
    area.remember(b);
    return b;
  }

  /** Open instance `instance` (made by any Worker). @throws TmemError ENODEV if it is not a tmem-raw instance. */
  static async open(pm: PhysicalMemory, instance: number): Promise<RawBackend> {
    const area = FrontendArea.for(pm);
    const have = area.current(instance);
    if (have instanceof RawBackend) return have;
    const info = area.instanceInfo(instance);
    if (info === null || info.type !== "tmem-raw") throw new TmemError(ErrorCode.ENODEV, `instance ${instance} is not a tmem-raw backend`);
    const b = new RawBackend(pm, instance, info.generation, info.pfn);
    if (Atomics.load(b.st, W_MAGIC) !== MAGIC) throw new TmemError(ErrorCode.ENODEV, `instance ${instance} is not initialised`);
    area.remember(b);
    return b;
  }

  protected pamStore(): boolean {
    const st = this.st;
    for (;;) {
      const n = Atomics.load(st, W_PAGES);
      if (n >= Atomics.load(st, W_MAX)) { Atomics.add(st, W_REJECTS, 1); return false; }
      if (Atomics.compareExchange(st, W_PAGES, n, n + 1) === n) break;
    }
    const pfn = this.pm.core.frame_alloc(Owner.TMEM);
    if (pfn < 0) { Atomics.sub(st, W_PAGES, 1); Atomics.add(st, W_REJECTS, 1); return false; }
    const addr = this.pm.layout.framesBase + pfn * PAGE_SIZE;
    this.pm.u8.copyWithin(addr, this.tc.ioAddr, this.tc.ioAddr + PAGE_SIZE);
    this.pLo = pfn; this.pHi = 0; this.pMeta = 0;
    Atomics.add(st, W_PUTS, 1);
    return true;
  }

  protected pamLoad(lo: number): boolean {
    const addr = this.pm.layout.framesBase + lo * PAGE_SIZE;
    this.pm.u8.copyWithin(this.tc.ioAddr, addr, addr + PAGE_SIZE);
    return true;
  }

  protected pamFree(lo: number): void {
    if (this.pm.core.frame_free(lo, Owner.TMEM) === 0) {
      Atomics.sub(this.st, W_PAGES, 1);
      Atomics.add(this.st, W_FREES, 1);
    }
  }

  protected lruDomain(): number {
    return 0;
  }

  protected isPersistent(pool: number): boolean {
    return (this.tc.poolFlags(pool) & TMEM_POOL_PERSIST) !== 0;
  }

  /** Statistics now. */
  stats(): RawBackendStats {
    this.alive();
    const st = this.st;
    return {
      maxPages: Atomics.load(st, W_MAX), pages: Atomics.load(st, W_PAGES), puts: Atomics.load(st, W_PUTS),
      rejects: Atomics.load(st, W_REJECTS), frees: Atomics.load(st, W_FREES),
    };
  }

  /**
   * Destroy the instance (its shared state). Unregister it from the frontends
   * first. Every other Worker's object of it refuses its next call (ENODEV).
   * @param options - `force`: even while other attached Workers have it open.
   * @throws TmemError EBUSY while it still holds pages or (unless forced) is
   *   open in another attached Worker; ENODEV when destroyed already.
   */
  destroy(options: { force?: boolean } = {}): void {
    this.destroyCheck(options.force === true);
    if (Atomics.load(this.st, W_PAGES) !== 0) {
      throw new TmemError(ErrorCode.EBUSY, `tmem-raw instance ${this.instance} still holds pages: unregister it from the frontends first`);
    }
    this.area.freeInstance(this.instance, this.generation);
  }

  /** Change the cap (pages already held stay). */
  setMaxPages(maxPages: number): void {
    this.alive();
    argCheck(Number.isSafeInteger(maxPages) && maxPages >= 0 && maxPages < 2 ** 31, "maxPages must be an integer ≥ 0");
    Atomics.store(this.st, W_MAX, maxPages);
  }
}

