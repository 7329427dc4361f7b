// SPDX-License-Identifier: MIT
//
// tmem_take.ts: the remote tier's hooks into the index (RAMster's
// tmem_replace). A remotifier pins the coldest descriptors (take), ships
// their bytes elsewhere, swaps each pampd for a remote one if nothing
// changed meanwhile (replace), then unpins (release).
//
// It is not the remotifier: moving bytes and choosing the remote store are
// tmem_remote.ts's and src/ramster/'s jobs. This file only pins, swaps and
// unpins descriptors under their stripe locks.
//
// Key idea: the pin is the descriptor's own refcount, the same one a kept
// get takes. So a concurrent flush or overwrite retires the descriptor
// (DESC_DEAD) and the replace fails: the newer operation always wins.
// Take records live in a buffer that the caller names in shared memory (not
// the out area), so whoever recovers a dead remotifier can release its pins.
//
// Guarantees: a replace happens only on an indexed descriptor pinned by
// this record alone whose pampd is the one the record saw. A release clears
// its record, so releasing twice does nothing. The last unpin of a retired
// descriptor hands its pampd back exactly once.
//
// Concurrency: lock ordering as in tmem.ts. tmem_take_lru holds a domain's
// LRU lock and try-locks stripes. The other hooks take one stripe lock
// (tmem_replace_pinned with offLru then takes the LRU lock under it).
//
// See also: tmem_remote.ts (the caller), src/ramster/remotifier.ts,
// test/ramster-remotify.test.ts.

import { PAGE_SIZE, E_INVAL } from "./common";
import { mutexLock, mutexTryLock, mutexUnlock, ustore32, ustore16, LV_STRIPE, LV_LRU } from "./robust";
import {
  PageDesc, MAX_POOLS, MAX_DOMAINS, DESC_SIZE, DESC_DEAD, TMEM_POOL_PERSIST, POOL_ALIVE,
  root, poolAt, domainAt, stripeLock, desc, bucketHead, outBase, ready,
} from "./tmem_layout";
import { descFree } from "./tmem_desc";
import { lruRemove } from "./tmem_lru";

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
