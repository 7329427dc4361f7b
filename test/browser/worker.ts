// Web Worker of the browser smoke test: attach, wait for the other worker,
// run the frame stress, detach, post the result.
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../src/index.js";
import { arriveAndWait, frameStress, type FrameStressOptions } from "../../src/demo/frames.js";

self.onmessage = async (ev: MessageEvent<{ handle: PhysicalMemoryHandle; barrier: Int32Array; options: FrameStressOptions }>) => {
  try {
    const { handle, barrier, options } = ev.data;
    const pm = await PhysicalMemory.attach(handle);
    arriveAndWait(barrier);
    const result = frameStress(pm, options);
    pm.detach();
    postMessage(result);
  } catch (e) {
    postMessage({ error: String(e) });
  }
};
