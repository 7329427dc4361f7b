// SPDX-License-Identifier: MIT
// The tmem core (assembly/tmem.ts via src/tmem/core.ts): pools, put/get/flush
// semantics, pins, eviction, and a fast-check model of the index.
import { describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCore, GetMode, oidFrom, newOid } from "../src/tmem/core.js";
import { throwsWith } from "./helpers.js";
import { TMEM_PUT_NEW, TMEM_PUT_REPLACED_PINNED, TMEM_FLUSH_FREED } from "../bindings/layout.generated.js";

let pm: PhysicalMemory;
let tc: TmemCore;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4, build: "debug" });
  tc = TmemCore.for(pm);
});

const freed: Array<[number, number, number, number]> = [];
const free = (lo: number, hi: number, meta: number, pool: number): void => { freed.push([lo, hi, meta, pool]); };

describe("tmem core", () => {
  it("put / get / flush on a persistent private pool", () => {
    const p = tc.newPool({ persistent: true });
    const oid = oidFrom(42);
    expect(tc.put(p, oid, 7, 100, 200, 300, free)).toBe("new");
    expect(tc.get(p, oid, 7, GetMode.POLICY)).toBe(true);
    expect([tc.lo, tc.hi, tc.meta]).toEqual([100, 200, 300]);
    expect(tc.pin).not.toBe(0); // persistent: kept and pinned
    tc.unpin(tc.pin, free);
    expect(tc.get(p, oid, 8, GetMode.POLICY)).toBe(false);
    // Duplicate put: the old pampd is handed back.
    freed.length = 0;
    expect(tc.put(p, oid, 7, 101, 201, 301, free)).toBe("replaced");
    expect(freed).toEqual([[100, 200, 300, p]]);
    freed.length = 0;
    expect(tc.put(p, oid, 7, 102, 202, 302, free, true)).toBe("exists");
    expect(freed).toEqual([]);
    expect(tc.flushPage(p, oid, 7, free)).toBe(true);
    expect(freed).toEqual([[101, 201, 301, p]]);
    expect(tc.flushPage(p, oid, 7, free)).toBe(false);
    expect(tc.poolInfo(p).pages).toBe(0);
    tc.destroyPool(p, free);
  });

  it("a private ephemeral get is exclusive; a shared one is not", () => {
    const e = tc.newPool({});
    const oid = oidFrom(1n << 150n);
    tc.put(e, oid, 0, 5, 6, 7, free);
    expect(tc.get(e, oid, 0, GetMode.POLICY)).toBe(true);
    expect(tc.pin).toBe(0);
    expect(tc.get(e, oid, 0, GetMode.POLICY)).toBe(false);
    const uuid = "0123456789abcdef0123456789abcdef";
    const s1 = tc.newPool({ uuid });
    const s2 = tc.newPool({ uuid });
    expect(s2).toBe(s1);
    expect(tc.newPool({ uuid: "11112222333344445555666677778888" })).not.toBe(s1);
    tc.put(s1, oid, 3, 1, 2, 3, free);
    expect(tc.get(s2, oid, 3, GetMode.POLICY)).toBe(true);
    tc.unpin(tc.pin, free);
    expect(tc.get(s2, oid, 3, GetMode.POLICY)).toBe(true);
    tc.unpin(tc.pin, free);
    expect(tc.destroyPool(s1, free)).toBe(false); // s2's reference remains
    freed.length = 0;
    expect(tc.destroyPool(s2, free)).toBe(true);
    expect(freed).toEqual([[1, 2, 3, s1]]);
    expect(() => tc.put(s1, oid, 0, 1, 1, 1, free)).not.toThrow();
    expect(tc.put(s1, oid, 0, 1, 1, 1, free)).toBe("dead");
    tc.destroyPool(e, free);
  });

  it("a page flushed while pinned is freed by the last unpin", () => {
    const p = tc.newPool({ persistent: true });
    const oid = oidFrom(9);
    tc.put(p, oid, 1, 11, 12, 13, free);
    expect(tc.get(p, oid, 1, GetMode.KEEP)).toBe(true);
    const pin = tc.pin;
    freed.length = 0;
    expect(tc.flushPage(p, oid, 1, free)).toBe(true);
    expect(freed).toEqual([]); // pinned: not yet
    expect(tc.get(p, oid, 1, GetMode.KEEP)).toBe(false);
    tc.unpin(pin, free);
    expect(freed).toEqual([[11, 12, 13, p]]);
    throwsWith(() => tc.unpin(pin, free), "EINVAL");
    tc.destroyPool(p, free);
  });

  it("a replaced copy is handed back whatever its pampd, even all zero; one replaced while pinned, at the last unpin", () => {
    const p = tc.newPool({ persistent: true });
    const oid = oidFrom(10);
    // An all-zero pampd is a real one (a same-filled word of 0 with meta 0, a frame number 0 ...).
    expect(tc.put(p, oid, 0, 0, 0, 0, free)).toBe("new");
    freed.length = 0;
    expect(tc.put(p, oid, 0, 5, 6, 7, free)).toBe("replaced");
    expect(freed).toEqual([[0, 0, 0, p]]);
    // Replaced while pinned: tmem_put answers TMEM_PUT_REPLACED_PINNED, nothing is freed until the unpin.
    expect(tc.get(p, oid, 0, GetMode.KEEP)).toBe(true);
    const pin = tc.pin;
    freed.length = 0;
    expect(pm.core.tmem_put(p, tc.oidArg(oid), 0, 8, 9, 10, 0)).toBe(TMEM_PUT_REPLACED_PINNED);
    expect(freed).toEqual([]);
    tc.unpin(pin, free);
    expect(freed).toEqual([[5, 6, 7, p]]);
    expect(tc.flushPage(p, oid, 0, free)).toBe(true);
    expect(freed).toEqual([[5, 6, 7, p], [8, 9, 10, p]]);
    tc.destroyPool(p, free);
  });

  it("takes the object id by address: any ObjectId in the memory, and EFAULT (nothing changed) past its end", () => {
    const p = tc.newPool({ persistent: true });
    const c = pm.core;
    // Six words in a frame of our own name the same object as the call record does.
    const frame = pm.allocFrame();
    const at = pm.frameAddress(frame) + 40;
    new Uint32Array(pm.memory.buffer, at, 6).set([1, 2, 3, 4, 5, 6]);
    const oid = Uint32Array.of(1, 2, 3, 4, 5, 6);
    expect(c.tmem_put(p, at, 3, 21, 22, 23, 0)).toBe(TMEM_PUT_NEW);
    expect(tc.get(p, oid, 3, GetMode.KEEP)).toBe(true);
    expect([tc.lo, tc.hi, tc.meta]).toEqual([21, 22, 23]);
    tc.unpin(tc.pin, free);
    // The last 23 bytes of the memory cannot hold an ObjectId: refused before anything is read.
    const past = pm.memory.buffer.byteLength - 23;
    const EFAULT = -14;
    expect(c.tmem_put(p, past, 3, 31, 32, 33, 0)).toBe(EFAULT);
    expect(c.tmem_put(p, 0xffff_fff0, 3, 31, 32, 33, 0)).toBe(EFAULT);
    expect(c.tmem_get(p, past, 3, GetMode.KEEP)).toBe(EFAULT);
    expect(c.tmem_flush_page(p, past, 3)).toBe(EFAULT);
    expect(c.tmem_flush_object(p, past, 16)).toBe(EFAULT);
    expect(tc.poolInfo(p).pages).toBe(1);
    expect(tc.get(p, oid, 3, GetMode.KEEP)).toBe(true);
    expect([tc.lo, tc.hi, tc.meta]).toEqual([21, 22, 23]);
    tc.unpin(tc.pin, free);
    freed.length = 0;
    expect(c.tmem_flush_page(p, at, 3)).toBe(TMEM_FLUSH_FREED);
    pm.freeFrame(frame);
    tc.destroyPool(p, free);
  });

  it("destroying a pool while a reader has a page pinned frees that page once, at unpin", () => {
    const p = tc.newPool({ persistent: true });
    const oid = oidFrom(77);
    tc.put(p, oid, 0, 1, 1, 1, free);
    tc.put(p, oid, 1, 2, 2, 2, free);
    expect(tc.get(p, oid, 1, GetMode.KEEP)).toBe(true);
    const pin = tc.pin;
    freed.length = 0;
    expect(tc.destroyPool(p, free)).toBe(true);
    expect(freed).toEqual([[1, 1, 1, p]]); // the pinned one waits for its reader
    expect(tc.poolInfo(p).state).toBe("free");
    const q = tc.newPool({ persistent: true }); // the slot may be reused at once
    tc.unpin(pin, free);
    expect(freed).toEqual([[1, 1, 1, p], [2, 2, 2, p]]);
    expect(tc.poolInfo(q).pages).toBe(0);
    tc.destroyPool(q, free);
  });

  it("flush object removes exactly that object's pages, across many chains", () => {
    const p = tc.newPool({ persistent: true });
    const a = oidFrom(1000), b = oidFrom(1001);
    for (let i = 0; i < 700; i++) { tc.put(p, a, i, i, 0, 1, free); tc.put(p, b, i, i, 1, 1, free); }
    freed.length = 0;
    expect(tc.flushObject(p, a, free)).toBe(700);
    expect(freed.length).toBe(700);
    expect(freed.every((r) => r[1] === 0)).toBe(true);
    expect(tc.poolInfo(p).pages).toBe(700);
    let n = 0;
    tc.scan(p, (oid, index) => { expect(oid[0]).toBe(1001); expect(index).toBeLessThan(700); n++; });
    expect(n).toBe(700);
    tc.destroyPool(p, free);
  });

  it("evicts ephemeral pages in LRU order and never persistent ones", () => {
    const dom = tc.newDomain();
    const e = tc.newPool({ domain: dom });
    const s = tc.newPool({ uuid: "00000000000000000000000000000001", domain: dom });
    const per = tc.newPool({ persistent: true, domain: dom });
    const oid = newOid();
    for (let i = 0; i < 10; i++) tc.put(e, oid, i, i, 0, 0, free);
    for (let i = 0; i < 5; i++) tc.put(per, oid, i, 100 + i, 0, 0, free);
    tc.put(s, oid, 0, 50, 0, 0, free);
    // Touch page 0 of e? A private ephemeral get removes it; touch the shared one instead.
    expect(tc.get(s, oid, 0, GetMode.POLICY)).toBe(true);
    tc.unpin(tc.pin, free);
    freed.length = 0;
    expect(tc.evict(dom, 3, free)).toBe(3);
    expect(freed.map((r) => r[0])).toEqual([0, 1, 2]);
    freed.length = 0;
    expect(tc.evict(dom, 100, free)).toBe(8);
    expect(freed.map((r) => r[0])).toEqual([3, 4, 5, 6, 7, 8, 9, 50]);
    expect(tc.evict(dom, 100, free)).toBe(0);
    expect(tc.poolInfo(per).pages).toBe(5);
    for (const p of [e, s, per]) tc.destroyPool(p, free);
  });

  it("rejects bad arguments with EINVAL", () => {
    throwsWith(() => oidFrom(-1), "EINVAL");
    throwsWith(() => oidFrom(new Uint8Array(25)), "EINVAL");
    throwsWith(() => tc.newPool({ uuid: "xyz" }), "EINVAL");
    throwsWith(() => tc.newPool({ uuid: "00000000000000000000000000000000" }), "EINVAL");
    throwsWith(() => tc.poolInfo(0x10000), "EINVAL");
    throwsWith(() => tc.destroyPool(63, free), "EINVAL");
  });

  it("model: the index agrees with a Map under random operations", () => {
    const keyArb = fc.record({ obj: fc.integer({ min: 0, max: 5 }), index: fc.integer({ min: 0, max: 40 }) });
    const op = fc.oneof(
      fc.record({ t: fc.constant("put" as const), k: keyArb, v: fc.integer({ min: 1, max: 1e6 }), pool: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ t: fc.constant("get" as const), k: keyArb, pool: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ t: fc.constant("flush" as const), k: keyArb, pool: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ t: fc.constant("flushObj" as const), k: keyArb, pool: fc.integer({ min: 0, max: 2 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      // pool 0: persistent, 1: private ephemeral, 2: shared ephemeral
      const pools = [tc.newPool({ persistent: true }), tc.newPool({}), tc.newPool({ uuid: "abababababababababababababababab" })];
      const model = pools.map(() => new Map<string, number>());
      const live = new Set<number>();
      const fr = (lo: number): void => { expect(live.has(lo)).toBe(true); live.delete(lo); };
      let serial = 0;
      const oid = newOid();
      for (const o of ops) {
        const p = pools[o.pool]!;
        const m = model[o.pool]!;
        oid[0] = o.k.obj;
        const key = `${o.k.obj}/${o.k.index}`;
        if (o.t === "put") {
          const v = ++serial;
          live.add(v);
          const r = tc.put(p, oid, o.k.index, v, o.v, 0, fr);
          expect(r).toBe(m.has(key) ? "replaced" : "new");
          m.set(key, v);
        } else if (o.t === "get") {
          const hit = tc.get(p, oid, o.k.index, GetMode.POLICY);
          expect(hit).toBe(m.has(key));
          if (hit) {
            expect(tc.lo).toBe(m.get(key));
            if (o.pool === 1) { expect(tc.pin).toBe(0); fr(tc.lo); m.delete(key); }
            else tc.unpin(tc.pin, fr);
          }
        } else if (o.t === "flush") {
          expect(tc.flushPage(p, oid, o.k.index, fr)).toBe(m.has(key));
          m.delete(key);
        } else {
          let n = 0;
          for (const k of [...m.keys()]) if (k.startsWith(`${o.k.obj}/`)) { m.delete(k); n++; }
          expect(tc.flushObject(p, oid, fr)).toBe(n);
        }
      }
      pools.forEach((p, i) => expect(tc.poolInfo(p).pages).toBe(model[i]!.size));
      for (const p of pools) tc.destroyPool(p, fr);
      expect(live.size).toBe(0);
    }), { numRuns: 60 });
    expect(tc.stats().descriptors).toBe(0);
  });

  it("accounts its metadata", () => {
    const s = tc.stats();
    expect(s.ready).toBe(true);
    expect(s.tableFrames).toBeGreaterThan(1);
    expect(s.metadataBytes).toBe((s.descriptorFrames + s.tableFrames) * 4096);
    expect(pm.stats().byOwner[4]).toBe(s.descriptorFrames + s.tableFrames);
  });

  it("gives descriptor frames back once their pages are gone (issue 13)", () => {
    pm.core.tmem_slab_reap(); // what earlier tests left free
    const before = tc.stats().descriptorFrames;
    const p = tc.newPool({ persistent: true });
    const fr: typeof free = () => undefined;
    for (let i = 0; i < 3165; i++) tc.put(p, oidFrom(i >> 4), i & 15, i + 1, 0, 0, fr);
    const full = tc.stats().descriptorFrames;
    expect(full - before).toBeGreaterThanOrEqual(Math.ceil(3165 / 64) - 1);
    tc.destroyPool(p, fr);
    const after = tc.stats().descriptorFrames;
    // At most this Worker's trimmed cache and a partly used frame or two stay.
    expect(after).toBeLessThanOrEqual(before + 2);
    expect(pm.stats().byOwner[4]).toBe(after + tc.stats().tableFrames);
    expect(pm.core.tmem_check(1)).toBe(0);
    // They are carved again on demand, and everything still works.
    const q = tc.newPool({ persistent: true });
    for (let i = 0; i < 500; i++) expect(tc.put(q, oidFrom(i), 0, i + 7, 0, 0, fr)).toBe("new");
    for (let i = 0; i < 500; i++) { expect(tc.get(q, oidFrom(i), 0, GetMode.KEEP)).toBe(true); expect(tc.lo).toBe(i + 7); tc.unpin(tc.pin, fr); }
    tc.destroyPool(q, fr);
    expect(pm.core.tmem_check(1)).toBe(0);
  });
});
