// Worker for test/faults.test.ts: attach to the slot the test reserved
// (src/workers.ts), store a "stable" set of frontswap pages (never touched
// again: they must survive this Worker's death), report, then run mixed
// frontswap (model-checked) and cleancache load until terminated, answering
// pings between chunks (a survivor must keep working after another dies).
// workerData: { tmem, corpus, type, base, count, fsId, seed }.
import { parentPort, workerData } from "node:worker_threads";
import { attachSupervised, Frontswap, Cleancache } from "../../dist/index.js";

const { tmem, corpus, type, base, count, fsId, seed } = workerData;
const pm = await attachSupervised(tmem);
const fs = Frontswap.for(pm);
const cc = Cleancache.for(pm);
await fs.ready();
await cc.ready();
const pages = new Uint8Array(corpus);
const npages = pages.length / 4096;
const pageOf = (p) => pages.subarray((p % npages) * 4096, (p % npages + 1) * 4096);
const eq = (a, b) => {
  const x = new Uint32Array(a.buffer, a.byteOffset, 1024), y = new Uint32Array(b.buffer, b.byteOffset, 1024);
  for (let i = 0; i < 1024; i++) if (x[i] !== y[i]) return false;
  return true;
};
let rng = seed >>> 0 || 1;
const rand = (n) => { rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0; return rng % n; };
const out = new Uint8Array(4096);

// The stable set: offsets base .. base+count/2, page = offset.
// A backend the main thread registers meanwhile (every 10th kill) is ENODEV
// here until this Worker opens it: the frontends' contract is "await ready()
// and retry" (nothing was stored by the call that threw).
const reopen = async () => { await fs.ready(); await cc.ready(); };
const stable = [];
for (let off = base; off < base + (count >> 1);) {
  try {
    if (fs.store(type, off, pageOf(off))) stable.push(off);
    off++;
  } catch (e) {
    if (e && e.code === "ENODEV") { await reopen(); continue; }
    throw e;
  }
}
let bad = 0, ops = 0;
const model = new Map();
const lo = base + (count >> 1), span = count - (count >> 1);
const onMessage = (m) => {
  try {
    handle(m);
  } catch (e) {
    if (e && e.code === "ENODEV") { void reopen().then(() => onMessage(m)); return; }
    throw e;
  }
};
parentPort.on("message", onMessage);
function handle(m) {
  if (m.cmd === "ping") {
    // A survivor's checklist: store, load, invalidate one page of its own, now.
    const off = lo + rand(span), p = rand(npages);
    const stored = fs.store(type, off, pageOf(p));
    if (stored) model.set(off, p); else model.delete(off);
    const ok = !stored || (fs.load(type, off, out) && eq(out, pageOf(p)));
    parentPort.postMessage({ cmd: "pong", ok, bad, ops });
  } else if (m.cmd === "exit") {
    for (const [off, p] of model) if (!fs.load(type, off, out) || !eq(out, pageOf(p))) bad++;
    pm.detach();
    parentPort.postMessage({ cmd: "bye", bad, ops });
    process.exit(0);
  }
}
parentPort.postMessage({ cmd: "ready", slot: pm.slot, stable });
const chunk = () => {
  try {
    for (let i = 0; i < 200; i++, ops++) {
      const r = rand(20);
      const off = lo + rand(span);
      if (r < 7) {
        const p = rand(npages);
        if (fs.store(type, off, pageOf(p))) model.set(off, p); else model.delete(off);
      } else if (r < 12) {
        const hit = fs.load(type, off, out);
        if (hit !== model.has(off) || (hit && !eq(out, pageOf(model.get(off))))) bad++;
      } else if (r < 14) {
        if (fs.invalidatePage(type, off) !== model.has(off)) bad++;
        model.delete(off);
      } else if (r < 17) {
        const idx = rand(256);
        cc.putPage(fsId, 7, idx, pageOf(idx));
      } else {
        const idx = rand(256);
        if (cc.getPage(fsId, 7, idx, out) && !eq(out, pageOf(idx))) bad++;
      }
    }
  } catch (e) {
    // Registration changes by the main thread may ask this Worker to re-open backends.
    if (e && e.code === "ENODEV") { void fs.ready().then(() => cc.ready()).then(() => setImmediate(chunk)); return; }
    parentPort.postMessage({ cmd: "error", error: String(e && e.stack || e) });
    return;
  }
  setImmediate(chunk);
};
setImmediate(chunk);
