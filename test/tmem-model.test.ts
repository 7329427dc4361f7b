// SPDX-License-Identifier: MIT
// Model-based test of the whole stack: cleancache and frontswap over zcache
// and raw backends that register, chain and unregister at random points.
// Invariants checked after every step:
//  - a page accepted by frontswap loads back byte-exact until invalidated
//    (and a rejected store leaves no older copy);
//  - a cleancache get returns the exact bytes last put under the key, or
//    misses: never stale or wrong bytes; a private get is exclusive;
//  - pages handed back by unuse/shrink/unregister are exact and leave;
//  - the counters add up.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache, type FsId } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { RawBackend } from "../src/tmem/raw.js";
import type { TmemBackend } from "../src/tmem/ops.js";
import { corpusPage, loadCorpus, throwsWith } from "./helpers.js";
import type { SwapType } from "../src/frontswap.js";

const NPAGES = 48;
const PAGES: Uint8Array[] = [];
{
  // Real anon pages: ../shared/corpus when present, else the repo's 512-page sample.
  const anon = await loadCorpus("anon");
  for (let i = 0; i < NPAGES; i++) {
    const p = new Uint8Array(4096);
    if (i % 8 === 0) p.fill(i); // same-filled
    else if (i % 8 === 1) { let x = i * 7919; for (let j = 0; j < 4096; j++) { x = (x * 1103515245 + 12345) >>> 0; p[j] = x >>> 24; } } // incompressible
    else p.set(corpusPage(anon, i * 97));
    PAGES.push(p);
  }
}
const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
const UUIDS = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"];

type Op =
  | { t: "regZ" } | { t: "regRaw"; cap: number } | { t: "unreg"; which: number }
  | { t: "init"; type: number } | { t: "store"; type: number; off: number; page: number }
  | { t: "load"; type: number; off: number } | { t: "inval"; type: number; off: number }
  | { t: "area"; type: number } | { t: "unuse"; type: number; n: number } | { t: "shrink"; target: number }
  | { t: "initFs" } | { t: "initShared"; u: number } | { t: "put"; fs: number; key: number; index: number; page: number }
  | { t: "flood"; fs: number; n: number; page: number } | { t: "get"; fs: number; key: number; index: number } | { t: "invPage"; fs: number; key: number; index: number }
  | { t: "invInode"; fs: number; key: number } | { t: "invFs"; fs: number };

const small = (n: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: n });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ t: "regZ" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("regRaw" as const), cap: small(12) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("unreg" as const), which: small(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("init" as const), type: small(2) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant("store" as const), type: small(2), off: small(9), page: small(NPAGES - 1) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant("load" as const), type: small(2), off: small(9) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("inval" as const), type: small(2), off: small(9) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("area" as const), type: small(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("unuse" as const), type: small(2), n: small(6) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("shrink" as const), target: small(20) }) },
  { weight: 2, arbitrary: fc.constant({ t: "initFs" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("initShared" as const), u: small(1) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant("put" as const), fs: small(3), key: small(2), index: small(24), page: small(NPAGES - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("flood" as const), fs: small(3), n: fc.integer({ min: 10, max: 40 }), page: small(NPAGES - 1) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant("get" as const), fs: small(3), key: small(2), index: small(9) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("invPage" as const), fs: small(3), key: small(2), index: small(9) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("invInode" as const), fs: small(3), key: small(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("invFs" as const), fs: small(3) }) },
);

/** Totals over all runs, so the test can check it exercised what it claims to. */
const seen = { stores: 0, rejected: 0, loads: 0, ccHits: 0, handedBack: 0, registrations: 0, unregistrations: 0, evicted: 0 };

async function run(ops: Op[], frames: number, zpool = "zbud", build: "debug" | "release" = "release"): Promise<void> {
  const pm = await PhysicalMemory.create({ frames, maxWorkers: 2, build });
  try {
    const fsw = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    const backends: TmemBackend[] = [];
    // frontswap model
    const active = new Set<number>();
    const swap = new Map<string, number>(); // "type/off" → page
    let succ = 0, failed = 0, loads = 0, invals = 0;
    // cleancache model
    const fsIds: Array<{ id: FsId; shared: number | null }> = [];
    const cache = new Map<string, number>(); // "slotkey/key/index" → page (may have been evicted)
    let puts = 0, gets = 0, hits = 0, ccInv = 0;
    const out = new Uint8Array(4096);
    const handBack = (type: number, off: number, page: Uint8Array): void => {
      const k = `${type}/${off}`;
      expect(swap.has(k), `handed back ${k} which was not stored`).toBe(true);
      seen.handedBack++;
      expect(eq(page, PAGES[swap.get(k)!]!), `handed back ${k} with wrong bytes`).toBe(true);
      swap.delete(k);
    };
    const ccKey = (fsi: number, key: number, index: number): string => {
      const f = fsIds[fsi]!;
      return `${f.shared !== null ? `u${f.shared}` : `p${f.id}`}/${key}/${index}`;
    };
    // Swap devices and filesystems usually come up before a backend does (the
    // case lazy registration exists for); later ones still come at random.
    const prefix: Op[] = [{ t: "init", type: 0 }, { t: "init", type: 1 }, { t: "initFs" }, { t: "initShared", u: 0 }];
    for (const op of [...prefix, ...ops]) {
      switch (op.t) {
        case "regZ": case "regRaw": {
          if (backends.length >= 3) break;
          let b: Zcache | RawBackend;
          try {
            b = op.t === "regZ"
              ? await Zcache.create(pm, { zpool, maxPoolPercent: 60, acceptThresholdPercent: 80 })
              : RawBackend.create(pm, { maxPages: op.cap });
          } catch (e) {
            expect((e as { code?: string }).code).toBe("ENOMEM"); // no frame for its state: fine
            break;
          }
          const prevF = await fsw.registerOps(b);
          const prevC = await cc.registerOps(b);
          expect(prevF?.instance ?? -1).toBe(backends[0]?.instance ?? -1);
          expect(prevC?.instance ?? -1).toBe(backends[0]?.instance ?? -1);
          backends.unshift(b);
          seen.registrations++;
          break;
        }
        case "unreg": {
          const b = backends[op.which];
          if (b === undefined) break;
          if (b instanceof Zcache) seen.evicted += b.stats().evictedPages;
          await fsw.unregisterOps(b, { writeback: handBack });
          await cc.unregisterOps(b);
          backends.splice(op.which, 1);
          (b as Zcache | RawBackend).destroy();
          // Its id may be reused by the next registration: the destroyed object must refuse, not act on it.
          throwsWith(() => b.stats(), "ENODEV");
          seen.unregistrations++;
          // Its clean pages are gone; keys whose page lived there now miss (allowed).
          break;
        }
        case "init": await fsw.init(op.type as SwapType); active.add(op.type); break;
        case "store": {
          const ok = fsw.store(op.type as SwapType, op.off, PAGES[op.page]!);
          const k = `${op.type}/${op.off}`;
          if (ok) { succ++; seen.stores++; swap.set(k, op.page); } else { failed++; seen.rejected++; swap.delete(k); }
          if (backends.length === 0 || !active.has(op.type)) expect(ok).toBe(false);
          break;
        }
        case "load": {
          const k = `${op.type}/${op.off}`;
          const hit = fsw.load(op.type as SwapType, op.off, out);
          expect(hit, `load ${k}`).toBe(swap.has(k));
          if (hit) { loads++; seen.loads++; expect(eq(out, PAGES[swap.get(k)!]!), `load ${k} bytes`).toBe(true); }
          break;
        }
        case "inval": {
          const k = `${op.type}/${op.off}`;
          const was = fsw.invalidatePage(op.type as SwapType, op.off);
          expect(was).toBe(swap.has(k));
          if (was) invals++;
          swap.delete(k);
          break;
        }
        case "area":
          await fsw.invalidateArea(op.type as SwapType);
          active.delete(op.type);
          for (const k of [...swap.keys()]) if (k.startsWith(`${op.type}/`)) swap.delete(k);
          break;
        case "unuse": fsw.unuse(op.type as SwapType, handBack, op.n); break;
        case "shrink": {
          fsw.shrink(op.target, handBack);
          expect(fsw.curPages()).toBeLessThanOrEqual(op.target);
          break;
        }
        case "initFs": if (fsIds.length < 4) fsIds.push({ id: await cc.initFs(), shared: null }); break;
        case "initShared": if (fsIds.length < 4) fsIds.push({ id: await cc.initSharedFs(UUIDS[op.u]!), shared: op.u }); break;
        case "put": {
          if (op.fs >= fsIds.length) break;
          const k = ccKey(op.fs, op.key, op.index);
          puts++;
          if (cc.putPage(fsIds[op.fs]!.id, op.key, op.index, PAGES[op.page]!)) cache.set(k, op.page); else cache.delete(k);
          break;
        }
        case "flood": {
          // Many clean pages at once (index 100..): fills memory, forcing evictions.
          if (op.fs >= fsIds.length) break;
          for (let i = 0; i < op.n; i++) {
            const k = ccKey(op.fs, 0, 100 + i);
            const pg = (op.page + i) % NPAGES;
            puts++;
            if (cc.putPage(fsIds[op.fs]!.id, 0, 100 + i, PAGES[pg]!)) cache.set(k, pg); else cache.delete(k);
          }
          for (let i = 0; i < op.n; i += 3) {
            const k = ccKey(op.fs, 0, 100 + i);
            gets++;
            if (cc.getPage(fsIds[op.fs]!.id, 0, 100 + i, out)) {
              hits++;
              seen.ccHits++;
              expect(cache.has(k)).toBe(true);
              expect(eq(out, PAGES[cache.get(k)!]!), `cleancache get ${k} bytes`).toBe(true);
              if (fsIds[op.fs]!.shared === null) cache.delete(k);
            } else cache.delete(k);
          }
          break;
        }
        case "get": {
          if (op.fs >= fsIds.length) break;
          const k = ccKey(op.fs, op.key, op.index);
          gets++;
          const hit = cc.getPage(fsIds[op.fs]!.id, op.key, op.index, out);
          if (hit) {
            hits++;
            seen.ccHits++;
            expect(cache.has(k), `cleancache get ${k} returned a page that was never put or was invalidated`).toBe(true);
            expect(eq(out, PAGES[cache.get(k)!]!), `cleancache get ${k} bytes`).toBe(true);
            if (fsIds[op.fs]!.shared === null) cache.delete(k); // exclusive
          } else cache.delete(k); // get-get coherency: it cannot come back without a put
          break;
        }
        case "invPage":
          if (op.fs >= fsIds.length) break;
          cc.invalidatePage(fsIds[op.fs]!.id, op.key, op.index); ccInv++;
          cache.delete(ccKey(op.fs, op.key, op.index));
          break;
        case "invInode": {
          if (op.fs >= fsIds.length) break;
          cc.invalidateInode(fsIds[op.fs]!.id, op.key); ccInv++;
          const pre = ccKey(op.fs, op.key, 0).replace(/\/0$/, "/");
          for (const k of [...cache.keys()]) if (k.startsWith(pre)) cache.delete(k);
          break;
        }
        case "invFs": {
          const f = fsIds[op.fs];
          if (f === undefined) break;
          await cc.invalidateFs(f.id);
          fsIds.splice(op.fs, 1);
          // A shared pool's pages survive while another mount of the uuid remains.
          const pre = f.shared !== null ? `u${f.shared}/` : `p${f.id}/`;
          if (f.shared === null || !fsIds.some((x) => x.shared === f.shared)) {
            for (const k of [...cache.keys()]) if (k.startsWith(pre)) cache.delete(k);
          }
          break;
        }
      }
      // Counters add up after every step.
      const c = fsw.counters();
      expect(c).toEqual({ loads, succStores: succ, failedStores: failed, invalidates: invals });
      for (let t = 0; t <= 2; t++) expect(fsw.curPages(t as SwapType)).toBe([...swap.keys()].filter((k) => k.startsWith(`${t}/`)).length);
      const cn = cc.counters();
      expect(cn.puts).toBe(puts);
      expect(cn.succGets + cn.failedGets).toBe(gets);
      expect(cn.succGets).toBe(hits);
      expect(cn.invalidates).toBe(ccInv);
    }
    for (const b of backends) if (b instanceof Zcache) seen.evicted += b.stats().evictedPages;
    // Every accepted persistent page is still there, exact.
    for (const [k, p] of swap) {
      const [t, o] = k.split("/").map(Number) as [number, number];
      expect(fsw.load(t as SwapType, o, out), `final load ${k}`).toBe(true);
      expect(eq(out, PAGES[p]!)).toBe(true);
    }
  } finally {
    pm.detach();
  }
}

describe("tmem stack model", () => {
  it("frontswap and cleancache agree with a model under random operations and registrations (debug build: invariants asserted)", async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 120 }), async (ops) => { await run(ops, 1024, "zbud", "debug"); }),
      { numRuns: 150 });
  });

  it("the same over zsmalloc (the one-call wasm store/load path), under pressure", async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 40, maxLength: 160 }), async (ops) => { await run(ops, 48, "zsmalloc"); }),
      { numRuns: 80 });
  });

  it("the same under memory pressure (evictions, rejections)", async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 40, maxLength: 160 }), async (ops) => { await run(ops, 32); }),
      { numRuns: 120 });
    // The runs did exercise the paths the invariants are about.
    console.log("tmem-model totals", seen);
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });
});
