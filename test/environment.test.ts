// What a user sees in an environment that cannot run tmem.
import { afterEach, describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";

const g = globalThis as Record<string, unknown>;
const saved = { document: g.document, crossOriginIsolated: g.crossOriginIsolated, WebAssembly: g.WebAssembly };

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete g[k];
    else g[k] = v;
  }
});

describe("environment checks", () => {
  it("a page that is not cross-origin isolated gets a clear ENOTSUP that names the headers", async () => {
    g.document = {};
    g.crossOriginIsolated = false;
    const err = await PhysicalMemory.create({ frames: 8 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("ENOTSUP");
    expect((err as TmemError).message).toMatch(/cross-origin isolated/);
    expect((err as TmemError).message).toMatch(/Cross-Origin-Embedder-Policy: require-corp/);
  });

  it("a non-isolated page may still use tmem on its own thread when it says so", async () => {
    g.document = {};
    g.crossOriginIsolated = false;
    const pm = await PhysicalMemory.create({ frames: 8, allowUnisolated: true });
    const f = pm.allocFrame();
    expect(pm.frameOwner(f)).toBe(16);
    expect(pm.canBlock).toBe(false); // a page's main thread never waits
  });

  it("an isolated page is accepted", async () => {
    g.document = {};
    g.crossOriginIsolated = true;
    const pm = await PhysicalMemory.create({ frames: 8 });
    expect(pm.frames).toBe(8);
  });

  it("no WebAssembly at all is ENOTSUP, not a TypeError", async () => {
    const ctorless = { Memory: undefined };
    g.WebAssembly = ctorless;
    const err = await PhysicalMemory.create({ frames: 8 }).catch((e: unknown) => e);
    g.WebAssembly = saved.WebAssembly;
    expect((err as TmemError).code).toBe("ENOTSUP");
    expect((err as TmemError).message).toMatch(/WebAssembly is not available/);
  });
});
