// SPDX-License-Identifier: MIT
/**
 * workers.ts: start or adopt Workers for a physical memory so that a Worker
 * that dies without detaching is reclaimed automatically.
 *
 * What it is not: not a Worker pool and not a message protocol. It only ties
 * one Worker's lifetime to one Worker slot of one memory.
 *
 * Key idea: the supervising thread reserves the slot BEFORE the Worker runs
 * ({@link PhysicalMemory.reserveSlot}), so it knows which slot to reclaim
 * whatever the moment of death: before the Worker attached, while it works,
 * or inside a critical section. The Worker attaches to exactly that slot
 * ({@link attachSupervised}). When the platform reports the Worker gone (in
 * Node the Worker's `exit` event, which fires after its thread stopped; in a
 * browser, when the page terminates it through {@link Supervised.terminate}),
 * the supervisor reclaims the slot if the Worker did not detach. The slot's
 * generation (bumped by every attach and reclaim) is checked by the reclaim
 * itself, so a slot the Worker detached and another Worker attached since is
 * never touched.
 *
 * Which deaths are detected automatically: a Node worker_threads Worker
 * started or adopted here, whatever ends it (an uncaught exception,
 * `process.exit()` inside it, `terminate()` by anyone); a browser Worker the
 * page ends with {@link Supervised.terminate}. Not detected: a browser Worker
 * that the browser itself kills (a crashed or discarded renderer has no event
 * the page sees), a Worker not started through this module, or a memory
 * shared with another process: call {@link PhysicalMemory.reclaim} for those
 * once you know the Worker is gone.
 *
 * Thread safety: the supervisor object belongs to the thread that made it;
 * the reclaim it runs is safe against every other Worker's operations.
 *
 * @module
 */
import { PhysicalMemory, type PhysicalMemoryHandle, type WorkerSlot } from "../bindings/physmem.js";
import { argCheck } from "../bindings/status.js";

/** What a supervised Worker needs to attach: post it in workerData or a message. */
export interface SupervisedAttach {
  /** The memory's handle. */
  readonly handle: PhysicalMemoryHandle;
  /** The slot reserved for this Worker. */
  readonly slot: number;
}

/** The part of a Worker the supervisor uses: Node's worker_threads Worker or a browser Worker. */
export interface WorkerLike {
  terminate(): unknown;
  /** Node: the `exit` event. */
  once?(event: "exit", listener: (code: number) => void): unknown;
}

/** A Worker tied to a slot of a memory. */
export interface Supervised<W extends WorkerLike> {
  /** The Worker. */
  readonly worker: W;
  /** Its reserved slot. */
  readonly slot: WorkerSlot;
  /**
   * Resolves once the Worker is gone and its slot is free again: reclaimed
   * (true) or detached by the Worker itself (false).
   */
  readonly gone: Promise<boolean>;
  /** Terminate the Worker and reclaim its slot; resolves like {@link gone}. */
  terminate(): Promise<boolean>;
}

/**
 * Start a Worker for `pm` with a slot reserved for it: `start` receives what
 * the Worker needs ({@link SupervisedAttach}; pass it in workerData or post
 * it) and returns the Worker. The Worker calls {@link attachSupervised}.
 * @example
 * ```ts
 * const w = startSupervised(pm, (tmem) => new Worker(url, { workerData: { tmem } }));
 * // in the Worker: const pm = await attachSupervised(workerData.tmem);
 * ```
 * @throws TmemError EBUSY when every slot is taken; whatever `start` throws
 *   (the reservation is released first).
 * Thread safety: call it in the thread that owns `pm`.
 */
export function startSupervised<W extends WorkerLike>(pm: PhysicalMemory, start: (attach: SupervisedAttach) => W): Supervised<W> {
  argCheck(typeof start === "function", "startSupervised needs a function that starts the Worker");
  const slot = pm.reserveSlot();
  let worker: W;
  try {
    worker = start({ handle: pm.handle, slot });
  } catch (e) {
    pm.reclaimIf(slot, pm.slotState(slot).generation, 1);
    throw e;
  }
  return adoptSupervised(pm, worker, slot);
}

/**
 * Adopt a Worker started by the caller with a slot from `pm.reserveSlot()`
 * (it attaches with `PhysicalMemory.attach(handle, { slot })`). Call it
 * right after starting the Worker, before its slot could be detached.
 * @throws TmemError EINVAL when `slot` is neither reserved nor attached.
 */
export function adoptSupervised<W extends WorkerLike>(pm: PhysicalMemory, worker: W, slot: WorkerSlot): Supervised<W> {
  argCheck(typeof worker === "object" && worker !== null && typeof worker.terminate === "function", "adoptSupervised needs a Worker");
  const st = pm.slotState(slot);
  // Reserved: the Worker's attach will bump the generation once (span 2); attached already: span 1.
  const gen = st.generation, span = st.reserved ? 2 : 1;
  let settle!: (v: boolean) => void;
  const gone = new Promise<boolean>((res) => { settle = res; });
  let done = false;
  const reclaim = (): boolean => {
    if (done) return false;
    done = true;
    let r = false;
    try {
      if (pm.isAttached) r = pm.reclaimIf(slot, gen, span);
    } finally {
      settle(r);
    }
    return r;
  };
  if (typeof worker.once === "function") worker.once("exit", () => { reclaim(); });
  return {
    worker, slot, gone,
    async terminate(): Promise<boolean> {
      // Node: terminate() resolves after the thread stopped ('exit' reclaims);
      // a browser's terminate() returns once the Worker's script is aborted.
      await worker.terminate();
      if (typeof worker.once !== "function") reclaim();
      return gone;
    },
  };
}

/**
 * In a supervised Worker: attach to the slot reserved for it.
 * @throws TmemError as {@link PhysicalMemory.attach}; EINVAL when the slot
 *   is no longer reserved (it was reclaimed: the supervisor thought it dead).
 */
export function attachSupervised(attach: SupervisedAttach): Promise<PhysicalMemory> {
  argCheck(typeof attach === "object" && attach !== null, "attachSupervised needs { handle, slot }");
  return PhysicalMemory.attach(attach.handle, { slot: attach.slot });
}
