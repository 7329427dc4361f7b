// SPDX-License-Identifier: MIT
/**
 * lz4.ts: the TypeScript face of the wasm LZ4 block codec (assembly/lz4.ts),
 * for JavaScript byte arrays and for data already in physical memory.
 *
 * What it is not: not the frame format (src/lz4/frame.ts builds on this) and
 * not a second codec: every byte is compressed and decoded by the wasm core.
 *
 * Two ways in:
 * - **JS arrays** ({@link Lz4Codec}): a JS `Uint8Array` is not in any wasm
 *   memory, so a codec owns a private wasm instance of the core on its own
 *   small memory (never formatted as a physical memory; only the lz4
 *   exports are called). That memory is unshared (the module's memory
 *   import is patched to unshared at load), since copies into a
 *   SharedArrayBuffer cost about twice as much. Input is copied in, output copied out, as any
 *   wasm codec must. Instantiation is async, so {@link createLz4} /
 *   {@link lz4Ready} resolve to a codec whose methods are all synchronous.
 *   The private memory grows on demand up to {@link MAX_BLOCK_INPUT} of
 *   input plus its bound of output.
 * - **Physical memory** ({@link compressPhysical}, {@link decompressPhysical}):
 *   source and destination are byte addresses inside a
 *   {@link PhysicalMemory}, e.g. a page frame and a zsmalloc object. Nothing
 *   is copied through JS; the compressor's hash table is the calling Worker's
 *   scratch area (pm.scratch + SCRATCH_LZ4_HASH).
 *
 * Private memory layout (byte addresses):
 *
 *   0       65536        131072      147456 196608               524288
 *   ├static─┼─ctrl guard─┼─hash 16K──┼─(pad)─┼─HC table 256K+64─┼─(pad)─┼─window 64K─┼─input─┼─window 64K─┼─output─┤
 *
 * The 64 KiB windows in front of input and output hold a linked block's
 * prefix (the previous block of a linked frame), so prefix and block are
 * contiguous as the wasm expects.
 *
 * Errors: bad arguments throw TmemError EINVAL (nothing changed); malformed
 * compressed data or a block that does not fit throws EBADMSG; an input over
 * the limit throws E2BIG.
 *
 * Output bound: every block decoder takes its bound as an argument (the
 * destination's size, or `size` ≤ {@link MAX_BLOCK_INPUT}), so one block
 * never expands past what the caller allowed; the frame decoders add a
 * `maxOutput` over all blocks (src/lz4/frame.ts). What a block decoder
 * accepts is what liblz4 1.9.4's LZ4_decompress_safe accepts with the same
 * capacity, offset 0 aside (assembly/lz4_decompress.ts).
 *
 * Thread safety: a codec belongs to the thread that created it (it holds a
 * wasm instance); calls on one codec must not interleave (they are
 * synchronous, so in JS they cannot). The physical-memory functions use the
 * calling instance's scratch area and may run concurrently in different
 * Workers on disjoint destinations.
 *
 * @module
 */
import { type Build, type CoreExports, compileCore, coreBase64, instantiateCore } from "./wasm.js";
import { ErrorCode, Status, TmemError } from "./status.js";
import { byteArrayLength } from "./args.js";
import { SCRATCH_LZ4_HASH, SCRATCH_MAP, WASM_PAGE } from "./layout.js";
import type { PhysicalMemory } from "./physmem.js";

// ══ Constants ══

/** Largest block the JS-array codec accepts in one call (64 MiB); use frames beyond. */
export const MAX_BLOCK_INPUT = 64 << 20;
/** How far back a match may reach, hence the most prefix a linked block uses (64 KiB). */
export const LZ4_WINDOW = 65536;
/** Highest useful acceleration (the reference's LZ4_ACCELERATION_MAX). */
export const MAX_ACCELERATION = 65537;
/** Compression levels: 1-2 the fast compressor (LZ4_compress_fast), 3-12 LZ4 HC, as `lz4 -1` … `lz4 -12`. */
export const MIN_LEVEL = 1;
export const HC_MIN_LEVEL = 3;
export const MAX_LEVEL = 12;
/** Largest input the block format allows (LZ4_MAX_INPUT_SIZE). */
export const LZ4_MAX_INPUT_SIZE = 0x7e000000;
/** Decoder status for invalid ranges (assembly/lz4.ts LZ4_E_ARGS). */
const LZ4_E_ARGS = -0x80000000;

/** Private memory: the core's control-block guard lives at 65536; the hash table above it. */
const PRIVATE_HASH = 2 * WASM_PAGE;
/** Private memory: the HC compressor's table (assembly/lz4hc.ts HC_TABLE_SIZE: 256 KiB + 64). */
const PRIVATE_HC = 3 * WASM_PAGE;
/** Bytes of the HC table. */
const HC_TABLE_SIZE = 262144 + 64;
/** Private memory: first byte of the data area (after the tables and padding). */
const PRIVATE_DATA = PRIVATE_HC + Math.ceil(HC_TABLE_SIZE / WASM_PAGE) * WASM_PAGE;
/** Initial capacity of each private data area (input and output). */
const PRIVATE_INITIAL_CAP = 4 * WASM_PAGE;

/**
 * Worst-case compressed size of `n` bytes (LZ4_compressBound): n + n/255 + 16.
 * @throws TmemError EINVAL when n is not an integer in 0..{@link LZ4_MAX_INPUT_SIZE}.
 */
export function compressBound(n: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= LZ4_MAX_INPUT_SIZE)) invalid(`input size must be an integer from 0 to ${LZ4_MAX_INPUT_SIZE}, not ${String(n)}`);
  return n + Math.floor(n / 255) + 16;
}

/**
 * Throw TmemError EINVAL. Hot paths test their condition inline and call this
 * only on failure, so the message (a template string) is built only then.
 */
function invalid(message: string): never {
  throw new TmemError(ErrorCode.EINVAL, message);
}

// ══ Options ══

/** Options of the compressors. */
export interface CompressBlockOptions {
  /**
   * Speed/ratio trade-off of LZ4_compress_fast: 1 is the reference's default
   * ratio; each step up skips more on incompressible stretches (faster, larger).
   * Integers 1..65537. Only with levels 1-2.
   * @defaultValue 1
   */
  acceleration?: number;
  /**
   * Compression level, as `lz4 -N`: 1-2 the fast compressor; 3-12 LZ4 HC
   * (hash chains searched 4 … 16384 deep; at 9 about 30 MB/s on 4 KiB
   * pages, sizes within 1 % of `lz4 -9`). Every LZ4 decoder reads the output.
   * HC needs the JS-array codec (its 256 KiB table is private), not
   * {@link compressPhysical}.
   * @defaultValue 1
   */
  level?: number;
  /**
   * The previous block's data (linked blocks): matches may reach into its
   * last 64 KiB. The block then decodes only with the same prefix.
   */
  prefix?: Uint8Array;
}

/** Options of the decompressors. */
export interface DecompressBlockOptions {
  /** Fail (EBADMSG) unless the block decodes to exactly the destination's size (…Into) or `exactSize`. */
  exact?: boolean;
  /** The data decoded just before this block (linked blocks); only its last 64 KiB matter. */
  prefix?: Uint8Array;
}

/** Size argument of {@link Lz4Codec.decompressBlock}: a limit, or an exact size. */
export type DecompressSize = number | { exactSize: number };

/** The known keys of CompressBlockOptions: anything else is a mistake (EINVAL), not ignored. */
const COMPRESS_KEYS = new Set(["acceleration", "level", "prefix"]);

function checkCompressOptions(o: CompressBlockOptions | undefined): { acceleration: number; level: number } {
  if (o === undefined) return { acceleration: 1, level: 1 };
  if (typeof o !== "object" || o === null) invalid("compress options must be an object");
  for (const k of Object.keys(o)) if (!COMPRESS_KEYS.has(k)) invalid(`unknown compress option "${k}"`);
  const level = o.level ?? 1;
  if (!(Number.isInteger(level) && level >= MIN_LEVEL && level <= MAX_LEVEL)) invalid(`level must be an integer from ${MIN_LEVEL} to ${MAX_LEVEL}, not ${String(level)}`);
  if (level >= HC_MIN_LEVEL && o.acceleration !== undefined) invalid(`acceleration applies to levels 1-2, not to HC level ${level}`);
  return { acceleration: checkAcceleration(o.acceleration), level };
}

function checkAcceleration(a: number | undefined): number {
  if (a === undefined) return 1;
  if (!(Number.isInteger(a) && a >= 1 && a <= MAX_ACCELERATION)) invalid(`acceleration must be an integer from 1 to ${MAX_ACCELERATION}, not ${String(a)}`);
  return a;
}

/** The real length of byte array `x` (a faked `length`, a Proxy or another typed array is EINVAL). */
function checkBytes(x: unknown, what: string): number {
  return byteArrayLength(x, what);
}

function checkPrefix(p: Uint8Array | undefined): Uint8Array | undefined {
  if (p === undefined) return undefined;
  const n = checkBytes(p, "prefix");
  return n > LZ4_WINDOW ? p.subarray(n - LZ4_WINDOW, n) : p;
}

/** The TmemError for a negative decoder status. */
function decodeError(status: number, srcLen: number, what: string): TmemError {
  if (status === LZ4_E_ARGS) return new TmemError(ErrorCode.EINVAL, `${what}: invalid buffer range`);
  const pos = -status - 1;
  return new TmemError(ErrorCode.EBADMSG,
    pos >= srcLen
      ? `${what}: malformed LZ4 block (ends early or decodes to a size other than the destination allows)`
      : `${what}: malformed LZ4 block at byte ${pos} of ${srcLen}, or the destination is too small`);
}

// ══ JS-array codec ══

/**
 * An LZ4 block codec over JS byte arrays, backed by a private wasm instance.
 * Get one with {@link createLz4} or {@link lz4Ready}; every method is synchronous.
 */
export class Lz4Codec {
  private readonly core: CoreExports;
  private readonly memory: WebAssembly.Memory;
  private u8: Uint8Array;
  private inAddr = 0;
  private inCap = 0;
  private outAddr = 0;
  private outCap = 0;
  private lastOut: Uint8Array | undefined;

  /** Not for callers (kept in the declarations: stripped, it would read as a no-argument constructor): use {@link createLz4}. */
  constructor(core: CoreExports, memory: WebAssembly.Memory) {
    this.core = core;
    this.memory = memory;
    this.u8 = new Uint8Array(memory.buffer);
    this.ensure(PRIVATE_INITIAL_CAP, PRIVATE_INITIAL_CAP);
  }

  /** Make room for `inNeed` input and `outNeed` output bytes (plus windows). */
  private ensure(inNeed: number, outNeed: number): void {
    if (inNeed <= this.inCap && outNeed <= this.outCap) return;
    const inCap = Math.max(inNeed, this.inCap);
    const outCap = Math.max(outNeed, this.outCap);
    const inAddr = PRIVATE_DATA + LZ4_WINDOW;
    const outAddr = inAddr + Math.ceil(inCap / 16) * 16 + LZ4_WINDOW;
    const top = outAddr + outCap + 16;
    const have = this.memory.buffer.byteLength;
    if (top > have) {
      try {
        this.memory.grow(Math.ceil((top - have) / WASM_PAGE));
      } catch (e) {
        throw new TmemError(ErrorCode.ENOMEM, `cannot grow the LZ4 codec's memory to ${top} bytes: ${String(e)}`);
      }
      this.u8 = new Uint8Array(this.memory.buffer);
    }
    this.inAddr = inAddr;
    this.inCap = inCap;
    this.outAddr = outAddr;
    this.outCap = outCap;
  }

  /**
   * A view of the first n output bytes. Page-sized decodes ask for the same
   * n every time, so the last view is kept (no allocation per call); it is
   * dropped when the memory grows (ensure replaces u8).
   */
  private outView(n: number): Uint8Array {
    let v = this.lastOut;
    if (v === undefined || v.length !== n || v.buffer !== this.u8.buffer || v.byteOffset !== this.outAddr) {
      v = this.u8.subarray(this.outAddr, this.outAddr + n);
      this.lastOut = v;
    }
    return v;
  }

  private checkSize(n: number): void {
    if (n > MAX_BLOCK_INPUT) {
      throw new TmemError(ErrorCode.E2BIG, `a block of ${n} bytes is over the codec's ${MAX_BLOCK_INPUT}-byte limit: use compressFrame`);
    }
  }

  /**
   * Worst-case compressed size of `n` bytes. @throws TmemError EINVAL for a bad n.
   */
  compressBound(n: number): number {
    return compressBound(n);
  }

  /** Compress into the private output area; returns the compressed size (never fails for lack of room). */
  private compressToOut(src: Uint8Array, options: CompressBlockOptions | undefined, cap: number): number {
    const srcLen = checkBytes(src, "src");
    const { acceleration, level } = checkCompressOptions(options);
    const prefix = checkPrefix(options?.prefix);
    this.checkSize(srcLen);
    this.ensure(srcLen, cap);
    const u8 = this.u8;
    u8.set(src, this.inAddr);
    let n: number;
    if (level >= HC_MIN_LEVEL) {
      const pre = prefix?.length ?? 0;
      if (pre > 0) u8.set(prefix!, this.inAddr - pre);
      n = this.core.lz4_compress_hc(this.inAddr, srcLen, this.outAddr, cap, level, PRIVATE_HC, pre);
    } else if (prefix !== undefined && prefix.length > 0) {
      u8.set(prefix, this.inAddr - prefix.length);
      n = this.core.lz4_compress_fast_prefix(this.inAddr, srcLen, this.outAddr, cap, acceleration, PRIVATE_HASH, prefix.length);
    } else {
      n = this.core.lz4_compress_fast(this.inAddr, srcLen, this.outAddr, cap, acceleration, PRIVATE_HASH);
    }
    if (n === Status.ENOSPC) return 0;
    if (n < 0) throw new TmemError(ErrorCode.EINVAL, `lz4 compress failed (status ${n})`);
    return n;
  }

  /**
   * Compress `src` into a new array of exactly the compressed size.
   * @param src - the block, up to {@link MAX_BLOCK_INPUT} bytes.
   * @returns the LZ4 block (always fits: up to compressBound(src.length) bytes).
   * @throws TmemError EINVAL for a bad argument, E2BIG for a too-large block.
   */
  compressBlock(src: Uint8Array, options?: CompressBlockOptions): Uint8Array {
    const srcLen = checkBytes(src, "src");
    const n = this.compressToOut(src, options, compressBound(Math.min(srcLen, LZ4_MAX_INPUT_SIZE)));
    return this.u8.slice(this.outAddr, this.outAddr + n);
  }

  /**
   * Compress `src` into `dst` (no allocation). Compression stops when the
   * block would not fit `dst`: a store path then keeps the data raw.
   * @returns the compressed size, or 0 when it does not fit in dst.length
   *   (dst.length ≥ compressBound(src.length) always fits).
   * @throws TmemError EINVAL for a bad argument, E2BIG for a too-large block.
   */
  compressBlockInto(src: Uint8Array, dst: Uint8Array, options?: CompressBlockOptions): number {
    const srcLen = checkBytes(src, "src");
    const dstLen = checkBytes(dst, "dst");
    const cap = Math.min(dstLen, compressBound(Math.min(srcLen, LZ4_MAX_INPUT_SIZE)));
    let n: number;
    if (options === undefined) {
      // The page-store case (no options): the same steps as compressToOut,
      // without its option checks and a second length check of src.
      this.checkSize(srcLen);
      this.ensure(srcLen, cap);
      this.u8.set(src, this.inAddr);
      n = this.core.lz4_compress_fast(this.inAddr, srcLen, this.outAddr, cap, 1, PRIVATE_HASH);
      if (n === Status.ENOSPC) return 0;
      if (n < 0) throw new TmemError(ErrorCode.EINVAL, `lz4 compress failed (status ${n})`);
    } else {
      n = this.compressToOut(src, options, cap);
    }
    if (n > 0) dst.set(this.u8.subarray(this.outAddr, this.outAddr + n));
    return n;
  }

  /** Decode into the private output area; returns the decoded size. */
  private decompressToOut(src: Uint8Array, cap: number, exact: boolean, prefixIn: Uint8Array | undefined): number {
    const srcLen = checkBytes(src, "src");
    if (!(Number.isSafeInteger(cap) && cap >= 0 && cap <= MAX_BLOCK_INPUT)) invalid(`decompressed size must be an integer from 0 to ${MAX_BLOCK_INPUT}, not ${String(cap)}`);
    const prefix = checkPrefix(prefixIn);
    this.checkSize(srcLen);
    this.ensure(srcLen, cap);
    const u8 = this.u8;
    u8.set(src, this.inAddr);
    let n: number;
    if (prefix !== undefined && prefix.length > 0) {
      u8.set(prefix, this.outAddr - prefix.length);
      n = this.core.lz4_decompress_safe_prefix(this.inAddr, srcLen, this.outAddr, cap, prefix.length);
      if (exact && n >= 0 && n !== cap) n = -srcLen - 1;
    } else if (exact) {
      n = this.core.lz4_decompress_safe_exact(this.inAddr, srcLen, this.outAddr, cap);
    } else {
      n = this.core.lz4_decompress_safe(this.inAddr, srcLen, this.outAddr, cap);
    }
    if (n < 0) throw decodeError(n, srcLen, "decompressBlock");
    return n;
  }

  /**
   * Decode the block `src` into a new array.
   * @param size - the most bytes it may decode to, or `{ exactSize }`: it must
   *   decode to exactly that many (what a store that knows the page size uses).
   * @returns the decoded bytes.
   * @throws TmemError EBADMSG for malformed input or a block larger than
   *   `size` (or not exactly `exactSize`); EINVAL for bad arguments.
   */
  decompressBlock(src: Uint8Array, size: DecompressSize, options?: { prefix?: Uint8Array }): Uint8Array {
    const exact = typeof size === "object" && size !== null;
    const cap = exact ? (size as { exactSize: number }).exactSize : (size as number);
    const n = this.decompressToOut(src, cap, exact, options?.prefix);
    return this.u8.slice(this.outAddr, this.outAddr + n);
  }

  /**
   * Decode the block `src` into `dst` (no allocation).
   * @returns the decoded size (≤ dst.length; with `exact`, = dst.length).
   * @throws TmemError EBADMSG for malformed input or one that does not fit
   *   `dst` (dst may then hold garbage); EINVAL for bad arguments.
   */
  decompressBlockInto(src: Uint8Array, dst: Uint8Array, options?: DecompressBlockOptions): number {
    const dstLen = checkBytes(dst, "dst");
    const n = this.decompressToOut(src, dstLen, options?.exact === true, options?.prefix);
    dst.set(this.outView(n));
    return n;
  }
}

// ══ Private instance ══

/** Flags byte of a wasm memory limit: has a maximum, and is shared. */
const LIMITS_HAS_MAX = 0x01;
const LIMITS_SHARED = 0x02;
/** Wasm import kind of a memory; section id of imports. */
const IMPORT_KIND_MEMORY = 0x02;
const SECTION_IMPORT = 2;

function readLeb(b: Uint8Array, at: { p: number }): number {
  let v = 0, shift = 0, byte: number;
  do {
    byte = b[at.p++]!;
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return v;
}

/**
 * The core's bytes with its memory import declared unshared, or null when
 * the import cannot be found. Copies between JS arrays and an unshared
 * memory cost about half of those to a SharedArrayBuffer in V8 (measured:
 * 4 KiB in 60 vs 170 ns, 2 KB out 65 vs 120 ns), and a private codec memory
 * is never shared. The lz4 code uses no atomics; atomics elsewhere in the
 * module stay valid on an unshared memory (threads proposal).
 */
function unsharedCore(b64: string): Uint8Array<ArrayBuffer> | null {
  const bin = atob(b64);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  const at = { p: 8 }; // after magic and version
  while (at.p < b.length) {
    const id = b[at.p++]!;
    const size = readLeb(b, at);
    const end = at.p + size;
    if (id === SECTION_IMPORT) {
      const count = readLeb(b, at);
      for (let k = 0; k < count; k++) {
        for (let name = 0; name < 2; name++) { // module name, field name
          const len = readLeb(b, at);
          at.p += len;
        }
        const kind = b[at.p++]!;
        if (kind === IMPORT_KIND_MEMORY) {
          if ((b[at.p]! & LIMITS_SHARED) === 0) return b;
          b[at.p] = b[at.p]! & ~LIMITS_SHARED;
          return b;
        }
        if (kind === 0) readLeb(b, at); // function: type index
        else if (kind === 1) { at.p++; const f = b[at.p++]!; readLeb(b, at); if (f & LIMITS_HAS_MAX) readLeb(b, at); } // table
        else if (kind === 3) at.p += 2; // global: type, mutability
        else return null;
      }
      return null;
    }
    at.p = end;
  }
  return null;
}

const privateModules: Partial<Record<Build, Promise<{ module: WebAssembly.Module; shared: boolean }>>> = {};

/** The module for private codecs: the core with an unshared memory import, else the shared core. */
function privateModule(build: Build): Promise<{ module: WebAssembly.Module; shared: boolean }> {
  let p = privateModules[build];
  if (p === undefined) {
    const base64 = coreBase64(build); // throws (nothing cached) for a build that is not loaded
    p = (async () => {
      try {
        const bytes = unsharedCore(base64);
        if (bytes !== null) return { module: await WebAssembly.compile(bytes), shared: false };
      } catch {
        // An engine that refuses atomics on unshared memory: use the shared core.
      }
      return { module: await compileCore(build), shared: true };
    })();
    privateModules[build] = p;
  }
  return p;
}

let defaultCodec: Promise<Lz4Codec> | undefined;

/**
 * Create a JS-array LZ4 codec with its own private wasm instance and memory.
 * Each codec costs one instantiation and at least ~1 MiB of memory; most
 * programs want the shared one from {@link lz4Ready}.
 * @throws TmemError ENOTSUP (rejected) when wasm threads or SIMD are missing.
 */
export async function createLz4(options: { build?: Build } = {}): Promise<Lz4Codec> {
  const { module, shared } = await privateModule(options.build ?? "release");
  const pages = Math.ceil((PRIVATE_DATA + 2 * (LZ4_WINDOW + PRIVATE_INITIAL_CAP) + 16) / WASM_PAGE);
  const maxBytes = PRIVATE_DATA + 2 * LZ4_WINDOW + MAX_BLOCK_INPUT + (MAX_BLOCK_INPUT + MAX_BLOCK_INPUT / 255 + 16) + 32;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: Math.ceil(maxBytes / WASM_PAGE) + 1, shared });
  const core = await instantiateCore(module, memory);
  return new Lz4Codec(core, memory);
}

/**
 * This thread's shared JS-array codec, created on first use. Await it once
 * at start-up; the codec's methods are synchronous.
 */
export function lz4Ready(): Promise<Lz4Codec> {
  if (defaultCodec === undefined) {
    defaultCodec = createLz4().catch((e: unknown) => {
      defaultCodec = undefined;
      throw e;
    });
  }
  return defaultCodec;
}

// ══ Physical memory ══

function checkRange(pm: PhysicalMemory, addr: number, len: number, what: string): void {
  if (!(Number.isSafeInteger(addr) && Number.isSafeInteger(len) && addr >= 0 && len >= 0 && len <= LZ4_MAX_INPUT_SIZE &&
    addr + len <= pm.u8.length)) invalid(`${what}: [${String(addr)}, +${String(len)}) is not a range inside physical memory`);
}

/** Bytes of a thread's LZ4 hash table at scratch + SCRATCH_LZ4_HASH (the next scratch area starts there). */
const LZ4_HASH_BYTES = SCRATCH_MAP - SCRATCH_LZ4_HASH;

const overlap = (a: number, alen: number, b: number, blen: number): boolean => alen > 0 && blen > 0 && a < b + blen && b < a + alen;

/**
 * Compress [src, src+srcLen) of physical memory into [dst, dst+dstCap) with
 * no copy through JS (zswap's store path: a page frame into a staging
 * buffer or an object). Uses this instance's scratch hash table.
 * @returns the compressed size, or 0 when it does not fit dstCap (the page
 *   is incompressible at that capacity: store it raw).
 * @throws TmemError EINVAL for ranges outside the memory, dst overlapping src,
 *   a range over this thread's LZ4 hash table, or a bad acceleration.
 * Thread safety: any Worker, each with its own pm; destinations must not overlap.
 */
export function compressPhysical(pm: PhysicalMemory, src: number, srcLen: number, dst: number, dstCap: number,
                                 options?: { acceleration?: number }): number {
  checkRange(pm, src, srcLen, "compressPhysical src");
  checkRange(pm, dst, dstCap, "compressPhysical dst");
  // The block would overwrite input not read yet, or the table the matcher reads: refused, not garbage out.
  if (overlap(src, srcLen, dst, dstCap)) invalid(`compressPhysical: dst [${dst}, +${dstCap}) overlaps src [${src}, +${srcLen}) (in-place compression is not supported)`);
  const hash = pm.scratch + SCRATCH_LZ4_HASH;
  if (overlap(hash, LZ4_HASH_BYTES, dst, dstCap) || overlap(hash, LZ4_HASH_BYTES, src, srcLen)) {
    invalid(`compressPhysical: a range overlaps this thread's LZ4 hash table [${hash}, +${LZ4_HASH_BYTES})`);
  }
  const acceleration = checkAcceleration(options?.acceleration);
  const n = pm.core.lz4_compress_fast(src, srcLen, dst, dstCap, acceleration, hash);
  if (n === Status.ENOSPC) return 0;
  if (n < 0) throw new TmemError(ErrorCode.EINVAL, `lz4_compress_fast failed (status ${n})`);
  return n;
}

/**
 * Decode the block [src, src+srcLen) of physical memory into [dst,
 * dst+dstCap) with no copy through JS (zswap's load path).
 * @param options.exact - fail unless it decodes to exactly dstCap bytes.
 * @returns the decoded size.
 * @throws TmemError EBADMSG for a malformed block (dst may hold garbage, no
 *   byte outside it is touched); EINVAL for ranges outside the memory or
 *   dst overlapping src.
 * Thread safety: pure; any Worker, on disjoint destinations.
 */
export function decompressPhysical(pm: PhysicalMemory, src: number, srcLen: number, dst: number, dstCap: number,
                                   options?: { exact?: boolean }): number {
  checkRange(pm, src, srcLen, "decompressPhysical src");
  checkRange(pm, dst, dstCap, "decompressPhysical dst");
  if (overlap(src, srcLen, dst, dstCap)) invalid(`decompressPhysical: dst [${dst}, +${dstCap}) overlaps src [${src}, +${srcLen}) (in-place decoding is not supported)`);
  const n = options?.exact === true
    ? pm.core.lz4_decompress_safe_exact(src, srcLen, dst, dstCap)
    : pm.core.lz4_decompress_safe(src, srcLen, dst, dstCap);
  if (n < 0) throw decodeError(n, srcLen, "decompressPhysical");
  return n;
}
