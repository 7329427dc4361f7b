// SPDX-License-Identifier: MIT
/**
 * app.ts: the browser demo. On load, the page runs a small swap simulation
 * (a 4 MiB working set in a 1 MiB RAM budget) in Web Workers that share one
 * physical memory, paced so that it lasts about twenty seconds: the memory
 * map fills as pages are swapped out, empties in places as they are loaded
 * back, and shrinks when the page compacts the pool (every two seconds, as
 * the kernel's zsmalloc shrinker would under memory pressure). Beside the
 * map: plots over time (frames per allocator beside the kernel's figure for
 * the same pages, compression ratio, hit rate) and the counters, each with a
 * line that says what it counts. On a page that is not cross-origin isolated
 * it says so and runs on the main thread, in slices.
 *
 * What it is not: a benchmark (the run is paced; "full speed" removes the
 * pacing, but times still include drawing).
 *
 * Frame figures carry the names in FRAME_FIGURES (src/sim/memmap.ts), the
 * same as the command's text and SVG legend.
 *
 * URL parameters preset the controls: `pages`, `workers`, `allocator`,
 * `speed` (watch | quick | full). The outcome of each run is published as
 * `window.__demoResult` (for the Chromium test).
 *
 * Concurrency: the main thread reads the memory map and the pools' stats
 * without locks while Workers change them (each snapshot is approximate);
 * it loads stored pages (to size them for the kernel's figure) and compacts
 * the pool through the same thread-safe calls the Workers use.
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { decompressFrame } from "../../src/lz4/frame.js";
import { lz4Ready } from "../../bindings/lz4.js";
import { Frontswap } from "../../src/frontswap.js";
import {
  memoryMap, simulate, storedSizes, kernelFrames, zsmallocPoolsOf,
  type LiveCounts, type ProcessResult, type SimulateResult, type WorkerProcessMessage,
} from "../../src/sim/simulate.js";
import { cycle } from "../../src/sim/pages.js";
import { FRAME_FIGURES, frameColor, legend, type FrameInfo } from "../../src/sim/memmap.js";
import type { Zcache } from "../../src/zcache.js";
import { Plot } from "./plot.js";

declare global {
  interface Window { __demoResult?: DemoResult }
}

/** One sample of the plots. */
interface Sample {
  t: number; poolFrames: number; objectFrames: number; kernelZsmalloc?: number; kernelZbud?: number;
  ratio: number; hitRate?: number; usedFrames: number;
}

/** What the page publishes when a run ends. */
interface DemoResult {
  ok: boolean;
  error?: string;
  isolated: boolean;
  workers: number;
  allocator: string;
  pages?: number;
  wallMs?: number;
  totals?: ProcessResult;
  storedPages?: number;
  poolFrames?: number;
  objectFrames?: number;
  compressionRatio?: number;
  /** Frames the page's compactions freed during the run. */
  compactedFrames?: number;
  /** The counters as the page shows them (text), to check against the run. */
  shown?: Record<string, string>;
  /** Each counter's explanation line. */
  explained?: Record<string, string>;
  /** The legend under the map (name → frames). */
  legend?: Record<string, number>;
  /** The plots' samples. */
  samples?: Sample[];
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const isolated = globalThis.crossOriginIsolated === true;
const params = new URLSearchParams(location.search);
for (const id of ["allocator", "workers", "pages", "speed"]) {
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

// ══ The memory map ══

const canvas = $("map") as HTMLCanvasElement;
const ctx = canvas.getContext("2d")!;
const CELL = 6, COLS = 96;

function drawMap(frames: readonly FrameInfo[]): Record<string, number> {
  const rows = Math.ceil(frames.length / COLS);
  if (canvas.height !== rows * CELL) canvas.height = rows * CELL;
  canvas.width = COLS * CELL;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
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
  const leg = legend(frames);
  $("legend").innerHTML = leg.map((l) => `<span class="key" style="background:${l.color}"></span><span data-legend="${l.name}">${l.name}: ${l.count}</span>`).join("");
  return Object.fromEntries(leg.map((l) => [l.name, l.count]));
}

// ══ Counters, each with its line ══

const F = FRAME_FIGURES;
/** What each counter counts: one line each, shown beside it. */
const EXPLAIN: Record<string, string> = {
  "accesses": "page touches the program has made (of the run's total)",
  "faults": "touches of a page that was not in RAM: it had to come from zcache or the disk, or was touched for the first time",
  "stores": "pages swapped out of RAM that frontswap accepted into zcache (compressed)",
  "rejected": "pages swapped out that zcache refused (incompressible): they went to the simulated disk",
  "hits": "faults served from zcache: the page was decompressed and checked byte for byte",
  "misses": "faults served from the simulated disk (the page had been rejected)",
  "hit rate": "hits ÷ (hits + misses): the share of swap-ins that compressed memory saved from the disk",
  "corrupt": "pages that came back different from what was stored: must be 0",
  "lost": "pages zcache accepted but could not give back: must be 0",
  "pages stored": "pages held in zcache now, compressed (same-filled pages need no object)",
  "compression ratio": "raw bytes ÷ compressed bytes of the pages in zcache now",
  [F.pool]: `every frame of zcache's pool: ${F.object} + ${F.meta}`,
  [F.object]: "frames holding compressed pages: the map's colored allocator cells",
  [F.meta]: "frames of the pool's own handle tables and descriptors",
  "frames freed by compaction": "frames the page's compactions (every 2 s, zsmalloc only) gave back by moving objects together",
  "store pages/s": "pages per second inside frontswap's store calls (compress + allocate + copy)",
  "load pages/s": "pages per second inside frontswap's load calls (decompress)",
};
const explainDensity = (alloc: string): string =>
  `the pages stored at the end, put into a fresh ${alloc} pool and compacted (${F.replay}), beside the kernel's ${alloc} for the same sizes (${F.kernel})`;

function showCounters(rows: Array<[string, string]>): { shown: Record<string, string>; explained: Record<string, string> } {
  const explained: Record<string, string> = {};
  $("counters").innerHTML = "<tr><th>counter</th><th>value</th><th>what it counts</th></tr>" + rows.map(([k, v]) => {
    const e = EXPLAIN[k] ?? (k.endsWith(")") ? explainDensity(k.split(" ")[0]!) : "");
    explained[k] = e;
    return `<tr><td>${k}</td><td class="v" data-k="${k}">${v}</td><td class="e">${e}</td></tr>`;
  }).join("");
  return { shown: Object.fromEntries(rows), explained };
}

const pct = (a: number, b: number): string => (b > 0 ? `${((a / b) * 100).toFixed(1)} %` : "–");

function liveRows(z: Zcache, live: LiveCounts, total: number, compacted: number): Array<[string, string]> {
  const s = z.stats();
  const st = z.persistent.stats() as { pages: number; objectPages?: number; zbudPages?: number };
  const objectFrames = st.objectPages ?? st.zbudPages ?? st.pages;
  return [
    ["accesses", `${live.accesses} / ${total}`],
    ["faults", String(live.faults)],
    ["stores", String(live.stores)],
    ["rejected", String(live.rejected)],
    ["hits", String(live.hits)],
    ["misses", String(live.misses)],
    ["hit rate", pct(live.hits, live.hits + live.misses)],
    ["pages stored", String(s.persistentPages)],
    ["compression ratio", s.persistentZbytes > 0 ? ((s.persistentPages * 4096) / s.persistentZbytes).toFixed(2) : "–"],
    [F.pool, String(st.pages)],
    [F.object, String(objectFrames)],
    [F.meta, String(st.pages - objectFrames)],
    ["frames freed by compaction", String(compacted)],
  ];
}

function finalRows(r: SimulateResult, compacted: number): Array<[string, string]> {
  const t = r.totals;
  return [
    ["accesses", String(t.accesses)],
    ["faults", String(t.faults)],
    ["stores", String(t.stores)],
    ["rejected", String(t.rejected)],
    ["hits", String(t.hits)],
    ["misses", String(t.misses)],
    ["hit rate", pct(t.hits, t.hits + t.misses)],
    ["corrupt", String(t.corrupt)],
    ["lost", String(t.lost)],
    ["pages stored", String(r.storedPages)],
    ["compression ratio", r.compressionRatio.toFixed(2)],
    [F.pool, String(r.poolFrames)],
    [F.object, String(r.objectFrames)],
    [F.meta, String(r.metaFrames)],
    ["frames freed by compaction", String(compacted)],
    ["store pages/s", String(Math.round(r.storePagesPerSec))],
    ["load pages/s", String(Math.round(r.loadPagesPerSec))],
    ...r.density.map((d): [string, string] => [`${d.allocator} (${F.replay} / ${F.kernel})`, `${d.objectFrames} / ${d.kernelFrames}`]),
  ];
}

// ══ Plots ══

const framesPlot = new Plot($("plot-frames") as HTMLCanvasElement, "frames", [
  { key: "poolFrames", label: F.pool, color: "hsl(215 70% 45%)" },
  { key: "objectFrames", label: F.object, color: "hsl(215 70% 70%)" },
  { key: "kernelZsmalloc", label: "kernel's zsmalloc for the same pages", color: "#d33", dash: [5, 3] },
  { key: "kernelZbud", label: "kernel's zbud for the same pages (those zbud takes, ≤ 3,968 B)", color: "hsl(140 55% 35%)", dash: [2, 3] },
]);
const ratioPlot = new Plot($("plot-ratio") as HTMLCanvasElement, "compression ratio", [{ key: "ratio", label: "raw ÷ compressed, pages in zcache", color: "hsl(30 85% 45%)" }]);
const hitPlot = new Plot($("plot-hits") as HTMLCanvasElement, "hit rate %", [{ key: "hitRate", label: "hits ÷ swap-ins over the last second", color: "hsl(280 45% 45%)" }], 100);

// ══ The run ══

/** Accesses per second of each speed: "watch" makes the small default last about 20 s. */
function rateOf(speed: string, accesses: number): number | undefined {
  if (speed === "full") return undefined;
  return Math.ceil(accesses / (speed === "quick" ? 5 : 20));
}

async function run(): Promise<DemoResult> {
  const allocator = ($("allocator") as HTMLSelectElement).value;
  const workers = isolated ? Number(($("workers") as HTMLSelectElement).value) : 1;
  const n = Number(($("pages") as HTMLSelectElement).value);
  const speed = ($("speed") as HTMLSelectElement).value;
  const pages = cycle(await loadSample(), n);
  const accesses = 12 * n;
  let pm: PhysicalMemory | undefined;
  let z: Zcache | undefined;
  let live: LiveCounts = { accesses: 0, faults: 0, hits: 0, misses: 0, stores: 0, rejected: 0 };
  let total = accesses;
  let compacted = 0;
  const samples: Sample[] = [];
  for (const p of [framesPlot, ratioPlot, hitPlot]) p.clear();
  const progress = $("progress") as HTMLProgressElement;
  const t0 = performance.now();
  let lastKernel = -Infinity, lastCompact = performance.now();
  let kernel: { zsmalloc: number; zbud: number } | undefined;
  const window1s: Array<{ t: number; hits: number; misses: number }> = [];
  const codec = await lz4Ready();

  const tick = (): void => {
    if (!pm || !z) return;
    const now = performance.now();
    if (allocator === "zsmalloc" && now - lastCompact >= 2000) {
      lastCompact = now;
      compacted += z.persistent.compact();
    }
    const frames = memoryMap(pm, zsmallocPoolsOf(z));
    drawMap(frames);
    showCounters(liveRows(z, live, total, compacted));
    if (now - lastKernel >= 1000) {
      lastKernel = now;
      // The kernel's figure needs the sizes of the pages stored now: size them as zcache did.
      kernel = kernelFrames(storedSizes(Frontswap.for(pm), workers, codec).sizes);
    }
    window1s.push({ t: now, hits: live.hits, misses: live.misses });
    while (window1s.length > 1 && now - window1s[0]!.t > 1000) window1s.shift();
    const first = window1s[0]!;
    const dh = live.hits - first.hits, dm = live.misses - first.misses;
    const s = z.stats();
    const st = z.persistent.stats() as { pages: number; objectPages?: number; zbudPages?: number };
    const smp: Sample = {
      t: (now - t0) / 1000, poolFrames: st.pages, objectFrames: st.objectPages ?? st.zbudPages ?? st.pages,
      kernelZsmalloc: kernel?.zsmalloc, kernelZbud: kernel?.zbud,
      ratio: s.persistentZbytes > 0 ? (s.persistentPages * 4096) / s.persistentZbytes : 0,
      hitRate: dh + dm > 0 ? (dh / (dh + dm)) * 100 : undefined,
      usedFrames: frames.filter((f) => f.owner !== 0).length,
    };
    samples.push(smp);
    for (const p of [framesPlot, ratioPlot, hitPlot]) p.add(smp as unknown as Record<string, number | undefined> & { t: number });
  };
  const timer = setInterval(tick, 250);
  try {
    const r = await simulate({
      pages, ram: Math.floor(n / 4), workers, allocator, accesses,
      accessesPerSecond: rateOf(speed, accesses),
      yieldEvery: isolated && workers > 1 ? 0 : 2048,
      allowUnisolated: !isolated,
      spawn,
      onStart: (p, zc) => { pm = p; z = zc; tick(); },
      onProgress: (d, t, l) => { total = t; if (l) live = l; else live = { ...live, accesses: d }; progress.value = d / t; },
      beforeEnd: () => { clearInterval(timer); tick(); },
    });
    clearInterval(timer);
    const legendCounts = drawMap(r.memoryMap);
    const { shown, explained } = showCounters(finalRows(r, compacted));
    $("status").textContent = `Done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${r.totals.corrupt} corrupt, ${r.totals.lost} lost pages. Run again with other settings above.`;
    return {
      ok: r.totals.corrupt === 0 && r.totals.lost === 0, isolated, workers, allocator, pages: n, wallMs: performance.now() - t0, totals: r.totals,
      storedPages: r.storedPages, poolFrames: r.poolFrames, objectFrames: r.objectFrames, compressionRatio: r.compressionRatio,
      compactedFrames: compacted, shown, explained, legend: legendCounts, samples,
    };
  } finally {
    clearInterval(timer);
  }
}

const button = $("run") as HTMLButtonElement;
function start(): void {
  button.disabled = true;
  delete window.__demoResult;
  $("status").textContent = "Running…";
  run().then(
    (r) => { window.__demoResult = r; },
    (e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      showCounters([["error", msg]]);
      $("status").textContent = `Failed: ${msg}`;
      window.__demoResult = { ok: false, error: msg, isolated, workers: 0, allocator: "" };
    },
  ).finally(() => { button.disabled = false; });
}
button.onclick = start;
start(); // runs on load, with the small default
