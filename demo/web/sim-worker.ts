// SPDX-License-Identifier: MIT
/**
 * sim-worker.ts: the Web Worker of the browser demo: one simulated process.
 *
 * What it is: it receives a WorkerProcessMessage (the memory's handle, its
 * share of the pages, its options: pacing included), attaches to the shared
 * physical memory, runs the process against the frontswap the page set up,
 * keeps its live counts in the shared progress array, and posts its
 * ProcessResult (or `{ error }`). What it is not: a second copy of the
 * simulation; the logic is src/sim/simulate.ts (runWorkerProcess), the same
 * the command's Node Worker runs.
 *
 * Concurrency: a Worker may block, so a paced run sleeps here with
 * Atomics.wait; the page's main thread never does.
 * @module
 */
import { runWorkerProcess, type WorkerProcessMessage } from "../../src/sim/simulate.js";

self.onmessage = (ev: MessageEvent<WorkerProcessMessage>) => {
  runWorkerProcess(ev.data).then(
    (r) => postMessage(r),
    (e: unknown) => postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
};
