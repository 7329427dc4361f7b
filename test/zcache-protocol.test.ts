// SPDX-License-Identifier: MIT
// zcache's store protocol (issue 14): a store and a load over the built-in
// drivers are one wasm call each (assembly/tmem_zcache.ts); a driver written
// in JavaScript takes the generic path (src/tmem/pam.ts). Random sequences of
// puts (new, replace, noReplace, same-filled, too poorly compressible), gets
// and flushes on persistent and ephemeral pools, checked against a model of
// what each must answer, and the two paths against each other: the same
// PutResult and bytes at every step and the same counters in stats(). Then
// the same sequences in a memory so small that stores run out of frames
// (eviction of clean pages, the old copy's room, rejection): the persistent
// pages always exactly the model's, no stored object leaked or freed twice.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache, type ZcacheStats } from "../src/zcache.js";
import { oidFrom, type Oid } from "../src/tmem/core.js";
import type { PutResult } from "../src/tmem/ops.js";
import { corpusPage, loadCorpus, noise } from "./helpers.js";
import { registerJsDrivers } from "./js-driver.js";

const anon = await loadCorpus("anon");
const js = registerJsDrivers();
const compressible = [...anon.sizes.keys()].filter((k) => anon.sizes[k]! >= 100 && anon.sizes[k]! <= 3072);
/** Page kinds by number: 0..59 real compressible pages, 60..69 same-filled, 70..74 noise (rejected: compress_poor). */
const PAGES: Uint8Array[] = [];
for (let i = 0; i < 60; i++) PAGES.push(corpusPage(anon, compressible[(i * 37) % compressible.length]!).slice());
for (let i = 0; i < 10; i++) {
  const p = new Uint8Array(4096);
  new DataView(p.buffer).setBigUint64(0, BigInt(i * 0x01010101 + 7), true);
  for (let w = 8; w < 4096; w += 8) p.copyWithin(w, 0, 8);
  PAGES.push(p);
}
for (let i = 0; i < 5; i++) PAGES.push(noise(1000 + i));
const POOR_FIRST = 70;
const FRAMES_ZS = 24;

type Op =
  | { op: "put"; pers: boolean; key: number; page: number; noReplace: boolean }
  | { op: "get"; pers: boolean; key: number }
  | { op: "flush"; pers: boolean; key: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("put" as const), pers: fc.boolean(), key: fc.integer({ min: 0, max: 23 }),
    page: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 59 }) }, { weight: 2, arbitrary: fc.integer({ min: 60, max: 69 }) },
      { weight: 2, arbitrary: fc.integer({ min: POOR_FIRST, max: PAGES.length - 1 }) }), noReplace: fc.integer({ min: 0, max: 9 }).map((x) => x < 2) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("get" as const), pers: fc.boolean(), key: fc.integer({ min: 0, max: 23 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("flush" as const), pers: fc.boolean(), key: fc.integer({ min: 0, max: 23 }) }) },
);

interface Rig { pm: PhysicalMemory; z: Zcache; pools: [number, number] }

async function rig(driver: string, frames: number): Promise<Rig> {
  const pm = await PhysicalMemory.create({ frames });
  const z = await Zcache.create(pm, { zpool: driver });
  return { pm, z, pools: [z.createPool({ persistent: false }), z.createPool({ persistent: true })] };
}

/** Object id of a key: a few distinct objects, several indexes each. */
const oids: Oid[] = Array.from({ length: 4 }, (_, i) => oidFrom(BigInt(i) * 0x1_0000_0001_0000_0001n + 3n));
const keyOf = (key: number): [Oid, number] => [oids[key % 4]!, key >> 2];

type Step = PutResult | "hit" | "miss" | boolean;

/** Run `op` on `r`; the bytes of a hit go to `out`. */
function run(r: Rig, op: Op, out: Uint8Array): Step {
  const pool = r.pools[op.pers ? 1 : 0];
  const [oid, index] = keyOf(op.key);
  if (op.op === "put") return r.z.putPage(pool, oid, index, PAGES[op.page]!, op.noReplace);
  if (op.op === "get") return r.z.getPage(pool, oid, index, out) ? "hit" : "miss";
  return r.z.flushPage(pool, oid, index);
}

/** The counters stats() reports per page, which both protocols must keep alike (frames held may differ: placement). */
function counters(s: ZcacheStats): Record<string, number> {
  return {
    ephemeralPages: s.ephemeralPages, persistentPages: s.persistentPages, sameFilledPages: s.sameFilledPages,
    ephemeralZbytes: s.ephemeralZbytes, persistentZbytes: s.persistentZbytes, ephemeralPuts: s.ephemeralPuts,
    persistentPuts: s.persistentPuts, failedEphemeralPuts: s.failedEphemeralPuts, failedPersistentPuts: s.failedPersistentPuts,
    compressPoor: s.compressPoor, poolLimitHit: s.poolLimitHit, rejectAllocFail: s.rejectAllocFail, evictedPages: s.evictedPages,
    gets: s.gets, frees: s.frees, descriptors: s.core.descriptors,
  };
}

/** The model: the page number each key holds, per kind (ephemeral: may also have been evicted, under pressure). */
class Model {
  readonly m: [Map<number, number>, Map<number, number>] = [new Map(), new Map()];
  /**
   * What a put must answer in a memory with room. A page compressed too
   * poorly is rejected before the key is looked at: with noReplace the old
   * copy then stays ("rejected", as both paths have always answered).
   */
  put(op: Extract<Op, { op: "put" }>): PutResult {
    const m = this.m[op.pers ? 1 : 0];
    const had = m.has(op.key);
    if (op.page >= POOR_FIRST) {
      if (op.noReplace) return "rejected";
      m.delete(op.key);
      return had ? "rejected-flushed" : "rejected";
    }
    if (op.noReplace && had) return "exists";
    m.set(op.key, op.page);
    return had ? "replaced" : "new";
  }
  /** Apply what a put answered (under pressure the answer is the store's to choose among the allowed ones). */
  apply(op: Extract<Op, { op: "put" }>, res: PutResult): void {
    const m = this.m[op.pers ? 1 : 0];
    if (res === "new" || res === "replaced") m.set(op.key, op.page);
    else if (res !== "exists" && !op.noReplace) m.delete(op.key);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Flush every key left and check that no object of either zpool outlives its page (a leak or a double free shows here). */
function drainAndCheck(r: Rig): void {
  for (const pers of [false, true]) for (let key = 0; key < 24; key++) run(r, { op: "flush", pers, key }, new Uint8Array(4096));
  const s = r.z.stats();
  expect(s.ephemeralPages + s.persistentPages + s.ephemeralZbytes + s.persistentZbytes + s.sameFilledPages).toBe(0);
  expect(s.core.descriptors).toBe(0);
  expect(r.z.ephemeral.stats().objects + r.z.persistent.stats().objects).toBe(0);
  expect(s.ephemeralPuts + s.persistentPuts).toBe(s.frees);
}

describe("zcache store protocol", () => {
  for (const [driver, generic] of [["zsmalloc", js.zsmalloc], ["zbud", js.zbud]] as const) {
    it(`${driver}: one wasm call per store and load answers as the model and as the generic path (${generic}), counters alike`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 150 }), async (ops) => {
        const a = await rig(driver, 1024), b = await rig(generic, 1024);
        try {
          const model = new Model();
          const oa = new Uint8Array(4096), ob = new Uint8Array(4096);
          for (const op of ops) {
            const ra = run(a, op, oa), rb = run(b, op, ob);
            expect(ra, `${op.op} ${JSON.stringify(op)}`).toBe(rb);
            if (op.op === "put") expect(ra).toBe(model.put(op));
            if (op.op === "get") {
              const m = model.m[op.pers ? 1 : 0];
              const want = m.get(op.key);
              expect(ra).toBe(want === undefined ? "miss" : "hit");
              if (want !== undefined) {
                expect(sameBytes(oa, PAGES[want]!) && sameBytes(ob, PAGES[want]!)).toBe(true);
                if (!op.pers) m.delete(op.key); // a private ephemeral get is exclusive
              }
            }
            if (op.op === "flush") {
              const m = model.m[op.pers ? 1 : 0];
              expect(ra).toBe(m.has(op.key));
              m.delete(op.key);
            }
          }
          expect(counters(a.z.stats())).toEqual(counters(b.z.stats()));
          drainAndCheck(a);
          drainAndCheck(b);
        } finally {
          a.pm.detach();
          b.pm.detach();
        }
      }), { numRuns: 40 });
    });
  }

  for (const driver of ["zsmalloc", "zbud", js.zsmalloc, js.zbud]) {
    it(`${driver}: out of frames, persistent pages stay exactly the model's, clean pages make room, nothing leaks`, async () => {
      const seen = { evicted: 0, allocFail: 0 };
      await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 50, maxLength: 300 }), async (ops) => {
        // A memory where the pages of 48 keys do not fit: stores run out of frames and evict (zbud: 5 frames
        // left after the index and the zcache state; zsmalloc's metadata and zspage chains need a few more).
        const r = await rig(driver, driver.startsWith("zbud") ? 13 : FRAMES_ZS);
        try {
          const model = new Model();
          const out = new Uint8Array(4096);
          for (const op of ops) {
            const res = run(r, op, out);
            const m = model.m[op.pers ? 1 : 0];
            if (op.op === "put") {
              const had = m.has(op.key);
              const res2 = res as PutResult;
              if (res2 === "exists") expect(op.noReplace && had).toBe(true);
              // "flushed" and "replaced" only when there was an old copy (for an ephemeral key it may have been evicted since).
              if (!had) expect(["new", "rejected"]).toContain(res2);
              if (had && op.pers) expect(op.noReplace ? ["exists", "rejected"] : ["replaced", "rejected-flushed"]).toContain(res2);
              if (op.page >= POOR_FIRST) expect(res2.startsWith("rejected")).toBe(true);
              model.apply(op, res2);
            } else if (op.op === "get") {
              const want = m.get(op.key);
              if (op.pers) expect(res).toBe(want === undefined ? "miss" : "hit");
              if (res === "hit") {
                expect(want).toBeDefined();
                expect(sameBytes(out, PAGES[want!]!)).toBe(true);
              }
              if (!op.pers) m.delete(op.key);
            } else {
              if (op.pers) expect(res).toBe(m.has(op.key));
              else if (res === true) expect(m.has(op.key)).toBe(true);
              m.delete(op.key);
            }
          }
          const s = r.z.stats();
          seen.evicted += s.evictedPages;
          seen.allocFail += s.rejectAllocFail;
          expect(s.persistentPages).toBe(model.m[1].size);
          expect(s.ephemeralPages).toBeLessThanOrEqual(model.m[0].size);
          expect(s.core.descriptors).toBe(s.ephemeralPages + s.persistentPages);
          expect(s.ephemeralPuts + s.persistentPuts - s.frees).toBe(s.ephemeralPages + s.persistentPages);
          drainAndCheck(r);
        } finally {
          r.pm.detach();
        }
      }), { numRuns: 25 });
      // The memory was small enough: clean pages were evicted for stores, and some stores found no room at all.
      expect(seen.evicted, "evicted").toBeGreaterThan(0);
      expect(seen.allocFail, "reject_alloc_fail").toBeGreaterThan(0);
    });
  }
});
