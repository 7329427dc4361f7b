// SPDX-License-Identifier: MIT
/**
 * cli.ts: `tmem lz4`, a stand-in for the reference `lz4` command line: the
 * same common flags, the same output names, frames either one can read.
 *
 * What it is not: not every `lz4` option (no -m/-r multiple files, no
 * dictionaries, no benchmark mode, no sparse files). Flags it does not know
 * are usage errors, never ignored.
 *
 * Key idea: the reference's behaviour is the specification. Compress is the
 * default, decompress when asked (-d) or when the input is named `*.lz4`;
 * the output is FILE.lz4 beside the input (or FILE without .lz4), stdout
 * with -c or when reading stdin; an existing output is refused unless -f;
 * the input is kept (-k, the default; --rm removes it after success).
 * Frames: 4 MiB independent blocks (-B7 -BI), content checksum on, block
 * checksums off, no content size: lz4's defaults; a file that fits one
 * block gets the smallest block size that holds it, and independent
 * blocks, as lz4 writes it.
 * Legacy frames (-l) are read and written.
 *
 * Guarantee: a failed run leaves no partial output file behind (it is
 * removed) and never touches the input. Exit status: 0 success, 1 when the
 * operation failed (corrupt input, refusal to overwrite, I/O), 2 for bad
 * usage. Messages go to stderr; -q silences the summary and warnings.
 *
 * Memory: streaming, one block of input and output at a time (≤ 4 MiB
 * each; 8 MiB with -l or for a legacy frame), whatever the file size.
 *
 * Concurrency: one run per process (it reads stdin and writes stdout).
 *
 * See also: frame.ts, stream.ts (what does the work), src/cli.ts (the
 * `tmem` command that dispatches here), test/cli-lz4.test.ts.
 * @module
 */
import { createReadStream, createWriteStream, rmSync, statSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import { lz4Ready, compressBound } from "../../bindings/lz4.js";
import { TmemError } from "../../bindings/status.js";
import { BLOCK_SIZES, type BlockSizeId, type FrameOptions, LZ4_LEGACY_MAGIC, LEGACY_BLOCK_SIZE } from "./frame.js";
import { createCompressStream, createDecompressStream } from "./stream.js";

/** The usage text of `tmem lz4 -h`. */
export const LZ4_USAGE = `usage: tmem lz4 [options] [input [output]]

Compress or decompress LZ4 frames, as the lz4 command line does. Input '-' or
none is stdin; output goes to INPUT.lz4 (compress) or INPUT without .lz4
(decompress), or stdout with -c or when reading stdin.

  -z, --compress     compress (the default, unless the input ends in .lz4)
  -d, --decompress   decompress (also: the legacy form 'tmem lz4 decompress')
  -t, --test         decompress and check, write nothing
  -c, --stdout       write to stdout
  -f, --force        overwrite an existing output file
  -k, --keep         keep the input file (the default)
      --rm           remove the input file after success
  -q, --quiet        no summary, no warnings
  -1                 fast compression (the default; -2 is the same)
  -3 … -12           LZ4 HC: smaller, slower (-9: lz4's -9 within 1 %)
      --fast[=N]     faster, larger: acceleration N + 1 (default N = 1)
  -B4 -B5 -B6 -B7    block size 64 KiB, 256 KiB, 1 MiB, 4 MiB (default -B7)
  -BD                linked blocks (better ratio)    -BI  independent (default)
  -BX                block checksums                 --no-frame-crc  no content checksum
      --content-size write the content size in the header (file input only)
  -l                 legacy frame format (8 MiB blocks, no checksums)
  -h, --help         this text`;

/** Bad usage: exit 2. */
class Lz4UsageError extends Error {}

interface Lz4Args {
  mode: "compress" | "decompress" | "test" | undefined;
  stdout: boolean;
  force: boolean;
  rm: boolean;
  quiet: boolean;
  help: boolean;
  legacy: boolean;
  acceleration: number;
  level: number;
  blockSizeId: BlockSizeId | undefined;
  linked: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: boolean;
  files: string[];
}

/** Parse lz4-style arguments: short flags may be joined (-dc, -9f), -B takes the rest of its word. */
function parseLz4Args(argv: string[]): Lz4Args {
  const a: Lz4Args = {
    mode: undefined, stdout: false, force: false, rm: false, quiet: false, help: false, legacy: false, acceleration: 1, level: 1,
    blockSizeId: undefined, linked: false, blockChecksum: false, contentChecksum: true, contentSize: false, files: [],
  };
  const setMode = (m: Lz4Args["mode"]): void => {
    if (a.mode !== undefined && a.mode !== m) throw new Lz4UsageError(`conflicting modes: ${a.mode} and ${m}`);
    a.mode = m;
  };
  let onlyFiles = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyFiles || arg === "-" || !arg.startsWith("-")) {
      // The tmem ≤ 0.1 form: 'tmem lz4 compress|decompress [in] [out]'.
      if (a.files.length === 0 && !onlyFiles && (arg === "compress" || arg === "decompress") && a.mode === undefined) setMode(arg);
      else a.files.push(arg);
      continue;
    }
    if (arg === "--") { onlyFiles = true; continue; }
    if (arg.startsWith("--")) {
      const [name, value] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
      const noValue = (): void => { if (value !== undefined) throw new Lz4UsageError(`${name} takes no value`); };
      switch (name) {
        case "--compress": noValue(); setMode("compress"); break;
        case "--decompress": case "--uncompress": noValue(); setMode("decompress"); break;
        case "--test": noValue(); setMode("test"); break;
        case "--stdout": case "--to-stdout": noValue(); a.stdout = true; break;
        case "--force": noValue(); a.force = true; break;
        case "--keep": noValue(); a.rm = false; break;
        case "--rm": noValue(); a.rm = true; break;
        case "--quiet": noValue(); a.quiet = true; break;
        case "--help": noValue(); a.help = true; break;
        case "--content-size": noValue(); a.contentSize = true; break;
        case "--no-content-size": noValue(); a.contentSize = false; break;
        case "--frame-crc": noValue(); a.contentChecksum = true; break;
        case "--no-frame-crc": noValue(); a.contentChecksum = false; break;
        case "--fast": {
          const n = value === undefined ? 1 : Number(value);
          if (!/^\d+$/.test(value ?? "1") || !Number.isSafeInteger(n) || n < 1 || n > 65536) throw new Lz4UsageError(`--fast=N needs N from 1 to 65536, not '${value ?? ""}'`);
          a.acceleration = n + 1;
          a.level = 1;
          break;
        }
        default: throw new Lz4UsageError(`unknown option '${arg}'`);
      }
      continue;
    }
    // Short flags, possibly joined.
    for (let k = 1; k < arg.length; k++) {
      const c = arg[k]!;
      switch (c) {
        case "z": setMode("compress"); break;
        case "d": setMode("decompress"); break;
        case "t": setMode("test"); break;
        case "c": a.stdout = true; break;
        case "f": a.force = true; break;
        case "k": a.rm = false; break;
        case "q": a.quiet = true; break;
        case "h": case "H": a.help = true; break;
        case "l": a.legacy = true; break;
        case "B": {
          // -B4..-B7, -BD, -BI, -BX, and combinations such as -B4DX.
          if (k + 1 >= arg.length) throw new Lz4UsageError("-B needs 4, 5, 6, 7, D, I or X");
          while (k + 1 < arg.length) {
            const b = arg[++k]!;
            if (b >= "4" && b <= "7") a.blockSizeId = Number(b) as BlockSizeId;
            else if (b === "D") a.linked = true;
            else if (b === "I") a.linked = false;
            else if (b === "X") a.blockChecksum = true;
            else throw new Lz4UsageError(`unknown block option -B${b} (lz4 knows -B4..-B7, -BD, -BI, -BX)`);
          }
          break;
        }
        default:
          if (c >= "0" && c <= "9") {
            let level = Number(c);
            while (k + 1 < arg.length && arg[k + 1]! >= "0" && arg[k + 1]! <= "9") level = level * 10 + Number(arg[++k]);
            if (level < 1 || level > 12) throw new Lz4UsageError(`level -${level}: lz4 levels are 1 to 12`);
            a.level = level;
            break;
          }
          throw new Lz4UsageError(`unknown option '-${c}'`);
      }
    }
  }
  if (a.files.length > 2) throw new Lz4UsageError(`too many files: '${a.files[2]!}' (tmem lz4 takes one input and one output)`);
  return a;
}

/** Frames written for `input` of `size` bytes (undefined: stdin). */
function frameOptions(a: Lz4Args, size: number | undefined, warn: (m: string) => void): FrameOptions {
  let id: BlockSizeId = a.blockSizeId ?? 7;
  if (size !== undefined) {
    // lz4 writes a one-block file with the smallest block size that holds it.
    while (id > 4 && size <= BLOCK_SIZES[(id - 1) as BlockSizeId]) id = (id - 1) as BlockSizeId;
  }
  // One block: nothing to link (lz4 marks such a frame independent too).
  const linked = a.linked && !(size !== undefined && size <= BLOCK_SIZES[id]);
  let contentSize: number | false = false;
  if (a.contentSize) {
    if (size === undefined) warn("--content-size ignored: the size of stdin is not known in advance");
    else contentSize = size;
  }
  return {
    blockSize: BLOCK_SIZES[id], linked, blockChecksum: a.blockChecksum,
    contentChecksum: a.contentChecksum, contentSize,
    ...(a.level >= 3 ? { level: a.level } : { acceleration: a.acceleration }),
  };
}

/**
 * A TransformStream writing the legacy format: magic, then each 8 MiB of
 * input as (u32 size, LZ4 block). Memory: one 8 MiB block in and out.
 */
function createLegacyCompressStream(acceleration: number, level: number): TransformStream<Uint8Array, Uint8Array> {
  let codecP: ReturnType<typeof lz4Ready> | undefined;
  const pending = new Uint8Array(LEGACY_BLOCK_SIZE);
  let fill = 0;
  let started = false;
  const emit = async (controller: TransformStreamDefaultController<Uint8Array>, n: number): Promise<void> => {
    const codec = await (codecP ??= lz4Ready());
    const out = new Uint8Array(4 + compressBound(n));
    const k = codec.compressBlockInto(pending.subarray(0, n), out.subarray(4), level >= 3 ? { level } : { acceleration });
    new DataView(out.buffer).setUint32(0, k, true);
    controller.enqueue(out.subarray(0, 4 + k));
  };
  const magic = (controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (started) return;
    started = true;
    const m = new Uint8Array(4);
    new DataView(m.buffer).setUint32(0, LZ4_LEGACY_MAGIC, true);
    controller.enqueue(m);
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      magic(controller);
      let i = 0;
      while (i < chunk.length) {
        const take = Math.min(LEGACY_BLOCK_SIZE - fill, chunk.length - i);
        pending.set(chunk.subarray(i, i + take), fill);
        fill += take;
        i += take;
        if (fill === LEGACY_BLOCK_SIZE) {
          await emit(controller, fill);
          fill = 0;
        }
      }
    },
    async flush(controller) {
      magic(controller);
      if (fill > 0) await emit(controller, fill);
    },
  });
}

/** The output name lz4 would pick, or undefined when it cannot (decompressing a name without .lz4). */
function outputNameFor(input: string, mode: "compress" | "decompress"): string | undefined {
  if (mode === "compress") return `${input}.lz4`;
  return input.endsWith(".lz4") && input.length > 4 ? input.slice(0, -4) : undefined;
}

/** A byte counter passed through a pipeline. */
function counter(box: { n: number }): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      box.n += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

async function run(a: Lz4Args): Promise<void> {
  const [inName, outArg] = a.files;
  const fromStdin = inName === undefined || inName === "-";
  let size: number | undefined;
  if (!fromStdin) {
    let st;
    try {
      st = statSync(inName);
    } catch {
      throw new Lz4UsageError(`no such file: ${inName}`);
    }
    if (!st.isFile()) throw new Lz4UsageError(`${inName} is not a file`);
    size = st.size;
  }
  const mode = a.mode ?? (!fromStdin && inName.endsWith(".lz4") ? "decompress" : "compress");
  const warn = (m: string): void => { if (!a.quiet) process.stderr.write(`tmem lz4: warning: ${m}\n`); };
  if (mode !== "compress" && (a.legacy || a.blockSizeId !== undefined || a.linked || a.blockChecksum || a.contentSize || a.acceleration !== 1 || a.level !== 1)) {
    warn("compression options are ignored when decompressing");
  }

  // Where the output goes: stdout, nowhere (-t), or a file.
  let outName: string | undefined;
  if (mode !== "test") {
    if (outArg !== undefined && outArg !== "-") outName = outArg;
    else if (outArg === undefined && !a.stdout && !fromStdin) {
      outName = outputNameFor(inName, mode);
      if (outName === undefined) throw new Lz4UsageError(`cannot pick an output name for ${inName} (it does not end in .lz4): give one, or use -c`);
    }
  }
  // A directory is never an output, -f or not (writing failed with EISDIR and
  // the clean-up then tried to remove the directory). /dev/null is written
  // without -f and never removed, as lz4 does.
  const devNull = outName === "/dev/null";
  if (outName !== undefined && !devNull) {
    let st;
    try { st = statSync(outName); } catch { st = undefined; }
    if (st?.isDirectory()) throw new Lz4UsageError(`${outName} is a directory`);
    if (st !== undefined && !a.force) throw new TmemError("EEXIST", `${outName} already exists; not overwritten (use -f)`);
  }
  if (outName !== undefined && !fromStdin && outName === inName) throw new Lz4UsageError("input and output are the same file");
  if (outName === undefined && mode !== "test" && process.stdout.isTTY && !a.force) {
    throw new Lz4UsageError("refusing to write compressed data to a terminal (use -c with a redirect, or -f)");
  }

  const transform = mode === "compress"
    ? (a.legacy ? createLegacyCompressStream(a.acceleration, a.level) : createCompressStream(frameOptions(a, size, warn)))
    : createDecompressStream();
  const src = fromStdin ? process.stdin : createReadStream(inName);
  const inBytes = { n: 0 }, outBytes = { n: 0 };
  const sink: WritableStream<Uint8Array> = mode === "test"
    ? new WritableStream<Uint8Array>()
    : (outName === undefined ? Writable.toWeb(process.stdout) : Writable.toWeb(createWriteStream(outName, { flags: a.force || devNull ? "w" : "wx" }))) as WritableStream<Uint8Array>;
  try {
    await (Readable.toWeb(src) as unknown as ReadableStream<Uint8Array>)
      .pipeThrough(counter(inBytes)).pipeThrough(transform).pipeThrough(counter(outBytes)).pipeTo(sink);
  } catch (e) {
    if (outName !== undefined && !devNull) rmSync(outName, { force: true });
    throw e;
  }
  if (a.rm && !fromStdin && mode !== "test") rmSync(inName);
  if (!a.quiet && (outName !== undefined || mode === "test")) {
    const what = mode === "compress"
      ? `compressed ${inBytes.n} bytes into ${outBytes.n} bytes (${inBytes.n ? ((100 * outBytes.n) / inBytes.n).toFixed(2) : "0.00"} %)`
      : `${mode === "test" ? "checked" : "decompressed"} ${inBytes.n} bytes into ${outBytes.n} bytes`;
    process.stderr.write(`tmem lz4: ${fromStdin ? "stdin" : inName}: ${what}${outName !== undefined ? ` -> ${outName}` : ""}\n`);
  }
}

/**
 * Run `tmem lz4` with the arguments after `lz4`. Prints its own messages
 * (stderr) and the data (stdout or files).
 * @returns the exit status: 0 success, 1 the operation failed, 2 bad usage.
 * Never throws for a user's mistake or bad input; other errors propagate.
 * Concurrency: one call per process (it owns stdin/stdout).
 */
export async function lz4Main(argv: string[]): Promise<number> {
  try {
    const a = parseLz4Args(argv);
    if (a.help) {
      process.stdout.write(`${LZ4_USAGE}\n`);
      return 0;
    }
    await run(a);
    return 0;
  } catch (e) {
    if (e instanceof Lz4UsageError) {
      process.stderr.write(`tmem lz4: ${e.message}\n(tmem lz4 --help for usage)\n`);
      return 2;
    }
    if (e instanceof TmemError) {
      process.stderr.write(`tmem lz4: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code === "string") {
      process.stderr.write(`tmem lz4: ${err.message}\n`);
      return 1;
    }
    throw e;
  }
}
