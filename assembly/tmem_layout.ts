// SPDX-License-Identifier: MIT
//
// tmem_layout.ts: the tmem core's shared-memory layout: its constants and
// result codes, the structures at ROOT_TMEM (TmemRoot, LruDomain, PoolDesc),
// the page descriptor (PageDesc), the per-Worker pool counters, the out area,
// the object id and the call record it crosses the wasm boundary in, and the
// @inline accessors through which every other tmem_*.ts file reaches them.
//
// It is not where operations live: nothing here takes a lock or allocates.
// The only stores are countAdd (this Worker's own counters) and
// dset/dset16, the logged stores of descriptor fields that the locked code
// in tmem.ts, tmem_lru.ts and tmem_take.ts makes.
//
// Key idea: there is one declaration for every offset, bound and flag, and
// its limits are checked at compile time (the ERROR lines): the pool table,
// the LRU domains and the stripe locks cannot grow into the frontends' area
// of ROOT_TMEM (src/tmem/shared.ts), and the out area cannot grow into the
// pool counters. Every sibling file imports from here, and this file
// imports none of them.
//
// Guarantees: a pool handle carries its slot's generation, so poolSlot turns
// a stale handle into MAX_POOLS (invalid). A descriptor's pin carries its
// incarnation (DESC_INC_*). The summed counters are exact: every Worker
// writes only its own.
//
// Layout: the box diagrams below (TmemRoot at ROOT_TMEM, PageDesc,
// PoolCounters, the out area's records, ObjectId).
//
// Concurrency: the accessors are plain or atomic loads and are safe from any
// Worker. countAdd needs no atomics because only its Worker writes the word;
// inside a critical section the store is logged (robust.ts). countSum reads
// every slot's counters and is exact when the pool is quiescent.
//
// See also: tmem.ts (the design essay), tmem_desc.ts, tmem_lru.ts,
// src/tmem/core.ts (mirrors POOLS_OFF, OUT_BYTES, PoolDesc's words),
// src/tmem/shared.ts (FRONTEND_OFF and the scratch's last 256 bytes).

import {
  ROOT_TMEM, ROOT_TMEM_SIZE, PAGE_SIZE, SCRATCH_IO, scratchBase, pfnToAddress,
  CTRL_BASE, CTRL_MAX_WORKERS_OFF, slotScratch,
} from "./common";
import { ustore32, ustore16 } from "./robust";


// ══ Constants ══

/** Pool flag: persistent (frontswap); pages never evicted, gets not exclusive. Xen ABI bit. */
// @ts-ignore: decorator
@inline export const TMEM_POOL_PERSIST: u32 = 1;
/** Pool flag: shared by uuid; gets not exclusive. Xen ABI bit. */
// @ts-ignore: decorator
@inline export const TMEM_POOL_SHARED: u32 = 2;

/** Most pools at once (all clients). The kernel's zcache: 16 clients × 16 pools. */
// @ts-ignore: decorator
@inline export const MAX_POOLS: u32 = 64;
/** LRU domains (one per backend instance that evicts). Domain 0 means "no LRU". */
// @ts-ignore: decorator
@inline export const MAX_DOMAINS: u32 = 16;
/**
 * log2 of the lock stripes. 256 stripes = the kernel's 256 buckets per pool
 * (TMEM_HASH_BUCKET_BITS 8), here shared by all pools. More stripes cut lock
 * contention; fewer make each object's chain set (scanned by flush_object)
 * wider: chains per stripe = nbuckets / NSTRIPES.
 */
// @ts-ignore: decorator
@inline export const STRIPE_BITS: u32 = 8;
// @ts-ignore: decorator
@inline export const NSTRIPES: u32 = 1 << STRIPE_BITS;
// @ts-ignore: decorator
@inline export const STRIPE_MASK: u32 = NSTRIPES - 1;
/** Bucket heads per table frame (u32 each). */
// @ts-ignore: decorator
@inline export const BUCKETS_PER_FRAME_SHIFT: u32 = 10;
if ((<u32>1 << BUCKETS_PER_FRAME_SHIFT) * 4 != PAGE_SIZE) ERROR("a table frame holds PAGE_SIZE / 4 bucket heads");
/**
 * Bucket count bounds. nbuckets = nextPow2(4 × nrFrames) within these: at
 * 2-3 stored pages per frame (LZ4 on anon pages, plus same-filled pages that
 * take no frame) chains stay under one entry on average, so a lookup costs
 * about two cache misses (bucket head, descriptor); 16 bytes per frame, 0.4%
 * of memory. The upper bound keeps the directory to one frame (1024 table
 * frames); beyond 256K frames chains grow past one.
 */
// @ts-ignore: decorator
@inline export const MIN_BUCKET_BITS: u32 = 12;
// @ts-ignore: decorator
@inline export const MAX_BUCKET_BITS: u32 = 20;
if (MIN_BUCKET_BITS < STRIPE_BITS + 4) ERROR("each stripe needs at least 16 chains");
if (((<u32>1 << MAX_BUCKET_BITS) >> BUCKETS_PER_FRAME_SHIFT) * 4 > PAGE_SIZE) ERROR("the directory must fit one frame");

/** Core state in TmemRoot.state. */
// @ts-ignore: decorator
@inline export const STATE_UNINIT: u32 = 0;
// @ts-ignore: decorator
@inline export const STATE_INITIALIZING: u32 = 1;
// @ts-ignore: decorator
@inline export const STATE_READY: u32 = 2;

/** PoolDesc.state values. */
// @ts-ignore: decorator
@inline export const POOL_FREE: u32 = 0;
// @ts-ignore: decorator
@inline export const POOL_ALIVE: u32 = 1;
// @ts-ignore: decorator
@inline export const POOL_DYING: u32 = 2;

/** tmem_get modes (the kernel's get_and_free argument). */
// @ts-ignore: decorator
@inline export const GET_POLICY: u32 = 0; // remove iff the pool is private and ephemeral
// @ts-ignore: decorator
@inline export const GET_AND_FREE: u32 = 1; // always remove
// @ts-ignore: decorator
@inline export const GET_KEEP: u32 = 2; // never remove (pins the descriptor)

/**
 * tmem_put's results (an error is a negative E_* instead). Explicit codes,
 * not a record that means something by being all zero: the one that needs
 * freeing is written only with TMEM_PUT_REPLACED.
 */
// @ts-ignore: decorator
@inline export const TMEM_PUT_NEW: i32 = 0; // the key was new
// @ts-ignore: decorator
@inline export const TMEM_PUT_REPLACED: i32 = 1; // an older copy left; its OutRecord is written: the caller frees it
// @ts-ignore: decorator
@inline export const TMEM_PUT_REPLACED_PINNED: i32 = 2; // an older copy left while pinned: no record, its last unpin frees it
/** tmem_flush_page's results (an error is a negative E_* instead). */
// @ts-ignore: decorator
@inline export const TMEM_FLUSH_ABSENT: i32 = 0; // no such page
// @ts-ignore: decorator
@inline export const TMEM_FLUSH_FREED: i32 = 1; // removed; its OutRecord is written: the caller frees it
// @ts-ignore: decorator
@inline export const TMEM_FLUSH_PINNED: i32 = 2; // removed while pinned: no record, its last unpin frees it

// ══ Structures ══

// ╒══════════ TmemRoot (at ROOT_TMEM, 16 KiB) ═════════════════════════════╕
// │ 0 state │ 4 poolLock │ 8 bucketBits │ 12 dirPfn │ 16 slabHead: i64    │
// │ 24 reapLock │ 28 descFrames │ 32 tableFrames │ 36 domainMap           │
// │ 40 initLock │ 44..63 reserved                                         │
// │ 64   domains: LruDomain[16]        (16 B each)                       │
// │ 512  pools:   PoolDesc[64]         (64 B each)                       │
// │ 4608 stripes: 256 × 16 B           (one mutex per stripe, 4 per line) │
// │ 8704 .. 12287   frontends' instance openers and pool maps (shared.ts)│
// │ 12288 .. 16383  frontend area (src/tmem/shared.ts lays it out)       │
// ╘═════════════════════════════════════════════════════════════════════╛

@unmanaged export class TmemRoot {
  /** STATE_UNINIT → STATE_INITIALIZING → STATE_READY (tmem_init). */
  state: u32;
  /** Pool-table lock: new/destroy pool. Lock order level 2. */
  poolLock: i32;
  /** log2 of the bucket count. */
  bucketBits: u32;
  /** Frame holding the pfns of the bucket-table frames. */
  dirPfn: u32;
  /** Free descriptor stack: tag << 32 | address of the top free PageDesc (0 = empty). */
  slabHead: i64;
  /** Serialises tmem_slab_reap (try-locked: a reap already running makes another a no-op). */
  reapLock: i32;
  /** Frames carved into PageDescs (never returned). */
  descFrames: u32;
  /** Frames of the bucket table, directory included. */
  tableFrames: u32;
  /** Bitmap of LRU domains in use (bit d = domain d; bit 0 is never handed out). */
  domainMap: u32;
  /** Serialises tmem_init. */
  initLock: i32;
}

// @ts-ignore: decorator
@inline export const DOMAINS_OFF: usize = 64;
// @ts-ignore: decorator
@inline export const POOLS_OFF: usize = 512;
// @ts-ignore: decorator
@inline export const STRIPES_OFF: usize = 4608;
/**
 * Bytes between two stripe locks: 16, so a 64-byte cache line holds 4 locks
 * and two Workers on random stripes write the same line 1 time in 64, not 1
 * in 16 (a lock word is written twice per operation).
 */
// @ts-ignore: decorator
@inline export const STRIPE_STRIDE: usize = 16;
/** Start of the frontend area (cleancache/frontswap/backends), mirrored in src/tmem/shared.ts. */
// @ts-ignore: decorator
@inline export const FRONTEND_OFF: usize = 12288;

/** One LRU list of ephemeral page descriptors (a backend's eviction order). */
@unmanaged export class LruDomain {
  /** Mutex; lock order level 4 (after stripes). */
  lock: i32;
  /** Most recently used descriptor (0 = empty). */
  head: u32;
  /** Least recently used descriptor: evicted first. */
  tail: u32;
  /** Descriptors on the list. */
  count: u32;
}

/** One tmem pool. */
@unmanaged export class PoolDesc {
  /** POOL_FREE, POOL_ALIVE or POOL_DYING (destroy in progress: puts refused). */
  state: u32;
  /** TMEM_POOL_PERSIST | TMEM_POOL_SHARED. */
  flags: u32;
  /** Clients holding the pool (shared pools: one per tmem_new_pool with its uuid). */
  refcount: u32;
  /** LRU domain of its ephemeral pages, 0 = none. */
  domain: u32;
  /** 128-bit uuid of a shared pool, 0 for a private one. */
  uuid0: u32;
  uuid1: u32;
  uuid2: u32;
  uuid3: u32;
  /**
   * The next six words are not kept here: tmem_pool_info fills them in from
   * the per-Worker counters (pages, puts, -, -, flushes, evictions).
   */
  infoPages: u32;
  infoPuts: u32;
  reserved40: u32;
  reserved44: u32;
  infoFlushes: u32;
  infoEvictions: u32;
  /** Caller's tag (the backend instance that made it). */
  owner: u32;
  /** Bumped on every create; its low bits are the generation in the pool's handle (poolSlot checks it). */
  generation: u32;
}
if (offsetof<PoolDesc>() != 64) ERROR("PoolDesc must be 64 bytes");
if (POOLS_OFF + <usize>MAX_POOLS * 64 > STRIPES_OFF) ERROR("pool table overflows");
if (DOMAINS_OFF + <usize>MAX_DOMAINS * offsetof<LruDomain>() > POOLS_OFF) ERROR("LRU domains overflow");
if (STRIPES_OFF + <usize>NSTRIPES * STRIPE_STRIDE > 8704) ERROR("stripe locks overflow into the frontends' maps (src/tmem/shared.ts)");
if (FRONTEND_OFF >= ROOT_TMEM_SIZE) ERROR("no room for the frontend area");
if (offsetof<TmemRoot>() > DOMAINS_OFF) ERROR("TmemRoot overflows");

// ╒══════════ PageDesc (64 bytes, from the descriptor slab) ═════════════╕
// │ 0 next │ 4 pool │ 8 index │ 12 meta │ 16 oid: u32[6]                │
// │ 40 pampdLo │ 44 pampdHi │ 48 lruPrev │ 52 lruNext │ 56 bucket       │
// │ 60 refs: u16 │ 62 flags: u16                                        │
// ╘═════════════════════════════════════════════════════════════════════╛

@unmanaged export class PageDesc {
  /** Next descriptor in the bucket chain (free: next on the slab stack). */
  next: u32;
  /** Pool handle (slot | generation << POOL_GEN_SHIFT): a pinned page of a destroyed pool still names it. */
  pool: u32;
  /** Page index inside the object. */
  index: u32;
  /** Backend's word (e.g. compressed length, flags, client). */
  meta: u32;
  /** Object id, 6 × u32, least significant first. */
  oid0: u32;
  oid1: u32;
  oid2: u32;
  oid3: u32;
  oid4: u32;
  oid5: u32;
  /** Backend's page descriptor, low word (e.g. zpool handle). */
  pampdLo: u32;
  /** Backend's page descriptor, high word. */
  pampdHi: u32;
  /** LRU neighbour towards the head (more recent), 0 at the head. */
  lruPrev: u32;
  /** LRU neighbour towards the tail (older), 0 at the tail. */
  lruNext: u32;
  /** Bucket index this descriptor hangs on (its stripe = bucket & STRIPE_MASK). */
  bucket: u32;
  /** Readers holding the descriptor pinned (GET_KEEP). */
  refs: u16;
  /** DESC_* flags. */
  flags: u16;
}
if (offsetof<PageDesc>() != 64) ERROR("PageDesc must be 64 bytes");
// @ts-ignore: decorator
@inline export const DESC_SIZE: u32 = 64;
// @ts-ignore: decorator
@inline export const DESCS_PER_FRAME: u32 = PAGE_SIZE / DESC_SIZE;
/** Removed from the index while pinned: the last unpin frees it. */
// @ts-ignore: decorator
@inline export const DESC_DEAD: u16 = 1;
/** On its domain's LRU list. */
// @ts-ignore: decorator
@inline export const DESC_ON_LRU: u16 = 2;
/**
 * Bits 8..13 of flags: the descriptor's incarnation (1..63), bumped by every
 * put that takes it from the slab. A pin is the descriptor's address | its
 * incarnation (addresses are 64-byte aligned), so tmem_unpin refuses a stale
 * pin whose descriptor was freed and reused since (until 63 reuses later).
 */
// @ts-ignore: decorator
@inline export const DESC_INC_SHIFT: u16 = 8;
// @ts-ignore: decorator
@inline export const DESC_INC_MASK: u16 = 63;

// ══ Per-Worker pool counters ══
//
// A pool's page count changes on every put and removal, from every Worker
// using the pool. One shared word would bounce between cores on every store;
// instead each Worker counts its own puts and removals in its scratch area
// (PoolCounters[64], 1 KiB before the frontends' 256 bytes at its end) and a
// reader sums every slot's counts. Sums are exact: a page put by Worker A and
// flushed by Worker B is +1 in A and -1 in B. The counts of a Worker that
// detached stay in its slot (nothing clears scratch), and a new pool's counts
// are zeroed in every slot when it is created (under the pool-table lock).
//
// ╒══════ PoolCounters (16 bytes per pool, per Worker) ═══════╕
// │ pages: i32 │ puts: i32 │ flushes: i32 │ evictions: i32     │
// ╘═══════════════════════════════════════════════════════════╛

/** Offset of this Worker's PoolCounters[MAX_POOLS] from its scratch base. */
// @ts-ignore: decorator
@inline export const COUNTERS_OFF: usize = 65536 - 256 - 1024;
// @ts-ignore: decorator
@inline export const C_PAGES: usize = 0;
// @ts-ignore: decorator
@inline export const C_PUTS: usize = 4;
// @ts-ignore: decorator
@inline export const C_FLUSHES: usize = 8;
// @ts-ignore: decorator
@inline export const C_EVICTIONS: usize = 12;
if (COUNTERS_OFF + <usize>MAX_POOLS * 16 > 65536 - 256) ERROR("pool counters overlap the frontends' words");

/** Add `delta` to this Worker's counter `field` of `pool`. */
// @ts-ignore: decorator
@inline export function countAdd(pool: u32, field: usize, delta: i32): void {
  // Only this Worker writes its counters, so load + store is exact; inside a
  // critical section the store is logged (a rollback restores the count).
  const a = scratchBase + COUNTERS_OFF + (<usize>pool << 4) + field;
  ustore32(a, <u32>(atomic.load<i32>(a) + delta));
}

/** Store `v` in field `off` of descriptor `a`, undoably (robust.ts). */
// @ts-ignore: decorator
@inline export function dset(a: u32, off: usize, v: u32): void {
  ustore32(<usize>a + off, v);
}
/** Store `v` in u16 field `off` of descriptor `a`, undoably. */
// @ts-ignore: decorator
@inline export function dset16(a: u32, off: usize, v: u16): void {
  ustore16(<usize>a + off, v);
}
// @ts-ignore: decorator
@inline export const D_NEXT: usize = offsetof<PageDesc>("next");
// @ts-ignore: decorator
@inline export const D_LRU_PREV: usize = offsetof<PageDesc>("lruPrev");
// @ts-ignore: decorator
@inline export const D_LRU_NEXT: usize = offsetof<PageDesc>("lruNext");
// @ts-ignore: decorator
@inline export const D_REFS: usize = offsetof<PageDesc>("refs");
// @ts-ignore: decorator
@inline export const D_FLAGS: usize = offsetof<PageDesc>("flags");
// @ts-ignore: decorator
@inline export const L_HEAD: usize = offsetof<LruDomain>("head");
// @ts-ignore: decorator
@inline export const L_TAIL: usize = offsetof<LruDomain>("tail");
// @ts-ignore: decorator
@inline export const L_COUNT: usize = offsetof<LruDomain>("count");

/** Counter `field` of `pool` summed over every Worker slot. */
export function countSum(pool: u32, field: usize): i32 {
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  let sum: i32 = 0;
  for (let s: u32 = 0; s < n; s++) sum += atomic.load<i32>(slotScratch(s) + COUNTERS_OFF + (<usize>pool << 4) + field);
  return sum;
}

/** Zero every slot's counters of `pool` (a new pool; the caller holds the pool-table lock). */
export function countZero(pool: u32): void {
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  for (let s: u32 = 0; s < n; s++) {
    const a = slotScratch(s) + COUNTERS_OFF + (<usize>pool << 4);
    atomic.store<i32>(a + C_PAGES, 0);
    atomic.store<i32>(a + C_PUTS, 0);
    atomic.store<i32>(a + C_FLUSHES, 0);
    atomic.store<i32>(a + C_EVICTIONS, 0);
  }
}

// ══ Out area (this Worker's scratch) ══
//
// OutRecord (16 B): pampdLo, pampdHi, meta, pool-or-pin.
//   Single ops write one at OUT; batch ops write `count` of them.
// ScanRecord (32 B): pool, index, oid[6].

/**
 * Bytes of the out area: SCRATCH_IO after the 4 KiB page slot, less the last
 * 1280 bytes of the scratch area: this Worker's pool counters (1 KiB, above)
 * and the frontends' per-Worker words (256 bytes, src/tmem/shared.ts). Batch
 * results keep their count in the last word of the out area.
 */
// @ts-ignore: decorator
@inline export const OUT_BYTES: u32 = 32768 - PAGE_SIZE - 256 - 1024;
if (SCRATCH_IO + PAGE_SIZE + OUT_BYTES != COUNTERS_OFF) ERROR("the out area ends where the pool counters start");
// @ts-ignore: decorator
@inline export const OUT_RECORD: u32 = 16;
// @ts-ignore: decorator
@inline export const SCAN_RECORD: u32 = 32;
// @ts-ignore: decorator
@inline export function outBase(): usize {
  return scratchBase + SCRATCH_IO + PAGE_SIZE;
}

// ══ Object ids and the call record (this Worker's scratch) ══
//
// An object id crosses the wasm boundary as ONE address, that of its six
// words (an ObjectId), never as six parameters: the host writes the words
// into this Worker's call record and passes the record's address
// (src/tmem/core.ts TmemCore.oidArg); a wasm caller passes any ObjectId it
// holds. Every export that takes one (tmem_put, tmem_get, tmem_flush_page,
// tmem_flush_object, tmem_zcache_store, tmem_zcache_load) reads the six
// words once, on entry, before it writes anything.
//
// ╒════════ ObjectId (24 bytes) ════════╕
// │ w0 │ w1 │ w2 │ w3 │ w4 │ w5 (u32)    │  least significant word first
// ╘═════════════════════════════════════╛

/** A 192-bit object id in memory: six u32 words, least significant first (as PageDesc.oid0..oid5). */
@unmanaged export class ObjectId {
  /** Bits 0..31. */
  w0: u32;
  /** Bits 32..63. */
  w1: u32;
  /** Bits 64..95. */
  w2: u32;
  /** Bits 96..127. */
  w3: u32;
  /** Bits 128..159. */
  w4: u32;
  /** Bits 160..191. */
  w5: u32;
}
// @ts-ignore: decorator
@inline export const OID_BYTES: u32 = offsetof<ObjectId>();
if (OID_BYTES != 24) ERROR("an ObjectId is six u32 words");

/**
 * Offset from a Worker's scratch base of its call record: the ObjectId of
 * the call being made (the rest of its CALL_RECORD_SIZE bytes is spare). It
 * lies in the out area past every record a single operation, a zcache store
 * or load (one OutRecord, an eviction batch of 64) or a scan of 256 keys
 * (8 KiB) writes; only a batch of more than 768 OutRecords and a slab reap's
 * tables reach it, and those take no object id or read it first.
 */
// @ts-ignore: decorator
@inline export const CALL_RECORD: u32 = <u32>SCRATCH_IO + <u32>PAGE_SIZE + 12288;
/** Bytes reserved for the call record. */
// @ts-ignore: decorator
@inline export const CALL_RECORD_SIZE: u32 = 32;
if (<usize>CALL_RECORD + CALL_RECORD_SIZE > SCRATCH_IO + PAGE_SIZE + OUT_BYTES) ERROR("the call record lies inside the out area");
if (OID_BYTES > CALL_RECORD_SIZE) ERROR("the call record holds an ObjectId");

/** Whether the ObjectId at `oid` lies inside the memory (the exports' check of an address the host gave). */
// @ts-ignore: decorator
@inline export function oidInMemory(oid: usize): bool {
  return <u64>oid + <u64>OID_BYTES <= (<u64>memory.size() << 16);
}

// @ts-ignore: decorator
@inline export function root(): TmemRoot {
  return changetype<TmemRoot>(ROOT_TMEM);
}
// @ts-ignore: decorator
@inline export function poolAt(id: u32): PoolDesc {
  return changetype<PoolDesc>(ROOT_TMEM + POOLS_OFF + (<usize>id << 6));
}
/**
 * Pool handles: what tmem_new_pool returns and every pool argument is, a u16
 * slot | generation << POOL_GEN_SHIFT. The generation (1..POOL_GEN_MASK,
 * never 0, so a handle is never below MAX_POOLS and 0 can mean "no pool")
 * is the low bits of PoolDesc.generation, bumped at every create: a handle
 * of a destroyed pool is refused (-E_INVAL) even after its slot is reused,
 * until that slot has been reused POOL_GEN_MASK (1023) times more. That is
 * the honest bound: a holder of a stale handle that sleeps through 1023
 * creates of the same slot could reach the 1024th pool. Pools are created
 * per mount, swapon and backend registration, so that takes deliberate churn.
 */
// @ts-ignore: decorator
@inline export const POOL_GEN_SHIFT: u32 = 6;
// @ts-ignore: decorator
@inline export const POOL_GEN_MASK: u32 = 0x3ff;
if ((<u32>1 << POOL_GEN_SHIFT) != MAX_POOLS) ERROR("a pool handle's slot bits must cover MAX_POOLS");

/** The slot a handle names if its generation is the slot's current one, else MAX_POOLS (invalid). */
// @ts-ignore: decorator
@inline export function poolSlot(h: u32): u32 {
  const slot = h & (MAX_POOLS - 1);
  const gen = h >> POOL_GEN_SHIFT;
  if (gen == 0 || gen > POOL_GEN_MASK) return MAX_POOLS;
  return (atomic.load<u32>(changetype<usize>(poolAt(slot)) + offsetof<PoolDesc>("generation")) & POOL_GEN_MASK) == gen ? slot : MAX_POOLS;
}

/** The handle of slot `slot` at its current generation. */
// @ts-ignore: decorator
@inline export function poolHandle(slot: u32): u32 {
  return slot | ((atomic.load<u32>(changetype<usize>(poolAt(slot)) + offsetof<PoolDesc>("generation")) & POOL_GEN_MASK) << POOL_GEN_SHIFT);
}

// @ts-ignore: decorator
@inline export function domainAt(d: u32): LruDomain {
  return changetype<LruDomain>(ROOT_TMEM + DOMAINS_OFF + <usize>d * offsetof<LruDomain>());
}
// @ts-ignore: decorator
@inline export function stripeLock(bucket: u32): usize {
  return ROOT_TMEM + STRIPES_OFF + <usize>(bucket & STRIPE_MASK) * STRIPE_STRIDE;
}
// @ts-ignore: decorator
@inline export function desc(addr: u32): PageDesc {
  return changetype<PageDesc>(<usize>addr);
}

/** Address of bucket `b`'s chain head (a u32). The caller has checked b < nbuckets. */
// @ts-ignore: decorator
@inline export function bucketHead(b: u32): usize {
  const dir = pfnToAddress(root().dirPfn);
  const pfn = load<u32>(dir + (<usize>(b >> BUCKETS_PER_FRAME_SHIFT) << 2));
  return pfnToAddress(pfn) + (<usize>(b & ((1 << BUCKETS_PER_FRAME_SHIFT) - 1)) << 2);
}

/** Whether tmem_init has finished (every export but tmem_init refuses or no-ops before). */
// @ts-ignore: decorator
@inline export function ready(): bool {
  return atomic.load<u32>(ROOT_TMEM) == STATE_READY;
}
