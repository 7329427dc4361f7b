// SPDX-License-Identifier: MIT
/**
 * cleancache.ts: the cleancache frontend: a second-chance cache for clean
 * pages that a filesystem's page cache drops, in ephemeral tmem pools.
 *
 * What it is: the kernel's mm/cleancache.c (3.10 lazy-init form) over our
 * tmem core. A put may be dropped at any time by the backend (ephemeral); a
 * get returns the exact bytes last put under the key or misses, never stale
 * or wrong bytes (put-put-get coherency); a get from a private pool removes
 * the page (exclusive), a get from a shared pool keeps it. It is not a
 * filesystem: keys are the caller's (pool, inode key up to 192 bits, page
 * index u32).
 *
 * Key ideas:
 * - Placeholder pool ids (seed 000): `initFs` / `initSharedFs` may be called
 *   before any backend registers. Each returns a filesystem id (the kernel's
 *   fake pool ids, but carrying the slot's generation: {@link FsId}) that the
 *   caller keeps until it unmounts; the slot maps it to a real tmem
 *   pool in each registered backend, filled in when a backend registers. The
 *   maps live in shared memory under a futex, so concurrent mounts and
 *   registrations from several Workers never lose or double-create a pool
 *   (the "blatantly racy" first attempt wrote them with no lock).
 * - Chaining (seed 004): backends form a list, newest first. A put first
 *   invalidates the key in every backend but the first, then tries each until
 *   one accepts; a get falls through the list; invalidations reach all. At
 *   most one live copy of a key exists.
 *
 * Counters (debugfs): succ_gets, failed_gets, puts, invalidates, for all
 * Workers together.
 *
 * Concurrency: every method may be called from any Worker. Registration state
 * is changed only under the registration lock; data operations never take it.
 * The caller must not put and invalidate one key at once from two places (the
 * kernel's page lock). A backend registered by another Worker must be opened
 * here before data operations touch it: they throw ENODEV until
 * `await cleancache.ready()`.
 *
 * See also: frontswap.ts, zcache.ts, tmem/shared.ts, kernel.md §1.4,
 * test/cleancache*.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../bindings/status.js";
import { checkPage } from "../bindings/args.js";
import { newOid, oidFrom, uuidWords, type Oid, type OidLike, type UuidLike } from "./tmem/core.js";
import type { PoolSpec, TmemBackend } from "./tmem/ops.js";
import { registerBuiltinBackends } from "./tmem/builtins.js";
import {
  TAIL_CC, entryId, entryIs, checkBackend, makePools, FS_SLOTS, FS_SLOT_SIZE, FrontendArea, FrontendRegistry, detachedError, MAX_FS, NO_POOL, REG_CLEANCACHE,
} from "./tmem/shared.js";

/** cleancache's debugfs counters. */
export interface CleancacheCounters {
  /** Gets that found the page. */
  succGets: number;
  /** Gets that missed (including before any backend). */
  failedGets: number;
  /** Puts (every call, as the kernel counts them). */
  puts: number;
  /** Page and inode invalidations. */
  invalidates: number;
}

/**
 * A cleancache filesystem id (what initFs / initSharedFs return): the slot
 * (bits 0..4), shared (bit 5) and the slot's generation (bits 6..29, 1 and
 * up, bumped at every init of the slot). It names one mount for the memory's
 * life: an id of an unmounted filesystem never reaches a later mount that
 * reused its slot, and an id never issued is refused. The kernel's fake ids
 * (1000 + slot, 2000 + slot) aliased exactly there. Bound: the generation
 * wraps after 2^24 - 1 mounts of one slot, so a stale id could reach a mount
 * 16,777,215 remounts later.
 *
 * Branded: a plain number, a frontswap swap type or a tmem pool id is not an
 * FsId to the type checker. An id posted by another Worker (a plain number
 * after structured cloning) becomes one again through {@link Cleancache.fsId},
 * which checks it.
 */
export type FsId = number & { readonly [fsIdBrand]: "cleancache filesystem id" };
declare const fsIdBrand: unique symbol;
const FS_KIND_SHARED = 32, FS_GEN_SHIFT = 6, FS_GEN_MAX = 0xff_ffff;
/**
 * A slot's state word: generation << 2 | SHARED_BIT | IN_USE. An unmounted
 * slot keeps its generation and the kind of its last mount (IN_USE clear), so
 * an id can be told "issued, since unmounted" (its operations miss) from
 * "never issued" (EINVAL).
 */
const IN_USE = 1, SHARED_BIT = 2;
const SLOT_PRIVATE = IN_USE, SLOT_SHARED = IN_USE | SHARED_BIT;
const C_SUCC = 0, C_FAILED = 1, C_PUTS = 2, C_INVAL = 3;

const instances = new WeakMap<PhysicalMemory, Cleancache>();


/**
 * The cleancache frontend of one physical memory, as this thread sees it.
 *
 * When a Worker dies (README "When a Worker dies"): once its slot is
 * reclaimed, a get returns the bytes of the last put that returned for that
 * key, or misses (cleancache may always miss); never another key's or a
 * stale page's bytes. The dead Worker's put or invalidate in flight either
 * happened or did not; no other Worker's call hangs on it.
 */
export class Cleancache {
  /** The physical memory. */
  readonly pm: PhysicalMemory;
  private readonly area: FrontendArea;
  private readonly reg: FrontendRegistry;
  private readonly i32: Int32Array;
  /** This Worker's counter words (its scratch tail). */
  private readonly tail: Int32Array;
  private readonly oid: Oid = newOid();

  private constructor(pm: PhysicalMemory) {
    registerBuiltinBackends();
    this.pm = pm;
    this.area = FrontendArea.for(pm);
    this.reg = new FrontendRegistry(this.area, REG_CLEANCACHE);
    this.i32 = this.area.i32;
    this.tail = this.area.tail;
  }

  /**
   * The cleancache frontend of `pm` for this thread (state shared by all Workers).
   * @throws TmemError EINVAL when `pm` is detached; ENOMEM when the tmem index cannot be set up.
   */
  static for(pm: PhysicalMemory): Cleancache {
    if (!pm.isAttached) throw detachedError();
    let c = instances.get(pm);
    if (c === undefined) { c = new Cleancache(pm); instances.set(pm, c); }
    return c;
  }

  /** Open, in this thread, every backend registered by any Worker. */
  ready(): Promise<void> {
    return this.reg.ready();
  }

  // ── registration ──

  /**
   * Register `backend` (cleancache_register_ops) at the head of the chain:
   * every filesystem initialised so far gets its pool in it first, then the
   * new chain is published. Any time, any Worker, concurrently.
   * @returns the previous head (for chaining by the backend itself), or null.
   * @throws TmemError EINVAL for a non-backend or a backend of another
   *   physical memory; EEXIST if registered already; ENOSPC when no tmem pool
   *   is free or 8 backends are chained (nothing changes then).
   */
  async registerOps(backend: TmemBackend): Promise<TmemBackend | null> {
    argCheck(typeof backend === "object" && backend !== null && typeof backend.putPage === "function", "registerOps needs a TmemBackend");
    return this.reg.register(backend, "cleancache", () => {
      const pools: Array<[number, PoolSpec]> = [];
      for (let s = 0; s < MAX_FS; s++) {
        const st = Atomics.load(this.i32, this.slotWord(s));
        if ((st & IN_USE) === 0) continue;
        pools.push([s, (st & SHARED_BIT) !== 0 ? { persistent: false, uuid: this.slotUuid(s) } : { persistent: false }]);
      }
      return pools;
    }, (s, instance, pool) => this.setPool(s, instance, pool));
  }

  /**
   * Unregister `backend`: it leaves the chain, then its pools (clean pages:
   * droppable) are destroyed once no operation can still use them.
   * @throws TmemError EINVAL for a non-backend or a backend of another
   *   physical memory; ENOENT if this instance generation is not registered
   *   (a stale object whose id was reused is not).
   */
  async unregisterOps(backend: TmemBackend): Promise<void> {
    checkBackend(this.pm, backend, "unregisterOps");
    const id = backend.instance;
    const pools: number[] = [];
    await this.reg.locked((entries) => {
      // The entry must name this very instance generation: a stale object whose id was reused is not registered.
      if (!entries.some((e) => entryIs(e, backend))) {
        throw new TmemError(ErrorCode.ENOENT, `backend instance ${id} (generation ${backend.generation}) is not registered with cleancache`);
      }
      for (let s = 0; s < MAX_FS; s++) {
        if ((Atomics.load(this.i32, this.slotWord(s)) & IN_USE) === 0) continue;
        const p = this.poolOf(s, id);
        if (p !== NO_POOL) { pools.push(p); this.setPool(s, id, NO_POOL); }
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

  // ── filesystems ──

  /**
   * A filesystem mounts (cleancache_init_fs). Works before any backend exists.
   * @returns its filesystem id ({@link FsId}), valid until {@link invalidateFs}.
   * @throws TmemError ENOSPC when 32 filesystems are initialised or no tmem pool is free.
   */
  initFs(): Promise<FsId> {
    return this.initSlot(SLOT_PRIVATE, undefined);
  }

  /**
   * A clustered filesystem mounts with `uuid` (cleancache_init_shared_fs).
   * Every mount with the same uuid reaches the same pages.
   * @returns its filesystem id ({@link FsId}).
   * @throws TmemError EINVAL for a malformed or zero uuid; ENOSPC as {@link initFs}.
   */
  async initSharedFs(uuid: UuidLike): Promise<FsId> {
    return this.initSlot(SLOT_SHARED, uuidWords(uuid));
  }

  /**
   * An id that another Worker posted (a plain number once structured-cloned)
   * as an {@link FsId} again, checked against this memory: it must have the
   * shape of a filesystem id and have been issued by initFs/initSharedFs
   * (in any Worker). An id issued and unmounted since passes: its operations
   * miss, as they would have for the Worker that posted it.
   * @throws TmemError EINVAL for anything else.
   * Thread safety: any thread; reads one word of shared memory.
   */
  fsId(id: number): FsId {
    this.slotOf(id as FsId);
    return id as FsId;
  }

  /**
   * The filesystem unmounts (cleancache_invalidate_fs): its pages are dropped
   * and `fs` becomes invalid.
   * @throws TmemError EINVAL for an id that is not initialised.
   */
  async invalidateFs(fs: FsId): Promise<void> {
    const s = this.slotOf(fs);
    const pools: Array<[TmemBackend, number]> = [];
    await this.reg.locked((entries, backends) => {
      const w = Atomics.load(this.i32, this.slotWord(s));
      if (w !== this.liveWord(fs)) {
        throw new TmemError(ErrorCode.EINVAL, `cleancache filesystem ${fs} is not initialised (never issued, or invalidated already)`);
      }
      for (let i = 0; i < backends.length; i++) {
        const inst = entryId(entries[i]!);
        const p = this.poolOf(s, inst);
        if (p !== NO_POOL) { pools.push([backends[i]!, p]); this.setPool(s, inst, NO_POOL); }
      }
      // Free, keeping the generation: the next init of the slot issues a new id.
      Atomics.store(this.i32, this.slotWord(s), w & ~IN_USE);
      this.reg.publish(entries);
    });
    this.reg.synchronize();
    for (const [b, p] of pools) b.destroyPool(p);
  }

  // ── data path ──

  /**
   * Put a copy of `page` (4096 bytes) under (fs, key, index)
   * (cleancache_put_page). Ephemeral: it may be dropped at any time.
   * @returns whether a backend took it (the kernel's put is void).
   * @returns false also for the id of a filesystem since unmounted (nothing is stored).
   * @throws TmemError EINVAL for an fs id never issued, a bad key or index, a
   *   page that is not a Uint8Array of 4096 bytes outside the physical memory,
   *   or a detached memory; ENODEV when a backend registered elsewhere is not
   *   open here yet (`await ready()`); EBUSY while this Worker has a zpool
   *   object mapped (nothing changed).
   */
  putPage(fs: FsId, key: OidLike, index: number, page: Uint8Array): boolean {
    const s = this.checkOp(fs, key, index);
    checkPage(page, this.pm.memory.buffer, "page");
    const reg = this.reg;
    const tok = reg.enter();
    Atomics.add(this.tail, TAIL_CC + C_PUTS, 1);
    try {
      const c = reg.chain();
      const n = c.backends.length;
      if (n === 0 || Atomics.load(this.i32, this.slotWord(s)) !== this.liveWord(fs)) return false;
      const oid = this.oid;
      for (let i = 1; i < n; i++) {
        const pool = this.poolOf(s, c.instances[i]!);
        if (pool !== NO_POOL) c.backends[i]!.flushPage(pool, oid, index);
      }
      for (let i = 0; i < n; i++) {
        const pool = this.poolOf(s, c.instances[i]!);
        if (pool === NO_POOL) continue;
        const r = c.backends[i]!.putPage(pool, oid, index, page);
        if (r === "new" || r === "replaced") return true;
      }
      return false;
    } finally {
      reg.exit(tok);
    }
  }

  /**
   * Get (fs, key, index) into `into` (cleancache_get_page). A private
   * filesystem's page leaves the cache (exclusive); a shared one's stays.
   * @returns true on a hit (the exact bytes last put), false on a miss.
   * @throws TmemError as {@link putPage}; EBADMSG if a stored copy is corrupt
   *   (it failed to decompress; it is dropped).
   */
  getPage(fs: FsId, key: OidLike, index: number, into: Uint8Array): boolean {
    const s = this.checkOp(fs, key, index);
    checkPage(into, this.pm.memory.buffer, "into");
    const reg = this.reg;
    const tok = reg.enter();
    try {
      const c = reg.chain();
      const oid = this.oid;
      const live = Atomics.load(this.i32, this.slotWord(s)) === this.liveWord(fs);
      for (let i = 0; live && i < c.backends.length; i++) {
        const pool = this.poolOf(s, c.instances[i]!);
        if (pool === NO_POOL) continue;
        if (c.backends[i]!.getPage(pool, oid, index, into)) {
          Atomics.add(this.tail, TAIL_CC + C_SUCC, 1);
          return true;
        }
      }
      Atomics.add(this.tail, TAIL_CC + C_FAILED, 1);
      return false;
    } finally {
      reg.exit(tok);
    }
  }

  /** Drop (fs, key, index) everywhere (cleancache_invalidate_page). @returns true if it was there. */
  invalidatePage(fs: FsId, key: OidLike, index: number): boolean {
    const s = this.checkOp(fs, key, index);
    return this.everywhere(fs, s, (b, pool, oid) => (b.flushPage(pool, oid, index) ? 1 : 0)) !== 0;
  }

  /** Drop every page of inode `key` of `fs` (cleancache_invalidate_inode). @returns pages dropped. */
  invalidateInode(fs: FsId, key: OidLike): number {
    const s = this.checkOp(fs, key, 0);
    return this.everywhere(fs, s, (b, pool, oid) => b.flushObject(pool, oid));
  }

  /** The counters (cleancache debugfs), all Workers together. */
  counters(): CleancacheCounters {
    const a = this.area;
    return {
      succGets: a.sum(TAIL_CC + C_SUCC) >>> 0, failedGets: a.sum(TAIL_CC + C_FAILED) >>> 0,
      puts: a.sum(TAIL_CC + C_PUTS) >>> 0, invalidates: a.sum(TAIL_CC + C_INVAL) >>> 0,
    };
  }

  /** @internal The real tmem pool of frontend id `fs` in backend `instance`, or null (placeholder not yet mapped). */
  realPool(fs: FsId, instance: number): number | null {
    const s = this.slotOf(fs);
    if (Atomics.load(this.i32, this.slotWord(s)) !== this.liveWord(fs)) return null;
    const p = this.poolOf(s, instance);
    return p === NO_POOL ? null : p;
  }

  // ── internals ──

  private async initSlot(state: number, uuid: [number, number, number, number] | undefined): Promise<FsId> {
    return this.reg.locked((entries, backends) => {
      let s = -1;
      for (let i = 0; i < MAX_FS; i++) if ((Atomics.load(this.i32, this.slotWord(i)) & IN_USE) === 0) { s = i; break; }
      if (s < 0) throw new TmemError(ErrorCode.ENOSPC, `all ${MAX_FS} cleancache filesystem slots are in use`);
      const made = makePools(backends.map((b) => [b, uuid ? { persistent: false, uuid } : { persistent: false }]));
      const w = this.slotWord(s);
      let gen = (Atomics.load(this.i32, w) >>> 2) + 1;
      if (gen > FS_GEN_MAX) gen = 1;
      for (let k = 0; k < 4; k++) Atomics.store(this.i32, w + 1 + k, uuid ? uuid[k]! | 0 : 0);
      this.area.clearPools(s, false);
      for (let i = 0; i < backends.length; i++) this.setPool(s, backends[i]!.instance, made[i]!);
      Atomics.store(this.i32, w, (gen << 2) | state);
      this.reg.publish(entries);
      return (gen * 64 + (state === SLOT_SHARED ? FS_KIND_SHARED : 0) + s) as FsId;
    });
  }

  private everywhere(fs: FsId, s: number, fn: (b: TmemBackend, pool: number, oid: Oid) => number): number {
    const reg = this.reg;
    const tok = reg.enter();
    try {
      const c = reg.chain();
      let n = 0;
      const live = Atomics.load(this.i32, this.slotWord(s)) === this.liveWord(fs);
      for (let i = 0; live && i < c.backends.length; i++) {
        const pool = this.poolOf(s, c.instances[i]!);
        if (pool !== NO_POOL) n += fn(c.backends[i]!, pool, this.oid);
      }
      Atomics.add(this.tail, TAIL_CC + C_INVAL, 1);
      return n;
    } finally {
      reg.exit(tok);
    }
  }

  private slotWord(s: number): number {
    return (FS_SLOTS + s * FS_SLOT_SIZE) >> 2;
  }

  private slotUuid(s: number): [number, number, number, number] {
    const w = this.slotWord(s);
    return [1, 2, 3, 4].map((k) => Atomics.load(this.i32, w + k) >>> 0) as [number, number, number, number];
  }

  private poolOf(s: number, instance: number): number {
    return this.area.fsPool(s, instance);
  }

  private setPool(s: number, instance: number, pool: number): void {
    this.area.setFsPool(s, instance, pool);
  }

  /** The slot word fs id `fs` is live under: generation << 2 | its kind. */
  private liveWord(fs: FsId): number {
    return ((fs >>> FS_GEN_SHIFT) << 2) | ((fs & FS_KIND_SHARED) !== 0 ? SLOT_SHARED : SLOT_PRIVATE);
  }

  /**
   * The slot of filesystem id `fs`. An id of an unmounted filesystem passes
   * (its operations then miss: the caller raced an unmount); an id that was
   * never issued (a generation the slot has not reached) is EINVAL.
   */
  private slotOf(fs: FsId): number {
    if (!(Number.isInteger(fs) && fs >= 64 && fs < 2 ** 30)) {
      argCheck(false, `a cleancache filesystem id comes from initFs or initSharedFs, not ${String(fs)}`);
    }
    const s = fs & (MAX_FS - 1);
    const gen = fs >>> FS_GEN_SHIFT;
    const w = Atomics.load(this.i32, this.slotWord(s));
    const now = w >>> 2;
    if (gen > now || (gen === now && ((w & SHARED_BIT) !== 0) !== ((fs & FS_KIND_SHARED) !== 0))) {
      argCheck(false, `cleancache filesystem id ${fs} was never issued by initFs or initSharedFs`);
    }
    return s;
  }

  /** Validate an operation's arguments and load the key into this.oid; returns the slot. */
  private checkOp(fs: FsId, key: OidLike, index: number): number {
    const s = this.slotOf(fs);
    if (!(Number.isInteger(index) && index >= 0 && index <= 0xffff_ffff)) {
      argCheck(false, `page index must be an integer 0..2^32-1, not ${String(index)}`);
    }
    oidFrom(key, this.oid);
    return s;
  }
}
