// SPDX-License-Identifier: MIT
// zsmalloc in a small memory (issue 13): a frontswap → zcache over zsmalloc
// must hold at least as many pages as the same stack over zbud at every
// memory size from 256 frames up. Density is deterministic (one Worker, pages
// stored in order), so this is a test, not a bench. The pages are real: the
// anon corpus when ../shared is beside the repo, else the 512-page sample the
// repo ships in data/ (cycled: their sizes are what matters here).
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";
import { PAGE_SIZE } from "../bindings/layout.js";
import { corpusPage, loadCorpus } from "./helpers.js";

const corpus = await loadCorpus("anon");

/** Pages a frontswap → zcache over `zpool` holds in a `frames`-frame memory, storing 3 pages per frame in order (refused ones skipped). */
async function held(frames: number, zpool: "zsmalloc" | "zbud"): Promise<{ held: number; frames: number }> {
  const pm = await PhysicalMemory.create({ frames });
  try {
    const z = await Zcache.create(pm, { zpool });
    const fs = Frontswap.for(pm);
    await fs.registerOps(z);
    await fs.init(0);
    const stored: number[] = [];
    for (let off = 0; off < 3 * frames; off++) if (fs.store(0, off, corpusPage(corpus, off))) stored.push(off);
    // What was accepted loads back exactly (a sample: the density must be real).
    const out = new Uint8Array(PAGE_SIZE);
    for (let k = 0; k < stored.length; k += 7) {
      const off = stored[k]!;
      expect(fs.load(0, off, out)).toBe(true);
      expect(Buffer.compare(out, corpusPage(corpus, off))).toBe(0);
    }
    const n = z.stats().persistentPages;
    expect(n).toBe(stored.length);
    return { held: n, frames: z.persistent.stats().pages };
  } finally {
    pm.detach();
  }
}

describe("zsmalloc in a small memory holds at least what zbud holds", () => {
  it.each([256, 512, 1024, 4096])("%i frames: frontswap → zcache pages held, zsmalloc ≥ zbud", async (frames) => {
    const zs = await held(frames, "zsmalloc");
    const zb = await held(frames, "zbud");
    console.log(`${corpus.full ? "corpus" : "sample"} ${frames} frames: zsmalloc holds ${zs.held} pages in ${zs.frames} pool frames, zbud ${zb.held} in ${zb.frames} → ${(zs.held / zb.held).toFixed(3)}×`);
    expect(zs.held).toBeGreaterThanOrEqual(zb.held);
  });
});
