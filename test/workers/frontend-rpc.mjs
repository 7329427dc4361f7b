// Worker: attach to a memory and run frontend commands the test posts, one
// at a time, replying { ok, ... } or { error, code }. Pages are made from
// (seed, offset) by stampPage, the same function the test uses.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, Frontswap, Cleancache, Zcache } from "../../dist/index.js";
import { stampPage } from "./stamp.mjs";

const pm = await PhysicalMemory.attach(workerData.handle);
const fs = Frontswap.for(pm);
const cc = Cleancache.for(pm);
const opened = new Map();
const buf = new Uint8Array(4096);

function same(a, b) {
  for (let i = 0; i < 4096; i++) if (a[i] !== b[i]) return false;
  return true;
}

const commands = {
  async ready() { await fs.ready(); await cc.ready(); return {}; },
  store({ type, from, count, seed }) {
    let accepted = 0;
    for (let o = from; o < from + count; o++) if (fs.store(type, o, stampPage(seed, o))) accepted++;
    return { accepted };
  },
  load({ type, from, count, seed }) {
    let hits = 0, misses = 0, bad = 0;
    for (let o = from; o < from + count; o++) {
      if (!fs.load(type, o, buf)) { misses++; continue; }
      if (same(buf, stampPage(seed, o))) hits++; else bad++;
    }
    return { hits, misses, bad };
  },
  async openZcache({ instance }) {
    const z = await Zcache.open(pm, instance);
    opened.set(instance, z);
    return { generation: z.generation };
  },
  stats({ instance }) { return { pages: opened.get(instance).stats().persistentPages }; },
  closeZcache({ instance }) { opened.get(instance).close(); opened.delete(instance); return {}; },
  detach() { pm.detach(); return {}; },
};

parentPort.on("message", async (m) => {
  try {
    const r = await commands[m.cmd](m);
    parentPort.postMessage({ ok: true, ...r });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e), code: e && e.code });
  }
});
parentPort.postMessage({ ok: true, slot: pm.slot });
