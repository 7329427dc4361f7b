// SPDX-License-Identifier: MIT
/**
 * harness.ts: what every benchmark in bench/ shares: medians over repeated
 * runs, worker bundling, and results written as JSON (bench/results/NAME.json)
 * and printed as a table. Benchmarks run the peer side by side in the same run
 * and report ratios, because the machines are shared and noisy: absolute
 * numbers move ±30 % between runs, ratios much less.
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { build } from "esbuild";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { cpus } from "node:os";

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Bundle a TypeScript worker entry for worker_threads; returns its URL. */
export async function bundleWorker(entry: string): Promise<URL> {
  const outfile = resolve("build/run", basename(entry).replace(/\.ts$/, ".mjs"));
  await build({ entryPoints: [entry], outfile, bundle: true, format: "esm", platform: "node", target: "node20", packages: "external", logLevel: "warning" });
  return pathToFileURL(outfile);
}

/** One row of a results table: column name → value. */
export type Row = Record<string, string | number>;

/** Render rows as a fixed-width text table. */
export function table(rows: readonly Row[]): string {
  if (rows.length === 0) return "(no rows)";
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined): string =>
    typeof v === "number" ? (Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : String(v ?? "");
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(cols), line(widths.map((w) => "-".repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join("\n");
}

/** Write bench/results/NAME.json with the machine's description, and print the tables. */
export function report(name: string, sections: Record<string, Row[]>, extra: Record<string, unknown> = {}): void {
  mkdirSync("bench/results", { recursive: true });
  const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", date: new Date().toISOString() };
  writeFileSync(`bench/results/${name}.json`, JSON.stringify({ name, machine, ...extra, sections }, null, 2) + "\n");
  for (const [title, rows] of Object.entries(sections)) console.log(`\n## ${title}\n\n${table(rows)}`);
  console.log(`\n(results: bench/results/${name}.json; ${machine.cpu}, ${machine.cpus} cores, Node ${machine.node})`);
}
