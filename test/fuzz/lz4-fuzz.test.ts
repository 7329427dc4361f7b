// SPDX-License-Identifier: MIT
// A short slice of the LZ4 malformed-input fuzzer (the long run is `npm run
// fuzz`): mutated, truncated and random blocks never trap, never write outside
// the destination's guard bytes, never read past the input (it ends at the
// end of the wasm memory), and valid blocks still decode exactly. Golden CLI
// blocks are among the seeds.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { lz4Ready } from "../../bindings/lz4.js";
import { Lz4Fuzzer } from "./lz4-fuzz.js";

const FIX = (f: string): string => fileURLToPath(new URL(`../fixtures/lz4/${f}`, import.meta.url));

describe("lz4 decoder fuzzing (short slice)", () => {
  it("200k mutated blocks, 3k compressor round trips and 800 mutated frames: no trap, no stray write", async () => {
    const manifest = JSON.parse(readFileSync(FIX("manifest.json"), "utf8")) as { blocks: { file: string; input: string; offset: number; length: number }[] };
    const golden = manifest.blocks.map((b) => ({
      block: new Uint8Array(readFileSync(FIX(b.file))),
      original: new Uint8Array(readFileSync(FIX(b.input))).subarray(b.offset, b.offset + b.length),
    }));
    const fuzzer = await Lz4Fuzzer.create(await lz4Ready(), 0xc0ffee, golden);
    try {
      const rep = fuzzer.run(200_000);
      expect(rep.cases).toBe(200_000);
      expect(rep.rejected).toBeGreaterThan(rep.cases / 3);
      expect(rep.accepted).toBeGreaterThan(rep.cases / 20);
      expect(rep.roundTrips).toBeGreaterThan(2000);
      expect(rep.frames).toBeGreaterThan(700);
    } finally {
      fuzzer.dispose();
    }
  });
});
