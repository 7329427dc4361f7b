// SPDX-License-Identifier: MIT
//
// robust.ts: critical sections that survive the death of the Worker inside
// them. Every wasm mutex is taken through this file: it keeps, per attached
// slot, the list of locks the slot holds (the kernel's robust_list, walked at
// thread exit) and an undo log of the stores made under them. When a Worker
// dies, pm.reclaim(slot) takes over the locks it held (before their waiters
// may), rolls its undo log back, releases them, and only then bumps the
// slot's generation. So a Worker killed at any instruction inside a section
// leaves the data as if the section had not begun: "its own operation in
// flight" is all it loses.
//
// It is not a transaction system: it undoes only the stores of the innermost
// section since its last commit point, and only while the locks guarding them
// are still held. Key idea: every lock event is a COMMIT POINT. Acquiring a
// lock (nesting) and releasing one make the entries logged so far final, so
// the log never holds an entry whose lock another Worker has since taken. The
// rule a section must follow in exchange: at every lock event, the data
// guarded by the locks the caller holds is consistent (a nested lock may be
// taken only at a point where the outer section could stop). ucommit() adds
// such a point inside a long section (compaction, between migrated objects).
//
// Each logged store writes its entry, then bumps the entry count, then
// stores: a death between any two of those leaves a log whose rollback is
// correct (restoring an old value that is still current is harmless). A
// frame allocated inside a section is logged so a rollback frees it; a frame
// freed inside a section is deferred to the next commit point (until then the
// metadata a rollback would restore still refers to it). Commit clears the
// count first and frees deferred frames after: a death in between leaks those
// frames (they are unreachable) rather than freeing a frame twice.
//
// Guarantee: after pm.reclaim(slot) returns, every lock the dead Worker held
// is free and the stores it made under it since the section's last commit
// point are undone; frames it allocated in that window are free again.
// Trade-off: each logged store costs a load and four stores to this slot's
// own (unshared, cache-hot) log; each lock event a few more. Windows that
// stay: an atomic add logged after it happened (uadd32) can be lost or doubled
// by a death between the two instructions; a deferred free interrupted by a
// death leaks its frame; a frame allocated but not yet logged leaks.
//
// Layout: per slot, in its scratch area at SCRATCH_ROBUST (common.ts):
//
// ╒══ robust area (SCRATCH_ROBUST_SIZE bytes) ═══════════════════════════╕
// │ 0 nlog: u32 │ 4 nheld: u32 │ 8 ndefer: u32 │ 12 overflow: u32          │
// │ 16 held: u32[8]  lock addresses, outermost first                       │
// │ 48 level: u32[8] their lock-order levels (lock.ts)                     │
// │ 80 tmem: u32[6]  tmem_desc.ts: descriptor cache head, count; the put's│
// │                  descriptor in flight; (unused); a reap's chain still  │
// │                  to push back and frames still to free                 │
// │ 104 (unused): u32[6]                                                   │
// │ 128 pins: u32[PIN_SLOTS]  tmem.ts: the pins this slot holds (0: free)  │
// │ 160 entries: { addr: u32, kind: u32, lo: u32, hi: u32 }[UNDO_CAP]      │
// ╘═══════════════════════════════════════════════════════════════════════╛
// kind: 1, 2, 4, 8 = a store of that width (lo/hi: the old value);
// KIND_ADD = an atomic add of `lo` (rollback subtracts); KIND_FRAME = frame
// `addr` allocated for owner `lo` (rollback frees it); KIND_DEFER = frame
// `addr` of owner `lo` to free at the next commit point.
//
// Concurrency: a slot's area is written only by the instance attached to it,
// and read by a reclaim of that slot once the instance is dead. Nothing here
// is shared between live Workers.
//
// See also: lock.ts (the lock word and its owner tag; the lock-order list and
// what recovery does for each), frames.ts (slots, generations, reclaim),
// test/robust.test.ts (a Worker parked inside each lock and killed there).

import {
  CTRL_BASE, DEBUG, E_INVAL, MAX_WORKERS, slotScratch,
  SCRATCH_ROBUST, SCRATCH_ROBUST_SIZE, canBlock, robustBase, workerSlot,
} from "./common";
import {
  rawLock, rawLockTimed, rawTryLock, rawUnlock, currentLockTag,
  LOCK_SLOT_SHIFT, LOCK_SLOT_MASK, LOCK_GEN_SHIFT, LOCK_GEN_MASK, LOCK_STATE_MASK,
} from "./lock";
import { frameFree, reclaimerWord, CTRL_SLOT_GEN_OFF } from "./frames";

// @ts-ignore: decorator
@inline const R_NLOG: usize = 0;
// @ts-ignore: decorator
@inline const R_NHELD: usize = 4;
// @ts-ignore: decorator
@inline const R_NDEFER: usize = 8;
// @ts-ignore: decorator
@inline const R_OVERFLOW: usize = 12;
// @ts-ignore: decorator
@inline const R_HELD: usize = 16;
// @ts-ignore: decorator
@inline const R_LEVEL: usize = 48;
/** tmem_desc.ts keeps its per-slot descriptor cache here (head, count), so a reclaim can return it. */
// @ts-ignore: decorator
@inline export const R_DESC_CACHE: usize = 80;
/**
 * tmem.ts keeps the table of the pins this slot holds here (tmem_get(KEEP)
 * sets an entry, tmem_unpin clears it, each inside its stripe section), so a
 * reclaim drops every pin a dead Worker held (tmem_reclaim_slot).
 */
// @ts-ignore: decorator
@inline export const R_PINS: usize = 128;
/**
 * Pins one Worker may hold at once. The library's own paths hold one at a
 * time (a load pins, copies, unpins); TmemCore users who keep pages pinned
 * while they read several get this many, then -E_NOSPC (nothing changed).
 * Raising it costs 4 bytes of undo log per 4 pins and, only when a Worker
 * holds many, a longer scan on get and unpin (first free / matching entry).
 */
// @ts-ignore: decorator
@inline export const PIN_SLOTS: u32 = 8;
// @ts-ignore: decorator
@inline export const R_ENTRIES: usize = R_PINS + <usize>PIN_SLOTS * 4;
// @ts-ignore: decorator
@inline const MAX_HELD: u32 = 8;
// @ts-ignore: decorator
@inline const ENTRY: usize = 16;
/** Undo entries between two commit points. */
// @ts-ignore: decorator
@inline export const UNDO_CAP: u32 = <u32>((SCRATCH_ROBUST_SIZE - R_ENTRIES) / ENTRY);

// @ts-ignore: decorator
@inline const KIND_ADD: u32 = 16;
// @ts-ignore: decorator
@inline const KIND_FRAME: u32 = 32;
// @ts-ignore: decorator
@inline const KIND_DEFER: u32 = 64;

// Lock-order levels (lock.ts): passed to mutexLock so the debug park hook and
// the recovery counters can name the lock.
// @ts-ignore: decorator
@inline export const LV_HOST: u32 = 1;
/** A TypeScript critical section that logs its stores (src/cache: TmemCache's lock). */
// @ts-ignore: decorator
@inline export const LV_CACHE: u32 = 2;
// @ts-ignore: decorator
@inline export const LV_TMEM_POOLS: u32 = 3;
// @ts-ignore: decorator
@inline export const LV_STRIPE: u32 = 4;
// @ts-ignore: decorator
@inline export const LV_LRU: u32 = 5;
// @ts-ignore: decorator
@inline export const LV_ALLOC: u32 = 6;

if (R_DESC_CACHE + 24 > R_PINS || R_ENTRIES + <usize>UNDO_CAP * ENTRY > SCRATCH_ROBUST_SIZE || UNDO_CAP < 200) ERROR("robust area geometry");

/** This instance's robust area, 0 when detached (then nothing is tracked: a detached instance cannot be reclaimed). */
// @ts-ignore: decorator
@inline function area(): usize {
  return robustBase;
}

/** The robust area of slot `slot` (any slot; for reclaim). */
function areaOf(slot: u32): usize {
  return slotScratch(slot) + SCRATCH_ROBUST;
}

// ══ Debug park hook ══
//
// ╒══ in the control block (frames.ts free space) ═══════════════════════╕
// │ 2304 level │ 2308 slot + 1 │ 2312 countdown │ 2316 parked: slot + 1  │
// ╘═══════════════════════════════════════════════════════════════════════╛
// Armed by a test (pm_park_arm): the instance in `slot`, at its
// `countdown`-th logged store under a lock of `level`, publishes `parked`
// and sleeps forever, so the test can terminate it exactly there.

// @ts-ignore: decorator
@inline const PARK_OFF: usize = 2304;

/** Arm the park hook (debug builds; a no-op that returns -E_INVAL in release builds). */
export function parkArm(level: u32, slot: u32, countdown: u32): i32 {
  if (!DEBUG) return -E_INVAL;
  const p = CTRL_BASE + PARK_OFF;
  atomic.store<u32>(p + 12, 0);
  atomic.store<u32>(p + 8, countdown);
  atomic.store<u32>(p + 4, slot + 1);
  atomic.store<u32>(p, level);
  return 0;
}

/** The slot + 1 of a parked instance (0: none), clearing the hook. */
export function parkedSlot(): u32 {
  return atomic.load<u32>(CTRL_BASE + PARK_OFF + 12);
}

/** Disarm the hook. */
export function parkDisarm(): void {
  atomic.store<u32>(CTRL_BASE + PARK_OFF, 0);
}

function parkPoint(rb: usize): void {
  const p = CTRL_BASE + PARK_OFF;
  const level = atomic.load<u32>(p);
  if (level == 0 || atomic.load<u32>(p + 4) != <u32>(workerSlot + 1)) return;
  const nheld = load<u32>(rb + R_NHELD);
  if (nheld == 0 || nheld > MAX_HELD || load<u32>(rb + R_LEVEL + (<usize>(nheld - 1) << 2)) != level) return;
  if (atomic.sub<u32>(p + 8, 1) != 1) return;
  atomic.store<u32>(p, 0);
  atomic.store<u32>(p + 12, <u32>(workerSlot + 1));
  atomic.notify(p + 12);
  // Sleep until terminated (never woken: nothing notifies this word with it unchanged).
  for (;;) {
    if (canBlock) atomic.wait<i32>(p + 12, <i32>(workerSlot + 1), -1);
  }
}

// ══ Logged stores ══

/** Append an undo entry (none outside a section; a full log sets the overflow flag and asserts in DEBUG). */
// @ts-ignore: decorator
@inline function logEntry(rb: usize, addr: usize, kind: u32, lo: u32, hi: u32): void {
  // Outside every critical section a store is final at once (nothing to roll back to).
  if (load<u32>(rb + R_NHELD) == 0) return;
  const n = load<u32>(rb + R_NLOG);
  if (n >= UNDO_CAP) {
    if (DEBUG) assert(false, "robust: undo log full (add a ucommit point)");
    store<u32>(rb + R_OVERFLOW, 1);
    return;
  }
  const e = rb + R_ENTRIES + <usize>n * ENTRY;
  store<u32>(e, <u32>addr);
  store<u32>(e, kind, 4);
  store<u32>(e, lo, 8);
  if (kind == 8) store<u32>(e, hi, 12); // only a u64 store's entry has a high word (constant-folded per call site)
  store<u32>(rb + R_NLOG, n + 1);
  if (DEBUG) parkPoint(rb);
}

/** Store `v` at `addr` (u32) inside a critical section, undoably. */
export function ustore32(addr: usize, v: u32): void {
  const rb = area();
  if (rb != 0) logEntry(rb, addr, 4, load<u32>(addr), 0);
  store<u32>(addr, v);
}

/** Store `v` at `addr` (u16) inside a critical section, undoably. */
export function ustore16(addr: usize, v: u16): void {
  const rb = area();
  if (rb != 0) logEntry(rb, addr, 2, <u32>load<u16>(addr), 0);
  store<u16>(addr, v);
}

/** Store `v` at `addr` (u8) inside a critical section, undoably. */
export function ustore8(addr: usize, v: u8): void {
  const rb = area();
  if (rb != 0) logEntry(rb, addr, 1, <u32>load<u8>(addr), 0);
  store<u8>(addr, v);
}

/** Store `v` at `addr` (u64, 8-aligned) inside a critical section, undoably. */
export function ustore64(addr: usize, v: u64): void {
  const rb = area();
  if (rb != 0) {
    const old = load<u64>(addr);
    logEntry(rb, addr, 8, <u32>old, <u32>(old >>> 32));
  }
  store<u64>(addr, v);
}

// ══ Batched logged stores ══
//
// For a hot section that knows the words it is about to store: the undo
// entries of all of them are written first (their old values read before any
// of the stores), the entry count is bumped once, then the stores are made
// plainly, with upark() between them for the debug park hook. The rule of
// one logged store holds for the batch: a death before the count bump leaves
// none of the stores made, a death after it is rolled back by entries that
// restore every word (one not yet stored is restored to its own value). The
// words must be distinct and not stored again in the batch.

/**
 * Open a batch of `k` undo entries: the address of the first, or 0 when
 * nothing is logged (a detached instance, outside every section, or a log
 * without room: then the overflow flag is set, as for a single store).
 */
// @ts-ignore: decorator
@inline export function ulogOpen(k: u32): usize {
  const rb = area();
  if (rb == 0 || load<u32>(rb + R_NHELD) == 0) return 0;
  const n = load<u32>(rb + R_NLOG);
  if (n + k > UNDO_CAP) {
    if (DEBUG) assert(false, "robust: undo log full (add a ucommit point)");
    store<u32>(rb + R_OVERFLOW, 1);
    return 0;
  }
  return rb + R_ENTRIES + <usize>n * ENTRY;
}

/** Entry `i` of the batch at `b`: the u32 at `addr` is about to be stored. */
// @ts-ignore: decorator
@inline export function ulogPut32(b: usize, i: u32, addr: usize): void {
  const e = b + <usize>i * ENTRY;
  store<u64>(e, <u64><u32>addr | (<u64>4 << 32));
  store<u32>(e, load<u32>(addr), 8);
}

/** Entry `i` of the batch at `b`: the u64 at `addr` (8-aligned) is about to be stored. */
// @ts-ignore: decorator
@inline export function ulogPut64(b: usize, i: u32, addr: usize): void {
  const e = b + <usize>i * ENTRY;
  store<u64>(e, <u64><u32>addr | (<u64>8 << 32));
  store<u64>(e, load<u64>(addr), 8);
}

/** Publish the `k` entries of the batch at `b` (0: nothing to publish); the stores may follow. */
// @ts-ignore: decorator
@inline export function ulogClose(b: usize, k: u32): void {
  if (b == 0) return;
  const rb = area();
  store<u32>(rb + R_NLOG, load<u32>(rb + R_NLOG) + k);
}

/** A park point of the debug hook between the stores of a batch (nothing in release builds). */
// @ts-ignore: decorator
@inline export function upark(): void {
  if (DEBUG) {
    const rb = area();
    if (rb != 0 && load<u32>(rb + R_NHELD) != 0) parkPoint(rb);
  }
}

/** Atomically add `delta` to the u32 at `addr` inside a critical section; a rollback subtracts it. Returns the old value. */
export function uadd32(addr: usize, delta: i32): u32 {
  const old = atomic.add<u32>(addr, <u32>delta);
  const rb = area();
  if (rb != 0) logEntry(rb, addr, KIND_ADD, <u32>delta, 0);
  return old;
}

/** Record that frame `pfn` (owner `owner`) was allocated inside this section: a rollback frees it. */
export function ulogFrameAlloc(pfn: u32, owner: u32): void {
  const rb = area();
  if (rb != 0) logEntry(rb, <usize>pfn, KIND_FRAME, owner, 0);
}

/**
 * Free frame `pfn` (owner `owner`) at the next commit point instead of now:
 * until then a rollback may restore metadata that refers to it. Detached
 * instances (nothing to roll back) free at once.
 */
export function udeferFrameFree(pfn: u32, owner: u32): void {
  const rb = area();
  if (rb == 0 || load<u32>(rb + R_NHELD) == 0) { frameFree(pfn, owner); return; }
  logEntry(rb, <usize>pfn, KIND_DEFER, owner, 0);
  store<u32>(rb + R_NDEFER, load<u32>(rb + R_NDEFER) + 1);
}

/** A commit point: the stores logged so far are final; deferred frees happen now. */
export function ucommit(): void {
  const rb = area();
  if (rb != 0) commit(rb);
}

// @ts-ignore: decorator
@inline function commit(rb: usize): void {
  const n = load<u32>(rb + R_NLOG);
  if (n == 0) return;
  store<u32>(rb + R_NLOG, 0);
  if (load<u32>(rb + R_NDEFER) != 0) runDeferred(rb, n);
}

function runDeferred(rb: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const e = rb + R_ENTRIES + <usize>i * ENTRY;
    if (load<u32>(e, 4) == KIND_DEFER) frameFree(load<u32>(e), load<u32>(e, 8));
  }
  store<u32>(rb + R_NDEFER, 0);
}

// ══ Tracked locks ══

// @ts-ignore: decorator
@inline function track(lock: usize, level: u32): void {
  const rb = area();
  if (rb == 0) return;
  commit(rb);
  const n = load<u32>(rb + R_NHELD);
  if (n < MAX_HELD) {
    store<u32>(rb + R_HELD + (<usize>n << 2), <u32>lock);
    store<u32>(rb + R_LEVEL + (<usize>n << 2), level);
  }
  store<u32>(rb + R_NHELD, n + 1);
}

// @ts-ignore: decorator
@inline function untrack(lock: usize): void {
  const rb = area();
  if (rb == 0) return;
  commit(rb);
  const n = load<u32>(rb + R_NHELD);
  // The usual case: the innermost lock.
  if (n - 1 < MAX_HELD && load<u32>(rb + R_HELD + (<usize>(n - 1) << 2)) == <u32>lock) {
    store<u32>(rb + R_NHELD, n - 1);
    return;
  }
  untrackSlow(rb, lock, n);
}

function untrackSlow(rb: usize, lock: usize, n: u32): void {
  if (n == 0) return;
  // Not the innermost (the fast path took that): locks may be released out of order.
  let i = n < MAX_HELD ? n : MAX_HELD;
  while (i > 0) {
    i--;
    if (load<u32>(rb + R_HELD + (<usize>i << 2)) == <u32>lock) {
      const last = (n < MAX_HELD ? n : MAX_HELD) - 1;
      for (let k = i; k < last; k++) {
        store<u32>(rb + R_HELD + (<usize>k << 2), load<u32>(rb + R_HELD + (<usize>(k + 1) << 2)));
        store<u32>(rb + R_LEVEL + (<usize>k << 2), load<u32>(rb + R_LEVEL + (<usize>(k + 1) << 2)));
      }
      break;
    }
  }
  store<u32>(rb + R_NHELD, n - 1);
}

/**
 * Acquire the mutex at `lock` (lock.ts word), a lock of lock-order level
 * `level`. Blocks until held; takes over a lock whose owner was reclaimed.
 * A commit point. Never traps.
 */
export function mutexLock(lock: usize, level: u32 = 0): void {
  rawLock(lock);
  track(lock, level);
}

/** As mutexLock, giving up after about `timeoutMs` ms: 0 held, 1 held (taken over), -1 not held. */
export function mutexLockTimed(lock: usize, timeoutMs: u32, level: u32 = 0): i32 {
  const r = rawLockTimed(lock, timeoutMs);
  if (r >= 0) track(lock, level);
  return r;
}

/** Try to acquire the mutex at `lock` without waiting: true if held (a commit point then). */
export function mutexTryLock(lock: usize, level: u32 = 0): bool {
  if (!rawTryLock(lock)) return false;
  track(lock, level);
  return true;
}

/** Release the mutex at `lock`, held by the caller. A commit point. */
export function mutexUnlock(lock: usize): void {
  untrack(lock);
  rawUnlock(lock);
}

/**
 * Undo the log of the robust area at `rb`, newest entry first, and empty it
 * (the deferred frees go too: the restored metadata refers to those frames
 * again). Entries of a full log past UNDO_CAP were never written (DEBUG
 * asserts; release builds keep the overflow flag, which pm_ustore32 turns
 * into a refusal for TypeScript sections). Returns the entries undone.
 */
function undoLog(rb: usize): u32 {
  let n = load<u32>(rb + R_NLOG);
  if (n > UNDO_CAP) n = UNDO_CAP;
  const undone = n;
  // Resumable: the count follows the progress, so a reclaimer that dies in
  // here leaves a log whose rest the next reclaim undoes (tmem_reclaim.ts).
  // A store is restored before the count drops past it (restoring it twice
  // is harmless: the locks are still held); an add or a frame free is
  // counted first (a death in between loses it rather than doubling it).
  while (n > 0) {
    n--;
    const e = rb + R_ENTRIES + <usize>n * ENTRY;
    const addr = <usize>load<u32>(e);
    const kind = load<u32>(e, 4);
    const lo = load<u32>(e, 8);
    if (kind == 4) store<u32>(addr, lo);
    else if (kind == 8) store<u64>(addr, (<u64>load<u32>(e, 12) << 32) | <u64>lo);
    else if (kind == 2) store<u16>(addr, <u16>lo);
    else if (kind == 1) store<u8>(addr, <u8>lo);
    store<u32>(rb + R_NLOG, n);
    if (kind == KIND_ADD) atomic.sub<u32>(addr, lo);
    else if (kind == KIND_FRAME) frameFree(<u32>addr, lo);
    // KIND_DEFER: dropped (the restored metadata refers to the frame again).
  }
  store<u32>(rb + R_NLOG, 0);
  store<u32>(rb + R_NDEFER, 0);
  store<u32>(rb + R_OVERFLOW, 0);
  return undone;
}

/**
 * This Worker's own section failed half way (a host error path): undo every
 * logged store since its last commit point, keeping the locks held, so the
 * caller can release them over consistent state. Returns the entries undone
 * (0 outside a section).
 */
export function uabort(): u32 {
  const rb = area();
  if (rb == 0 || load<u32>(rb + R_NHELD) == 0) return 0;
  return undoLog(rb);
}

/**
 * Whether a logged store made now would not fit in this Worker's undo log
 * (inside a section with UNDO_CAP entries since its last commit point).
 */
export function ulogFull(): bool {
  const rb = area();
  return rb != 0 && load<u32>(rb + R_NHELD) != 0 && load<u32>(rb + R_NLOG) >= UNDO_CAP;
}

// ══ Recovery ══

/**
 * Roll back slot `slot`'s robust state: take over every wasm lock it holds (its
 * owner tag is still the slot's current generation, so no waiter takes them
 * first), undo its log, release the locks. The caller made sure the slot's
 * instance is dead and is its reclaimer (frames.ts reclaimerWord). Returns
 * the number of locks released.
 *
 * Resumable: a reclaimer that dies in here leaves the dead slot's locks held
 * by itself or by the slot, its log undone up to its count, and the slot's
 * reclaimer word naming it; the reclaim of that reclaimer (tmem_reclaim.ts)
 * runs this again as the new reclaimer, taking over the locks from either
 * owner (ownerInOurReclaim), before either one's generation moves on.
 */
/**
 * Whether lock word `c` (held) names an owner whose locks a reclaim by this
 * instance may take over: a slot this instance is reclaiming (its reclaimer
 * word is our tag: the dead slot itself, or a dead reclaimer of it whose
 * reclaim we are finishing, which had taken the slot's locks over), at the
 * generation that slot still has (its reclaim has not moved it on yet).
 */
function ownerInOurReclaim(c: u32, me: u32): bool {
  const slot1 = (c >>> LOCK_SLOT_SHIFT) & LOCK_SLOT_MASK;
  if ((c & LOCK_STATE_MASK) == 0 || slot1 == 0 || slot1 > MAX_WORKERS) return false;
  const slot = slot1 - 1;
  if (atomic.load<u32>(reclaimerWord(slot)) != me) return false;
  const gen = atomic.load<u32>(CTRL_BASE + CTRL_SLOT_GEN_OFF + (<usize>slot << 2)) & LOCK_GEN_MASK;
  return (c >>> LOCK_GEN_SHIFT) == gen;
}

function recoverSlot(slot: u32): u32 {
  const rb = areaOf(slot);
  let nheld = load<u32>(rb + R_NHELD);
  if (nheld > MAX_HELD) nheld = MAX_HELD;
  const me = currentLockTag();
  let taken: u32 = 0; // bit i: held[i] taken over by us
  for (let i: u32 = 0; i < nheld; i++) {
    // Host locks (TypeScript's critical sections: nothing of theirs is in the
    // log) are left to their waiters, who take them over once the generation
    // moves on and so learn that the owner died (lock_owner_died, EOWNERDEAD).
    if (load<u32>(rb + R_LEVEL + (<usize>i << 2)) == LV_HOST) continue;
    const lock = <usize>load<u32>(rb + R_HELD + (<usize>i << 2));
    let c = atomic.load<u32>(lock);
    for (;;) {
      // Still held by the dead slot, or by a dead reclaimer of it that took it over before it died.
      if (!ownerInOurReclaim(c, me)) break;
      const seen = atomic.cmpxchg<u32>(lock, c, me | 2);
      if (seen == c) { taken |= <u32>1 << i; break; }
      c = seen;
    }
  }
  undoLog(rb);
  store<u32>(rb + R_NHELD, 0);
  let released: u32 = 0;
  for (let i = <i32>nheld - 1; i >= 0; i--) {
    if ((taken & (<u32>1 << <u32>i)) != 0) {
      rawUnlock(<usize>load<u32>(rb + R_HELD + (<usize>i << 2)));
      released++;
    }
  }
  return released;
}

/** Locks released by reclaims' rollbacks since the memory was formatted (stats). */
// @ts-ignore: decorator
@inline const RECOVERED_OFF: usize = 2320;

/**
 * Roll back and release the locks of slot `slot`, whose Worker is dead and
 * whose dead bit the caller holds (frames.ts pmReclaimBegin succeeded), and
 * count them for pmRecovered. Step 2 of pmReclaim (tmem_reclaim.ts, which
 * composes the layers' recoveries so that this file imports none of them).
 */
export function robustReclaim(slot: u32): void {
  atomic.add<u32>(CTRL_BASE + RECOVERED_OFF, recoverSlot(slot));
}

/** Locks released by reclaim rollbacks since format. */
export function pmRecovered(): u32 {
  return atomic.load<u32>(CTRL_BASE + RECOVERED_OFF);
}

/** Robust-state words of this instance, for tests: nlog | nheld << 16 (0 when detached). */
export function robustState(): u32 {
  const rb = area();
  if (rb == 0) return 0;
  return load<u32>(rb + R_NLOG) | (load<u32>(rb + R_NHELD) << 16);
}
