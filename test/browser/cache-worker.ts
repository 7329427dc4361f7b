// Web Worker of the TmemCache browser test: attach by the handle, then set
// and get stamped values of 12 keys (0 B .. 100 KB, every 4th incompressible),
// checking that every value read is one whole value some Worker wrote.
import { TmemCache, type TmemCacheHandle } from "../../src/cache/index.js";

function value(w: number, v: number, k: number, len: number): Uint8Array {
  const b = new Uint8Array(12 + len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, w, true); dv.setUint32(4, v, true); dv.setUint32(8, k, true);
  let x = ((w * 73856093) ^ (v * 19349663) ^ (k * 83492791)) | 1;
  const n0 = v % 4 === 0 ? len : Math.min(len, 61);
  for (let i = 0; i < n0; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[12 + i] = v % 4 === 0 ? x & 0xff : 97 + ((x >>> 0) % 23); }
  for (let n = n0; n < len; n *= 2) b.copyWithin(12 + n, 12, 12 + Math.min(n, len - n));
  return b;
}

self.onmessage = async (ev: MessageEvent<{ handle: TmemCacheHandle; id: number; barrier: Int32Array }>) => {
  try {
    const { handle, id, barrier } = ev.data;
    const cache = await TmemCache.attachMemory(handle, { sweepIntervalMs: 0 });
    const hello = cache.get("hello") as string | undefined;
    Atomics.add(barrier, 0, 1);
    while (Atomics.load(barrier, 0) < 2) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 5);
    const sizes = [0, 100, 3000, 5000, 20000, 100000];
    let x = 17 + id, sets = 0, hits = 0;
    const rand = (n: number): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
    const errors: string[] = [];
    for (let i = 0; i < 1500 && errors.length === 0; i++) {
      const k = rand(12);
      if (rand(3) === 0) { cache.set(`k${k}`, value(id, i, k, sizes[rand(sizes.length)]!)); sets++; continue; }
      const got = cache.get(`k${k}`);
      if (got === undefined) continue;
      hits++;
      if (!(got instanceof Uint8Array) || got.length < 12) { errors.push(`k${k}: not a stamped value`); continue; }
      const dv = new DataView(got.buffer, got.byteOffset, got.length);
      const want = value(dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), got.length - 12);
      if (dv.getUint32(8, true) !== k || want.some((b, j) => b !== got[j])) errors.push(`k${k}: torn or mixed value`);
    }
    Atomics.add(barrier, 0, 1);
    while (Atomics.load(barrier, 0) < 4) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 5);
    cache.set(`from-${id}`, `hello from Web Worker ${id}`);
    cache.close();
    postMessage({ sets, hits, errors, hello: hello ?? null });
  } catch (e) {
    postMessage({ error: String(e) });
  }
};
