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
    expect(svg).toContain("zsmalloc: 2 frames");
    expect(svg).toContain("free: 1 frames");
    expect(legend(frames).map((l) => l.name)).toEqual(["free", "metadata", "zsmalloc", "zbud"]);
  });
  it("shades larger size classes darker", () => {
    const light = (c: string): number => Number(/(\d+)%\)$/.exec(c)![1]);
    expect(light(frameColor({ owner: 2, classSize: 3072, fill: 1 }))).toBeLessThan(light(frameColor({ owner: 2, classSize: 128, fill: 1 })));
  });
});
