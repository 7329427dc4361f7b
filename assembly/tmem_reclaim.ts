// SPDX-License-Identifier: MIT
//
// tmem_reclaim.ts: reclaim of a dead Worker's slot. pmReclaim (pm_reclaim)
// runs the layers' recoveries in order: frames.ts marks the slot dead,
// robust.ts rolls back its critical sections and releases its locks,
// frames.ts moves its generation on, and then tmem_reclaim_slot recovers
// tmem's per-slot state: the descriptor cache, the put in flight, the pin
// in flight and the reap in flight.
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
// Guarantees: an unlinked put descriptor goes back to the free stack; a pin
// is dropped as tmem_unpin would drop it; a reap is finished; the cache is
// handed back whole, or dropped if it is corrupt (-E_BADMSG). Nothing is
// freed twice.
//
// Concurrency: it runs in the reclaiming Worker. The rollback takes over
// the dead Worker's locks and releases them (robust.ts). After that,
// tmem_reclaim_slot takes one stripe lock (through tmem_unpin) and no other.
//
// See also: tmem_desc.ts, robust.ts (robustReclaim), frames.ts (pmReclaimBegin,
// pmReclaimFinish, pmReclaimEnd), test/reclaim-model.test.ts,
// test/attack-robust.test.ts.

import { PAGE_SIZE, E_INVAL, framesBase, SCRATCH_IO, SCRATCH_ROBUST, CTRL_BASE, CTRL_MAX_WORKERS_OFF, slotScratch } from "./common";
import { R_DESC_CACHE, robustReclaim } from "./robust";
import { pmReclaimBegin, pmReclaimFinish } from "./frames";
import { DESC_SIZE, root, ready } from "./tmem_layout";
import { R_REAP_HEAD, R_REAP_NFREE, isDescFrame, stackPushChain, cacheGive, reapFinish } from "./tmem_desc";
import { tmem_unpin } from "./tmem";

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
  // A pin in flight: dropped as its unpin would have (a page removed meanwhile is freed; its storage is the backend's to reclaim).
  const pin = load<u32>(cw, 12);
  store<u32>(cw, 0, 12);
  if (pin != 0) reclaimedPins += tmem_unpin(pin) == 1 ? 1 : 0;
  return cacheGive(cw, 0xffffffff, true);
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
  robustReclaim(slot);
  pmReclaimFinish(slot);
  // The layers' per-slot state, now consistent: tmem's descriptor cache, put
  // and pin in flight. After the generation moved on: a lock the dead Worker
  // took but had not yet recorded (a death between the two) reads as dead
  // now, so the stripe lock this takes cannot wait on it forever.
  tmem_reclaim_slot(slot);
  return 0;
}
