// SPDX-License-Identifier: MIT
// TmemCache: the Map-like API over strings and bytes of 0 B .. 64 MiB, the
// hard budget (metadata included, never exceeded), TTL that frees memory via
// the incremental sweep (fake time), bad input leaving the cache unchanged,
// and a model-based test against a Map with TTLs and LRU order.
import { afterEach, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import { TmemCache, type CacheKey, type CacheValue } from "../src/cache/index.js";
import { corpusPage, loadCorpus } from "./helpers.js";

const anon = await loadCorpus("anon");

/** `n` bytes of one of three kinds, fixed by `seed`: real anon pages, pseudo-random (incompressible), zeros. */
function bytesOf(kind: "real" | "random" | "zeros", n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  if (kind === "zeros") return out;
  if (kind === "random") {
    let x = (seed * 2654435761) >>> 0 || 1;
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24;
    }
    return out.subarray(0, n);
  }
  for (let o = 0, p = seed; o < n; o += 4096, p++) out.set(corpusPage(anon, p).subarray(0, Math.min(4096, n - o)), o);
  return out;
}

const same = (a: CacheValue | undefined, b: CacheValue): boolean => {
  if (typeof b === "string") return a === b;
  return a instanceof Uint8Array && a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
};

let pms: PhysicalMemory[] = [];
let caches: TmemCache[] = [];
async function setup(frames: number, budget: number, extra: Partial<Parameters<typeof TmemCache.create>[1]> = {}) {
  const pm = await PhysicalMemory.create({ frames });
  const cache = await TmemCache.create(pm, { budget, sweepIntervalMs: 0, ...extra });
  pms.push(pm);
  caches.push(cache);
  return { pm, cache };
}
afterEach(() => {
  vi.useRealTimers();
  for (const c of caches) c.close();
  for (const p of pms) p.detach();
  pms = [];
  caches = [];
});

describe("TmemCache API", () => {
  it("gets back strings as strings and bytes as bytes, of every size from 0 B; string and byte keys are distinct", async () => {
    const { cache } = await setup(8192, 24 << 20);
    const sizes = [0, 1, 47, 48, 100, 4000, 4057, 4096, 4097, 65535, 65536, 65537, 300_000, 3 << 20];
    for (const n of sizes) {
      for (const kind of ["real", "random", "zeros"] as const) {
        const v = bytesOf(kind, n, n + 1);
        cache.set(`b${kind}${n}`, v);
        expect(same(cache.get(`b${kind}${n}`), v), `${kind} ${n} B`).toBe(true);
      }
    }
    const s = "naïve café ☕ ".repeat(1000);
    cache.set("s", s);
    expect(cache.get("s")).toBe(s);
    cache.set("", "empty key");
    expect(cache.get("")).toBe("empty key");
    cache.set("e", "");
    expect(cache.get("e")).toBe("");
    const kb = new TextEncoder().encode("s");
    expect(cache.get(kb)).toBeUndefined();
    cache.set(kb, "bytes key");
    expect(cache.get(kb)).toBe("bytes key");
    expect(cache.get("s")).toBe(s);
    const keys = [...cache.keys()];
    expect(keys.slice(0, 2)).toEqual(["s", kb]); // most recently used first: get("s") came last
    expect(cache.size).toBe(sizes.length * 3 + 4);
    // Replacing keeps one entry; delete removes it.
    cache.set("s", "again");
    expect(cache.get("s")).toBe("again");
    expect(cache.size).toBe(sizes.length * 3 + 4);
    expect(cache.delete("s")).toBe(true);
    expect(cache.delete("s")).toBe(false);
    expect(cache.has("s")).toBe(false);
    expect(cache.getMany(["e", "nope", ""])).toEqual(["", undefined, "empty key"]);
    cache.setMany([["m1", "1"], ["m2", new Uint8Array([2])]]);
    expect(cache.getMany(["m1", "m2"])).toEqual(["1", new Uint8Array([2])]);
    const st = cache.stats();
    expect(st.hits).toBeGreaterThan(40);
    expect(st.misses).toBe(2);
    expect(st.bytesHeld).toBeLessThanOrEqual(st.budget);
    cache.clear();
    expect(cache.size).toBe(0);
    expect([...cache.keys()]).toEqual([]);
    expect(cache.stats().bytesRaw).toBe(0);
  });

  it("stores a 64 MiB value (compressed pieces) and an 8 MiB incompressible one (raw pieces)", async () => {
    const { cache } = await setup(12288, 44 << 20);
    const big = bytesOf("real", 64 << 20, 3);
    cache.set("big", big);
    const st = cache.stats();
    expect(st.bytesStored).toBeLessThan(big.length / 1.5);
    expect(same(cache.get("big"), big)).toBe(true);
    const rnd = bytesOf("random", 8 << 20, 9);
    cache.set("rnd", rnd);
    expect(same(cache.get("rnd"), rnd)).toBe(true);
    expect(cache.stats().bytesHeld).toBeLessThanOrEqual(44 << 20);
  });

  it("never exceeds the budget, metadata included; evicts least recently used first; refuses a value larger than the budget", async () => {
    const budget = 2 << 20;
    const { pm, cache } = await setup(4096, budget);
    const held = (): number => {
      // Count the frames the memory says are used (everything in this memory belongs to the cache).
      const s = pm.stats();
      return s.usedFrames * 4096;
    };
    const base = held() - cache.stats().bytesHeld;
    let evicted = 0;
    for (let i = 0; i < 400; i++) {
      const kind = i % 3 === 0 ? "random" : "real";
      cache.set(`k${i}`, bytesOf(kind, 1000 + (i * 7919) % 30000, i));
      if (i === 5) cache.get("k0"); // k0 is now more recent than k1..k5
      const st = cache.stats();
      expect(st.bytesHeld, `after set ${i}`).toBeLessThanOrEqual(budget);
      expect(held() - base).toBe(st.bytesHeld);
      evicted = st.evictions.budget;
    }
    expect(evicted).toBeGreaterThan(100);
    // LRU: the live keys are the most recent ones, newest first.
    const keys = [...cache.keys()] as string[];
    const idx = keys.map((k) => Number(k.slice(1)));
    for (let j = 1; j < idx.length; j++) expect(idx[j]).toBe(idx[j - 1]! - 1);
    expect(idx[0]).toBe(399);
    // Too big for the budget even alone: E2BIG, nothing changes.
    const before = { keys: [...cache.keys()], stats: cache.stats() };
    const err = (() => { try { cache.set("huge", bytesOf("random", 3 << 20, 1)); } catch (e) { return e; } return null; })();
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("E2BIG");
    expect([...cache.keys()]).toEqual(before.keys);
    expect(cache.stats()).toEqual(before.stats);
  });

  it("bad input throws TypeError/RangeError and leaves the cache unchanged", async () => {
    const { pm, cache } = await setup(2048, 4 << 20, { maxKeyBytes: 16 });
    cache.set("keep", "value");
    const snapshot = (): unknown => ({ keys: [...cache.keys()], s: cache.stats() });
    const before = snapshot();
    const bad: Array<[() => unknown, ErrorConstructor | typeof TmemError]> = [
      [() => cache.set(42 as unknown as string, "x"), TypeError],
      [() => cache.set({} as unknown as string, "x"), TypeError],
      [() => cache.set(null as unknown as string, "x"), TypeError],
      [() => cache.set("keep", 42 as unknown as string), TypeError],
      [() => cache.set("keep", { a: 1 } as unknown as string), TypeError],
      [() => cache.set("keep", null as unknown as string), TypeError],
      [() => cache.set("keep", new Uint16Array(4) as unknown as Uint8Array), TypeError],
      [() => cache.set("keep", "x", { ttl: -1 }), RangeError],
      [() => cache.set("keep", "x", { ttl: Number.NaN }), RangeError],
      [() => cache.set("keep", "x", { ttl: "10" as unknown as number }), TypeError],
      [() => cache.set("keep", "x", 5 as unknown as { ttl: number }), TypeError],
      [() => cache.set("k".repeat(17), "x"), RangeError],
      [() => cache.set("é".repeat(9), "x"), RangeError], // 9 characters, 18 UTF-8 bytes
      [() => cache.set(new Uint8Array(17), "x"), RangeError],
      [() => cache.set("keep", new Uint8Array(pm.memory.buffer, 0, 16)), TmemError],
      [() => cache.get(1 as unknown as string), TypeError],
      [() => cache.has(undefined as unknown as string), TypeError],
      [() => cache.delete([] as unknown as string), TypeError],
      [() => cache.get("k".repeat(17)), RangeError],
      [() => cache.setMany([["ok", "fine"], ["bad", 1 as unknown as string]]), TypeError],
      [() => cache.setMany([["ok", "fine"], ["k".repeat(40), "x"]]), RangeError],
      [() => cache.getMany("keep" as unknown as string[]), TypeError],
    ];
    for (const [f, type] of bad) {
      expect(f, String(f)).toThrow(type);
      expect(snapshot()).toEqual(before);
    }
    expect(cache.get("keep")).toBe("value");
    // A faked length does not fool the size checks: an array whose length is not its own is refused.
    const fake = new Uint8Array(40);
    Object.defineProperty(fake, "length", { value: 3 });
    expect(() => cache.set(fake, "x")).toThrow(TypeError);
    expect([...cache.keys()]).toEqual(["keep"]);
  });
});

describe("TmemCache root layout", () => {
  it("a cache with over 64 bucket frames (budget > 128 MiB) is attached by another instance intact (the counters do not overlap the bucket-frame list)", async () => {
    const pm = await PhysicalMemory.create({ frames: 36_000 });
    pms.push(pm);
    const cache = await TmemCache.create(pm, { budget: { share: 1 }, sweepIntervalMs: 0 });
    for (let i = 0; i < 300; i++) cache.set(`k${i}`, `value ${i}`);
    for (let i = 0; i < 300; i++) expect(cache.get(`k${i}`)).toBe(`value ${i}`);
    // Counters move on (hits, sets, bytes); a second instance reads the bucket frames from the root.
    const other = await TmemCache.attach(pm, cache.handle, { sweepIntervalMs: 0 });
    for (let i = 0; i < 300; i++) expect(other.get(`k${i}`)).toBe(`value ${i}`);
    expect(other.check().problems).toEqual([]);
    other.close();
    cache.destroy();
    expect(pm.stats().usedFrames).toBe(0);
  });
});

describe("TmemCache TTL", () => {
  it("never returns an expired entry, and the sweep frees expired memory with nobody touching it (fake time)", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { cache } = await setup(4096, 8 << 20, { sweepIntervalMs: 100, sweepBuckets: 256 });
    for (let i = 0; i < 300; i++) cache.set(`t${i}`, bytesOf("real", 3000 + i * 37, i), { ttl: 5000 });
    cache.set("forever", "stays");
    cache.set("later", "stays longer", { ttl: 60_000 });
    const full = cache.stats().bytesHeld;
    expect(cache.get("t7")).not.toBeUndefined();
    vi.setSystemTime(1_000_000 + 5001);
    expect(cache.get("t7")).toBeUndefined();
    expect(cache.has("t8")).toBe(false);
    expect([...cache.keys()].sort()).toEqual(["forever", "later"]);
    // Now only the timer runs: the sweep walks every bucket in steps and frees the rest.
    const steps = Math.ceil(8192 / 256) + 1;
    await vi.advanceTimersByTimeAsync(100 * steps);
    const st = cache.stats();
    expect(st.entries).toBe(2);
    expect(st.expirations).toBe(300);
    expect(st.bytesHeld).toBeLessThan(full / 4);
    expect(cache.get("forever")).toBe("stays");
    expect(cache.get("later")).toBe("stays longer");
    // A default TTL applies to sets without one.
    const d = await setup(1024, 2 << 20, { defaultTtl: 1000 });
    d.cache.set("x", "1");
    d.cache.set("y", "2", { ttl: Infinity });
    vi.setSystemTime(Date.now() + 1001);
    expect(d.cache.get("x")).toBeUndefined();
    expect(d.cache.get("y")).toBe("2");
  });
});

// ── Model-based: a Map with TTLs, LRU order and a byte budget ──

type Kind = "real" | "random" | "zeros" | "text";
type Cmd =
  | { t: "set"; key: number; size: number; kind: Kind; seed: number; ttl: number }
  | { t: "get"; key: number } | { t: "has"; key: number } | { t: "del"; key: number }
  | { t: "advance"; ms: number } | { t: "sweep" } | { t: "clear" };

const sizeArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 4, arbitrary: fc.integer({ min: 4097, max: 600_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1 << 20, max: 5 << 20 }) },
);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("set" as const), key: fc.integer({ min: 0, max: 11 }), size: sizeArb,
    kind: fc.constantFrom<Kind>("real", "random", "random", "zeros", "text"), seed: fc.integer({ min: 1, max: 1 << 20 }),
    ttl: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 })) }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant("get" as const), key: fc.integer({ min: 0, max: 11 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("has" as const), key: fc.integer({ min: 0, max: 11 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("del" as const), key: fc.integer({ min: 0, max: 11 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "sweep" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "clear" as const }) },
);

function valueOf(c: Extract<Cmd, { t: "set" }>): CacheValue {
  if (c.kind === "text") return `v${c.seed}:` + "lorem ipsum dolor sit amet ".repeat(Math.ceil(c.size / 27)).slice(0, c.size);
  return bytesOf(c.kind, c.size, c.seed);
}

describe("TmemCache against a model", () => {
  it("set/get/has/delete/expire/evict/clear agree with a Map with TTLs and LRU order; the budget always holds", async () => {
    const BUDGET = 6 << 20; // holds one 5 MiB incompressible value, not two
    const pm = await PhysicalMemory.create({ frames: 4096 });
    pms.push(pm);
    const seen = { evictions: 0, expirations: 0, big: 0, hits: 0 };
    await fc.assert(fc.asyncProperty(fc.array(cmdArb, { minLength: 30, maxLength: 60 }), async (cmds) => {
      let now = 5_000_000;
      const cache = await TmemCache.create(pm, { budget: BUDGET, sweepIntervalMs: 0, sweepBuckets: 512, now: () => now });
      // The model: key → value and expiry, in LRU order (a Map's insertion order, most recent last).
      const model = new Map<string, { v: CacheValue; exp: number }>();
      const live = (k: string): boolean => { const e = model.get(k); return e !== undefined && (e.exp === 0 || e.exp > now); };
      const touch = (k: string): void => { const e = model.get(k)!; model.delete(k); model.set(k, e); };
      try {
        for (const c of cmds) {
          const key = `key${"key" in c ? c.key : 0}`;
          switch (c.t) {
            case "set": {
              const v = valueOf(c);
              cache.set(key, v, c.ttl === 0 ? undefined : { ttl: c.ttl });
              model.delete(key);
              model.set(key, { v, exp: c.ttl === 0 ? 0 : now + c.ttl });
              break;
            }
            case "get": {
              const got = cache.get(key);
              if (got !== undefined) {
                expect(live(key), `${key} returned but the model has it ${model.has(key) ? "expired" : "absent"}`).toBe(true);
                expect(same(got, model.get(key)!.v), `${key}: wrong bytes`).toBe(true);
                touch(key);
              } else if (live(key)) {
                model.delete(key); // evicted; the LRU check below says whether it was allowed to be
              }
              break;
            }
            case "has": expect(cache.has(key)).toBe(cache.has(key) && live(key)); if (!cache.has(key)) model.delete(key); break;
            case "del": {
              const was = cache.delete(key);
              if (was) expect(live(key)).toBe(true);
              model.delete(key);
              break;
            }
            case "advance": now += c.ms; break;
            case "sweep": cache.sweep(); break;
            case "clear": cache.clear(); model.clear(); break;
          }
          for (const k of [...model.keys()]) if (!live(k)) model.delete(k);
          // The cache's live keys are the model's most recent ones, in the same order (LRU eviction).
          const got = [...cache.keys()] as string[];
          const want = [...model.keys()].reverse();
          expect(got, `after ${JSON.stringify({ ...c, seed: undefined })}`).toEqual(want.slice(0, got.length));
          for (const k of want.slice(got.length)) model.delete(k); // evicted
          const st = cache.stats();
          expect(st.bytesHeld).toBeLessThanOrEqual(BUDGET);
          expect(st.entries).toBeGreaterThanOrEqual(got.length);
        }
        // Every value still there is byte-exact.
        for (const [k, e] of model) expect(same(cache.get(k), e.v), k).toBe(true);
        // The index, the LRU list, the free slots and the counters agree; no object is unaccounted for.
        const ck = cache.check();
        expect(ck.problems).toEqual([]);
        expect(ck.objects).toBe(ck.expectedObjects);
        const st = cache.stats();
        seen.evictions += st.evictions.budget;
        seen.expirations += st.expirations;
        seen.hits += st.hits;
        seen.big += cmds.filter((c) => c.t === "set" && c.size >= 1 << 20).length;
      } finally {
        cache.destroy();
      }
      expect(pm.stats().usedFrames).toBe(0);
    }), { numRuns: 30, seed: 20261201, endOnFailure: true });
    // The runs must have exercised what they check.
    console.log(`cache model: ${JSON.stringify(seen)}`);
    expect(seen.evictions).toBeGreaterThan(10);
    expect(seen.expirations).toBeGreaterThan(5);
    expect(seen.big).toBeGreaterThan(5);
  });
});

export type { CacheKey };

describe("README: A cache of any values", () => {
  it("runs as written", async () => {
    const pm = await PhysicalMemory.create({ frames: 8192 });
    pms.push(pm);
    const cache = await TmemCache.create(pm, { budget: 16 << 20 });
    caches.push(cache);
    cache.set("user:1", JSON.stringify({ name: "Ada" }), { ttl: 60_000 });
    expect(cache.get("user:1")).toBe('{"name":"Ada"}');
    const s = cache.stats();
    expect(s.hits).toBe(1);
    expect(s.budget).toBe(16 << 20);
    const half = await TmemCache.create(pm, { budget: { share: 0.5 } });
    caches.push(half);
    expect(half.budget).toBe(4096 * 4096);
  });
});
