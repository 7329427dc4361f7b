// SPDX-License-Identifier: MIT
/**
 * lz4-instr.ts: a fixed LZ4 workload for instruction counting under
 * valgrind --tool=callgrind, tmem's codec and the native `lz4` addon on the
 * same pages, so the per-page figures compare code rather than load.
 *
 * Method: P pages of a corpus (every (8192/P)th page of ../shared/corpus, or
 * of the repository's sample), each compressed (or decompressed) alone.
 * WARM warm-up passes run first, so V8 has tiered the code up in every run;
 * then REPS passes. Run it twice with REPS = R and 2R: the difference of the
 * two totals divided by R × P is the cost of one page with start-up, JIT
 * compilation and warm-up cancelled. `node scripts/callgrind-lz4.mjs` (after
 * `npm run build`) does exactly that and prints instructions per page for
 * each codec. V8's background work still moves a run by millions of
 * instructions (REPS 2 vs 4 on 256 pages gave 45k to 56k per page for the
 * same build), so take REPS ≥ 16 and compare builds side by side
 * (LZ4_INSTR_BUNDLE in the script).
 *
 * Usage (one run): node build/run/lz4-instr.mjs CODEC OP CORPUS REPS [P]
 *   CODEC  phys    compressPhysical / decompressPhysical (pages in physical memory)
 *          js      Lz4Codec.compressBlockInto / decompressBlockInto (JS arrays)
 *          native  the lz4 addon's encodeBlock / decodeBlock
 *          sizes   (no count) Σ compressed size over the whole corpus vs the reference's
 *   OP     c | d
 *   CORPUS anon | file
 * Prints one JSON line: { codec, op, corpus, reps, pages, bytes }.
 * @module
 */
import { createRequire } from "node:module";
import { lz4Ready, compressPhysical, decompressPhysical } from "../bindings/lz4.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { loadCorpus, type CorpusName } from "../test/corpus.js";

const require = createRequire(import.meta.url);
interface NodeLz4 { encodeBlock(src: Uint8Array, dst: Uint8Array): number; decodeBlock(src: Uint8Array, dst: Uint8Array): number }

const [codecName = "phys", op = "c", corpusName = "anon", repsArg = "4", pagesArg = "256"] = process.argv.slice(2);
const REPS = Number(repsArg);
const P = Number(pagesArg);
const WARM = 30;
const PAGE = 4096;
const SLOT = PAGE + Math.floor(PAGE / 255) + 16;

const corpus = await loadCorpus(corpusName as CorpusName);
if (codecName === "sizes") {
  // Not a count: our total compressed size over the whole corpus against the reference liblz4's.
  const codec = await lz4Ready();
  const dst = new Uint8Array(SLOT);
  let ours = 0, theirs = 0, differ = 0;
  for (let i = 0; i < corpus.count; i++) {
    const n = codec.compressBlockInto(corpus.pages.subarray(i * PAGE, (i + 1) * PAGE), dst);
    ours += n;
    theirs += corpus.sizes[i]!;
    if (n !== corpus.sizes[i]) differ++;
  }
  console.log(JSON.stringify({ corpus: corpusName, pages: corpus.count, ours, theirs, ratio: ours / theirs, pagesDiffering: differ }));
  process.exit(0);
}
const stride = Math.max(1, Math.floor(corpus.count / P));
const pages: Uint8Array[] = [];
for (let i = 0; i < P; i++) {
  const at = ((i * stride) % corpus.count) * PAGE;
  pages.push(corpus.pages.slice(at, at + PAGE));
}

let bytes = 0;
let pass: () => void;
if (codecName === "native") {
  const lz4 = require("lz4") as NodeLz4;
  const slots = pages.map(() => new Uint8Array(SLOT));
  const sizes = pages.map((p, i) => lz4.encodeBlock(p, slots[i]!));
  const stored = slots.map((s, i) => s.subarray(0, sizes[i]));
  const out = new Uint8Array(PAGE);
  pass = op === "c"
    ? () => { for (let i = 0; i < P; i++) bytes += lz4.encodeBlock(pages[i]!, slots[i]!); }
    : () => { for (let i = 0; i < P; i++) bytes += sizes[i] === 0 ? 0 : lz4.decodeBlock(stored[i]!, out); };
} else if (codecName === "js") {
  const codec = await lz4Ready();
  const slots = pages.map(() => new Uint8Array(SLOT));
  const sizes = pages.map((p, i) => codec.compressBlockInto(p, slots[i]!));
  const stored = slots.map((s, i) => s.subarray(0, sizes[i]));
  const out = new Uint8Array(PAGE);
  const EXACT = { exact: true };
  pass = op === "c"
    ? () => { for (let i = 0; i < P; i++) bytes += codec.compressBlockInto(pages[i]!, slots[i]!); }
    : () => { for (let i = 0; i < P; i++) bytes += codec.decompressBlockInto(stored[i]!, out, EXACT); };
} else {
  const pm = await PhysicalMemory.create({ frames: 2 * P + 64, maxWorkers: 1 });
  const inBase = pm.layout.framesBase;
  const outBase = inBase + P * PAGE;
  const dst = outBase + P * SLOT;
  pages.forEach((p, i) => pm.u8.set(p, inBase + i * PAGE));
  const sizes = pages.map((_, i) => compressPhysical(pm, inBase + i * PAGE, PAGE, outBase + i * SLOT, SLOT));
  const EXACT = { exact: true };
  pass = op === "c"
    ? () => { for (let i = 0; i < P; i++) bytes += compressPhysical(pm, inBase + i * PAGE, PAGE, outBase + i * SLOT, SLOT); }
    : () => { for (let i = 0; i < P; i++) bytes += decompressPhysical(pm, outBase + i * SLOT, sizes[i]!, dst, PAGE, EXACT); };
}

for (let r = 0; r < WARM; r++) pass();
bytes = 0;
for (let r = 0; r < REPS; r++) pass();
console.log(JSON.stringify({ codec: codecName, op, corpus: corpusName, reps: REPS, pages: P, bytes }));
