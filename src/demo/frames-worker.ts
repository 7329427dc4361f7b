// SPDX-License-Identifier: MIT
/**
 * demo/frames-worker.ts (built as dist/demo-frames-worker.js): a worker_threads entry that attaches to a physical
 * memory and runs {@link frameStress}. workerData: `{ handle, options, barrier }`
 * where `barrier` is an Int32Array over a SharedArrayBuffer of [arrived, total]:
 * every worker waits until all have attached, so their operations overlap.
 * Posts the {@link FrameStressResult}. Used by the demo and the stress test.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { arriveAndWait, frameStress, type FrameStressOptions } from "./frames.js";

const { handle, options, barrier } = workerData as { handle: PhysicalMemoryHandle; options: FrameStressOptions; barrier: Int32Array };
const pm = await PhysicalMemory.attach(handle);
arriveAndWait(barrier);
const t0 = performance.now();
const result = frameStress(pm, options);
const ms = performance.now() - t0;
pm.detach();
parentPort!.postMessage({ ...result, ms, slot: pm.slot });
