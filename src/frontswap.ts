// SPDX-License-Identifier: MIT
/**
 * frontswap.ts: the frontswap frontend: persistent, page-at-a-time
 * store/load of swap pages (type, offset) to whatever tmem backend is
 * registered, with backends that may register (and chain) at any time.
 *
 * What it is: the kernel's mm/frontswap.c over our tmem core. A store either
 * succeeds, and the page loads back byte-exact until it is invalidated, or is
 * rejected, and the caller keeps its data (the kernel then writes the page to
 * the swap device). It is not a swap device: offsets are the caller's, up to
 * 2^32 - 1 per type, and types are 0..31 (MAX_SWAPFILES).
 *
 * Key ideas:
 * - Late registration (seed 002): `init(type)` before any backend is
 *   remembered in shared memory; `registerOps` creates a persistent pool for
 *   every remembered type in the new backend before it publishes the chain.
 *   Until then stores are rejected (counted) and loads miss.
 * - Chaining (seed 004, Streetman's multi-backend patch): backends form a
 *   list, newest first. A store first invalidates the offset in every backend
 *   but the first, then tries each in order until one accepts; a rejected
 *   store also drops any older copy, so a stale page can never be loaded. A
 *   load tries each backend; invalidations reach all. At most one live copy
 *   of an offset exists at any time.
 * - Draining: `unuse`/`shrink` hand pages back through the caller's callback
 *   before invalidating them, so nothing is lost; `unregisterOps` drains a
 *   backend into the rest of the chain (or the caller's writeback) before it
 *   destroys the backend's pools.
 *
 * Record of stored offsets: per type, the count lives in shared memory (each
 * Worker's net count in its scratch tail, summed on read); the offsets
 * themselves are the tmem index (each backend's pool for the type),
 * enumerable with `storedOffsets`. The kernel's one-bit-per-slot
 * frontswap_map exists to skip a call into the backend for slots never
 * stored; our lookup is one wasm hash probe (~50 ns), so a bitmap would cost
 * shared memory for nothing.
 *
 * Key mapping: oid = (offset, 0, 0, 0, 0, 0), index 0, in one persistent pool
 * per (type, backend): every page is its own object, so pages spread over all
 * the core's lock stripes (the kernel's "swizzle" for the same reason).
 *
 * Concurrency: every method may be called from any Worker attached to the
 * memory. Registration state is in shared memory under one futex; data
 * operations never take it (they enter a grace counter, see tmem/shared.ts).
 * The caller must not store, load or invalidate one (type, offset) from two
 * places at once (the kernel's swap-slot ownership). A backend registered by
 * another Worker must be opened here before data operations: they throw
 * ENODEV until `await frontswap.ready()`.
 *
 * See also: cleancache.ts, zcache.ts, tmem/shared.ts, tmem/ops.ts,
 * kernel.md §1.5, test/frontswap*.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../bindings/status.js";
import { PAGE_SIZE } from "../bindings/layout.js";
import { checkPage } from "../bindings/args.js";
import { newOid, type Oid } from "./tmem/core.js";
import type { PoolSpec, TmemBackend } from "./tmem/ops.js";
import { registerBuiltinBackends } from "./tmem/builtins.js";
import {
  CHAIN_DRAINING, TAIL_FS, entryId, entryIs, checkBackend, makePools, TAIL_STORED, FrontendArea, FrontendRegistry, detachedError, MAX_SWAP_TYPES, NO_POOL, REG_FRONTSWAP,
  SWAP_TYPES, SWAP_TYPE_SIZE,
} from "./tmem/shared.js";

/**
 * A swap type (one swap device): 0..31, the kernel's MAX_SWAPFILES. The
 * union of its 32 values, so a literal is one as written
 * (`fs.store(0, offset, page)`), while a cleancache `FsId`, a frame
 * number, a zpool handle, a tmem pool id or any computed number is not one
 * to the type checker. A type computed at run time, or posted by another
 * Worker, becomes one through {@link Frontswap.swapType}, which checks it.
 */
export type SwapType =
  | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15
  | 16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30 | 31;

/** frontswap's debugfs counters. */
export interface FrontswapCounters {
  /** Successful loads. */
  loads: number;
  /** Stores accepted. */
  succStores: number;
  /** Stores rejected (no backend, type not initialised, or the backend refused). */
  failedStores: number;
  /** Invalidations that found a page. */
  invalidates: number;
}

/**
 * Receives a page handed back by unuse/shrink/unregister. `page` is reused
 * after the call returns: copy it. It runs inside a frontswap operation, so
 * it must not register or unregister backends or invalidate areas (those wait
 * for running operations to finish); storing, loading and invalidating pages
 * is fine.
 */
export type FrontswapWriteback = (type: SwapType, offset: number, page: Uint8Array) => void;

/** Options of {@link Frontswap.unregisterOps}. */
export interface UnregisterOptions {
  /** Pages the rest of the chain does not take go here; without it such a page makes unregister fail (EBUSY). */
  writeback?: FrontswapWriteback;
}

const ACTIVE = 1;
/**
 * Key locks: 128 futex words at the end of the frontend area, a (type,
 * offset) hashing to one. They exist for draining only: while a backend on
 * the chain is being drained, every store, load and invalidation of a key
 * holds its lock, and the drain moves each page under it, so a drain never
 * copies a page back after a concurrent invalidation or overwrite, and a
 * load never falls between the two copies. Without a draining backend no
 * data operation takes them. Lock order: key lock → everything in the
 * backends (stripe, class, LRU locks); never held across user callbacks.
 */
const KEY_LOCKS = 3584, KEY_LOCK_COUNT = 128;
const C_LOADS = 0, C_SUCC = 1, C_FAILED = 2, C_INVAL = 3;

const instances = new WeakMap<PhysicalMemory, Frontswap>();


/**
 * The frontswap frontend of one physical memory, as this thread sees it.
 *
 * When a Worker dies (README "When a Worker dies"): once its slot is
 * reclaimed, a page whose store returned true loads back exactly, from any
 * Worker, until it is invalidated, whoever stored it; the dead Worker may
 * lose only its own operation in flight (a store that had not returned is
 * absent, never half there), and no other Worker's call hangs on it.
 */
export class Frontswap {
  /** The physical memory. */
  readonly pm: PhysicalMemory;
  private readonly area: FrontendArea;
  private readonly reg: FrontendRegistry;
  private readonly i32: Int32Array;
  /** This Worker's counter words (its scratch tail). */
  private readonly tail: Int32Array;
  private readonly oid: Oid = newOid();
  private readonly buf = new Uint8Array(PAGE_SIZE);

  private constructor(pm: PhysicalMemory) {
    registerBuiltinBackends();
    this.pm = pm;
    this.area = FrontendArea.for(pm);
    this.reg = new FrontendRegistry(this.area, REG_FRONTSWAP);
    this.i32 = this.area.i32;
    this.tail = this.area.tail;
  }

  /**
   * The frontswap frontend of `pm` for this thread. Its state is shared: every
   * Worker's frontend sees the same types, backends and pages.
   * @throws TmemError EINVAL when `pm` is detached; ENOMEM when the tmem index cannot be set up.
   */
  static for(pm: PhysicalMemory): Frontswap {
    if (!pm.isAttached) throw detachedError();
    let f = instances.get(pm);
    if (f === undefined) { f = new Frontswap(pm); instances.set(pm, f); }
    return f;
  }

  /** Open, in this thread, every backend registered by any Worker. Data operations need it after another Worker registers. */
  ready(): Promise<void> {
    return this.reg.ready();
  }

  // ── registration ──

  /**
   * Register `backend` (frontswap_register_ops). It goes to the head of the
   * chain; every swap type initialised so far gets a persistent pool in it
   * first, then the new chain is published. May be called at any time, from
   * any Worker, concurrently with anything.
   * @returns the previous head of the chain (for a backend that wants to
   *   chain by itself), or null.
   * @throws TmemError EINVAL for a non-backend or a backend of another
   *   physical memory; EEXIST if it is registered already; ENOSPC when 8
   *   backends are chained or no tmem pool is free (nothing changes then).
   */
  async registerOps(backend: TmemBackend): Promise<TmemBackend | null> {
    argCheck(typeof backend === "object" && backend !== null && typeof backend.putPage === "function", "registerOps needs a TmemBackend");
    return this.reg.register(backend, "frontswap", () => {
      const pools: Array<[number, PoolSpec]> = [];
      for (let t = 0; t < MAX_SWAP_TYPES; t++) {
        if (Atomics.load(this.i32, this.typeWord(t)) === ACTIVE) pools.push([t, { persistent: true }]);
      }
      return pools;
    }, (t, instance, pool) => this.setPool(t, instance, pool));
  }

  /**
   * Unregister `backend`: stores stop going to it at once; its pages are
   * moved to the rest of the chain (or handed to `writeback`), then its pools
   * are destroyed. Nothing stored is lost.
   * @throws TmemError EINVAL for a non-backend or a backend of another
   *   physical memory; ENOENT if this instance generation is not registered
   *   (a stale object whose id was reused is not); EBUSY when a page could
   *   not be placed and no writeback was given (the backend then stays
   *   registered with the pages it still holds).
   */
  async unregisterOps(backend: TmemBackend, options: UnregisterOptions = {}): Promise<void> {
    checkBackend(this.pm, backend, "unregisterOps");
    const id = backend.instance;
    await this.reg.locked((entries) => {
      // The entry must name this very instance generation: a stale object whose id was reused is not registered.
      const i = entries.findIndex((e) => entryIs(e, backend));
      if (i < 0) throw new TmemError(ErrorCode.ENOENT, `backend instance ${id} (generation ${backend.generation}) is not registered with frontswap`);
      entries[i] = entries[i]! | CHAIN_DRAINING;
      this.reg.publish(entries);
    });
    // No store that started before the publish can still land in it.
    this.reg.synchronize();
    try {
      for (let t = 0; t < MAX_SWAP_TYPES; t++) this.drainType(t as SwapType, backend, options.writeback);
    } catch (e) {
      await this.reg.locked((entries) => {
        const i = entries.findIndex((x) => entryId(x) === id);
        if (i >= 0) { entries[i] = entries[i]! & ~CHAIN_DRAINING; this.reg.publish(entries); }
      });
      throw e;
    }
    const pools: number[] = [];
    await this.reg.locked((entries) => {
      for (let t = 0; t < MAX_SWAP_TYPES; t++) {
        if (Atomics.load(this.i32, this.typeWord(t)) !== ACTIVE) continue;
        const p = this.poolOf(t, id);
        if (p !== NO_POOL) { pools.push(p); this.setPool(t, id, NO_POOL); }
      }
      this.reg.publish(entries.filter((e) => entryId(e) !== id));
    });
    this.reg.synchronize();
    for (const p of pools) backend.destroyPool(p);
  }

  /** Instance ids on the chain, newest first (a snapshot). */
  backends(): number[] {
    return this.reg.entries().map(entryId);
  }

  // ── swap types ──

  /**
   * `n` as a {@link SwapType}: the boundary where a type computed at run
   * time or posted by another Worker (a plain number once structured-cloned)
   * becomes one again.
   * @throws TmemError EINVAL for anything but an integer 0..31.
   */
  swapType(n: number): SwapType {
    this.checkType(n);
    return n as SwapType;
  }

  /**
   * A swap device of `type` comes up (frontswap_init). Before any backend
   * registers this is only remembered. Idempotent.
   * @throws TmemError EINVAL for a type outside 0..31; ENOSPC when no tmem pool is free.
   */
  async init(type: SwapType): Promise<void> {
    this.checkType(type);
    await this.reg.locked((entries, backends) => {
      if (Atomics.load(this.i32, this.typeWord(type)) === ACTIVE) return;
      this.area.clearPools(type, true);
      const made = makePools(backends.map((b) => [b, { persistent: true }]));
      for (let i = 0; i < backends.length; i++) this.setPool(type, backends[i]!.instance, made[i]!);
      Atomics.store(this.i32, this.typeWord(type), ACTIVE);
      this.reg.publish(entries);
    });
  }

  /**
   * The swap device of `type` goes away (frontswap_invalidate_area): every
   * page of the type is dropped, and stores are rejected until `init` again.
   * @throws TmemError EINVAL for a bad type.
   */
  async invalidateArea(type: SwapType): Promise<void> {
    this.checkType(type);
    const pools: Array<[TmemBackend, number]> = [];
    await this.reg.locked((entries, backends) => {
      if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return;
      Atomics.store(this.i32, this.typeWord(type), 0);
      for (let i = 0; i < backends.length; i++) {
        const inst = entryId(entries[i]!);
        const p = this.poolOf(type, inst);
        if (p !== NO_POOL) { pools.push([backends[i]!, p]); this.setPool(type, inst, NO_POOL); }
      }
      this.reg.publish(entries);
    });
    this.reg.synchronize();
    // No operation on the type is in flight, and new ones see it inactive.
    this.area.zero(TAIL_STORED + type);
    for (const [b, p] of pools) b.destroyPool(p);
  }

  /** Whether `type` is initialised (a snapshot). */
  isActive(type: SwapType): boolean {
    this.checkType(type);
    return Atomics.load(this.i32, this.typeWord(type)) === ACTIVE;
  }

  // ── data path ──

  /**
   * Store a copy of `page` (4096 bytes) as (type, offset) (frontswap_store).
   * @returns true if a backend took it; false if rejected: then no older copy
   *   of the offset remains anywhere, and the caller must keep the page.
   * @throws TmemError EINVAL for a bad type, offset or page (a Uint8Array of
   *   4096 bytes outside the physical memory) or a detached memory; ENODEV
   *   when a backend registered elsewhere is not open here yet (`await
   *   ready()`); EBUSY while this Worker has a zpool object mapped (nothing
   *   changed). After any error the page is not stored: keep it.
   */
  store(type: SwapType, offset: number, page: Uint8Array): boolean {
    this.checkKey(type, offset);
    checkPage(page, this.pm.memory.buffer, "page");
    const reg = this.reg;
    const tok = reg.enter();
    // Accounting happens once, in `finally`, from what really happened: an
    // exception from a backend leaves the stored-page count exact.
    let removed = 0, stored = false, lk = 0;
    try {
      const c = reg.chain();
      const i32 = this.i32;
      const tw = this.typeWord(type);
      if (c.backends.length === 0 || Atomics.load(i32, tw) !== ACTIVE) return false;
      const oid = this.oid;
      oid[0] = offset;
      if (c.anyDraining) lk = this.lockKey(type, offset);
      const n = c.backends.length;
      let first = -1;
      for (let i = 0; i < n; i++) if (!c.draining[i]) { first = i; break; }
      if (n > 1) {
        // Invalidate the old copy everywhere but the first target (it flushes its own first).
        for (let i = 0; i < n; i++) {
          if (i === first) continue;
          const pool = this.poolOf(type, c.instances[i]!);
          if (pool !== NO_POOL && c.backends[i]!.flushPage(pool, oid, 0)) removed++;
        }
      }
      for (let i = first; i >= 0 && i < n; i++) {
        if (c.draining[i]) continue;
        const pool = this.poolOf(type, c.instances[i]!);
        if (pool === NO_POOL) continue;
        const r = c.backends[i]!.putPage(pool, oid, 0, page);
        if (r === "new" || r === "replaced") {
          if (r === "replaced") removed++;
          stored = true;
          return true;
        }
        if (r === "rejected-flushed") removed++;
      }
      return false;
    } finally {
      if (lk !== 0) this.pm.core.lock_release(lk);
      const delta = (stored ? 1 : 0) - removed;
      if (delta !== 0) Atomics.add(this.tail, TAIL_STORED + type, delta);
      Atomics.add(this.tail, TAIL_FS + (stored ? C_SUCC : C_FAILED), 1);
      reg.exit(tok);
    }
  }

  /**
   * Load (type, offset) into `into` (4096 bytes) (frontswap_load). The page
   * stays stored.
   * @returns true on a hit.
   * @throws TmemError EINVAL for bad arguments or a detached memory; ENODEV
   *   and EBUSY as {@link store} (the page stays stored); EBADMSG if the
   *   stored copy is corrupt (provably: it failed to decompress; it is then
   *   dropped, the only case where a load removes a page).
   */
  load(type: SwapType, offset: number, into: Uint8Array): boolean {
    this.checkKey(type, offset);
    checkPage(into, this.pm.memory.buffer, "into");
    const reg = this.reg;
    const tok = reg.enter();
    let lk = 0;
    try {
      const c = reg.chain();
      if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return false;
      const oid = this.oid;
      oid[0] = offset;
      if (c.anyDraining) lk = this.lockKey(type, offset);
      for (let i = 0; i < c.backends.length; i++) {
        const pool = this.poolOf(type, c.instances[i]!);
        if (pool === NO_POOL) continue;
        if (c.backends[i]!.getPage(pool, oid, 0, into)) {
          Atomics.add(this.tail, TAIL_FS + C_LOADS, 1);
          return true;
        }
      }
      return false;
    } finally {
      if (lk !== 0) this.pm.core.lock_release(lk);
      reg.exit(tok);
    }
  }

  /**
   * Drop (type, offset) from every backend (frontswap_invalidate_page).
   * @returns true if a page was there.
   */
  invalidatePage(type: SwapType, offset: number): boolean {
    this.checkKey(type, offset);
    const reg = this.reg;
    const tok = reg.enter();
    let lk = 0;
    try {
      const c = reg.chain();
      if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return false;
      const oid = this.oid;
      oid[0] = offset;
      if (c.anyDraining) lk = this.lockKey(type, offset);
      let found = 0;
      for (let i = 0; i < c.backends.length; i++) {
        const pool = this.poolOf(type, c.instances[i]!);
        if (pool !== NO_POOL && c.backends[i]!.flushPage(pool, oid, 0)) found++;
      }
      if (found !== 0) {
        Atomics.sub(this.tail, TAIL_STORED + type, found);
        Atomics.add(this.tail, TAIL_FS + C_INVAL, 1);
      }
      return found !== 0;
    } finally {
      if (lk !== 0) this.pm.core.lock_release(lk);
      reg.exit(tok);
    }
  }

  /**
   * Hand back up to `pages` pages of `type` (all by default) through
   * `writeback`, each invalidated only after the callback returned
   * (try_to_unuse / partial swapoff). If the callback throws, that page stays
   * stored and the error propagates.
   * @returns pages handed back.
   */
  unuse(type: SwapType, writeback: FrontswapWriteback, pages = Infinity): number {
    this.checkType(type);
    argCheck(typeof writeback === "function", "unuse needs a writeback callback");
    argCheck(pages >= 0, "pages must be ≥ 0");
    const reg = this.reg;
    const tok = reg.enter();
    try {
      const c = reg.chain();
      if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return 0;
      let handed = 0;
      for (let i = 0; i < c.backends.length && handed < pages; i++) {
        const b = c.backends[i]!;
        const pool = this.poolOf(type, c.instances[i]!);
        if (pool === NO_POOL) continue;
        // A scan is a snapshot per batch: repeat while pages remain and are still leaving.
        for (let progress = true; progress && handed < pages && b.poolPages(pool) > 0;) {
          progress = false;
          const offsets: number[] = [];
          b.scanPool(pool, (oid) => { offsets.push(oid[0]!); });
          const oid = newOid();
          for (const off of offsets) {
            if (handed >= pages) break;
            oid[0] = off;
            if (!b.getPage(pool, oid, 0, this.buf)) continue;
            writeback(type, off, this.buf);
            if (b.flushPage(pool, oid, 0)) Atomics.sub(this.tail, TAIL_STORED + type, 1);
            handed++;
            progress = true;
          }
        }
      }
      return handed;
    } finally {
      reg.exit(tok);
    }
  }

  /**
   * Hand pages back (all types, lowest type first) until at most
   * `targetPages` remain stored (frontswap_shrink).
   * @returns pages handed back.
   */
  shrink(targetPages: number, writeback: FrontswapWriteback): number {
    argCheck(Number.isSafeInteger(targetPages) && targetPages >= 0, "targetPages must be an integer ≥ 0");
    let excess = this.curPages() - targetPages;
    let handed = 0;
    for (let t = 0; t < MAX_SWAP_TYPES && excess > 0; t++) {
      if (this.curPages(t as SwapType) === 0) continue;
      const n = this.unuse(t as SwapType, writeback, excess);
      handed += n;
      excess -= n;
    }
    return handed;
  }

  /** Pages stored for `type`, or for all types (frontswap_curr_pages). */
  curPages(type?: SwapType): number {
    if (type !== undefined) {
      this.checkType(type);
      return this.area.sum(TAIL_STORED + type);
    }
    let n = 0;
    for (let t = 0; t < MAX_SWAP_TYPES; t++) n += this.area.sum(TAIL_STORED + t);
    return n;
  }

  /** The offsets of `type` stored now, over all backends (a snapshot, unsorted). */
  storedOffsets(type: SwapType): number[] {
    this.checkType(type);
    const tok = this.reg.enter();
    try {
      const c = this.reg.chain();
      const out: number[] = [];
      if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return out;
      for (let i = 0; i < c.backends.length; i++) {
        const pool = this.poolOf(type, c.instances[i]!);
        if (pool !== NO_POOL) c.backends[i]!.scanPool(pool, (oid) => { out.push(oid[0]!); });
      }
      return out;
    } finally {
      this.reg.exit(tok);
    }
  }

  /** The counters (frontswap debugfs), all Workers together. */
  counters(): FrontswapCounters {
    const a = this.area;
    return {
      loads: a.sum(TAIL_FS + C_LOADS) >>> 0, succStores: a.sum(TAIL_FS + C_SUCC) >>> 0,
      failedStores: a.sum(TAIL_FS + C_FAILED) >>> 0, invalidates: a.sum(TAIL_FS + C_INVAL) >>> 0,
    };
  }

  // ── internals ──

  private typeWord(type: number): number {
    return (SWAP_TYPES + type * SWAP_TYPE_SIZE) >> 2;
  }

  private poolOf(type: number, instance: number): number {
    return this.area.typePool(type, instance);
  }

  private setPool(type: number, instance: number, pool: number): void {
    this.area.setTypePool(type, instance, pool);
  }

  /**
   * Move every page of `type` out of the draining `b` into the rest of the
   * chain or `writeback`. Scans until the pool is empty (a scan is a
   * snapshot per batch); no store can add pages meanwhile (b is draining).
   * @throws TmemError EBUSY if pages remain (no writeback, or they would not leave).
   */
  private drainType(type: SwapType, b: TmemBackend, writeback: FrontswapWriteback | undefined): void {
    if (Atomics.load(this.i32, this.typeWord(type)) !== ACTIVE) return;
    const pool = this.poolOf(type, b.instance);
    if (pool === NO_POOL) return;
    for (let round = 0; b.poolPages(pool) > 0; round++) {
      if (round === 64) {
        throw new TmemError(ErrorCode.EBUSY, `frontswap: backend ${b.instance} still holds ${b.poolPages(pool)} pages of type ${type} after draining`);
      }
      this.drainOnce(type, b, pool, writeback);
    }
  }

  private drainOnce(type: SwapType, b: TmemBackend, pool: number, writeback: FrontswapWriteback | undefined): void {
    const offsets: number[] = [];
    b.scanPool(pool, (oid) => { offsets.push(oid[0]!); });
    const oid = newOid();
    for (const off of offsets) {
      oid[0] = off;
      // Under the key's lock the move is atomic for every store, load and
      // invalidation of the key (they take it while a backend drains).
      const lk = this.lockKey(type, off);
      let handBack = false;
      try {
        if (!b.getPage(pool, oid, 0, this.buf)) continue;
        let placed = false;
        const c = this.reg.chain();
        for (let i = 0; i < c.backends.length && !placed; i++) {
          if (c.draining[i]) continue;
          const p = this.poolOf(type, c.instances[i]!);
          if (p === NO_POOL) continue;
          const r = c.backends[i]!.putPage(p, oid, 0, this.buf, true);
          placed = r === "new" || r === "exists";
        }
        if (!placed && writeback === undefined) {
          throw new TmemError(ErrorCode.EBUSY,
            `frontswap: backend ${b.instance} still holds pages the rest of the chain will not take (type ${type}, offset ${off}); pass a writeback`);
        }
        // Placed: the copy in b is redundant. Handed back: it leaves b now, and
        // the caller's writeback (run outside the lock) owns it.
        if (b.flushPage(pool, oid, 0) && !placed) { handBack = true; Atomics.sub(this.tail, TAIL_STORED + type, 1); }
      } finally {
        this.pm.core.lock_release(lk);
      }
      if (!handBack) continue;
      try {
        writeback!(type, off, this.buf);
      } catch (e) {
        // Nothing is lost: the page goes back where it was, unless a newer store took its place.
        const lk2 = this.lockKey(type, off);
        try {
          const r = b.putPage(pool, oid, 0, this.buf, true);
          if (r === "new") Atomics.add(this.tail, TAIL_STORED + type, 1);
        } finally {
          this.pm.core.lock_release(lk2);
        }
        throw e;
      }
    }
  }

  /** Take the key lock of (type, offset); returns its address for lock_release. */
  private lockKey(type: number, offset: number): number {
    let h = Math.imul(offset ^ (type << 27), 0x9e3779b1);
    h ^= h >>> 15;
    const addr = this.area.base + KEY_LOCKS + ((h & (KEY_LOCK_COUNT - 1)) << 2);
    this.pm.core.lock_acquire(addr);
    return addr;
  }

  /**
   * Run `fn` under the registration lock with every chained backend open in
   * this thread. `fn` must be synchronous (the lock is a futex in shared memory).
   */


  private checkType(type: number): void {
    // Messages are built only on failure: this runs on every store and load.
    if (!(Number.isInteger(type) && type >= 0 && type < MAX_SWAP_TYPES)) {
      argCheck(false, `swap type must be an integer 0..${MAX_SWAP_TYPES - 1}, not ${String(type)}`);
    }
  }

  private checkKey(type: number, offset: number): void {
    this.checkType(type);
    if (!(Number.isInteger(offset) && offset >= 0 && offset <= 0xffff_ffff)) {
      argCheck(false, `swap offset must be an integer 0..2^32-1, not ${String(offset)}`);
    }
  }
}
