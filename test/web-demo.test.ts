// End to end: the browser demo in headless Chromium. The page runs a workload
// in Web Workers, the test checks the counters it shows against the run, and
// saves a screenshot (test-results/web-demo.png). Without isolation the page
// says so and runs on one thread.
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

interface DemoResult {
  ok: boolean; error?: string; isolated: boolean; workers: number; allocator: string;
  totals: Record<string, number>; storedPages: number; poolFrames: number; objectFrames: number; compressionRatio: number; shown: Record<string, string>;
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

  async function runPage(url: string): Promise<{ r: DemoResult; page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => (window as { __demoResult?: unknown }).__demoResult !== undefined, null, { timeout: 90_000 });
    const r = await page.evaluate(() => (window as { __demoResult?: unknown }).__demoResult) as DemoResult;
    return { r, page, errors };
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
  }

  it("runs the simulation in 2 Web Workers sharing one memory and shows the run's counters", async () => {
    const { r, page, errors } = await runPage(`${server.url}/isolated/index.html?auto=1&pages=1024&workers=2`);
    expect(errors).toEqual([]);
    expect(r.isolated).toBe(true);
    expect(r.workers).toBe(2);
    checkCounters(r);
    // The live map was drawn: the canvas has colored (non-white, non-free) cells.
    const colored = await page.evaluate(() => {
      const c = document.getElementById("map") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (!(d[i] === d[i + 1] && d[i + 1] === d[i + 2])) n++;
      return n;
    });
    expect(colored).toBeGreaterThan(1000);
    await page.screenshot({ path: join(artifacts, "web-demo.png") });
    await page.close();
  });

  it("without cross-origin isolation it says so and runs on one thread", async () => {
    const { r, page, errors } = await runPage(`${server.url}/plain/index.html?auto=1&pages=1024&allocator=zbud`);
    expect(errors).toEqual([]);
    expect(r.isolated).toBe(false);
    expect(r.error).toBeUndefined();
    expect(r.workers).toBe(1);
    expect(r.allocator).toBe("zbud");
    checkCounters(r);
    expect(await page.textContent("#isolation")).toMatch(/not cross-origin isolated.*this thread only/);
    await page.screenshot({ path: join(artifacts, "web-demo-unisolated.png") });
    await page.close();
  });
});
