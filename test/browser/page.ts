// Browser smoke test page: the main thread creates a physical memory, two Web
// Workers attach and run the frame stress, the page publishes the outcome on
// window.__tmemResult. On a page that is not cross-origin isolated it
// publishes the library's error instead.
import { PhysicalMemory, TmemError } from "../../src/index.js";
import type { FrameStressResult } from "../../src/demo/frames.js";

type Outcome =
  | { ok: true; results: FrameStressResult[]; used: number; free: number; isolated: boolean }
  | { ok: false; code: string; message: string };

declare global {
  interface Window { __tmemResult?: Outcome }
}

async function main(): Promise<Outcome> {
  const params = new URLSearchParams(location.search);
  const ops = Number(params.get("ops") ?? 100_000);
  let pm: PhysicalMemory;
  try {
    pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
  } catch (e) {
    if (e instanceof TmemError) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = 2;
  const results = await Promise.all([0, 1].map((i) => new Promise<FrameStressResult>((resolve, reject) => {
    const w = new Worker(new URL("./worker.js", location.href), { type: "module" });
    w.onmessage = (ev: MessageEvent<FrameStressResult | { error: string }>) => {
      if ("error" in ev.data) reject(new Error(ev.data.error));
      else resolve(ev.data);
      w.terminate();
    };
    w.onerror = (ev) => reject(new Error(ev.message));
    w.postMessage({ handle: pm.handle, barrier, options: { ops, seed: 7 + i, maxHeld: 1500, owner: 16 + i } });
  })));
  const s = pm.stats();
  return { ok: true, results, used: s.usedFrames, free: s.freeFrames, isolated: crossOriginIsolated };
}

main().then(
  (r) => { window.__tmemResult = r; },
  (e: unknown) => { window.__tmemResult = { ok: false, code: "EXCEPTION", message: String(e) }; },
);
