// SPDX-License-Identifier: MIT
/**
 * tmem/ops.ts: the backend interface ("ops") the cleancache and frontswap
 * frontends call, and the per-thread registry of backend types that lets any
 * Worker open a backend another Worker registered.
 *
 * What it is: {@link TmemBackend} is the kernel's cleancache_ops and
 * frontswap_ops folded into one tmem-shaped table (new pool, put, get, flush
 * page, flush object, destroy pool), plus what the frontends need to drain a
 * backend (scan a pool's keys). A backend stores whole 4 KiB pages; its pools
 * are tmem pools (src/tmem/core.ts), so every backend instance lives in shared
 * memory and has a numeric `instance` id.
 *
 * Key idea: backends are code (per thread) but their state is data (shared).
 * A frontend's chain of registered backends is a list of instance ids in
 * shared memory; a Worker that meets an instance it has not opened yet looks
 * its `type` up here and opens it ({@link openBackend}). zcache and the raw
 * backend are registered by the frontends themselves when first used
 * (builtins.ts); a user backend type must be registered in every Worker that
 * uses the frontends.
 *
 * Concurrency: the registry is per thread (no locks). Backend methods may be
 * called from any Worker concurrently, except that one key must not be put
 * and flushed at the same time by two callers (cleancache/frontswap rule:
 * the caller holds the page).
 *
 * See also: pam.ts (a backend built on the tmem core), ../zcache.ts,
 * ../cleancache.ts, ../frontswap.ts, shared.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import type { Oid, UuidLike } from "./core.js";

/** What kind of pool a frontend asks a backend for. */
export interface PoolSpec {
  /** Persistent (frontswap: never dropped, loads keep the page) or ephemeral (cleancache). */
  persistent: boolean;
  /** A shared pool named by this uuid (cleancache init_shared_fs). */
  uuid?: UuidLike;
}

/**
 * Result of {@link TmemBackend.putPage}:
 * - `"new"`: stored, no older copy existed;
 * - `"replaced"`: stored, an older copy was flushed first;
 * - `"exists"`: with `noReplace`, a copy existed and was kept (the page was not stored);
 * - `"rejected"`: not stored, and no copy of the key remains;
 * - `"rejected-flushed"`: not stored, and the older copy that existed was flushed.
 */
export type PutResult = "new" | "replaced" | "exists" | "rejected" | "rejected-flushed";

/** A tmem backend instance as this thread sees it (tmem_pamops + cleancache_ops + frontswap_ops). */
export interface TmemBackend<Stats = unknown> {
  /** The backend type, as registered with {@link registerBackendType} ("zcache", "tmem-raw"). */
  readonly type: string;
  /** Instance id in shared memory (0..15): other Workers open it by (type, instance). */
  readonly instance: number;
  /**
   * The instance's generation: (instance, generation) names this backend for
   * the memory's whole life, even after the id is reused by a later backend.
   */
  readonly generation: number;
  /** The physical memory the instance lives in: a frontend refuses a backend of another memory. */
  readonly pm: PhysicalMemory;
  /**
   * Create a pool (frontswap init, cleancache init_fs / init_shared_fs).
   * @returns a tmem pool id.
   * @throws TmemError ENOSPC when no pool is free.
   */
  createPool(spec: PoolSpec): number;
  /** Drop this caller's reference to `pool`; the last one frees every page. */
  destroyPool(pool: number): void;
  /**
   * Store a copy of `page` (4096 bytes) under (pool, oid, index). A failed
   * put never leaves an older copy of the key behind (unless `noReplace`).
   * @param noReplace - keep an existing copy instead (used when draining).
   */
  putPage(pool: number, oid: Oid, index: number, page: Uint8Array, noReplace?: boolean): PutResult;
  /**
   * Copy the page into `into` (4096 bytes). Private ephemeral pools remove it
   * (exclusive get); persistent and shared pools keep it.
   * @returns true on a hit.
   * @throws TmemError EBADMSG if the stored copy is corrupt (the key is then flushed).
   */
  getPage(pool: number, oid: Oid, index: number, into: Uint8Array): boolean;
  /** Remove one page. @returns true if it was there. */
  flushPage(pool: number, oid: Oid, index: number): boolean;
  /** Remove every page of an object. @returns pages removed. */
  flushObject(pool: number, oid: Oid): number;
  /** Remove every page of a pool, keeping the pool. @returns pages removed. */
  flushPool(pool: number): number;
  /** Visit the keys of a pool's pages (the Oid is reused: copy it to keep it); return false to stop. */
  scanPool(pool: number, visit: (oid: Oid, index: number) => boolean | void): number;
  /** Pages in `pool` now. */
  poolPages(pool: number): number;
  /**
   * The backend's statistics (a snapshot). Each backend names its own type
   * (`TmemBackend<ZcacheStats>`, {@link RawBackendStats}); a frontend, which
   * holds backends of any type, sees `unknown`.
   */
  stats(): Stats;
  /**
   * Forget this thread's object (it stops counting as an opener, so another
   * Worker may destroy the instance without force). The instance lives on.
   */
  close(): void;
}

/** Opens a backend instance of one type in this thread. */
export interface BackendType {
  /** The type name stored in shared memory. */
  readonly type: string;
  /** Open instance `instance` (made by any Worker) in this thread. */
  open(pm: PhysicalMemory, instance: number): Promise<TmemBackend>;
}

const types = new Map<string, BackendType>();

/**
 * Register a backend type in this thread, so frontends can open instances of
 * it that other Workers registered. Re-registering a type replaces it.
 * @throws TmemError EINVAL for a bad descriptor.
 * Thread safety: per thread; call it in every Worker that uses the type.
 */
export function registerBackendType(t: BackendType): void {
  argCheck(typeof t === "object" && t !== null && typeof t.type === "string" && t.type.length > 0 && t.type.length <= 32,
    "a backend type needs a name of 1..32 characters");
  argCheck(/^[\x20-\x7e]+$/.test(t.type), "a backend type name must be printable ASCII");
  argCheck(typeof t.open === "function", "a backend type needs an open(pm, instance) function");
  types.set(t.type, t);
}

/** Names of the backend types registered in this thread. */
export function registeredBackendTypes(): string[] {
  return [...types.keys()];
}

/**
 * Open instance `instance` of backend `type` in this thread.
 * @throws TmemError ENODEV when `type` is not registered in this thread.
 */
export async function openBackend(pm: PhysicalMemory, type: string, instance: number): Promise<TmemBackend> {
  const t = types.get(type);
  if (t === undefined) {
    throw new TmemError(ErrorCode.ENODEV,
      `backend type "${type}" (instance ${instance}) is not registered in this thread (known: ${registeredBackendTypes().join(", ") || "none"}): call registerBackendType in every Worker`);
  }
  return t.open(pm, instance);
}
