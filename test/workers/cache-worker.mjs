// A Worker of test/cache-workers.test.ts: attaches to the cache by its
// handle and sets and gets version-stamped values of many sizes, checking
// every value it reads is one whole value some Worker wrote.
import { parentPort, workerData } from "node:worker_threads";
import { TmemCache } from "../../dist/cache.js";

const { handle, id, ops, keys, seed, barrier } = workerData;
const cache = await TmemCache.attachMemory(handle, { sweepIntervalMs: 0 });

/** The value worker `w` writes as version `v` of key `k`: a 16-byte stamp, then bytes derived from it. */
function makeValue(w, v, k, len) {
  const b = new Uint8Array(16 + len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, w, true); dv.setUint32(4, v, true); dv.setUint32(8, k, true); dv.setUint32(12, len, true);
  const body = b.subarray(16);
  let x = ((w * 73856093) ^ (v * 19349663) ^ (k * 83492791)) | 1;
  if (v % 4 === 0) {
    // Pseudo-random: incompressible.
    const words = new Uint32Array(Math.ceil(len / 4));
    for (let i = 0; i < words.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; words[i] = x; }
    body.set(new Uint8Array(words.buffer, 0, len));
  } else {
    // Text-like: a stamped 61-byte phrase, repeated (compressible).
    const n0 = Math.min(len, 61);
    for (let i = 0; i < n0; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; body[i] = 97 + ((x >>> 0) % 23); }
    for (let n = n0; n < len; n *= 2) body.copyWithin(n, 0, Math.min(n, len - n));
  }
  return b;
}

function check(k, got) {
  if (!(got instanceof Uint8Array) || got.length < 16) return `key ${k}: not a stamped value (${got?.length})`;
  const dv = new DataView(got.buffer, got.byteOffset, got.length);
  const w = dv.getUint32(0, true), v = dv.getUint32(4, true), kk = dv.getUint32(8, true), len = dv.getUint32(12, true);
  if (kk !== k) return `key ${k}: holds a value stamped for key ${kk}`;
  if (got.length !== 16 + len) return `key ${k}: stamped length ${len}, got ${got.length - 16} (torn)`;
  if (Buffer.compare(got, makeValue(w, v, k, len)) !== 0) return `key ${k}: bytes differ from worker ${w} version ${v} (mixed or torn)`;
  return null;
}

let rng = seed | 1;
const rand = (n) => { rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5; return (rng >>> 0) % n; };
const sizes = [0, 10, 200, 1500, 4000, 5000, 12000, 70000, 150000];

const hello = cache.get("hello");
// Start together.
const b = new Int32Array(barrier);
Atomics.add(b, 0, 1);
while (Atomics.load(b, 0) < 2) Atomics.wait(b, 0, Atomics.load(b, 0), 5);

let sets = 0, hits = 0, misses = 0, errors = [];
const t0 = performance.now();
for (let i = 0; i < ops && errors.length === 0; i++) {
  const k = rand(keys);
  if (rand(3) === 0) {
    cache.set(`k${k}`, makeValue(id, i, k, sizes[rand(sizes.length)]));
    sets++;
  } else {
    const got = cache.get(`k${k}`);
    if (got === undefined) { misses++; continue; }
    hits++;
    const e = check(k, got);
    if (e !== null) errors.push(e);
  }
}
const ms = performance.now() - t0;
// Both loops are over before either says hello, so the other's large sets cannot evict it.
Atomics.add(b, 0, 1);
while (Atomics.load(b, 0) < 4) Atomics.wait(b, 0, Atomics.load(b, 0), 5);
cache.set(`from-worker-${id}`, `hello from ${id}`);
cache.close();
parentPort.postMessage({ hello, sets, hits, misses, errors, ms });
