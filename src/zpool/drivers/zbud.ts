// SPDX-License-Identifier: MIT
/**
 * drivers/zbud.ts: the zpool driver for zbud (assembly/zbud.ts), the zbud.c
 * "zpool" section in TypeScript.
 *
 * What it is: a thin adapter from the {@link ZpoolDriver} contract to the wasm
 * entry points `zbud_*`. It is not the allocator: every list, header and
 * counter lives in shared memory and is changed only by the wasm, under the
 * pool lock, so a pool created here can be opened by id in any Worker.
 *
 * Key idea: eviction is driven from here. The kernel's zbud_reclaim_page
 * calls the evict callback with the pool lock dropped; the wasm cannot call
 * TypeScript, so {@link ZbudBackend.shrink} runs the same protocol in three
 * steps: `zbud_reclaim_begin` (take the LRU tail frame off every list),
 * `evict(handle)` for each live buddy (the callback writes back and frees),
 * `zbud_reclaim_end` (free the frame if both buddies went, else relist it at
 * the LRU head). Objects are evicted least recently used frame first, FIRST
 * buddy before LAST.
 *
 * Guarantee: a bad, stale, double-freed or forged handle is a TmemError
 * EINVAL and changes nothing (handles carry a per-buddy generation, see the
 * essay of assembly/zbud.ts). Objects above 3968 bytes get ENOSPC.
 *
 * API peculiarities: `map` returns a Uint8Array that ALIASES shared memory (a
 * SharedArrayBuffer view cannot be detached): it is valid until `unmap`, after
 * which its bytes may belong to another object. One object may be mapped per
 * Worker at a time (EBUSY otherwise), as with the kernel's per-CPU mapping.
 * The mode is advisory for zbud: objects never straddle frames, so the view
 * is the object itself in every mode.
 *
 * Concurrency: every method may be called from any Worker concurrently, on
 * different handles. `shrink` may run in two Workers at once (they reclaim
 * different frames). An evict callback runs in the Worker that called shrink.
 *
 * See also: ../driver.ts (the contract), ../zpool.ts (the API users call),
 * ../../../assembly/zbud.ts, ../../../test/zbud.test.ts.
 *
 * @module
 */
import { ZC_DRV_ZBUD } from "../../../bindings/layout.generated.js";
import type { PhysicalMemory } from "../../../bindings/physmem.js";
import { ErrorCode, Status, TmemError, argCheck, statusError } from "../../../bindings/status.js";
import { PAGE_SIZE, FRAME_META_SIZE } from "../../../bindings/layout.js";
import type { EvictFn, MapMode, ZpoolBackend, ZpoolDriver, ZpoolDriverOptions, ZpoolHandle, ZpoolStats } from "../driver.js";

/** Largest object zbud holds: a frame less its header chunk and one chunk (bytes). */
export const ZBUD_MAX_SIZE = 3968;
/** Bytes of the per-frame header (one 64-byte chunk). */
export const ZBUD_HEADER_SIZE = 64;

/** zbud's statistics: the common ones plus the kernel's own counter. */
export interface ZbudStats extends ZpoolStats {
  /** Frames holding objects (the kernel's `zbud_get_pool_size`, pages_nr); `pages` adds the descriptor frame. */
  zbudPages: number;
}

/** A zbud pool as seen from one Worker. */
export class ZbudBackend implements ZpoolBackend {
  /** @internal The wasm driver this is (zcache stores through its wasm ops). */
  readonly wasmDriver: number = ZC_DRV_ZBUD;
  /** The pool id: the pfn of the pool's descriptor frame. */
  readonly id: number;
  private readonly pm: PhysicalMemory;
  private readonly core: PhysicalMemory["core"];
  private readonly evict: EvictFn | undefined;
  private readonly pfnMask: number;
  private readonly framesBase: number;
  private mapped = 0;
  private dead = false;

  /** Not for callers (kept in the declarations: stripped, it would read as a no-argument constructor): use {@link zbudDriver}. */
  constructor(pm: PhysicalMemory, id: number, options: ZpoolDriverOptions) {
    this.pm = pm;
    this.core = pm.core;
    this.id = id;
    this.evict = options.evict;
    this.pfnMask = 2 ** this.core.zbud_pfn_bits() - 1;
    this.framesBase = pm.layout.framesBase;
  }

  private live(): void {
    if (this.dead) throw new TmemError(ErrorCode.EINVAL, `zbud pool ${this.id} was destroyed`);
  }

  private checkHandle(handle: number): void {
    // The message is built only on failure: this runs on every free and map.
    if (!((handle | 0) === handle && handle > 0)) argCheck(false, `zbud handle must be an integer from 1 to 2^31-1, not ${String(handle)}`);
  }

  /**
   * Allocate `size` bytes (1..3968). Returns the handle.
   * @throws TmemError EINVAL for a size that is not a positive integer;
   *   ENOSPC for any size above 3968 bytes (too big for a buddy, as zsmalloc
   *   answers above 4096 and the zpool contract says); ENOMEM when no frame is free.
   */
  malloc(size: number): number {
    if (!(Number.isInteger(size) && size >= 1)) argCheck(false, `zbud malloc size must be a positive integer, not ${String(size)}`);
    if (size > ZBUD_MAX_SIZE) throw new TmemError(ErrorCode.ENOSPC, `zbud cannot hold a ${size}-byte object (at most ${ZBUD_MAX_SIZE} bytes)`);
    const h = this.core.zbud_alloc(this.id, size);
    if (h < 0) {
      if (h === Status.ENOSPC) throw new TmemError(ErrorCode.ENOSPC, `zbud cannot hold a ${size}-byte object (at most ${ZBUD_MAX_SIZE} bytes)`);
      if (h === Status.EINVAL) this.live();
      throw statusError(h, "zbud_alloc");
    }
    return h;
  }

  /** Free `handle`. @throws TmemError EINVAL for a stale, double-freed or forged handle (nothing changes). */
  free(handle: number): void {
    this.checkHandle(handle);
    const r = this.core.zbud_free(this.id, handle);
    if (r < 0) {
      this.live();
      throw new TmemError(ErrorCode.EINVAL, `zbud_free: handle ${handle} is not a live object of pool ${this.id} (stale, double-freed or forged)`);
    }
    if (this.mapped === handle) this.mapped = 0;
  }

  /**
   * Map `handle`: a view of exactly its bytes, aliasing shared memory, valid
   * until {@link unmap}. `mode` is advisory (zbud objects never straddle frames).
   * @throws TmemError EINVAL for a bad handle or mode; EBUSY when this Worker has an object mapped.
   */
  map(handle: number, mode: MapMode = "rw"): Uint8Array {
    this.checkHandle(handle);
    if (mode !== "ro" && mode !== "wo" && mode !== "rw") argCheck(false, `map mode must be "ro", "wo" or "rw", not ${String(mode)}`);
    const r = this.core.zbud_map(this.id, handle);
    if (r < 0) {
      if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `zbud_map: this Worker already has handle ${this.core.zbud_mapped()} mapped (unmap it first)`);
      this.live();
      throw new TmemError(ErrorCode.EINVAL, `zbud_map: handle ${handle} is not a live object of pool ${this.id} (stale, double-freed or forged)`);
    }
    this.mapped = handle;
    const pfn = (handle >>> 1) & this.pfnMask;
    return new Uint8Array(this.pm.memory.buffer, this.framesBase + pfn * PAGE_SIZE + (r & (PAGE_SIZE - 1)), r >>> 12);
  }

  /** Unmap `handle`. @throws TmemError EINVAL if it is not the handle this Worker mapped. */
  unmap(handle: number): void {
    this.checkHandle(handle);
    if (this.core.zbud_unmap(this.id, handle) < 0) {
      throw new TmemError(ErrorCode.EINVAL, `zbud_unmap: handle ${handle} is not the one this Worker mapped`);
    }
    this.mapped = 0;
  }

  /**
   * Reclaim up to `pages` frames by evicting their objects, least recently
   * used frame first (the kernel's zbud_reclaim_page, repeated). Gives up
   * after 8 frames that could not be freed (a callback refused; zswap's
   * retries); a refused frame goes back to the LRU head.
   * Without an evict callback, reclaims nothing.
   * @returns frames freed.
   * @throws whatever the evict callback throws (the frame is put back first).
   */
  shrink(pages: number): number {
    argCheck(Number.isInteger(pages) && pages >= 0, `shrink pages must be a non-negative integer, not ${String(pages)}`);
    this.live();
    const evict = this.evict;
    if (evict === undefined) return 0;
    let reclaimed = 0;
    let failures = 0;
    while (reclaimed < pages && failures < 8) {
      const pfn = this.core.zbud_reclaim_begin(this.id);
      if (pfn === Status.ENOENT) break;
      if (pfn < 0) throw statusError(pfn, "zbud_reclaim_begin");
      let freed = 0;
      try {
        for (let bud = 0; bud < 2; bud++) {
          const h = this.core.zbud_reclaim_handle(this.id, pfn, bud);
          if (h > 0) evict(h as ZpoolHandle);
        }
      } finally {
        freed = this.core.zbud_reclaim_end(this.id, pfn);
      }
      if (freed === 1) reclaimed++;
      else failures++;
    }
    return reclaimed;
  }

  /** zbud never compacts: returns 0. */
  compact(): number {
    this.live();
    return 0;
  }

  /** Bytes of physical memory the pool holds: (data frames + descriptor) × 4096. */
  totalSize(): number {
    return this.stats().pages * PAGE_SIZE;
  }

  /** Statistics now (counters read without the lock: each exact, the set not atomic). */
  stats(): ZbudStats {
    this.live();
    const zbudPages = this.core.zbud_get_pool_size(this.id);
    if (zbudPages < 0) throw statusError(zbudPages, "zbud_get_pool_size");
    const objects = this.core.zbud_pool_objects(this.id);
    const objectBytes = this.core.zbud_pool_bytes(this.id);
    return {
      pages: zbudPages + 1,
      objects: Math.max(0, objects),
      objectBytes: Math.max(0, objectBytes),
      // The descriptor frame, and per data frame its header chunk and its FrameMeta.
      metadataBytes: PAGE_SIZE + FRAME_META_SIZE + zbudPages * (ZBUD_HEADER_SIZE + FRAME_META_SIZE),
      zbudPages,
    };
  }

  /**
   * Free every frame of the pool, live objects included (the zpool layer
   * refuses that unless forced).
   * @throws TmemError EBUSY while a frame is under reclaim; EINVAL if already destroyed.
   */
  destroy(): void {
    this.live();
    if (this.mapped !== 0) {
      this.core.zbud_unmap(this.id, this.mapped);
      this.mapped = 0;
    }
    const r = this.core.zbud_destroy_pool(this.id);
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `zbud pool ${this.id} is being shrunk: destroy it after shrink returns`);
    if (r < 0) throw statusError(r, "zbud_destroy_pool");
    this.dead = true;
  }
}

/**
 * The zbud driver: registered by default in every thread's zpool registry.
 * `create` allocates the pool's descriptor frame (ENOMEM when none is free);
 * `open` checks that `id` names a live zbud pool (EINVAL otherwise).
 */
export const zbudDriver: ZpoolDriver = {
  type: "zbud",
  create(pm: PhysicalMemory, options: ZpoolDriverOptions): ZpoolBackend {
    const id = pm.core.zbud_create_pool();
    if (id < 0) throw statusError(id, "zbud_create_pool");
    return new ZbudBackend(pm, id, options);
  },
  open(pm: PhysicalMemory, id: number, options: ZpoolDriverOptions): ZpoolBackend {
    argCheck(Number.isInteger(id) && id >= 0 && id < pm.layout.frames, `zbud pool id must be a frame number, not ${String(id)}`);
    if (pm.core.zbud_get_pool_size(id) < 0) throw new TmemError(ErrorCode.EINVAL, `${id} is not a live zbud pool`);
    return new ZbudBackend(pm, id, options);
  },
};
