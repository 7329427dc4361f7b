import { describe, expect, it } from "vitest";
import {
  kernelClassOf, kernelClassTable, kernelZsmallocUsage, nominalIndex, pagesPerZspage, zsHugeClassSize,
} from "../src/zpool/kernel-zsmalloc.js";

// The effective class tables as reference/kernel.md §2.1 prints them (slot:k/o).
const MODERN_8 = `32:1/128 48:3/256 64:1/64 80:5/256 96:3/128 112:7/256 128:1/32 144:7/199 160:5/128 176:4/93
192:3/64 208:3/59 224:7/128 240:1/17 256:1/16 272:1/15 288:5/71 304:7/94 320:5/64 336:6/73 352:8/93 368:8/89
384:3/32 400:5/51 416:6/59 432:7/66 448:7/64 464:5/44 480:2/17 496:4/33 512:1/8 528:4/31 544:2/15 560:7/51
576:1/7 592:8/55 608:7/47 624:2/13 640:5/32 656:5/31 672:1/6 688:8/47 704:5/29 720:3/17 736:2/11 752:7/38
768:3/16 784:5/26 816:1/5 832:8/39 848:5/24 864:7/33 880:8/37 896:7/32 912:7/31 928:5/22 944:3/13 960:4/17
976:6/25 992:8/33 1024:1/4 1056:8/31 1072:5/19 1088:4/15 1104:3/11 1120:8/29 1136:5/18 1168:2/7 1184:7/24
1200:5/17 1216:3/10 1232:7/23 1248:4/13 1280:5/16 1296:7/22 1360:1/3 1424:8/23 1440:6/17 1456:5/14 1488:4/11
1504:7/19 1536:3/8 1552:8/21 1568:5/13 1584:7/18 1632:2/5 1680:7/17 1696:5/12 1712:8/19 1744:3/7 1792:7/16
1808:4/9 1856:5/11 1888:6/13 1904:7/15 1920:8/17 2048:1/2 2176:8/15 2192:7/13 2224:6/11 2272:5/9 2336:4/7
2384:7/12 2448:3/5 2512:8/13 2560:5/8 2592:7/11 2720:2/3 2864:7/10 2912:5/7 2976:8/11 3072:3/4 3184:7/9
3264:4/5 3408:5/6 3504:6/7 3584:7/8 3632:8/9 4096:1/1`;

const LEGACY_4 = `32:1/128 48:3/256 64:1/64 80:1/51 96:3/128 112:2/73 128:1/32 144:3/85 160:2/51 176:4/93
192:3/64 208:2/39 224:4/73 240:1/17 256:1/16 272:1/15 288:1/14 304:3/40 320:4/51 336:1/12 352:2/23 368:1/11
384:3/32 400:1/10 416:4/39 432:3/28 448:1/9 464:4/35 480:2/17 496:4/33 512:1/8 528:4/31 544:2/15 560:4/29
576:1/7 592:4/27 608:3/20 624:2/13 640:3/19 672:1/6 704:4/23 720:3/17 736:2/11 768:3/16 816:1/5 848:4/19
864:3/14 896:2/9 944:3/13 960:4/17 1024:1/4 1088:4/15 1104:3/11 1168:2/7 1216:3/10 1248:4/13 1360:1/3
1488:4/11 1536:3/8 1632:2/5 1744:3/7 1808:4/9 2048:1/2 2336:4/7 2448:3/5 2720:2/3 3072:3/4 3264:4/5 4096:1/1`;

const render = (chain: number, rule: "modern" | "legacy"): string =>
  kernelClassTable(chain, rule).classes.map((c) => `${c.size}:${c.pagesPerZspage}/${c.objsPerZspage}`).join(" ");
const words = (s: string): string => s.split(/\s+/).filter(Boolean).join(" ");

describe("kernel zsmalloc class table", () => {
  it("modern rule, chain 8: the 119 classes of kernel.md §2.1, slot for slot", () => {
    expect(render(8, "modern")).toBe(words(MODERN_8));
    expect(kernelClassTable(8).classes).toHaveLength(119);
  });
  it("legacy rule, chain 4: the 69 classes of kernel.md §2.1 (verified there against ZSDOC)", () => {
    expect(render(4, "legacy")).toBe(words(LEGACY_4));
  });
  it("class counts for the other chain lengths match kernel.md (modern 192 at 16; legacy 123 and 191)", () => {
    expect(kernelClassTable(16, "modern").classes).toHaveLength(192);
    expect(kernelClassTable(8, "legacy").classes).toHaveLength(123);
    expect(kernelClassTable(16, "legacy").classes).toHaveLength(191);
  });
  it("zs_huge_class_size is 3625 with chain 8 and 3257 with chain 4", () => {
    expect(zsHugeClassSize(8)).toBe(3625);
    expect(zsHugeClassSize(4)).toBe(3257);
    expect(zsHugeClassSize(4, "legacy")).toBe(3257);
    // One byte below the watermark is not huge, the watermark is.
    expect(kernelClassOf(3624, 8).huge).toBe(false);
    expect(kernelClassOf(3625, 8).huge).toBe(true);
  });
  it("29 nominal classes are huge with chain 8, 52 with legacy chain 4", () => {
    const huge = (chain: number, rule: "modern" | "legacy"): number => {
      const t = kernelClassTable(chain, rule);
      return t.nominalToKept.filter((k) => t.classes[k]!.huge).length;
    };
    expect(huge(8, "modern")).toBe(29);
    expect(huge(4, "legacy")).toBe(52);
  });
  it("ZSDOC's worked example: 1568 gets 5 pages / 13 objects instead of merging into 1632", () => {
    expect(pagesPerZspage(1568, 8)).toBe(5);
    const c = kernelClassTable(8).classes.find((x) => x.size === 1568)!;
    expect(c.objsPerZspage).toBe(13);
    expect(1568 * 13).toBe(5 * 4096 - 96);
  });
  it("power-of-two slots take one page; merged classes use the largest slot of their run", () => {
    for (const s of [32, 64, 128, 256, 512, 1024, 2048, 4096]) expect(pagesPerZspage(s, 8)).toBe(1);
    // 1264 + 8 → nominal 1280 (5/16); 1300 + 8 → 1312, merged up into 1360 (1/3).
    expect(kernelClassOf(1264).size).toBe(1280);
    expect(kernelClassOf(1300).size).toBe(1360);
    expect(nominalIndex(32)).toBe(0);
    expect(nominalIndex(33)).toBe(1);
    expect(nominalIndex(5000)).toBe(254);
  });
});

describe("kernel zsmalloc memory use (kernel.md §2.4)", () => {
  // L → [chain-8 slot, k, o, pages per object]
  const worked: Array<[number, number, number, number, number]> = [
    [500, 512, 1, 8, 0.125], [1000, 1024, 1, 4, 0.25], [1500, 1536, 3, 8, 0.375], [2000, 2048, 1, 2, 0.5],
    [2500, 2512, 8, 13, 0.615], [3300, 3408, 5, 6, 0.833], [3500, 3584, 7, 8, 0.875], [3700, 4096, 1, 1, 1],
    [4000, 4096, 1, 1, 1],
  ];
  it.each(worked)("L=%i goes to slot %i (%i/%i), %f pages per object", (len, slot, k, o, ppo) => {
    const c = kernelClassOf(len, 8);
    expect([c.size, c.pagesPerZspage, c.objsPerZspage]).toEqual([slot, k, o]);
    expect(c.pagesPerZspage / c.objsPerZspage).toBeCloseTo(ppo, 3);
    // A large batch of equal objects costs k/o pages each.
    const u = kernelZsmallocUsage(new Array<number>(o * 100).fill(len), 8);
    expect(u.pages).toBe(k * 100);
  });
  it("legacy chain 4 sends 3300 and 3500 to the huge class and 2500 to 2720 (2/3)", () => {
    expect(kernelClassOf(3300, 4, "legacy").huge).toBe(true);
    expect(kernelClassOf(3500, 4, "legacy").huge).toBe(true);
    const c = kernelClassOf(2500, 4, "legacy");
    expect([c.size, c.pagesPerZspage, c.objsPerZspage]).toEqual([2720, 2, 3]);
  });
  it("fully compacted pages are Σ ⌈n/o⌉·k over kept classes, with the 8-byte handle counted outside", () => {
    // 14 objects of 1560 B (+8 → 1568, 5/13): 2 zspages of 5 pages; 3 huge objects: 3 pages.
    const u = kernelZsmallocUsage([...new Array<number>(14).fill(1560), 3700, 3800, 4096]);
    expect(u.pages).toBe(2 * 5 + 3);
    expect(u.zspages).toBe(5);
    expect(u.hugeObjects).toBe(3);
    expect(u.objects).toBe(17);
    expect(u.extraBytes).toBe(17 * 8 + 5 * 56);
  });
  it("rejects lengths outside 1..4096 and chains outside 1..64", () => {
    expect(() => kernelZsmallocUsage([0])).toThrow(RangeError);
    expect(() => kernelZsmallocUsage([4097])).toThrow(RangeError);
    expect(() => kernelClassTable(0)).toThrow(RangeError);
  });
});
