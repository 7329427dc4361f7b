// SPDX-License-Identifier: MIT
// The cache-manager 7 example runs as written: tmem as tier 1 in front of a second Keyv store.
import { describe, expect, it } from "vitest";
import { runExample } from "../examples/cache-manager.js";

describe("cache-manager example", () => {
  it("memoizes through both tiers and falls through to tier 2 when tier 1 loses an entry", async () => {
    const lines: string[] = [];
    const r = await runExample((l) => lines.push(l));
    expect(r.fetches).toBe(1);
    expect(r.second).toEqual(r.first);
    expect((r.first as { body: string }).body.length).toBe(6500);
    expect(r.inTier1).toBe(true);
    expect(r.inTier2).toBe(true);
    expect(r.afterTier1Evicted).toEqual(r.first);
    expect(r.tier1Stats.bytesHeld).toBeLessThanOrEqual(r.tier1Stats.budget);
    expect(r.tier1Stats.bytesStored).toBeLessThan(6500 / 4);
    expect(lines.length).toBe(2);
  });
});
