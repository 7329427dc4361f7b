import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { AccessPattern } from "../src/sim/workload.js";

describe("simulated access pattern", () => {
  it("keeps exactly min(ram, touched) pages resident and evicts the least recently used (model)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), fc.nat(), (ws, r, seed) => {
      const ram = Math.min(ws, r);
      const p = new AccessPattern({ workingSet: ws, ram, seed });
      const lru: number[] = []; // model: most recent first
      for (let i = 0; i < 500; i++) {
        const a = p.step();
        expect(a.page).toBeGreaterThanOrEqual(0);
        expect(a.page).toBeLessThan(ws);
        const idx = lru.indexOf(a.page);
        expect(a.fault).toBe(idx < 0);
        if (idx >= 0) lru.splice(idx, 1);
        let victim = -1;
        if (idx < 0 && lru.length === ram) victim = lru.pop()!;
        expect(a.evicted).toBe(victim);
        lru.unshift(a.page);
        expect(p.residentPages).toBe(lru.length);
      }
      for (const page of lru) expect(p.isResident(page)).toBe(true);
    }), { numRuns: 100 });
  });

  it("is deterministic for a seed and faults more when RAM is smaller", () => {
    const faults = (ram: number, seed: number): number => {
      const p = new AccessPattern({ workingSet: 1000, ram, seed });
      let n = 0;
      for (let i = 0; i < 20000; i++) if (p.step().fault) n++;
      return n;
    };
    expect(faults(300, 5)).toBe(faults(300, 5));
    expect(faults(200, 5)).toBeGreaterThan(faults(800, 5));
  });

  it("rejects a RAM budget larger than the working set", () => {
    expect(() => new AccessPattern({ workingSet: 4, ram: 5, seed: 1 })).toThrow(RangeError);
  });
});
