// SPDX-License-Identifier: MIT
// Regenerate test/fixtures/lz4/: golden LZ4 frames and raw blocks made by the
// reference `lz4` command line (/usr/bin/lz4, Debian lz4 1.9.4), from inputs
// this script generates deterministically (seeded PRNG, no external data).
//
//   node scripts/gen-lz4-fixtures.mjs
//
// Output (kept under 1 MiB in total):
//   NAME.bin                  the input
//   NAME.VARIANT.lz4          `lz4 -c <flags> < NAME.bin` for each variant
//   NAME.blocks/K.block       raw blocks, cut out of a frame written with
//                             independent 64 KiB blocks and no checksums
//   manifest.json             what each file is: flags, sizes, block offsets
//
// test/lz4-frame.test.ts decodes every frame and block with our codec and
// compares with the input. Our encoder need not reproduce these bytes (LZ4
// output is not unique); our decoder must accept them.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";

const LZ4 = "/usr/bin/lz4";
const OUT = "test/fixtures/lz4";

// ── deterministic inputs ──
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}
const WORDS = "the of and to in is was that for it with as his on be at by had are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over memory page frame zspage buddy compress store load invalidate swap cache object pool handle class".split(" ");

function text(n, seed) {
  const r = rng(seed);
  const out = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    const w = WORDS[r() % WORDS.length];
    i += out.write(w, i, "latin1");
    if (i < n) out[i++] = r() % 12 === 0 ? 10 : 32;
  }
  return out;
}

function mixed(n, seed) {
  const r = rng(seed);
  const out = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    const kind = r() % 4, len = Math.min(n - i, 16 + (r() % 3000));
    for (let k = 0; k < len; k++) {
      out[i + k] = kind === 0 ? 0 // zero run
        : kind === 1 ? r() & 0xff // noise
          : kind === 2 ? (k % 7) * 3 // short period pattern (overlapping matches)
            : (k & 31) < 8 ? (i >> 5) & 0xff : 0; // records
    }
    i += len;
  }
  return out;
}

const inputs = {
  text: text(100_000, 1),
  mixed: mixed(50_000, 2),
  zeros: Buffer.alloc(5000),
  tiny: Buffer.from("hello, lz4\n"),
  empty: Buffer.alloc(0),
};

// Frame variants: every block size, linked (-BD) or independent, block
// checksums (-BX), no content checksum (--no-frame-crc), content size, and
// two compression levels that parse differently (-9 HC, --fast=4), and the
// legacy format (-l) that `lz4 -d` still reads.
const VARIANTS = {
  B4: ["-B4"],
  B4D: ["-B4", "-BD"],
  B4XS: ["-B4", "-BX", "--content-size", "--no-frame-crc"],
  B5X: ["-B5", "-BX", "--no-frame-crc"],
  B6DS: ["-B6", "-BD", "--content-size"],
  B7DXS: ["-B7", "-BD", "-BX", "--content-size"],
  B4D9: ["-B4", "-BD", "-9"],
  fast4: ["--fast=4"],
  legacy: ["-l"], // legacy frame format (magic 0x184C2102, 8 MiB blocks)
  legacy9: ["-l", "-9"],
};
const SMALL_VARIANTS = ["B4", "B7DXS"];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const manifest = { generator: "scripts/gen-lz4-fixtures.mjs", lz4: execFileSync(LZ4, ["--version"]).toString().trim(), frames: [], blocks: [] };

for (const [name, data] of Object.entries(inputs)) {
  writeFileSync(`${OUT}/${name}.bin`, data);
  const variants = name === "text" ? Object.keys(VARIANTS) : name === "mixed" ? ["B4", "B4D", "B5X", "B4D9", "legacy"] : SMALL_VARIANTS;
  for (const v of variants) {
    const frame = execFileSync(LZ4, ["-q", "-c", ...VARIANTS[v]], { input: data, maxBuffer: 1 << 28 });
    const file = `${name}.${v}.lz4`;
    writeFileSync(`${OUT}/${file}`, frame);
    manifest.frames.push({ file, input: `${name}.bin`, flags: VARIANTS[v], size: frame.length });
  }
}

// Raw blocks: parse an independent-block, checksum-free frame.
for (const name of ["text", "mixed"]) {
  const data = inputs[name];
  const frame = execFileSync(LZ4, ["-q", "-c", "-B4", "-BI", "--no-frame-crc"], { input: data });
  if (frame.readUInt32LE(0) !== 0x184d2204) throw new Error("not an LZ4 frame");
  const flg = frame[4];
  if ((flg & 0x3d) !== 0x20) throw new Error(`unexpected FLG 0x${flg.toString(16)}`);
  let p = 7; // magic 4 + FLG + BD + HC
  let content = 0, k = 0;
  mkdirSync(`${OUT}/${name}.blocks`, { recursive: true });
  for (;;) {
    const word = frame.readUInt32LE(p);
    p += 4;
    if (word === 0) break;
    const raw = (word & 0x80000000) !== 0, len = word & 0x7fffffff;
    const decoded = Math.min(65536, data.length - content);
    if (!raw) {
      const file = `${name}.blocks/${k}.block`;
      writeFileSync(`${OUT}/${file}`, frame.subarray(p, p + len));
      manifest.blocks.push({ file, input: `${name}.bin`, offset: content, length: decoded });
      k++;
    }
    p += len;
    content += decoded;
  }
}

writeFileSync(`${OUT}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
const total = [...manifest.frames.map((f) => f.size)].reduce((a, b) => a + b, 0);
console.log(`wrote ${manifest.frames.length} frames (${total} B) and ${manifest.blocks.length} blocks to ${OUT}`);
