// SPDX-License-Identifier: MIT
// TmemCache in headless Chromium: the page's main thread (which cannot block,
// so the cache lock spins there) and 2 Web Workers share one cache; values
// set in one are got in the others, concurrent sets of one key leave whole
// values, and the standard TextEncoder/TextDecoder path (no Buffer) is used.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { serve } from "./browser/server.js";
import { chromiumPath, launch } from "./browser/chromium.js";

const out = fileURLToPath(new URL("../build/cache-browser-test/", import.meta.url));
const path = chromiumPath();
if (!path) console.warn("TmemCache browser test skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)");

describe.skipIf(!path)("TmemCache in headless Chromium", () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    mkdirSync(out, { recursive: true });
    await build({
      entryPoints: {
        "cache-page": fileURLToPath(new URL("./browser/cache-page.ts", import.meta.url)),
        "cache-worker": fileURLToPath(new URL("./browser/cache-worker.ts", import.meta.url)),
      },
      outdir: out, bundle: true, format: "esm", platform: "browser", target: "chrome120", logLevel: "warning",
    });
    writeFileSync(`${out}/index.html`, '<!doctype html><meta charset="utf-8"><title>TmemCache browser test</title><script type="module" src="cache-page.js"></script>\n');
    server = await serve(out);
    browser = await launch(path!);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("the page and 2 Web Workers share one cache; no torn or mixed value is read", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${server.url}/isolated/index.html`);
    await page.waitForFunction(() => (window as { __tmemResult?: unknown }).__tmemResult !== undefined, null, { timeout: 90_000 });
    const r = await page.evaluate(() => (window as { __tmemResult?: unknown }).__tmemResult) as Record<string, unknown>;
    await page.close();
    expect(errors).toEqual([]);
    expect(r).toMatchObject({ ok: true, fromWorkers: ["hello from Web Worker 1", "hello from Web Worker 2"], heldOk: true, bigBack: true });
    const results = r.results as Array<{ sets: number; hits: number; errors: string[]; hello: string | null }>;
    for (const w of results) {
      expect(w.errors).toEqual([]);
      expect(w.hello).toBe("from the page ☕");
      expect(w.sets).toBeGreaterThan(300);
      expect(w.hits).toBeGreaterThan(300);
    }
    expect(r.evictions as number).toBeGreaterThan(0);
  });
});
