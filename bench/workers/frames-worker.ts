// Bench worker: attach, wait at the barrier, run `pairs` frame alloc+free
// pairs in a tight loop, report the time.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { arriveAndWait } from "../../src/demo/frames.js";

const { handle, pairs, owner, barrier, hold } = workerData as { handle: PhysicalMemoryHandle; pairs: number; owner: number; barrier: Int32Array; hold: number };
const pm = await PhysicalMemory.attach(handle);
const core = pm.core;
// Keep `hold` frames allocated so the free stack is not trivially shallow.
const held: number[] = [];
for (let i = 0; i < hold; i++) held.push(core.frame_alloc(owner));
arriveAndWait(barrier);
const t0 = performance.now();
for (let i = 0; i < pairs; i++) {
  const p = core.frame_alloc(owner);
  core.frame_free(p, owner);
}
const ms = performance.now() - t0;
for (const p of held) core.frame_free(p, owner);
pm.detach();
parentPort!.postMessage({ ms });
