// SPDX-License-Identifier: MIT
/**
 * cache/lock.ts: the TmemCache lock, a robust mutex word behind a FIFO
 * ticket gate, both in the cache's root frame.
 *
 * What it is not: not a general lock. It is the one lock of one cache, taken
 * from TypeScript, around critical sections whose every store to shared
 * state is logged (cache.ts `st`), so that the wasm core's reclaim can roll
 * a dead holder's section back (assembly/robust.ts).
 *
 * Key idea: mutual exclusion and fairness are kept apart. Mutual exclusion
 * is the wasm robust mutex (assembly/lock.ts word, taken through
 * `lock_acquire_robust` at lock-order level LV_CACHE): it records its owner's
 * slot and generation, so pm.reclaim of a dead holder rolls its logged stores
 * back and releases it. Fairness is a ticket gate in front of it (next ticket,
 * now serving): a caller takes a ticket and waits for its turn before it asks
 * for the mutex, and the holder advances "now serving" after releasing it,
 * so Workers get the lock in arrival order as with the old ticket lock. The
 * gate guards nothing, so a death anywhere in it cannot corrupt anything: a
 * ticket whose owner died (waiting, or after releasing the mutex but before
 * advancing the turn, or holding the mutex until its reclaim released it)
 * stalls the queue only until a waiter sees the turn unchanged for SKIP_MS
 * while the mutex is free, and skips it with one compareExchange. A live
 * caller that was skipped (descheduled for longer than SKIP_MS at the head
 * of the queue) goes straight to the mutex: it loses its place, never its
 * exclusion.
 *
 * Guarantee: mutual exclusion among every attached Worker (the mutex's);
 * FIFO order among live callers as long as none stalls for SKIP_MS at the
 * head of the queue; a dead Worker costs the others at most SKIP_MS once it
 * no longer holds the mutex. Every wait is bounded by LOCK_TIMEOUT_MS and ends
 * in TmemError ETIMEDOUT naming the holder's slot (a holder that died and was
 * not reclaimed keeps the mutex until pm.reclaim). Trade-off: two wasm calls
 * per critical section (acquire, release) beside the gate's atomics. The gate
 * keeps the old ticket lock's arrival order; the bare mutex alone barges (a
 * releasing Worker can take it again before the woken waiter runs). With 2
 * Workers hammering set on this 2-core machine neither starved measurably
 * (slower/faster Worker's sets 0.41-0.87 with the gate, 0.48-0.95 without,
 * the spread being the OS's scheduling), so the gate is kept for the order
 * it promises, not for a measured starvation.
 *
 * Layout: root words LW_LOCK (the mutex), LW_NEXT (next ticket), LW_SERVING
 * (now serving) and LW_WAITERS (callers asleep on LW_SERVING); cache.ts draws
 * the whole root.
 *
 * Concurrency: any attached Worker; one CacheLock per TmemCache instance,
 * used by the thread that owns it. lock ordering: the cache lock is taken
 * before the zpool's and zsmalloc's locks and the frame allocator, after
 * nothing (assembly/lock.ts level 2).
 *
 * See also: cache.ts (the sections), assembly/robust.ts (rollback),
 * ../../test/cache-faults.test.ts (Workers killed inside and around it).
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import type { CoreExports } from "../../bindings/wasm.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";

/** Root word indices of the lock (cache.ts's root layout). */
export const LW_LOCK = 0, LW_NEXT = 1, LW_SERVING = 14, LW_WAITERS = 15;
/** assembly/robust.ts LV_CACHE: the lock-order level of the cache lock (the debug park hook names it). */
export const LV_CACHE = 2;
/** Wait at most this long for the cache lock before ETIMEDOUT. */
export const LOCK_TIMEOUT_MS = 10_000;
/**
 * A turn unchanged for this long while the mutex is free is skipped: its
 * ticket's owner died or stalled. Longer costs more per dead Worker; shorter
 * skips more live callers that the OS descheduled at the head of the queue.
 */
export const SKIP_MS = 20;
/** Gate spins before the first sleep. */
const GATE_SPIN = 200;
/** Longest gate sleep (ms) before the turn and the clock are checked again. */
const GATE_SLEEP_MS = 2;
/** assembly/lock.ts word fields: owner slot + 1 in bits 3..11. */
const OWNER_SHIFT = 3, OWNER_MASK = 0x1ff;
const E_TIMEDOUT = -110;

/** The lock of one TmemCache (see the module essay). */
export class CacheLock {
  private readonly core: CoreExports;
  private readonly canBlock: boolean;
  /** The root frame's words. */
  private readonly w: Int32Array;
  /** Byte address of the mutex word. */
  private readonly addr: number;
  /** The ticket of the section this instance is in. */
  private ticket = 0;
  /** Turns this instance skipped (their owners died or stalled); for tests and stats. */
  skipped = 0;

  /** @param w - the root frame's words; the mutex is word LW_LOCK. */
  constructor(pm: PhysicalMemory, w: Int32Array) {
    this.core = pm.core;
    this.canBlock = pm.canBlock;
    this.w = w;
    this.addr = w.byteOffset + LW_LOCK * 4;
  }

  /** The slot of the mutex's holder, -1 when free. Racy: for messages. */
  holderSlot(): number {
    return ((Atomics.load(this.w, LW_LOCK) >>> OWNER_SHIFT) & OWNER_MASK) - 1;
  }

  /**
   * Take the lock: wait for this caller's turn, then for the mutex.
   * @returns 0, or 1 when the mutex was taken over from a dead owner WITHOUT
   *   a rollback (the caller must check what it guards; a reclaim normally
   *   releases the mutex itself, so this is not expected).
   * @throws TmemError ETIMEDOUT after LOCK_TIMEOUT_MS (nothing held then).
   */
  acquire(): number {
    const w = this.w;
    const my = Atomics.add(w, LW_NEXT, 1);
    let start = 0;
    if (Atomics.load(w, LW_SERVING) !== my) start = this.gate(my);
    const left = start === 0 ? LOCK_TIMEOUT_MS : Math.max(1, LOCK_TIMEOUT_MS - (Date.now() - start));
    const r = this.core.lock_acquire_robust(this.addr, left, LV_CACHE);
    if (r < 0) {
      this.pass(my);
      if (r === E_TIMEDOUT) {
        throw new TmemError(ErrorCode.ETIMEDOUT, `TmemCache: the cache lock has been held by Worker slot ${this.holderSlot()} for over ${LOCK_TIMEOUT_MS} ms (if that Worker died, reclaim its slot: pm.reclaim)`);
      }
      throw new TmemError(ErrorCode.EINVAL, `TmemCache: lock_acquire_robust returned ${r}`);
    }
    this.ticket = my;
    return r;
  }

  /** Release the lock (held by this instance): the mutex, then the turn. */
  release(): void {
    this.core.lock_release(this.addr);
    this.pass(this.ticket);
  }

  /** Advance the turn from `my` (if it is still `my`: a skipped turn stays skipped) and wake the gate. */
  private pass(my: number): void {
    if (Atomics.compareExchange(this.w, LW_SERVING, my, (my + 1) | 0) === my && Atomics.load(this.w, LW_WAITERS) > 0) {
      Atomics.notify(this.w, LW_SERVING);
    }
  }

  /**
   * Wait until "now serving" reaches `my` (or passed it: skipped). Skips a
   * turn that stays unchanged for SKIP_MS while the mutex is free.
   * @returns when the wait began (Date.now()).
   * @throws TmemError ETIMEDOUT after LOCK_TIMEOUT_MS.
   */
  private gate(my: number): number {
    const w = this.w;
    const start = Date.now();
    let seen = Atomics.load(w, LW_SERVING);
    let since = start;
    for (let spin = 0; ; spin++) {
      const cur = Atomics.load(w, LW_SERVING);
      if (cur === my || ((cur - my) | 0) > 0) return start;
      if (spin < GATE_SPIN) continue;
      if (this.canBlock) {
        Atomics.add(w, LW_WAITERS, 1);
        Atomics.wait(w, LW_SERVING, cur, GATE_SLEEP_MS);
        Atomics.sub(w, LW_WAITERS, 1);
      }
      const now = Date.now();
      if (cur !== seen) { seen = cur; since = now; continue; }
      if (now - since > SKIP_MS && Atomics.load(w, LW_LOCK) === 0) {
        // The turn's owner is dead or stalled, and nobody holds the mutex: skip it.
        if (Atomics.compareExchange(w, LW_SERVING, cur, (cur + 1) | 0) === cur) {
          this.skipped++;
          if (Atomics.load(w, LW_WAITERS) > 0) Atomics.notify(w, LW_SERVING);
        }
        since = now;
      }
      if (now - start > LOCK_TIMEOUT_MS) {
        const holder = this.holderSlot();
        throw new TmemError(ErrorCode.ETIMEDOUT, `TmemCache: waited ${LOCK_TIMEOUT_MS} ms for the cache lock, ${holder >= 0 ? `held by Worker slot ${holder} (if that Worker died, reclaim its slot: pm.reclaim)` : "free, but the turn before this caller's never passed"}`);
      }
    }
  }
}
