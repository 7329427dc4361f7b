// SPDX-License-Identifier: MIT
/**
 * simulate-worker.ts: a worker_threads entry for `tmem simulate --workers N`:
 * receives a {@link WorkerProcessMessage}, runs one simulated process against
 * the shared frontswap, posts its result (or `{ error }`).
 * @module
 */
import { parentPort } from "node:worker_threads";
import { runWorkerProcess, type WorkerProcessMessage } from "./sim/simulate.js";

parentPort!.once("message", (msg: WorkerProcessMessage) => {
  runWorkerProcess(msg).then(
    (r) => parentPort!.postMessage(r),
    (e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
});
