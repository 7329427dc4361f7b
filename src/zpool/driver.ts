// SPDX-License-Identifier: MIT
/**
 * driver.ts: the contract between the zpool API (src/zpool/zpool.ts, the
 * registry) and an allocator driver (zsmalloc, zbud, or one a user registers).
 *
 * This is the kernel's `struct zpool_driver` (mm/zpool.c) in TypeScript: a
 * driver makes pools; a pool hands out opaque numeric handles to objects of a
 * given size and maps them for access. Everything a pool keeps lives in the
 * shared physical memory, so a pool created in one Worker can be opened by id
 * in any other Worker attached to the same memory.
 *
 * Handles: opaque positive integers below 2^32 (0 is never a valid handle).
 * Drivers tag handles so that a freed, double-freed or forged handle is
 * detected, not guessed: such a handle gets a TmemError EINVAL and changes
 * nothing.
 *
 * Mapping discipline (as the kernel's per-CPU mapping): one object mapped at a
 * time per attached instance (per Worker); the view returned by `map` is valid
 * only until `unmap`; `map` of a second handle while one is mapped is EBUSY.
 *
 * Concurrency: different Workers may call any pool method concurrently; one
 * handle must not be freed by one Worker while another maps it (the caller
 * owns its handles, as with zpool).
 *
 * Registration: drivers are code, so the registry (registry.ts) is per
 * thread: a driver must be registered in every Worker that creates or opens
 * its pools (zbud and zsmalloc are built in). Pools are data: the zpool
 * layer (zpool.ts) records each one in the shared pool table with its type
 * name and the backend's `id`, which `open` receives in other Workers. The
 * zpool layer enforces the cross-pool rules (one mapping per Worker across
 * pools, destroy refused with live objects); a backend enforces its own
 * handle checks and its per-Worker mapping.
 *
 * See also: registry.ts, zpool.ts, drivers/zbud.ts, drivers/zsmalloc.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";

/** How an object is mapped: read-only, write-only or read-write (zpool_mapmode). */
export type MapMode = "ro" | "wo" | "rw";

/**
 * A handle of an object in a zpool, as {@link Zpool.malloc} returns it: an
 * opaque integer, 1 ≤ handle < 2^32, that only the pool which made it
 * accepts (drivers tag handles: a stale, double-freed or forged one is
 * EINVAL). Branded: a frame number, a byte address, a tmem pool id or a plain
 * number is not a ZpoolHandle to the type checker; {@link Zpool.handle}
 * makes one from a number (one read back from shared memory or posted by
 * another Worker), checking its shape.
 */
export type ZpoolHandle = number & { readonly [zpoolHandleBrand]: "zpool handle" };
declare const zpoolHandleBrand: unique symbol;

/**
 * Called by a driver that evicts (zbud) for each object it reclaims, least
 * recently used first. The callback must write the object's contents back
 * elsewhere if it needs them (it may `map` the handle) and then `free` it;
 * it returns true when the handle was freed, false to refuse (the page is then
 * not reclaimed).
 */
export type EvictFn = (handle: ZpoolHandle) => boolean;

/** Options a driver's pool is created with. */
export interface ZpoolDriverOptions {
  /** Evict callback; pools without it cannot reclaim by eviction. */
  evict?: EvictFn;
  /** zsmalloc: most frames per zspage (kernel's chain length). @defaultValue 8 */
  maxPagesPerZspage?: number;
}

/** Statistics every pool reports; drivers add their own fields. */
export interface ZpoolStats {
  /** Page frames the pool holds (objects and the pool's own metadata). */
  pages: number;
  /** Objects allocated now. */
  objects: number;
  /** Sum of the allocated objects' sizes, in bytes. */
  objectBytes: number;
  /** Bytes of metadata the pool keeps (handle tables, headers, per-frame meta). */
  metadataBytes: number;
}

/** One pool of one driver, as this Worker sees it. */
export interface ZpoolBackend {
  /** The pool id: other Workers open the pool with it. */
  readonly id: number;
  /**
   * @internal Set only by the built-in drivers, whose code is in the wasm
   * core: which one this pool is (assembly/zcache_layout.ts ZC_DRV_ZSMALLOC,
   * ZC_DRV_ZBUD), so zcache stores and loads through the driver's wasm ops
   * in one call. Absent for a driver written in JavaScript.
   */
  readonly wasmDriver?: number;
  /**
   * Allocate an object of `size` bytes (1..4096); returns its handle.
   * @throws TmemError ENOSPC if the driver cannot hold an object of that size,
   *   ENOMEM when no page frame is left, EINVAL for a bad size.
   */
  malloc(size: number): number;
  /** Free `handle`. @throws TmemError EINVAL for a stale, double-freed or forged handle. */
  free(handle: number): void;
  /**
   * Map `handle` and return a view of exactly the object's bytes.
   * @throws TmemError EINVAL for a bad handle, EBUSY if this Worker already has an object mapped.
   */
  map(handle: number, mode: MapMode): Uint8Array;
  /** Unmap the object mapped by this Worker. @throws TmemError EINVAL if `handle` is not the mapped one. */
  unmap(handle: number): void;
  /** Reclaim up to `pages` frames (by eviction where the driver evicts); returns frames reclaimed. */
  shrink(pages: number): number;
  /** Move objects to free frames where the driver can (zsmalloc); returns frames freed. */
  compact(): number;
  /** Bytes of physical memory the pool holds (pages × 4096). */
  totalSize(): number;
  /** Statistics now. */
  stats(): ZpoolStats;
  /** Release every frame of the pool. The zpool layer refuses this while objects are live unless forced. */
  destroy(): void;
}

/** An allocator driver, registered with the zpool registry by `type`. */
export interface ZpoolDriver {
  /** The name pools are created by ("zsmalloc", "zbud"). */
  readonly type: string;
  /** Create a new pool in `pm`'s shared memory. */
  create(pm: PhysicalMemory, options: ZpoolDriverOptions): ZpoolBackend;
  /** Open the existing pool `id` (made by `create` in any Worker) from this Worker. */
  open(pm: PhysicalMemory, id: number, options: ZpoolDriverOptions): ZpoolBackend;
}
