// SPDX-License-Identifier: MIT
// The long LZ4 fuzz run behind `npm run fuzz`: at least 10 million mutated
// blocks through the wasm decoders (guard bytes around the destination, input
// ending at the end of memory so an over-read traps), with compressor round
// trips and mutated frames mixed in. Stops at the first violation (exit 1).
//
//   npm run fuzz                     10,000,000 cases, seed from the clock
//   node scripts/run-ts.mjs scripts/fuzz-lz4.ts CASES SEED
import { lz4Ready } from "../bindings/lz4.js";
import { Lz4Fuzzer, type FuzzReport } from "../test/fuzz/lz4-fuzz.js";

const cases = Number(process.argv[2] ?? 10_000_000);
const seed = Number(process.argv[3] ?? (Date.now() & 0x7fffffff));
const CHUNK = 250_000;

const fuzzer = await Lz4Fuzzer.create(await lz4Ready(), seed);
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
