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
import { PAGE_SIZE } from "../../bindings/layout.js";
import { GetMode, TmemCore, type FreePampd, type Oid } from "./core.js";
import type { PoolSpec, PutResult, TmemBackend } from "./ops.js";

/** Base class of backends whose index is the tmem core. */
export abstract class PamBackend implements TmemBackend {
  abstract readonly type: string;
  abstract readonly instance: number;
  /** The physical memory. */
  readonly pm: PhysicalMemory;
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

  protected constructor(pm: PhysicalMemory) {
    this.pm = pm;
    this.tc = TmemCore.for(pm);
    this.freeFn = (lo, hi, meta, pool) => this.pamFree(lo, hi, meta, pool);
  }

  /**
   * Store the page now in the I/O slot (this.tc.ioPage) for `pool`; set
   * pLo/pHi/pMeta and return true, or return false to reject it.
   */
  protected abstract pamStore(pool: number, persistent: boolean): boolean;
  /** Copy the stored page (lo, hi, meta) into the I/O slot. Return false if it is corrupt. */
  protected abstract pamLoad(lo: number, hi: number, meta: number): boolean;
  /** Release the storage of (lo, hi, meta), which belonged to `pool`. */
  protected abstract pamFree(lo: number, hi: number, meta: number, pool: number): void;
  /** The LRU domain new ephemeral pools join (0: no eviction). */
  protected abstract lruDomain(): number;
  /** Whether `pool` is persistent (the subclass may cache it). */
  protected abstract isPersistent(pool: number): boolean;
  /** The backend's statistics. */
  abstract stats(): object;

  /**
   * Free some memory (e.g. evict clean pages) so an index insertion that ran
   * out of frames can be retried. Returns true if anything was freed.
   * The base class frees nothing.
   */
  protected reclaim(): boolean {
    return false;
  }

  /** @inheritDoc */
  createPool(spec: PoolSpec): number {
    argCheck(typeof spec === "object" && spec !== null && typeof spec.persistent === "boolean", "a pool spec needs { persistent: boolean }");
    return this.tc.newPool({
      persistent: spec.persistent, uuid: spec.uuid, domain: spec.persistent ? 0 : this.lruDomain(), owner: this.instance + 1,
    });
  }

  /** @inheritDoc */
  destroyPool(pool: number): void {
    this.tc.destroyPool(pool, this.freeFn);
  }

  /** @inheritDoc */
  putPage(pool: number, oid: Oid, index: number, page: Uint8Array, noReplace = false): PutResult {
    const tc = this.tc;
    const flushed = noReplace ? false : tc.flushPage(pool, oid, index, this.freeFn);
    tc.ioPage.set(page.length === PAGE_SIZE ? page : page.subarray(0, PAGE_SIZE));
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
    if (r === "new") return flushed ? "replaced" : "new";
    if (r === "replaced") return "replaced";
    this.pamFree(this.pLo, this.pHi, this.pMeta, pool);
    if (r === "exists") return "exists";
    return flushed ? "rejected-flushed" : "rejected";
  }

  /** @inheritDoc */
  getPage(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
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
    return this.tc.flushPage(pool, oid, index, this.freeFn);
  }

  /** @inheritDoc */
  flushObject(pool: number, oid: Oid): number {
    return this.tc.flushObject(pool, oid, this.freeFn);
  }

  /** @inheritDoc */
  flushPool(pool: number): number {
    return this.tc.drainPool(pool, this.freeFn);
  }

  /** @inheritDoc */
  scanPool(pool: number, visit: (oid: Oid, index: number) => boolean | void): number {
    return this.tc.scan(pool, visit);
  }

  /** @inheritDoc */
  poolPages(pool: number): number {
    return this.tc.poolPages(pool);
  }
}
