// SPDX-License-Identifier: MIT
//
// lock.ts: the mutex every tmem structure in shared memory is guarded by.
//
// It is a futex mutex on one i32 word in shared memory, after Drepper's
// "Futexes Are Tricky" (mutex #2), made robust after the kernel's robust
// futexes: the word is 0 when unlocked, else
//
//   bits 0..1   state: 1 = locked, 2 = locked and maybe contended
//   bits 3..11  owner's Worker slot + 1 (0 = an instance that is not attached)
//   bits 12..31 low 20 bits of the owner slot's generation (frames.ts slotGen)
//
// It is not recursive and not fair: the critical sections it guards are
// short (a list splice, a counter update), never a compression.
//
// Key idea: take the lock with one cmpxchg of 0 to this instance's tag | 1
// when it is free (the tag is a wasm global computed at attach: the fast
// path is the same single cmpxchg as before), spin briefly, then mark it
// contended and sleep in atomic.wait in bounded slices. Unlock is one
// atomic xchg to 0; it notifies only when the old word said 2. After every
// slice a waiter compares the owner's generation with the slot's current
// one: a reclaim (pm.reclaim, after the Worker died) and every new attach of
// the slot bump it, so a lock whose owner is gone reads as dead and the
// waiter takes it over with one cmpxchg (FUTEX_OWNER_DIED). The takeover is
// counted (pmTakeovers, shared) and flagged to the taker (lockOwnerDied,
// this instance: lock_owner_died() returns and clears it), the
// EOWNERDEAD-style signal the host reads.
//
// What recovery can and cannot do: the lock itself is always recovered
// (no waiter waits on a reclaimed owner for longer than one slice). What the
// lock guarded: every wasm lock is taken through robust.ts, whose reclaim
// rolls back the stores its dead owner logged since the last commit point
// and releases the lock before any waiter can take it over; a section is as
// recoverable as its stores are logged. Lock by lock:
//
//   0. TmemCache's lock (src/cache, LV_CACHE = 2 in robust.ts): see that
//      file's essay for what its reclaim does.
//   1. frontend registration lock, instance-table lock, sync lock
//      (src/tmem/shared.ts): taken by TypeScript through lock_acquire, whose
//      binding (bindings/physmem.ts) uses lock_acquire_timed: a host wait
//      that cannot complete throws ETIMEDOUT after LOCK_HOST_TIMEOUT_MS, and a
//      takeover throws nothing but counts (EOWNERDEAD is reported by
//      pm.lockTakeovers). State: a publish writes the chain entries, then the
//      length, then bumps the generation: a death between those writes leaves
//      the entries of an unpublished chain visible to a reader that reads
//      the chain without re-checking the generation; chain() re-checks
//      before caching. Pools created by a registerOps that died before its
//      publish leak (no intent record). NOT fully recoverable yet.
//   2. zpool pool-table lock (ROOT_ZPOOL, src/zpool/zpool.ts, a host lock
//      like 1): create fills a FREE slot and stores CREATING last, finish
//      stores LIVE last: a death leaves a FREE or CREATING slot (leaked slot,
//      never a wrong pool); the pool count (word 2) may be off by one; the
//      dead Worker's opens are never dropped, so destroying its pools needs
//      force. Leak-only; no intent record yet.
//   3. tmem pool-table lock and init lock (tmem_pool.ts): stores inside go through
//      robust.ts's undo log (a destroy's refcount drop, the pool state):
//      reclaim rolls a half-done section back and releases the lock.
//      new_pool publishes ALIVE last, so even its unlogged stores leave a
//      FREE slot. A death mid tmem_init leaves STATE_INITIALIZING; the next
//      caller builds the table again (the half-built table's frames leak).
//   4. tmem stripe locks: every store to a chain, a descriptor, this slot's
//      pool counters and descriptor cache is logged; reclaim rolls the
//      section back (the put, removal or unpin did not happen) and releases
//      the lock. A put's descriptor in flight is recorded per slot (the
//      reclaim frees it if it never got linked); every pin a slot holds is
//      in its pin table (robust.ts R_PINS), set by get(KEEP) and cleared by
//      unpin with logged stores inside this lock, so a Worker stopped
//      anywhere leaves the table equal to the pins it counted, and the
//      reclaim drops each listed pin once, under this lock, clearing its
//      entry in the same section (a reclaimer stopped inside rolls back:
//      the entry and the pin reappear for the next reclaim). Pampds handed
//      out by a finished removal are the caller's: if it dies before freeing
//      them, their objects leak.
//   4b. the reclaim of a slot (frames.ts reclaimer word, not a mutex: one
//      cmpxchg makes an instance the slot's reclaimer; EBUSY for others).
//      A reclaimer stopped at any point leaves its tag there; the reclaim of
//      that reclaimer finds it (tmem_reclaim.ts reclaimSteps), becomes the
//      slot's reclaimer and runs the reclaim's steps again (each resumable:
//      robust.ts's rollback by its count, the pcp hand-back count first, the
//      per-slot records cleared before or as they are acted on), then the
//      host steps (PhysicalMemory.reclaim: pm_reclaim_next). Window: a
//      reclaimer stopped between clearing the word and the worker-map bit
//      (pmReclaimEnd) leaves the slot attached to nobody, never to two.
//   5. tmem LRU-domain lock: list splices and counts are logged; reclaim
//      rolls back and releases. Taking it inside a stripe section is a
//      commit point, so the stripe state is consistent there (a page may be
//      indexed and not yet on its LRU: never evicted, still flushable).
//      Eviction, which try-locks stripes under it, commits after each page.
//   6. zsmalloc class lock and grow lock, zbud pool lock: every store under
//      them to reachable state is logged (the hot fields in aligned 8-byte
//      words: 5 entries for a malloc or free without a fullness-group
//      change, about 15 per malloc+free pair on average), frames taken inside
//      are logged, frames given back are deferred to the commit point; reclaim
//      rolls back and releases. Taking the grow lock inside a class lock is
//      a commit point. Compaction commits after each isolated zspage and each
//      moved object (zspages chained from SizeClass.isolated); the next
//      class-lock holder (lockClass) puts back what a dead compactor left. A
//      dead Worker's pin is dropped by zs_reclaim_slot (PhysicalMemory.reclaim).
//      zspage descriptors pass between the pool's slab (grow lock) and a
//      class through SizeClass.spare / .release, written inside the grow
//      section, so a death on either side leaks no descriptor: a release
//      left set is given back by the next lockClass (recovery by redo).
//      Leak-only windows: handle chunks taken lock-free
//      (takeChunk) before the logged stores (indices, never frames); a zbud
//      frame between zbud_reclaim_begin and a zbud_reclaim_end that never
//      comes stays under reclaim (destroy: EBUSY); a death inside a destroy
//      leaks the frames not yet freed. The room map (borrow hint) is not
//      rolled back: a stale bit costs density only. zs_check / zbud_check
//      verify in tests (test/robust-zsmalloc.test.ts).
//   7. the frame allocator and scratch slots are lock-free: a Worker dead
//      mid-push or mid-pop leaves the stack valid (one CAS publishes), at
//      worst one frame leaked from its own pcp list; pmReclaim hands the pcp
//      list back and publishes the pending counts.
//

// Guarantee: mutual exclusion between every live instance (Worker) over the
// same memory; a lock whose owner's slot was reclaimed is taken over by the
// next waiter within one wait slice (WAIT_TIMEOUT_NS). Trade-off: a waiter on a browser main thread cannot sleep, because
// atomic.wait traps there (toolchain.md §3); such an instance (canBlock ==
// false) spins instead, which is correct but burns CPU while it waits. Keep
// browser main threads off contended paths.
//
// Layout: one naturally aligned i32 anywhere in shared memory, zero-initialised.
//
// Concurrency: any instance may call any function here concurrently.
// lock ordering (outermost first; never take an earlier lock while holding a
// later one; each file's essay details its own levels):
//   1. frontend registration lock   (cleancache/frontswap state)  [src/tmem/shared.ts]
//   2. zpool pool-table lock         (ROOT_ZPOOL)                   [src/zpool/zpool.ts]
//   3. tmem pool-table lock          (ROOT_TMEM)                    [tmem_pool.ts]
//   4. tmem stripe locks, one at a time (hash buckets)              [tmem.ts]
//   5. tmem LRU-domain lock; eviction holds it and only TRY-locks
//      stripes, so the reverse order can never wait                 [tmem.ts]
//   6. allocator locks: zsmalloc class lock, then (only when a table
//      grows) its pool grow lock; zbud's one pool lock              [zsmalloc.ts, zbud.ts]
//   7. the frame allocator and scratch slots are lock-free          [frames.ts]
//
// See also: frames.ts (lock-free frame free list), test/workers.test.ts (locks
// under contention, and on an instance that may not block).

import { canBlock, CTRL_BASE } from "./common";

/** Spins before a waiter marks the lock contended and sleeps. */
// @ts-ignore: decorator
@inline const SPIN_LIMIT: i32 = 100;

/** Sleep at most this long per wait (ns), then re-check: a lost wake-up, or a dead owner. */
// @ts-ignore: decorator
@inline const WAIT_TIMEOUT_NS: i64 = 10_000_000;

/** Lock word fields (see the essay). */
// @ts-ignore: decorator
@inline export const LOCK_STATE_MASK: u32 = 3;
// @ts-ignore: decorator
@inline export const LOCK_SLOT_SHIFT: u32 = 3;
// @ts-ignore: decorator
@inline export const LOCK_SLOT_MASK: u32 = 0x1ff;
// @ts-ignore: decorator
@inline export const LOCK_GEN_SHIFT: u32 = 12;
// @ts-ignore: decorator
@inline export const LOCK_GEN_MASK: u32 = 0xfffff;
/** frames.ts CTRL_SLOT_GEN_OFF and CTRL_TAKEOVERS_OFF (kept here to avoid an import cycle). */
// @ts-ignore: decorator
@inline const SLOT_GEN_OFF: usize = 1152;
// @ts-ignore: decorator
@inline const TAKEOVERS_OFF: usize = 2240;

/** This instance's owner tag (slot + 1, generation), 0 when detached. A wasm global: per instance. */
let lockTag: u32 = 0;
/** Locks this instance took over from a dead owner since lock_owner_died() last read it. */
let lockOwnerDied: u32 = 0;

/** Set this instance's owner tag (frames.ts, on attach and detach). */
export function setLockTag(tag: u32): void {
  lockTag = tag;
}

/** This instance's owner tag (robust.ts: a reclaim takes a dead owner's locks over under it). */
export function currentLockTag(): u32 {
  return lockTag;
}

/** Read and clear this instance's takeover count (the EOWNERDEAD flag). */
export function takeOwnerDied(): u32 {
  const n = lockOwnerDied;
  lockOwnerDied = 0;
  return n;
}

/**
 * Whether the owner named by lock word `c` is dead: a known slot whose
 * generation moved on since it took the lock (reclaimed, or attached again).
 */
function ownerDead(c: u32): bool {
  const slot1 = (c >>> LOCK_SLOT_SHIFT) & LOCK_SLOT_MASK;
  if (slot1 == 0) return false;
  const gen = atomic.load<u32>(CTRL_BASE + SLOT_GEN_OFF + (<usize>(slot1 - 1) << 2));
  return (gen & LOCK_GEN_MASK) != (c >>> LOCK_GEN_SHIFT);
}

/** Take over the lock whose word is `c` (owner dead): true if this instance now holds it. */
function takeOver(lock: usize, c: u32): bool {
  if (atomic.cmpxchg<u32>(lock, c, lockTag | 2) != c) return false;
  lockOwnerDied++;
  atomic.add<u32>(CTRL_BASE + TAKEOVERS_OFF, 1);
  return true;
}

/**
 * The contended path: wait in slices until the lock is free or its owner is
 * dead. `maxSlices` < 0 waits for as long as the owner lives; otherwise gives
 * up after that many timed-out slices. Returns 0 (held), 1 (held, taken over
 * from a dead owner) or -1 (gave up, not held).
 */
function lockSlow(lock: usize, maxSlices: i32): i32 {
  let c = atomic.load<u32>(lock);
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (c == 0) {
      c = atomic.cmpxchg<u32>(lock, 0, lockTag | 1);
      if (c == 0) return 0;
    }
    c = atomic.load<u32>(lock);
  }
  let slices: i32 = 0;
  let done: i32 = 2; // 2 = keep waiting
  while (done == 2) {
    if (c == 0) {
      // Taken as contended: others may be asleep on it.
      c = atomic.cmpxchg<u32>(lock, 0, lockTag | 2);
      if (c == 0) done = 0;
    } else if ((c & LOCK_STATE_MASK) != 2) {
      // Mark it contended so the holder's unlock notifies us.
      const want = (c & ~LOCK_STATE_MASK) | 2;
      const seen = atomic.cmpxchg<u32>(lock, c, want);
      c = seen == c ? want : seen;
    } else if (ownerDead(c)) {
      if (takeOver(lock, c)) done = 1;
      else c = atomic.load<u32>(lock);
    } else {
      if (canBlock) atomic.wait<i32>(lock, <i32>c, WAIT_TIMEOUT_NS);
      else for (let k = 0; k < 100000 && atomic.load<u32>(lock) == c; k++) {}
      // A slice counts toward the bound when the word did not change over it.
      // (Not the wait's result: in the -O3 build on Node 20 only the first
      // timed-out slice was counted, the loop never gave up; not understood,
      // seen in test/physmem.test.ts. The word is what matters anyway.)
      const now = atomic.load<u32>(lock);
      if (now == c && maxSlices >= 0) {
        slices = slices + 1;
        if (slices > maxSlices) done = -1;
      }
      c = atomic.load<u32>(lock);
    }
  }
  return done;
}

/**
 * Acquire the mutex at `lock` (an i32 word). Blocks (or spins, on a browser
 * main thread) until it is held, or takes it over when its owner's slot was
 * reclaimed (counted in lockOwnerDied). Never traps.
 */
export function rawLock(lock: usize): void {
  if (atomic.cmpxchg<u32>(lock, 0, lockTag | 1) == 0) return;
  lockSlow(lock, -1);
}

/**
 * Acquire the mutex at `lock`, giving up after about `timeoutMs` ms of
 * waiting on a live owner. Returns 0 (held), 1 (held: taken over from a dead
 * owner) or -1 (not held: timed out).
 */
export function rawLockTimed(lock: usize, timeoutMs: u32): i32 {
  if (atomic.cmpxchg<u32>(lock, 0, lockTag | 1) == 0) return 0;
  const slices = <i32>((timeoutMs + 9) / 10);
  return lockSlow(lock, slices < 1 ? 1 : slices);
}

/**
 * Try to acquire the mutex at `lock` without waiting. Returns true if held
 * (a lock whose owner is dead is taken over).
 */
export function rawTryLock(lock: usize): bool {
  const c = atomic.cmpxchg<u32>(lock, 0, lockTag | 1);
  if (c == 0) return true;
  return ownerDead(c) && takeOver(lock, c);
}

/** Release the mutex at `lock`, held by the caller; wakes one waiter if any. */
export function rawUnlock(lock: usize): void {
  if ((atomic.xchg<u32>(lock, 0) & LOCK_STATE_MASK) == 2) atomic.notify(lock, 1);
}
