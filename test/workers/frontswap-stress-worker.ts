// SPDX-License-Identifier: MIT
/**
 * frontswap-stress-worker.ts: a worker_threads entry that attaches to a
 * physical memory and drives the frontswap frontend, for the 2-Worker tests
 * and bench/frontswap.ts. workerData: `{ handle, corpus }` (corpus: a
 * SharedArrayBuffer of whole 4 KiB pages). It then answers messages:
 *
 * - `{ cmd: "store" | "load", type, base, count }`: store (or load and
 *   verify) pages base..base+count-1 of `type`, page p = corpus page
 *   p mod n; replies `{ ms, ok, bad }` (ok = accepted stores / exact loads).
 * - `{ cmd: "random", type, base, count, ops, seed }`: random stores, loads
 *   and invalidations of offsets base..base+count-1 checked against a local
 *   model: an accepted store must load back exact until invalidated, a
 *   rejected store must leave no copy; replies `{ ms, ok, bad, stored }`.
 * - `{ cmd: "register", types, fs }`: create a zcache instance and register
 *   it with frontswap and cleancache, init `types` and initFs `fs` times,
 *   all racing the other Workers; replies `{ instance, fsIds }`.
 * - `{ cmd: "cleancache", fs, key, count, rounds, seed }`: puts and gets on a
 *   shared cleancache pool, checking every hit is byte-exact; replies
 *   `{ hits, misses, bad }`.
 * - `{ cmd: "mixed", type, base, count, fs, ops, seed }`: frontswap stores,
 *   loads and invalidations (model-checked, as "random") interleaved with
 *   puts and gets on shared cleancache pool `fs` (every hit byte-exact);
 *   replies `{ ok, bad, hits, rejected, stored }`.
 * - `{ cmd: "exit" }`: detach and exit.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { Frontswap, type SwapType } from "../../src/frontswap.js";
import { Cleancache } from "../../src/cleancache.js";
import { Zcache } from "../../src/zcache.js";

const { handle, corpus, zpool } = workerData as { handle: PhysicalMemoryHandle; corpus: SharedArrayBuffer; zpool?: string };
const pm = await PhysicalMemory.attach(handle);
const fs = Frontswap.for(pm);
const cc = Cleancache.for(pm);
const pages = new Uint8Array(corpus);
const npages = pages.length / 4096;
const pageOf = (p: number): Uint8Array => pages.subarray((p % npages) * 4096, (p % npages + 1) * 4096);

function eq(a: Uint8Array, b: Uint8Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, 1024), y = new Uint32Array(b.buffer, b.byteOffset, 1024);
  for (let i = 0; i < 1024; i++) if (x[i] !== y[i]) return false;
  return true;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

let rng = 1;
const rand = (n: number): number => {
  rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0;
  return rng % n;
};

type Msg =
  | { cmd: "store" | "load"; type: SwapType; base: number; count: number }
  | { cmd: "random"; type: SwapType; base: number; count: number; ops: number; seed: number }
  | { cmd: "register"; types: SwapType[]; fs: number }
  | { cmd: "cleancache"; fs: number; key: number; count: number; rounds: number; seed: number }
  | { cmd: "mixed"; type: SwapType; base: number; count: number; fs: number; ops: number; seed: number }
  | { cmd: "exit" };

parentPort!.on("message", async (m: Msg) => {
  try {
    await fs.ready();
    await cc.ready();
    const out = new Uint8Array(4096);
    if (m.cmd === "store") {
      let ok = 0;
      const t0 = performance.now();
      for (let i = 0; i < m.count; i++) if (fs.store(m.type, m.base + i, pageOf(m.base + i))) ok++;
      parentPort!.postMessage({ ms: performance.now() - t0, ok, bad: 0 });
    } else if (m.cmd === "load") {
      // Scrambled order (i × stride mod count), as the baseline in bench/frontswap.ts.
      let s = Math.floor(m.count * 0.618) | 1;
      while (gcd(s, m.count) !== 1) s += 2;
      let ok = 0, bad = 0;
      const t0 = performance.now();
      for (let i = 0; i < m.count; i++) if (fs.load(m.type, m.base + ((i * s) % m.count), out)) ok++;
      const ms = performance.now() - t0;
      // Verify every page byte-exact in a second, untimed pass.
      for (let i = 0; i < m.count; i++) if (fs.load(m.type, m.base + i, out) && !eq(out, pageOf(m.base + i))) bad++;
      parentPort!.postMessage({ ms, ok, bad });
    } else if (m.cmd === "random") {
      rng = m.seed || 1;
      const model = new Map<number, number>(); // offset → corpus page index
      let ok = 0, bad = 0;
      const t0 = performance.now();
      for (let i = 0; i < m.ops; i++) {
        const off = m.base + rand(m.count);
        const r = rand(10);
        if (r < 5) {
          const p = rand(npages * 4);
          if (fs.store(m.type, off, pageOf(p))) model.set(off, p); else model.delete(off);
        } else if (r < 9) {
          const hit = fs.load(m.type, off, out);
          const want = model.get(off);
          if (hit !== (want !== undefined) || (hit && !eq(out, pageOf(want!)))) bad++; else ok++;
        } else {
          const was = fs.invalidatePage(m.type, off);
          if (was !== model.has(off)) bad++;
          model.delete(off);
        }
      }
      // Final sweep: every accepted page loads back exact.
      for (const [off, p] of model) if (!fs.load(m.type, off, out) || !eq(out, pageOf(p))) bad++;
      parentPort!.postMessage({ ms: performance.now() - t0, ok, bad, stored: model.size });
    } else if (m.cmd === "register") {
      const z = await Zcache.create(pm, { zpool: zpool ?? "zsmalloc" });
      const [a, b] = await Promise.all([fs.registerOps(z), cc.registerOps(z)]);
      for (const t of m.types) await fs.init(t);
      const fsIds: number[] = [];
      for (let i = 0; i < m.fs; i++) fsIds.push(await cc.initFs());
      parentPort!.postMessage({ instance: z.instance, fsIds, prev: [a?.instance ?? -1, b?.instance ?? -1] });
    } else if (m.cmd === "cleancache") {
      rng = m.seed || 1;
      const fsId = cc.fsId(m.fs); // posted by the parent: an FsId again, checked
      let hits = 0, misses = 0, bad = 0;
      for (let r = 0; r < m.rounds; r++) {
        for (let i = 0; i < m.count; i++) {
          // Both Workers put the same bytes under a key: any hit must be exact.
          if (rand(2) === 0) cc.putPage(fsId, m.key, i, pageOf(i));
          else if (cc.getPage(fsId, m.key, i, out)) { if (eq(out, pageOf(i))) hits++; else bad++; } else misses++;
        }
      }
      parentPort!.postMessage({ hits, misses, bad });
    } else if (m.cmd === "mixed") {
      // frontswap on this Worker's offsets (model-checked) interleaved with
      // clean pages on a shared cleancache pool (any hit must be exact), in
      // memory small enough that clean pages are evicted to make room.
      rng = m.seed || 1;
      const fsId = cc.fsId(m.fs); // posted by the parent: an FsId again, checked
      const model = new Map<number, number>();
      let ok = 0, bad = 0, hits = 0, rejected = 0;
      for (let i = 0; i < m.ops; i++) {
        const r = rand(20);
        if (r < 6) {
          const off = m.base + rand(m.count), p = rand(npages);
          if (fs.store(m.type, off, pageOf(p))) model.set(off, p); else { model.delete(off); rejected++; }
        } else if (r < 10) {
          const off = m.base + rand(m.count);
          const hit = fs.load(m.type, off, out);
          const want = model.get(off);
          if (hit !== (want !== undefined) || (hit && !eq(out, pageOf(want!)))) bad++; else ok++;
        } else if (r < 11) {
          const off = m.base + rand(m.count);
          if (fs.invalidatePage(m.type, off) !== model.has(off)) bad++;
          model.delete(off);
        } else if (r < 16) {
          const idx = rand(4 * npages);
          cc.putPage(fsId, 7, idx, pageOf(idx));
        } else {
          const idx = rand(4 * npages);
          if (cc.getPage(fsId, 7, idx, out)) { hits++; if (!eq(out, pageOf(idx))) bad++; }
        }
      }
      for (const [off, p] of model) if (!fs.load(m.type, off, out) || !eq(out, pageOf(p))) bad++;
      parentPort!.postMessage({ ok, bad, hits, rejected, stored: model.size });
    } else if (m.cmd === "exit") {
      pm.detach();
      process.exit(0);
    }
  } catch (e) {
    parentPort!.postMessage({ error: String((e as Error).stack ?? e) });
  }
});
parentPort!.postMessage({ ready: true, slot: pm.slot });
