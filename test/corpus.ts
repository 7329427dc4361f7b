// SPDX-License-Identifier: MIT
/**
 * corpus.ts: the real pages every test runs on, with or without ../shared.
 *
 * Synthetic pages do not behave like real ones: they compress too well or
 * not at all, and a test of acceptance thresholds, eviction or packing
 * density that passes on them says little (the zcache tests needed 150 of 200
 * stores accepted and got 17 on the old synthetic fallback). So there is no
 * synthetic fallback here. A test asks for a corpus by name and gets real
 * pages: the full 8192-page corpus from ../shared/corpus when that directory
 * sits beside the repository (CI always has it), or else the 512-page sample
 * the repository ships in data/ (every 16th page of the same corpus, cut by
 * scripts/gen-data.mjs, with the reference liblz4 size of each page). A test
 * indexes pages modulo `count`, so it runs on either.
 *
 * Only a check that is about the corpus at full scale (a density figure
 * compared with the kernel's number for all 8192 pages) may skip, and it
 * does so through {@link fullCorpusSkip}, which prints why; nothing here
 * lets a test return early.
 *
 * This module imports no test framework, so the fuzzer (scripts/fuzz-lz4.ts)
 * can use it outside vitest. Loading decodes an LZ4 frame with the project's
 * own decoder (async: it waits for the codec's wasm); results are cached per
 * process.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decompressFrame } from "../src/lz4/frame.js";

/** The two corpora: a Node process's anonymous memory, and page-cache pages of files. */
export type CorpusName = "anon" | "file";

/** One corpus as a test sees it. */
export interface Corpus {
  readonly name: CorpusName;
  /** `count` pages of 4096 bytes, concatenated. */
  readonly pages: Uint8Array;
  /** The reference liblz4 1.9.4 size (acceleration 1) of each page; > 4096 means incompressible. */
  readonly sizes: Uint32Array;
  /** Number of pages: 8192 for the full corpus, 512 for the sample. */
  readonly count: number;
  /** True for ../shared/corpus, false for the repository's sample. */
  readonly full: boolean;
  /** Where the pages came from (a path), for messages. */
  readonly source: string;
}

/** This module's repository root, or the working directory when it runs bundled elsewhere (scripts/run-ts.mjs puts bundles in build/run/). */
const ROOT = existsSync(fileURLToPath(new URL("../data/", import.meta.url))) ? fileURLToPath(new URL("../", import.meta.url)) : `${process.cwd()}/`;
const sharedPath = (file: string): string => `${ROOT}../shared/corpus/${file}`;
const dataPath = (file: string): string => `${ROOT}data/${file}`;

/** Whether ../shared/corpus holds both pages and sizes of `name`. */
export function haveFullCorpus(name: CorpusName): boolean {
  return existsSync(sharedPath(`${name}.pages`)) && existsSync(sharedPath(`${name}.lz4sizes.u32`));
}

function u32(b: Buffer): Uint32Array {
  // Copy: a Buffer from readFileSync may share a pool slab at an unaligned offset.
  return new Uint32Array(new Uint8Array(b).buffer);
}

/**
 * The reference LZ4 size of every page of `name` (full corpus or sample),
 * synchronously: for tests that need only the size distribution.
 */
export function corpusSizes(name: CorpusName): { sizes: Uint32Array; full: boolean; source: string } {
  const full = haveFullCorpus(name);
  const source = full ? sharedPath(`${name}.lz4sizes.u32`) : dataPath(`sample-${name}.lz4sizes.u32`);
  return { sizes: u32(readFileSync(source)), full, source };
}

const cache = new Map<CorpusName, Promise<Corpus>>();

/**
 * The pages of `name`: ../shared/corpus/NAME.pages when present, else the
 * repository's sample data/sample-NAME.pages.lz4. Never synthetic.
 * @throws if neither exists (a broken checkout), or the sample's size table disagrees with its pages.
 */
export function loadCorpus(name: CorpusName): Promise<Corpus> {
  let p = cache.get(name);
  if (p === undefined) {
    p = (async (): Promise<Corpus> => {
      const { sizes, full, source: sizeSource } = corpusSizes(name);
      let pages: Uint8Array;
      let source: string;
      if (full) {
        source = sharedPath(`${name}.pages`);
        pages = new Uint8Array(readFileSync(source));
      } else {
        source = dataPath(`sample-${name}.pages.lz4`);
        pages = await decompressFrame(new Uint8Array(readFileSync(source)));
      }
      const count = pages.length / 4096;
      if (!Number.isInteger(count) || count !== sizes.length) {
        throw new Error(`corpus ${name}: ${source} has ${pages.length} bytes but ${sizeSource} lists ${sizes.length} pages`);
      }
      return { name, pages, sizes, count, full, source };
    })();
    cache.set(name, p);
  }
  return p;
}

/** Page `i` of a corpus (modulo its page count), as a view. */
export function corpusPage(c: Corpus, i: number): Uint8Array {
  const k = ((i % c.count) + c.count) % c.count;
  return c.pages.subarray(k * 4096, (k + 1) * 4096);
}

/**
 * For a check that only means something at full corpus scale: true when
 * ../shared/corpus lacks any of `names`, after printing why the check is
 * skipped. Use as `it.skipIf(fullCorpusSkip("what", "anon"))(...)`.
 */
export function fullCorpusSkip(what: string, ...names: CorpusName[]): boolean {
  const missing = names.filter((n) => !haveFullCorpus(n));
  if (missing.length === 0) return false;
  console.warn(`skipped: ${what}: needs the full corpus (${missing.map((n) => sharedPath(`${n}.pages`)).join(", ")} absent: ../shared is not beside the repository)`);
  return true;
}
