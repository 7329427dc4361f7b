// SPDX-License-Identifier: MIT
/**
 * app.ts: the browser demo. The page runs the swap simulation in Web Workers
 * that share one physical memory and draws the memory map live on a canvas
 * (one cell per 4 KiB frame, colored by owner and filled by use), with the
 * counters beside it. On a page that is not cross-origin isolated it says so
 * and runs the simulation on the main thread, in slices.
 *
 * For tests: `?auto=1` starts a run at once (`&pages=N&workers=N&allocator=X`
 * preset the controls); the outcome is published as `window.__demoResult`.
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { decompressFrame } from "../../src/lz4/frame.js";
import { memoryMap, simulate, zsmallocPoolsOf, type ProcessResult, type SimulateResult, type WorkerProcessMessage } from "../../src/sim/simulate.js";
import { cycle } from "../../src/sim/pages.js";
import { FRAME_FIGURES, frameColor, legend } from "../../src/sim/memmap.js";
import type { Zcache } from "../../src/zcache.js";

declare global {
  interface Window { __demoResult?: DemoResult }
}

/** What the page publishes when a run ends. */
interface DemoResult {
  ok: boolean;
  error?: string;
  isolated: boolean;
  workers: number;
  allocator: string;
  totals?: ProcessResult;
  storedPages?: number;
  poolFrames?: number;
  objectFrames?: number;
  compressionRatio?: number;
  /** The counters as the page shows them (text), to check against the run. */
  shown?: Record<string, string>;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const isolated = globalThis.crossOriginIsolated === true;
const params = new URLSearchParams(location.search);
for (const id of ["allocator", "workers", "pages"]) {
  const v = params.get(id);
  if (v !== null) ($(id) as HTMLSelectElement).value = v;
}

const banner = $("isolation");
if (isolated) {
  banner.className = "ok";
  banner.textContent = "This page is cross-origin isolated: the simulation runs in Web Workers sharing one physical memory.";
} else {
  banner.className = "warn";
  banner.textContent = "This page is not cross-origin isolated (it needs the headers Cross-Origin-Opener-Policy: same-origin and " +
    "Cross-Origin-Embedder-Policy: require-corp), so memory cannot be shared with Workers: the simulation runs on this thread only.";
  ($("workers") as HTMLSelectElement).value = "1";
  ($("workers") as HTMLSelectElement).disabled = true;
}

let sample: Promise<Uint8Array> | undefined;
const loadSample = (): Promise<Uint8Array> =>
  (sample ??= fetch(new URL("sample-anon.pages.lz4", location.href)).then((r) => {
    if (!r.ok) throw new Error(`cannot load the sample pages: HTTP ${r.status}`);
    return r.arrayBuffer();
  }).then((b) => decompressFrame(new Uint8Array(b))));

function spawn(_i: number, msg: WorkerProcessMessage): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("sim-worker.js", location.href), { type: "module" });
    w.onmessage = (ev: MessageEvent<ProcessResult | { error: string }>) => {
      w.terminate();
      if ("error" in ev.data) reject(new Error(ev.data.error)); else resolve(ev.data);
    };
    w.onerror = (ev) => reject(new Error(ev.message || "worker failed"));
    w.postMessage(msg);
  });
}

// ── drawing ──

const canvas = $("map") as HTMLCanvasElement;
const ctx = canvas.getContext("2d")!;
const CELL = 6, COLS = 96;

function drawMap(pm: PhysicalMemory, z: Zcache): void {
  const n = pm.frames;
  const rows = Math.ceil(n / COLS);
  if (canvas.height !== rows * CELL) canvas.height = rows * CELL;
  canvas.width = COLS * CELL;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const frames = memoryMap(pm, zsmallocPoolsOf(z));
  frames.forEach((f, pfn) => {
    const x = (pfn % COLS) * CELL, y = Math.floor(pfn / COLS) * CELL;
    ctx.fillStyle = "#f4f4f4";
    ctx.fillRect(x, y, CELL - 1, CELL - 1);
    if (f.owner === 0) return;
    // The colored part rises from the bottom with the frame's fill level.
    const h = Math.max(1, Math.round((CELL - 1) * f.fill));
    ctx.fillStyle = frameColor(f);
    ctx.fillRect(x, y + CELL - 1 - h, CELL - 1, h);
  });
  $("legend").innerHTML = legend(frames).map((l) => `<span style="background:${l.color}"></span>${l.name} ${l.count}`).join("");
}

function showCounters(rows: Array<[string, string]>): Record<string, string> {
  $("counters").innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td class="v" data-k="${k}">${v}</td></tr>`).join("");
  return Object.fromEntries(rows);
}

function liveRows(z: Zcache, done: number, total: number): Array<[string, string]> {
  const s = z.stats();
  return [
    ["accesses", `${done} / ${total}`],
    ["pages stored", String(s.persistentPages)],
    ["compressed bytes", String(s.persistentZbytes)],
    ["rejected (incompressible)", String(s.compressPoor)],
    [FRAME_FIGURES.pool, String(s.zpoolPages.persistent)],
  ];
}

function finalRows(r: SimulateResult): Array<[string, string]> {
  const t = r.totals;
  return [
    ["accesses", String(t.accesses)],
    ["faults", String(t.faults)],
    ["stores", String(t.stores)],
    ["rejected", String(t.rejected)],
    ["hits", String(t.hits)],
    ["misses", String(t.misses)],
    ["corrupt", String(t.corrupt)],
    ["lost", String(t.lost)],
    ["pages stored", String(r.storedPages)],
    [FRAME_FIGURES.pool, String(r.poolFrames)],
    [FRAME_FIGURES.object, String(r.objectFrames)],
    ["compression ratio", r.compressionRatio.toFixed(2)],
    ["store pages/s", String(Math.round(r.storePagesPerSec))],
    ["load pages/s", String(Math.round(r.loadPagesPerSec))],
    ...r.density.map((d): [string, string] => [`${d.allocator} ${FRAME_FIGURES.replay} (${FRAME_FIGURES.kernel})`, `${d.objectFrames} (${d.kernelFrames})`]),
  ];
}

async function run(): Promise<DemoResult> {
  const allocator = ($("allocator") as HTMLSelectElement).value;
  const workers = isolated ? Number(($("workers") as HTMLSelectElement).value) : 1;
  const n = Number(($("pages") as HTMLSelectElement).value);
  const pages = cycle(await loadSample(), n);
  let pm: PhysicalMemory | undefined;
  let z: Zcache | undefined;
  let done = 0, total = 1;
  const progress = $("progress") as HTMLProgressElement;
  const timer = setInterval(() => { if (pm && z) { drawMap(pm, z); showCounters(liveRows(z, done, total)); } }, 150);
  try {
    const r = await simulate({
      pages, ram: Math.floor(n / 4), workers, allocator,
      yieldEvery: isolated && workers > 1 ? 0 : 2048,
      allowUnisolated: !isolated,
      spawn,
      onStart: (p, zc) => { pm = p; z = zc; drawMap(p, zc); },
      onProgress: (d, t) => { done = d; total = t; progress.value = d / t; },
    });
    clearInterval(timer);
    const shown = showCounters(finalRows(r));
    return { ok: r.totals.corrupt === 0 && r.totals.lost === 0, isolated, workers, allocator, totals: r.totals,
      storedPages: r.storedPages, poolFrames: r.poolFrames, objectFrames: r.objectFrames, compressionRatio: r.compressionRatio, shown };
  } finally {
    clearInterval(timer);
  }
}

const button = $("run") as HTMLButtonElement;
button.onclick = () => {
  button.disabled = true;
  delete window.__demoResult;
  run().then(
    (r) => { window.__demoResult = r; },
    (e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      showCounters([["error", msg]]);
      window.__demoResult = { ok: false, error: msg, isolated, workers: 0, allocator: "" };
    },
  ).finally(() => { button.disabled = false; });
};
if (params.get("auto") === "1") button.click();
