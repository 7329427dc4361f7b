// SPDX-License-Identifier: MIT
//
// tmem_lru.ts: the LRU domains' lists of ephemeral page descriptors, and
// eviction from their cold end (tmem_evict).
//
// It is not a policy: a backend decides when to evict and how many pages.
// This file keeps the order and removes the coldest unpinned pages.
//
// Key idea: a domain is one doubly linked list per backend instance that
// evicts. A page joins it at put, moves to the head on a kept get, and
// leaves at removal. Its links are words of the PageDesc, so joining costs
// no allocation. Eviction walks from the tail while it holds the domain
// lock. That is the reverse of the usual order, so it only TRY-locks each
// page's stripe and skips busy and pinned pages (a bounded look: 4 × max).
//
// Guarantees: a descriptor is on its domain's list iff DESC_ON_LRU is set,
// and the count matches the list (tmem_check verifies both). An evicted
// page's pampd is handed back exactly once, in an OutRecord, and its
// descriptor is freed in the same stripe section that unlinks it, so a
// rollback undoes both together.
//
// Concurrency: lock ordering: stripe lock → LRU-domain lock (LV_LRU).
// lruAddHead, lruRemove and lruTouch are called with the page's stripe lock
// held and take the domain lock. The *Locked helpers expect the caller to
// hold it. tmem_evict holds the domain lock and try-locks stripes.
//
// See also: tmem.ts (the design essay; put/get/flush call these),
// tmem_take.ts (the remotifier walks the same lists), tmem_layout.ts
// (LruDomain).

import { E_INVAL, DEBUG } from "./common";
import { mutexLock, mutexTryLock, mutexUnlock, ustore32, LV_STRIPE, LV_LRU } from "./robust";
import {
  LruDomain, PageDesc, MAX_POOLS, MAX_DOMAINS, OUT_BYTES, OUT_RECORD, DESC_ON_LRU,
  C_PAGES, C_FLUSHES, C_EVICTIONS, D_LRU_PREV, D_LRU_NEXT, D_FLAGS, L_HEAD, L_TAIL, L_COUNT,
  countAdd, dset, dset16, desc, poolAt, domainAt, stripeLock, bucketHead, outBase, ready,
} from "./tmem_layout";
import { descFree, descTrim } from "./tmem_desc";

// ══ LRU (caller holds the descriptor's stripe lock; these take the domain lock) ══

export function lruAddHead(dom: LruDomain, a: u32): void {
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

export function lruRemove(a: u32): void {
  const d = desc(a);
  if ((d.flags & DESC_ON_LRU) == 0) return;
  const dom = domainAt(poolAt(d.pool & (MAX_POOLS - 1)).domain);
  mutexLock(changetype<usize>(dom), LV_LRU);
  lruUnlinkLocked(dom, a);
  mutexUnlock(changetype<usize>(dom));
}

export function lruTouch(a: u32): void {
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
