// The build's guard against managed-heap allocation in the wasm core.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error: a plain .mjs build script without declarations
import { findAllocations } from "../scripts/check-no-alloc.mjs";

const find = findAllocations as (wat: string) => string[];

async function compile(source: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "tmem-asc-"));
  writeFileSync(join(dir, "probe.ts"), source);
  writeFileSync(join(dir, "none.json"), "{}");
  const { default: asc } = await import("assemblyscript/asc");
  // Compile from the temp dir's absolute path; asc would otherwise merge ./asconfig.json.
  const { error, stderr } = await asc.main([join(dir, "probe.ts"), "--runtime", "stub", "-O3", "--importMemory", "--sharedMemory",
    "--maximumMemory", "100", "--enable", "threads", "--use", "abort=", "--textFile", join(dir, "probe.wat"), "--outFile", join(dir, "probe.wasm"),
    "--config", join(dir, "none.json")]);
  if (error) throw new Error(`${error.message}\n${stderr.toString()}`);
  return readFileSync(join(dir, "probe.wat"), "utf8");
}

describe("no-allocation check", () => {
  it("flags a module that allocates with new, and passes the real core", async () => {
    const allocating = await compile(`
      class Box { v: i32 = 0; }
      export function make(v: i32): usize { const b = new Box(); b.v = v; return changetype<usize>(b); }`);
    expect(find(allocating).length).toBeGreaterThan(0);
    const clean = await compile(`export function add(a: i32, b: i32): i32 { return a + b; }`);
    expect(find(clean)).toEqual([]);
    expect(clean).not.toMatch(/frame_alloc/); // the repo's asconfig entries were not merged in
    expect(find(readFileSync(new URL("../build/release.wat", import.meta.url), "utf8"))).toEqual([]);
  });
});
