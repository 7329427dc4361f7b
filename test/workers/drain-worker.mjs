// Worker for the drain test: random stores, loads and invalidations of its
// own offsets (version-stamped pages), checked against its model, while
// another thread registers, drains and unregisters backends. An operation
// that meets a backend not yet open here (ENODEV) waits for ready() and is
// retried: ENODEV is raised before anything changes.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, Frontswap } from "../../dist/index.js";
import { stampPage } from "./stamp.mjs";

const { handle, id, base, count, ops, seed } = workerData;
const pm = await PhysicalMemory.attach(handle);
const fs = Frontswap.for(pm);
await fs.ready();
let x = seed >>> 0 || 1;
const rnd = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
const model = new Map(); // offset -> version stored
let version = 1;
const r = { ops: 0, stores: 0, rejected: 0, hits: 0, misses: 0, bad: 0, lost: 0, ghosts: 0, wrongInvalidate: 0, retries: 0 };
const buf = new Uint8Array(4096);
const same = (a, b) => { for (let i = 0; i < 4096; i++) if (a[i] !== b[i]) return false; return true; };

async function retry(f) {
  for (;;) {
    try { return f(); } catch (e) {
      if (e && e.code === "ENODEV") { r.retries++; await fs.ready(); continue; }
      throw e;
    }
  }
}

for (let i = 0; i < ops; i++) {
  const o = base + rnd(count);
  const k = rnd(10);
  if (k < 4) {
    const v = version++;
    const ok = await retry(() => fs.store(0, o, stampPage(v * 16 + id, o)));
    r.stores++;
    if (ok) model.set(o, v); else { model.delete(o); r.rejected++; }
  } else if (k < 8) {
    const hit = await retry(() => fs.load(0, o, buf));
    const v = model.get(o);
    if (v === undefined) { if (hit) r.ghosts++; else r.misses++; }
    else if (!hit) r.lost++;
    else if (!same(buf, stampPage(v * 16 + id, o))) r.bad++;
    else r.hits++;
  } else {
    const had = await retry(() => fs.invalidatePage(0, o));
    if (had !== model.has(o)) r.wrongInvalidate++;
    model.delete(o);
  }
  r.ops++;
  if ((i & 255) === 0) await new Promise((res) => setImmediate(res));
}
// Final pass: every page the model holds loads back exactly.
for (const [o, v] of model) {
  const hit = await retry(() => fs.load(0, o, buf));
  if (!hit) r.lost++; else if (!same(buf, stampPage(v * 16 + id, o))) r.bad++;
}
r.held = model.size;
pm.detach();
parentPort.postMessage(r);
