// SPDX-License-Identifier: MIT
// Attacks on the object id at the wasm boundary (session 5, the attacker's pass
// over core14's "object id as one address"): object ids that are views into the
// physical memory itself (the out area a batch writes, the I/O slot a store
// fills), ids that are not six words (short, detached, another typed array),
// and, where the build has it, the call-record address given to the exports
// directly (past the end, wrapped, unaligned, another Worker's scratch). What
// passes documents a guarantee; an it.fails names the bug and its fix.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCore, oidFrom, type Oid } from "../src/tmem/core.js";
import { Zcache } from "../src/zcache.js";
import { errorCode } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";

const freed: Array<[number, number, number, number]> = [];
const free = (lo: number, hi: number, meta: number, pool: number): void => { freed.push([lo, hi, meta, pool]); };
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

type Core = Record<string, (...a: number[]) => number>;

describe("object ids that are views into the physical memory", () => {
  // WAS A BUG (found by the attacker, fixed by the lead: TmemCore.ownOid): TmemCore.flushObject re-reads the caller's Oid for every batch of 256, after
  // the previous batch's OutRecords were written to the out area; an Oid that is a view of the out area
  // (or of anything a free callback writes) names another object from the second batch on, so pages of
  // the object survive its flush. Fix: copy the oid once on entry (oidArg before the loop, the call record
  // lying past every batch's records), or refuse an Oid whose buffer is the memory's (as checkPage does).
  it("flushObject with an Oid aliasing the out area removes every page of the object (300 > one batch)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const tc = TmemCore.for(pm);
    const p = tc.newPool({ persistent: true });
    const alias = new Uint32Array(pm.memory.buffer, tc.out.byteOffset, 6) as Oid;
    alias.set([11, 22, 33, 44, 55, 66]);
    const oid = Uint32Array.of(11, 22, 33, 44, 55, 66) as Oid;
    for (let i = 0; i < 300; i++) expect(tc.put(p, oid, i, i + 1, 0, 7, free)).toBe("new");
    freed.length = 0;
    alias.set(oid);
    const n = tc.flushObject(p, alias, free);
    expect({ n, left: tc.poolInfo(p).pages, freed: freed.length }).toEqual({ n: 300, left: 0, freed: 300 });
    pm.detach();
  });

  it("get / flushPage with an Oid aliasing the out area read the id before writing the record (a guarantee)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const tc = TmemCore.for(pm);
    const p = tc.newPool({ persistent: true });
    const oid = Uint32Array.of(5, 6, 7, 8, 9, 10) as Oid;
    expect(tc.put(p, oid, 3, 40, 41, 42, free)).toBe("new");
    const alias = new Uint32Array(pm.memory.buffer, tc.out.byteOffset, 6) as Oid;
    alias.set(oid);
    expect(tc.get(p, alias, 3, 2 /* KEEP */)).toBe(true);
    expect([tc.lo, tc.hi, tc.meta]).toEqual([40, 41, 42]);
    tc.unpin(tc.pin, free);
    alias.set(oid);
    freed.length = 0;
    expect(tc.flushPage(p, alias, 3, free)).toBe(true);
    expect(freed).toEqual([[40, 41, 42, p]]);
    expect(tc.poolInfo(p).pages).toBe(0);
    pm.detach();
  });

  // WAS A BUG (fixed: putPage takes the id through TmemCore.ownOid first): Zcache.putPage copies the page into the I/O slot BEFORE it reads the Oid; an
  // Oid that is a view of the I/O slot is overwritten by the page's first 24 bytes, and the page is
  // stored under that key (the caller's key misses; flushing it leaves the page). Pages that are views
  // of the memory are refused (checkPage), Oids are not. Fix: tc.oidArg(oid) before tc.ioPage.set(page)
  // (or refuse an Oid whose buffer is the memory's).
  it("Zcache.putPage with an Oid aliasing the I/O slot stores under the caller's key", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const z = await Zcache.create(pm);
    const pool = z.createPool({ persistent: true });
    const tc = TmemCore.for(pm);
    const alias = new Uint32Array(pm.memory.buffer, tc.ioPage.byteOffset, 6) as Oid;
    alias.set([1, 2, 3, 4, 5, 6]);
    const page = stampPage(9, 1);
    expect(z.putPage(pool, alias, 0, page)).toBe("new");
    const into = new Uint8Array(4096);
    expect(z.getPage(pool, Uint32Array.of(1, 2, 3, 4, 5, 6) as Oid, 0, into)).toBe(true);
    expect(same(into, page)).toBe(true);
    pm.detach();
  });
});

describe("object ids that are not six words", () => {
  // WAS A BUG (fixed: bindings/args.ts checkOid in TmemCore.oidArg): an Oid was not checked at all: a 2-word array, a Uint32Array of a
  // transferred (detached) buffer or a Float64Array cast to Oid reads its missing words as undefined → 0
  // and the operation silently works on another object (here: object 0, which a real caller owns).
  // Fix: TmemCore.oidArg (the one place every id passes) refuses with EINVAL anything that is not a
  // genuine 6-element Uint32Array on a live buffer (tag and length through the intrinsic getters, as
  // bindings/args.ts checkPage does for pages).
  for (const [name, make] of [
    ["a 2-word Uint32Array", () => new Uint32Array(2)],
    ["a detached Uint32Array", () => { const a = new Uint32Array(6); structuredClone(a.buffer, { transfer: [a.buffer] }); return a; }],
    ["a Float64Array of six 0.5s", () => new Float64Array(6).fill(0.5)],
  ] as const) {
    it(`flushPage with ${name} is EINVAL and leaves object 0's page`, async () => {
      const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
      const z = await Zcache.create(pm);
      const pool = z.createPool({ persistent: true });
      const zero = oidFrom(0);
      expect(z.putPage(pool, zero, 0, stampPage(1, 0))).toBe("new");
      let r: unknown;
      const code = errorCode(() => { r = z.flushPage(pool, make() as unknown as Oid, 0); });
      expect({ code, r, pages: z.poolPages(pool) }).toEqual({ code: "EINVAL", r: undefined, pages: 1 });
      pm.detach();
    });
  }
});

describe("the call-record address given to the exports directly (core14's ABI)", async () => {
  const probe = await PhysicalMemory.create({ frames: 256, maxWorkers: 1 });
  const byAddress = typeof (probe.core as unknown as Core).tmem_call_record === "function";
  probe.detach();
  const EFAULT = -14;

  it.runIf(byAddress)("past the end, wrapped negatives and 2^32-24.. are EFAULT with nothing stored; any address inside reads six words", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const tc = TmemCore.for(pm);
    const c = pm.core as unknown as Core;
    const p = tc.newPool({ persistent: true });
    const end = pm.memory.buffer.byteLength;
    for (const a of [end - 23, end - 1, end, end + 8, -1, -24, 0xffff_ffe8, 0xffff_ffff]) {
      expect(c.tmem_put!(p, a, 1, 9, 9, 9, 0), `put at ${a}`).toBe(EFAULT);
      expect(c.tmem_get!(p, a, 1, 2), `get at ${a}`).toBe(EFAULT);
      expect(c.tmem_flush_page!(p, a, 1), `flush at ${a}`).toBe(EFAULT);
      expect(c.tmem_flush_object!(p, a, 16), `flush object at ${a}`).toBe(EFAULT);
    }
    expect(tc.poolInfo(p).pages).toBe(0);
    // The last whole ObjectId, an unaligned one, and address 0 are ids like any other.
    const words = new DataView(pm.memory.buffer);
    for (const a of [end - 24, (tc as unknown as { callAddr: number }).callAddr + 1, 0]) {
      const key = Uint32Array.from({ length: 6 }, (_, i) => words.getUint32(a + 4 * i, true)) as Oid;
      expect(c.tmem_put!(p, a, 2, 1, 2, 3, 0), `put at ${a}`).toBe(0);
      expect(tc.get(p, key, 2, 2), `get at ${a}`).toBe(true);
      tc.unpin(tc.pin, free);
      expect(tc.flushPage(p, key, 2, free)).toBe(true);
    }
    expect(tc.poolInfo(p).pages).toBe(0);
    pm.detach();
  });

  it.runIf(byAddress)("tmem_zcache_store with an address past the end is EFAULT: nothing stored, compressed or counted", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const z = await Zcache.create(pm);
    const pool = z.createPool({ persistent: true });
    const tc = TmemCore.for(pm);
    const c = pm.core as unknown as Core;
    const before = JSON.stringify(z.stats());
    tc.ioPage.set(stampPage(2, 2));
    const st = (z as unknown as { stAddr: number }).stAddr;
    expect(c.tmem_zcache_store!(st, 1, pool, pm.memory.buffer.byteLength - 4, 0, 0)).toBe(EFAULT);
    expect(c.tmem_zcache_load!(st, 0, pool, pm.memory.buffer.byteLength - 4, 0)).toBeLessThan(0);
    expect(JSON.stringify(z.stats())).toBe(before);
    expect(z.poolPages(pool)).toBe(0);
    expect(z.persistent.stats().objects).toBe(0);
    pm.detach();
  });
});
