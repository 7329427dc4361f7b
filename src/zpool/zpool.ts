// SPDX-License-Identifier: MIT
/**
 * zpool.ts: the zpool API, the kernel's mm/zpool.c for tmem: one interface to
 * allocators of compressed objects (zbud, zsmalloc, or a user's driver), with
 * pools that every Worker attached to the same physical memory can use.
 *
 * What it is: {@link createPool} makes a pool of a registered driver type and
 * records it in the shared pool table; {@link openPool} opens it by id from
 * any Worker. A {@link Zpool} passes malloc/free/map/unmap/shrink/compact
 * through to its driver and adds the rules that belong to no driver. It is not
 * an allocator itself and adds no per-object state.
 *
 * Key idea: two tables. Drivers are code, so the registry is per thread
 * (registry.ts); pools are data, so the pool table lives in shared memory at
 * ROOT_ZPOOL, where a pool id names a slot and a generation:
 *
 *   id = generation × 256 + slot      (slot 0..254, generation 1..2^23-1)
 *
 * A destroyed pool's slot gets the next generation, so its old id is refused
 * (EINVAL), never mistaken for the slot's next pool.
 *
 * Guarantees (seed 001): createPool takes a reference on its driver and
 * destroy/close drops it, so a driver with live pools cannot be unregistered
 * (EBUSY). Destroying a pool that still holds objects, or that other Workers
 * still have open, is refused with EBUSY unless `{ force: true }`, which warns
 * once and frees everything. Bad handles are the driver's to detect (tagged
 * handles: EINVAL, nothing changes).
 *
 * Mapping discipline (the kernel's per-CPU mapping): one object mapped at a
 * time per attached instance (per Worker), across all pools of that memory;
 * a second map is EBUSY, and freeing the mapped handle is EBUSY. The view from
 * `map` ALIASES shared memory: a SharedArrayBuffer view cannot be detached, so
 * after `unmap` the view still exists but its bytes may belong to another
 * object at any moment. Copy what you need before unmapping.
 *
 * Layout of the pool table (ROOT_ZPOOL, 16 KiB, i32 words):
 *
 * ╒═ header (64 B) ═ 0 lock │ 1 magic │ 2 live pools │ reserved ═══════════╕
 * ╞═ entry[i] (64 B, i = 0..254, at 64 + 64 i) ══════════════════════════╡
 * │ 0 state (0 free, 1 creating, 2 live, 3 destroying) │ 1 generation     │
 * │ 2 driver pool id │ 3 opens (Zpool objects, all Workers) │ 4 type len  │
 * │ 5..15 type name (ASCII, ≤ 40 bytes)                                  │
 * ╘═════════════════════════════════════════════════════════════════════╛
 *
 * Concurrency: the table is guarded by the mutex in its header (lock.ts
 * level 1, outermost); it is never held across a driver call. Pool methods
 * may be called from any Worker concurrently on different handles; destroy
 * must not race other calls on the same pool (the creator coordinates, as in
 * the kernel).
 *
 * See also: driver.ts, registry.ts, drivers/zbud.ts, ../../test/zpool.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import * as L from "../../bindings/layout.generated.js";
import type { MapMode, ZpoolBackend, ZpoolDriverOptions, ZpoolHandle, ZpoolStats } from "./driver.js";
import { acquireDriver, acquireDriverSync, registeredDrivers, releaseDriver } from "./registry.js";

/** Address of the pool table (assembly/common.ts ROOT_ZPOOL). */
export const ROOT_ZPOOL = L.ROOT_ZPOOL;
/** Bytes of the pool table (assembly/common.ts ROOT_ZPOOL_SIZE). */
export const ROOT_ZPOOL_SIZE = L.ROOT_ZPOOL_SIZE;
/** Bytes per pool-table entry (and of the header). */
const ENTRY_SIZE = 64;
/** Pools one memory can hold at once. */
export const MAX_POOLS = ROOT_ZPOOL_SIZE / ENTRY_SIZE - 1;
const ENTRY_WORDS = ENTRY_SIZE / 4;
const SLOT_RADIX = 256;
const MAX_GEN = 2 ** 23 - 1;
const TYPE_MAX = 40;
const TABLE_MAGIC = 0x4c4f4f50;

const enum State { FREE = 0, CREATING = 1, LIVE = 2, DESTROYING = 3 }
const enum Field { STATE = 0, GEN = 1, POOL = 2, OPENS = 3, TYPELEN = 4, TYPE = 5 }
/** Header words of the pool table (the box above). */
const enum Header { LOCK = 0, MAGIC = 1, LIVE_POOLS = 2 }

/** Options of {@link createPool} and {@link openPool}: the driver's options (evict, chain length ...). */
export interface ZpoolOptions extends ZpoolDriverOptions {}

/** Options of {@link Zpool.destroy}. */
export interface DestroyOptions {
  /** Destroy even with live objects or other Workers' opens: warns once, frees everything. @defaultValue false */
  force?: boolean;
}

/** Per attached instance: the one object it has mapped. */
/** @internal This thread's one mapping through the Zpool API (pool null when none). */
export interface MapState {
  readonly pool: Zpool | null;
  readonly handle: number;
}
interface MutableMapState {
  pool: Zpool | null;
  handle: number;
}
const mapStates = new WeakMap<PhysicalMemory, MutableMapState>();

/** @internal This thread's mapping state for `pm` (one object: read it on every call). */
export function mapState(pm: PhysicalMemory): MutableMapState {
  let s = mapStates.get(pm);
  if (s === undefined) {
    s = { pool: null, handle: 0 };
    mapStates.set(pm, s);
  }
  return s;
}

/** The pool table of one memory, as this thread sees it. */
class PoolTable {
  private readonly pm: PhysicalMemory;
  readonly words: Int32Array;

  constructor(pm: PhysicalMemory) {
    this.pm = pm;
    this.words = new Int32Array(pm.memory.buffer, ROOT_ZPOOL, ROOT_ZPOOL_SIZE / 4);
  }

  lock(): void {
    this.pm.core.lock_acquire(ROOT_ZPOOL);
  }

  unlock(): void {
    this.pm.core.lock_release(ROOT_ZPOOL);
  }

  /** Word index of field `f` of entry `slot`. */
  at(slot: number, f: number): number {
    return ENTRY_WORDS * (slot + 1) + f;
  }

  typeOf(slot: number): string {
    const len = this.words[this.at(slot, Field.TYPELEN)]!;
    const bytes = new Uint8Array(this.words.buffer, ROOT_ZPOOL + 4 * this.at(slot, Field.TYPE), len);
    return String.fromCharCode(...bytes);
  }

  /** Reserve a free slot for a pool of `type` (state CREATING, opens 1). Returns the pool id. */
  reserve(type: string): number {
    this.lock();
    try {
      if (this.words[Header.MAGIC] !== TABLE_MAGIC) this.words[Header.MAGIC] = TABLE_MAGIC;
      for (let slot = 0; slot < MAX_POOLS; slot++) {
        if (this.words[this.at(slot, Field.STATE)] !== State.FREE) continue;
        let gen = this.words[this.at(slot, Field.GEN)]!;
        if (gen < 1 || gen > MAX_GEN) gen = 1;
        this.words[this.at(slot, Field.GEN)] = gen;
        this.words[this.at(slot, Field.POOL)] = -1;
        this.words[this.at(slot, Field.OPENS)] = 1;
        this.words[this.at(slot, Field.TYPELEN)] = type.length;
        const bytes = new Uint8Array(this.words.buffer, ROOT_ZPOOL + 4 * this.at(slot, Field.TYPE), TYPE_MAX);
        for (let i = 0; i < type.length; i++) bytes[i] = type.charCodeAt(i);
        Atomics.store(this.words, this.at(slot, Field.STATE), State.CREATING);
        this.words[Header.LIVE_POOLS]!++;
        return gen * SLOT_RADIX + slot;
      }
    } finally {
      this.unlock();
    }
    throw new TmemError(ErrorCode.ENOSPC, `the zpool table is full (${MAX_POOLS} pools per memory)`);
  }

  /** Make a reserved slot live with its driver pool id. */
  publish(id: number, driverPoolId: number): void {
    const slot = id % SLOT_RADIX;
    this.lock();
    this.words[this.at(slot, Field.POOL)] = driverPoolId;
    Atomics.store(this.words, this.at(slot, Field.STATE), State.LIVE);
    this.unlock();
  }

  /** Free slot of `id` and bump its generation, so the id is refused from now on. */
  release(id: number): void {
    const slot = id % SLOT_RADIX;
    this.lock();
    const g = this.words[this.at(slot, Field.GEN)]!;
    this.words[this.at(slot, Field.GEN)] = g >= MAX_GEN ? 1 : g + 1;
    this.words[this.at(slot, Field.OPENS)] = 0;
    this.words[this.at(slot, Field.POOL)] = -1;
    Atomics.store(this.words, this.at(slot, Field.STATE), State.FREE);
    this.words[Header.LIVE_POOLS]!--;
    this.unlock();
  }

  /** Open live pool `id`: opens + 1; returns its type and driver pool id, or null if no such pool. */
  open(id: number): { type: string; driverPoolId: number } | null {
    if (!Number.isSafeInteger(id) || id < SLOT_RADIX || id >= (MAX_GEN + 1) * SLOT_RADIX) return null;
    const slot = id % SLOT_RADIX, gen = Math.floor(id / SLOT_RADIX);
    if (slot >= MAX_POOLS) return null;
    this.lock();
    try {
      if (this.words[this.at(slot, Field.STATE)] !== State.LIVE || this.words[this.at(slot, Field.GEN)] !== gen) return null;
      this.words[this.at(slot, Field.OPENS)]!++;
      return { type: this.typeOf(slot), driverPoolId: this.words[this.at(slot, Field.POOL)]! };
    } finally {
      this.unlock();
    }
  }

  /** Drop one open of `id`. */
  close(id: number): void {
    const slot = id % SLOT_RADIX;
    this.lock();
    if (this.words[this.at(slot, Field.OPENS)]! > 0) this.words[this.at(slot, Field.OPENS)]!--;
    this.unlock();
  }

  /**
   * Start destroying `id`: refused (returns the other opens) when other
   * Zpool objects have it open and `force` is off; else marks it DESTROYING
   * and returns the number of other opens.
   */
  beginDestroy(id: number, force: boolean): number {
    const slot = id % SLOT_RADIX;
    this.lock();
    try {
      const others = this.words[this.at(slot, Field.OPENS)]! - 1;
      if (others > 0 && !force) return -others;
      Atomics.store(this.words, this.at(slot, Field.STATE), State.DESTROYING);
      return others;
    } finally {
      this.unlock();
    }
  }

  /** Undo beginDestroy (the driver refused). */
  abortDestroy(id: number): void {
    const slot = id % SLOT_RADIX;
    this.lock();
    Atomics.store(this.words, this.at(slot, Field.STATE), State.LIVE);
    this.unlock();
  }

  /** True while pool `id` is live (one shared-memory read each). */
  isLive(id: number): boolean {
    const slot = id % SLOT_RADIX;
    return Atomics.load(this.words, this.at(slot, Field.STATE)) === State.LIVE &&
      this.words[this.at(slot, Field.GEN)] === Math.floor(id / SLOT_RADIX);
  }
}

const tables = new WeakMap<PhysicalMemory, PoolTable>();
function tableOf(pm: PhysicalMemory): PoolTable {
  let t = tables.get(pm);
  if (t === undefined) {
    t = new PoolTable(pm);
    tables.set(pm, t);
  }
  return t;
}

/**
 * A pool, as one Worker sees it: made by {@link createPool} or
 * {@link openPool}; ends with {@link Zpool.destroy} (the pool) or
 * {@link Zpool.close} (this Worker's use of it).
 *
 * When a Worker dies: the pool table's lock is taken over by its next
 * waiter (a death mid-update leaks at most a table slot: lock.ts level 2);
 * the allocators' sections are recoverable as assembly/lock.ts level 6 says. Objects the
 * dead Worker allocated stay allocated (their handles were its to free);
 * destroying the pool frees them.
 */
export class Zpool {
  /** The pool id: pass it to {@link openPool} in another Worker. */
  readonly id: number;
  /** The driver type ("zbud", "zsmalloc"). */
  readonly type: string;
  /** The driver's pool (for the layers above; not a public API). */
  readonly backend: ZpoolBackend;
  private readonly table: PoolTable;
  private readonly maps: MutableMapState;
  private readonly words: Int32Array;
  private readonly stateAt: number;
  private readonly genAt: number;
  private readonly gen: number;
  private closed = false;

  /** Not for callers (kept in the declarations: stripped, it would read as a no-argument constructor): use {@link createPool} or {@link openPool}. */
  constructor(pm: PhysicalMemory, id: number, type: string, backend: ZpoolBackend) {
    this.id = id;
    this.type = type;
    this.backend = backend;
    this.table = tableOf(pm);
    this.maps = mapState(pm);
    this.words = this.table.words;
    this.stateAt = this.table.at(id % SLOT_RADIX, Field.STATE);
    this.genAt = this.table.at(id % SLOT_RADIX, Field.GEN);
    this.gen = Math.floor(id / SLOT_RADIX);
  }

  /** Throws unless the pool is live: two plain reads of the shared table (hot path). */
  private live(): void {
    if (this.closed || this.words[this.stateAt] !== State.LIVE || this.words[this.genAt] !== this.gen) {
      throw new TmemError(ErrorCode.EINVAL, `zpool ${this.id} (${this.type}) was ${this.closed ? "closed or destroyed here" : "destroyed"}`);
    }
  }

  /**
   * Allocate an object of `size` bytes; returns its opaque handle (> 0).
   * @throws TmemError EINVAL for a bad size or a destroyed pool; ENOSPC when
   *   the driver cannot hold that size (zbud: > 3968 bytes); ENOMEM when no
   *   page frame is left.
   * Thread safety: any Worker, concurrently.
   */
  malloc(size: number): ZpoolHandle {
    this.live();
    return this.backend.malloc(size) as ZpoolHandle;
  }

  /**
   * `n` as a {@link ZpoolHandle}: the boundary where a handle read back from
   * shared memory or posted by another Worker (a plain number) becomes one
   * again. Only its shape is checked here (an integer 1..2^32-1); whether it
   * names a live object of this pool, the driver checks on use (EINVAL).
   * @throws TmemError EINVAL for anything else.
   */
  handle(n: number): ZpoolHandle {
    if (!(Number.isInteger(n) && n >= 1 && n <= 0xffff_ffff)) argCheck(false, `a zpool handle is an integer from 1 to 2^32-1, not ${String(n)}`);
    return n as ZpoolHandle;
  }

  /**
   * Free `handle`.
   * @throws TmemError EINVAL for a stale, double-freed or forged handle
   *   (nothing changes); EBUSY if this Worker has it mapped.
   * Thread safety: any Worker, on different handles.
   */
  free(handle: ZpoolHandle): void {
    this.live();
    if (this.maps.handle === handle && this.maps.pool === this) {
      throw new TmemError(ErrorCode.EBUSY, `zpool ${this.id}: handle ${handle} is mapped: unmap it before freeing`);
    }
    this.backend.free(handle);
  }

  /**
   * Map `handle`: a view of exactly the object's bytes. The view aliases
   * shared memory and is valid only until {@link unmap}; with "ro" do not
   * write it, with "wo" its initial bytes are unspecified.
   * @throws TmemError EBUSY when this Worker already has an object mapped
   *   (any pool of this memory); EINVAL for a bad handle or mode.
   * Thread safety: one mapping per Worker; do not free the handle elsewhere meanwhile.
   */
  map(handle: ZpoolHandle, mode: MapMode = "rw"): Uint8Array {
    this.live();
    const m = this.maps;
    if (m.pool !== null) {
      throw new TmemError(ErrorCode.EBUSY,
        `this Worker already has handle ${m.handle} of zpool ${m.pool.id} mapped: unmap it before mapping another (one mapping per Worker)`);
    }
    const view = this.backend.map(handle, mode);
    m.pool = this;
    m.handle = handle;
    return view;
  }

  /**
   * Unmap `handle`, mapped by this Worker from this pool. Its view must not
   * be used afterwards.
   * @throws TmemError EINVAL when `handle` is not the one this Worker mapped here.
   */
  unmap(handle: ZpoolHandle): void {
    const m = this.maps;
    if (m.pool !== this || m.handle !== handle) {
      throw new TmemError(ErrorCode.EINVAL, `zpool ${this.id}: handle ${String(handle)} is not mapped by this Worker`);
    }
    this.backend.unmap(handle);
    m.pool = null;
    m.handle = 0;
  }

  /**
   * Reclaim up to `pages` frames. Drivers that evict (zbud) call the pool's
   * evict callback per object, least recently used first; the callback
   * writes back and frees. Without an evict callback nothing is reclaimed.
   * @returns frames reclaimed (may be fewer than asked).
   */
  shrink(pages: number): number {
    this.live();
    return this.backend.shrink(pages);
  }

  /** Move objects to free frames where the driver can (zsmalloc); returns frames freed (0 for zbud). */
  compact(): number {
    this.live();
    return this.backend.compact();
  }

  /** Bytes of physical memory the pool holds (frames × 4096). */
  totalSize(): number {
    this.live();
    return this.backend.totalSize();
  }

  /** Statistics now: frames, objects, object bytes, metadata bytes and the driver's own fields. */
  stats(): ZpoolStats {
    this.live();
    return this.backend.stats();
  }

  /**
   * Destroy the pool: every frame returns to physical memory, the id becomes
   * invalid in every Worker and the driver reference is dropped.
   * @throws TmemError EBUSY when the pool still holds objects or other
   *   Workers have it open, unless `force` (then it warns once via
   *   console.warn and frees everything); EINVAL when already destroyed.
   *   A Worker that exits without {@link close} leaves its open counted:
   *   close pools before a Worker ends, or destroy with force.
   * Thread safety: no other call on this pool may run concurrently.
   */
  destroy(options: DestroyOptions = {}): void {
    this.live();
    const force = options.force === true;
    const st = this.backend.stats();
    if (st.objects > 0 && !force) {
      throw new TmemError(ErrorCode.EBUSY,
        `zpool ${this.id} (${this.type}) still holds ${st.objects} object(s), ${st.objectBytes} bytes: free them first or destroy({ force: true })`);
    }
    const others = this.table.beginDestroy(this.id, force);
    if (others < 0) {
      throw new TmemError(ErrorCode.EBUSY,
        `zpool ${this.id} (${this.type}) is open in ${-others} other place(s) (Workers): close them first or destroy({ force: true })`);
    }
    if (this.maps.pool === this) {
      try { this.backend.unmap(this.maps.handle); } catch { /* the driver forgets it on destroy */ }
      this.maps.pool = null;
      this.maps.handle = 0;
    }
    try {
      this.backend.destroy();
    } catch (e) {
      this.table.abortDestroy(this.id);
      throw e;
    }
    this.table.release(this.id);
    this.closed = true;
    releaseDriver(this.type);
    if (st.objects > 0 || others > 0) {
      console.warn(`tmem: zpool ${this.id} (${this.type}) destroyed by force with ${st.objects} live object(s) ` +
        `(${st.objectBytes} bytes) and ${others} other open(s); their handles are now invalid`);
    }
  }

  /**
   * Stop using the pool in this Worker without destroying it: drops this
   * Worker's open and its driver reference. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    if (this.maps.pool === this) {
      try { this.backend.unmap(this.maps.handle); } catch { /* already gone */ }
      this.maps.pool = null;
      this.maps.handle = 0;
    }
    this.closed = true;
    if (this.table.isLive(this.id)) this.table.close(this.id);
    releaseDriver(this.type);
  }
}

function checkPm(pm: PhysicalMemory): void {
  argCheck(typeof pm === "object" && pm !== null && typeof (pm as { core?: unknown }).core === "object",
    "a PhysicalMemory is required");
  argCheck(pm.isAttached, "this PhysicalMemory was detached");
}

function build(pm: PhysicalMemory, type: string, options: ZpoolOptions,
               create: (opts: ZpoolDriverOptions) => ZpoolBackend): Zpool {
  const table = tableOf(pm);
  const id = table.reserve(type);
  let backend: ZpoolBackend;
  try {
    backend = create(options);
  } catch (e) {
    table.release(id);
    throw e;
  }
  table.publish(id, backend.id);
  return new Zpool(pm, id, type, backend);
}

/**
 * Create a pool of driver `type` in `pm`'s memory (the kernel's
 * zpool_create_pool). Loads a lazily registered driver on first use; two
 * concurrent calls share one load and both get pools.
 * @param type - a registered driver type: "zbud", "zsmalloc", or a user's.
 * @param options - `evict` (pools without it cannot shrink by eviction) and
 *   driver options (zsmalloc: `maxPagesPerZspage`).
 * @throws TmemError ENODEV for an unknown type (the message names the known
 *   ones) or a driver that fails to load; ENOSPC when the pool table is full
 *   (255 pools); ENOMEM when the driver finds no frame; EINVAL for bad arguments.
 * Thread safety: any Worker, concurrently.
 */
export async function createPool(type: string, pm: PhysicalMemory, options: ZpoolOptions = {}): Promise<Zpool> {
  checkPm(pm);
  argCheck(typeof options === "object" && options !== null, "createPool options must be an object");
  argCheck(options.evict === undefined || typeof options.evict === "function", "options.evict must be a function");
  const driver = await acquireDriver(type, "createPool");
  try {
    return build(pm, type, options, (o) => driver.create(pm, o));
  } catch (e) {
    releaseDriver(type);
    throw e;
  }
}

/**
 * {@link createPool} without the await, for drivers already registered and
 * loaded in this thread (zbud always is).
 * @throws TmemError ENODEV when `type` is unknown or not loaded yet (use
 *   createPool); otherwise as createPool.
 */
export function createPoolSync(type: string, pm: PhysicalMemory, options: ZpoolOptions = {}): Zpool {
  checkPm(pm);
  argCheck(options.evict === undefined || typeof options.evict === "function", "options.evict must be a function");
  const driver = acquireDriverSync(type);
  if (driver === undefined) {
    throw new TmemError(ErrorCode.ENODEV,
      `createPoolSync: zpool driver "${type}" is not loaded in this thread (known: ${registeredDrivers().join(", ")}; use createPool to load it)`);
  }
  try {
    return build(pm, type, options, (o) => driver.create(pm, o));
  } catch (e) {
    releaseDriver(type);
    throw e;
  }
}

/**
 * Open pool `id` (made by createPool in any Worker attached to this memory)
 * from this Worker. Its driver type must be registered in this thread (the
 * built-in ones are). Close it with {@link Zpool.close} when done.
 * @param options - this Worker's evict callback for shrink, and driver options.
 * @throws TmemError EINVAL when `id` names no live pool (destroyed, never
 *   made, or forged); ENODEV when this thread has no driver of the pool's type.
 * Thread safety: any Worker, concurrently.
 */
export async function openPool(pm: PhysicalMemory, id: number, options: ZpoolOptions = {}): Promise<Zpool> {
  checkPm(pm);
  argCheck(options.evict === undefined || typeof options.evict === "function", "options.evict must be a function");
  const table = tableOf(pm);
  const found = table.open(id);
  if (found === null) throw new TmemError(ErrorCode.EINVAL, `openPool: ${String(id)} is not the id of a live zpool in this memory`);
  let driver;
  try {
    driver = await acquireDriver(found.type, `openPool(${id})`);
  } catch (e) {
    table.close(id);
    throw e;
  }
  try {
    const backend = driver.open(pm, found.driverPoolId, options);
    return new Zpool(pm, id, found.type, backend);
  } catch (e) {
    table.close(id);
    releaseDriver(found.type);
    throw e;
  }
}

/** One live pool, as {@link listPools} reports it. */
export interface PoolListing {
  /** The pool id: {@link openPool} opens it in any Worker. */
  id: number;
  /** Its driver's name ("zsmalloc", "zbud", or a registered driver's). */
  type: string;
  /** Zpool objects open on it now, all Workers together (its creator's included). */
  opens: number;
}

/** Ids of the live pools in `pm`'s memory, with their types (a snapshot). */
export function listPools(pm: PhysicalMemory): PoolListing[] {
  checkPm(pm);
  const t = tableOf(pm);
  const out: PoolListing[] = [];
  t.lock();
  try {
    for (let slot = 0; slot < MAX_POOLS; slot++) {
      if (t.words[t.at(slot, Field.STATE)] !== State.LIVE) continue;
      out.push({ id: t.words[t.at(slot, Field.GEN)]! * SLOT_RADIX + slot, type: t.typeOf(slot), opens: t.words[t.at(slot, Field.OPENS)]! });
    }
  } finally {
    t.unlock();
  }
  return out;
}
