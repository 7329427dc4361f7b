// SPDX-License-Identifier: MIT
/**
 * tmem/pam.ts: a {@link TmemBackend} built on the tmem core: the index is the
 * core's, the bytes are the subclass's. This is the kernel's split between
 * tmem.c (keys, pools, duplicate-put and exclusive-get rules) and a PAM
 * implementation behind `tmem_pamops` (create / get_data / free of a pampd).
 *
 * What a subclass supplies (the pamops): {@link PamBackend.pamStore} copies a
 * page somewhere and describes it as (lo, hi, meta); {@link PamBackend.pamLoad}
 * copies it back into the I/O page slot; {@link PamBackend.pamFree} releases it.
 * Everything else (the order of flush, store and index, pins, draining) lives
 * here once.
 *
 * Key idea: a put flushes the key's old copy FIRST, then stores, then indexes
 * (the kernel's tmem_put); if the store fails, the old copy is already gone,
 * so a failed put never leaves stale data (put-put-get coherency). A get of a
 * kept page (persistent or shared) pins the descriptor while the bytes are
 * copied out, so a concurrent flush from another Worker cannot free them
 * under the reader (zswap's entry refcount).
 *
 * Concurrency: any Worker may call any method concurrently; two callers must
 * not put and flush the same key at once (the frontends' rule).
 *
 * See also: core.ts, ops.ts, raw.ts, ../zcache.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import { checkPage } from "../../bindings/args.js";
import { GetMode, TMEM_MAX_POOLS, TmemCore, type FreePampd, type Oid } from "./core.js";
import type { PoolSpec, PutResult, TmemBackend } from "./ops.js";
import { FrontendArea, detachedError } from "./shared.js";

/** Base class of backends whose index is the tmem core. */
export abstract class PamBackend<Stats = unknown> implements TmemBackend<Stats> {
  abstract readonly type: string;
  /** Instance id (see {@link TmemBackend.instance}). */
  readonly instance: number;
  /** Instance generation (see {@link TmemBackend.generation}). */
  readonly generation: number;
  /** The physical memory. */
  readonly pm: PhysicalMemory;
  /** This thread's view of the instance table. */
  protected readonly area: FrontendArea;
  /** The instance table's words and this instance's state word in it (generation << 1 | 1 while alive). */
  private readonly stI32: Int32Array;
  private readonly stWord: number;
  private readonly stLive: number;
  /** This thread's tmem core. */
  readonly tc: TmemCore;
  /** pamStore's result: pampd low word. */
  protected pLo = 0;
  /** pamStore's result: pampd high word. */
  protected pHi = 0;
  /** pamStore's result: backend meta word. */
  protected pMeta = 0;
  /** Bound once: frees a pampd handed back by the core. */
  protected readonly freeFn: FreePampd;

  protected constructor(pm: PhysicalMemory, instance: number, generation: number) {
    this.pm = pm;
    this.instance = instance;
    this.generation = generation;
    this.area = FrontendArea.for(pm);
    this.stI32 = this.area.i32;
    this.stWord = this.area.stateWord(instance);
    this.stLive = (generation << 1) | 1;
    this.tc = TmemCore.for(pm);
    this.freeFn = (lo, hi, meta, pool) => this.pamFree(lo, hi, meta, pool);
  }

  /**
   * Refuse a call on a destroyed instance (its id may belong to another
   * backend now) or from a detached memory. One shared-memory load; every
   * public method calls it before touching anything.
   * @throws TmemError ENODEV (destroyed) or EINVAL (detached).
   */
  protected alive(): void {
    if (Atomics.load(this.stI32, this.stWord) !== this.stLive || !this.pm.isAttached) this.notAlive();
  }

  private notAlive(): never {
    if (!this.pm.isAttached) throw detachedError();
    throw new TmemError(ErrorCode.ENODEV,
      `${this.type} instance ${this.instance} (generation ${this.generation}) was destroyed; open the live backend again`);
  }

  /** Whether the instance is alive (not destroyed by any Worker) and this memory attached. */
  get isAlive(): boolean {
    return this.pm.isAttached && Atomics.load(this.stI32, this.stWord) === this.stLive;
  }

  /** @inheritDoc */
  close(): void {
    if (!this.pm.isAttached) return;
    if (this.area.opened.get(this.instance) === this) this.area.opened.delete(this.instance);
    this.area.markOpener(this.instance, false);
  }

  /**
   * The common start of a backend's destroy: refuse while another attached
   * Worker has the instance open (EBUSY) unless `force`, then end the
   * instance's identity so every other object of it refuses its next call.
   * The caller then frees what the instance held and calls
   * {@link FrontendArea.freeInstance} (done here: the state frame goes last).
   * @throws TmemError ENODEV if already destroyed; EBUSY as above.
   */
  protected destroyCheck(force: boolean): void {
    this.alive();
    // Its pools exist while a frontend has it registered: destroying it would break the chain.
    for (let p = 0; p < TMEM_MAX_POOLS; p++) {
      const info = this.tc.poolInfo(p);
      if (info.state !== "free" && info.owner === this.instance + 1) {
        throw new TmemError(ErrorCode.EBUSY,
          `${this.type} instance ${this.instance} still has tmem pool ${p}: unregister it from the frontends first`);
      }
    }
    const others = this.area.otherOpeners(this.instance);
    if (others.length > 0 && !force) {
      throw new TmemError(ErrorCode.EBUSY,
        `${this.type} instance ${this.instance} is open in ${others.length} other Worker(s) (slots ${others.join(", ")}): ` +
        "close it there first, or destroy with { force: true }");
    }
  }

  /**
   * Store the page now in the I/O slot (this.tc.ioPage) for `pool`; set
   * pLo/pHi/pMeta and return true, or return false to reject it.
   */
  protected abstract pamStore(pool: number, persistent: boolean): boolean;
  /**
   * The index took the page pamStore described (pLo/pHi/pMeta: a put
   * answered new or replaced). A subclass accounts a stored page here, so a
   * put that did not land is never counted. The base class does nothing.
   */
  protected pamStored(_pool: number): void {}
  /**
   * Release what pamStore made for a put the index did not take (exists,
   * no memory, pool not alive): nothing was indexed or accounted. The base
   * class calls pamFree.
   */
  protected pamDiscard(lo: number, hi: number, meta: number, pool: number): void {
    this.pamFree(lo, hi, meta, pool);
  }
  /** Copy the stored page (lo, hi, meta) into the I/O slot. Return false if it is corrupt. */
  protected abstract pamLoad(lo: number, hi: number, meta: number): boolean;
  /** Release the storage of (lo, hi, meta), which belonged to `pool`. */
  protected abstract pamFree(lo: number, hi: number, meta: number, pool: number): void;
  /** The LRU domain new ephemeral pools join (0: no eviction). */
  protected abstract lruDomain(): number;
  /** Whether `pool` is persistent (the subclass may cache it). */
  protected abstract isPersistent(pool: number): boolean;
  /** The backend's statistics (a snapshot, typed by the subclass: `PamBackend<ZcacheStats>`). */
  abstract stats(): Stats;

  /**
   * Free some memory (e.g. evict clean pages) so an index insertion that ran
   * out of frames can be retried. Returns true if anything was freed.
   * The base class frees nothing.
   */
  protected reclaim(): boolean {
    return false;
  }

  /**
   * A subclass's check before a put or get changes anything (zcache: EBUSY
   * while the caller has a zpool object mapped). The base class checks nothing.
   */
  protected beforeData(): void {}

  /** @inheritDoc */
  createPool(spec: PoolSpec): number {
    this.alive();
    argCheck(typeof spec === "object" && spec !== null && typeof spec.persistent === "boolean", "a pool spec needs { persistent: boolean }");
    return this.tc.newPool({
      persistent: spec.persistent, uuid: spec.uuid, domain: spec.persistent ? 0 : this.lruDomain(), owner: this.instance + 1,
    });
  }

  /** @inheritDoc */
  destroyPool(pool: number): void {
    this.alive();
    this.tc.destroyPool(pool, this.freeFn);
  }

  /** @inheritDoc */
  putPage(pool: number, oid: Oid, index: number, page: Uint8Array, noReplace = false): PutResult {
    this.alive();
    checkPage(page, this.pm.memory.buffer, "page");
    this.beforeData();
    const tc = this.tc;
    oid = tc.ownOid(oid); // read again after the I/O slot is filled and after reclaims
    const flushed = noReplace ? false : tc.flushPage(pool, oid, index, this.freeFn);
    tc.ioPage.set(page);
    return this.storeFromIo(pool, oid, index, flushed, noReplace);
  }

  /**
   * The second half of {@link putPage}: the page is in the I/O slot and the
   * key's old copy was flushed (`flushed` says whether there was one). Store
   * it (pamStore) and index it. Subclasses with a faster path override this.
   */
  protected storeFromIo(pool: number, oid: Oid, index: number, flushed: boolean, noReplace: boolean): PutResult {
    const tc = this.tc;
    if (!this.pamStore(pool, this.isPersistent(pool))) return flushed ? "rejected-flushed" : "rejected";
    let r = tc.put(pool, oid, index, this.pLo, this.pHi, this.pMeta, this.freeFn, noReplace);
    // No frame for a descriptor: let the backend reclaim (evict) and retry a few times.
    for (let round = 0; r === "nomem" && round < 8 && this.reclaim(); round++) {
      r = tc.put(pool, oid, index, this.pLo, this.pHi, this.pMeta, this.freeFn, noReplace);
    }
    if (r === "new" || r === "replaced") {
      this.pamStored(pool);
      return r === "replaced" || flushed ? "replaced" : "new";
    }
    this.pamDiscard(this.pLo, this.pHi, this.pMeta, pool);
    if (r === "exists") return "exists";
    return flushed ? "rejected-flushed" : "rejected";
  }

  /** @inheritDoc */
  getPage(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
    this.alive();
    checkPage(into, this.pm.memory.buffer, "into");
    this.beforeData();
    const tc = this.tc;
    if (!tc.get(pool, oid, index, GetMode.POLICY)) return false;
    const lo = tc.lo, hi = tc.hi, meta = tc.meta, pin = tc.pin;
    let ok: boolean;
    try {
      ok = this.pamLoad(lo, hi, meta);
    } finally {
      if (pin !== 0) tc.unpin(pin, this.freeFn);
      else this.pamFree(lo, hi, meta, pool);
    }
    if (!ok) {
      this.flushPage(pool, oid, index);
      throw new TmemError(ErrorCode.EBADMSG, `tmem pool ${pool}: the stored copy of index ${index} is corrupt (flushed)`);
    }
    into.set(tc.ioPage);
    return true;
  }

  /** @inheritDoc */
  flushPage(pool: number, oid: Oid, index: number): boolean {
    this.alive();
    return this.tc.flushPage(pool, oid, index, this.freeFn);
  }

  /** @inheritDoc */
  flushObject(pool: number, oid: Oid): number {
    this.alive();
    return this.tc.flushObject(pool, oid, this.freeFn);
  }

  /** @inheritDoc */
  flushPool(pool: number): number {
    this.alive();
    return this.tc.drainPool(pool, this.freeFn);
  }

  /** @inheritDoc */
  scanPool(pool: number, visit: (oid: Oid, index: number) => boolean | void): number {
    this.alive();
    return this.tc.scan(pool, visit);
  }

  /** @inheritDoc */
  poolPages(pool: number): number {
    this.alive();
    return this.tc.poolPages(pool);
  }
}
