// Instructions per 4 KiB page of LZ4 compress/decompress, tmem vs the native
// lz4 addon, counted by valgrind --tool=callgrind (load-independent, unlike
// timings on a shared machine). Each cell runs bench/lz4-instr.ts twice under
// callgrind, with REPS and 2 × REPS passes over the same pages, and reports
// (Ir(2R) - Ir(R)) / (R × pages): start-up, JIT tier-up and warm-up cancel.
//
// Usage: node scripts/callgrind-lz4.mjs [OPS] [CORPORA] [CODECS] [REPS] [PAGES]
//   defaults: c,d  anon,file  phys,js,native  4  256
// Needs valgrind; run after `npm run build`. Prints a table and one JSON line.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const [ops = "c,d", corpora = "anon,file", codecs = "phys,js,native", repsArg = "4", pagesArg = "256"] = process.argv.slice(2);
const REPS = Number(repsArg);
const PAGES = Number(pagesArg);
// LZ4_INSTR_BUNDLE=file: count an existing bundle (e.g. one built from another commit) instead.
const outfile = process.env.LZ4_INSTR_BUNDLE ? resolve(process.env.LZ4_INSTR_BUNDLE) : resolve("build/run/lz4-instr.mjs");
if (!process.env.LZ4_INSTR_BUNDLE) await build({ entryPoints: ["bench/lz4-instr.ts"], outfile, bundle: true, format: "esm", platform: "node", target: "node20", packages: "external", logLevel: "warning" });

/** Total instructions of one run (callgrind's "Collected" line on stderr). */
function ir(codec, op, corpus, reps) {
  const p = spawnSync("valgrind", ["--tool=callgrind", "--callgrind-out-file=/dev/null", process.execPath, "--single-threaded", outfile, codec, op, corpus, String(reps), String(PAGES)],
    { encoding: "utf8", maxBuffer: 1 << 26 });
  const m = /Collected\s*:\s*(\d+)/.exec(p.stderr);
  if (p.status !== 0 || !m) throw new Error(`valgrind failed for ${codec} ${op} ${corpus} (status ${p.status}):\n${p.stderr.slice(-2000)}`);
  return Number(m[1]);
}

const rows = [];
for (const corpus of corpora.split(",")) {
  for (const op of ops.split(",")) {
    const row = { corpus, op };
    for (const codec of codecs.split(",")) {
      const a = ir(codec, op, corpus, REPS), b = ir(codec, op, corpus, 2 * REPS);
      row[codec] = Math.round((b - a) / (REPS * PAGES));
    }
    if (row.native) for (const codec of codecs.split(",")) if (codec !== "native") row[`${codec} ×native`] = +(row.native / row[codec]).toFixed(3);
    rows.push(row);
    console.log(Object.entries(row).map(([k, v]) => `${k}=${v}`).join("  "));
  }
}
console.log(JSON.stringify({ reps: REPS, pages: PAGES, instructionsPerPage: rows }));
