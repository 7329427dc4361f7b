// SPDX-License-Identifier: MIT
//
// tmem_pool.ts: the tmem core's set-up and its tables of pools and LRU
// domains: tmem_init (the bucket table), tmem_new_pool / tmem_destroy_pool /
// tmem_pool_release (a pool's life), tmem_new_domain / tmem_free_domain.
//
// It is not the index: no page is put, got or flushed here (tmem.ts), and a
// dying pool is drained by tmem_pool_drain there, between destroy and
// release. It never touches a page descriptor.
//
// Key idea: a pool is a slot of the fixed table PoolDesc[MAX_POOLS] at
// ROOT_TMEM, named by a handle that carries the slot's generation
// (tmem_layout.ts poolSlot), so a destroyed pool's handle never reaches the
// pool that reuses its slot. Destroy is two-phase, as the kernel's: the last
// reference turns the pool DYING (puts refused from then on, under the
// stripe lock that a put re-checks), the caller drains it, and release frees
// the slot only when its summed page count is 0. A shared pool is named by
// (owner, uuid) and reference-counted.
//
// Guarantees: a create either returns a fresh slot with zeroed counters and
// a new generation, or the existing shared pool with one more reference;
// a domain is given back only when no pool uses it and its list is empty.
// Trade-off: pool and domain operations serialise on one pool-table lock
// (they are rare: per mount, swapon and backend registration).
//
// Layout: TmemRoot, PoolDesc and LruDomain are drawn in tmem_layout.ts.
//
// Concurrency: every export may be called from any Worker at once. lock
// ordering: initLock and poolLock (LV_TMEM_POOLS) → a domain's LRU lock
// (tmem_free_domain reads its count under it); the domain bitmap is claimed
// lock-free by compare-and-swap.
//
// See also: tmem.ts (the design essay and the index), tmem_layout.ts,
// src/tmem/core.ts (newPool, destroyPool, newDomain, freeDomain).

import {
  ROOT_TMEM, PAGE_SIZE, OWNER_TMEM, E_INVAL, E_NOMEM, E_BUSY, E_NOSPC, nrFrames, pfnToAddress,
} from "./common";
import { frameAlloc, frameFree } from "./frames";
import { mutexLock, mutexUnlock, ustore32, LV_TMEM_POOLS, LV_LRU } from "./robust";
import {
  TmemRoot, PoolDesc, TMEM_POOL_PERSIST, TMEM_POOL_SHARED, MAX_POOLS, MAX_DOMAINS, BUCKETS_PER_FRAME_SHIFT,
  MIN_BUCKET_BITS, MAX_BUCKET_BITS, STATE_UNINIT, STATE_INITIALIZING, STATE_READY, POOL_FREE, POOL_ALIVE, POOL_DYING,
  POOL_GEN_MASK, C_PAGES, countSum, countZero, root, poolAt, poolSlot, poolHandle, domainAt,
} from "./tmem_layout";

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
