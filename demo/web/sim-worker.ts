// Web Worker of the browser demo: runs one simulated process against the
// shared frontswap and posts its result (or { error }).
import { runWorkerProcess, type WorkerProcessMessage } from "../../src/sim/simulate.js";

self.onmessage = (ev: MessageEvent<WorkerProcessMessage>) => {
  runWorkerProcess(ev.data).then(
    (r) => postMessage(r),
    (e: unknown) => postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
};
