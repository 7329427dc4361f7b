// SPDX-License-Identifier: MIT
// Attacks with real Workers on one memory (the attacker's pass over backend
// generations, use-after-detach and registration races): two Workers
// registering, unregistering and destroying the same backend at once, and a
// Worker that registered a backend and stored pages, then detaches. Exactly
// one of two racing registrations wins, nothing registered is destroyed, and
// no accepted page is lost.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { stampPage } from "./workers/stamp.mjs";

const url = new URL("../dist/index.js", import.meta.url).href;
const stampUrl = new URL("./workers/stamp.mjs", import.meta.url).href;
/** A Worker that runs `cmd` messages: { op, ...args } -> { ok, r } | { code, message }. */
const code = `
  const { parentPort, workerData } = require("node:worker_threads");
  (async () => {
    const { PhysicalMemory, Frontswap, Cleancache, Zcache } = await import(workerData.url);
    const { stampPage } = await import(workerData.stampUrl);
    const pm = await PhysicalMemory.attach(workerData.handle);
    const fs = Frontswap.for(pm), cc = Cleancache.for(pm);
    let z;
    const ops = {
      async open({ instance }) { z = await Zcache.open(pm, instance); return z.generation; },
      async register() { await fs.registerOps(z); return "ok"; },
      async unregister() { let handed = 0; await fs.unregisterOps(z, { writeback: () => { handed++; } }); return handed; },
      async ccRegister() { await cc.registerOps(z); return "ok"; },
      async destroy() { z.destroy({ force: true }); return "ok"; },
      async store({ from, count, seed }) { await fs.ready(); let n = 0; for (let o = from; o < from + count; o++) if (fs.store(0, o, stampPage(seed, o))) n++; return n; },
      async detach() { pm.detach(); return "ok"; },
    };
    parentPort.on("message", async (m) => {
      try { parentPort.postMessage({ ok: true, r: await ops[m.op](m) }); }
      catch (e) { parentPort.postMessage({ ok: false, code: e && e.code, message: String(e && e.message || e) }); }
    });
    parentPort.postMessage({ ok: true, r: "up" });
  })();`;

function spawn(pm: PhysicalMemory): { w: Worker; call: (op: string, args?: object) => Promise<{ ok: boolean; r?: unknown; code?: string; message?: string }> } {
  const w = new Worker(code, { eval: true, workerData: { url, stampUrl, handle: pm.handle } });
  const queue: Array<(m: never) => void> = [];
  w.on("message", (m) => queue.shift()?.(m as never));
  const first = new Promise((r) => queue.push(r as never));
  const call = async (op: string, args: object = {}) => {
    await first;
    return new Promise<{ ok: boolean; r?: unknown; code?: string; message?: string }>((r) => { queue.push(r as never); w.postMessage({ op, ...args }); });
  };
  return { w, call };
}

describe("registration races between two Workers", () => {
  it("the same backend registered, unregistered and destroyed from two Workers at once: one wins each race, the rest are clean errors", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    const a = spawn(pm), b = spawn(pm);
    try {
      for (let round = 0; round < 6; round++) {
        const z = await Zcache.create(pm);
        await Promise.all([a.call("open", { instance: z.instance }), b.call("open", { instance: z.instance })]);
        const reg = await Promise.all([a.call("register"), b.call("register")]);
        expect(reg.filter((x) => x.ok).length, JSON.stringify(reg)).toBe(1);
        expect(reg.find((x) => !x.ok)!.code).toBe("EEXIST");
        await fs.ready();
        expect(fs.backends()).toEqual([z.instance]);
        expect((await a.call("store", { from: round * 100, count: 100, seed: round + 1 })).r).toBe(100);
        // A forced destroy races the unregistration: it must never succeed while the backend is registered.
        const [ua, db] = await Promise.all([a.call("unregister"), b.call("destroy")]);
        expect(ua.ok, JSON.stringify(ua)).toBe(true);
        expect(ua.r, "pages handed to writeback").toBe(100);
        if (db.ok) expect(fs.backends()).toEqual([]);
        else expect(db.code, JSON.stringify(db)).toBe("EBUSY");
        const ub = await b.call("unregister");
        expect(ub.ok).toBe(false);
        expect(["ENOENT", "ENODEV"]).toContain(ub.code);
        expect(fs.backends()).toEqual([]);
        expect(fs.curPages(0)).toBe(0);
        if (!db.ok) z.destroy({ force: true });
      }
    } finally {
      await a.w.terminate(); await b.w.terminate();
    }
    pm.detach();
  }, 60_000);

  it("a Worker that registered a backend and stored pages then detaches: the main thread still loads every page, then unregisters and destroys without force", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
    const fs = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    await fs.init(0);
    const z = await Zcache.create(pm);
    const w = spawn(pm);
    try {
      expect((await w.call("open", { instance: z.instance })).ok).toBe(true);
      expect((await w.call("register")).ok).toBe(true);
      expect((await w.call("ccRegister")).ok).toBe(true);
      expect((await w.call("store", { from: 0, count: 300, seed: 9 })).r).toBe(300);
      expect((await w.call("detach")).ok).toBe(true);
      // After detach the Worker refuses everything and changes nothing.
      const after = await w.call("store", { from: 1000, count: 5, seed: 9 });
      expect(after.ok).toBe(false);
      expect(after.code).toBe("EINVAL");
    } finally {
      await w.w.terminate();
    }
    await fs.ready();
    const into = new Uint8Array(4096);
    for (let o = 0; o < 300; o++) {
      expect(fs.load(0, o, into), `offset ${o}`).toBe(true);
      expect(Buffer.compare(Buffer.from(into), Buffer.from(stampPage(9, o)))).toBe(0);
    }
    expect(fs.load(0, 1000, into)).toBe(false);
    await cc.unregisterOps(z);
    const back: number[] = [];
    await fs.unregisterOps(z, { writeback: (_t, off, page) => { if (Buffer.compare(Buffer.from(page), Buffer.from(stampPage(9, off))) === 0) back.push(off); } });
    expect(back.length).toBe(300);
    z.destroy();
    pm.detach();
  }, 30_000);
});
