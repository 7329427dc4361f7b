// Worker: attach (to a reserved slot if given), leave frames in this slot's
// per-Worker cache and pending counts, keep `keep` frames, take the lock at
// `lockAddr`, report, and park holding it, to be terminated by the test.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, slot, lockAddr, cached, keep, park } = workerData;
const pm = await PhysicalMemory.attach(handle, slot === undefined ? {} : { slot });
const freed = [];
for (let i = 0; i < cached; i++) freed.push(pm.allocFrame(200));
const kept = [];
for (let i = 0; i < keep; i++) kept.push(pm.allocFrame(201));
for (const pfn of freed) pm.freeFrame(pfn, 200);
if (lockAddr !== undefined) pm.core.lock_acquire(lockAddr);
parentPort.postMessage({ slot: pm.slot, kept });
// Park (holding the lock) until terminated.
const park32 = new Int32Array(park);
for (;;) Atomics.wait(park32, 0, 0, 1000);
