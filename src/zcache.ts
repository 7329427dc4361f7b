// SPDX-License-Identifier: MIT
/**
 * zcache.ts: the zcache tmem backend: pages compressed with our LZ4 into a
 * zpool (zsmalloc by default, any registered driver by name), indexed by the
 * tmem core, serving cleancache (ephemeral) and frontswap (persistent) pools.
 *
 * What it is not: not a frontend (cleancache.ts / frontswap.ts call it) and
 * not an allocator (the zpool is). It is the policy layer between them, as
 * drivers/staging/zcache was, with zswap's later policies.
 *
 * Key ideas and policies:
 * - Store path, all in this Worker's scratch: the caller's page is copied once
 *   into the I/O slot and the object id's six words into the tmem core's call
 *   record (TmemCore.oidArg, L.CALL_RECORD); with the built-in drivers (zsmalloc, the default, and zbud)
 *   the whole store is then ONE wasm call (assembly/tmem_zcache.ts): same-
 *   filled test or compression into the staging area, allocation through the
 *   driver's wasm ops, copy, index with replace-under-one-lock, accounting,
 *   and on a zpool with no frame the old copy's room, then eviction of clean
 *   pages and a retry with the bytes already compressed. The whole load is
 *   one call too. Both answer an explicit result code. A zpool driver written
 *   in JavaScript takes the generic path (tmem/pam.ts: the same steps through
 *   the zpool API, with prepare and account in wasm).
 * - Same-filled pages (zswap): all 512 u64 words equal → stored as that word
 *   in the page descriptor, no allocation, no compression.
 * - Poor compression: a page that compresses to more than `maxZsize` bytes
 *   (7/8 of a page, zcache's zv_max_zsize, by default) is rejected and
 *   counted (compress_poor): storing it would save too little.
 * - Two zpools, one per kind, as zcache v1 kept ephemeral and persistent
 *   pages in different allocators, so the persistent share is measurable.
 * - Ephemeral pages never block persistent ones: when the zpool finds no
 *   frame, the least recently used ephemeral pages (a tmem LRU domain per
 *   zcache instance) are evicted, the ephemeral pool compacted, and the
 *   allocation retried (in wasm, inside the store, for the built-in drivers).
 * - The persistent pool is capped at `maxPoolPercent` of physical memory
 *   with zswap's hysteresis: above the cap stores are refused
 *   (pool_limit_hit) until usage falls below `acceptThresholdPercent` of the
 *   cap. Reaching the cap first compacts the persistent pool (at most once
 *   per 1/32 of the cap grown, per Worker), and refuses only if that did not
 *   bring it back under the cap.
 * - Per-client accounting (Xen tmem's per-guest accounting): the client is
 *   the Worker's scratch slot (slots past 47 share client 47); each stored
 *   page remembers it in its meta word, so whoever frees the page debits
 *   the right client.
 *
 * pampd encoding (tmem core's lo, hi, meta):
 *   compressed: lo = zpool handle, hi = 0 (ephemeral pool) | 1 (persistent),
 *               meta = length (bits 0..12) | PERSIST (bit 14) | client << 16
 *   same-filled: lo, hi = the u64 word, meta = SAME (bit 13) | PERSIST | client << 16
 *
 * Layout: one OWNER_TMEM state frame per instance (shared), u32 words:
 *   0 magic │ 1 maxZsize │ 2 maxPoolPercent │ 3 acceptThresholdPercent │
 *   4 LRU domain │ 5 ephemeral zpool id │ 6 persistent zpool id │
 *   7 reachedFull │ 8 acceleration │ 9 driver name length │ 10..19 name │
 *   20 remote tier │ 21 built-in driver (ZC_DRV_*) │ 22, 23 its two pool ids
 *   41..44 rare-event counters (compress_poor, pool_limit_hit, reject_alloc_fail,
 *   evicted) │ 256..1023 clients[48] × 16 words: every per-page counter
 *   (assembly/tmem_zcache.ts updates them and mirrors these indexes)
 *
 * Concurrency: any Worker may use an instance concurrently (open it by id
 * with {@link Zcache.open} or through the frontends). Counters are atomic.
 * Policy reads (the cap) are racy by design, as in zswap: two Workers may
 * both store past the cap by a page each.
 *
 * See also: tmem/pam.ts (put/get/flush order), tmem/core.ts, zpool/,
 * assembly/lz4.ts, kernel.md §1.3 and §1.12, test/zcache*.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../bindings/physmem.js";
import { ErrorCode, TmemError, argCheck } from "../bindings/status.js";
import { PAGE_SIZE, SCRATCH_LZ4_HASH, SCRATCH_STAGE } from "../bindings/layout.js";
import * as L from "../bindings/layout.generated.js";
import { createPool, openPool, type Zpool } from "./zpool/index.js";
import { mapState, type MapState } from "./zpool/zpool.js";
import { checkPage } from "../bindings/args.js";
import type { ZpoolBackend } from "./zpool/driver.js";
import { PamBackend } from "./tmem/pam.js";
import type { TmemBackend } from "./tmem/ops.js";
import { GetMode, TMEM_POOL_PERSIST, TMEM_POOL_SHARED, pinsFull, type CoreStats, type Oid } from "./tmem/core.js";
import type { PutResult } from "./tmem/ops.js";
import { FrontendArea } from "./tmem/shared.js";

/** Options of {@link Zcache.create}. */
export interface ZcacheOptions {
  /** zpool driver by name. @defaultValue "zsmalloc" */
  zpool?: string;
  /** Reject pages that compress to more than this fraction of a page (zv_max_zsize). @defaultValue 0.875 */
  maxZsizeFraction?: number;
  /** Cap of the persistent pool, in percent of physical memory. @defaultValue 75 (zcache's zv_page_count_policy_percent) */
  maxPoolPercent?: number;
  /** After hitting the cap, accept again below this percent of the cap (zswap). 100 disables hysteresis. @defaultValue 90 */
  acceptThresholdPercent?: number;
  /** LZ4 acceleration (1 = the kernel's default; higher is faster and compresses less). @defaultValue 1 */
  acceleration?: number;
}

/** Counters of one client (Worker slot). */
export interface ZcacheClientStats {
  /** The client index: the Worker's scratch slot (slots past 47 share client 47). */
  client: number;
  /** Ephemeral pages this client stored that are still local (pages, now). */
  ephemeralPages: number;
  /** Persistent pages this client stored that are still local (pages, now). */
  persistentPages: number;
  /** Compressed bytes of those pages (bytes, now). */
  zbytes: number;
  /** Puts this client made that were accepted (cumulative). */
  puts: number;
  /** Puts this client made that were rejected (cumulative). */
  rejects: number;
  /** Successful gets by this client (cumulative). */
  gets: number;
  /** Pages of this client freed, by anyone (cumulative). */
  frees: number;
  /** Same-filled pages of this client (pages, now). */
  sameFilled: number;
}

/** zcache statistics (a snapshot, all Workers). */
export interface ZcacheStats {
  /** The zcache instance id. */
  instance: number;
  /** The zpool driver's name. */
  zpool: string;
  /** Ephemeral pages stored locally now (remote ones are in {@link ZcacheStats.remote}). */
  ephemeralPages: number;
  /** Persistent pages stored locally now. */
  persistentPages: number;
  /** Of those, same-filled (no allocation; pages, now). */
  sameFilledPages: number;
  /** Compressed bytes of the local ephemeral pages (bytes, now). */
  ephemeralZbytes: number;
  /** Compressed bytes of the local persistent pages (bytes, now). */
  persistentZbytes: number;
  /** Ephemeral puts accepted (cumulative). */
  ephemeralPuts: number;
  /** Persistent puts accepted (cumulative). */
  persistentPuts: number;
  /** Ephemeral puts rejected, for any reason (cumulative). */
  failedEphemeralPuts: number;
  /** Persistent puts rejected, for any reason (cumulative). */
  failedPersistentPuts: number;
  /** Rejected: compressed beyond maxZsize (zcache compress_poor, zswap reject_compress_poor; cumulative). */
  compressPoor: number;
  /** Rejected: persistent cap (zswap pool_limit_hit; cumulative). */
  poolLimitHit: number;
  /** Rejected: the zpool could not allocate even after eviction (zswap reject_alloc_fail; cumulative). */
  rejectAllocFail: number;
  /** Ephemeral pages evicted to make room (zcache evicted_*; cumulative). */
  evictedPages: number;
  /** Successful gets, local and remote (cumulative). */
  gets: number;
  /** Stored local pages freed: flush, replace, exclusive get, eviction (cumulative). */
  frees: number;
  /** Frames held by the two zpools (frames, now). */
  zpoolPages: {
    /** Frames of the ephemeral zpool. */
    ephemeral: number;
    /** Frames of the persistent zpool. */
    persistent: number;
  };
  /** Whether the persistent pool is above the cap and refusing (hysteresis). */
  reachedFull: boolean;
  /** The remote tier (RAMster) of this zcache: null when none is attached. */
  remote: ZcacheRemoteStats | null;
  /** The tmem core's metadata (all backends share the index). */
  core: CoreStats;
  /** Per client (Worker slot) with any activity. */
  clients: ZcacheClientStats[];
}

/** Counters of the pages whose bytes are remote (indexed here, stored in Redis). */
export interface ZcacheRemoteStats {
  /** The ramster instance that holds them. */
  ramster: number;
  /** Ephemeral pages whose bytes are remote (pages, now). */
  ephemeralPages: number;
  /** Persistent pages whose bytes are remote (pages, now). */
  persistentPages: number;
  /** Compressed bytes of the remote ephemeral pages: the payload each remote value carries (bytes, now). */
  ephemeralZbytes: number;
  /** Compressed bytes of the remote persistent pages (bytes, now). */
  persistentZbytes: number;
  /** Pages made remote (cumulative). */
  remotified: number;
  /** Remote persistent pages brought home (cumulative). */
  broughtHome: number;
  /** Remote pages freed: flushed, overwritten, got exclusively (cumulative). */
  frees: number;
  /** Loads served from the remote tier (cumulative, this zcache, all Workers). */
  remoteHits: number;
  /** Loads of a remote page that missed (ephemeral) or failed (persistent: thrown). */
  remoteMisses: number;
}

/**
 * What zcache needs from a remote tier to serve its remote pages. The
 * ramster backend implements it (src/ramster/tier.ts) and installs a
 * resolver ({@link setZcacheRemoteResolver}), so every thread that opens
 * the zcache finds the tier of the ramster instance named in its state.
 * Thread safety: one object per thread.
 */
export interface ZcacheRemote {
  /** An opaque name of `pool` for {@link drop}, taken while the pool exists. */
  ref(pool: number): unknown;
  /**
   * Fetch the compressed bytes of the remote copy (generation `gen`, or any
   * when undefined: a shared pool read without a local descriptor) of
   * (pool, oid, index) into this thread's memory at `dst` (at most 8 KiB).
   * Returns the length, or -1 for a miss (ephemeral only).
   * @throws TmemError for a persistent page: EIO (no copy with this
   *   generation), ETIMEDOUT, ENOTCONN (unreachable).
   */
  fetch(pool: number, oid: Oid, index: number, gen: number | undefined, persistent: boolean, dst: number): number;
  /** The same without blocking: the payload or null (ephemeral miss). */
  fetchAsync(pool: number, oid: Oid, index: number, gen: number | undefined, persistent: boolean): Promise<Uint8Array | null>;
  /**
   * Delete remote copies by generation, after every earlier remote write of
   * the same object (no reply awaited). `oid` null: anywhere in the pool;
   * `index` null: anywhere in the object.
   */
  drop(ref: unknown, oid: Oid | null, index: number | null, gens: number[]): void;
}

type RemoteResolver = (pm: PhysicalMemory, ramsterInstance: number) => ZcacheRemote | null;
let remoteResolver: RemoteResolver | null = null;
/** @internal The ramster module installs how a thread finds a ramster instance's tier. */
export function setZcacheRemoteResolver(r: RemoteResolver): void {
  remoteResolver = r;
}

const MAGIC = L.ZC_MAGIC; // "ZCAC"
const W_MAGIC = L.ZC_W_MAGIC, W_MAXZ = L.ZC_W_MAXZ, W_MAXPCT = L.ZC_W_MAXPCT, W_ACCEPT = L.ZC_W_ACCEPT, W_DOMAIN = L.ZC_W_DOMAIN,
  W_EPH = L.ZC_W_EPH, W_PERS = L.ZC_W_PERS, W_FULL = L.ZC_W_FULL, W_ACCEL = L.ZC_W_ACCEL, W_NAMELEN = L.ZC_W_NAMELEN,
  W_NAME = L.ZC_W_NAME, W_NAME_MAX = L.ZC_W_NAME_MAX;
/** Counters of rare events, shared by all Workers (the per-page ones are per client, summed by stats()). */
const C_POOR = L.ZC_C_POOR, C_LIMIT = L.ZC_C_LIMIT, C_ALLOCFAIL = L.ZC_C_ALLOCFAIL, C_EVICTED = L.ZC_C_EVICTED;
/** Per-client counters: one 64-byte line per client (no false sharing between Workers), 48 clients. */
const CLIENTS = L.ZC_CLIENTS, MAX_CLIENTS = L.ZC_MAX_CLIENTS, CW = L.ZC_CW;
/**
 * Words of a client's line (assembly/zcache_layout.ts declares them): pages,
 * compressed bytes and puts per kind, rejects per kind, gets, frees, same-filled.
 * Every per-page counter lives here, in the storing (or getting) Worker's own
 * cache line, so two Workers never bounce a counter line on the hot path.
 */
const K_EPH = L.ZC_K_EPH, K_PERS = L.ZC_K_PERS, K_EPH_Z = L.ZC_K_EPH_Z, K_PERS_Z = L.ZC_K_PERS_Z, K_EPH_PUTS = L.ZC_K_EPH_PUTS,
  K_PERS_PUTS = L.ZC_K_PERS_PUTS, K_EPH_REJ = L.ZC_K_EPH_REJ, K_PERS_REJ = L.ZC_K_PERS_REJ, K_GETS = L.ZC_K_GETS,
  K_FREES = L.ZC_K_FREES, K_SAME = L.ZC_K_SAME;

const E_BUSY = -L.E_BUSY, E_BADMSG = -L.E_BADMSG;
/** What assembly/tmem_zcache.ts's store did, by its result code (ZC_PUT_*: 0..4). */
const PUT_RESULTS: readonly PutResult[] = (() => {
  const r: PutResult[] = [];
  r[L.ZC_PUT_NEW] = "new"; r[L.ZC_PUT_REPLACED] = "replaced"; r[L.ZC_PUT_EXISTS] = "exists";
  r[L.ZC_PUT_REJECTED] = "rejected"; r[L.ZC_PUT_REJECTED_FLUSHED] = "rejected-flushed";
  return r;
})();

const LEN_MASK = L.ZC_LEN_MASK;
const SAME = L.ZC_META_SAME;
const PERSIST = L.ZC_META_PERSIST;
const REMOTE = L.ZC_META_REMOTE;
const W_REMOTE = L.ZC_W_REMOTE;
/** Remote-load counters (counted here, not in wasm). */
const R_HITS = L.ZC_R_HITS, R_MISSES = L.ZC_R_MISSES;
/** Staging capacity: LZ4's bound for a 4 KiB page is 4096 + 4096/255 + 16 = 4128 bytes. */
const STAGE_CAP = 8192;
/** Stores between two reads of the persistent pool's size while far below the cap. */
const ROOM_CHECK_EVERY = 32;
/** Growth of the persistent pool, as a share of its cap, between two compactions at the cap. */
const COMPACT_GROWTH = 1 / 32;
/** Eviction batch when frames run short. */
const EVICT_BATCH = 64;
/** Eviction rounds per allocation before giving up. */
const EVICT_ROUNDS = 16;

/** The zcache backend (one instance, as this thread sees it). */
export class Zcache extends PamBackend<ZcacheStats> implements TmemBackend<ZcacheStats> {
  readonly type = "zcache";
  /** The ephemeral (cleancache) zpool. */
  readonly ephemeral: Zpool;
  /** The persistent (frontswap) zpool. */
  readonly persistent: Zpool;
  private readonly st: Int32Array;
  /** Address of the state frame (for the wasm accounting). */
  private readonly stAddr: number;
  /** This Worker's client index (its scratch slot, folded into 0..47). */
  private readonly client: number;
  /** client << 16, or'ed into every meta word this Worker stores. */
  private readonly clientTag: number;
  private readonly zp: [ZpoolBackend, ZpoolBackend];
  private readonly u8: Uint8Array;
  private readonly stage: number;
  private readonly hash: number;
  private readonly clientBase: number;
  private readonly capFrames: number;
  private readonly acceptFrames: number;
  private readonly maxZsize: number;
  private readonly accel: number;
  private readonly domain: number;
  /**
   * The built-in driver of both zpools (L.ZC_DRV_ZSMALLOC, L.ZC_DRV_ZBUD: a
   * store or load is one wasm call), or L.ZC_DRV_JS for a driver written in
   * JavaScript (PamBackend's generic path through the zpool API).
   */
  private readonly driver: number;
  /** The zpools' backend pool ids (for the remote tier, which is zsmalloc-only). */
  private readonly zsEph: number;
  private readonly zsPers: number;
  /** Stores left before persistentRoom reads the pool size again. */
  private roomSkip = 0;
  /** Persistent pool frames after this Worker's last compaction at the cap (persistentRoom). */
  private compactedAt = 0;
  /** This thread's zpool mapping: a store or load while the caller holds one is EBUSY (nothing changes). */
  private readonly maps: MapState;
  /** This thread's remote tier (resolved on first need), undefined = not looked up. */
  private tier: ZcacheRemote | null | undefined;
  /** The key of the flush in progress, for pamFree of a remote page (null: none). */
  private fKey: { pool: number; oid: Oid; index: number } | null = null;
  /** Generations of remote pages freed by a batch flush in progress (null: none). */
  private fGens: number[] | null = null;

  private constructor(pm: PhysicalMemory, instance: number, generation: number, pfn: number, eph: Zpool, pers: Zpool) {
    super(pm, instance, generation);
    this.st = new Int32Array(pm.memory.buffer, pm.layout.framesBase + pfn * PAGE_SIZE, PAGE_SIZE / 4);
    this.ephemeral = eph;
    this.persistent = pers;
    this.zp = [eph.backend, pers.backend];
    this.driver = Atomics.load(this.st, L.ZC_W_DRIVER);
    this.zsEph = eph.backend.id;
    this.zsPers = pers.backend.id;
    this.u8 = pm.u8;
    this.maps = mapState(pm);
    this.stage = pm.scratch + SCRATCH_STAGE;
    this.hash = pm.scratch + SCRATCH_LZ4_HASH;
    this.stAddr = pm.layout.framesBase + pfn * PAGE_SIZE;
    const slot = pm.slot < MAX_CLIENTS ? pm.slot : MAX_CLIENTS - 1;
    this.client = slot;
    this.clientTag = slot << 16;
    this.clientBase = CLIENTS + slot * CW;
    const st = this.st;
    this.maxZsize = Atomics.load(st, W_MAXZ);
    this.accel = Atomics.load(st, W_ACCEL);
    this.domain = Atomics.load(st, W_DOMAIN);
    this.capFrames = Math.floor(pm.frames * Atomics.load(st, W_MAXPCT) / 100);
    this.acceptFrames = Math.floor(this.capFrames * Atomics.load(st, W_ACCEPT) / 100);
  }

  /**
   * Make a new zcache instance in `pm`: two zpools of driver `zpool`, an LRU
   * domain, and the shared state other Workers open it by.
   * @throws TmemError EINVAL for bad options; ENODEV for an unknown zpool
   *   driver; ENOSPC when 16 backend instances or 15 LRU domains exist.
   */
  static async create(pm: PhysicalMemory, options: ZcacheOptions = {}): Promise<Zcache> {
    const driver = options.zpool ?? "zsmalloc";
    const frac = options.maxZsizeFraction ?? 0.875;
    const maxPct = options.maxPoolPercent ?? 75;
    const accept = options.acceptThresholdPercent ?? 90;
    const accel = options.acceleration ?? 1;
    argCheck(typeof driver === "string" && driver.length > 0 && driver.length <= W_NAME_MAX, "zpool must be a driver name of 1..40 characters");
    argCheck(typeof frac === "number" && frac > 0 && frac <= 1, `maxZsizeFraction must be in (0, 1], not ${String(frac)}`);
    argCheck(typeof maxPct === "number" && maxPct > 0 && maxPct <= 100, `maxPoolPercent must be in (0, 100], not ${String(maxPct)}`);
    argCheck(typeof accept === "number" && accept > 0 && accept <= 100, `acceptThresholdPercent must be in (0, 100], not ${String(accept)}`);
    argCheck(Number.isInteger(accel) && accel >= 1 && accel <= 65537, `acceleration must be an integer ≥ 1, not ${String(accel)}`);
    const area = FrontendArea.for(pm);
    const eph = await createPool(driver, pm);
    let pers: Zpool | undefined;
    let inst: { id: number; pfn: number; generation: number } | undefined;
    let domain = 0;
    try {
      pers = await createPool(driver, pm);
      domain = area.tc.newDomain();
      inst = area.allocInstance("zcache");
      const st = new Int32Array(pm.memory.buffer, pm.layout.framesBase + inst.pfn * PAGE_SIZE, PAGE_SIZE / 4);
      Atomics.store(st, W_MAXZ, Math.floor(PAGE_SIZE * frac));
      Atomics.store(st, W_MAXPCT, maxPct);
      Atomics.store(st, W_ACCEPT, accept);
      Atomics.store(st, W_DOMAIN, domain);
      Atomics.store(st, W_EPH, eph.id);
      Atomics.store(st, W_PERS, pers.id);
      Atomics.store(st, W_ACCEL, accel);
      // The wasm store and load reach a built-in driver's pools by these words; a JavaScript driver has none.
      const wd = eph.backend.wasmDriver ?? L.ZC_DRV_JS;
      if (wd !== L.ZC_DRV_JS && wd === pers.backend.wasmDriver) {
        Atomics.store(st, L.ZC_W_BE_EPH, eph.backend.id);
        Atomics.store(st, L.ZC_W_BE_PERS, pers.backend.id);
        Atomics.store(st, L.ZC_W_DRIVER, wd);
      }
      const name = new TextEncoder().encode(driver);
      new Uint8Array(st.buffer, st.byteOffset + W_NAME * 4, W_NAME_MAX).set(name);
      Atomics.store(st, W_NAMELEN, name.length);
      Atomics.store(st, W_MAGIC, MAGIC);
      const z = new Zcache(pm, inst.id, inst.generation, inst.pfn, eph, pers);
      area.remember(z);
      return z;
    } catch (e) {
      if (inst !== undefined) area.freeInstance(inst.id, inst.generation);
      if (domain !== 0) area.tc.freeDomain(domain);
      pers?.destroy({ force: true });
      eph.destroy({ force: true });
      throw e;
    }
  }

  /**
   * Open instance `instance` (made by {@link create} in any Worker) in this thread.
   * @throws TmemError ENODEV if it is not a zcache instance or its zpool
   *   driver is not registered here.
   */
  static async open(pm: PhysicalMemory, instance: number): Promise<Zcache> {
    const area = FrontendArea.for(pm);
    const have = area.current(instance);
    if (have instanceof Zcache) return have;
    const info = area.instanceInfo(instance);
    if (info === null || info.type !== "zcache") throw new TmemError(ErrorCode.ENODEV, `instance ${instance} is not a zcache backend`);
    const st = new Int32Array(pm.memory.buffer, pm.layout.framesBase + info.pfn * PAGE_SIZE, PAGE_SIZE / 4);
    if (Atomics.load(st, W_MAGIC) !== MAGIC) throw new TmemError(ErrorCode.ENODEV, `zcache instance ${instance} is not initialised`);
    const ephId = Atomics.load(st, W_EPH), persId = Atomics.load(st, W_PERS);
    // Destroyed while we read its words: the zpool ids (generation-checked) or the state word tell.
    if (!area.isLive(instance, info.generation)) throw new TmemError(ErrorCode.ENODEV, `zcache instance ${instance} was destroyed while opening`);
    const eph = await openPool(pm, ephId);
    let pers: Zpool;
    try {
      pers = await openPool(pm, persId);
    } catch (e) {
      eph.close();
      throw e;
    }
    const z = new Zcache(pm, instance, info.generation, info.pfn, eph, pers);
    if (!area.isLive(instance, info.generation)) {
      eph.close(); pers.close();
      throw new TmemError(ErrorCode.ENODEV, `zcache instance ${instance} was destroyed while opening`);
    }
    area.remember(z);
    return z;
  }

  /** The zpool driver's name. */
  get zpoolType(): string {
    const len = Atomics.load(this.st, W_NAMELEN);
    return new TextDecoder().decode(new Uint8Array(this.st.buffer, this.st.byteOffset + W_NAME * 4, len).slice());
  }

  // ── the built-in drivers: a whole store or load in one wasm call (assembly/tmem_zcache.ts) ──

  /** @inheritDoc */
  override putPage(pool: number, oid: Oid, index: number, page: Uint8Array, noReplace = false): PutResult {
    if (this.driver === L.ZC_DRV_JS) return super.putPage(pool, oid, index, page, noReplace);
    this.alive();
    checkPage(page, this.pm.memory.buffer, "page");
    if (this.maps.pool !== null) this.mappedError();
    const tc = this.tc;
    oid = tc.ownOid(oid); // the page goes to the I/O slot before the id is read
    // With a remote tier the old copy may be remote: flush it here, where its key is known.
    const preFlushed = !noReplace && Atomics.load(this.st, W_REMOTE) !== 0 && this.flushPage(pool, oid, index);
    const persistent = this.isPersistent(pool);
    if (persistent && !this.persistentRoom()) {
      // Refused: the old copy must not survive a failed put.
      const flushed = noReplace ? false : (tc.flushPage(pool, oid, index, this.freeFn) || preFlushed);
      Atomics.add(this.st, C_LIMIT, 1);
      this.reject(true);
      return flushed ? "rejected-flushed" : "rejected";
    }
    tc.ioPage.set(page);
    const r = this.pm.core.tmem_zcache_store(this.stAddr, (persistent ? PERSIST : 0) | this.clientTag, pool, tc.oidArg(oid), index,
      noReplace ? 1 : 0);
    const res = PUT_RESULTS[r];
    if (res === undefined) {
      if (r === -L.E_INVAL) throw new TmemError(ErrorCode.EINVAL, `tmem_put: pool ${pool} is not alive`);
      throw new TmemError(ErrorCode.EPROTO, `tmem_zcache_store: unknown result ${r}`);
    }
    if (!preFlushed) return res;
    return res === "new" ? "replaced" : res === "rejected" ? "rejected-flushed" : res;
  }

  /** @inheritDoc */
  override getPage(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
    if (this.driver === L.ZC_DRV_JS) return super.getPage(pool, oid, index, into);
    this.alive();
    checkPage(into, this.pm.memory.buffer, "into");
    if (this.maps.pool !== null) this.mappedError();
    const r = this.pm.core.tmem_zcache_load(this.stAddr, this.client, pool, this.tc.oidArg(oid), index);
    if (r === L.ZC_GET_HIT) { into.set(this.tc.ioPage); return true; }
    if (r === L.ZC_GET_REMOTE) return this.remoteLoad(pool, oid, index, into);
    if (r === L.ZC_GET_MISS) return this.sharedRemoteGet(pool, oid, index, into);
    if (r === E_BADMSG) {
      this.flushPage(pool, oid, index);
      throw new TmemError(ErrorCode.EBADMSG, `zcache: the stored copy of pool ${pool} index ${index} is corrupt (flushed)`);
    }
    if (r === E_BUSY) this.mappedError();
    if (r === -L.E_NOSPC) throw pinsFull();
    throw new TmemError(ErrorCode.EINVAL, `tmem_get: pool ${pool} is not alive`);
  }

  protected override beforeData(): void {
    if (this.maps.pool !== null) this.mappedError();
  }

  private mappedError(): never {
    throw new TmemError(ErrorCode.EBUSY,
      "zcache: this Worker has a zpool object mapped: unmap it before storing or loading pages (nothing changed)");
  }

  // ── pamops (the generic path: zpool drivers written in JavaScript; loadAsync and the flushes on every driver) ──

  protected pamStore(_pool: number, persistent: boolean): boolean {
    const core = this.pm.core, tc = this.tc;
    if (persistent && !this.persistentRoom()) {
      Atomics.add(this.st, C_LIMIT, 1);
      return this.reject(true);
    }
    const kind = (persistent ? PERSIST : 0) | this.clientTag;
    const r = core.tmem_zcache_prepare(this.stAddr, tc.ioAddr, this.stage, STAGE_CAP, this.accel, this.hash, this.maxZsize);
    if (r < 0) {
      this.pLo = tc.out[0]!; this.pHi = tc.out[1]!;
      this.pMeta = SAME | kind;
      return true;
    }
    if (r === 0) return this.reject(persistent); // compress_poor, counted in wasm
    const zp = this.zp[persistent ? 1 : 0];
    const handle = this.zmalloc(zp, r);
    if (handle === 0) {
      Atomics.add(this.st, C_ALLOCFAIL, 1);
      return this.reject(persistent);
    }
    try {
      const view = zp.map(handle, "wo");
      try {
        this.u8.copyWithin(view.byteOffset, this.stage, this.stage + r);
      } finally {
        zp.unmap(handle);
      }
    } catch (e) {
      zp.free(handle);
      throw e;
    }
    this.pLo = handle; this.pHi = persistent ? 1 : 0;
    this.pMeta = r | kind;
    return true;
  }

  /** The put landed: account the page (pamStore does not: a put that did not land is never counted). */
  protected override pamStored(_pool: number): void {
    this.pm.core.tmem_zcache_account(this.stAddr, this.pMeta, 1, 0);
  }

  /** A put that did not land: free the object pamStore allocated; nothing was accounted. */
  protected override pamDiscard(lo: number, hi: number, meta: number, _pool: number): void {
    if ((meta & SAME) === 0) this.zp[hi === 1 ? 1 : 0].free(lo);
  }

  protected pamLoad(lo: number, hi: number, meta: number): boolean {
    const tc = this.tc, core = this.pm.core;
    // Remote pages exist only on zsmalloc zcaches (Ramster refuses others); loadAsync routes them to remoteLoad.
    if ((meta & REMOTE) !== 0) throw new TmemError(ErrorCode.ENOTSUP, "zcache: a remote page on the generic load path");
    core.tmem_zcache_account(this.stAddr, meta, 0, this.client);
    if ((meta & SAME) !== 0) {
      core.tmem_page_fill(tc.ioAddr, lo, hi);
      return true;
    }
    const zp = this.zp[hi === 1 ? 1 : 0];
    const view = zp.map(lo, "ro");
    let r: number;
    try {
      r = core.lz4_decompress_safe_exact(view.byteOffset, meta & LEN_MASK, tc.ioAddr, PAGE_SIZE);
    } finally {
      zp.unmap(lo);
    }
    return r === PAGE_SIZE;
  }

  protected pamFree(lo: number, hi: number, meta: number, pool: number): void {
    if (this.driver !== L.ZC_DRV_JS) {
      // A built-in driver: the free and the accounting in one wasm call.
      if (this.pm.core.tmem_zcache_free(this.stAddr, lo, hi, meta) !== 0) this.freeRefused(lo, hi, meta);
    } else {
      if ((meta & (SAME | REMOTE)) === 0) this.zp[hi === 1 ? 1 : 0].free(lo);
      this.pm.core.tmem_zcache_account(this.stAddr, meta, -1, 0);
    }
    if ((meta & REMOTE) !== 0) this.remoteFreed(lo, pool);
  }

  /**
   * The driver refused tmem_zcache_free's free (nothing changed): free
   * through its TypeScript face, which throws the error it always threw
   * (EINVAL for a stale handle or a destroyed pool, EBUSY for a mapped
   * object); should that free succeed after all, account the page as freed.
   */
  private freeRefused(lo: number, hi: number, meta: number): void {
    this.zp[hi === 1 ? 1 : 0].free(lo);
    this.pm.core.tmem_zcache_account(this.stAddr, meta, -1, 0);
  }

  // ── the remote tier (RAMster): remote pages are indexed here, their bytes are in Redis ──

  /** This thread's remote tier, or null when none is attached or this thread cannot reach it. */
  private remoteTier(): ZcacheRemote | null {
    const id = Atomics.load(this.st, W_REMOTE);
    if (id === 0) return null;
    if (this.tier === undefined || this.tier === null) this.tier = remoteResolver?.(this.pm, id - 1) ?? null;
    return this.tier;
  }

  /** A remote page left the index (pamFree): drop its remote copy, by key when known. */
  private remoteFreed(gen: number, pool: number): void {
    if (this.fGens !== null) { this.fGens.push(gen); return; }
    const t = this.remoteTier();
    if (t === null) return; // unreachable from here: the copy's generation never matches again
    const k = this.fKey;
    if (k !== null && k.pool === pool) t.drop(t.ref(pool), k.oid, k.index, [gen]);
    else t.drop(t.ref(pool), null, null, [gen]);
  }

  /** Run a batch removal, then drop the remote copies it freed in one command (by object, or pool-wide). */
  private batchFlush<T>(pool: number, oid: Oid | null, run: () => T): T {
    if (Atomics.load(this.st, W_REMOTE) === 0) return run();
    const t = this.remoteTier();
    const ref = t?.ref(pool);
    const gens: number[] = [];
    this.fGens = gens;
    try {
      return run();
    } finally {
      this.fGens = null;
      if (t !== null && gens.length > 0) t.drop(ref, oid === null ? null : Uint32Array.from(oid), null, gens);
    }
  }

  /** @inheritDoc */
  override flushPage(pool: number, oid: Oid, index: number): boolean {
    if (Atomics.load(this.st, W_REMOTE) === 0) return super.flushPage(pool, oid, index);
    this.fKey = { pool, oid: Uint32Array.from(oid), index };
    try { return super.flushPage(pool, oid, index); } finally { this.fKey = null; }
  }

  /** @inheritDoc */
  override flushObject(pool: number, oid: Oid): number {
    return this.batchFlush(pool, oid, () => super.flushObject(pool, oid));
  }

  /** @inheritDoc */
  override flushPool(pool: number): number {
    return this.batchFlush(pool, null, () => super.flushPool(pool));
  }

  /** @inheritDoc */
  override destroyPool(pool: number): void {
    this.batchFlush(pool, null, () => super.destroyPool(pool));
  }

  /**
   * The fast load found a remote page (its OutRecord in the out area): fetch
   * the compressed bytes through the tier, decompress, then unpin (or free
   * the removed entry: an exclusive get brings the page home for good).
   * Ephemeral: any failure is a miss. Persistent: a failure throws (the page
   * was accepted; "miss" would be a lie) and the entry stays.
   */
  private remoteLoad(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
    const core = this.pm.core, o = this.tc.out;
    const gen = o[0]!, hi = o[1]!, meta = o[2]!, pin = o[3]!;
    const persistent = (meta & PERSIST) !== 0;
    const len = meta & LEN_MASK;
    let ok = false;
    let err: unknown;
    try {
      const t = this.remoteTier();
      if (t === null) throw new TmemError(ErrorCode.ENOTCONN, `zcache: pool ${pool} index ${index} is remote and this thread has no ramster channel (Ramster.attach)`);
      const n = t.fetch(pool, oid, index, gen, persistent, this.stage);
      if (n === len && core.lz4_decompress_safe_exact(this.stage, n, this.tc.ioAddr, PAGE_SIZE) === PAGE_SIZE) ok = true;
      else if (persistent) err = new TmemError(ErrorCode.EIO, `zcache: remote persistent page (pool ${pool}, index ${index}, generation ${gen}) came back ${n < 0 ? "missing" : "corrupt"}`);
    } catch (e) {
      err = e;
    } finally {
      if (ok) core.tmem_zcache_account(this.stAddr, meta, 0, this.client);
      Atomics.add(this.st, ok ? R_HITS : R_MISSES, 1);
      if (pin !== 0) {
        this.fKey = { pool, oid: Uint32Array.from(oid), index };
        try { this.tc.unpin(pin, this.freeFn); } finally { this.fKey = null; }
      } else {
        // Removed by an exclusive get: the remote copy goes too (the bytes are here now, or lost).
        this.fKey = { pool, oid: Uint32Array.from(oid), index };
        try { this.pamFree(gen, hi, meta, pool); } finally { this.fKey = null; }
      }
    }
    if (ok) { into.set(this.tc.ioPage); return true; }
    if (!persistent) {
      if (pin !== 0) this.flushPage(pool, oid, index); // a kept (shared) page that cannot be fetched: drop it
      return false;
    }
    throw err;
  }

  /**
   * A local miss in a SHARED ephemeral pool (cleancache initSharedFs): another
   * node may have put the page; ask the remote tier for any generation. The
   * page is not indexed here (a later get asks again).
   */
  private sharedRemoteGet(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
    if (Atomics.load(this.st, W_REMOTE) === 0) return false;
    const f = this.tc.poolFlags(pool);
    if ((f & TMEM_POOL_SHARED) === 0 || (f & TMEM_POOL_PERSIST) !== 0) return false;
    const t = this.remoteTier();
    if (t === null) return false;
    let n: number;
    try { n = t.fetch(pool, oid, index, undefined, false, this.stage); } catch { n = -1; }
    if (n <= 0 || this.pm.core.lz4_decompress_safe_exact(this.stage, n, this.tc.ioAddr, PAGE_SIZE) !== PAGE_SIZE) {
      Atomics.add(this.st, R_MISSES, 1);
      return false;
    }
    Atomics.add(this.st, R_HITS, 1);
    into.set(this.tc.ioPage);
    return true;
  }

  /**
   * Load a page without blocking (for a thread that cannot Atomics.wait, or
   * an async caller): local pages as {@link getPage}; a remote page is
   * fetched with the tier's async form, and no pin is held across the await:
   * if the copy is gone when it arrives, the descriptor is read again (a
   * concurrent bring-home or overwrite) and the load retried once.
   * A remote page of a private ephemeral pool is NOT removed by this form.
   * @returns true and the bytes in `into`, false on a miss.
   * @throws TmemError as getPage; EIO for a persistent page no reachable Redis holds.
   */
  async loadAsync(pool: number, oid: Oid, index: number, into: Uint8Array): Promise<boolean> {
    this.alive();
    checkPage(into, this.pm.memory.buffer, "into");
    for (let attempt = 0; ; attempt++) {
      const tc = this.tc;
      if (!tc.get(pool, oid, index, GetMode.KEEP)) {
        const page = new Uint8Array(PAGE_SIZE);
        return this.sharedRemoteGetAsync(pool, oid, index, into, page);
      }
      const lo = tc.lo, meta = tc.meta, pin = tc.pin;
      if ((meta & REMOTE) === 0) {
        // Local: copy it out under the pin (the sync path does the same).
        let ok: boolean;
        try { ok = this.pamLoad(lo, tc.hi, meta); } finally { if (pin !== 0) tc.unpin(pin, this.freeFn); }
        if (!ok) throw new TmemError(ErrorCode.EBADMSG, `zcache: the stored copy of pool ${pool} index ${index} is corrupt`);
        into.set(tc.ioPage);
        return true;
      }
      if (pin !== 0) tc.unpin(pin, this.freeFn);
      const persistent = (meta & PERSIST) !== 0;
      const t = this.remoteTier();
      if (t === null) {
        if (persistent) throw new TmemError(ErrorCode.ENOTCONN, `zcache: pool ${pool} index ${index} is remote and this thread has no ramster channel`);
        return false;
      }
      let v: Uint8Array | null = null;
      let err: unknown;
      try { v = await t.fetchAsync(pool, oid, index, lo, persistent); } catch (e) { err = e; }
      if (v !== null && v.byteLength === (meta & LEN_MASK)) {
        this.pm.u8.set(v, this.stage);
        if (this.pm.core.lz4_decompress_safe_exact(this.stage, v.byteLength, this.tc.ioAddr, PAGE_SIZE) === PAGE_SIZE) {
          Atomics.add(this.st, R_HITS, 1);
          into.set(this.tc.ioPage);
          return true;
        }
      }
      // Gone or failed: did the descriptor change meanwhile (brought home, overwritten)? Then read it again.
      if (attempt === 0 && tc.get(pool, oid, index, GetMode.KEEP)) {
        const changed = tc.lo !== lo || tc.meta !== meta;
        if (tc.pin !== 0) tc.unpin(tc.pin, this.freeFn);
        if (changed) continue;
      } else if (attempt === 0) {
        continue; // flushed meanwhile: the retry reports the miss
      }
      Atomics.add(this.st, R_MISSES, 1);
      if (!persistent) return false;
      throw err ?? new TmemError(ErrorCode.EIO, `zcache: remote persistent page (pool ${pool}, index ${index}, generation ${lo}) is lost`);
    }
  }

  private async sharedRemoteGetAsync(pool: number, oid: Oid, index: number, into: Uint8Array, _tmp: Uint8Array): Promise<boolean> {
    if (Atomics.load(this.st, W_REMOTE) === 0) return false;
    const f = this.tc.poolFlags(pool);
    if ((f & TMEM_POOL_SHARED) === 0 || (f & TMEM_POOL_PERSIST) !== 0) return false;
    const t = this.remoteTier();
    if (t === null) return false;
    let v: Uint8Array | null = null;
    try { v = await t.fetchAsync(pool, oid, index, undefined, false); } catch { v = null; }
    if (v === null) return false;
    this.pm.u8.set(v, this.stage);
    if (this.pm.core.lz4_decompress_safe_exact(this.stage, v.byteLength, this.tc.ioAddr, PAGE_SIZE) !== PAGE_SIZE) return false;
    into.set(this.tc.ioPage);
    return true;
  }

  /** @internal For the ramster backend: the words it needs to drive this zcache's remote pages. */
  remoteHandle(): { stAddr: number; zsEph: number; zsPers: number; domain: number; zsmalloc: boolean; st: Int32Array } {
    return {
      stAddr: this.stAddr, zsEph: this.zsEph, zsPers: this.zsPers, domain: this.domain, zsmalloc: this.driver === L.ZC_DRV_ZSMALLOC,
      st: this.st,
    };
  }

  protected lruDomain(): number {
    return this.domain;
  }

  protected isPersistent(pool: number): boolean {
    return (this.tc.poolFlags(pool) & TMEM_POOL_PERSIST) !== 0;
  }

  // ── policy ──

  private reject(persistent: boolean): false {
    Atomics.add(this.st, this.clientBase + (persistent ? K_PERS_REJ : K_EPH_REJ), 1);
    return false;
  }

  /**
   * zswap's hysteresis on the persistent pool's frames. Reading the pool's
   * size is a driver call with a stats copy, so below the cap each Worker
   * re-reads it only every ROOM_CHECK_EVERY stores while far from the cap
   * (it may overshoot by that many pages per Worker, as zswap's own check is
   * racy); while full, or near the cap, it reads it on every store.
   */
  private persistentRoom(): boolean {
    const st = this.st;
    const full = Atomics.load(st, W_FULL) !== 0;
    if (!full && --this.roomSkip > 0) return true;
    const frames = this.zp[1].totalSize() / PAGE_SIZE;
    this.roomSkip = frames + ROOM_CHECK_EVERY < this.capFrames ? ROOM_CHECK_EVERY : 1;
    if (full) {
      if (frames >= this.acceptFrames) return false;
      Atomics.store(st, W_FULL, 0);
    }
    if (frames >= this.capFrames) {
      // At the cap, compact the persistent pool first (a zsmalloc's last,
      // partly used zspages; zbud's compact is a no-op): the room it makes is
      // what the kernel's shrinker would get from zs_compact under pressure.
      // Only once the pool has grown by COMPACT_GROWTH of the cap since this
      // Worker's last try, so a full pool is not compacted on every store.
      if (frames >= this.compactedAt + Math.max(1, Math.floor(this.capFrames * COMPACT_GROWTH))) {
        this.zp[1].compact();
        const after = this.zp[1].totalSize() / PAGE_SIZE;
        this.compactedAt = after;
        if (after < this.capFrames) return true;
      }
      Atomics.store(st, W_FULL, 1);
      return false;
    }
    return true;
  }

  /** zpool malloc that evicts ephemeral pages (LRU) when frames run short; 0 on failure. */
  private zmalloc(zp: ZpoolBackend, size: number): number {
    for (let round = 0; ; round++) {
      try {
        return zp.malloc(size);
      } catch (e) {
        if (!(e instanceof TmemError) || e.code !== ErrorCode.ENOMEM || round >= EVICT_ROUNDS) return 0;
      }
      const n = this.tc.evict(this.domain, EVICT_BATCH, this.freeFn);
      Atomics.add(this.st, C_EVICTED, n);
      if (n === 0) return 0;
      // Freed objects free whole frames only when a zspage empties: compact.
      this.zp[0].compact();
    }
  }

  /** Evict a batch of clean pages (descriptors and zpool objects) when the index finds no frame. */
  protected override reclaim(): boolean {
    const n = this.tc.evict(this.domain, EVICT_BATCH, this.freeFn);
    Atomics.add(this.st, C_EVICTED, n);
    if (n > 0) this.zp[0].compact();
    return n > 0;
  }

  /**
   * Evict up to `pages` least recently used ephemeral pages now (a shrinker).
   * @returns pages evicted.
   */
  shrink(pages: number): number {
    this.alive();
    argCheck(Number.isSafeInteger(pages) && pages >= 0, "pages must be an integer ≥ 0");
    let done = 0;
    while (done < pages) {
      const n = this.tc.evict(this.domain, Math.min(EVICT_BATCH, pages - done), this.freeFn);
      if (n === 0) break;
      done += n;
    }
    Atomics.add(this.st, C_EVICTED, done);
    if (done > 0) this.zp[0].compact();
    return done;
  }

  /** Statistics now (all Workers; per-page counters are summed over the clients' lines). */
  stats(): ZcacheStats {
    this.alive();
    const st = this.st;
    const g = (w: number): number => Atomics.load(st, w);
    const clients: ZcacheClientStats[] = [];
    const sum = new Array<number>(CW).fill(0);
    for (let c = 0; c < MAX_CLIENTS; c++) {
      const b = CLIENTS + c * CW;
      let any = false;
      for (let k = 0; k < CW; k++) { const v = g(b + k); sum[k] = sum[k]! + v; if (v !== 0) any = true; }
      if (!any) continue;
      clients.push({
        client: c, ephemeralPages: g(b + K_EPH), persistentPages: g(b + K_PERS), zbytes: g(b + K_EPH_Z) + g(b + K_PERS_Z),
        puts: g(b + K_EPH_PUTS) + g(b + K_PERS_PUTS), rejects: g(b + K_EPH_REJ) + g(b + K_PERS_REJ), gets: g(b + K_GETS),
        frees: g(b + K_FREES), sameFilled: g(b + K_SAME),
      });
    }
    return {
      instance: this.instance, zpool: this.zpoolType,
      ephemeralPages: sum[K_EPH]!, persistentPages: sum[K_PERS]!, sameFilledPages: sum[K_SAME]!,
      ephemeralZbytes: sum[K_EPH_Z]!, persistentZbytes: sum[K_PERS_Z]!, ephemeralPuts: sum[K_EPH_PUTS]!, persistentPuts: sum[K_PERS_PUTS]!,
      failedEphemeralPuts: sum[K_EPH_REJ]!, failedPersistentPuts: sum[K_PERS_REJ]!, compressPoor: g(C_POOR),
      poolLimitHit: g(C_LIMIT), rejectAllocFail: g(C_ALLOCFAIL), evictedPages: g(C_EVICTED), gets: sum[K_GETS]!, frees: sum[K_FREES]!,
      zpoolPages: { ephemeral: this.zp[0].totalSize() / PAGE_SIZE, persistent: this.zp[1].totalSize() / PAGE_SIZE },
      reachedFull: g(W_FULL) !== 0, remote: g(W_REMOTE) === 0 ? null : {
        ramster: g(W_REMOTE) - 1, ephemeralPages: g(L.ZC_R_EPH), persistentPages: g(L.ZC_R_PERS), ephemeralZbytes: g(L.ZC_R_EPH_Z),
        persistentZbytes: g(L.ZC_R_PERS_Z), remotified: g(L.ZC_R_REMOTIFIED), broughtHome: g(L.ZC_R_HOME), frees: g(L.ZC_R_FREES),
        remoteHits: g(R_HITS), remoteMisses: g(R_MISSES),
      }, core: this.tc.stats(), clients,
    };
  }

  /**
   * Destroy the instance: its zpools, LRU domain and shared state. Its tmem
   * pools must be gone (unregister it from the frontends first). Every other
   * Worker's object of this instance refuses its next call with ENODEV.
   * @param options - `force`: destroy even while other attached Workers have
   *   the instance open (they must not be in a call on it at that moment).
   * @throws TmemError EBUSY while it still has a tmem pool (it holds pages
   *   only through those), or while another attached Worker has it open
   *   (unless forced); ENODEV when it was
   *   destroyed already; EINVAL when `pm` is detached.
   * Thread safety: no call on this instance may run concurrently in any Worker.
   */
  destroy(options: { force?: boolean } = {}): void {
    // With none of its tmem pools left (destroyCheck refuses otherwise), no
    // page of it is indexed: the index is the authority, not the per-client
    // counters (a Worker killed between an index update and its count leaves
    // those off by its operation in flight). Objects such a Worker leaked go
    // with the zpools below.
    this.destroyCheck(options.force === true);
    // End the identity first: from here on every other object of it refuses.
    this.area.freeInstance(this.instance, this.generation);
    this.tc.freeDomain(this.domain);
    this.persistent.destroy({ force: true });
    this.ephemeral.destroy({ force: true });
  }

  /** @inheritDoc */
  override close(): void {
    super.close();
    this.ephemeral.close();
    this.persistent.close();
  }
}
