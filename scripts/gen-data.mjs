// SPDX-License-Identifier: MIT
// Regenerate data/: the samples of the real page corpora that ship in the
// repository, so that the tests, the CLI and the web demo run on real pages
// in a clone that has no ../shared beside it.
//
//   node scripts/gen-data.mjs          (needs ../shared/corpus and /usr/bin/lz4)
//   node scripts/gen-data.mjs --check  (exit 1 if data/ differs from what it would write)
//
// Why a sample and how it is cut. ../shared/corpus holds two corpora of 8192
// real 4 KiB pages each (32 MiB apiece): anon.pages, anonymous memory of a
// Node.js process, and file.pages, page-cache pages of ELF, text and other
// binary files. Synthetic pages do not compress like these (the zcache tests
// that need 150 of 200 stores accepted got 17 with them), so the repo carries
// every 16th page of each corpus: 512 pages, 2 MiB raw per corpus, spread over
// the whole file so the mix of page kinds (zero pages, heap, strings, typed
// arrays; binaries, text, compressed files) and the size distribution after
// LZ4 stay close to the corpus's. Every 16th, not the first 512: the corpora
// are ordered (file.pages is thirds by kind), so a prefix would be one kind.
//
// Output:
//   data/sample-anon.pages.lz4     anon pages 0, 16, 32, ... 8176 as one LZ4 frame
//   data/sample-file.pages.lz4     file pages 0, 16, 32, ... 8176 as one LZ4 frame
//   data/sample-anon.lz4sizes.u32  the reference liblz4 size of each sampled page
//   data/sample-file.lz4sizes.u32  (little-endian u32, cut out of NAME.lz4sizes.u32)
//
// The frames are written by the reference command line as `lz4 -9
// --content-size` (independent 4 MiB blocks, content checksum): about 0.7 MiB
// and 1.0 MiB. That is the exact command sample-anon.pages.lz4 was first made
// with, so rerunning this script reproduces the committed bytes. The sizes are
// the reference's own numbers (liblz4 1.9.4, acceleration 1), not ours, so
// that a test can compare our compressor with them on the sample.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LZ4 = "/usr/bin/lz4";
const SHARED = new URL("../../shared/corpus/", import.meta.url);
const DATA = new URL("../data/", import.meta.url);
const PAGE = 4096;
const STRIDE = 16;
const check = process.argv.includes("--check");

if (!existsSync(LZ4)) {
  console.error(`gen-data: the reference ${LZ4} is missing (apt-get install lz4)`);
  process.exit(2);
}
let differ = 0;
for (const name of ["anon", "file"]) {
  const pagesUrl = new URL(`${name}.pages`, SHARED);
  const sizesUrl = new URL(`${name}.lz4sizes.u32`, SHARED);
  if (!existsSync(pagesUrl) || !existsSync(sizesUrl)) {
    console.error(`gen-data: ${pagesUrl.pathname} or its sizes are absent; ../shared/corpus is needed to regenerate data/`);
    process.exit(2);
  }
  const pages = readFileSync(pagesUrl);
  const sizes = readFileSync(sizesUrl);
  const n = pages.length / PAGE;
  const picked = Math.ceil(n / STRIDE);
  const raw = Buffer.alloc(picked * PAGE);
  const sz = Buffer.alloc(picked * 4);
  for (let j = 0; j < picked; j++) {
    const i = j * STRIDE;
    pages.copy(raw, j * PAGE, i * PAGE, (i + 1) * PAGE);
    sz.writeUInt32LE(sizes.readUInt32LE(i * 4), j * 4);
  }
  // From a file, not stdin: the CLI writes the content size only for an input of known size.
  const tmp = mkdtempSync(join(tmpdir(), "gen-data-"));
  const rawPath = join(tmp, `${name}.pages`);
  writeFileSync(rawPath, raw);
  const frame = execFileSync(LZ4, ["-9", "-c", "--content-size", rawPath], { maxBuffer: 64 << 20 });
  rmSync(tmp, { recursive: true, force: true });
  const out = [
    [`sample-${name}.pages.lz4`, frame],
    [`sample-${name}.lz4sizes.u32`, sz],
  ];
  for (const [file, bytes] of out) {
    const url = new URL(file, DATA);
    if (check) {
      const same = existsSync(url) && Buffer.compare(readFileSync(url), bytes) === 0;
      if (!same) { differ++; console.error(`gen-data: data/${file} differs from a fresh cut`); }
    } else {
      writeFileSync(url, bytes);
      console.log(`data/${file}: ${bytes.length} bytes (${picked} pages of ${name}.pages, every ${STRIDE}th)`);
    }
  }
}
if (check) {
  if (differ > 0) process.exit(1);
  console.log("gen-data: data/ matches ../shared/corpus");
}
