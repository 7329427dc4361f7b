// SPDX-License-Identifier: MIT
/**
 * cli.ts: the `tmem` command.
 *
 *   tmem demo [--frames N] [--workers N] [--ops N] [--json]
 *       Create a physical memory, let N worker_threads allocate and free
 *       frames in it at random (each stamping and checking its frames), and
 *       print what happened. The default command.
 *
 * Exit status: 0 on success, 1 when a check failed, 2 for bad usage.
 * @module
 */
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import type { FrameStressResult } from "./frame-stress.js";

const USAGE = `usage: tmem [demo] [--frames N] [--workers N] [--ops N] [--json]

  demo       N Workers share one physical memory and allocate/free frames at
             random, checking that no frame is ever handed out twice (default)

options:
  --frames N   page frames of 4 KiB in the memory (default 4096)
  --workers N  worker threads (default 2)
  --ops N      random operations per worker (default 200000)
  --json       print the result as JSON
  -h, --help   this text`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`tmem: ${msg}\n`);
  process.exit(code);
}

function intOption(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return n;
}

async function demo(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        frames: { type: "string" }, workers: { type: "string" }, ops: { type: "string" },
        json: { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    });
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) { console.log(USAGE); return; }
  const frames = intOption("frames", v.frames, 4096, 16, 1_000_000);
  const workers = intOption("workers", v.workers, 2, 1, 64);
  const ops = intOption("ops", v.ops, 200_000, 1, 100_000_000);

  const pm = await PhysicalMemory.create({ frames, maxWorkers: workers + 1 });
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = workers;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: workers }, (_, i) => new Promise<FrameStressResult & { ms: number; slot: number }>((resolve, reject) => {
    const w = new Worker(new URL("./frame-stress-worker.js", import.meta.url), {
      workerData: { handle: pm.handle, barrier, options: { ops, seed: 0x1234 + i * 7919, maxHeld: Math.floor(frames / workers), owner: 16 + i } },
    });
    w.once("message", resolve);
    w.once("error", reject);
  })));
  const wall = performance.now() - t0;
  const stats = pm.stats();
  const bad = results.reduce((a, r) => a + r.corrupt + r.duplicates + r.wrongOwner, 0);
  const ok = bad === 0 && stats.usedFrames === 0;
  if (v.json) {
    console.log(JSON.stringify({ frames, workers, opsPerWorker: ops, wallMs: wall, results, stats, ok }, null, 2));
  } else {
    console.log(`tmem demo: ${workers} Workers share one physical memory of ${frames} frames (${(frames * 4 / 1024).toFixed(1)} MiB)\n`);
    console.log("worker  ops        allocs     frees      ENOMEM   peak held  corrupt  ns/op");
    for (const r of results) {
      console.log(`${String(r.slot).padEnd(8)}${String(r.ops).padEnd(11)}${String(r.allocs).padEnd(11)}${String(r.frees).padEnd(11)}` +
        `${String(r.enomem).padEnd(9)}${String(r.peakHeld).padEnd(11)}${String(r.corrupt + r.duplicates + r.wrongOwner).padEnd(9)}${(r.ms * 1e6 / r.ops).toFixed(0)}`);
    }
    console.log(`\nafter the run: ${stats.usedFrames} frames in use, ${stats.freeFrames} free; wall ${wall.toFixed(0)} ms`);
    console.log(ok ? "OK: no frame was handed out twice, every signature intact, every frame free again."
      : "FAILED: see the corrupt column and the frames in use.");
  }
  pm.detach();
  if (!ok) process.exit(1);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === undefined || cmd.startsWith("-")) return demo(process.argv.slice(2));
  if (cmd === "demo") return demo(rest);
  if (cmd === "help") { console.log(USAGE); return; }
  fail(`unknown command '${cmd}'\n${USAGE}`);
}

main().catch((e: unknown) => {
  if (e instanceof TmemError) fail(e.message, 1);
  throw e;
});
