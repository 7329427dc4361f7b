// Worker for test/attack-robust.test.ts (frontend level): attach to the slot
// the test reserved (src/workers.ts), then run frontswap stores, loads and
// invalidations on its own swap type and cleancache puts and gets on a
// shared filesystem until parked by the debug hook inside a critical section
// and terminated there. It publishes in shared memory, before each
// operation, which one is in flight, and after it, the acknowledged state of
// the offset (so the test knows what must load back).
// workerData: { tmem, corpus, type, fsId, count, log, seed }.
// log (Int32Array): [0] seq started, [1] kind (1 store, 2 load, 3 invalidate,
// 4 cc put, 5 cc get), [2] offset, [3] page, [4] seq done, [5] bad loads,
// [6] ops; [16 + off] acknowledged page + 1 of offset off (0: absent).
import { parentPort, workerData } from "node:worker_threads";
import { attachSupervised, Frontswap, Cleancache } from "../../dist/index.js";

const { tmem, corpus, type, fsId, count, log, seed } = workerData;
const pm = await attachSupervised(tmem);
const fs = Frontswap.for(pm);
const cc = Cleancache.for(pm);
await fs.ready();
await cc.ready();
const L = new Int32Array(log);
const pages = new Uint8Array(corpus);
const npages = pages.length / 4096;
const pageOf = (p) => pages.subarray((p % npages) * 4096, (p % npages + 1) * 4096);
const same = (a, b) => Buffer.compare(a, b) === 0;
let rng = seed >>> 0 || 1;
const rand = (n) => { rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0; return rng % n; };
const out = new Uint8Array(4096);
parentPort.postMessage({ cmd: "ready", slot: pm.slot });
for (let seq = 1; ; seq++) {
  const r = rand(20), off = rand(count), p = rand(npages);
  const kind = r < 7 ? 1 : r < 12 ? 2 : r < 14 ? 3 : r < 17 ? 4 : 5;
  L[1] = kind; L[2] = off; L[3] = p; Atomics.store(L, 0, seq);
  if (kind === 1) L[16 + off] = fs.store(type, off, pageOf(p)) ? p + 1 : 0;
  else if (kind === 2) {
    const want = L[16 + off];
    const hit = fs.load(type, off, out);
    if (hit !== (want !== 0) || (hit && !same(out, pageOf(want - 1)))) L[5]++;
  } else if (kind === 3) { fs.invalidatePage(type, off); L[16 + off] = 0; }
  else if (kind === 4) cc.putPage(fsId, 9, off, pageOf(off));
  else if (cc.getPage(fsId, 9, off, out) && !same(out, pageOf(off))) L[5]++;
  L[6]++;
  Atomics.store(L, 4, seq);
}
