// A Worker of test/cache-faults.test.ts: attaches to a reserved slot and
// runs set/get/delete/clear/sweep on one TmemCache in an endless loop, with
// version-stamped values of 0 B .. 40 KiB (inline, and pieces) and, now and
// then, a value of 4.5 MiB (an index of pieces), until it is terminated.
// Every value it reads must be one whole value some Worker wrote; a wrong
// one is posted as { error } at once (the Worker may be killed any moment).
// With `gate` set it waits for the test to arm the park hook before it
// starts, so its sequence of operations (from `seed`) is the same each run.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, TmemCache } from "../../dist/cache.js";
import { makeValue, checkValue } from "./cache-stamp.mjs";

const { handle, slot, id, seed, keys, gate, big } = workerData;
const pm = await PhysicalMemory.attach(handle.memory, { slot });
const cache = await TmemCache.attach(pm, handle, { sweepIntervalMs: 0 });
parentPort.postMessage({ ready: true });
if (gate !== undefined) {
  const g = new Int32Array(gate);
  while (Atomics.load(g, 0) === 0) Atomics.wait(g, 0, 0, 50);
}

let rng = seed | 1;
const rand = (n) => { rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5; return (rng >>> 0) % n; };
const sizes = [0, 10, 200, 1500, 4000, 5000, 12000, 40000];
for (let i = 1; ; i++) {
  const k = rand(keys);
  const op = rand(100);
  try {
    if (op < 45) {
      const len = big && rand(60) === 0 ? (4 << 20) + 512 * 1024 : sizes[rand(sizes.length)];
      cache.set(`w${id}:${k}`, makeValue(id, i, k, len, rand(3) === 0), rand(8) === 0 ? { ttl: 1 + rand(5) } : undefined);
    } else if (op < 75) {
      const got = cache.get(`w${id}:${k}`);
      if (got !== undefined) {
        const e = checkValue(k, got);
        if (e !== null) parentPort.postMessage({ error: `worker ${id}: ${e}` });
      }
    } else if (op < 93) {
      cache.delete(`w${id}:${k}`);
    } else if (op < 96) {
      cache.sweep(64);
    } else if (op < 98) {
      cache.has(`w${id}:${k}`);
    } else {
      cache.clear();
    }
  } catch (e) {
    // E2BIG (a value the budget cannot take now) is an answer; anything else is a failure.
    if (e?.code !== "E2BIG") parentPort.postMessage({ error: `worker ${id}: op ${op}: ${e?.code ?? ""} ${e?.message ?? e}` });
  }
}
