// SPDX-License-Identifier: MIT
// The long LZ4 fuzz runs behind `npm run fuzz`, seeded (the seed is printed,
// so a failure can be replayed):
// 1. safety: at least 10 million mutated blocks through the wasm decoders
//    (guard bytes around the destination, input ending at the end of memory
//    so an over-read traps), with compressor round trips and mutated frames;
// 2. differential: 2 million mutated and synthesized blocks against liblz4
//    (the `lz4` addon) and 2,000 mutated frames against `lz4 -d`: same
//    verdict, same bytes, only the documented disagreements
//    (test/fuzz/lz4-diff.ts).
// Stops at the first violation (exit 1).
//
//   npm run fuzz                     the defaults, seed from the clock
//   node scripts/run-ts.mjs scripts/fuzz-lz4.ts CASES SEED DIFF_BLOCKS DIFF_FRAMES
import { lz4Ready } from "../bindings/lz4.js";
import { Lz4Fuzzer, type FuzzReport } from "../test/fuzz/lz4-fuzz.js";
import { Lz4Differ, emptyDiffReport, loadNodeLz4 } from "../test/fuzz/lz4-diff.js";

const cases = Number(process.argv[2] ?? 10_000_000);
const seed = Number(process.argv[3] ?? (Date.now() & 0x7fffffff));
const diffBlocks = Number(process.argv[4] ?? 2_000_000);
const diffFrames = Number(process.argv[5] ?? 2000);
const CHUNK = 250_000;

const codec = await lz4Ready();
const fuzzer = await Lz4Fuzzer.create(codec, seed);
const rep: FuzzReport = { cases: 0, accepted: 0, rejected: 0, roundTrips: 0, frames: 0 };
const t0 = performance.now();
console.log(`lz4 fuzz: ${cases} block cases, seed ${seed}`);
try {
  while (rep.cases < cases) {
    fuzzer.run(Math.min(CHUNK, cases - rep.cases), rep);
    const s = (performance.now() - t0) / 1000;
    console.log(`${rep.cases} cases (${rep.accepted} accepted, ${rep.rejected} rejected), ${rep.roundTrips} round trips, ${rep.frames} frames, ${s.toFixed(0)} s, ${(rep.cases / s / 1000).toFixed(0)}k cases/s`);
  }
} catch (e) {
  console.error(`FAILED after ${rep.cases} cases (seed ${seed}): ${String(e)}`);
  process.exit(1);
} finally {
  fuzzer.dispose();
}
console.log(`lz4 fuzz: OK, ${rep.cases} block cases, ${rep.roundTrips} compressor round trips, ${rep.frames} frame cases, seed ${seed}`);

const { lib, why } = loadNodeLz4();
if (!lib) {
  console.log(`lz4 differential: skipped, the lz4 addon cannot load (${why})`);
} else {
  const differ = await Lz4Differ.create(lib, codec, seed);
  const d = emptyDiffReport();
  const t1 = performance.now();
  console.log(`lz4 differential: ${diffBlocks} blocks, ${diffFrames} frames, seed ${seed}`);
  try {
    while (d.blocks < diffBlocks && d.mismatches.length === 0) {
      differ.run(Math.min(CHUNK, diffBlocks - d.blocks), 0, d);
      console.log(`${d.blocks} blocks (${d.bothOk} both ok, ${d.bothBad} both rejected, ${d.offset0} offset 0, ${d.v192} 1.9.2 rule), ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    }
    for (let i = 0; i < diffFrames && d.mismatches.length === 0; i += 100) {
      differ.run(0, Math.min(100, diffFrames - i), d);
      console.log(`${d.frames} frames (${d.framesOk} both ok, ${d.cliSwallow} CLI swallow), ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    }
  } finally {
    differ.dispose();
  }
  if (d.mismatches.length > 0) {
    console.error(`lz4 differential FAILED (seed ${seed}):\n${d.mismatches.join("\n")}`);
    process.exit(1);
  }
  console.log(`lz4 differential: OK, ${d.blocks} blocks and ${d.frames} frames agree with the reference (seed ${seed})`);
}
