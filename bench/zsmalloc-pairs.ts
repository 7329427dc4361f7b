// SPDX-License-Identifier: MIT
/**
 * zsmalloc-pairs.ts: a fixed amount of zsmalloc malloc+free pairs and nothing
 * else, for instruction counting under valgrind (callgrind). Not a timed
 * benchmark: run it twice with different `--pairs` and take the difference
 * of the two instruction totals divided by the difference in pairs, so
 * startup, compilation and the fill cancel and the figure does not depend on
 * the machine's load (what bench/zpool.ts and bench/robust-cost.ts measure by
 * wall clock).
 *
 * Subjects (`--subject`): `core` (pm.core.zs_malloc / zs_free, the wasm
 * exports), `port` (bench/zsmalloc-port.ts, the pure-TS port of the same
 * algorithm), `base` (the zsmalloc exports of another build of the core,
 * `--wasm PATH` to its release.passive.wasm, on its own memory), `loop` (the
 * same loop calling two empty functions: what the JS loop itself costs).
 * Sizes: the anon corpus's LZ4 sizes when ../shared is beside the repo, else
 * a seeded uniform 200..3900; victims from a fixed seed, so two runs of one
 * subject differ only in their length.
 *
 * Run: npm run build && node scripts/run-ts.mjs bench/zsmalloc-pairs.ts (bundles to
 *   build/run/zsmalloc-pairs.mjs), then
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node build/run/zsmalloc-pairs.mjs --subject core --pairs 50000
 *   and again with --pairs 150000; instructions per pair = (Ir2 - Ir1) / 100000.
 * Options: --live N (objects kept live, default 20000), --pairs N (default 100000).
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { PhysicalMemory } from "../bindings/physmem.js";
import { buildStamp, instantiateCore } from "../bindings/wasm.js";
import { check } from "../bindings/status.js";
import { SCRATCH_SIZE, computeLayout } from "../bindings/layout.js";
import { ZsmallocPort } from "./zsmalloc-port.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const subject = arg("--subject", "core");
const LIVE = Number(arg("--live", "20000"));
const PAIRS = Number(arg("--pairs", "100000"));

const corpusPath = new URL("../../shared/corpus/anon.lz4sizes.u32", `file://${process.cwd()}/bench/`);
let seed = 12345;
const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
const base: number[] = existsSync(corpusPath)
  ? Array.from(new Uint32Array(readFileSync(corpusPath).buffer.slice(0)), (s) => Math.min(Math.max(s, 1), 4096))
  : Array.from({ length: 8192 }, () => 200 + rnd(3701));
const sizes = new Uint32Array(1 << 16).map(() => base[rnd(base.length)]!);
const victims = new Uint32Array(PAIRS).map(() => rnd(LIVE));
const frames = Math.ceil((LIVE * 2600) / 4096) + 8192;

let malloc: (s: number) => number;
let free: (h: number) => void;
if (subject === "core" || subject === "base") {
  let core: Record<string, (...a: number[]) => number>;
  if (subject === "core") {
    const pm = await PhysicalMemory.create({ frames, maxWorkers: 2 });
    core = pm.core as unknown as Record<string, (...a: number[]) => number>;
  } else {
    const mod = new WebAssembly.Module(readFileSync(arg("--wasm", "")));
    const layout = computeLayout(frames, 2)!;
    const memory = new WebAssembly.Memory({ initial: layout.wasmPages, maximum: layout.wasmPages, shared: true });
    const c = await instantiateCore(mod, memory);
    const stamp = buildStamp(mod)!;
    check(c.pm_format(layout.frames, layout.framesBase, layout.metaBase, layout.scratchBase, SCRATCH_SIZE, 2, stamp[0], stamp[1]), "pm_format");
    const pm = await PhysicalMemory.attach({ module: mod, memory });
    core = pm.core as unknown as Record<string, (...a: number[]) => number>;
  }
  const id = core.zs_create_pool!(8);
  const m = core.zs_malloc!, f = core.zs_free!;
  malloc = (s) => m(id, s);
  free = (h) => { f(id, h); };
} else if (subject === "port") {
  const p = new ZsmallocPort({ frames, maxPagesPerZspage: 8 });
  malloc = (s) => p.malloc(s);
  free = (h) => { p.free(h); };
} else if (subject === "loop") {
  let k = 0;
  malloc = () => ++k;
  free = () => {};
} else {
  throw new Error(`unknown --subject ${subject}`);
}

const hs = new Int32Array(LIVE);
for (let i = 0; i < LIVE; i++) hs[i] = malloc(sizes[i & 0xffff]!);
let bad = 0;
for (let k = 0; k < PAIRS; k++) {
  const v = victims[k]!;
  free(hs[v]!);
  const h = malloc(sizes[(LIVE + k) & 0xffff]!);
  bad |= h;
  hs[v] = h;
}
if (bad < 0) throw new Error("a malloc failed");
console.log(`${subject}: ${PAIRS} pairs at ${LIVE} live`);
process.exit(0);
