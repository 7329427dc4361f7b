// SPDX-License-Identifier: MIT
//
// tmem.ts: the transcendent-memory core: a key-value index from
// (pool, 192-bit object id, u32 index) to a page descriptor ("pampd") that a
// backend filled in, living in shared memory so every attached Worker reaches
// every pool by id.
//
// It is not a store of bytes: the core never sees page contents. A backend
// (zcache: LZ4 into a zpool) stores the page and hands the core an opaque
// pampd (two u32 words plus a u32 `meta` the backend encodes: e.g. zpool
// handle + compressed length, or a same-filled word). Every operation that
// removes a descriptor gives its pampd back through the per-Worker out area
// so the backend frees the storage exactly once.
//
// Key idea: ONE global chained hash table of page descriptors keyed by
// (pool, oid, index), striped by object. The kernel keeps, per pool, 256
// buckets of rb-trees of objects, each with a radix tree of pages. We hash
// straight onto page descriptors instead, because (a) fixed 64-byte
// descriptors from a slab are the only allocation the core ever makes (no
// variable-size tree nodes, no preload reserve), (b) a get/put is one hash
// and a chain walk of ~1 entry instead of a tree descent of up to 12 levels,
// and (c) the table grows with physical memory, not with pool count. The
// price is flush_object: its pages are not linked to each other, so it walks
// the chains its object can hash to. We bound that by choosing the bucket so
// its low STRIPE_BITS come from hash(pool, oid) and the rest from
// hash(oid, index): every page of one object lands in the
// nbuckets / NSTRIPES chains of one stripe, guarded by one lock (the kernel's
// per-bucket lock), and flush_object scans only those chains.
//
// Guarantees: at most one live descriptor per key (a duplicate put replaces
// and returns the old pampd); a descriptor leaves the index exactly once and
// its pampd is handed back exactly once (to the remover, or, if a reader has
// it pinned, to the last unpinner: zswap's entry refcount); a get of a
// private ephemeral pool is exclusive; persistent and shared gets keep the
// page. Out of descriptor memory → -E_NOMEM, the index unchanged.
// Trade-offs: frames carved into descriptors stay with the slab (reused,
// never returned to the frame allocator), and the bucket table is sized once,
// at first use, from the number of frames (0.4% of memory; chains lengthen
// past ~4 pages per frame). No shared counter is written on the get path;
// a put or removal writes its pool's page count.
//
// API peculiarities: results go to this Worker's out area
// (scratchBase + SCRATCH_IO + PAGE_SIZE): single ops write one OutRecord,
// batch ops (flush object, drain, evict) write up to `max` records and
// return the count; keys of a scan are written as ScanRecords.
//
// Layout: ROOT_TMEM is drawn below (TmemRoot, PoolDesc, LruDomain); page
// descriptors (PageDesc) come from a slab of OWNER_TMEM frames (a global
// lock-free stack plus a per-Worker cache); the bucket
// table is a directory frame of pfns of table frames (frames are not
// contiguous).
//
// Concurrency: every export may be called concurrently from any attached
// Worker. lock ordering: pool-table lock → stripe lock → LRU-domain lock →
// (frame allocator, lock-free). Eviction walks an LRU while holding its lock
// and only TRY-locks stripes (the reverse order). The descriptor slab is a
// lock-free tagged stack like frames.ts, fronted by a per-Worker cache.
//
// See also: src/tmem/core.ts (TypeScript API), src/zcache.ts (the backend),
// test/tmem*.test.ts, ../shared/reference/kernel.md §1.2.

import {
  ROOT_TMEM, ROOT_TMEM_SIZE, PAGE_SIZE, OWNER_TMEM, E_INVAL, E_NOMEM, E_BUSY, E_NOSPC, E_EXIST, E_BADMSG,
  nrFrames, framesBase, scratchBase, SCRATCH_IO, SCRATCH_ROBUST, pfnToAddress, addressToPfn, DEBUG,
  CTRL_BASE, CTRL_MAX_WORKERS_OFF, slotScratch,
} from "./common";
import { frameAlloc, frameFree, pfnToMeta } from "./frames";
import { mutexLock, mutexTryLock, mutexUnlock, ustore32, ustore16, ucommit, LV_TMEM_POOLS, LV_STRIPE, LV_LRU, R_DESC_CACHE } from "./robust";


// ══ Constants ══

/** Pool flag: persistent (frontswap); pages never evicted, gets not exclusive. Xen ABI bit. */
// @ts-ignore: decorator
@inline const TMEM_POOL_PERSIST: u32 = 1;
/** Pool flag: shared by uuid; gets not exclusive. Xen ABI bit. */
// @ts-ignore: decorator
@inline const TMEM_POOL_SHARED: u32 = 2;

/** Most pools at once (all clients). The kernel's zcache: 16 clients × 16 pools. */
// @ts-ignore: decorator
@inline const MAX_POOLS: u32 = 64;
/** LRU domains (one per backend instance that evicts). Domain 0 means "no LRU". */
// @ts-ignore: decorator
@inline const MAX_DOMAINS: u32 = 16;
/**
 * log2 of the lock stripes. 256 stripes = the kernel's 256 buckets per pool
 * (TMEM_HASH_BUCKET_BITS 8), here shared by all pools. More stripes cut lock
 * contention; fewer make each object's chain set (scanned by flush_object)
 * wider: chains per stripe = nbuckets / NSTRIPES.
 */
// @ts-ignore: decorator
@inline const STRIPE_BITS: u32 = 8;
// @ts-ignore: decorator
@inline const NSTRIPES: u32 = 1 << STRIPE_BITS;
// @ts-ignore: decorator
@inline const STRIPE_MASK: u32 = NSTRIPES - 1;
/** Bucket heads per table frame (u32 each). */
// @ts-ignore: decorator
@inline const BUCKETS_PER_FRAME_SHIFT: u32 = 10;
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
@inline const MIN_BUCKET_BITS: u32 = 12;
// @ts-ignore: decorator
@inline const MAX_BUCKET_BITS: u32 = 20;
if (MIN_BUCKET_BITS < STRIPE_BITS + 4) ERROR("each stripe needs at least 16 chains");
if (((<u32>1 << MAX_BUCKET_BITS) >> BUCKETS_PER_FRAME_SHIFT) * 4 > PAGE_SIZE) ERROR("the directory must fit one frame");

/** Core state in TmemRoot.state. */
// @ts-ignore: decorator
@inline const STATE_UNINIT: u32 = 0;
// @ts-ignore: decorator
@inline const STATE_INITIALIZING: u32 = 1;
// @ts-ignore: decorator
@inline const STATE_READY: u32 = 2;

/** PoolDesc.state values. */
// @ts-ignore: decorator
@inline const POOL_FREE: u32 = 0;
// @ts-ignore: decorator
@inline const POOL_ALIVE: u32 = 1;
// @ts-ignore: decorator
@inline const POOL_DYING: u32 = 2;

/** tmem_get modes (the kernel's get_and_free argument). */
// @ts-ignore: decorator
@inline const GET_POLICY: u32 = 0; // remove iff the pool is private and ephemeral
// @ts-ignore: decorator
@inline const GET_AND_FREE: u32 = 1; // always remove
// @ts-ignore: decorator
@inline const GET_KEEP: u32 = 2; // never remove (pins the descriptor)

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

@unmanaged class TmemRoot {
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
@inline const DOMAINS_OFF: usize = 64;
// @ts-ignore: decorator
@inline const POOLS_OFF: usize = 512;
// @ts-ignore: decorator
@inline const STRIPES_OFF: usize = 4608;
/**
 * Bytes between two stripe locks: 16, so a 64-byte cache line holds 4 locks
 * and two Workers on random stripes write the same line 1 time in 64, not 1
 * in 16 (a lock word is written twice per operation).
 */
// @ts-ignore: decorator
@inline const STRIPE_STRIDE: usize = 16;
/** Start of the frontend area (cleancache/frontswap/backends), mirrored in src/tmem/shared.ts. */
// @ts-ignore: decorator
@inline const FRONTEND_OFF: usize = 12288;

/** One LRU list of ephemeral page descriptors (a backend's eviction order). */
@unmanaged class LruDomain {
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
@unmanaged class PoolDesc {
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

@unmanaged class PageDesc {
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
@inline const DESC_SIZE: u32 = 64;
// @ts-ignore: decorator
@inline const DESCS_PER_FRAME: u32 = PAGE_SIZE / DESC_SIZE;
/** Removed from the index while pinned: the last unpin frees it. */
// @ts-ignore: decorator
@inline const DESC_DEAD: u16 = 1;
/** On its domain's LRU list. */
// @ts-ignore: decorator
@inline const DESC_ON_LRU: u16 = 2;
/**
 * Bits 8..13 of flags: the descriptor's incarnation (1..63), bumped by every
 * put that takes it from the slab. A pin is the descriptor's address | its
 * incarnation (addresses are 64-byte aligned), so tmem_unpin refuses a stale
 * pin whose descriptor was freed and reused since (until 63 reuses later).
 */
// @ts-ignore: decorator
@inline const DESC_INC_SHIFT: u16 = 8;
// @ts-ignore: decorator
@inline const DESC_INC_MASK: u16 = 63;

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
@inline const COUNTERS_OFF: usize = 65536 - 256 - 1024;
// @ts-ignore: decorator
@inline const C_PAGES: usize = 0;
// @ts-ignore: decorator
@inline const C_PUTS: usize = 4;
// @ts-ignore: decorator
@inline const C_FLUSHES: usize = 8;
// @ts-ignore: decorator
@inline const C_EVICTIONS: usize = 12;
if (COUNTERS_OFF + <usize>MAX_POOLS * 16 > 65536 - 256) ERROR("pool counters overlap the frontends' words");

/** Add `delta` to this Worker's counter `field` of `pool`. */
// @ts-ignore: decorator
@inline function countAdd(pool: u32, field: usize, delta: i32): void {
  // Only this Worker writes its counters, so load + store is exact; inside a
  // critical section the store is logged (a rollback restores the count).
  const a = scratchBase + COUNTERS_OFF + (<usize>pool << 4) + field;
  ustore32(a, <u32>(atomic.load<i32>(a) + delta));
}

/** Store `v` in field `off` of descriptor `a`, undoably (robust.ts). */
// @ts-ignore: decorator
@inline function dset(a: u32, off: usize, v: u32): void {
  ustore32(<usize>a + off, v);
}
/** Store `v` in u16 field `off` of descriptor `a`, undoably. */
// @ts-ignore: decorator
@inline function dset16(a: u32, off: usize, v: u16): void {
  ustore16(<usize>a + off, v);
}
// @ts-ignore: decorator
@inline const D_NEXT: usize = offsetof<PageDesc>("next");
// @ts-ignore: decorator
@inline const D_LRU_PREV: usize = offsetof<PageDesc>("lruPrev");
// @ts-ignore: decorator
@inline const D_LRU_NEXT: usize = offsetof<PageDesc>("lruNext");
// @ts-ignore: decorator
@inline const D_REFS: usize = offsetof<PageDesc>("refs");
// @ts-ignore: decorator
@inline const D_FLAGS: usize = offsetof<PageDesc>("flags");
// @ts-ignore: decorator
@inline const L_HEAD: usize = offsetof<LruDomain>("head");
// @ts-ignore: decorator
@inline const L_TAIL: usize = offsetof<LruDomain>("tail");
// @ts-ignore: decorator
@inline const L_COUNT: usize = offsetof<LruDomain>("count");

/** Counter `field` of `pool` summed over every Worker slot. */
function countSum(pool: u32, field: usize): i32 {
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  let sum: i32 = 0;
  for (let s: u32 = 0; s < n; s++) sum += atomic.load<i32>(slotScratch(s) + COUNTERS_OFF + (<usize>pool << 4) + field);
  return sum;
}

/** Zero every slot's counters of `pool` (a new pool; the caller holds the pool-table lock). */
function countZero(pool: u32): void {
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
@inline const OUT_BYTES: u32 = 32768 - PAGE_SIZE - 256 - 1024;
if (SCRATCH_IO + PAGE_SIZE + OUT_BYTES != COUNTERS_OFF) ERROR("the out area ends where the pool counters start");
// @ts-ignore: decorator
@inline const OUT_RECORD: u32 = 16;
// @ts-ignore: decorator
@inline const SCAN_RECORD: u32 = 32;
// @ts-ignore: decorator
@inline function outBase(): usize {
  return scratchBase + SCRATCH_IO + PAGE_SIZE;
}

// @ts-ignore: decorator
@inline function root(): TmemRoot {
  return changetype<TmemRoot>(ROOT_TMEM);
}
// @ts-ignore: decorator
@inline function poolAt(id: u32): PoolDesc {
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
@inline const POOL_GEN_SHIFT: u32 = 6;
// @ts-ignore: decorator
@inline const POOL_GEN_MASK: u32 = 0x3ff;
if ((<u32>1 << POOL_GEN_SHIFT) != MAX_POOLS) ERROR("a pool handle's slot bits must cover MAX_POOLS");

/** The slot a handle names if its generation is the slot's current one, else MAX_POOLS (invalid). */
// @ts-ignore: decorator
@inline function poolSlot(h: u32): u32 {
  const slot = h & (MAX_POOLS - 1);
  const gen = h >> POOL_GEN_SHIFT;
  if (gen == 0 || gen > POOL_GEN_MASK) return MAX_POOLS;
  return (atomic.load<u32>(changetype<usize>(poolAt(slot)) + offsetof<PoolDesc>("generation")) & POOL_GEN_MASK) == gen ? slot : MAX_POOLS;
}

/** The handle of slot `slot` at its current generation. */
// @ts-ignore: decorator
@inline function poolHandle(slot: u32): u32 {
  return slot | ((atomic.load<u32>(changetype<usize>(poolAt(slot)) + offsetof<PoolDesc>("generation")) & POOL_GEN_MASK) << POOL_GEN_SHIFT);
}

// @ts-ignore: decorator
@inline function domainAt(d: u32): LruDomain {
  return changetype<LruDomain>(ROOT_TMEM + DOMAINS_OFF + <usize>d * offsetof<LruDomain>());
}
// @ts-ignore: decorator
@inline function stripeLock(bucket: u32): usize {
  return ROOT_TMEM + STRIPES_OFF + <usize>(bucket & STRIPE_MASK) * STRIPE_STRIDE;
}
// @ts-ignore: decorator
@inline function desc(addr: u32): PageDesc {
  return changetype<PageDesc>(<usize>addr);
}

/** Address of bucket `b`'s chain head (a u32). The caller has checked b < nbuckets. */
// @ts-ignore: decorator
@inline function bucketHead(b: u32): usize {
  const dir = pfnToAddress(root().dirPfn);
  const pfn = load<u32>(dir + (<usize>(b >> BUCKETS_PER_FRAME_SHIFT) << 2));
  return pfnToAddress(pfn) + (<usize>(b & ((1 << BUCKETS_PER_FRAME_SHIFT) - 1)) << 2);
}

// ══ Hashing ══

/** murmur3's 32-bit finaliser: a cheap full-avalanche mix. */
// @ts-ignore: decorator
@inline function fmix32(h: u32): u32 {
  h ^= h >> 16; h *= 0x85ebca6b;
  h ^= h >> 13; h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** Hash of (pool, oid): picks the stripe. */
// @ts-ignore: decorator
@inline function objectHash(pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32): u32 {
  let h = fmix32(pool * 0x9e3779b1 ^ o0);
  h = fmix32(h ^ o1 ^ rotl<u32>(o2, 11));
  return fmix32(h ^ rotl<u32>(o3, 7) ^ rotl<u32>(o4, 19) ^ rotl<u32>(o5, 25));
}

/** Bucket of (object hash, index): stripe bits from the object, the rest from the page. */
// @ts-ignore: decorator
@inline function bucketOf(oh: u32, index: u32): u32 {
  const ph = fmix32(oh ^ (index * 0x9e3779b1) ^ (index >> 16));
  const mask: u32 = (<u32>1 << root().bucketBits) - 1;
  return ((ph & ~STRIPE_MASK) | (oh & STRIPE_MASK)) & mask;
}

// @ts-ignore: decorator
@inline function sameKey(d: PageDesc, pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32): bool {
  return d.index == index && d.oid0 == o0 && d.pool == pool && d.oid1 == o1 && d.oid2 == o2
    && d.oid3 == o3 && d.oid4 == o4 && d.oid5 == o5;
}

// @ts-ignore: decorator
@inline function sameObject(d: PageDesc, pool: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32): bool {
  return d.oid0 == o0 && d.pool == pool && d.oid1 == o1 && d.oid2 == o2
    && d.oid3 == o3 && d.oid4 == o4 && d.oid5 == o5;
}

// ══ Descriptor slab (lock-free tagged stack + a per-Worker cache) ══
//
// The global free stack's head is one word every Worker would CAS on every
// put and every removal. Each Worker therefore keeps a small private cache
// (head and count in its slot's robust area, robust.ts R_DESC_CACHE, so a
// reclaim can hand a dead Worker's cache back: tmem_reclaim_slot): allocation
// pops the cache and refills it with up to CACHE_BATCH descriptors in ONE
// CAS (a carved fresh frame goes to the cache whole); a free pushes to the
// cache. A free inside a critical section (a removal under its stripe lock)
// pushes with logged stores, so a rollback takes it back out; a CAS on the
// global stack cannot be undone, so only descTrim, called after the locks
// are released, gives a cache above CACHE_MAX back to the global stack.
// Trade-off: a Worker's cache holds up to CACHE_MAX descriptors (plus what
// one operation frees) that others cannot use until it trims.

/** FrameMeta.priv1 of a frame carved into descriptors (OWNER_TMEM also owns the bucket table's frames). */
// @ts-ignore: decorator
@inline const DESC_FRAME_TAG: u32 = 0x44455343; // "DESC"

/** Whether address `a` lies in a frame carved into descriptors. */
function isDescFrame(a: u32): bool {
  if (<usize>a < framesBase || <usize>a >= framesBase + (<usize>nrFrames << 12)) return false;
  const m = pfnToMeta(<u32>((<usize>a - framesBase) >> 12));
  return atomic.load<u32>(m) == OWNER_TMEM && load<u32>(m, 12) == DESC_FRAME_TAG;
}

/** Descriptors taken from the global stack per refill (one CAS). */
// @ts-ignore: decorator
@inline const CACHE_BATCH: u32 = 16;
/** A cache above this many is trimmed to half of it (descTrim). */
// @ts-ignore: decorator
@inline const CACHE_MAX: u32 = 64;

/** Address of this Worker's cache head (u32; the count follows it). */
// @ts-ignore: decorator
@inline function cacheWords(): usize {
  return scratchBase + SCRATCH_ROBUST + R_DESC_CACHE;
}

/** Take one PageDesc; 0 when no frame is left. Lock-free; call it outside critical sections. */
function descAlloc(): u32 {
  if (DEBUG) assert(scratchBase != 0); // tmem runs on attached instances only
  const cw = cacheWords();
  const cached = load<u32>(cw);
  if (cached != 0) {
    store<u32>(cw, load<u32>(<usize>cached));
    store<u32>(cw, load<u32>(cw, 4) - 1, 4);
    return cached;
  }
  const r = root();
  const head = changetype<usize>(r) + offsetof<TmemRoot>("slabHead");
  for (;;) {
    const old = atomic.load<i64>(head);
    const top = <u32>old;
    if (top == 0) {
      // Empty: carve a fresh frame; keep its first descriptor, cache the rest.
      const pfn = frameAlloc(OWNER_TMEM);
      if (pfn < 0) return 0;
      // Tagged as a descriptor frame (the bucket table's frames are OWNER_TMEM too): tmem_unpin checks it.
      store<u32>(pfnToMeta(<u32>pfn) + 12, DESC_FRAME_TAG);
      const base = <u32>pfnToAddress(<u32>pfn);
      for (let i: u32 = 1; i < DESCS_PER_FRAME - 1; i++) {
        store<u32>(<usize>(base + i * DESC_SIZE), base + (i + 1) * DESC_SIZE);
      }
      store<u32>(<usize>(base + (DESCS_PER_FRAME - 1) * DESC_SIZE), 0);
      store<u32>(cw, base + DESC_SIZE);
      store<u32>(cw, DESCS_PER_FRAME - 1, 4);
      atomic.add<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames"), 1);
      return base;
    }
    // Take top..last (up to CACHE_BATCH) in one CAS. The links read here are
    // consistent if the CAS succeeds: every push and pop bumps the tag.
    let last = top;
    let n: u32 = 1;
    while (n < CACHE_BATCH) {
      const nx = atomic.load<u32>(<usize>last);
      if (nx == 0) break;
      last = nx;
      n++;
    }
    const next = atomic.load<u32>(<usize>last);
    if (atomic.cmpxchg<i64>(head, old, (((old >>> 32) + 1) << 32) | <i64>next) == old) {
      if (n > 1) {
        store<u32>(<usize>last, 0);
        store<u32>(cw, load<u32>(<usize>top));
        store<u32>(cw, n - 1, 4);
      }
      return top;
    }
  }
  return 0; // unreachable
}

/**
 * Return a PageDesc to this Worker's cache. The caller has unlinked it
 * everywhere. Undoable inside a critical section (robust.ts).
 */
function descFree(d: u32): void {
  if (DEBUG) assert((d & (DESC_SIZE - 1)) == 0 && desc(d).refs == 0); // a whole, unpinned descriptor
  const cw = cacheWords();
  ustore32(<usize>d, load<u32>(cw));
  ustore32(cw, d);
  ustore32(cw + 4, load<u32>(cw, 4) + 1);
}

/** Push the chain first..last (linked through word 0) onto the global free stack. */
function stackPushChain(first: u32, last: u32): void {
  const head = changetype<usize>(root()) + offsetof<TmemRoot>("slabHead");
  for (;;) {
    const old = atomic.load<i64>(head);
    atomic.store<u32>(<usize>last, <u32>old);
    if (atomic.cmpxchg<i64>(head, old, (((old >>> 32) + 1) << 32) | <i64>first) == old) break;
  }
}

/**
 * Give the cache above CACHE_MAX / 2 back to the global stack when it holds
 * more than CACHE_MAX. Call with no lock held. The chain is cut from the cache
 * before it is pushed: a death in between leaks it rather than sharing it.
 */
function descTrim(): void {
  const cw = cacheWords();
  const count = load<u32>(cw, 4);
  if (count > CACHE_MAX) cacheGive(cw, count - CACHE_MAX / 2, false);
}

/**
 * Cut the first `max` descriptors (fewer if the chain is shorter) off the
 * cache whose words are at `cw` and push them onto the global stack. The
 * chain is cut from the cache before it is pushed: a death in between leaks
 * it rather than sharing it. With `whole` (the cache is given back entirely:
 * a reap, a reclaim) a chain longer than every descriptor carved is corrupt:
 * the cache is emptied, nothing is pushed, and the result is -E_BADMSG.
 * Returns the number of descriptors given.
 */
function cacheGive(cw: usize, max: u32, whole: bool): i32 {
  const first = load<u32>(cw);
  if (first == 0 || max == 0) return 0;
  const limit = whole ? atomic.load<u32>(changetype<usize>(root()) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME : max;
  let last = first;
  let k: u32 = 1;
  while (k < limit) {
    const nx = load<u32>(<usize>last);
    if (nx == 0) break;
    last = nx;
    k++;
  }
  const rest = load<u32>(<usize>last);
  if (whole && rest != 0) {
    store<u32>(cw, 0);
    store<u32>(cw, 0, 4);
    return -E_BADMSG;
  }
  store<u32>(cw, rest);
  store<u32>(cw, whole ? 0 : load<u32>(cw, 4) - k, 4);
  stackPushChain(first, last);
  return <i32>k;
}

/**
 * Give descriptor frames back to the frame allocator: every frame all of
 * whose DESCS_PER_FRAME descriptors are free on the global stack (this
 * Worker's cache is flushed there first; other Workers' caches keep their
 * frames). Any Worker, any time, with no lock held; one reap runs at a time
 * (a second returns 0 at once). Returns the frames freed.
 *
 * It takes the whole global stack in one CAS and counts its descriptors per
 * frame in a private table (this slot's out area, REAP_*); the frames found
 * wholly free are listed there too. Then it walks the chain, pushing back
 * every descriptor of a frame that stays, and only after the walk frees the
 * listed frames. The slot's robust-area words R_REAP_* say how far it got,
 * so a reclaim of a Worker that died in the middle finishes its reap
 * (tmem_reclaim_slot → reapFinish): nothing leaks but what a death between
 * the CAS and its record, or between a count and its free, can leak (one
 * chain; one frame).
 */
export function tmem_slab_reap(): i32 {
  if (!ready()) return 0;
  const r = root();
  const lock = changetype<usize>(r) + offsetof<TmemRoot>("reapLock");
  if (!mutexTryLock(lock, LV_TMEM_POOLS)) return 0;
  const freed = reap(r, cacheWords(), outBase());
  mutexUnlock(lock);
  return freed;
}

/** Out-area layout of a reap: a hash of (pfn + 1, count) pairs, then the list of frames to free. */
// @ts-ignore: decorator
@inline const REAP_SLOTS: u32 = 2048;
// @ts-ignore: decorator
@inline const REAP_MAX_FRAMES: u32 = 1536;
// @ts-ignore: decorator
@inline const REAP_LIST: usize = <usize>REAP_SLOTS * 8;
if (REAP_LIST + <usize>REAP_MAX_FRAMES * 4 > <usize>OUT_BYTES) ERROR("reap tables overflow the out area");
/** Robust-area words (after the descriptor cache's four): the chain still to push back, the frames listed to free. */
// @ts-ignore: decorator
@inline const R_REAP_HEAD: usize = 16;
// @ts-ignore: decorator
@inline const R_REAP_NFREE: usize = 20;

/** The hash slot of frame `pfn` in the reap table at `tab` (inserting it if `add`); -1 if absent or full. */
function reapSlot(tab: usize, pfn: u32, add: bool): i32 {
  let h = (pfn * 0x9e3779b1) >> 21; // 11 bits: REAP_SLOTS
  for (let i: u32 = 0; i < REAP_SLOTS; i++) {
    const e = tab + (<usize>((h + i) & (REAP_SLOTS - 1)) << 3);
    const k = load<u32>(e);
    if (k == pfn + 1) return <i32>((h + i) & (REAP_SLOTS - 1));
    if (k == 0) {
      if (!add) return -1;
      store<u32>(e, pfn + 1);
      store<u32>(e, 0, 4);
      return <i32>((h + i) & (REAP_SLOTS - 1));
    }
  }
  return -1;
}

function reap(r: TmemRoot, cw: usize, tab: usize): i32 {
  const head = changetype<usize>(r) + offsetof<TmemRoot>("slabHead");
  // This Worker's cache first: its descriptors may complete a frame.
  cacheGive(cw, 0xffffffff, true);
  memory.fill(tab, 0, REAP_LIST);
  store<u32>(cw, 0, R_REAP_NFREE);
  let old: i64 = 0;
  for (;;) {
    old = atomic.load<i64>(head);
    if (<u32>old == 0) return 0;
    if (atomic.cmpxchg<i64>(head, old, ((old >>> 32) + 1) << 32) == old) break;
  }
  const first = <u32>old;
  store<u32>(cw, first, R_REAP_HEAD);
  // Count free descriptors per frame (private table; frames past REAP_MAX_FRAMES are kept).
  const limit = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME;
  let frames: u32 = 0;
  let n: u32 = 0;
  for (let d = first; d != 0 && n < limit; d = load<u32>(<usize>d), n++) {
    const pfn = addressToPfn(<usize>d);
    let i = reapSlot(tab, pfn, false);
    if (i < 0 && frames < REAP_MAX_FRAMES) { i = reapSlot(tab, pfn, true); frames++; }
    if (i >= 0) store<u32>(tab + (<usize>i << 3), load<u32>(tab + (<usize>i << 3), 4) + 1, 4);
  }
  // List the wholly free frames; their count is published last.
  let nfree: u32 = 0;
  for (let i: u32 = 0; i < REAP_SLOTS; i++) {
    const e = tab + (<usize>i << 3);
    if (load<u32>(e) != 0 && load<u32>(e, 4) == DESCS_PER_FRAME) {
      store<u32>(tab + REAP_LIST + (<usize>nfree << 2), load<u32>(e) - 1);
      nfree++;
    }
  }
  store<u32>(cw, nfree, R_REAP_NFREE);
  return reapFinish(r, cw, tab);
}

/**
 * The rest of a reap (also run by a reclaim for a Worker that died in one):
 * walk the chain from R_REAP_HEAD, pushing back each descriptor whose frame
 * is not listed to free, then free the listed frames.
 */
function reapFinish(r: TmemRoot, cw: usize, tab: usize): i32 {
  const nfree = load<u32>(cw, R_REAP_NFREE);
  const limit = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME;
  let d = load<u32>(cw, R_REAP_HEAD);
  for (let n: u32 = 0; d != 0 && n < limit; n++) {
    const next = load<u32>(<usize>d);
    // Progress first: a death after it loses at most this one descriptor, never pushes one twice.
    store<u32>(cw, next, R_REAP_HEAD);
    const i = reapSlot(tab, addressToPfn(<usize>d), false);
    if (i < 0 || load<u32>(tab + (<usize>i << 3), 4) != DESCS_PER_FRAME) stackPushChain(d, d);
    d = next;
  }
  store<u32>(cw, 0, R_REAP_HEAD);
  let freed: i32 = 0;
  for (let k = nfree; k > 0; k--) {
    const pfn = load<u32>(tab + REAP_LIST + (<usize>(k - 1) << 2));
    // The count first: a death in between leaks this frame, never frees it twice.
    store<u32>(cw, k - 1, R_REAP_NFREE);
    atomic.sub<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames"), 1);
    frameFree(pfn, OWNER_TMEM);
    freed++;
  }
  return freed;
}

/** Pins of dead Workers whose page had been removed meanwhile (its storage then leaks to its backend; counted for stats). */
let reclaimedPins: u32 = 0;

/**
 * Hand the descriptor cache of slot `slot` (a dead Worker's, reclaimed: its
 * critical sections already rolled back) to the global stack, and empty it;
 * free the descriptor of a put it had in flight if that put never linked it,
 * and drop the pin it had in flight (as tmem_unpin would).
 * Returns the number of descriptors given back; -E_INVAL for a slot out of
 * range; -E_BADMSG when the chain is longer than every descriptor carved
 * (a corrupt cache: it is dropped, not pushed).
 */
export function tmem_reclaim_slot(slot: u32): i32 {
  if (!ready() || slot >= load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF)) return -E_INVAL;
  const cw = slotScratch(slot) + SCRATCH_ROBUST + R_DESC_CACHE;
  // A reap in flight: finish it (its tables are in the dead slot's out area).
  if (load<u32>(cw, R_REAP_HEAD) != 0 || load<u32>(cw, R_REAP_NFREE) != 0) {
    reapFinish(root(), cw, slotScratch(slot) + SCRATCH_IO + PAGE_SIZE);
  }
  // A put in flight whose descriptor never got linked (its section was rolled back).
  const pend = load<u32>(cw, 8);
  store<u32>(cw, 0, 8);
  if (pend != 0 && (pend & (DESC_SIZE - 1)) == 0 && <usize>pend >= framesBase && isDescFrame(pend)) stackPushChain(pend, pend);
  // A pin in flight: dropped as its unpin would have (a page removed meanwhile is freed; its storage is the backend's to reclaim).
  const pin = load<u32>(cw, 12);
  store<u32>(cw, 0, 12);
  if (pin != 0) reclaimedPins += tmem_unpin(pin) == 1 ? 1 : 0;
  return cacheGive(cw, 0xffffffff, true);
}

// ══ LRU (caller holds the descriptor's stripe lock; these take the domain lock) ══

function lruAddHead(dom: LruDomain, a: u32): void {
  const la = changetype<usize>(dom);
  mutexLock(la, LV_LRU);
  lruLinkHeadLocked(dom, a);
  mutexUnlock(la);
}

/** Link `a` (on no list) at the head of `dom`; the caller holds dom's lock. Logged stores. */
function lruLinkHeadLocked(dom: LruDomain, a: u32): void {
  const la = changetype<usize>(dom);
  const head = dom.head;
  dset(a, D_LRU_PREV, 0);
  dset(a, D_LRU_NEXT, head);
  if (head != 0) dset(head, D_LRU_PREV, a); else ustore32(la + L_TAIL, a);
  ustore32(la + L_HEAD, a);
  ustore32(la + L_COUNT, dom.count + 1);
  dset16(a, D_FLAGS, desc(a).flags | DESC_ON_LRU);
}

/** Unlink `a` from its LRU; the caller holds dom's lock. Logged stores. */
function lruUnlinkLocked(dom: LruDomain, a: u32): void {
  const d = desc(a);
  const la = changetype<usize>(dom);
  if (DEBUG) assert(dom.count > 0 && (d.flags & DESC_ON_LRU) != 0); // on this list
  const prev = d.lruPrev, next = d.lruNext;
  if (prev != 0) dset(prev, D_LRU_NEXT, next); else ustore32(la + L_HEAD, next);
  if (next != 0) dset(next, D_LRU_PREV, prev); else ustore32(la + L_TAIL, prev);
  dset(a, D_LRU_PREV, 0);
  dset(a, D_LRU_NEXT, 0);
  ustore32(la + L_COUNT, dom.count - 1);
  dset16(a, D_FLAGS, d.flags & ~DESC_ON_LRU);
}

function lruRemove(a: u32): void {
  const d = desc(a);
  if ((d.flags & DESC_ON_LRU) == 0) return;
  const dom = domainAt(poolAt(d.pool & (MAX_POOLS - 1)).domain);
  mutexLock(changetype<usize>(dom), LV_LRU);
  lruUnlinkLocked(dom, a);
  mutexUnlock(changetype<usize>(dom));
}

function lruTouch(a: u32): void {
  const d = desc(a);
  if ((d.flags & DESC_ON_LRU) == 0) return;
  const dom = domainAt(poolAt(d.pool & (MAX_POOLS - 1)).domain);
  mutexLock(changetype<usize>(dom), LV_LRU);
  if (dom.head != a) {
    lruUnlinkLocked(dom, a);
    lruLinkHeadLocked(dom, a);
  }
  mutexUnlock(changetype<usize>(dom));
}

// ══ Removal (caller holds the stripe lock of `a`'s bucket) ══

/** Unlink `a` from bucket chain `headp` (it is on it). */
function chainUnlink(headp: usize, a: u32): void {
  let prevp = headp;
  let cur = load<u32>(headp);
  while (cur != 0) {
    if (cur == a) { ustore32(prevp, desc(a).next); return; }
    prevp = <usize>cur + offsetof<PageDesc>("next");
    cur = desc(cur).next;
  }
}

/**
 * Take `a` out of the index (chain already unlinked by the caller) and either
 * write its pampd to OutRecord `rec` and free it (returns 1), or, while it is
 * pinned, mark it dead for the last unpinner (returns 0).
 */
function retire(a: u32, rec: usize): u32 {
  const d = desc(a);
  if (DEBUG) assert((d.pool >> POOL_GEN_SHIFT) != 0 && (d.flags & DESC_DEAD) == 0); // a live descriptor of a real pool
  countAdd(d.pool & (MAX_POOLS - 1), C_PAGES, -1);
  if (d.refs != 0) {
    dset16(a, D_FLAGS, d.flags | DESC_DEAD);
    return 0;
  }
  store<u32>(rec, d.pampdLo);
  store<u32>(rec, d.pampdHi, 4);
  store<u32>(rec, d.meta, 8);
  store<u32>(rec, d.pool, 12);
  descFree(a);
  return 1;
}

// ══ Init and pools ══

/**
 * Set the core up on first use: allocate the bucket table (sized from the
 * number of frames). Idempotent; any Worker may call it any time.
 * Returns 0, or -E_NOMEM when the table's frames cannot be had (retry later).
 */
export function tmem_init(): i32 {
  const r = root();
  if (atomic.load<u32>(changetype<usize>(r)) == STATE_READY) return 0;
  mutexLock(changetype<usize>(r) + offsetof<TmemRoot>("initLock"), LV_TMEM_POOLS);
  if (atomic.load<u32>(changetype<usize>(r)) == STATE_READY) {
    mutexUnlock(changetype<usize>(r) + offsetof<TmemRoot>("initLock"));
    return 0;
  }
  atomic.store<u32>(changetype<usize>(r), STATE_INITIALIZING);
  let bits: u32 = 32 - clz<u32>(nrFrames * 4 - 1);
  if (bits < MIN_BUCKET_BITS) bits = MIN_BUCKET_BITS;
  if (bits > MAX_BUCKET_BITS) bits = MAX_BUCKET_BITS;
  const ntable: u32 = (<u32>1 << bits) >> BUCKETS_PER_FRAME_SHIFT;
  const dir = frameAlloc(OWNER_TMEM);
  if (dir < 0) {
    atomic.store<u32>(changetype<usize>(r), STATE_UNINIT);
    mutexUnlock(changetype<usize>(r) + offsetof<TmemRoot>("initLock"));
    return -E_NOMEM;
  }
  const dirAddr = pfnToAddress(<u32>dir);
  for (let i: u32 = 0; i < ntable; i++) {
    const pfn = frameAlloc(OWNER_TMEM);
    if (pfn < 0) {
      // Give back what we took; the table stays unbuilt.
      for (let j: u32 = 0; j < i; j++) frameFree(load<u32>(dirAddr + (<usize>j << 2)), OWNER_TMEM);
      frameFree(<u32>dir, OWNER_TMEM);
      atomic.store<u32>(changetype<usize>(r), STATE_UNINIT);
      mutexUnlock(changetype<usize>(r) + offsetof<TmemRoot>("initLock"));
      return -E_NOMEM;
    }
    memory.fill(pfnToAddress(<u32>pfn), 0, PAGE_SIZE);
    store<u32>(dirAddr + (<usize>i << 2), <u32>pfn);
  }
  r.bucketBits = bits;
  r.dirPfn = <u32>dir;
  r.tableFrames = ntable + 1;
  atomic.store<u32>(changetype<usize>(r), STATE_READY);
  mutexUnlock(changetype<usize>(r) + offsetof<TmemRoot>("initLock"));
  return 0;
}

// @ts-ignore: decorator
@inline function ready(): bool {
  return atomic.load<u32>(ROOT_TMEM) == STATE_READY;
}

/**
 * Create a pool (tmem_new_pool). `flags` = TMEM_POOL_PERSIST | TMEM_POOL_SHARED.
 * A shared pool is named by its non-zero 128-bit uuid within its owner (one
 * backend instance): a second create with the same uuid, owner and flags
 * returns the same id and takes a reference; another owner gets its own pool.
 * `domain` (0 = none) is the LRU domain its ephemeral pages join; `owner` is
 * the caller's tag, reported by tmem_pool_info.
 *
 * Returns the pool id (0..MAX_POOLS-1); -E_INVAL for bad flags, a zero uuid on
 * a shared pool, a domain out of range, or a shared uuid the same owner has
 * with other flags; -E_NOSPC when the table is full; -E_NOMEM if tmem_init fails.
 */
export function tmem_new_pool(flags: u32, u0: u32, u1: u32, u2: u32, u3: u32, domain: u32, owner: u32): i32 {
  if ((flags & ~(TMEM_POOL_PERSIST | TMEM_POOL_SHARED)) != 0) return -E_INVAL;
  if (domain >= MAX_DOMAINS) return -E_INVAL;
  const shared = (flags & TMEM_POOL_SHARED) != 0;
  if (shared && (u0 | u1 | u2 | u3) == 0) return -E_INVAL;
  if (!shared && (u0 | u1 | u2 | u3) != 0) return -E_INVAL;
  const st = tmem_init();
  if (st < 0) return st;
  const lock = ROOT_TMEM + offsetof<TmemRoot>("poolLock");
  mutexLock(lock, LV_TMEM_POOLS);
  // An ephemeral pool's domain must be allocated (tmem_free_domain relies on it).
  if (domain != 0 && (flags & TMEM_POOL_PERSIST) == 0
      && (atomic.load<u32>(ROOT_TMEM + offsetof<TmemRoot>("domainMap")) & (<u32>1 << domain)) == 0) {
    mutexUnlock(lock);
    return -E_INVAL;
  }
  let free: i32 = -1;
  for (let i: u32 = 0; i < MAX_POOLS; i++) {
    const p = poolAt(i);
    const s = atomic.load<u32>(changetype<usize>(p));
    if (s == POOL_FREE) { if (free < 0) free = <i32>i; continue; }
    if (shared && s == POOL_ALIVE && (p.flags & TMEM_POOL_SHARED) != 0 && p.owner == owner
        && p.uuid0 == u0 && p.uuid1 == u1 && p.uuid2 == u2 && p.uuid3 == u3) {
      if (p.flags != flags) { mutexUnlock(lock); return -E_INVAL; }
      p.refcount++;
      mutexUnlock(lock);
      return <i32>poolHandle(i);
    }
  }
  if (free < 0) { mutexUnlock(lock); return -E_NOSPC; }
  const p = poolAt(<u32>free);
  p.flags = flags;
  p.refcount = 1;
  p.domain = (flags & TMEM_POOL_PERSIST) != 0 ? 0 : domain;
  p.uuid0 = u0; p.uuid1 = u1; p.uuid2 = u2; p.uuid3 = u3;
  countZero(<u32>free);
  p.owner = owner;
  let gen = p.generation + 1;
  if ((gen & POOL_GEN_MASK) == 0) gen++;
  atomic.store<u32>(changetype<usize>(p) + offsetof<PoolDesc>("generation"), gen);
  atomic.store<u32>(changetype<usize>(p), POOL_ALIVE);
  mutexUnlock(lock);
  return <i32>poolHandle(<u32>free);
}

/**
 * Drop one reference to pool `pool` (tmem_destroy_pool). When it was the
 * last, the pool turns DYING: puts are refused from now on, and the caller
 * must drain it (tmem_pool_drain until 0) and then call tmem_pool_release.
 * Returns 1 if the caller must drain and release, 0 if other references
 * remain, -E_INVAL for a pool that is not alive.
 */
export function tmem_destroy_pool(h: u32): i32 {
  const pool = poolSlot(h);
  if (pool >= MAX_POOLS) return -E_INVAL;
  const lock = ROOT_TMEM + offsetof<TmemRoot>("poolLock");
  mutexLock(lock, LV_TMEM_POOLS);
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) != POOL_ALIVE) { mutexUnlock(lock); return -E_INVAL; }
  ustore32(changetype<usize>(p) + offsetof<PoolDesc>("refcount"), p.refcount - 1);
  if (p.refcount > 0) { mutexUnlock(lock); return 0; }
  atomic.store<u32>(changetype<usize>(p), POOL_DYING);
  mutexUnlock(lock);
  return 1;
}

/**
 * Free the slot of a DYING pool once it is drained. Returns 0, -E_BUSY if
 * pages remain (drain again), -E_INVAL if the pool is not dying.
 */
export function tmem_pool_release(h: u32): i32 {
  const pool = poolSlot(h);
  if (pool >= MAX_POOLS) return -E_INVAL;
  const lock = ROOT_TMEM + offsetof<TmemRoot>("poolLock");
  mutexLock(lock, LV_TMEM_POOLS);
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) != POOL_DYING) { mutexUnlock(lock); return -E_INVAL; }
  if (countSum(pool, C_PAGES) != 0) { mutexUnlock(lock); return -E_BUSY; }
  atomic.store<u32>(changetype<usize>(p), POOL_FREE);
  mutexUnlock(lock);
  return 0;
}

/**
 * Allocate an LRU domain for a backend instance that evicts. Returns 1..15,
 * or -E_NOSPC when all are taken.
 */
export function tmem_new_domain(): i32 {
  const st = tmem_init();
  if (st < 0) return st;
  const p = ROOT_TMEM + offsetof<TmemRoot>("domainMap");
  for (;;) {
    const m = atomic.load<u32>(p) | 1;
    const free = ~m;
    if (free == 0 || ctz<u32>(free) >= MAX_DOMAINS) return -E_NOSPC;
    const d = ctz<u32>(free);
    if (atomic.cmpxchg<u32>(p, m & ~<u32>1, (m | (<u32>1 << d)) & ~<u32>1) == (m & ~<u32>1)) return <i32>d;
  }
  return -E_NOSPC; // unreachable
}

/**
 * Give LRU domain `d` back. Returns 0, -E_BUSY while a pool uses it or pages
 * remain on its list (destroy its pools first), -E_INVAL if it is not allocated.
 */
export function tmem_free_domain(d: u32): i32 {
  if (d == 0 || d >= MAX_DOMAINS) return -E_INVAL;
  const p = ROOT_TMEM + offsetof<TmemRoot>("domainMap");
  const bit: u32 = <u32>1 << d;
  // Under the pool-table lock no pool can be created with this domain
  // (tmem_new_pool checks the domain is allocated under the same lock), and
  // a page joins an LRU only through a live pool of its domain: with no such
  // pool, the count read under the domain's own lock cannot grow after it.
  const lock = ROOT_TMEM + offsetof<TmemRoot>("poolLock");
  mutexLock(lock, LV_TMEM_POOLS);
  if ((atomic.load<u32>(p) & bit) == 0) { mutexUnlock(lock); return -E_INVAL; }
  for (let i: u32 = 0; i < MAX_POOLS; i++) {
    const q = poolAt(i);
    if (atomic.load<u32>(changetype<usize>(q)) != POOL_FREE && q.domain == d) { mutexUnlock(lock); return -E_BUSY; }
  }
  const dom = domainAt(d);
  mutexLock(changetype<usize>(dom), LV_LRU);
  const busy = dom.count != 0;
  mutexUnlock(changetype<usize>(dom));
  if (busy) { mutexUnlock(lock); return -E_BUSY; }
  atomic.and<u32>(p, ~bit);
  mutexUnlock(lock);
  return 0;
}

// ══ Put / get / flush ══

// @ts-ignore: decorator
@inline function poolAlive(pool: u32): bool {
  return pool < MAX_POOLS && atomic.load<u32>(changetype<usize>(poolAt(pool))) == POOL_ALIVE;
}

/**
 * Insert (pool, oid, index) → (pampdLo, pampdHi, meta) (tmem_put). A
 * duplicate put replaces: the old descriptor leaves the index first and its
 * pampd is written to the out area for the caller to free.
 *
 * With `noReplace` != 0 an existing page wins instead: nothing changes and
 * the result is -E_EXIST (used when draining a backend into another, so a
 * newer store that raced ahead is never overwritten by the older copy).
 *
 * Returns 1 if an old copy was replaced and its OutRecord written (an all-zero
 * record when the old one is pinned: its last reader frees it), 0 if the key
 * was new; -E_INVAL for a pool that is not alive (or is being destroyed);
 * -E_NOMEM when no descriptor can be allocated; -E_EXIST (noReplace only).
 * On any error nothing changed.
 */
export function tmem_put(h: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32,
                         pampdLo: u32, pampdHi: u32, meta: u32, noReplace: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS) return -E_INVAL;
  const a = descAlloc();
  if (a == 0) return -E_NOMEM;
  // In flight until linked: a reclaim frees it if this Worker dies before (tmem_reclaim_slot).
  const cw = cacheWords();
  store<u32>(cw, a, 8);
  const oh = objectHash(pool, o0, o1, o2, o3, o4, o5);
  const b = bucketOf(oh, index);
  const headp = bucketHead(b);
  const lock = stripeLock(b);
  const d = desc(a);
  d.pool = h; d.index = index; d.meta = meta;
  d.oid0 = o0; d.oid1 = o1; d.oid2 = o2; d.oid3 = o3; d.oid4 = o4; d.oid5 = o5;
  d.pampdLo = pampdLo; d.pampdHi = pampdHi;
  let inc = ((d.flags >> DESC_INC_SHIFT) + 1) & DESC_INC_MASK;
  if (inc == 0) inc = 1;
  d.lruPrev = 0; d.lruNext = 0; d.bucket = b; d.refs = 0; d.flags = <u16>(inc << DESC_INC_SHIFT);
  mutexLock(lock, LV_STRIPE);
  // The pool state is read under the stripe lock: a destroy marks DYING
  // before it drains, and its drain takes this lock, so we either land
  // before the drain (and are drained) or see DYING.
  const p = poolAt(pool);
  // ALIVE and still the pool the handle named: a put that waited here while
  // its pool was destroyed and the slot reused must not land in the new one.
  if (atomic.load<u32>(changetype<usize>(p)) != POOL_ALIVE || poolSlot(h) != pool) {
    mutexUnlock(lock);
    store<u32>(cw, 0, 8);
    descFree(a);
    return -E_INVAL;
  }
  let replaced: i32 = 0;
  let prevp = headp;
  let cur = load<u32>(headp);
  while (cur != 0) {
    const c = desc(cur);
    if (sameKey(c, h, o0, o1, o2, o3, o4, o5, index)) {
      if (noReplace != 0) {
        mutexUnlock(lock);
        store<u32>(cw, 0, 8);
        descFree(a);
        return -E_EXIST;
      }
      // Off the LRU first: taking its lock is a commit point, and nothing
      // under the stripe lock has changed yet (robust.ts).
      lruRemove(cur);
      ustore32(prevp, c.next);
      const rec = outBase();
      if (retire(cur, rec) == 0) {
        store<u64>(rec, 0); store<u64>(rec, 0, 8);
      }
      replaced = 1;
      break;
    }
    prevp = <usize>cur + offsetof<PageDesc>("next");
    cur = c.next;
  }
  d.next = load<u32>(headp);
  ustore32(headp, a);
  // No longer in flight, in the same section as the link: after any rollback
  // "in flight" means "never linked" (a reclaim frees it without looking).
  ustore32(cw + 8, 0);
  countAdd(pool, C_PAGES, 1);
  countAdd(pool, C_PUTS, 1);
  // A commit point: the page is indexed and counted, not yet on the LRU.
  if (p.domain != 0) lruAddHead(domainAt(p.domain), a);
  mutexUnlock(lock);
  if (replaced != 0) descTrim();
  return replaced;
}

/**
 * Look up (pool, oid, index) (tmem_get). `mode`: GET_POLICY removes the page
 * iff the pool is private and ephemeral (exclusive get); GET_AND_FREE always
 * removes; GET_KEEP never removes. A kept page is PINNED: its storage stays
 * valid until tmem_unpin(pin), even if another Worker flushes it meanwhile.
 *
 * Returns 1 on a hit with OutRecord {pampdLo, pampdHi, meta, pin} (pin = 0
 * when the page was removed: the caller now owns the storage and must free
 * it), 0 on a miss, -E_INVAL for a bad pool or mode.
 */
export function tmem_get(h: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32, mode: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS || mode > GET_KEEP) return -E_INVAL;
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) == POOL_FREE) return -E_INVAL;
  let remove = mode == GET_AND_FREE;
  if (mode == GET_POLICY) remove = (p.flags & (TMEM_POOL_PERSIST | TMEM_POOL_SHARED)) == 0;
  const oh = objectHash(pool, o0, o1, o2, o3, o4, o5);
  const b = bucketOf(oh, index);
  const headp = bucketHead(b);
  const lock = stripeLock(b);
  mutexLock(lock, LV_STRIPE);
  let prevp = headp;
  let cur = load<u32>(headp);
  while (cur != 0) {
    const c = desc(cur);
    if (sameKey(c, h, o0, o1, o2, o3, o4, o5, index)) {
      const rec = outBase();
      if (remove) {
        lruRemove(cur);
        ustore32(prevp, c.next);
        if (retire(cur, rec) == 0) {
          // Pinned by another reader: it keeps the storage alive; we read it too.
          // Rare (a shared page got and removed at once): report a miss.
          mutexUnlock(lock);
          return 0;
        }
        store<u32>(rec, 0, 12);
      } else {
        dset16(cur, D_REFS, c.refs + 1);
        const pin = cur | ((<u32>c.flags >> DESC_INC_SHIFT) & DESC_INC_MASK);
        // The pin in flight: a reclaim drops it if this Worker dies before its unpin.
        ustore32(cacheWords() + 12, pin);
        store<u32>(rec, c.pampdLo);
        store<u32>(rec, c.pampdHi, 4);
        store<u32>(rec, c.meta, 8);
        store<u32>(rec, pin, 12);
        lruTouch(cur);
      }
      mutexUnlock(lock);
      if (remove) descTrim();
      return 1;
    }
    prevp = <usize>cur + offsetof<PageDesc>("next");
    cur = c.next;
  }
  mutexUnlock(lock);
  return 0;
}

/**
 * Release a pin taken by tmem_get(GET_KEEP). Returns 1 when the page had been
 * removed meanwhile and this was the last pin: its OutRecord is written and
 * the caller must free the storage; 0 otherwise; -E_INVAL for a bad pin:
 * not a pinned descriptor, or a stale pin (its descriptor was reused since:
 * the incarnation in its low bits differs).
 */
export function tmem_unpin(pin: u32): i32 {
  const inc = pin & DESC_INC_MASK;
  const a = pin & ~(DESC_SIZE - 1);
  if (!ready() || inc == 0 || <usize>a < framesBase || <usize>a >= framesBase + (<usize>nrFrames << 12)) return -E_INVAL;
  // Only a descriptor frame's words are read: a forged address elsewhere is refused.
  if (!isDescFrame(a)) return -E_INVAL;
  const d = desc(a);
  const lock = stripeLock(d.bucket);
  mutexLock(lock, LV_STRIPE);
  if (d.refs == 0 || ((<u32>d.flags >> DESC_INC_SHIFT) & DESC_INC_MASK) != inc) { mutexUnlock(lock); return -E_INVAL; }
  dset16(a, D_REFS, d.refs - 1);
  if (load<u32>(cacheWords(), 12) == pin) ustore32(cacheWords() + 12, 0);
  if (d.refs == 0 && (d.flags & DESC_DEAD) != 0) {
    const rec = outBase();
    store<u32>(rec, d.pampdLo);
    store<u32>(rec, d.pampdHi, 4);
    store<u32>(rec, d.meta, 8);
    store<u32>(rec, d.pool, 12);
    mutexUnlock(lock);
    descFree(a);
    descTrim();
    return 1;
  }
  mutexUnlock(lock);
  return 0;
}

/**
 * Remove (pool, oid, index) (tmem_flush_page). Returns 1 if found and its
 * OutRecord written (storage to free), 2 if found but pinned (the last
 * reader frees it), 0 if absent, -E_INVAL for a bad pool.
 */
export function tmem_flush_page(h: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, index: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS) return -E_INVAL;
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) == POOL_FREE) return -E_INVAL;
  const oh = objectHash(pool, o0, o1, o2, o3, o4, o5);
  const b = bucketOf(oh, index);
  const headp = bucketHead(b);
  const lock = stripeLock(b);
  mutexLock(lock, LV_STRIPE);
  let prevp = headp;
  let cur = load<u32>(headp);
  while (cur != 0) {
    const c = desc(cur);
    if (sameKey(c, h, o0, o1, o2, o3, o4, o5, index)) {
      lruRemove(cur);
      ustore32(prevp, c.next);
      const freed = retire(cur, outBase());
      mutexUnlock(lock);
      descTrim();
      countAdd(pool, C_FLUSHES, 1);
      return freed == 1 ? 1 : 2;
    }
    prevp = <usize>cur + offsetof<PageDesc>("next");
    cur = c.next;
  }
  mutexUnlock(lock);
  return 0;
}

/**
 * Remove up to `max` pages of object (pool, oid) (tmem_flush_object),
 * writing an OutRecord for each whose storage the caller must free. Scans
 * the object's stripe: nbuckets / NSTRIPES chains.
 * Returns the number of pages removed (call again while it equals `max`),
 * -E_INVAL for a bad pool or max.
 */
export function tmem_flush_object(h: u32, o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, max: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS || max == 0 || max > (OUT_BYTES - 4) / OUT_RECORD) return -E_INVAL;
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) == POOL_FREE) return -E_INVAL;
  const oh = objectHash(pool, o0, o1, o2, o3, o4, o5);
  const stripe = oh & STRIPE_MASK;
  const nb: u32 = <u32>1 << root().bucketBits;
  drainRemoved = 0;
  drainWritten = 0;
  drainStripe(stripe, nb, h, true, o0, o1, o2, o3, o4, o5, max);
  countAdd(pool, C_FLUSHES, <i32>drainRemoved);
  // Callers read `written` records; report removals so they know when to stop.
  store<u32>(outBase() + OUT_BYTES - 4, drainWritten);
  return <i32>drainRemoved;
}

/** Pages removed and OutRecords written by the drainStripe calls of one operation (per instance). */
let drainRemoved: u32 = 0;
let drainWritten: u32 = 0;

/**
 * Under stripe `stripe`'s lock, unlink and retire the pages of pool handle `h` (only
 * those of object o0..o5 when `byObject`) from the stripe's buckets, until
 * drainRemoved reaches `max`; each retire may append an OutRecord at
 * drainWritten. The caller zeroes drainRemoved/drainWritten before its first call.
 */
function drainStripe(stripe: u32, nb: u32, h: u32, byObject: bool,
                     o0: u32, o1: u32, o2: u32, o3: u32, o4: u32, o5: u32, max: u32): void {
  const lock = stripeLock(stripe);
  let removed = drainRemoved, written = drainWritten;
  mutexLock(lock, LV_STRIPE);
  for (let b = stripe; b < nb && removed < max; b += NSTRIPES) {
    const headp = bucketHead(b);
    let prevp = headp;
    let cur = load<u32>(headp);
    while (cur != 0 && removed < max) {
      const c = desc(cur);
      const next = c.next;
      if (byObject ? sameObject(c, h, o0, o1, o2, o3, o4, o5) : c.pool == h) {
        lruRemove(cur);
        ustore32(prevp, next);
        written += retire(cur, outBase() + <usize>written * OUT_RECORD);
        removed++;
        // Consistent again (one page fully removed): keep the undo log short.
        ucommit();
      } else {
        prevp = <usize>cur + offsetof<PageDesc>("next");
      }
      cur = next;
    }
  }
  mutexUnlock(lock);
  descTrim();
  drainRemoved = removed;
  drainWritten = written;
}

/**
 * Remove up to `max` pages of pool `pool` (any state but free), for destroy
 * and invalidate-area, writing OutRecords (count in the last word of the out
 * area, as tmem_flush_object). Returns pages removed; 0 when the pool is
 * empty; -E_INVAL for a bad pool or max.
 */
export function tmem_pool_drain(h: u32, max: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS || max == 0 || max > (OUT_BYTES - 4) / OUT_RECORD) return -E_INVAL;
  const p = poolAt(pool);
  if (atomic.load<u32>(changetype<usize>(p)) == POOL_FREE) return -E_INVAL;
  const nb: u32 = <u32>1 << root().bucketBits;
  drainRemoved = 0;
  drainWritten = 0;
  for (let s: u32 = 0; s < NSTRIPES && drainRemoved < max; s++) {
    if ((s & 31) == 0 && countSum(pool, C_PAGES) == 0) break;
    drainStripe(s, nb, h, false, 0, 0, 0, 0, 0, 0, max);
  }
  countAdd(pool, C_FLUSHES, <i32>drainRemoved);
  store<u32>(outBase() + OUT_BYTES - 4, drainWritten);
  return <i32>drainRemoved;
}

/**
 * Copy the keys of up to `max` pages of `pool` as ScanRecords {pool, index,
 * oid[6]}, starting at bucket `cursor`; nothing is removed. Returns the count;
 * the next cursor is in the last word of the out area (nbuckets = done).
 * A chain is never split: if the next chain does not fit, the scan stops
 * before it (unless nothing was written yet, then it is cut).
 */
export function tmem_pool_scan(h: u32, cursor: u32, max: u32): i32 {
  const pool = poolSlot(h);
  if (!ready() || pool >= MAX_POOLS || max == 0 || max > (OUT_BYTES - 4) / SCAN_RECORD) return -E_INVAL;
  const nb: u32 = <u32>1 << root().bucketBits;
  let n: u32 = 0;
  let b = cursor;
  const out = outBase();
  for (; b < nb; b++) {
    const lock = stripeLock(b);
    mutexLock(lock, LV_STRIPE);
    let cnt: u32 = 0;
    let cur = load<u32>(bucketHead(b));
    while (cur != 0) { if (desc(cur).pool == h) cnt++; cur = desc(cur).next; }
    if (cnt > max - n && n > 0) { mutexUnlock(lock); break; }
    cur = load<u32>(bucketHead(b));
    while (cur != 0 && n < max) {
      const c = desc(cur);
      if (c.pool == h) {
        const r = out + <usize>n * SCAN_RECORD;
        store<u32>(r, h); store<u32>(r, c.index, 4);
        store<u32>(r, c.oid0, 8); store<u32>(r, c.oid1, 12); store<u32>(r, c.oid2, 16);
        store<u32>(r, c.oid3, 20); store<u32>(r, c.oid4, 24); store<u32>(r, c.oid5, 28);
        n++;
      }
      cur = c.next;
    }
    mutexUnlock(lock);
    if (n >= max) { b++; break; }
  }
  store<u32>(out + OUT_BYTES - 4, b);
  return <i32>n;
}

/**
 * Evict up to `max` of the least recently used ephemeral pages of LRU domain
 * `domain`, writing an OutRecord {pampdLo, pampdHi, meta, pool} for each (the
 * caller frees the storage). Pinned pages and pages whose stripe is busy are
 * skipped (the LRU lock is held, so stripes are only try-locked), looking at
 * most 4 × max pages. Returns the number evicted; -E_INVAL for a bad domain.
 */
export function tmem_evict(domain: u32, max: u32): i32 {
  if (!ready() || domain == 0 || domain >= MAX_DOMAINS || max == 0 || max > (OUT_BYTES - 4) / OUT_RECORD) return -E_INVAL;
  const dom = domainAt(domain);
  let n: u32 = 0;
  let budget = max * 4;
  mutexLock(changetype<usize>(dom), LV_LRU);
  let a = dom.tail;
  while (a != 0 && n < max && budget-- > 0) {
    const d = desc(a);
    const prev = d.lruPrev;
    // d.bucket is fixed while d is on this LRU (we hold its lock); d.refs
    // changes only under the stripe lock, so it is read after the trylock.
    const lock = stripeLock(d.bucket);
    if (mutexTryLock(lock, LV_STRIPE)) {
      if (d.refs != 0) {
        mutexUnlock(lock);
      } else {
        chainUnlink(bucketHead(d.bucket), a);
        lruUnlinkLocked(dom, a);
        const slot = d.pool & (MAX_POOLS - 1);
        countAdd(slot, C_PAGES, -1);
        countAdd(slot, C_FLUSHES, 1);
        countAdd(slot, C_EVICTIONS, 1);
        const rec = outBase() + <usize>n * OUT_RECORD;
        store<u32>(rec, d.pampdLo);
        store<u32>(rec, d.pampdHi, 4);
        store<u32>(rec, d.meta, 8);
        store<u32>(rec, d.pool, 12);
        // Freed inside the stripe section: a rollback takes back the unlink and the free together.
        descFree(a);
        mutexUnlock(lock);
        n++;
      }
    }
    a = prev;
  }
  mutexUnlock(changetype<usize>(dom));
  descTrim();
  return <i32>n;
}

// ══ Statistics ══

/**
 * Write pool `pool`'s descriptor words (16 × u32, PoolDesc order, with the
 * page, put, flush and eviction counts summed over every Worker) to the out
 * area. Returns 0, or -E_INVAL for an id out of range (a free pool reads
 * state 0 and zero counts).
 */
export function tmem_pool_info(h: u32): i32 {
  // A slot (0..63, for enumeration) or a handle; a stale handle reads as a free pool.
  const pool = h < MAX_POOLS ? h : h & (MAX_POOLS - 1);
  if (h >= (<u32>1 << 16)) return -E_INVAL;
  const o = outBase();
  memory.copy(o, changetype<usize>(poolAt(pool)), 64);
  const stale = h >= MAX_POOLS && poolSlot(h) >= MAX_POOLS;
  if (stale) memory.fill(o, 0, 60);
  const free = stale || atomic.load<u32>(changetype<usize>(poolAt(pool))) == POOL_FREE;
  store<i32>(o + offsetof<PoolDesc>("infoPages"), free ? 0 : countSum(pool, C_PAGES));
  store<i32>(o + offsetof<PoolDesc>("infoPuts"), free ? 0 : countSum(pool, C_PUTS));
  store<i32>(o + offsetof<PoolDesc>("infoFlushes"), free ? 0 : countSum(pool, C_FLUSHES));
  store<i32>(o + offsetof<PoolDesc>("infoEvictions"), free ? 0 : countSum(pool, C_EVICTIONS));
  return 0;
}

/**
 * Write the core's counters to the out area as u32: [state, bucketBits,
 * descriptors in use (Σ pool pages), descFrames, tableFrames, DESC_SIZE, NSTRIPES, MAX_POOLS,
 * domainCount(1..15)...]. Returns 0.
 */
export function tmem_core_info(): i32 {
  const r = root();
  const o = outBase();
  store<u32>(o, atomic.load<u32>(changetype<usize>(r)));
  store<u32>(o, r.bucketBits, 4);
  // Descriptors in use = pages indexed in all pools (a removed descriptor that
  // a reader still pins is not counted): no shared counter on the hot path.
  let inUse: u32 = 0;
  for (let i: u32 = 0; i < MAX_POOLS; i++) {
    if (atomic.load<u32>(changetype<usize>(poolAt(i))) != POOL_FREE) inUse += <u32>countSum(i, C_PAGES);
  }
  store<u32>(o, inUse, 8);
  store<u32>(o, atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")), 12);
  store<u32>(o, r.tableFrames, 16);
  store<u32>(o, DESC_SIZE, 20);
  store<u32>(o, NSTRIPES, 24);
  store<u32>(o, MAX_POOLS, 28);
  for (let d: u32 = 0; d < MAX_DOMAINS; d++) store<u32>(o + 32 + (<usize>d << 2), domainAt(d).count);
  return 0;
}

/** Address of the frontend area in ROOT_TMEM (bytes FRONTEND_OFF..16383), for src/tmem/shared.ts. */
export function tmem_frontend_area(): usize {
  return ROOT_TMEM + FRONTEND_OFF;
}

/** Address of this Worker's out area. */
export function tmem_out_area(): usize {
  return outBase();
}


// ══ Consistency check (tests; call it quiescent: no other Worker inside tmem) ══

/**
 * Walk the whole index and every LRU domain, bounded, and check what a
 * reclaim's rollback must leave intact: every chain's descriptors are whole
 * and hang on their own bucket, every LRU list's links agree both ways with
 * its count and the descriptors' ON_LRU flags, every live pool's summed page
 * count equals its indexed pages, and no stripe or LRU lock is held. With
 * `accounted` != 0 (no page pinned), also that every carved descriptor is
 * indexed or free (global stack or a slot's cache). Returns 0, or the first
 * failure: -1 a chain longer than the descriptors carved or a bad address,
 * -2 a descriptor on the wrong bucket or of a free pool, -3 LRU links
 * disagree, -4 LRU counts disagree, -5 a pool's page count is off, -6
 * descriptors unaccounted for, -7 a lock is held.
 */
export function tmem_check(accounted: u32): i32 {
  if (!ready()) return 0;
  const r = root();
  const carved = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("descFrames")) * DESCS_PER_FRAME;
  const nb: u32 = <u32>1 << r.bucketBits;
  // Per-pool tallies in this Worker's out area (u32[MAX_POOLS]).
  const tally = outBase();
  memory.fill(tally, 0, <usize>MAX_POOLS << 2);
  let live: u32 = 0;
  let onLru: u32 = 0;
  for (let s: u32 = 0; s < NSTRIPES; s++) if (atomic.load<u32>(stripeLock(s)) != 0) return -7;
  for (let b: u32 = 0; b < nb; b++) {
    let cur = load<u32>(bucketHead(b));
    while (cur != 0) {
      if ((cur & (DESC_SIZE - 1)) != 0 || <usize>cur < framesBase || live >= carved) return -1;
      const d = desc(cur);
      const slot = d.pool & (MAX_POOLS - 1);
      if (d.bucket != b || poolSlot(d.pool) != slot || atomic.load<u32>(changetype<usize>(poolAt(slot))) == POOL_FREE) return -2;
      if ((d.flags & DESC_DEAD) != 0) return -2;
      if ((d.flags & DESC_ON_LRU) != 0) onLru++;
      store<u32>(tally + (<usize>slot << 2), load<u32>(tally + (<usize>slot << 2)) + 1);
      live++;
      cur = d.next;
    }
  }
  let listed: u32 = 0;
  const dmap = atomic.load<u32>(changetype<usize>(r) + offsetof<TmemRoot>("domainMap"));
  for (let dd: u32 = 1; dd < MAX_DOMAINS; dd++) {
    const dom = domainAt(dd);
    if (atomic.load<u32>(changetype<usize>(dom)) != 0) return -7;
    if ((dmap & (<u32>1 << dd)) == 0) continue;
    let prev: u32 = 0;
    let n: u32 = 0;
    let a = dom.head;
    while (a != 0) {
      if ((a & (DESC_SIZE - 1)) != 0 || <usize>a < framesBase || n >= carved) return -1;
      const d = desc(a);
      if (d.lruPrev != prev || (d.flags & DESC_ON_LRU) == 0) return -3;
      prev = a;
      n++;
      a = d.lruNext;
    }
    if (dom.tail != prev) return -3;
    if (dom.count != n) return -4;
    listed += n;
  }
  if (listed != onLru) return -4;
  for (let p: u32 = 0; p < MAX_POOLS; p++) {
    if (atomic.load<u32>(changetype<usize>(poolAt(p))) == POOL_FREE) continue;
    if (<u32>countSum(p, C_PAGES) != load<u32>(tally + (<usize>p << 2))) return -5;
  }
  if (accounted == 0) return 0;
  let free: u32 = 0;
  let top = <u32>atomic.load<i64>(changetype<usize>(r) + offsetof<TmemRoot>("slabHead"));
  while (top != 0) {
    if (free >= carved) return -1;
    free++;
    top = load<u32>(<usize>top);
  }
  const slots = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  for (let s: u32 = 0; s < slots; s++) {
    let c = load<u32>(slotScratch(s) + SCRATCH_ROBUST + R_DESC_CACHE);
    while (c != 0) {
      if (free >= carved) return -1;
      free++;
      c = load<u32>(<usize>c);
    }
  }
  lastUnaccounted = <i32>carved - <i32>(live + free);
  return live + free == carved ? 0 : -6;
}

// ══ Remote-tier hooks (RAMster's tmem_replace; tmem_remote.ts uses them) ══
//
// A remotifier pins the coldest descriptors (take), ships their bytes
// elsewhere and, if nothing changed meanwhile, swaps the pampd for a remote
// one (replace), then unpins (release). The pin is the descriptor's refcount,
// so a concurrent flush or overwrite retires the descriptor (DESC_DEAD) and
// the replace fails: the newer operation always wins. Take records live in a
// buffer the caller names in shared memory (not the out area), so whoever
// recovers a dead remotifier can release its pins.
//
// Take record (TAKE_RECORD = 64 bytes):
//   0 pool │ 4 index │ 8..28 oid[6] │ 32 pampdLo │ 36 pampdHi │ 40 meta │
//   44 pin (descriptor address, 0 = released) │ 48 generation │ 52..63 0

// Under the stripe lock only the words a recovery relies on are logged (the
// pin count, the record's pin word, the swapped pampd); the rest of a record
// is written before its pin word publishes it (ustore* and the lock levels
// come from the import at the top).

// @ts-ignore: decorator
@inline const TAKE_RECORD: u32 = 64;
// @ts-ignore: decorator
@inline const TK_LO: usize = 32;
// @ts-ignore: decorator
@inline const TK_HI: usize = 36;
// @ts-ignore: decorator
@inline const TK_META: usize = 40;
// @ts-ignore: decorator
@inline const TK_PIN: usize = 44;
// @ts-ignore: decorator
@inline const TK_GEN: usize = 48;

/** Pin `a` (the caller holds its stripe lock) and write its take record at `rec`. */
function takeOne(a: u32, rec: usize, genAddr: usize): void {
  const d = desc(a);
  ustore16(<usize>a + offsetof<PageDesc>("refs"), d.refs + 1);
  let gen = atomic.add<u32>(genAddr, 1) + 1;
  if (gen == 0) gen = atomic.add<u32>(genAddr, 1) + 1;
  store<u32>(rec, d.pool); store<u32>(rec, d.index, 4);
  store<u32>(rec, d.oid0, 8); store<u32>(rec, d.oid1, 12); store<u32>(rec, d.oid2, 16);
  store<u32>(rec, d.oid3, 20); store<u32>(rec, d.oid4, 24); store<u32>(rec, d.oid5, 28);
  store<u32>(rec + TK_LO, d.pampdLo); store<u32>(rec + TK_HI, d.pampdHi); store<u32>(rec + TK_META, d.meta);
  store<u32>(rec + TK_GEN, gen); store<u32>(rec, 0, 52); store<u64>(rec, 0, 56);
  ustore32(rec + TK_PIN, a);
}

/**
 * Pin up to `max` of the least recently used unpinned descriptors of LRU
 * domain `domain` whose meta has none of the bits `skipMeta`, writing one
 * take record each at `buf` (a generation from the u32 counter at `genAddr`
 * each); the LRU order is left alone. Looks at most 16 × max descriptors;
 * stripes are only try-locked (the LRU lock is held). Returns the count;
 * -E_INVAL for a bad domain or max.
 */
export function tmem_take_lru(domain: u32, max: u32, buf: usize, genAddr: usize, skipMeta: u32): i32 {
  if (!ready() || domain == 0 || domain >= MAX_DOMAINS || max == 0 || max > PAGE_SIZE / TAKE_RECORD) return -E_INVAL;
  const dom = domainAt(domain);
  let n: u32 = 0;
  let budget = max * 16;
  mutexLock(changetype<usize>(dom), LV_LRU);
  let a = dom.tail;
  while (a != 0 && n < max && budget-- > 0) {
    const d = desc(a);
    const prev = d.lruPrev;
    if ((d.meta & skipMeta) == 0) {
      const lock = stripeLock(d.bucket);
      if (mutexTryLock(lock, LV_STRIPE)) {
        if (d.refs == 0) { takeOne(a, buf + <usize>n * TAKE_RECORD, genAddr); n++; }
        mutexUnlock(lock);
      }
    }
    a = prev;
  }
  mutexUnlock(changetype<usize>(dom));
  return <i32>n;
}

/**
 * Pin up to `max` unpinned descriptors of the PERSISTENT pools owned by
 * `owner` whose meta satisfies (meta & maskMeta) == wantMeta, visiting at
 * most `maxBuckets` buckets from the clock hand at the u32 `cursorAddr`
 * (advanced and wrapped; persistent pages have no LRU, so this is a clock
 * order). Records as tmem_take_lru. Returns the count; -E_INVAL for bad args.
 */
export function tmem_take_scan(owner: u32, max: u32, buf: usize, genAddr: usize, cursorAddr: usize,
                               maskMeta: u32, wantMeta: u32, maxBuckets: u32): i32 {
  if (!ready() || max == 0 || max > PAGE_SIZE / TAKE_RECORD || maxBuckets == 0) return -E_INVAL;
  const nb: u32 = <u32>1 << root().bucketBits;
  let b = atomic.load<u32>(cursorAddr) & (nb - 1);
  let n: u32 = 0;
  for (let seen: u32 = 0; seen < maxBuckets && seen < nb && n < max; seen++) {
    const lock = stripeLock(b);
    mutexLock(lock, LV_STRIPE);
    let cur = load<u32>(bucketHead(b));
    while (cur != 0 && n < max) {
      const c = desc(cur);
      const slot = c.pool & (MAX_POOLS - 1);
      const p = poolAt(slot);
      if (c.refs == 0 && (c.meta & maskMeta) == wantMeta && p.owner == owner && (p.flags & TMEM_POOL_PERSIST) != 0
          && atomic.load<u32>(changetype<usize>(p)) == POOL_ALIVE) {
        takeOne(cur, buf + <usize>n * TAKE_RECORD, genAddr);
        n++;
      }
      cur = c.next;
    }
    mutexUnlock(lock);
    b = (b + 1) & (nb - 1);
  }
  atomic.store<u32>(cursorAddr, b);
  return <i32>n;
}

/**
 * RAMster's tmem_replace: swap the pampd of the descriptor pinned by take
 * record `rec` for (lo, hi, meta), only if it is still in the index
 * (not retired), no other reader pins it, and its pampd is the one the
 * record saw: a concurrent overwrite, flush, destroy or read wins. With `offLru` the descriptor also leaves
 * its LRU (a remote page is not evicted locally). The pin stays (release it).
 * Returns 1 if replaced (the record now holds the new pampd), 0 if the entry
 * changed, -E_INVAL when the record holds no pin.
 */
export function tmem_replace_pinned(rec: usize, lo: u32, hi: u32, meta: u32, offLru: u32): i32 {
  const a = load<u32>(rec + TK_PIN);
  if (!ready() || a == 0 || (a & (DESC_SIZE - 1)) != 0) return -E_INVAL;
  const d = desc(a);
  const lock = stripeLock(d.bucket);
  mutexLock(lock, LV_STRIPE);
  if (d.refs == 0) { mutexUnlock(lock); return -E_INVAL; }
  // Another reader's pin (refs > 1) may be copying the old bytes out: it wins too.
  if (d.refs != 1 || (d.flags & DESC_DEAD) != 0 || d.pampdLo != load<u32>(rec + TK_LO) || d.pampdHi != load<u32>(rec + TK_HI)
      || d.meta != load<u32>(rec + TK_META)) {
    mutexUnlock(lock);
    return 0;
  }
  ustore32(<usize>a + offsetof<PageDesc>("pampdLo"), lo);
  ustore32(<usize>a + offsetof<PageDesc>("pampdHi"), hi);
  ustore32(<usize>a + offsetof<PageDesc>("meta"), meta);
  ustore32(rec + TK_LO, lo); ustore32(rec + TK_HI, hi); ustore32(rec + TK_META, meta);
  if (offLru != 0) lruRemove(a);
  mutexUnlock(lock);
  return 1;
}

/**
 * Drop the pin of take record `rec` and clear it (so a second release, e.g.
 * by a recovery, does nothing). Returns 1 when the descriptor had been
 * retired meanwhile and this was its last pin: its OutRecord is written and
 * the caller frees the storage; 0 otherwise (also for a cleared record).
 */
export function tmem_take_release(rec: usize): i32 {
  const a = load<u32>(rec + TK_PIN);
  if (!ready() || a == 0 || (a & (DESC_SIZE - 1)) != 0) return 0;
  const d = desc(a);
  const lock = stripeLock(d.bucket);
  mutexLock(lock, LV_STRIPE);
  if (atomic.load<u32>(rec + TK_PIN) != a || d.refs == 0) { mutexUnlock(lock); return 0; }
  ustore16(<usize>a + offsetof<PageDesc>("refs"), d.refs - 1);
  ustore32(rec + TK_PIN, 0);
  if (d.refs == 0 && (d.flags & DESC_DEAD) != 0) {
    const o = outBase();
    store<u32>(o, d.pampdLo); store<u32>(o, d.pampdHi, 4); store<u32>(o, d.meta, 8); store<u32>(o, d.pool, 12);
    mutexUnlock(lock);
    descFree(a);
    return 1;
  }
  mutexUnlock(lock);
  return 0;
}

/** Descriptors carved but neither indexed nor free, as the last tmem_check(1) counted (tests: a bounded leak). */
let lastUnaccounted: i32 = 0;

/** The unaccounted-descriptor count of the last tmem_check(1) in this Worker (negative: more found than carved). */
export function tmem_check_unaccounted(): i32 {
  return lastUnaccounted;
}
