// Worker for test/reclaim-model.test.ts: attach to a reserved slot, run the
// given tmem operations in order, publishing after each how many are done,
// then wait to be terminated (or stop earlier: parked by the debug hook
// inside a critical section, or terminated at a random moment).
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";
import { sixWordOids } from "./six-word-oids.mjs";

const { handle, slot, pool, ops, progress } = workerData;
const pm = await PhysicalMemory.attach(handle, { slot });
const c = sixWordOids(pm);
const op = new Int32Array(ops);
const done = new Int32Array(progress);
parentPort.postMessage("ready");
// Wait for the go (the test arms the park hook first).
while (Atomics.load(done, 1) === 0) Atomics.wait(done, 1, 0, 50);
for (let i = 0; i < op.length / 3; i++) {
  const kind = op[i * 3], key = op[i * 3 + 1], val = op[i * 3 + 2];
  if (kind === 0) c.tmem_put(pool, 5, key, 0, 0, 0, 0, 0, val, 0, 0, 0);
  else c.tmem_flush_page(pool, 5, key, 0, 0, 0, 0, 0);
  Atomics.store(done, 0, i + 1);
}
parentPort.postMessage("done");
for (;;) Atomics.wait(done, 2, 0, 1000);
