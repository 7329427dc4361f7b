// Worker: attach to a memory, report what it sees, optionally allocate, detach.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, pfn, allocate } = workerData;
const pm = await PhysicalMemory.attach(handle);
const seen = { slot: pm.slot, owner: pm.frameOwner(pfn), first: pm.frameBytes(pfn)[0], used: pm.stats().usedFrames };
let mine = -1;
if (allocate) mine = pm.allocFrame(200);
pm.detach();
parentPort.postMessage({ ...seen, mine });
