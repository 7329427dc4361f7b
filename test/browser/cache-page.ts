// Browser test page for TmemCache (test/cache-browser.test.ts): the main
// thread makes a cache, two Web Workers attach by its handle and set and get
// version-stamped values of one set of keys at once; the page checks what the
// Workers left and publishes the outcome on window.__tmemResult.
import { PhysicalMemory, TmemCache } from "../../src/cache/index.js";

interface WorkerResult { sets: number; hits: number; errors: string[]; hello: string | null }
const publish = (r: unknown): void => { (window as unknown as { __tmemResult?: unknown }).__tmemResult = r; };

async function main(): Promise<unknown> {
  const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
  const cache = await TmemCache.create(pm, { budget: 384 << 10, sweepIntervalMs: 0 });
  cache.set("hello", "from the page ☕");
  const big = "lorem ipsum dolor sit amet ".repeat(4000);
  cache.set("big", big);
  const bigBack = cache.get("big") === big; // through TextEncoder/TextDecoder: no Buffer here
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const results = await Promise.all([1, 2].map((id) => new Promise<WorkerResult>((resolve, reject) => {
    const w = new Worker(new URL("./cache-worker.js", location.href), { type: "module" });
    w.onmessage = (ev: MessageEvent<WorkerResult | { error: string }>) => {
      if ("error" in ev.data) reject(new Error(ev.data.error)); else resolve(ev.data);
      w.terminate();
    };
    w.onerror = (ev) => reject(new Error(ev.message));
    w.postMessage({ handle: cache.handle, id, barrier });
  })));
  const fromWorkers = [cache.get("from-1"), cache.get("from-2")];
  // Whether the Workers' sets overflowed the budget depends on their interleaving (two
  // incompressible 100 KB values at once): three more that the budget cannot hold together
  // make eviction happen in every run.
  const noise = new Uint8Array(100_000);
  for (let i = 0; i < 3; i++) {
    for (let o = 0; o < noise.length; o += 65536) crypto.getRandomValues(noise.subarray(o, Math.min(noise.length, o + 65536)));
    cache.set(`fill${i}`, noise);
  }
  const st = cache.stats();
  return {
    ok: true, results,
    fromWorkers,
    bigBack,
    heldOk: st.bytesHeld <= st.budget, sets: st.sets, evictions: st.evictions.budget,
  };
}

main().then(
  (r) => publish(r),
  (e: unknown) => publish({ ok: false, message: String(e) }),
);
