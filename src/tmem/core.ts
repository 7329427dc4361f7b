// SPDX-License-Identifier: MIT
/**
 * tmem/core.ts: the TypeScript face of the tmem core (assembly/tmem.ts): pools
 * and the (pool, object id, index) → page-descriptor index in shared memory.
 *
 * What it is: a thin, allocation-free wrapper over the `tmem_*` wasm exports
 * for backends (zcache, the raw backend) and tests. It is not a store: the
 * core keeps a backend's opaque page descriptor ("pampd": two u32 words
 * `lo`/`hi` plus a u32 `meta` the backend encodes), never the bytes. Every
 * call that removes descriptors hands their pampds back through a
 * {@link FreePampd} callback so the backend frees each stored object exactly
 * once.
 *
 * Key idea: results travel through this Worker's out area in shared memory
 * (scratch + SCRATCH_IO + 4096), read through one Uint32Array view made once,
 * so a get or put is one JS→wasm call and a few typed-array reads, with no
 * object allocated per page.
 *
 * Object ids are 192 bits as six u32 words, least significant first
 * ({@link Oid}); {@link oidFrom} converts numbers, bigints and byte keys. An
 * object id crosses into wasm as one address: {@link TmemCore.oidArg} writes
 * its words into this Worker's call record (scratch + CALL_RECORD, declared
 * in assembly/tmem_layout.ts and generated into bindings/layout.generated.ts)
 * and the export takes the record's address.
 *
 * Concurrency: every method may be called from any Worker attached to the
 * memory, concurrently (the wasm takes per-stripe locks). One `TmemCore`
 * object per PhysicalMemory per thread ({@link TmemCore.for}); its result
 * fields (`lo`, `hi`, `meta`, `pin`) belong to the calling thread and are
 * valid until its next call.
 *
 * See also: assembly/tmem.ts (design essay), tmem_layout.ts (layout), ops.ts (backend
 * interface), ../zcache.ts, ../../test/tmem.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import type { CoreExports } from "../../bindings/wasm.js";
import { ErrorCode, Status, TmemError, argCheck, statusError } from "../../bindings/status.js";
import { PAGE_SIZE, SCRATCH_IO } from "../../bindings/layout.js";
import { checkOid } from "../../bindings/args.js";
import {
  CALL_RECORD, OID_BYTES, PIN_SLOTS, TMEM_PUT_NEW, TMEM_PUT_REPLACED, TMEM_PUT_REPLACED_PINNED, TMEM_FLUSH_FREED,
  TMEM_FLUSH_PINNED,
} from "../../bindings/layout.generated.js";
import * as G from "../../bindings/layout.generated.js";

/** Pool flag: persistent (frontswap). The Xen ABI bit. */
export const TMEM_POOL_PERSIST = 1;
/** Pool flag: shared by uuid. The Xen ABI bit. */
export const TMEM_POOL_SHARED = 2;
/** Most pools at once (assembly/tmem_layout.ts MAX_POOLS). */
export const TMEM_MAX_POOLS: number = G.TMEM_MAX_POOLS;
/**
 * A pool id is a u16 handle: slot (0..63) | generation (1..1023) << 6
 * (assembly/tmem_layout.ts poolSlot). It is never below 64, so 0 can mean "none";
 * a destroyed pool's id is refused until its slot has been reused 1023 times.
 */
export const TMEM_POOL_GEN_SHIFT: number = G.TMEM_POOL_GEN_SHIFT;
/** LRU domains (1..15 usable). */
export const TMEM_MAX_DOMAINS: number = G.TMEM_MAX_DOMAINS;
/** Bytes of one page descriptor (metadata per stored page, plus its bucket share). */
export const TMEM_DESC_SIZE: number = G.TMEM_DESC_SIZE;
/** Offset of the frontend area inside ROOT_TMEM (assembly/tmem_layout.ts FRONTEND_OFF). */
export const TMEM_FRONTEND_OFF: number = G.TMEM_FRONTEND_OFF;
/** Bytes of the frontend area. */
export const TMEM_FRONTEND_SIZE = 4096;

/** tmem_get modes: the kernel's get_and_free. */
export const GetMode = {
  /** Remove iff the pool is private and ephemeral (an exclusive get). */
  POLICY: 0,
  /** Always remove. */
  AND_FREE: 1,
  /** Never remove; the descriptor is pinned until {@link TmemCore.unpin}. */
  KEEP: 2,
} as const;
/** One of {@link GetMode}. */
export type GetMode = (typeof GetMode)[keyof typeof GetMode];

/** A 192-bit object id: six u32 words, least significant first. */
export type Oid = Uint32Array;

/** Anything {@link oidFrom} accepts: a safe integer ≥ 0, a bigint < 2^192, or ≤ 24 bytes (little-endian). */
export type OidLike = number | bigint | Uint8Array | Uint32Array;

/** A fresh all-zero {@link Oid}. */
export function newOid(): Oid {
  return new Uint32Array(6);
}

/**
 * Convert `key` to an {@link Oid}, into `out` if given.
 * @throws TmemError EINVAL for a negative, fractional or too-large number or
 *   bigint, or a byte key longer than 24 bytes (or a Uint32Array other than 6 words).
 */
export function oidFrom(key: OidLike, out: Oid = newOid()): Oid {
  if (typeof key === "number") {
    if (!(Number.isSafeInteger(key) && key >= 0)) argCheck(false, `object id must be a safe integer ≥ 0, a bigint or ≤ 24 bytes, not ${String(key)}`);
    out.fill(0);
    out[0] = key >>> 0;
    out[1] = Math.floor(key / 0x1_0000_0000);
    return out;
  }
  if (typeof key === "bigint") {
    argCheck(key >= 0n && key < (1n << 192n), "a bigint object id must be in [0, 2^192)");
    let k = key;
    for (let i = 0; i < 6; i++) { out[i] = Number(k & 0xffff_ffffn); k >>= 32n; }
    return out;
  }
  if (key instanceof Uint32Array) {
    argCheck(key.length === 6, `a Uint32Array object id must have 6 words, not ${key.length}`);
    out.set(key);
    return out;
  }
  argCheck(key instanceof Uint8Array, "object id must be a number, a bigint, a Uint8Array or a Uint32Array");
  argCheck(key.length <= 24, `a byte object id holds at most 24 bytes (192 bits), not ${key.length}`);
  out.fill(0);
  for (let i = 0; i < key.length; i++) out[i >> 2]! |= key[i]! << ((i & 3) * 8);
  for (let i = 0; i < 6; i++) out[i] = out[i]! >>> 0;
  return out;
}

/** A 128-bit uuid of a shared pool: 16 bytes, a 32-hex-digit string (dashes allowed), or four u32 words. */
export type UuidLike = Uint8Array | string | readonly [number, number, number, number];

/**
 * Convert a uuid to four u32 words.
 * @throws TmemError EINVAL for a malformed or all-zero uuid.
 */
export function uuidWords(uuid: UuidLike): [number, number, number, number] {
  let w: [number, number, number, number];
  if (typeof uuid === "string") {
    const hex = uuid.replace(/-/g, "");
    argCheck(/^[0-9a-fA-F]{32}$/.test(hex), `uuid must be 32 hex digits (dashes allowed), not ${JSON.stringify(uuid)}`);
    w = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) w[i] = parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0;
  } else if (uuid instanceof Uint8Array) {
    argCheck(uuid.length === 16, `a uuid is 16 bytes, not ${uuid.length}`);
    const dv = new DataView(uuid.buffer, uuid.byteOffset, 16);
    w = [dv.getUint32(0, false), dv.getUint32(4, false), dv.getUint32(8, false), dv.getUint32(12, false)];
  } else {
    argCheck(Array.isArray(uuid) && uuid.length === 4 && uuid.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff),
      "a uuid given as words must be four u32 values");
    w = [uuid[0], uuid[1], uuid[2], uuid[3]];
  }
  argCheck((w[0] | w[1] | w[2] | w[3]) !== 0, "a shared pool's uuid must not be all zero");
  return w;
}

/** Receives the pampd of a descriptor that left the index: free its storage. */
export type FreePampd = (lo: number, hi: number, meta: number, pool: number) => void;

/** Options of {@link TmemCore.newPool}. */
export interface NewPoolOptions {
  /** Persistent (frontswap) rather than ephemeral (cleancache). @defaultValue false */
  persistent?: boolean;
  /** A shared pool named by this uuid; omit for a private pool. */
  uuid?: UuidLike;
  /** LRU domain of the pool's ephemeral pages (from {@link TmemCore.newDomain}); 0 = none. @defaultValue 0 */
  domain?: number;
  /** The creating backend's tag; shared pools are named by (owner, uuid). @defaultValue 0 */
  owner?: number;
}

/** A pool's descriptor, read from shared memory (a snapshot). */
export interface PoolInfo {
  id: number;
  state: "free" | "alive" | "dying";
  persistent: boolean;
  shared: boolean;
  refcount: number;
  domain: number;
  uuid: [number, number, number, number];
  /** Pages in the pool now. */
  pages: number;
  /** Successful puts (cumulative). */
  puts: number;
  /** Pages removed by flushes, destroy and eviction. */
  flushes: number;
  /** Pages evicted (part of flushes). */
  evictions: number;
  owner: number;
}

/** The core's metadata accounting (a snapshot). */
export interface CoreStats {
  /** Whether the index has been set up (first pool). */
  ready: boolean;
  /** Bucket heads in the table. */
  buckets: number;
  /** Page descriptors in use: one per indexed page (the pools' pages summed). */
  descriptors: number;
  /** Bytes of descriptors in use (descriptors × 64). */
  descriptorBytes: number;
  /** Frames carved into descriptors (never returned to the frame allocator). */
  descriptorFrames: number;
  /** Frames of the bucket table and its directory. */
  tableFrames: number;
  /** Bytes of physical memory the core's metadata holds: (descriptor + table frames) × 4096. */
  metadataBytes: number;
  /** Pages on each LRU domain's list (index = domain). */
  lruPages: number[];
}

const OUT_OFF = SCRATCH_IO + PAGE_SIZE;
/** Offset of the pool table in ROOT_TMEM (assembly/tmem_layout.ts POOLS_OFF). */
const POOLS_OFF = G.TMEM_POOLS_OFF;
/** Out-area bytes (assembly/tmem_layout.ts OUT_BYTES): the scratch's last 1280 bytes are per-Worker pool counters and frontend words. */
const OUT_BYTES = G.TMEM_OUT_BYTES;
const OUT_RECORD_WORDS = G.TMEM_OUT_RECORD / 4;
/** u32 words of one out record: a pampd (lo, hi, meta) and its pin, as put, unpin and the flushes write it. */
const RecWord = { LO: 0, HI: 1, META: 2, PIN: 3 } as const;
/**
 * u32 words of tmem_pool_info's record: assembly/tmem_layout.ts PoolDesc, field by
 * field (PAGES, PUTS, FLUSHES and EVICTIONS are its info* words, summed over the Workers).
 */
const PoolWord = {
  STATE: 0, FLAGS: 1, REFCOUNT: 2, DOMAIN: 3, UUID: 4, PAGES: 8, PUTS: 9, FLUSHES: 12, EVICTIONS: 13, OWNER: 14,
  GENERATION: 15,
} as const;
/** u32 words per PoolDesc in the shared pool table (64 bytes). */
const POOL_DESC_WORDS = G.TMEM_POOL_DESC_SIZE / 4;
/** PoolDesc states (assembly/tmem_layout.ts POOL_ALIVE, POOL_DYING; 0 is free). */
const POOL_ALIVE = G.TMEM_POOL_ALIVE, POOL_DYING = G.TMEM_POOL_DYING;
/** u32 words of tmem_core_info's record (assembly/tmem.ts documents the order). */
const CoreWord = { STATE: 0, BUCKET_BITS: 1, DESCRIPTORS: 2, DESC_FRAMES: 3, TABLE_FRAMES: 4, DESC_SIZE: 5, LRU_PAGES: 8 } as const;
/** tmem_core_info's state once the index is set up. */
const CORE_READY = 2;
const SCAN_RECORD_WORDS = G.TMEM_SCAN_RECORD / 4;
/** u32 words of one scan record (assembly/tmem_layout.ts ScanRecord): pool, index, then the oid's six words. */
const ScanWord = { POOL: 0, INDEX: 1, OID: 2 } as const;
/** u32 words of an object id (192 bits). */
const OID_WORDS = 6;
/** The out area's last word: the records a batch call wrote (flushes, drains), or the next cursor (scan). */
const OUT_TAIL_WORD = OUT_BYTES / 4 - 1;
/** Records per batch call (flush object, drain, evict). */
const BATCH = 256;
/** Keys per scan call. */
const SCAN_BATCH = 256;

const cores = new WeakMap<PhysicalMemory, TmemCore>();

/**
 * Hand `n` OutRecords (copied out of the out area) to `free`. Every record
 * is handed over even if `free` throws for one (the index has already let
 * go of all of them: stopping would leak the rest); the first error is
 * rethrown afterwards.
 */
function freeEach(recs: Uint32Array, n: number, free: FreePampd): void {
  let failed = false, first: unknown;
  for (let i = 0; i < n; i++) {
    const b = i * OUT_RECORD_WORDS;
    try {
      free(recs[b + RecWord.LO]!, recs[b + RecWord.HI]!, recs[b + RecWord.META]!, recs[b + RecWord.PIN]!);
    } catch (e) {
      if (!failed) { failed = true; first = e; }
    }
  }
  if (failed) throw first;
}

/**
 * This thread's handle on the tmem core of one physical memory.
 */
export class TmemCore {
  /** The physical memory. */
  readonly pm: PhysicalMemory;
  /** The wasm exports (for backends on the hot path). */
  readonly core: CoreExports;
  /** Address of this Worker's page slot in its scratch (4 KiB, host I/O). */
  readonly ioAddr: number;
  /** A view of the I/O page slot (made once). */
  readonly ioPage: Uint8Array;
  /** This Worker's out area as u32 words. */
  readonly out: Uint32Array;
  /** Address of this Worker's call record (scratch + CALL_RECORD): where {@link oidArg} puts an object id. */
  readonly callAddr: number;
  /** The call record's object-id words. */
  private readonly call: Uint32Array;
  /** The pool table (PoolDesc[64], 16 words each) in shared memory, read-only here. */
  private readonly poolTable: Uint32Array;
  /** Result of the last get/unpin: pampd low word. */
  lo = 0;
  /** Result of the last get/unpin: pampd high word. */
  hi = 0;
  /** Result of the last get/unpin: backend meta word. */
  meta = 0;
  /** Result of the last get: the pin to release with {@link unpin}, 0 when the page was removed. */
  pin = 0;

  private constructor(pm: PhysicalMemory) {
    this.pm = pm;
    this.core = pm.core;
    this.ioAddr = pm.scratch + SCRATCH_IO;
    this.ioPage = new Uint8Array(pm.memory.buffer, this.ioAddr, PAGE_SIZE);
    this.out = new Uint32Array(pm.memory.buffer, pm.scratch + OUT_OFF, OUT_BYTES / 4);
    this.callAddr = pm.scratch + CALL_RECORD;
    this.call = new Uint32Array(pm.memory.buffer, this.callAddr, OID_BYTES / 4);
    const root = pm.core.tmem_frontend_area() - TMEM_FRONTEND_OFF;
    this.poolTable = new Uint32Array(pm.memory.buffer, root + POOLS_OFF, TMEM_MAX_POOLS * POOL_DESC_WORDS);
    const st = this.core.tmem_init();
    if (st < 0) throw statusError(st, "tmem_init: cannot allocate the index");
  }

  /**
   * The core of `pm` for this thread (made on first use: sets up the shared
   * index if no Worker has).
   * @throws TmemError ENOMEM when the index's frames cannot be allocated;
   *   EINVAL when `pm` is detached.
   */
  static for(pm: PhysicalMemory): TmemCore {
    let c = cores.get(pm);
    if (c === undefined) {
      argCheck(pm.isAttached, "this PhysicalMemory was detached");
      c = new TmemCore(pm);
      cores.set(pm, c);
    }
    return c;
  }

  /**
   * Create a pool (the kernel's tmem_new_pool). A shared pool whose (owner,
   * uuid) exists is the same pool: its id is returned and a reference taken,
   * to be dropped by {@link destroyPool}.
   * @returns the pool id: a handle (64..65535) that names this pool only (see {@link TMEM_POOL_GEN_SHIFT}).
   * @throws TmemError ENOSPC when 64 pools exist; EINVAL for a bad domain, or a
   *   uuid this owner already uses with other flags.
   * Thread safety: any Worker, concurrently.
   */
  newPool(options: NewPoolOptions = {}): number {
    const persistent = options.persistent ?? false;
    const domain = options.domain ?? 0;
    const owner = options.owner ?? 0;
    argCheck(Number.isInteger(domain) && domain >= 0 && domain < TMEM_MAX_DOMAINS, `domain must be 0..${TMEM_MAX_DOMAINS - 1}`);
    argCheck(Number.isInteger(owner) && owner >= 0 && owner <= 0xffff_ffff, "owner must be a u32");
    let flags = persistent ? TMEM_POOL_PERSIST : 0;
    let u: [number, number, number, number] = [0, 0, 0, 0];
    if (options.uuid !== undefined) {
      u = uuidWords(options.uuid);
      flags |= TMEM_POOL_SHARED;
    }
    const r = this.core.tmem_new_pool(flags, u[0], u[1], u[2], u[3], domain, owner);
    if (r === Status.ENOSPC) throw new TmemError(ErrorCode.ENOSPC, `tmem_new_pool: all ${TMEM_MAX_POOLS} pools are in use`);
    if (r === Status.EINVAL && options.uuid !== undefined) {
      throw new TmemError(ErrorCode.EINVAL, "tmem_new_pool: this owner has a shared pool with this uuid and other flags");
    }
    if (r < 0) throw statusError(r, "tmem_new_pool");
    return r;
  }

  /**
   * Drop a reference to `pool` (the kernel's tmem_destroy_pool). On the last
   * one every page is flushed (each pampd to `free`) and the id is released.
   * @returns true when the pool was destroyed, false when references remain.
   * @throws TmemError EINVAL for a pool that is not alive.
   * Thread safety: any Worker; other Workers' puts to a dying pool fail (EINVAL).
   */
  destroyPool(pool: number, free: FreePampd): boolean {
    this.checkPool(pool);
    const r = this.core.tmem_destroy_pool(pool);
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_destroy_pool: pool ${pool} is not alive`);
    if (r === 0) return false;
    for (;;) {
      this.drainPool(pool, free);
      const st = this.core.tmem_pool_release(pool);
      if (st === 0) return true;
      if (st !== Status.EBUSY) throw statusError(st, "tmem_pool_release");
    }
  }

  /**
   * Give LRU domain `d` back.
   * @throws TmemError EBUSY while pages are on its list; EINVAL if it is not allocated.
   */
  freeDomain(d: number): void {
    const r = this.core.tmem_free_domain(d);
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `tmem_free_domain: domain ${d} still has pages`);
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_free_domain: domain ${d} is not allocated`);
  }

  /** Allocate an LRU domain (1..15) for a backend that evicts. @throws TmemError ENOSPC when all are taken. */
  newDomain(): number {
    const r = this.core.tmem_new_domain();
    if (r < 0) throw new TmemError(ErrorCode.ENOSPC, "tmem_new_domain: all LRU domains are taken");
    return r;
  }

  /**
   * Write `oid` into this Worker's call record and return the record's
   * address: the one argument by which a wasm export takes an object id
   * (tmem_put, tmem_get, tmem_flush_page, tmem_flush_object,
   * tmem_zcache_store, tmem_zcache_load). Valid until this thread's next call
   * of oidArg.
   * Thread safety: the record is this Worker's own.
   */
  oidArg(oid: Oid): number {
    checkOid(oid);
    // Read all six words before writing any: an id may alias the record itself.
    const w0 = oid[0]!, w1 = oid[1]!, w2 = oid[2]!, w3 = oid[3]!, w4 = oid[4]!, w5 = oid[5]!;
    const c = this.call;
    c[0] = w0; c[1] = w1; c[2] = w2; c[3] = w3; c[4] = w4; c[5] = w5;
    return this.callAddr;
  }

  /**
   * `oid` itself, or a private copy of it when it is a view into the
   * physical memory (the out area, the I/O slot, ...), which the operation
   * about to run may overwrite before it reads the id again: sequences that
   * read an id more than once (a batch flush, a put that flushes, reclaims
   * and retries) take the id through here once, on entry.
   * @throws TmemError EINVAL when `oid` is not a six-word Uint32Array.
   * Thread safety: pure.
   */
  ownOid(oid: Oid): Oid {
    return checkOid(oid) === this.pm.memory.buffer ? Uint32Array.from(oid) : oid;
  }

  /**
   * Index (pool, oid, index) → (lo, hi, meta) (the kernel's tmem_put). A
   * duplicate replaces: the old pampd goes to `free` before this returns.
   * @param noReplace - if the key exists keep it and return "exists" (nothing changes).
   * @returns "new", "replaced", "exists" (noReplace only), or "nomem" (no
   *   descriptor memory; nothing changed), or "dead" (pool not alive).
   * Thread safety: any Worker, concurrently; concurrent puts of one key leave one of them.
   */
  put(pool: number, oid: Oid, index: number, lo: number, hi: number, meta: number, free: FreePampd,
      noReplace = false): "new" | "replaced" | "exists" | "nomem" | "dead" {
    const r = this.core.tmem_put(pool, this.oidArg(oid), index, lo, hi, meta, noReplace ? 1 : 0);
    if (r === TMEM_PUT_NEW) return "new";
    if (r === TMEM_PUT_REPLACED) { this.freeOut(free); return "replaced"; }
    // Replaced while another reader pinned the old copy: its last unpin hands it to its backend.
    if (r === TMEM_PUT_REPLACED_PINNED) return "replaced";
    if (r === Status.EEXIST) return "exists";
    if (r === Status.ENOMEM) return "nomem";
    return "dead";
  }

  /**
   * Look up (pool, oid, index) (the kernel's tmem_get). On a hit the pampd is
   * in `lo`, `hi`, `meta`; with `pin` ≠ 0 the page stayed (release it with
   * {@link unpin} after reading the storage), with `pin` = 0 it was removed
   * and the caller owns the storage.
   * @returns true on a hit.
   * @throws TmemError EINVAL for a pool that is not alive; ENOSPC when the
   *   page would stay pinned and this thread already holds `PIN_SLOTS` (8)
   *   pins (nothing changed: unpin one first).
   * Thread safety: any Worker, concurrently.
   */
  get(pool: number, oid: Oid, index: number, mode: GetMode): boolean {
    const r = this.core.tmem_get(pool, this.oidArg(oid), index, mode);
    if (r !== 1) {
      if (r === Status.ENOSPC) throw pinsFull();
      if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_get: pool ${pool} is not alive`);
      return false;
    }
    const o = this.out;
    this.lo = o[RecWord.LO]!; this.hi = o[RecWord.HI]!; this.meta = o[RecWord.META]!; this.pin = o[RecWord.PIN]!;
    return true;
  }

  /**
   * Release a pin from {@link get}. If the page was flushed meanwhile and
   * this was its last pin, its pampd goes to `free`.
   * @throws TmemError EINVAL for a pin this thread does not hold (unpinned
   *   already, stale, or another Worker's: each Worker releases its own).
   */
  unpin(pin: number, free: FreePampd): void {
    const r = this.core.tmem_unpin(pin);
    if (r === 1) this.freeOut(free);
    else if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_unpin: ${pin} is not a pinned descriptor`);
  }

  /**
   * Remove (pool, oid, index) (the kernel's tmem_flush_page); its pampd goes
   * to `free` (or, if another Worker has it pinned, to that Worker's unpin).
   * @returns true if the page was there.
   */
  flushPage(pool: number, oid: Oid, index: number, free: FreePampd): boolean {
    const r = this.core.tmem_flush_page(pool, this.oidArg(oid), index);
    if (r === TMEM_FLUSH_FREED) { this.freeOut(free); return true; }
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_flush_page: pool ${pool} is not alive`);
    return r === TMEM_FLUSH_PINNED;
  }

  /**
   * Remove every page of object (pool, oid) (the kernel's tmem_flush_object).
   * @returns pages removed.
   */
  flushObject(pool: number, oid: Oid, free: FreePampd): number {
    oid = this.ownOid(oid); // every batch writes the out area, and `free` may run other calls
    let total = 0;
    for (;;) {
      const r = this.core.tmem_flush_object(pool, this.oidArg(oid), BATCH);
      if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_flush_object: pool ${pool} is not alive`);
      this.freeRecords(free);
      total += r;
      if (r < BATCH) return total;
    }
  }

  /**
   * Remove every page of `pool` (alive or dying), handing each pampd to `free`.
   * @returns pages removed.
   */
  drainPool(pool: number, free: FreePampd): number {
    let total = 0;
    for (;;) {
      const r = this.core.tmem_pool_drain(pool, BATCH);
      if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_pool_drain: pool ${pool} does not exist`);
      this.freeRecords(free);
      total += r;
      if (r === 0) {
        // Descriptor frames whose descriptors are all free go back to the memory.
        if (total > 0) this.core.tmem_slab_reap();
        return total;
      }
    }
  }

  /**
   * Evict up to `max` least recently used ephemeral pages of LRU `domain`,
   * handing each pampd (and its pool) to `free`.
   * @returns pages evicted (fewer when the LRU is short or its pages are busy).
   */
  evict(domain: number, max: number, free: FreePampd): number {
    const n = Math.min(max, BATCH);
    const r = this.core.tmem_evict(domain, n);
    if (r < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_evict: bad LRU domain ${domain}`);
    if (r === 0) return 0;
    // Copy first: `free` may call into the core and reuse the out area.
    freeEach(this.out.slice(0, r * OUT_RECORD_WORDS), r, free);
    return r;
  }

  /**
   * Visit the keys of `pool`'s pages (a snapshot per batch; pages put or
   * flushed meanwhile may or may not be seen). `visit` gets a reused Oid: copy
   * it to keep it. Return false from `visit` to stop.
   * @returns keys visited.
   */
  scan(pool: number, visit: (oid: Oid, index: number) => boolean | void): number {
    const oid = newOid();
    const keys: number[] = [];
    let cursor = 0;
    let seen = 0;
    for (;;) {
      const n = this.core.tmem_pool_scan(pool, cursor, SCAN_BATCH);
      if (n < 0) throw new TmemError(ErrorCode.EINVAL, `tmem_pool_scan: bad pool ${pool}`);
      const o = this.out;
      keys.length = 0;
      for (let i = 0; i < n * SCAN_RECORD_WORDS; i++) keys.push(o[i]!);
      cursor = o[OUT_TAIL_WORD]!;
      // visit may call into the core (which reuses the out area): work from the copy.
      for (let i = 0; i < n; i++) {
        const b = i * SCAN_RECORD_WORDS;
        for (let w = 0; w < OID_WORDS; w++) oid[w] = keys[b + ScanWord.OID + w]!;
        seen++;
        if (visit(oid, keys[b + ScanWord.INDEX]!) === false) return seen;
      }
      if (cursor >= this.buckets()) return seen;
    }
  }

  /**
   * A snapshot of a pool's descriptor, by slot (0..63, to enumerate the
   * table) or by pool id; the id of a destroyed pool reads as state "free".
   * @throws TmemError EINVAL for anything else.
   */
  poolInfo(pool: number): PoolInfo {
    argCheck(Number.isInteger(pool) && pool >= 0 && pool <= 0xffff, `pool must be a slot 0..${TMEM_MAX_POOLS - 1} or a pool id, not ${String(pool)}`);
    this.core.tmem_pool_info(pool);
    const o = this.out;
    const state = o[PoolWord.STATE] === POOL_ALIVE ? "alive" : o[PoolWord.STATE] === POOL_DYING ? "dying" : "free";
    const slot = pool % TMEM_MAX_POOLS;
    const flags = o[PoolWord.FLAGS]!, u = PoolWord.UUID;
    return {
      id: state === "free" ? pool : slot | ((o[PoolWord.GENERATION]! & 0x3ff) << TMEM_POOL_GEN_SHIFT), state,
      persistent: (flags & TMEM_POOL_PERSIST) !== 0, shared: (flags & TMEM_POOL_SHARED) !== 0,
      refcount: o[PoolWord.REFCOUNT]!, domain: o[PoolWord.DOMAIN]!, uuid: [o[u]!, o[u + 1]!, o[u + 2]!, o[u + 3]!],
      pages: o[PoolWord.PAGES]!, puts: o[PoolWord.PUTS]!, flushes: o[PoolWord.FLUSHES]!, evictions: o[PoolWord.EVICTIONS]!,
      owner: o[PoolWord.OWNER]!,
    };
  }

  /**
   * Pool flags now ({@link TMEM_POOL_PERSIST} | {@link TMEM_POOL_SHARED}).
   * One read of the pool table in shared memory (hot path: every put).
   */
  poolFlags(pool: number): number {
    return this.poolTable[(pool & (TMEM_MAX_POOLS - 1)) * POOL_DESC_WORDS + PoolWord.FLAGS]!;
  }

  /** Pages in pool `pool` now (0 for a destroyed pool). */
  poolPages(pool: number): number {
    this.core.tmem_pool_info(pool);
    return this.out[PoolWord.PAGES]!;
  }

  /** The core's metadata accounting. */
  stats(): CoreStats {
    this.core.tmem_core_info();
    const o = this.out;
    const lruPages: number[] = [];
    for (let d = 0; d < TMEM_MAX_DOMAINS; d++) lruPages.push(o[CoreWord.LRU_PAGES + d]!);
    const descFrames = o[CoreWord.DESC_FRAMES]!, tableFrames = o[CoreWord.TABLE_FRAMES]!, descriptors = o[CoreWord.DESCRIPTORS]!;
    return {
      ready: o[CoreWord.STATE] === CORE_READY, buckets: 2 ** o[CoreWord.BUCKET_BITS]!, descriptors,
      descriptorBytes: descriptors * o[CoreWord.DESC_SIZE]!,
      descriptorFrames: descFrames, tableFrames, metadataBytes: (descFrames + tableFrames) * PAGE_SIZE, lruPages,
    };
  }

  private buckets(): number {
    this.core.tmem_core_info();
    return 2 ** this.out[CoreWord.BUCKET_BITS]!;
  }

  /** Hand the one out record (put's replaced pampd, unpin's or flushPage's freed one) to `free`. */
  private freeOut(free: FreePampd): void {
    const o = this.out;
    free(o[RecWord.LO]!, o[RecWord.HI]!, o[RecWord.META]!, o[RecWord.PIN]!);
  }

  private freeRecords(free: FreePampd): void {
    const o = this.out;
    const written = o[OUT_TAIL_WORD]!;
    // Copy first: `free` may call into the core and reuse the out area.
    if (written === 0) return;
    freeEach(o.slice(0, written * OUT_RECORD_WORDS), written, free);
  }

  private checkPool(pool: number): void {
    argCheck(Number.isInteger(pool) && pool >= TMEM_MAX_POOLS && pool <= 0xffff, `a pool id is what newPool returned (64..65535), not ${String(pool)}`);
  }
}

/** The error of a get(KEEP) by a thread whose pin table (assembly/robust.ts R_PINS) is full. */
export function pinsFull(): TmemError {
  return new TmemError(ErrorCode.ENOSPC,
    `tmem_get: this thread already holds ${PIN_SLOTS} pinned pages (the per-Worker pin table's size): unpin one first (nothing changed)`);
}
