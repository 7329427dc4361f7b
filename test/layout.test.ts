// SPDX-License-Identifier: MIT
/**
 * layout.test.ts: the TypeScript side of the shared-memory layout agrees with
 * the wasm core that runs.
 *
 * bindings/layout.generated.ts is written at build time from the compiled
 * module's `layout_*` globals (scripts/gen-layout.mjs). This file checks,
 * at run time and for both builds, that every generated constant is what a
 * live instance answers; that the module exports no layout global the file
 * lacks (a constant added in assembly/ without regenerating); that the
 * generated text is what the generator makes of build/release.wasm now (a
 * stale file); that the struct sizes measured with offsetof are the sizes the
 * host strides by; that the host's layout arithmetic is what pm_format writes
 * into the control block at the generated offsets; and that every status code
 * the core declares maps to its own TmemError code.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { PhysicalMemory } from "../bindings/physmem.js";
import { statusError, ErrorCode } from "../bindings/status.js";
import { compileCore, type Build } from "../bindings/wasm.js";
import * as G from "../bindings/layout.generated.js";
import {
  CTRL_BASE, FRAME_META_SIZE, MAX_WORKERS, Owner, PAGE_SIZE, SCRATCH_SIZE, SCRATCH_IO, SCRATCH_LZ4_HASH, SCRATCH_MAP,
  SCRATCH_STAGE, computeLayout,
} from "../bindings/layout.js";
import { TMEM_FRONTEND_OFF, TMEM_FRONTEND_SIZE } from "../src/tmem/core.js";
import { ZS_HANDLE_ENTRY_SIZE, ZS_ZSPAGE_DESCRIPTOR_SIZE } from "../src/zpool/drivers/zsmalloc.js";
// @ts-expect-error: a build script without type declarations.
import { readLayout, renderLayout, isSigned } from "../scripts/gen-layout.mjs";

const LAYOUT: Readonly<Record<string, number>> = G.LAYOUT;
const builds: Build[] = ["release", "debug"];

/** The `layout_*` global `name` of a live instance (the raw bindings wrap globals as { value }). */
function live(core: object, name: string): number | undefined {
  const g = (core as Record<string, { value: number } | undefined>)[`layout_${name}`];
  return g?.value;
}

describe("bindings/layout.generated.ts", () => {
  it("has the constants the layout work moved to one source", () => {
    for (const name of ["E_INVAL", "E_NOMEM", "CTRL_BASE", "CTRL_WORKER_MAP_OFF", "ROOT_ZPOOL", "ROOT_TMEM", "SCRATCH_IO", "FRAME_META_SIZE"]) {
      expect(LAYOUT[name], name).toBeTypeOf("number");
    }
    // Every named export is in LAYOUT, and LAYOUT holds nothing else.
    const named = Object.keys(G).filter((k) => k !== "LAYOUT").sort();
    expect(Object.keys(LAYOUT).sort()).toEqual(named);
  });

  for (const build of builds) {
    it(`every constant is what a live ${build} instance answers, and none is missing`, async () => {
      const pm = await PhysicalMemory.create({ frames: 8, build });
      try {
        for (const [name, value] of Object.entries(LAYOUT)) {
          const got = live(pm.core, name);
          expect(got, `layout_${name} (${build})`).toBeDefined();
          // u32 constants come back >>> 0 from the raw bindings, i32 ones (E_*, ZC_PUT_*, ZC_GET_*, TMEM_PUT_*, TMEM_FLUSH_*) signed.
          expect((isSigned as (n: string) => boolean)(name) ? got! | 0 : got! >>> 0, `layout_${name} (${build})`).toBe(value);
        }
        const exported = WebAssembly.Module.exports(await compileCore(build))
          .filter((e) => e.kind === "global" && e.name.startsWith("layout_")).map((e) => e.name.slice(7)).sort();
        expect(exported).toEqual(Object.keys(LAYOUT).sort());
      } finally {
        pm.detach();
      }
    });
  }

  it("is what the generator makes of the wasm that was built (not stale)", async () => {
    const entries = (await readLayout("build/release.wasm")) as [string, number][];
    expect(readFileSync("bindings/layout.generated.ts", "utf8")).toBe(renderLayout(entries, "build/release.wasm"));
  });
});

describe("structs and the host's strides", () => {
  it("FrameMeta measured by offsetof is the stride the host sizes the metadata table with", () => {
    expect(G.FRAME_META_STRUCT_SIZE).toBe(G.FRAME_META_SIZE);
    expect(FRAME_META_SIZE).toBe(G.FRAME_META_STRUCT_SIZE);
  });

  it("zsmalloc's metadata: a zspage descriptor is one 64-byte table slot (24 bytes of fields, then its frame list and bitmap), a handle-table entry 8 bytes; the map-info word is past the map buffer", () => {
    expect(G.ZS_ZSPAGE_SLOT_SIZE).toBe(64);
    expect(G.ZS_ZSPAGE_FIELDS_SIZE).toBe(24);
    expect(G.ZS_HANDLE_ENTRY_SIZE).toBe(8);
    expect(ZS_HANDLE_ENTRY_SIZE).toBe(G.ZS_HANDLE_ENTRY_SIZE);
    expect(ZS_ZSPAGE_DESCRIPTOR_SIZE).toBe(G.ZS_ZSPAGE_SLOT_SIZE);
    expect(G.ZS_MAP_INFO).toBe(SCRATCH_MAP + PAGE_SIZE);
    expect(G.ZS_MAP_INFO + 64).toBeLessThanOrEqual(SCRATCH_STAGE);
  });

  it("scratch sub-areas are in order, do not overlap and end inside a scratch area", () => {
    const areas = [SCRATCH_LZ4_HASH, SCRATCH_MAP, SCRATCH_STAGE, SCRATCH_IO, SCRATCH_SIZE];
    for (let i = 1; i < areas.length; i++) expect(areas[i]!).toBeGreaterThan(areas[i - 1]!);
    expect(SCRATCH_SIZE).toBe(G.SCRATCH_SIZE_MIN);
    expect(SCRATCH_IO + PAGE_SIZE).toBeLessThanOrEqual(SCRATCH_SIZE);
  });

  it("the control block's words, roots and owner counters fit where common.ts says", () => {
    expect(G.ROOT_ZPOOL).toBe(CTRL_BASE + G.CTRL_ROOTS_OFF);
    expect(G.ROOT_TMEM).toBe(G.ROOT_ZPOOL + G.ROOT_ZPOOL_SIZE);
    expect(G.ROOT_TMEM + G.ROOT_TMEM_SIZE).toBeLessThanOrEqual(CTRL_BASE + G.WASM_PAGE);
    expect(G.CTRL_WORKER_MAP_OFF + MAX_WORKERS / 8).toBeLessThanOrEqual(G.CTRL_OWNER_FRAMES_OFF);
    expect(G.CTRL_OWNER_FRAMES_OFF + G.MAX_OWNERS * 4).toBeLessThanOrEqual(G.CTRL_ROOTS_OFF);
    expect(Owner).toEqual({ META: G.OWNER_META, ZSMALLOC: G.OWNER_ZSMALLOC, ZBUD: G.OWNER_ZBUD, TMEM: G.OWNER_TMEM, USER: G.OWNER_USER_FIRST });
  });

  for (const build of builds) {
    it(`pm_format (${build}) writes the host's computeLayout at the generated control-block offsets`, async () => {
      for (const [frames, maxWorkers] of [[8, 1], [300, 3], [1000, 16]] as const) {
        const pm = await PhysicalMemory.create({ frames, maxWorkers, build });
        try {
          expect(pm.core.pm_ctrl_base()).toBe(CTRL_BASE);
          const w = (off: number): number => new DataView(pm.memory.buffer).getUint32(CTRL_BASE + off, true);
          const want = computeLayout(frames, maxWorkers)!;
          expect(w(G.CTRL_MAGIC_OFF)).toBe(G.CTRL_MAGIC);
          expect(w(G.CTRL_ABI_OFF)).toBe(G.LAYOUT_ABI);
          expect(w(G.CTRL_NFRAMES_OFF)).toBe(frames);
          expect(w(G.CTRL_FRAMES_BASE_OFF)).toBe(want.framesBase);
          expect(w(G.CTRL_META_BASE_OFF)).toBe(want.metaBase);
          expect(w(G.CTRL_SCRATCH_BASE_OFF)).toBe(want.scratchBase);
          expect(w(G.CTRL_SCRATCH_SIZE_OFF)).toBe(SCRATCH_SIZE);
          expect(w(G.CTRL_MAX_WORKERS_OFF)).toBe(maxWorkers);
          expect(w(G.CTRL_RESERVED_OFF)).toBe(0);
          expect(w(G.CTRL_DATA_GUARD_OFF)).toBe(2); // __init_data ran
          // One Worker attached: slot 0's bit in the worker map; nothing allocated yet.
          expect(w(G.CTRL_WORKER_MAP_OFF)).toBe(1);
          expect(w(G.CTRL_NR_USED_OFF)).toBe(0);
          // (Owner counters are batched per Worker, so they are not read here.)
          const pfn = pm.allocFrame(Owner.USER);
          // The frame's FrameMeta (owner is its first word) at metaBase + pfn * FRAME_META_SIZE.
          expect(new DataView(pm.memory.buffer).getUint32(want.metaBase + pfn * FRAME_META_SIZE, true)).toBe(Owner.USER);
          pm.freeFrame(pfn, Owner.USER);
          expect(new DataView(pm.memory.buffer).getUint32(want.metaBase + pfn * FRAME_META_SIZE, true)).toBe(0);
        } finally {
          pm.detach();
        }
      }
    });
  }
});

describe("constants the TypeScript side still declares, checked against the core's answers", () => {
  for (const build of builds) {
    it(`tmem's frontend area is at ROOT_TMEM + TMEM_FRONTEND_OFF and inside ROOT_TMEM (${build})`, async () => {
      const pm = await PhysicalMemory.create({ frames: 8, build });
      try {
        expect(pm.core.tmem_frontend_area()).toBe(G.ROOT_TMEM + TMEM_FRONTEND_OFF);
        expect(TMEM_FRONTEND_OFF + TMEM_FRONTEND_SIZE).toBeLessThanOrEqual(G.ROOT_TMEM_SIZE);
        // The out area follows this Worker's I/O page in its scratch (src/tmem/core.ts OUT_OFF).
        expect(pm.core.tmem_out_area()).toBe(pm.core.pm_scratch() + SCRATCH_IO + PAGE_SIZE);
        // The call record (generated: CALL_RECORD) is this Worker's, inside its out area, and holds an object id.
        expect(pm.core.tmem_call_record()).toBe(pm.scratch + G.CALL_RECORD);
        expect(G.CALL_RECORD).toBeGreaterThanOrEqual(SCRATCH_IO + PAGE_SIZE);
        expect(G.CALL_RECORD + G.CALL_RECORD_SIZE).toBeLessThanOrEqual(SCRATCH_IO + 32768);
        expect(G.OID_BYTES).toBe(24);
      } finally {
        pm.detach();
      }
    });
  }
});

describe("status codes", () => {
  it("every E_* the core declares maps to its own TmemError code, never the unknown-status fallback", () => {
    const errnos = Object.entries(LAYOUT).filter(([n]) => n.startsWith("E_"));
    expect(errnos.length).toBeGreaterThanOrEqual(11);
    for (const [name, value] of errnos) {
      const e = statusError(-value, "probe");
      expect(e.code, name).toBe(("E" + name.slice(2)) as ErrorCode);
      expect(e.message).not.toMatch(/unknown status/);
    }
    expect(new Set(errnos.map(([, v]) => v)).size).toBe(errnos.length);
  });
});
