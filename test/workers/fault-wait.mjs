// Worker: attach, report, then wait for the lock at `lockAddr` (held by a
// Worker that will die), and report how it got it.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, lockAddr } = workerData;
const pm = await PhysicalMemory.attach(handle);
parentPort.postMessage({ slot: pm.slot, state: "waiting" });
const t0 = Date.now();
pm.core.lock_acquire(lockAddr);
const died = pm.core.lock_owner_died();
pm.core.lock_release(lockAddr);
parentPort.postMessage({ state: "locked", died, ms: Date.now() - t0 });
pm.detach();
