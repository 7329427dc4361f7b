// SPDX-License-Identifier: MIT
/**
 * lz4-diff.ts: the differential fuzzer: mutated LZ4 blocks and frames decoded
 * by ours and by the reference, which must give the same verdict and, where
 * both succeed, the same bytes. Shared by the slice in `npm test`
 * (test/lz4-differential.test.ts) and the long run of `npm run fuzz`.
 *
 * The references: liblz4's LZ4_decompress_safe through the `lz4` npm addon
 * (it bundles liblz4 1.9.2) for blocks, and the Debian `lz4` command line
 * (1.9.4) for frames, fed through a pipe (`lz4 -d -c`).
 *
 * Disagreements that are decided and documented (assembly/lz4_decompress.ts)
 * are counted, not failed, and each is checked to be what it claims:
 * - offset0: the reference decoded a match with offset 0 (as zeros); ours
 *   failed exactly at an offset whose two bytes are 0.
 * - v192: ours (1.9.4's rule) accepted a block the 1.9.2 addon rejected at
 *   position srcLen - 4 (1.9.2's stricter end for a match length byte).
 * - cliSwallow: after a multi-block frame with block checksums and no
 *   content checksum, `lz4 -d` 1.9.4 reads up to 4 bytes past the end mark
 *   and drops them (so `cat a.lz4 b.lz4 | lz4 -d` loses b, and 1-4 trailing
 *   bytes pass unnoticed). We do not copy that; for such a frame followed by
 *   bytes, the CLI's output must be exactly the first frame's content.
 * Anything else is a mismatch, reported with the case (hex) to reproduce it.
 *
 * Mutations start from golden inputs (the CLI's blocks and frames in
 * test/fixtures/lz4/, blocks the reference's own compressor made, ours) and
 * apply bit flips, byte sets, truncations, insertions, deletions, splices
 * and length inflation; destination capacities are drawn around the
 * original size and the decoder's decision points (64-byte margins).
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { PhysicalMemory } from "../../bindings/physmem.js";
import { type Lz4Codec } from "../../bindings/lz4.js";
import { TmemError } from "../../bindings/status.js";
import { compressFrameSync, decompressFrameSync } from "../../src/lz4/frame.js";
import { SHAPES, makeData, Rng } from "./lz4-data.js";

/** The reference CLI. */
export const LZ4_CLI = "/usr/bin/lz4";

interface NodeLz4 {
  decodeBlock(src: Buffer, dst: Buffer): number;
  encodeBlock(src: Buffer, dst: Buffer): number;
  encodeBlockHC(src: Buffer, dst: Buffer, level?: number): number;
}

/** The `lz4` addon, or undefined (with the reason) when it cannot load. */
export function loadNodeLz4(): { lib?: NodeLz4; why?: string } {
  try {
    return { lib: createRequire(import.meta.url)("lz4") as NodeLz4 };
  } catch (e) {
    return { why: String(e) };
  }
}

/** The fixtures directory: beside this file, or under the working directory when bundled (scripts/run-ts.mjs). */
const FIX_DIR = [fileURLToPath(new URL("../fixtures/lz4/", import.meta.url)), "test/fixtures/lz4/"].find((d) => existsSync(`${d}manifest.json`)) ?? "test/fixtures/lz4/";
const FIX = (f: string): string => `${FIX_DIR}${f}`;

/** Counts of one differential run. */
export interface DiffReport {
  blocks: number;
  /** Cases where both accepted (bytes compared). */
  bothOk: number;
  /** Cases where both rejected. */
  bothBad: number;
  offset0: number;
  v192: number;
  cliSwallow: number;
  frames: number;
  framesOk: number;
  /** Mismatches (empty on success); each names the case. */
  mismatches: string[];
}

export function emptyDiffReport(): DiffReport {
  return { blocks: 0, bothOk: 0, bothBad: 0, offset0: 0, v192: 0, cliSwallow: 0, frames: 0, framesOk: 0, mismatches: [] };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Largest mutated block / destination the block cases use. */
const MAX_CAP = 140_000;

/** Differential fuzzer over its own small physical memory (our side calls the wasm core directly, for error positions). */
export class Lz4Differ {
  private readonly pm: PhysicalMemory;
  private readonly ref: NodeLz4;
  private readonly rng: Rng;
  private readonly blocks: { block: Uint8Array; original: Uint8Array }[] = [];
  private readonly frames: Uint8Array[] = [];
  private readonly srcAddr: number;
  private readonly dstAddr: number;
  private readonly codec: Lz4Codec;

  private constructor(pm: PhysicalMemory, ref: NodeLz4, codec: Lz4Codec, seed: number) {
    this.pm = pm;
    this.ref = ref;
    this.codec = codec;
    this.rng = new Rng(seed);
    this.srcAddr = pm.layout.framesBase;
    this.dstAddr = pm.layout.framesBase + MAX_CAP + 4096;
    if (this.dstAddr + MAX_CAP > pm.memory.buffer.byteLength) throw new Error("differ memory too small");
    const manifest = JSON.parse(readFileSync(FIX("manifest.json"), "utf8")) as {
      frames: { file: string }[]; blocks: { file: string; input: string; offset: number; length: number }[];
    };
    for (const b of manifest.blocks) {
      this.blocks.push({
        block: new Uint8Array(readFileSync(FIX(b.file))),
        original: new Uint8Array(readFileSync(FIX(b.input))).subarray(b.offset, b.offset + b.length),
      });
    }
    for (const f of manifest.frames) this.frames.push(new Uint8Array(readFileSync(FIX(f.file))));
    // Blocks from the reference's compressors (fast and HC) and from ours, of every data shape and many sizes.
    for (let i = 0; i < 90; i++) {
      const n = i < 60 ? this.rng.int(5000) : this.rng.int(70_000);
      const original = makeData(SHAPES[i % SHAPES.length]!, n, i);
      const out = Buffer.alloc(n + Math.floor(n / 255) + 16);
      const k = i % 3 === 0 ? ref.encodeBlockHC(Buffer.from(original), out, 9) : i % 3 === 1 ? ref.encodeBlock(Buffer.from(original), out) : 0;
      // The addon returns 0 for incompressible input; then use ours (which always emits a block).
      const block = k > 0 ? new Uint8Array(out.subarray(0, k)) : codec.compressBlock(original);
      this.blocks.push({ block, original });
    }
    for (let i = 0; i < 6; i++) {
      const data = makeData(SHAPES[i % SHAPES.length]!, 3000 + this.rng.int(150_000), 100 + i);
      this.frames.push(compressFrameSync(codec, data, { linked: i % 2 === 0, contentChecksum: i % 3 === 0, contentSize: i % 4 === 0 }));
    }
  }

  /** A differ with its own physical memory (released by {@link dispose}). */
  static async create(ref: NodeLz4, codec: Lz4Codec, seed: number): Promise<Lz4Differ> {
    const frames = Math.ceil((2 * MAX_CAP + 8192) / 4096) + 4;
    const pm = await PhysicalMemory.create({ frames, maxWorkers: 1 });
    for (let i = 0; i < frames; i++) pm.allocFrame();
    return new Lz4Differ(pm, ref, codec, seed);
  }

  dispose(): void {
    this.pm.detach();
  }

  /** A mutated copy of b. */
  private mutate(b: Uint8Array): Uint8Array {
    const r = this.rng;
    const w = new Uint8Array(Math.min(MAX_CAP, b.length + 64));
    let n = Math.min(b.length, w.length);
    w.set(b.subarray(0, n));
    const kinds = 1 + r.int(3);
    for (let k = 0; k < kinds; k++) {
      // Mutations near the end matter most (the end rules): half of them land in the last 40 bytes.
      const pos = (): number => (n === 0 ? 0 : r.int(2) ? Math.max(0, n - 1 - r.int(40)) : r.int(n));
      switch (r.int(9)) {
        case 0: if (n > 0) w[pos()]! ^= 1 << r.int(8); break;
        case 1: if (n > 0) w[pos()] = [0, 0xff, 0xf0, 0x0f, 0x10, 0x01, r.u32() & 0xff][r.int(7)]!; break;
        case 2: n = Math.max(0, n - 1 - r.int(r.int(2) ? 8 : 64)); break; // truncate
        case 3: { // append
          const add = Math.min(w.length - n, 1 + r.int(20));
          for (let i = 0; i < add; i++) w[n + i] = r.int(3) === 0 ? 0 : r.u32();
          n += add;
          break;
        }
        case 4: { // delete a range
          if (n === 0) break;
          const at = pos(), len = Math.min(n - at, 1 + r.int(8));
          w.copyWithin(at, at + len, n);
          n -= len;
          break;
        }
        case 5: { // insert a range
          const at = pos(), len = Math.min(w.length - n, 1 + r.int(8));
          w.copyWithin(at + len, at, n);
          for (let i = 0; i < len; i++) w[at + i] = r.u32();
          n = Math.min(w.length, n + len);
          break;
        }
        case 6: { // zero an offset-sized pair
          if (n < 2) break;
          const at = Math.min(n - 2, pos());
          w[at] = 0;
          w[at + 1] = 0;
          break;
        }
        case 7: { // splice a tail from another block
          const o = this.blocks[r.int(this.blocks.length)]!.block;
          const at = Math.max(0, n - r.int(30));
          const take = Math.min(o.length, 1 + r.int(60), w.length - at);
          w.set(o.subarray(o.length - take), at);
          n = at + take;
          break;
        }
        default: // length inflation: a 255 run
          if (n > 0) for (let i = 0, at = pos(), len = 1 + r.int(6); i < len && at + i < n; i++) w[at + i] = 0xff;
      }
    }
    return w.slice(0, n);
  }

  /** A destination capacity for a block of `orig` decoded bytes. */
  private capFor(orig: number): number {
    const r = this.rng;
    switch (r.int(7)) {
      case 0: return orig;
      case 1: return orig + r.int(16);
      case 2: return Math.max(0, orig - r.int(16));
      case 3: return Math.min(MAX_CAP, Math.max(0, orig + 64 - r.int(40))); // around the wide loop's margin
      case 4: return r.int(80); // small destinations (the tail loop only)
      case 5: return 65536;
      default: return Math.min(MAX_CAP, r.int(orig + 200));
    }
  }

  /**
   * A block built from random sequences, ending in the region where the end
   * rules decide (the last ~100 bytes of input and output): short literal
   * runs, offsets near 0, 8, 16 and the decoded length, match lengths near
   * the nibble's limit, and a last run of 0..20 literals, sometimes cut or
   * extended by a few bytes. Returns the block and about what it decodes to.
   */
  private synthBlock(): { block: Uint8Array; decoded: number } {
    const r = this.rng;
    const out: number[] = [];
    let op = 0;
    const lengthBytes = (n: number): void => {
      while (n >= 255) {
        out.push(255);
        n -= 255;
      }
      out.push(n);
    };
    const seqs = r.int(r.int(4) === 0 ? 40 : 8);
    for (let k = 0; k < seqs; k++) {
      const ll = r.int(3) === 0 ? r.int(40) : r.int(16);
      const ml = r.int(3) === 0 ? 4 + r.int(300) : 4 + r.int(19);
      out.push((Math.min(ll, 15) << 4) | Math.min(ml - 4, 15));
      if (ll >= 15) lengthBytes(ll - 15);
      for (let i = 0; i < ll; i++) out.push(97 + r.int(26));
      op += ll;
      const o = r.int(20) === 0 ? 0 : r.int(10) === 0 ? op + 1 - r.int(3) : 1 + r.int(Math.max(1, Math.min(op, r.int(2) ? 20 : 70_000)));
      out.push(o & 0xff, (o >> 8) & 0xff);
      if (ml - 4 >= 15) lengthBytes(ml - 19);
      op += ml;
    }
    const last = r.int(2) ? r.int(7) : r.int(21);
    out.push(Math.min(last, 15) << 4);
    if (last >= 15) lengthBytes(last - 15);
    for (let i = 0; i < last; i++) out.push(48 + r.int(10));
    op += last;
    const tweak = r.int(6);
    if (tweak === 0) out.length = Math.max(0, out.length - 1 - r.int(4));
    else if (tweak === 1) for (let i = 1 + r.int(4); i > 0; i--) out.push(r.int(2) ? 0 : r.u32() & 0xff);
    return { block: Uint8Array.from(out), decoded: op };
  }

  /** One block case. */
  private blockCase(rep: DiffReport): void {
    const r = this.rng;
    let block: Uint8Array;
    let cap: number;
    if (r.int(2) === 0) {
      const { block: b, decoded } = this.synthBlock();
      block = b;
      const c = r.int(5);
      cap = Math.min(MAX_CAP, Math.max(0, c === 0 ? r.int(100) : c <= 2 ? decoded - 2 + r.int(9) : decoded - 20 + r.int(100)));
    } else {
      const s = this.blocks[r.int(this.blocks.length)]!;
      block = r.int(10) === 0 ? s.block.slice(0, MAX_CAP) : this.mutate(s.block);
      cap = Math.min(MAX_CAP, this.capFor(s.original.length));
    }
    const refOut = Buffer.alloc(cap);
    const refN = this.ref.decodeBlock(Buffer.from(block), refOut);
    const u8 = this.pm.u8;
    u8.set(block, this.srcAddr);
    const ours = this.pm.core.lz4_decompress_safe(this.srcAddr, block.length, this.dstAddr, cap);
    rep.blocks++;
    const what = (): string => `block ${hex(block)} cap ${cap}: reference ${refN}, ours ${ours}`;
    if (refN >= 0 && ours >= 0) {
      if (refN !== ours || Buffer.compare(refOut.subarray(0, refN), u8.subarray(this.dstAddr, this.dstAddr + ours)) !== 0) {
        rep.mismatches.push(`different bytes: ${what()}`);
      } else rep.bothOk++;
    } else if (refN < 0 && ours < 0) {
      rep.bothBad++;
    } else if (refN >= 0) {
      const pos = -ours - 1;
      if (pos + 1 < block.length && block[pos] === 0 && block[pos + 1] === 0) rep.offset0++;
      else rep.mismatches.push(`reference accepts, ours rejects: ${what()}`);
    } else {
      if (-refN - 1 === block.length - 4) rep.v192++;
      else rep.mismatches.push(`ours accepts, reference rejects: ${what()}`);
    }
  }

  /** A mutated frame: mostly in its blocks and tail, sometimes its header; `appended` when f is whole with bytes after it. */
  private mutateFrame(f: Uint8Array): { frame: Uint8Array; appended: boolean } {
    const r = this.rng;
    const kind = r.int(8);
    if (kind === 0) return { frame: f.slice(0, r.int(f.length + 1)), appended: false }; // truncation
    if (kind === 1) { // trailing bytes: garbage, zeros, another frame's start, a skippable header
      const tails = [[0], [1, 2, 3], [0, 0, 0, 0], [0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0, 1], [0x50, 0x2a, 0x4d, 0x18, 1], [0x02, 0x21, 0x4c, 0x18]];
      return { frame: Buffer.concat([f, Buffer.from(tails[r.int(tails.length)]!)]), appended: true };
    }
    if (kind === 2) return { frame: Buffer.concat([f, this.frames[r.int(this.frames.length)]!]), appended: true }; // concatenation
    return { frame: this.mutate(f.length > MAX_CAP - 64 ? f.subarray(0, MAX_CAP - 64) : f), appended: false };
  }

  /** One frame case (spawns the CLI). */
  private frameCase(rep: DiffReport): void {
    const r = this.rng;
    const base = this.frames[r.int(this.frames.length)]!;
    const { frame: f, appended } = r.int(12) === 0 ? { frame: base, appended: false } : this.mutateFrame(base);
    const cli = spawnSync(LZ4_CLI, ["-d", "-c", "-q"], { input: f, maxBuffer: 1 << 28 });
    const refOk = cli.status === 0;
    let ours: Uint8Array | undefined;
    let err: unknown;
    try {
      ours = decompressFrameSync(this.codec, f);
    } catch (e) {
      err = e;
      if (!(e instanceof TmemError)) throw e;
    }
    rep.frames++;
    const what = (): string => `frame ${hex(f.length > 400000 ? f.subarray(0, 400) : f)}${f.length > 400 ? `… (${f.length} B)` : ""}: reference ${refOk ? "ok" : `exit ${cli.status}: ${cli.stderr.toString().trim()}`}, ours ${ours ? "ok" : String(err)}`;
    const flg = base[4]!;
    if (appended && (flg & 0x14) === 0x10 && (ours === undefined || Buffer.compare(cli.stdout, ours) !== 0)) {
      // The CLI's swallow (see the module comment): it must have produced exactly the first frame.
      if (Buffer.compare(cli.stdout, decompressFrameSync(this.codec, base)) === 0) rep.cliSwallow++;
      else rep.mismatches.push(`CLI output is not the first frame's content: ${what()}`);
    } else if (refOk && ours) {
      if (Buffer.compare(cli.stdout, ours) !== 0) rep.mismatches.push(`different content: ${what()}`);
      else rep.framesOk++;
    } else if (refOk !== (ours !== undefined)) {
      // Offset 0 inside a frame's block: ours names the byte.
      const m = /at byte (\d+): .*malformed LZ4 block at byte (\d+)/.exec(String(err));
      const at = m ? Number(m[1]) + Number(m[2]) : -1;
      if (refOk && at >= 0 && f[at] === 0 && f[at + 1] === 0) rep.offset0++;
      else rep.mismatches.push(`verdicts differ: ${what()}`);
    }
  }

  /** Run `blocks` block cases and `frames` frame cases; mismatches are collected in the report (up to 20). */
  run(blocks: number, frames: number, rep: DiffReport = emptyDiffReport()): DiffReport {
    for (let i = 0; i < blocks && rep.mismatches.length < 20; i++) this.blockCase(rep);
    if (existsSync(LZ4_CLI)) for (let i = 0; i < frames && rep.mismatches.length < 20; i++) this.frameCase(rep);
    return rep;
  }
}
