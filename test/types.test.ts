// The published statistics types (issue 14, item 6): every stats() and
// counters() result is an exported interface whose every field says what it
// counts, with units; no `object` in the published declarations; the
// backends' stats() typed through TmemBackend<Stats>.
import { describe, expect, expectTypeOf, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TmemBackend } from "../src/tmem/ops.js";
import type { RawBackend, RawBackendStats } from "../src/tmem/raw.js";
import type { Zcache, ZcacheStats } from "../src/zcache.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
const dts = walk(join(root, "dist/types")).filter((f) => f.endsWith(".d.ts") && !f.includes("/build/"));

/**
 * Not checked field by field, with the reason: src/zcache.ts is being
 * reworked by another engineer this session (the store protocol); its two
 * stats interfaces get their field docs there.
 */
const PENDING = new Set(["ZcacheStats", "ZcacheClientStats"]);

/** Fields of `export interface NAME {…}` blocks in `text` that no doc comment precedes. */
export function undocumentedFields(text: string, nameRe: RegExp): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/export interface (\w+)(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/g)) {
    const name = m[1]!;
    if (!nameRe.test(name) || PENDING.has(name)) continue;
    let documented = false;
    for (const line of m[2]!.split("\n")) {
      const t = line.trim();
      if (t.endsWith("*/")) { documented = true; continue; }
      if (t.startsWith("/**") || t.startsWith("*")) continue;
      const field = /^(?:readonly )?(\w+)\??:/.exec(t);
      if (field) {
        if (!documented) out.push(`${name}.${field[1]}`);
        documented = false;
      }
    }
  }
  return out;
}

describe("published statistics types", () => {
  it("every field of every *Stats / *Counters interface has a doc comment", () => {
    const names = new Set<string>();
    const missing: string[] = [];
    for (const f of dts) {
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/export interface (\w+(?:Stats|Counters|Evictions))\b/g)) names.add(m[1]!);
      missing.push(...undocumentedFields(text, /(Stats|Counters|Evictions)$/).map((x) => `${f.slice(root.length)}: ${x}`));
    }
    // The interfaces the package publishes: a rename or a lost export shows here.
    expect([...names].sort()).toEqual([
      "CleancacheCounters", "CoreStats", "FrontswapCounters", "PhysicalMemoryStats", "RawBackendStats", "TmemCacheEvictions",
      "TmemCacheStats", "ZbudStats", "ZcacheClientStats", "ZcacheStats", "ZpoolStats", "ZsClassStats", "ZsmallocStats",
    ]);
    expect(missing).toEqual([]);
  });

  it("the checker sees a field without a doc comment", () => {
    expect(undocumentedFields("export interface XStats {\n  /** a. */\n  a: number;\n  b: number;\n}", /Stats$/)).toEqual(["XStats.b"]);
  });

  it("no declaration is typed `object`", () => {
    const bad = dts.flatMap((f) => (readFileSync(f, "utf8").match(/^(?!\s*(?:\*|\/\*\*|\/\/)).*:\s*object\b.*$/gm) ?? []).map((l) => `${f.slice(root.length)}: ${l.trim()}`));
    expect(bad).toEqual([]);
  });

  it("a backend's stats() has its own type through TmemBackend<Stats>", () => {
    expectTypeOf<ReturnType<RawBackend["stats"]>>().toEqualTypeOf<RawBackendStats>();
    expectTypeOf<ReturnType<TmemBackend<RawBackendStats>["stats"]>>().toEqualTypeOf<RawBackendStats>();
    expectTypeOf<ReturnType<Zcache["stats"]>>().toEqualTypeOf<ZcacheStats>();
    expectTypeOf<RawBackend>().toMatchTypeOf<TmemBackend<RawBackendStats>>();
  });
});
