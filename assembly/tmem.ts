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
// API peculiarities: an object id is passed as one address, of its six
// words (an ObjectId: the host's is in this Worker's call record,
// tmem_layout.ts CALL_RECORD). Results are explicit codes (TMEM_PUT_*,
// TMEM_FLUSH_*) and go to this Worker's out area (scratchBase + SCRATCH_IO +
// PAGE_SIZE): single ops write one OutRecord, batch ops (flush object,
// drain, evict) write up to `max` records and return the count; keys of a
// scan are written as ScanRecords.
//
// Layout: ROOT_TMEM is drawn in tmem_layout.ts (TmemRoot, PoolDesc,
// LruDomain, PageDesc); page descriptors come from a slab of OWNER_TMEM
// frames (tmem_desc.ts: a global lock-free stack plus a per-Worker cache);
// the bucket table is a directory frame of pfns of table frames (frames are
// not contiguous).
//
// Concurrency: every export may be called concurrently from any attached
// Worker. lock ordering: pool-table lock → stripe lock → LRU-domain lock →
// (frame allocator, lock-free). Eviction walks an LRU while holding its lock
// and only TRY-locks stripes (the reverse order). The descriptor slab is a
// lock-free tagged stack like frames.ts, fronted by a per-Worker cache.
//
// Files: this one holds the index operations (put, get, unpin, flush
// page/object, drain, scan, statistics). The rest of the core is split one
// idea per file: tmem_layout.ts (constants, structures, per-Worker counters,
// out area, accessors), tmem_pool.ts (init, pools and LRU domains),
// tmem_desc.ts (descriptor slab, per-Worker cache, reap), tmem_lru.ts (LRU
// lists, tmem_evict), tmem_reclaim.ts (a dead Worker's slot), tmem_take.ts
// (the remote tier's hooks), tmem_check.ts (consistency check, tests).
// Imports run one way: layout ← desc ← lru ← tmem ← reclaim; pool, take and
// check sit beside tmem. No core file imports a backend.
//
// See also: src/tmem/core.ts (TypeScript API), src/zcache.ts (the backend),
// test/tmem*.test.ts, ../shared/reference/kernel.md §1.2.

import { ROOT_TMEM, E_INVAL, E_NOMEM, E_EXIST, E_NOSPC, E_FAULT, nrFrames, framesBase, scratchBase, SCRATCH_ROBUST, DEBUG } from "./common";
import { mutexLock, mutexUnlock, ustore32, ucommit, LV_STRIPE, R_PINS, PIN_SLOTS } from "./robust";
import {
  TmemRoot, PoolDesc, PageDesc, ObjectId, TMEM_POOL_PERSIST, TMEM_POOL_SHARED, MAX_POOLS, MAX_DOMAINS, NSTRIPES, STRIPE_MASK,
  POOL_FREE, POOL_ALIVE, GET_POLICY, GET_AND_FREE, GET_KEEP, FRONTEND_OFF, DESC_SIZE, DESC_DEAD,
  DESC_INC_SHIFT, DESC_INC_MASK, C_PAGES, C_PUTS, C_FLUSHES, C_EVICTIONS, D_REFS, D_FLAGS, OUT_BYTES, OUT_RECORD,
  SCAN_RECORD, POOL_GEN_SHIFT, countAdd, countSum, dset16, outBase, root, poolAt,
  poolSlot, domainAt, stripeLock, desc, bucketHead, ready, oidInMemory, CALL_RECORD,
  TMEM_PUT_NEW, TMEM_PUT_REPLACED, TMEM_PUT_REPLACED_PINNED, TMEM_FLUSH_ABSENT, TMEM_FLUSH_FREED, TMEM_FLUSH_PINNED,
} from "./tmem_layout";
import { descAlloc, descFree, descTrim, cacheWords, isDescFrame } from "./tmem_desc";
import { lruAddHead, lruRemove, lruTouch } from "./tmem_lru";
// The backends call eviction through the core's face, like put/get/flush:
// tmem.ts re-exports it (index.ts exports it through `export * from "./tmem"`).
export { tmem_evict } from "./tmem_lru";

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

// ══ Removal (caller holds the stripe lock of `a`'s bucket) ══

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

// ══ The pin table (this slot's robust area, robust.ts R_PINS) ══
//
// PIN_SLOTS words, each 0 or a pin this Worker holds. Only this Worker
// writes its table, always inside the stripe section that counts the pin
// (get) or uncounts it (unpin), with logged stores; so at every instruction
// the table lists exactly the pins whose refs are counted, and a reclaim
// (tmem_reclaim_slot) drops each listed pin once, also when the reclaimer
// itself dies doing it (its section rolls back: the entry reappears).

/** Address of a free entry of this Worker's pin table, 0 when all PIN_SLOTS are taken. */
// @ts-ignore: decorator
@inline function pinFree(): usize {
  const t = scratchBase + SCRATCH_ROBUST + R_PINS;
  for (let i: u32 = 0; i < PIN_SLOTS; i++) {
    if (load<u32>(t + (<usize>i << 2)) == 0) return t + (<usize>i << 2);
  }
  return 0;
}

/** Address of the entry of this Worker's pin table that holds `pin` (non-zero), 0 when none does. */
// @ts-ignore: decorator
@inline function pinFind(pin: u32): usize {
  const t = scratchBase + SCRATCH_ROBUST + R_PINS;
  if (pin == 0 || t == SCRATCH_ROBUST + R_PINS) return 0;
  for (let i: u32 = 0; i < PIN_SLOTS; i++) {
    if (load<u32>(t + (<usize>i << 2)) == pin) return t + (<usize>i << 2);
  }
  return 0;
}

// ══ Put / get / flush ══

// @ts-ignore: decorator
@inline function poolAlive(pool: u32): bool {
  return pool < MAX_POOLS && atomic.load<u32>(changetype<usize>(poolAt(pool))) == POOL_ALIVE;
}

/**
 * Insert (pool, oid, index) → (pampdLo, pampdHi, meta) (tmem_put), the
 * object id being the ObjectId at address `oid`. A duplicate put replaces:
 * the old descriptor leaves the index first and its pampd is written to the
 * out area for the caller to free.
 *
 * With `noReplace` != 0 an existing page wins instead: nothing changes and
 * the result is -E_EXIST (used when draining a backend into another, so a
 * newer store that raced ahead is never overwritten by the older copy).
 *
 * Returns TMEM_PUT_NEW if the key was new; TMEM_PUT_REPLACED if an old copy
 * was replaced and its OutRecord written (the caller frees its storage);
 * TMEM_PUT_REPLACED_PINNED if the old copy was replaced while a reader had
 * it pinned (no record: its last unpin hands it back); -E_INVAL for a pool
 * that is not alive (or is being destroyed);
 * -E_NOMEM when no descriptor can be allocated; -E_EXIST (noReplace only);
 * -E_FAULT when `oid` is not an address in the memory. On any error nothing
 * changed.
 */
export function tmem_put(h: u32, oid: usize, index: u32, pampdLo: u32, pampdHi: u32, meta: u32, noReplace: u32): i32 {
  if (!oidInMemory(oid)) return -E_FAULT;
  const k = changetype<ObjectId>(oid);
  const o0 = k.w0, o1 = k.w1, o2 = k.w2, o3 = k.w3, o4 = k.w4, o5 = k.w5;
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
  let replaced: i32 = TMEM_PUT_NEW;
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
      replaced = retire(cur, outBase()) == 1 ? TMEM_PUT_REPLACED : TMEM_PUT_REPLACED_PINNED;
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
  if (replaced != TMEM_PUT_NEW) descTrim();
  return replaced;
}

/**
 * Look up (pool, oid, index) (tmem_get), the object id being the ObjectId at
 * address `oid`. `mode`: GET_POLICY removes the page
 * iff the pool is private and ephemeral (exclusive get); GET_AND_FREE always
 * removes; GET_KEEP never removes. A kept page is PINNED: its storage stays
 * valid until tmem_unpin(pin), even if another Worker flushes it meanwhile.
 *
 * Returns 1 on a hit with OutRecord {pampdLo, pampdHi, meta, pin} (pin = 0
 * when the page was removed: the caller now owns the storage and must free
 * it), 0 on a miss, -E_INVAL for a bad pool or mode, -E_NOSPC when the
 * page would stay pinned and this Worker already holds PIN_SLOTS pins
 * (robust.ts; nothing changed: unpin one first), -E_FAULT when `oid` is not
 * an address in the memory.
 */
export function tmem_get(h: u32, oid: usize, index: u32, mode: u32): i32 {
  if (!oidInMemory(oid)) return -E_FAULT;
  const k = changetype<ObjectId>(oid);
  const o0 = k.w0, o1 = k.w1, o2 = k.w2, o3 = k.w3, o4 = k.w4, o5 = k.w5;
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
        // Recorded in this slot's pin table in the section that counts it: a reclaim drops it if this Worker dies holding it.
        const entry = pinFree();
        if (entry == 0) { mutexUnlock(lock); return -E_NOSPC; }
        dset16(cur, D_REFS, c.refs + 1);
        const pin = cur | ((<u32>c.flags >> DESC_INC_SHIFT) & DESC_INC_MASK);
        ustore32(entry, pin);
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
 * one this Worker does not hold (never got, unpinned already, or got by
 * another Worker: each Worker drops its own pins), not a pinned descriptor,
 * or a stale pin (its descriptor was reused since: the incarnation in its
 * low bits differs).
 */
export function tmem_unpin(pin: u32): i32 {
  // Only a pin this Worker's table holds: another Worker's pin (the same
  // value when both pinned one page) stays that Worker's to drop.
  const entry = pinFind(pin);
  return entry == 0 ? -E_INVAL : unpinAt(pin, entry);
}

/**
 * Drop pin `pin`, recorded at pin-table entry `entry` (this Worker's, or a
 * dead Worker's for tmem_reclaim_slot), clearing the entry in the same
 * stripe section as the refs decrement: a death inside rolls both back, a
 * death after leaves both done, so a pin is dropped exactly once. Returns as
 * tmem_unpin; -E_INVAL (the entry left alone) for a pin that names no pinned
 * descriptor of its incarnation.
 */
export function unpinAt(pin: u32, entry: usize): i32 {
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
  ustore32(entry, 0);
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
 * Remove (pool, oid, index) (tmem_flush_page), the object id being the
 * ObjectId at address `oid`. Returns TMEM_FLUSH_FREED if found and its
 * OutRecord written (storage to free), TMEM_FLUSH_PINNED if found but pinned
 * (the last reader frees it), TMEM_FLUSH_ABSENT if absent, -E_INVAL for a
 * bad pool, -E_FAULT when `oid` is not an address in the memory.
 */
export function tmem_flush_page(h: u32, oid: usize, index: u32): i32 {
  if (!oidInMemory(oid)) return -E_FAULT;
  const k = changetype<ObjectId>(oid);
  const o0 = k.w0, o1 = k.w1, o2 = k.w2, o3 = k.w3, o4 = k.w4, o5 = k.w5;
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
      return freed == 1 ? TMEM_FLUSH_FREED : TMEM_FLUSH_PINNED;
    }
    prevp = <usize>cur + offsetof<PageDesc>("next");
    cur = c.next;
  }
  mutexUnlock(lock);
  return TMEM_FLUSH_ABSENT;
}

/**
 * Remove up to `max` pages of object (pool, oid) (tmem_flush_object), the
 * object id being the ObjectId at address `oid`, writing an OutRecord for
 * each whose storage the caller must free. Scans the object's stripe:
 * nbuckets / NSTRIPES chains.
 * Returns the number of pages removed (call again while it equals `max`),
 * -E_INVAL for a bad pool or max, -E_FAULT when `oid` is not an address in
 * the memory.
 */
export function tmem_flush_object(h: u32, oid: usize, max: u32): i32 {
  if (!oidInMemory(oid)) return -E_FAULT;
  const k = changetype<ObjectId>(oid);
  const o0 = k.w0, o1 = k.w1, o2 = k.w2, o3 = k.w3, o4 = k.w4, o5 = k.w5;
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

/** Address of this Worker's call record (tmem_layout.ts CALL_RECORD): where the host writes an object id. */
export function tmem_call_record(): usize {
  return scratchBase + CALL_RECORD;
}
