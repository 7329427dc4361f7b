// A Worker of bench/cache.ts: 90 % gets, 10 % sets of JSON values, on the
// shared TmemCache (mode "tmem") or on a local redis-server through ioredis
// (mode "redis", one command at a time). Reports { ms, n }.
import { parentPort, workerData } from "node:worker_threads";
const { mode, target, keys, values, ops, seed, barrier } = workerData;
let x = seed | 1;
const rand = (n) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
const b = new Int32Array(barrier);
const arrive = () => { Atomics.add(b, 0, 1); while (Atomics.load(b, 0) < 2) Atomics.wait(b, 0, Atomics.load(b, 0), 5); };
if (mode === "tmem") {
  const { TmemCache } = await import("../../dist/cache.js");
  const cache = await TmemCache.attachMemory(target, { sweepIntervalMs: 0 });
  for (let i = 0; i < 2000; i++) cache.get(keys[rand(keys.length)]); // warm up
  arrive();
  const t = performance.now();
  for (let i = 0; i < ops; i++) {
    const k = rand(keys.length);
    if (rand(10) === 0) cache.set(keys[k], values[k]); else cache.get(keys[k]);
  }
  const ms = performance.now() - t;
  cache.close();
  parentPort.postMessage({ ms, n: ops });
} else {
  const { default: Redis } = await import("ioredis");
  const r = new Redis({ port: target, host: "127.0.0.1", lazyConnect: false });
  const pipe = r.pipeline();
  for (let i = 0; i < keys.length; i++) pipe.set(keys[i], values[i]);
  await pipe.exec();
  for (let i = 0; i < 200; i++) await r.get(keys[rand(keys.length)]);
  arrive();
  const t = performance.now();
  for (let i = 0; i < ops; i++) {
    const k = rand(keys.length);
    if (rand(10) === 0) await r.set(keys[k], values[k]); else await r.get(keys[k]);
  }
  const ms = performance.now() - t;
  r.disconnect();
  parentPort.postMessage({ ms, n: ops });
}
