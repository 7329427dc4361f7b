// SPDX-License-Identifier: MIT
//
// tmem_check.ts: the tmem core's consistency check (tests only). It walks
// every chain, every LRU domain and every free list, with bounds, and
// reports the first broken invariant.
//
// It is not a repair: it changes nothing in shared memory. It writes only
// this Worker's out area and one per-instance counter. It is not safe under
// load either: call it quiescent, with no other Worker inside tmem.
//
// Key idea: the invariants a reclaim's rollback must leave intact are all
// countable. There is one live descriptor per chain entry on its own bucket,
// LRU links agree both ways with the counts and the ON_LRU flags, the summed
// page counts match the indexed pages, and (with no pins) every carved
// descriptor is indexed or free. So one bounded walk decides them all, and
// corrupt links end the walk with -1 instead of looping.
//
// See also: tmem_layout.ts (the structures it walks), test/robust.test.ts,
// test/reclaim-model.test.ts, test/faults.test.ts.

import { framesBase, SCRATCH_ROBUST, CTRL_BASE, CTRL_MAX_WORKERS_OFF, slotScratch } from "./common";
import { R_DESC_CACHE, R_PINS, PIN_SLOTS } from "./robust";
import { isDescFrame } from "./tmem_desc";
import {
  TmemRoot, PoolDesc, MAX_POOLS, MAX_DOMAINS, NSTRIPES, DESC_SIZE, DESCS_PER_FRAME, DESC_DEAD, DESC_ON_LRU,
  DESC_INC_SHIFT, DESC_INC_MASK,
  POOL_FREE, C_PAGES, countSum, root, poolAt, poolSlot, domainAt, stripeLock, desc, bucketHead, outBase, ready,
} from "./tmem_layout";

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
 * descriptors unaccounted for, -7 a lock is held, -8 more pin-table
 * entries name a descriptor than its pin count (the count also holds take
 * records' pins, which no table lists), or an entry names
 * no pinned descriptor of its incarnation (robust.ts R_PINS).
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
      // refs counts the pin-table entries naming d plus the pins held in take records (the remotifier's,
      // tmem_take.ts: outside any table, released by their holder or its recoverer), so entries never exceed it.
      if (pinsNaming(cur | ((<u32>d.flags >> DESC_INC_SHIFT) & DESC_INC_MASK)) > <u32>d.refs) return -8;
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
  // Every pin-table entry names a pinned descriptor of its incarnation (a dead one too: it left the chains).
  const slots = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  for (let s: u32 = 0; s < slots; s++) {
    const t = slotScratch(s) + SCRATCH_ROBUST + R_PINS;
    for (let i: u32 = 0; i < PIN_SLOTS; i++) {
      const pin = load<u32>(t + (<usize>i << 2));
      if (pin == 0) continue;
      const a = pin & ~(DESC_SIZE - 1);
      if (!isDescFrame(a)) return -8;
      const d = desc(a);
      if (d.refs == 0 || ((<u32>d.flags >> DESC_INC_SHIFT) & DESC_INC_MASK) != (pin & DESC_INC_MASK)) return -8;
    }
  }
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

/** Pin-table entries of every slot equal to `pin` (a live descriptor's refs must equal it). */
function pinsNaming(pin: u32): u32 {
  const slots = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  let n: u32 = 0;
  for (let s: u32 = 0; s < slots; s++) {
    const t = slotScratch(s) + SCRATCH_ROBUST + R_PINS;
    for (let i: u32 = 0; i < PIN_SLOTS; i++) if (load<u32>(t + (<usize>i << 2)) == pin) n++;
  }
  return n;
}

/** Descriptors carved but neither indexed nor free, as the last tmem_check(1) counted (tests: a bounded leak). */
let lastUnaccounted: i32 = 0;

/** The unaccounted-descriptor count of the last tmem_check(1) in this Worker (negative: more found than carved). */
export function tmem_check_unaccounted(): i32 {
  return lastUnaccounted;
}
