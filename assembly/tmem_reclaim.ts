// SPDX-License-Identifier: MIT
//
// tmem_reclaim.ts: reclaim of a dead Worker's slot. pmReclaim (pm_reclaim)
// runs the layers' recoveries in order: frames.ts makes this instance the
// slot's reclaimer (its reclaimer word) and marks it dead, robust.ts rolls
// back its critical sections and releases its locks, the reclaims the dead
// Worker had itself left half done are taken over and finished, frames.ts
// moves its generation on, and then tmem_reclaim_slot recovers tmem's
// per-slot state: the descriptor cache, the put in flight, the pins it held
// (its pin table) and the reap in flight.
//
// A reclaimer can die too. Every step above can run again (see
// reclaimSteps), and the reclaimer word says for certain whose a half-done
// reclaim is (a record in the reclaimer's own area could not tell a
// reclaimer that died between winning the slot and writing its record from
// one that lost, and a reclaimer may hold several: its own and the ones it
// took over), so the reclaim of a dead reclaimer finishes what it left
// before its own generation moves on.
//
// It is not the rollback: robust.ts undoes the dead Worker's logged stores
// and releases its locks first. What tmem_reclaim_slot handles is the
// per-slot state that lives outside any lock. pmReclaim sits here, at the
// top of the layers it calls, so that robust.ts imports no tmem file.
//
// Key idea: every multi-step path in tmem writes "what I am in the middle
// of" to the slot's robust area before it starts (tmem.ts tmem_put's
// descriptor, tmem_get's pin, tmem_desc.ts reap's chain and frame count),
// so a reclaim can finish or undo each one without guessing.
//
// Guarantees: an unlinked put descriptor goes back to the free stack; every
// pin is dropped once, as tmem_unpin would drop it; a reap is finished; the
// cache is handed back whole, or dropped if it is corrupt (-E_BADMSG).
// Nothing is freed twice, also when a reclaimer dies and the steps run again
// (what a repeat may lose instead: at most one chain, frame or count).
//
// Concurrency: it runs in the reclaiming Worker. The rollback takes over
// the dead Worker's locks and releases them (robust.ts). After that,
// tmem_reclaim_slot takes one stripe lock (through tmem_unpin) and no other.
//
// See also: tmem_desc.ts, robust.ts (robustReclaim), frames.ts (pmReclaimBegin,
// pmReclaimFinish, pmReclaimEnd), test/reclaim-model.test.ts,
// test/attack-robust.test.ts.

import { PAGE_SIZE, E_INVAL, MAX_WORKERS, framesBase, scratchBase, SCRATCH_IO, SCRATCH_ROBUST, CTRL_BASE, CTRL_MAX_WORKERS_OFF, slotScratch } from "./common";
import { currentLockTag } from "./lock";
import { R_DESC_CACHE, R_PINS, PIN_SLOTS, robustReclaim } from "./robust";
import { pmReclaimBegin, pmReclaimFinish, reclaimerWord, slotTag } from "./frames";
import { DESC_SIZE, root, ready } from "./tmem_layout";
import { R_REAP_HEAD, R_REAP_NFREE, isDescFrame, stackPushChain, cacheGive, reapFinish } from "./tmem_desc";
import { unpinAt } from "./tmem";

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
  // Every pin it held: dropped as its unpin would have (a page removed
  // meanwhile is freed; its storage is the backend's to reclaim). unpinAt
  // clears the entry in the section that drops the pin, so a reclaimer that
  // dies here leaves each entry either dropped and cleared or neither (its
  // own reclaim rolls it back), and the next run drops the rest once.
  dropPins(slotScratch(slot) + SCRATCH_ROBUST + R_PINS);
  return cacheGive(cw, 0xffffffff, true);
}

/** Drop every pin listed in the pin table at `pins` (a slot's robust area + R_PINS); returns the entries dropped. */
function dropPins(pins: usize): i32 {
  let n: i32 = 0;
  for (let i: u32 = 0; i < PIN_SLOTS; i++) {
    const entry = pins + (<usize>i << 2);
    const pin = load<u32>(entry);
    if (pin == 0) continue;
    const r = unpinAt(pin, entry);
    if (r >= 0) n++;
    if (r == 1) reclaimedPins++;
    // Not a live pin of its incarnation (a corrupt table): nothing dropped, the entry forgotten.
    else if (r < 0) store<u32>(entry, 0);
  }
  return n;
}

/**
 * Drop every pin this instance still holds, as a reclaim would (PhysicalMemory
 * detach calls it first: a slot's next owner must not inherit its pins). A
 * page flushed meanwhile whose last pin this was is freed from the index; its
 * storage stays with its backend (as for a reclaim). Returns the pins dropped.
 */
export function tmem_drop_pins(): i32 {
  if (!ready() || scratchBase == 0) return 0;
  return dropPins(scratchBase + SCRATCH_ROBUST + R_PINS);
}

/**
 * Reclaim slot `slot`, whose Worker the caller knows is dead (frames.ts
 * pmReclaimBegin's contract, plus: the locks it held are rolled back and
 * released before its generation moves on, and tmem's per-slot state is
 * recovered after). Returns 0 or frames.ts's errors. It lives here, at the
 * top of the layers it calls, so robust.ts and frames.ts import no tmem file.
 */
export function pmReclaim(slot: u32, expectGen: u32, span: u32): i32 {
  const r = pmReclaimBegin(slot, expectGen, span);
  if (r != 0) return r;
  reclaimSteps(slot, 0);
  return 0;
}

/**
 * The wasm steps of the reclaim of dead slot `slot`, whose reclaimer this
 * instance is: every one can be run again after a reclaimer died in the
 * middle of it (robust.ts's rollback is resumable; pmReclaimFinish moves the
 * generation on once more and hands back only what is still there;
 * tmem_reclaim_slot clears each record before or as it acts on it). `depth`
 * bounds the chain of dead reclaimers.
 */
function reclaimSteps(slot: u32, depth: u32): void {
  robustReclaim(slot);
  // Reclaims the dead Worker itself had in flight (it died reclaiming
  // others): ours now, finished before its generation moves on, so the
  // locks it had taken over from them still read as its own (robust.ts
  // ownerInOurReclaim). Their host steps follow in PhysicalMemory.reclaim
  // (pm_reclaim_next).
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  const dead = slotTag(slot);
  const me = currentLockTag();
  for (let s: u32 = 0; s < n && depth < MAX_WORKERS; s++) {
    if (s != slot && atomic.cmpxchg<u32>(reclaimerWord(s), dead, me) == dead) reclaimSteps(s, depth + 1);
  }
  pmReclaimFinish(slot);
  // The layers' per-slot state, now consistent: tmem's descriptor cache, put
  // in flight, pins and reap in flight. After the generation moved on: a lock
  // the dead Worker took but had not yet recorded (a death between the two)
  // reads as dead now, so the stripe lock this takes cannot wait on it forever.
  tmem_reclaim_slot(slot);
}

/**
 * A slot this instance is the reclaimer of, + 1 (0: none): after pm_reclaim,
 * the reclaims a dead reclaimer left half done that it took on, for their
 * host steps (zs_reclaim_slot, the reclaim hooks, pm_reclaim_end), which
 * PhysicalMemory.reclaim runs until this returns 0.
 */
export function pmReclaimNext(): u32 {
  const me = currentLockTag();
  if (me == 0) return 0;
  const n = load<u32>(CTRL_BASE + CTRL_MAX_WORKERS_OFF);
  for (let s: u32 = 0; s < n; s++) if (atomic.load<u32>(reclaimerWord(s)) == me) return s + 1;
  return 0;
}
