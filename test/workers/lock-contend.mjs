// Worker: increment a plain (non-atomic) pair of counters under the wasm mutex.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, lockAddr, dataAddr, iterations, barrier } = workerData;
const pm = await PhysicalMemory.attach(handle);
const i32 = new Int32Array(pm.memory.buffer);
const core = pm.core;
Atomics.add(barrier, 0, 1);
while (Atomics.load(barrier, 0) < barrier[1]) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 20);
const a = dataAddr >> 2;
for (let i = 0; i < iterations; i++) {
  core.lock_acquire(lockAddr);
  const v = i32[a];
  i32[a] = v + 1;
  i32[a + 1] = i32[a + 1] + 2;
  core.lock_release(lockAddr);
}
pm.detach();
parentPort.postMessage("done");
