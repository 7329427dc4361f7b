// SPDX-License-Identifier: MIT
/**
 * drivers/zsmalloc.ts: the zpool driver for zsmalloc (assembly/zsmalloc.ts),
 * the zsmalloc.c "zpool" section in TypeScript.
 *
 * What it is: a thin adapter from the {@link ZpoolDriver} contract to the wasm
 * entry points `zs_*`. It is not the allocator: size classes, zspages, the
 * handle table and every counter live in shared memory and are changed only
 * by the wasm under per-class locks, so a pool created here can be opened by
 * id in any Worker attached to the same memory.
 *
 * Key idea: nothing is cached on this side but the pool id, so any number of
 * backends in any Workers may drive one pool; the adapter only checks
 * arguments, maps status codes to {@link TmemError}s and turns the address
 * `zs_map_object` returns into a view of exactly the object's bytes.
 *
 * Guarantee: a freed, double-freed or forged handle is a TmemError EINVAL and
 * changes nothing, within one bound: handles carry an 8-bit generation of
 * their table slot, so a stale handle is refused through 255 reuses of its
 * slot and names the slot's live object again at exactly the 256th (see the
 * essay of assembly/zsmalloc.ts for why it is no wider).
 * Objects above 4096 bytes get ENOSPC; exhaustion of frames gets ENOMEM.
 *
 * API peculiarities: `map` returns a Uint8Array that ALIASES shared memory
 * (the object's frame, or this Worker's map buffer when the object straddles
 * two frames): it is valid until `unmap`, and for a straddling object the
 * bytes reach the pool only at `unmap` (unless mapped "ro"). One object may
 * be mapped per Worker at a time (EBUSY otherwise). A mapped object is pinned:
 * `compact` in any Worker leaves it alone and `free` of it is EBUSY.
 * `shrink(pages)` compacts (zsmalloc has no eviction, as in the kernel, whose
 * zsmalloc shrinker is compaction) and returns the frames freed.
 *
 * Concurrency: every method may be called from any Worker concurrently, on
 * different handles; Workers allocating in different size classes do not
 * contend. `destroy` must not race other calls on the pool.
 *
 * See also: ../driver.ts (the contract), ../kernel-zsmalloc.ts (the kernel's
 * density), ../../../assembly/zsmalloc.ts, ../../../test/zsmalloc.test.ts.
 *
 * @module
 */
import {
  ZC_DRV_ZSMALLOC, ZS_HANDLE_ENTRY_SIZE as HANDLE_ENTRY_BYTES, ZS_MAP_INFO, ZS_ZSPAGE_SLOT_SIZE,
} from "../../../bindings/layout.generated.js";
import type { PhysicalMemory } from "../../../bindings/physmem.js";
import { ErrorCode, Status, TmemError, argCheck, statusError } from "../../../bindings/status.js";
import { PAGE_SIZE } from "../../../bindings/layout.js";
import type { MapMode, ZpoolBackend, ZpoolDriver, ZpoolDriverOptions, ZpoolStats } from "../driver.js";

/** Largest object (bytes). */
export const ZS_MAX_ALLOC_SIZE = 4096;
/**
 * Bytes of handle-table entry per object (the kernel's 8-byte zs_handle). Our
 * objects carry no in-object header (the kernel's carry 8 bytes).
 */
export const ZS_HANDLE_ENTRY_SIZE: number = HANDLE_ENTRY_BYTES;
/**
 * Bytes of zspage table per zspage: one 64-byte slot (the kernel's struct
 * zspage is about 56), two for a zspage of many small objects on a long chain.
 */
export const ZS_ZSPAGE_DESCRIPTOR_SIZE: number = ZS_ZSPAGE_SLOT_SIZE;
/** Default and allowed chain lengths (frames per zspage). */
export const ZS_DEFAULT_CHAIN = 8;
export const ZS_MAX_CHAIN = 16;

/** scratch offset of the u32 the wasm leaves the mapped size in (assembly ZS_MAP_INFO, generated). */
const MAP_INFO = ZS_MAP_INFO;
/** scratch offset of the stats buffer (inside our SCRATCH_MAP area, past the map buffer). */
const STATS_OUT = MAP_INFO + 64;
const CLASS_STAT_WORDS = 24;
const POOL_STAT_WORDS = 12;
/**
 * u32 word indexes of zs_pool_stats' record, in the order
 * assembly/zsmalloc_stats.ts documents (which writes them at these offsets).
 */
const PoolWord = {
  OBJECT_PAGES: 0, META_PAGES: 1, OBJECTS: 2, PAYLOAD_BYTES: 3, CLASSES: 4, MAX_PAGES_PER_ZSPAGE: 5,
  HUGE_CLASS_SIZE: 6, HANDLE_SLOTS: 7, ZSPAGE_SLOTS: 8, HUGE_OBJECTS: 9, PAGES_COMPACTED: 10,
} as const;
/** u32 word indexes of zs_class_stats' record (assembly/zsmalloc_stats.ts), one row of debugfs `classes`. */
const ClassWord = {
  SIZE: 0, OBJS_PER_ZSPAGE: 1, PAGES_PER_ZSPAGE: 2, HUGE: 3, OBJ_ALLOCATED: 4, OBJ_USED: 5, PAGES_USED: 6,
  FREEABLE: 7, PAGES_COMPACTED: 8, PAYLOAD_BYTES: 9,
  /** First of the fullness-group counts (groups 1..FULLNESS_GROUPS). */
  FULLNESS: 10, FULL: 20, ZSPAGES: 21,
} as const;
/** Partial fullness groups zs_class_stats counts (the kernel's 0-10 % … 90-99 %). */
const FULLNESS_GROUPS = ClassWord.FULL - ClassWord.FULLNESS;

/** One row of the kernel's debugfs `zsmalloc/<pool>/classes` table. */
export interface ZsClassStats {
  /** Kept class index (0 = the smallest size class kept). */
  index: number;
  /** Slot size in bytes (4096 for the huge class). */
  size: number;
  /** Objects one zspage of this class holds (objs_per_zspage). */
  objsPerZspage: number;
  /** Frames one zspage of this class chains (pages_per_zspage). */
  pagesPerZspage: number;
  /** One object per frame (no header). */
  huge: boolean;
  /** Object slots in live zspages, used or not (obj_allocated). */
  objAllocated: number;
  /** Objects allocated now (obj_used). */
  objUsed: number;
  /** Frames the class holds (pages_used). */
  pagesUsed: number;
  /** Frames compaction could free now: ⌊(allocated - used) / objs⌋ · pages. */
  freeable: number;
  /** Frames freed by compaction so far, cumulative (pages_compacted). */
  pagesCompacted: number;
  /** Sum of the allocated objects' sizes, in bytes. */
  payloadBytes: number;
  /** zspages per fullness group, 10 entries: in use (0,10%], (10,20%], ..., (90%,100%). */
  fullness: number[];
  /** Full zspages (every slot used). */
  full: number;
  /** Live zspages (full, partial or empty). */
  zspages: number;
}

/** zsmalloc's statistics: the common ones plus its own. */
export interface ZsmallocStats extends ZpoolStats {
  /** Frames holding objects (the kernel's zs_get_total_pages). */
  objectPages: number;
  /** Frames of metadata: root, classes, handle table, zspage descriptors (all of the pool's metadata: objects have no header). */
  metaPages: number;
  /** Objects stored one per frame (the huge class), now. */
  hugeObjects: number;
  /** Size classes the pool keeps (after merging classes with the same zspage shape). */
  classes: number;
  /** Frames per zspage at most (the chain length). */
  maxPagesPerZspage: number;
  /** Smallest object size, in bytes, stored as a huge object. */
  hugeClassSize: number;
  /** Frames freed by compaction so far, cumulative. */
  pagesCompacted: number;
  /** metadataBytes / objects, in bytes (0 when empty). */
  metadataBytesPerObject: number;
}

// The hot paths test first and build a message only on failure: a template
// literal passed to argCheck would be built on every call.
function handleCheck(handle: number): void {
  if (!(Number.isInteger(handle) && handle > 0 && handle < 4294967296)) {
    throw new TmemError(ErrorCode.EINVAL, `a zsmalloc handle is an integer from 1 to 2^32-1, not ${String(handle)}`);
  }
}

/** A zsmalloc pool as seen from one Worker. */
export class ZsmallocBackend implements ZpoolBackend {
  /** @internal The wasm driver this is (zcache stores through its wasm ops). */
  readonly wasmDriver: number = ZC_DRV_ZSMALLOC;
  /** The pool id (root frame pfn + 1). */
  readonly id: number;
  private readonly pm: PhysicalMemory;
  private readonly core: PhysicalMemory["core"];
  private readonly u32: Uint32Array;
  private readonly infoIndex: number;
  private readonly statsAddr: number;
  private mapped = 0;
  private dead = false;

  /** Not for callers (kept in the declarations: stripped, it would read as a no-argument constructor): use {@link zsmallocDriver}. */
  constructor(pm: PhysicalMemory, id: number) {
    this.pm = pm;
    this.core = pm.core;
    this.id = id;
    this.u32 = new Uint32Array(pm.memory.buffer);
    this.infoIndex = (pm.scratch + MAP_INFO) >>> 2;
    this.statsAddr = pm.scratch + STATS_OUT;
  }

  private live(): void {
    if (this.dead) throw new TmemError(ErrorCode.EINVAL, `zsmalloc pool ${this.id} was destroyed`);
  }
  // Map modes as the wasm numbers them (kernel enum zs_mapmode): rw 0, ro 1, wo 2.

  /**
   * Allocate an object of `size` bytes (1..4096); returns its handle.
   * @throws TmemError EINVAL for a non-integer or non-positive size; ENOSPC
   *   above 4096; ENOMEM when no frame (or handle slot) is left.
   */
  malloc(size: number): number {
    this.live();
    if (!(Number.isInteger(size) && size >= 1)) throw new TmemError(ErrorCode.EINVAL, `object size must be a positive integer, not ${String(size)}`);
    if (size > ZS_MAX_ALLOC_SIZE) throw new TmemError(ErrorCode.ENOSPC, `zsmalloc objects are at most ${ZS_MAX_ALLOC_SIZE} bytes, not ${size}`);
    const h = this.core.zs_malloc(this.id, size);
    if (h < 0) throw statusError(h, `zs_malloc(${size})`);
    return h;
  }

  /**
   * Free `handle`.
   * @throws TmemError EINVAL for a stale, double-freed or forged handle
   *   (nothing changes); EBUSY while the object is mapped by some Worker.
   */
  free(handle: number): void {
    this.live();
    handleCheck(handle);
    const r = this.core.zs_free(this.id, handle);
    if (r === 0) return;
    if (r === Status.EINVAL) throw new TmemError(ErrorCode.EINVAL, `zs_free: handle ${handle} is not a live object of pool ${this.id} (freed, double-freed or forged)`);
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `zs_free: handle ${handle} is mapped; unmap it first`);
    throw statusError(r, "zs_free");
  }

  /**
   * Map `handle`; returns a view of exactly its bytes, valid until {@link unmap}.
   * @throws TmemError EINVAL for a bad handle or mode; EBUSY if this Worker
   *   already has an object mapped.
   */
  map(handle: number, mode: MapMode): Uint8Array {
    this.live();
    handleCheck(handle);
    const m = mode === "ro" ? 1 : mode === "wo" ? 2 : mode === "rw" ? 0 : -1;
    if (m < 0) throw new TmemError(ErrorCode.EINVAL, `map mode must be "ro", "wo" or "rw", not ${String(mode)}`);
    const addr = this.core.zs_map_object(this.id, handle, m) >>> 0;
    if (addr === 0) {
      const st = this.core.zs_last_error();
      if (st === Status.EBUSY) {
        throw new TmemError(ErrorCode.EBUSY, this.core.zs_mapped_handle() !== 0
          ? `zs_map_object: this Worker already has handle ${this.core.zs_mapped_handle() >>> 0} mapped (one mapping at a time)`
          : `zs_map_object: handle ${handle} is pinned by too many Workers`);
      }
      if (st === Status.EINVAL) throw new TmemError(ErrorCode.EINVAL, `zs_map_object: handle ${handle} is not a live object of pool ${this.id}`);
      throw statusError(st, "zs_map_object");
    }
    this.mapped = handle;
    return new Uint8Array(this.pm.memory.buffer, addr, this.u32[this.infoIndex]!);
  }

  /** Unmap `handle`. @throws TmemError EINVAL if it is not the object this Worker has mapped. */
  unmap(handle: number): void {
    this.live();
    handleCheck(handle);
    const r = this.core.zs_unmap_object(this.id, handle);
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `zs_unmap_object: handle ${handle} is not the object this Worker has mapped`);
    this.mapped = 0;
  }

  /** zsmalloc does not evict: shrink compacts and returns the frames freed (may exceed `pages`). */
  shrink(pages: number): number {
    this.live();
    argCheck(Number.isInteger(pages) && pages >= 0, `pages must be a non-negative integer, not ${String(pages)}`);
    return pages === 0 ? 0 : this.compact();
  }

  /** Move objects out of the least used zspages into the fullest; returns frames freed. Pinned objects stay. */
  compact(): number {
    this.live();
    const r = this.core.zs_compact(this.id);
    if (r < 0) throw statusError(r, "zs_compact");
    return r;
  }

  /** Bytes of physical memory the pool holds: object and metadata frames × 4096. */
  totalSize(): number {
    return this.stats().pages * PAGE_SIZE;
  }

  /** Pool statistics now (a lock-free snapshot: each counter exact, the set not atomic). */
  stats(): ZsmallocStats {
    this.live();
    const r = this.core.zs_pool_stats(this.id, this.statsAddr);
    if (r < 0) throw statusError(r, "zs_pool_stats");
    const w = new Uint32Array(this.pm.memory.buffer, this.statsAddr, POOL_STAT_WORDS);
    const objectPages = w[PoolWord.OBJECT_PAGES]!, metaPages = w[PoolWord.META_PAGES]!, objects = w[PoolWord.OBJECTS]!;
    const metadataBytes = metaPages * PAGE_SIZE;
    return {
      pages: objectPages + metaPages,
      objects,
      objectBytes: w[PoolWord.PAYLOAD_BYTES]!,
      metadataBytes,
      objectPages,
      metaPages,
      hugeObjects: w[PoolWord.HUGE_OBJECTS]!,
      classes: w[PoolWord.CLASSES]!,
      maxPagesPerZspage: w[PoolWord.MAX_PAGES_PER_ZSPAGE]!,
      hugeClassSize: w[PoolWord.HUGE_CLASS_SIZE]!,
      pagesCompacted: w[PoolWord.PAGES_COMPACTED]!,
      metadataBytesPerObject: objects === 0 ? 0 : metadataBytes / objects,
    };
  }

  /** Per-class statistics (the kernel's debugfs `classes` table), classes with no zspage included. */
  classStats(): ZsClassStats[] {
    this.live();
    const n = this.core.zs_class_count(this.id);
    if (n < 0) throw statusError(n, "zs_class_count");
    const rows: ZsClassStats[] = [];
    for (let c = 0; c < n; c++) {
      const r = this.core.zs_class_stats(this.id, c, this.statsAddr);
      if (r < 0) throw statusError(r, "zs_class_stats");
      const w = new Uint32Array(this.pm.memory.buffer, this.statsAddr, CLASS_STAT_WORDS);
      rows.push({
        index: c, size: w[ClassWord.SIZE]!, objsPerZspage: w[ClassWord.OBJS_PER_ZSPAGE]!,
        pagesPerZspage: w[ClassWord.PAGES_PER_ZSPAGE]!, huge: w[ClassWord.HUGE]! !== 0,
        objAllocated: w[ClassWord.OBJ_ALLOCATED]!, objUsed: w[ClassWord.OBJ_USED]!, pagesUsed: w[ClassWord.PAGES_USED]!,
        freeable: w[ClassWord.FREEABLE]!, pagesCompacted: w[ClassWord.PAGES_COMPACTED]!,
        payloadBytes: w[ClassWord.PAYLOAD_BYTES]!,
        fullness: Array.from(w.subarray(ClassWord.FULLNESS, ClassWord.FULLNESS + FULLNESS_GROUPS)),
        full: w[ClassWord.FULL]!, zspages: w[ClassWord.ZSPAGES]!,
      });
    }
    return rows;
  }

  /** Size `handle` was allocated with. @throws TmemError EINVAL for a bad handle. */
  objSize(handle: number): number {
    this.live();
    handleCheck(handle);
    const r = this.core.zs_obj_size(this.id, handle);
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `handle ${handle} is not a live object of pool ${this.id}`);
    return r;
  }

  /**
   * Release every frame of the pool (objects included; the zpool layer
   * decides whether live objects may be dropped). Returns nothing; the pool
   * id is dead afterwards in every Worker.
   * @throws TmemError EBUSY if this Worker has an object of it mapped.
   */
  destroy(): void {
    this.live();
    const r = this.core.zs_destroy_pool(this.id);
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `zsmalloc pool ${this.id}: handle ${this.mapped} is still mapped`);
    if (r < 0) throw statusError(r, "zs_destroy_pool");
    this.dead = true;
  }
}

function chainOf(options: ZpoolDriverOptions): number {
  const chain = options.maxPagesPerZspage ?? ZS_DEFAULT_CHAIN;
  argCheck(Number.isInteger(chain) && chain >= 1 && chain <= ZS_MAX_CHAIN,
    `maxPagesPerZspage must be an integer from 1 to ${ZS_MAX_CHAIN}, not ${String(chain)}`);
  return chain;
}

/** The zsmalloc driver: register it with the zpool registry as type "zsmalloc". */
export const zsmallocDriver: ZpoolDriver = {
  type: "zsmalloc",
  /**
   * Create a pool in `pm`. `options.maxPagesPerZspage` is the chain length
   * (1..16, default 8); `options.evict` is ignored (zsmalloc does not evict).
   * @throws TmemError EINVAL for a bad chain length; ENOMEM when frames run out.
   */
  create(pm: PhysicalMemory, options: ZpoolDriverOptions): ZsmallocBackend {
    const id = pm.core.zs_create_pool(chainOf(options));
    if (id < 0) throw statusError(id, "zs_create_pool");
    return new ZsmallocBackend(pm, id);
  },
  /**
   * Open pool `id` (made by `create` in any Worker) from this Worker.
   * @throws TmemError ENOENT when `id` is not a live zsmalloc pool.
   */
  open(pm: PhysicalMemory, id: number, _options: ZpoolDriverOptions): ZsmallocBackend {
    argCheck(Number.isInteger(id) && id > 0, `a zsmalloc pool id is a positive integer, not ${String(id)}`);
    if (pm.core.zs_pool_valid(id) !== 1) throw new TmemError(ErrorCode.ENOENT, `no zsmalloc pool with id ${id}`);
    return new ZsmallocBackend(pm, id);
  },
};

