// Browser smoke test: an esbuild bundle served on 127.0.0.1 with COOP/COEP,
// loaded in headless Chromium, where 2 Web Workers run the frame stress on one
// physical memory. Also: a page without isolation gets the library's message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { serve } from "./browser/server.js";
import { chromiumPath, launch } from "./browser/chromium.js";

const out = fileURLToPath(new URL("../build/browser-test/", import.meta.url));
const path = chromiumPath();
if (!path) console.warn("browser tests skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)");

describe.skipIf(!path)("in headless Chromium", () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    mkdirSync(out, { recursive: true });
    await build({
      entryPoints: { page: fileURLToPath(new URL("./browser/page.ts", import.meta.url)), worker: fileURLToPath(new URL("./browser/worker.ts", import.meta.url)) },
      outdir: out, bundle: true, format: "esm", platform: "browser", target: "chrome120", logLevel: "warning",
    });
    writeFileSync(`${out}/index.html`, '<!doctype html><meta charset="utf-8"><title>tmem browser test</title><script type="module" src="page.js"></script>\n');
    server = await serve(out);
    browser = await launch(path!);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function outcome(url: string): Promise<Record<string, unknown>> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => (window as { __tmemResult?: unknown }).__tmemResult !== undefined, null, { timeout: 60_000 });
    const r = await page.evaluate(() => (window as { __tmemResult?: unknown }).__tmemResult) as Record<string, unknown>;
    await page.close();
    expect(errors).toEqual([]);
    return r;
  }

  it("2 Web Workers share one memory: no frame handed out twice, all free at the end", async () => {
    const r = await outcome(`${server.url}/isolated/index.html?ops=100000`);
    expect(r).toMatchObject({ ok: true, isolated: true, used: 0, free: 2048 });
    const results = r.results as Array<Record<string, number>>;
    expect(results).toHaveLength(2);
    for (const w of results) {
      expect(w).toMatchObject({ ops: 100_000, corrupt: 0, duplicates: 0, wrongOwner: 0 });
      expect(w.allocs).toBe(w.frees);
      expect(w.allocs).toBeGreaterThan(40_000);
    }
  });

  it("a page without cross-origin isolation gets a clear ENOTSUP from the library", async () => {
    const r = await outcome(`${server.url}/plain/index.html`);
    expect(r.ok).toBe(false);
    expect(r.code).toBe("ENOTSUP");
    expect(String(r.message)).toMatch(/not cross-origin isolated/);
  });
});
