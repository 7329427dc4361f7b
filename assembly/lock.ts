// SPDX-License-Identifier: MIT
//
// lock.ts: the mutex every tmem structure in shared memory is guarded by.
//
// It is a futex mutex on one i32 word in shared memory, after Drepper's
// "Futexes Are Tricky" (mutex #2): 0 = unlocked, 1 = locked, 2 = locked and
// maybe contended. It is not recursive, not fair and not owner-checked: the
// critical sections it guards are short (a list splice, a counter update),
// never a compression.
//
// Key idea: take the lock with one cmpxchg when it is free, spin briefly,
// then mark it contended and sleep in atomic.wait until an unlock notifies.
// Unlock is one atomic sub; it notifies only when the word says 2.
//
// Guarantee: mutual exclusion between every instance (Worker) over the same
// memory. Trade-off: a waiter on a browser main thread cannot sleep, because
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
//   3. tmem pool-table lock          (ROOT_TMEM)                    [tmem.ts]
//   4. tmem stripe locks, one at a time (hash buckets)              [tmem.ts]
//   5. tmem LRU-domain lock; eviction holds it and only TRY-locks
//      stripes, so the reverse order can never wait                 [tmem.ts]
//   6. allocator locks: zsmalloc class lock, then (only when a table
//      grows) its pool grow lock; zbud's one pool lock              [zsmalloc.ts, zbud.ts]
//   7. the frame allocator and scratch slots are lock-free          [frames.ts]
//
// See also: frames.ts (lock-free frame free list), test/workers.test.ts (locks
// under contention, and on an instance that may not block).

import { canBlock } from "./common";

/** Spins before a waiter marks the lock contended and sleeps. */
// @ts-ignore: decorator
@inline const SPIN_LIMIT: i32 = 100;

/** Sleep at most this long per wait (ns), then re-check: guards against a lost wake-up. */
// @ts-ignore: decorator
@inline const WAIT_TIMEOUT_NS: i64 = 10_000_000;

/**
 * Acquire the mutex at `lock` (an i32 word). Blocks (or spins, on a browser
 * main thread) until it is held. Never traps.
 */
export function mutexLock(lock: usize): void {
  let c = atomic.cmpxchg<i32>(lock, 0, 1);
  if (c == 0) return;
  for (let i = 0; i < SPIN_LIMIT; i++) {
    c = atomic.load<i32>(lock);
    if (c == 0) {
      c = atomic.cmpxchg<i32>(lock, 0, 1);
      if (c == 0) return;
    }
  }
  // Contended: mark it 2 so the holder's unlock notifies us.
  if (c != 2) c = atomic.xchg<i32>(lock, 2);
  while (c != 0) {
    if (canBlock) atomic.wait<i32>(lock, 2, WAIT_TIMEOUT_NS);
    c = atomic.xchg<i32>(lock, 2);
  }
}

/** Try to acquire the mutex at `lock` without waiting. Returns true if held. */
export function mutexTryLock(lock: usize): bool {
  return atomic.cmpxchg<i32>(lock, 0, 1) == 0;
}

/** Release the mutex at `lock`, held by the caller; wakes one waiter if any. */
export function mutexUnlock(lock: usize): void {
  if (atomic.sub<i32>(lock, 1) != 1) {
    atomic.store<i32>(lock, 0);
    atomic.notify(lock, 1);
  }
}
