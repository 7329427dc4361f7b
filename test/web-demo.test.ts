// End to end: the browser demo in headless Chromium, as a visitor meets it.
// The page must start on its own (no click, no URL parameter) with a small
// run paced so it can be watched: the map fills over several seconds and
// the pool is compacted; it shows plots over time and a line for each
// counter, and asks for no file it lacks (the favicon). The test checks the
// counters it shows against the run and saves screenshots
// (test-results/web-demo*.png). Without isolation the page says so and
// runs on one thread.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { buildWeb } from "../scripts/build-web.mjs";
import { serve } from "./browser/server.js";
import { chromiumPath, launch } from "./browser/chromium.js";

const path = chromiumPath();
if (!path) console.warn("web demo test skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)");
const artifacts = fileURLToPath(new URL("../test-results/", import.meta.url));

interface Sample { t: number; poolFrames: number; objectFrames: number; kernelZsmalloc?: number; kernelZbud?: number; ratio: number; hitRate?: number; usedFrames: number }
interface DemoResult {
  ok: boolean; error?: string; isolated: boolean; workers: number; allocator: string; pages: number; wallMs: number;
  totals: Record<string, number>; storedPages: number; poolFrames: number; objectFrames: number; compressionRatio: number; compactedFrames: number;
  shown: Record<string, string>; explained: Record<string, string>; legend: Record<string, number>; samples: Sample[];
}

describe.skipIf(!path)("browser demo", () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    const out = await buildWeb(mkdtempSync(join(tmpdir(), "tmem-web-")));
    server = await serve(out);
    browser = await launch(path!);
    mkdirSync(artifacts, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function runPage(url: string): Promise<{ r: DemoResult; page: Page; errors: string[]; missing: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1240, height: 1100 } });
    const errors: string[] = [];
    const missing: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("response", (res) => { if (res.status() >= 400) missing.push(`${res.status()} ${res.url()}`); });
    await page.goto(url);
    await page.waitForFunction(() => (window as { __demoResult?: unknown }).__demoResult !== undefined, null, { timeout: 100_000 });
    const r = await page.evaluate(() => (window as { __demoResult?: unknown }).__demoResult) as DemoResult;
    return { r, page, errors, missing };
  }

  function checkCounters(r: DemoResult): void {
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const t = r.totals;
    expect(t.corrupt).toBe(0);
    expect(t.lost).toBe(0);
    expect(t.stores).toBeGreaterThan(0);
    expect(t.hits).toBeGreaterThan(0);
    expect(t.faults).toBe(t.firstTouches! + t.hits! + t.misses!);
    // What the page shows is what the run counted.
    for (const k of ["accesses", "faults", "stores", "rejected", "hits", "misses", "corrupt", "lost"]) expect(r.shown[k], k).toBe(String(t[k]));
    expect(r.shown["pages stored"]).toBe(String(r.storedPages));
    expect(r.shown["pool frames"]).toBe(String(r.poolFrames));
    expect(r.shown["object frames"]).toBe(String(r.objectFrames));
    // One name per figure: the legend's allocator cells are the object frames the counters show.
    expect(r.legend[`${r.allocator} object frames`]).toBe(r.objectFrames);
    // Every counter has its line.
    for (const [k, e] of Object.entries(r.explained)) expect(e.length, `explanation of ${k}`).toBeGreaterThan(20);
    expect(Object.keys(r.explained).length).toBe(Object.keys(r.shown).length);
  }

  async function inkOf(page: Page, id: string): Promise<number> {
    return page.evaluate((id) => {
      const c = document.getElementById(id) as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (!(d[i] === d[i + 1] && d[i + 1] === d[i + 2])) n++;
      return n;
    }, id);
  }

  it("starts on its own with a small paced run in 2 Workers: the map fills over seconds, the pool is compacted, plots and explained counters", async () => {
    const { r, page, errors, missing } = await runPage(`${server.url}/isolated/`);
    expect(errors).toEqual([]);
    expect(missing).toEqual([]); // favicon included
    expect(await page.getAttribute("link[rel=icon]", "href")).toBe("favicon.svg");
    expect(r.isolated).toBe(true);
    expect(r.workers).toBe(2);
    expect(r.pages).toBe(1024); // the small default
    checkCounters(r);
    // Paced: it lasts long enough to watch, and the map filled step by step.
    expect(r.wallMs).toBeGreaterThan(10_000);
    const used = r.samples.map((s) => s.usedFrames);
    expect(r.samples.length).toBeGreaterThan(30);
    const firstQuarter = used.slice(0, used.length >> 2);
    expect(Math.min(...firstQuarter)).toBeLessThan(Math.max(...used) * 0.5);
    expect(new Set(used).size).toBeGreaterThan(10);
    // Compaction gave frames back during the run (zsmalloc).
    expect(r.compactedFrames).toBeGreaterThan(0);
    expect(Number(r.shown["frames freed by compaction"])).toBe(r.compactedFrames);
    // Plots over time: the kernel's figure beside ours, a ratio, a hit rate.
    const late = r.samples.slice(-10);
    expect(late.some((s) => (s.kernelZsmalloc ?? 0) > 0 && (s.kernelZbud ?? 0) > 0)).toBe(true);
    expect(late.every((s) => s.ratio > 1)).toBe(true);
    expect(r.samples.filter((s) => s.hitRate !== undefined).length).toBeGreaterThan(10);
    for (const id of ["map", "plot-frames", "plot-ratio", "plot-hits"]) expect(await inkOf(page, id), id).toBeGreaterThan(300);
    await page.screenshot({ path: join(artifacts, "web-demo.png"), fullPage: true });
    await page.close();
  });

  it("without cross-origin isolation it says so and runs on one thread", async () => {
    const { r, page, errors, missing } = await runPage(`${server.url}/plain/index.html?allocator=zbud&speed=full`);
    expect(errors).toEqual([]);
    expect(missing).toEqual([]);
    expect(r.isolated).toBe(false);
    expect(r.error).toBeUndefined();
    expect(r.workers).toBe(1);
    expect(r.allocator).toBe("zbud");
    checkCounters(r);
    expect(await page.textContent("#isolation")).toMatch(/not cross-origin isolated.*this thread only/);
    await page.screenshot({ path: join(artifacts, "web-demo-unisolated.png"), fullPage: true });
    await page.close();
  });
});
