import { describe, expect, it } from "vitest";
import { renderMemoryMapSvg, legend, frameColor } from "../src/sim/memmap.js";

describe("memory map", () => {
  const frames = [
    { owner: 0, classSize: 0, fill: 0 },
    { owner: 2, classSize: 1024, fill: 0.5 },
    { owner: 2, classSize: 3072, fill: 1 },
    { owner: 3, classSize: 0, fill: 1 },
    { owner: 1, classSize: 0, fill: 1 },
  ];
  it("draws one cell per frame and a legend with the counts", () => {
    const svg = renderMemoryMapSvg(frames, { columns: 4, title: "t<1>" });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<title>frame \d+/g)).toHaveLength(4); // the free frame has no colored part
    expect(svg).toContain("t&lt;1&gt;");
    expect(svg).toContain("zsmalloc object frames: 2<");
    expect(svg).toContain("free frames: 1<");
    expect(legend(frames).map((l) => l.name)).toEqual(["free frames", "metadata frames (all pools)", "zsmalloc object frames", "zbud object frames"]);
  });
  it("shades larger size classes darker", () => {
    const light = (c: string): number => Number(/(\d+)%\)$/.exec(c)![1]);
    expect(light(frameColor({ owner: 2, classSize: 3072, fill: 1 }))).toBeLessThan(light(frameColor({ owner: 2, classSize: 128, fill: 1 })));
  });
});

describe("memory map of a live memory", () => {
  it("shows each zsmalloc frame's size class and fill, and each zbud frame's fill", async () => {
    const { PhysicalMemory } = await import("../bindings/physmem.js");
    const { createPool } = await import("../src/zpool/index.js");
    const { memoryMap } = await import("../src/sim/simulate.js");
    const pm = await PhysicalMemory.create({ frames: 256 });
    const zs = await createPool("zsmalloc", pm);
    const hs = Array.from({ length: 10 }, () => zs.malloc(1000));
    const zb = await createPool("zbud", pm);
    zb.malloc(1000); // 16 chunks + the header chunk of 64
    const map = memoryMap(pm, [zs.backend.id]);
    const zsFrames = map.filter((f) => f.owner === 2);
    expect(zsFrames.length).toBeGreaterThan(0);
    for (const f of zsFrames) {
      expect(f.classSize).toBeGreaterThanOrEqual(1000);
      expect(f.classSize).toBeLessThan(1100);
      expect(f.fill).toBeGreaterThan(0);
      expect(f.fill).toBeLessThanOrEqual(1);
    }
    const zbFrames = map.filter((f) => f.owner === 3 && f.fill < 1);
    expect(zbFrames.map((f) => f.fill)).toEqual([0.26]); // (1 + 16) chunks of 64 → 26 %
    // Without the pool id, zsmalloc frames show only as in use.
    expect(memoryMap(pm).filter((f) => f.owner === 2).every((f) => f.classSize === 0 && f.fill === 1)).toBe(true);
    for (const h of hs) zs.free(h);
    expect(pm.core.zs_frame_info(zs.backend.id, 0)).toBeLessThan(0); // not a zspage frame
    pm.detach();
  });
});
