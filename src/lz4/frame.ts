// SPDX-License-Identifier: MIT
/**
 * frame.ts: the LZ4 frame format (doc/lz4_Frame_format.md of the reference)
 * over the wasm block codec: what the `lz4` command line reads and writes.
 *
 * What it is not: no dictionaries: a frame with a DictID decodes as the
 * reference CLI decodes it without `-D`, so a block that reaches into the
 * dictionary fails as malformed. Blocks are compressed by the wasm codec
 * (bindings/lz4.ts); this file only frames them. Legacy frames (`lz4 -l`)
 * are read, not written.
 *
 * Layout of a frame (all integers little-endian):
 *
 *   ┌──────────┬─────┬────┬──────────────┬────────┬────┬─────────┬─────┬──────────┬─────────┐
 *   │ magic    │ FLG │ BD │ content size │ dictID │ HC │ blocks… │ 0u32│ content  │         │
 *   │184D2204  │     │    │ u64 if C.Size│ if Dict│    │         │ end │ checksum │         │
 *   └──────────┴─────┴────┴──────────────┴────────┴────┴─────────┴─────┴──────────┴─────────┘
 *   FLG: version 01 (bits 7-6) │ B.Indep (5) │ B.Checksum (4) │ C.Size (3) │ C.Checksum (2) │ 0 │ DictID (0)
 *   BD:  block max size id (bits 6-4): 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB
 *   HC:  second byte of xxHash32(FLG … dictID)
 *   block: u32 size (high bit set = stored uncompressed) │ data │ [xxHash32(data) if B.Checksum]
 *   skippable frame: magic 0x184D2A50..5F │ u32 size │ size bytes, ignored
 *   legacy frame: magic 0x184C2102 │ (u32 size │ LZ4 block of ≤ 8 MiB)… until the
 *     input ends or a size word above compressBound(8 MiB), which is the next magic
 *
 * Key idea: one incremental decoder ({@link FrameDecoder}) that accepts input
 * in chunks of any size and emits decoded blocks as they complete serves
 * both the one-shot {@link decompressFrameSync} and the Web Streams decoder;
 * one encoder ({@link FrameEncoder}) likewise serves both compress paths.
 * Frames may be concatenated, with skippable frames anywhere between them.
 *
 * Guarantee: we accept what `lz4 -d` (1.9.4) accepts, checked by the
 * differential test (test/lz4-differential.test.ts): every length read from
 * the input is checked against the frame's limits before use; a bad header
 * checksum, block checksum or content checksum, a block larger than the
 * frame's block size, a content size that does not match (0 means unknown,
 * as for the CLI), an unknown magic, reserved bits set, or input that ends in
 * the middle of a frame (a skippable one too, as for `lz4 -d` on a pipe),
 * each throws TmemError EBADMSG. Linked blocks are decoded with the
 * previous 64 KiB of output as their prefix. Output is bounded by `maxOutput` (E2BIG when the
 * content would pass it, before it is returned); a decoder holds at most one
 * block of output (≤ 4 MiB, 8 MiB for legacy frames) plus 64 KiB of history
 * beyond what it has returned.
 *
 * Thread safety: encoders and decoders belong to one caller; they use a
 * codec, which belongs to its thread.
 *
 * See also: bindings/lz4.ts, src/lz4/stream.ts, src/lz4/xxhash32.ts,
 * test/lz4-frame.test.ts, scripts/gen-lz4-fixtures.sh.
 * @module
 */
import { type Lz4Codec, HC_MIN_LEVEL, LZ4_WINDOW, lz4Ready, MAX_ACCELERATION, MAX_LEVEL, MIN_LEVEL } from "../../bindings/lz4.js";
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import { byteArrayLength } from "../../bindings/args.js";
import { XxHash32, xxhash32 } from "./xxhash32.js";

// ══ Format constants ══

/** Magic number of an LZ4 frame. */
export const LZ4_FRAME_MAGIC = 0x184d2204;
/** Magic number of a legacy frame (`lz4 -l`). */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Decoded size of every legacy block but the last (8 MiB); also the decoder's capacity for one. */
export const LEGACY_BLOCK_SIZE = 8 << 20;
/** A legacy size word above this (compressBound(8 MiB)) is not a block: it is the next frame's magic. */
const LEGACY_MAX_BLOCK = LEGACY_BLOCK_SIZE + Math.floor(LEGACY_BLOCK_SIZE / 255) + 16;
/**
 * Default `maxOutput` of the one-shot decoders (256 MiB): what one
 * `Uint8Array` result may hold before the decode fails with E2BIG. Streams
 * have no default limit (their memory is bounded per block).
 */
export const DEFAULT_MAX_OUTPUT = 256 << 20;
/** First of the 16 skippable-frame magic numbers (0x184D2A50 … 0x184D2A5F). */
export const LZ4_SKIPPABLE_MAGIC = 0x184d2a50;
/** Mask that maps every skippable magic onto LZ4_SKIPPABLE_MAGIC. */
const SKIPPABLE_MASK = 0xfffffff0;
/** FLG version bits value 01 (bits 7-6). */
const FLG_VERSION = 0x40;
const FLG_VERSION_MASK = 0xc0;
const FLG_BLOCK_INDEP = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
/** BD bits other than the block size id must be zero. */
const BD_RESERVED = 0x8f;
/** High bit of a block size: the block is stored uncompressed. */
const BLOCK_UNCOMPRESSED = 0x80000000;
/** Largest possible frame header: magic 4 + FLG + BD + size 8 + dictID 4 + HC. */
const MAX_HEADER = 19;

/** Block maximum sizes by BD id 4..7. */
export const BLOCK_SIZES = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 } as const;
/** A BD block size id. */
export type BlockSizeId = keyof typeof BLOCK_SIZES;

// ══ Options ══

/** Options of the frame compressors. */
export interface FrameOptions {
  /**
   * Block maximum size: 64 KiB, 256 KiB, 1 MiB or 4 MiB, given in bytes
   * (65536 …) or as the BD id (4 … 7). Bigger blocks compress a little
   * better and need more memory to decode.
   * @defaultValue 65536 (BD id 4): keeps decoder and stream memory small (the
   *   `lz4` command line uses 4 MiB, or less for small inputs)
   */
  blockSize?: number;
  /**
   * Linked blocks (`lz4 -BD`): each block may copy from the previous 64 KiB
   * of content. Better ratio with small blocks; blocks decode only in order.
   * @defaultValue false (independent blocks)
   */
  linked?: boolean;
  /** Append xxHash32 of each stored block (`-BX`). @defaultValue false */
  blockChecksum?: boolean;
  /** Append xxHash32 of the whole content (the CLI's default). @defaultValue true */
  contentChecksum?: boolean;
  /**
   * Write the content size in the header (`--content-size`): `true` for
   * compressFrame (the input's length), or the exact byte count a stream
   * will receive (the stream fails at its end if the count differs).
   * @defaultValue false
   */
  contentSize?: boolean | number;
  /** LZ4_compress_fast acceleration, integer 1 … 65537 (levels 1-2 only). @defaultValue 1 */
  acceleration?: number;
  /**
   * Compression level as `lz4 -N`: 1-2 fast, 3-12 LZ4 HC (smaller, slower;
   * any LZ4 decoder reads it). @defaultValue 1
   */
  level?: number;
}

/** The keys FrameOptions knows; any other is refused (EINVAL), not ignored. */
const FRAME_OPTION_KEYS = new Set(["blockSize", "linked", "blockChecksum", "contentChecksum", "contentSize", "acceleration", "level"]);

/** Options of the frame decoders. */
export interface FrameDecodeOptions {
  /**
   * Most content bytes the input may decode to, over all its frames. A frame
   * whose header declares more, or whose blocks would produce more, fails
   * with TmemError E2BIG before the content is returned (no partial
   * result). A guard against decompression bombs (a few MB of input can
   * declare gigabytes of zeros).
   * @defaultValue {@link DEFAULT_MAX_OUTPUT} (256 MiB) for the one-shot
   *   functions; no limit for {@link FrameDecoder} and the stream
   */
  maxOutput?: number;
}

function resolveMaxOutput(o: FrameDecodeOptions | undefined, dflt: number): number {
  argCheck(o === undefined || (typeof o === "object" && o !== null), "decoder options must be an object");
  if (o !== undefined) {
    for (const k of Object.keys(o)) argCheck(k === "maxOutput", `unknown decoder option "${k}"`);
  }
  // null is not "the default": a caller who wrote maxOutput: null meant something, so it is refused.
  const m = o === undefined || o.maxOutput === undefined ? dflt : o.maxOutput;
  argCheck(m === Infinity || (Number.isSafeInteger(m) && m >= 0), `maxOutput must be a byte count (or Infinity), not ${String(m)}`);
  return m;
}

/**
 * Check decoder options without building a decoder (what a stream factory
 * does before its codec exists). @throws TmemError EINVAL for bad options.
 */
export function checkFrameDecodeOptions(options: FrameDecodeOptions | undefined): void {
  resolveMaxOutput(options, Infinity);
}

interface ResolvedOptions {
  blockSize: number;
  bdId: BlockSizeId;
  linked: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: number | undefined;
  acceleration: number;
  level: number;
}

function resolveOptions(o: FrameOptions | undefined, knownLength: number | undefined): ResolvedOptions {
  argCheck(o === undefined || (typeof o === "object" && o !== null), "frame options must be an object");
  if (o !== undefined) for (const k of Object.keys(o)) argCheck(FRAME_OPTION_KEYS.has(k), `unknown frame option "${k}"`);
  const level = o?.level ?? 1;
  argCheck(Number.isInteger(level) && level >= MIN_LEVEL && level <= MAX_LEVEL, `level must be an integer from ${MIN_LEVEL} to ${MAX_LEVEL}, not ${String(level)}`);
  argCheck(level < HC_MIN_LEVEL || o?.acceleration === undefined, `acceleration applies to levels 1-2, not to HC level ${level}`);
  const bs = o?.blockSize ?? 65536;
  let bdId: BlockSizeId | undefined;
  for (const [id, size] of Object.entries(BLOCK_SIZES)) {
    if (bs === size || bs === Number(id)) bdId = Number(id) as BlockSizeId;
  }
  argCheck(bdId !== undefined, `blockSize must be 65536, 262144, 1048576 or 4194304 (or a BD id 4..7), not ${String(bs)}`);
  const acceleration = o?.acceleration ?? 1;
  argCheck(Number.isInteger(acceleration) && acceleration >= 1 && acceleration <= MAX_ACCELERATION,
    `acceleration must be an integer from 1 to ${MAX_ACCELERATION}, not ${String(acceleration)}`);
  let contentSize: number | undefined;
  const cs = o?.contentSize ?? false;
  if (cs === true) {
    argCheck(knownLength !== undefined, "contentSize: true needs the whole input; a stream needs the byte count");
    contentSize = knownLength;
  } else if (cs !== false) {
    argCheck(Number.isSafeInteger(cs) && cs >= 0, `contentSize must be a boolean or a byte count, not ${String(cs)}`);
    contentSize = cs;
  }
  return {
    blockSize: BLOCK_SIZES[bdId], bdId, linked: o?.linked === true, blockChecksum: o?.blockChecksum === true,
    contentChecksum: o?.contentChecksum ?? true, contentSize, acceleration, level,
  };
}

/**
 * Check frame options without building an encoder (what a stream factory
 * does before its codec exists). `contentSize: true` is refused: only a byte
 * count can be checked against a stream. @throws TmemError EINVAL for bad options.
 */
export function checkFrameOptions(options: FrameOptions | undefined): void {
  resolveOptions(options, undefined);
}

const bad = (msg: string): TmemError => new TmemError(ErrorCode.EBADMSG, `LZ4 frame: ${msg}`);

function put32(b: Uint8Array, i: number, v: number): void {
  b[i] = v;
  b[i + 1] = v >>> 8;
  b[i + 2] = v >>> 16;
  b[i + 3] = v >>> 24;
}

function get32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

// ══ Encoder ══

/**
 * Writes one frame, block by block. Feed content with {@link push} (any chunk
 * sizes); each call returns the frame bytes completed so far; {@link finish}
 * returns the rest (last block, end mark, content checksum).
 */
export class FrameEncoder {
  private readonly codec: Lz4Codec;
  private readonly opt: ResolvedOptions;
  private readonly pending: Uint8Array;
  private pendingLen = 0;
  private headerDone = false;
  private total = 0;
  private readonly hash: XxHash32 | undefined;
  /** Last ≤ 64 KiB of content before the pending block (linked mode). */
  private history = new Uint8Array(0);
  private readonly scratch: Uint8Array;

  /**
   * @param codec - a JS-array codec ({@link lz4Ready}).
   * @param options - frame options; `contentSize: true` needs `knownLength`.
   * @throws TmemError EINVAL for bad options.
   */
  constructor(codec: Lz4Codec, options?: FrameOptions, knownLength?: number) {
    this.codec = codec;
    this.opt = resolveOptions(options, knownLength);
    this.pending = new Uint8Array(this.opt.blockSize);
    this.hash = this.opt.contentChecksum ? new XxHash32() : undefined;
    this.scratch = new Uint8Array(4 + this.opt.blockSize + 4);
  }

  private header(): Uint8Array {
    const o = this.opt;
    const h = new Uint8Array(MAX_HEADER);
    put32(h, 0, LZ4_FRAME_MAGIC);
    h[4] = FLG_VERSION | (o.linked ? 0 : FLG_BLOCK_INDEP) | (o.blockChecksum ? FLG_BLOCK_CHECKSUM : 0) |
      (o.contentSize !== undefined ? FLG_CONTENT_SIZE : 0) | (o.contentChecksum ? FLG_CONTENT_CHECKSUM : 0);
    h[5] = o.bdId << 4;
    let n = 6;
    if (o.contentSize !== undefined) {
      put32(h, 6, o.contentSize % 0x100000000);
      put32(h, 10, Math.floor(o.contentSize / 0x100000000));
      n = 14;
    }
    h[n] = (xxhash32(h.subarray(4, n)) >>> 8) & 0xff;
    return h.subarray(0, n + 1);
  }

  /** Frame one block of content; returns its bytes (size, data, checksum). */
  private block(data: Uint8Array): Uint8Array {
    const o = this.opt;
    const out = this.scratch;
    // A block is stored raw unless it compresses to fewer bytes than it has.
    const room = out.subarray(4, 4 + data.length - 1);
    const prefix = o.linked && this.history.length > 0 ? this.history : undefined;
    const n = data.length > 1 ? this.codec.compressBlockInto(data, room, o.level >= HC_MIN_LEVEL ? { level: o.level, prefix } : { acceleration: o.acceleration, prefix }) : 0;
    let len: number;
    if (n > 0) {
      put32(out, 0, n);
      len = n;
    } else {
      put32(out, 0, (data.length | BLOCK_UNCOMPRESSED) >>> 0);
      out.set(data, 4);
      len = data.length;
    }
    if (o.blockChecksum) {
      put32(out, 4 + len, xxhash32(out.subarray(4, 4 + len)));
      len += 4;
    }
    if (o.linked) {
      // Keep the last 64 KiB of content as the next block's prefix.
      if (data.length >= LZ4_WINDOW) {
        this.history = data.slice(data.length - LZ4_WINDOW);
      } else {
        const keep = Math.min(this.history.length, LZ4_WINDOW - data.length);
        const h = new Uint8Array(keep + data.length);
        h.set(this.history.subarray(this.history.length - keep));
        h.set(data, keep);
        this.history = h;
      }
    }
    return out.slice(0, 4 + len);
  }

  /**
   * Add content. @returns frame bytes completed by this call (possibly none).
   * @throws TmemError EINVAL when a declared content size is exceeded.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    byteArrayLength(chunk, "frame content chunk");
    const out: Uint8Array[] = [];
    if (!this.headerDone) {
      out.push(this.header());
      this.headerDone = true;
    }
    this.total += chunk.length;
    if (this.opt.contentSize !== undefined) {
      argCheck(this.total <= this.opt.contentSize, `content exceeds the declared contentSize ${this.opt.contentSize}`);
    }
    this.hash?.update(chunk);
    let i = 0;
    const bs = this.opt.blockSize;
    while (i < chunk.length) {
      if (this.pendingLen === 0 && chunk.length - i >= bs) {
        out.push(this.block(chunk.subarray(i, i + bs)));
        i += bs;
        continue;
      }
      const take = Math.min(bs - this.pendingLen, chunk.length - i);
      this.pending.set(chunk.subarray(i, i + take), this.pendingLen);
      this.pendingLen += take;
      i += take;
      if (this.pendingLen === bs) {
        out.push(this.block(this.pending));
        this.pendingLen = 0;
      }
    }
    return out;
  }

  /**
   * End the frame. @returns the remaining frame bytes.
   * @throws TmemError EINVAL when fewer bytes than a declared content size came.
   */
  finish(): Uint8Array[] {
    const out = this.push(new Uint8Array(0));
    if (this.opt.contentSize !== undefined) {
      argCheck(this.total === this.opt.contentSize,
        `content was ${this.total} bytes, not the declared contentSize ${this.opt.contentSize}`);
    }
    if (this.pendingLen > 0) out.push(this.block(this.pending.subarray(0, this.pendingLen)));
    this.pendingLen = 0;
    const tail = new Uint8Array(this.hash ? 8 : 4);
    if (this.hash) put32(tail, 4, this.hash.digest());
    out.push(tail);
    return out;
  }
}

// ══ Decoder ══

const enum State {
  /** Expecting a magic number (start of a frame, or between frames). */
  Magic,
  /** Inside a legacy frame: expecting a block size (or the next magic, or the end). */
  LegacySize,
  /** Legacy block data. */
  LegacyBlock,
  /** Inside a skippable frame: `skip` bytes left to drop. */
  Skip,
  /** Frame header after the magic. */
  Header,
  /** Expecting a block size (or the end mark). */
  BlockSize,
  /** Block data (and its checksum). */
  Block,
  /** Content checksum after the end mark. */
  ContentChecksum,
}

/**
 * Decodes concatenated frames (and skips skippable frames) from input given
 * in chunks of any size; each {@link push} returns the content decoded so
 * far, {@link finish} checks that the input ended between frames.
 */
export class FrameDecoder {
  private readonly codec: Lz4Codec;
  private buf = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  private state = State.Magic;
  private framesSeen = 0;
  private skip = 0;
  private flg = 0;
  private blockMax = 0;
  private contentSize: number | undefined;
  private produced = 0;
  private hash: XxHash32 | undefined;
  private blockLen = 0;
  private blockRaw = false;
  private history = new Uint8Array(0);
  /** Input offset of buf[start], for messages. */
  private consumed = 0;
  /** Content bytes returned so far (all frames), against maxOutput. */
  private total = 0;
  private readonly maxOutput: number;

  /**
   * @param codec - a JS-array codec ({@link lz4Ready}).
   * @param options - `maxOutput`: no limit unless given.
   * @throws TmemError EINVAL for bad options.
   */
  constructor(codec: Lz4Codec, options?: FrameDecodeOptions) {
    this.codec = codec;
    this.maxOutput = resolveMaxOutput(options, Infinity);
  }

  /** Count `n` more content bytes; E2BIG past maxOutput. */
  private output(n: number): void {
    this.total += n;
    if (this.total > this.maxOutput) {
      throw new TmemError(ErrorCode.E2BIG, `LZ4 frame: the content passes maxOutput (${this.maxOutput} bytes) at byte ${this.consumed}`);
    }
  }

  /** Decode one block (a codec error becomes the frame's EBADMSG, naming where the block starts). */
  private decodeBlock(data: Uint8Array, cap: number, prefix: Uint8Array | undefined): Uint8Array {
    try {
      return this.codec.decompressBlock(data, cap, prefix !== undefined && prefix.length > 0 ? { prefix } : undefined);
    } catch (e) {
      if (e instanceof TmemError) throw bad(`block at byte ${this.consumed}: ${e.message}`);
      throw e;
    }
  }

  private get avail(): number {
    return this.end - this.start;
  }

  private take(n: number): number {
    const at = this.start;
    this.start += n;
    this.consumed += n;
    return at;
  }

  private append(chunk: Uint8Array): void {
    if (this.start > 0 && this.end + chunk.length > this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end + chunk.length > this.buf.length) {
      const nb = new Uint8Array(Math.max(this.buf.length * 2, this.end + chunk.length));
      nb.set(this.buf.subarray(0, this.end));
      this.buf = nb;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /**
   * Add input. @returns the content decoded by this call (possibly none).
   * @throws TmemError EBADMSG for malformed input; E2BIG when the content
   *   passes maxOutput (the block that passes it is not returned). After a
   *   throw the decoder is unusable.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    byteArrayLength(chunk, "frame input chunk");
    this.append(chunk);
    const out: Uint8Array[] = [];
    for (;;) {
      const b = this.buf;
      switch (this.state) {
        case State.Magic: {
          if (this.avail < 4) return out;
          const magic = get32(b, this.start);
          if (magic === LZ4_FRAME_MAGIC) {
            this.take(4);
            this.state = State.Header;
          } else if (magic === LZ4_LEGACY_MAGIC) {
            this.take(4);
            this.state = State.LegacySize;
          } else if (((magic & SKIPPABLE_MASK) >>> 0) === LZ4_SKIPPABLE_MAGIC) {
            if (this.avail < 8) return out;
            this.skip = get32(b, this.start + 4);
            this.take(8);
            this.state = State.Skip;
          } else {
            throw bad(`unknown magic number 0x${magic.toString(16)} at byte ${this.consumed}`);
          }
          break;
        }
        case State.LegacySize: {
          if (this.avail < 4) return out;
          const word = get32(b, this.start);
          if (word > LEGACY_MAX_BLOCK) {
            // Not a block: the next frame's magic (the legacy frame has no end mark).
            this.framesSeen++;
            this.state = State.Magic;
            break;
          }
          this.take(4);
          this.blockLen = word;
          this.state = State.LegacyBlock;
          break;
        }
        case State.LegacyBlock: {
          if (this.avail < this.blockLen) return out;
          const content = this.decodeBlock(b.subarray(this.start, this.start + this.blockLen), LEGACY_BLOCK_SIZE, undefined);
          this.output(content.length);
          this.take(this.blockLen);
          if (content.length > 0) out.push(content);
          this.state = State.LegacySize;
          break;
        }
        case State.Skip: {
          const n = Math.min(this.skip, this.avail);
          this.take(n);
          this.skip -= n;
          if (this.skip > 0) return out;
          this.state = State.Magic;
          break;
        }
        case State.Header: {
          if (this.avail < 2) return out;
          const flg = b[this.start]!, bd = b[this.start + 1]!;
          if ((flg & FLG_VERSION_MASK) !== FLG_VERSION) throw bad(`unsupported version in FLG 0x${flg.toString(16)}`);
          if ((flg & FLG_RESERVED) !== 0 || (bd & BD_RESERVED) !== 0) throw bad("reserved header bits are set");
          const id = (bd >> 4) & 7;
          if (id < 4) throw bad(`invalid block size id ${id}`);
          const len = 2 + ((flg & FLG_CONTENT_SIZE) ? 8 : 0) + ((flg & FLG_DICT_ID) ? 4 : 0) + 1;
          if (this.avail < len) return out;
          const hc = (xxhash32(b.subarray(this.start, this.start + len - 1)) >>> 8) & 0xff;
          if (hc !== b[this.start + len - 1]) throw bad(`header checksum mismatch at byte ${this.consumed + len - 1}`);
          // A DictID is informative: without the dictionary, blocks decode as if
          // there were none (a block reaching into it fails), as `lz4 -d` does.
          this.contentSize = undefined;
          if (flg & FLG_CONTENT_SIZE) {
            const lo = get32(b, this.start + 2), hi = get32(b, this.start + 6);
            // 0 means "unknown" (the CLI writes it so for a pipe of unknown length).
            const size = hi * 0x100000000 + lo;
            if (size > 0) {
              if (this.total + size > this.maxOutput) {
                throw new TmemError(ErrorCode.E2BIG, `LZ4 frame: the header declares ${size} bytes of content, past maxOutput (${this.maxOutput} bytes)`);
              }
              this.contentSize = size;
            }
          }
          this.flg = flg;
          this.blockMax = BLOCK_SIZES[id as BlockSizeId];
          this.produced = 0;
          this.hash = (flg & FLG_CONTENT_CHECKSUM) ? new XxHash32() : undefined;
          this.history = new Uint8Array(0);
          this.take(len);
          this.state = State.BlockSize;
          break;
        }
        case State.BlockSize: {
          if (this.avail < 4) return out;
          const word = get32(b, this.start);
          this.take(4);
          if (word === 0) {
            if (this.contentSize !== undefined && this.produced !== this.contentSize) {
              throw bad(`content is ${this.produced} bytes but the header says ${this.contentSize}`);
            }
            this.state = this.hash ? State.ContentChecksum : State.Magic;
            if (!this.hash) this.framesSeen++;
            break;
          }
          this.blockRaw = (word & BLOCK_UNCOMPRESSED) !== 0;
          this.blockLen = (word & ~BLOCK_UNCOMPRESSED) >>> 0;
          if (this.blockLen > this.blockMax) {
            throw bad(`block of ${this.blockLen} bytes at byte ${this.consumed - 4} exceeds the frame's ${this.blockMax}-byte blocks`);
          }
          this.state = State.Block;
          break;
        }
        case State.Block: {
          const csum = (this.flg & FLG_BLOCK_CHECKSUM) ? 4 : 0;
          if (this.avail < this.blockLen + csum) return out;
          const at = this.start;
          const data = b.subarray(at, at + this.blockLen);
          if (csum && xxhash32(data) !== get32(b, at + this.blockLen)) {
            throw bad(`block checksum mismatch at byte ${this.consumed + this.blockLen}`);
          }
          const linked = (this.flg & FLG_BLOCK_INDEP) === 0;
          const content = this.blockRaw ? data.slice() : this.decodeBlock(data, this.blockMax, linked ? this.history : undefined);
          this.output(content.length);
          this.take(this.blockLen + csum);
          this.produced += content.length;
          if (this.contentSize !== undefined && this.produced > this.contentSize) {
            throw bad(`content exceeds the header's content size ${this.contentSize}`);
          }
          this.hash?.update(content);
          if ((this.flg & FLG_BLOCK_INDEP) === 0) this.remember(content);
          if (content.length > 0) out.push(content);
          this.state = State.BlockSize;
          break;
        }
        case State.ContentChecksum: {
          if (this.avail < 4) return out;
          if (this.hash!.digest() !== get32(b, this.start)) throw bad(`content checksum mismatch at byte ${this.consumed}`);
          this.take(4);
          this.framesSeen++;
          this.state = State.Magic;
          break;
        }
      }
    }
  }

  /** Keep the last 64 KiB of content for the next linked block. */
  private remember(content: Uint8Array): void {
    if (content.length >= LZ4_WINDOW) {
      this.history = content.slice(content.length - LZ4_WINDOW);
      return;
    }
    const keep = Math.min(this.history.length, LZ4_WINDOW - content.length);
    const h = new Uint8Array(keep + content.length);
    h.set(this.history.subarray(this.history.length - keep));
    h.set(content, keep);
    this.history = h;
  }

  /**
   * End of input. An empty input is accepted (no content), as `lz4 -d`
   * accepts an empty file; so is the end of a legacy frame (it has no end
   * mark). A skippable frame cut short is truncated input, as for `lz4 -d`
   * reading a pipe (reading a file, it seeks past the end and accepts it).
   * @throws TmemError EBADMSG when the input ended inside a frame (truncated).
   */
  finish(): void {
    if (this.state === State.LegacySize && this.avail === 0) {
      this.framesSeen++;
      this.state = State.Magic;
    }
    if (this.state !== State.Magic || this.avail !== 0) {
      throw bad(`truncated input: it ends inside a frame at byte ${this.consumed + this.avail}`);
    }
  }

  /** Frames decoded so far (skippable frames not counted). */
  get frames(): number {
    return this.framesSeen;
  }
}

// ══ One-shot API ══

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

/**
 * Compress `data` into one LZ4 frame with a ready codec (synchronous).
 * @throws TmemError EINVAL for bad arguments or options.
 */
export function compressFrameSync(codec: Lz4Codec, data: Uint8Array, options?: FrameOptions): Uint8Array {
  byteArrayLength(data, "compressFrame: data");
  const enc = new FrameEncoder(codec, options, data.length);
  const parts = enc.push(data);
  parts.push(...enc.finish());
  return concat(parts);
}

/**
 * Decode every frame in `data` (concatenated frames are joined, skippable
 * frames skipped, legacy frames read) with a ready codec (synchronous).
 * @param options - `maxOutput` (default {@link DEFAULT_MAX_OUTPUT}, 256 MiB).
 * @throws TmemError EBADMSG for a malformed, truncated or corrupted frame or
 *   an unknown magic; E2BIG when the content would pass maxOutput (nothing
 *   is returned); EINVAL for a non-array or bad options.
 */
export function decompressFrameSync(codec: Lz4Codec, data: Uint8Array, options?: FrameDecodeOptions): Uint8Array {
  byteArrayLength(data, "decompressFrame: data");
  const dec = new FrameDecoder(codec, { maxOutput: resolveMaxOutput(options, DEFAULT_MAX_OUTPUT) });
  const parts = dec.push(data);
  dec.finish();
  return parts.length === 1 ? parts[0]! : concat(parts);
}

/**
 * Compress `data` into one LZ4 frame, readable by `lz4 -d`.
 * @returns a promise of the frame bytes.
 * @throws (rejects with) TmemError EINVAL for bad arguments or options.
 */
export async function compressFrame(data: Uint8Array, options?: FrameOptions): Promise<Uint8Array> {
  return compressFrameSync(await lz4Ready(), data, options);
}

/**
 * Decode LZ4 frames (as written by `lz4`, `lz4 -l` or {@link compressFrame}).
 * @param options - `maxOutput` (default {@link DEFAULT_MAX_OUTPUT}, 256 MiB).
 * @returns a promise of the content of all frames, concatenated.
 * @throws (rejects with) TmemError EBADMSG for a malformed, truncated or
 *   corrupted frame or an unknown magic; E2BIG past maxOutput; EINVAL for
 *   bad arguments.
 */
export async function decompressFrame(data: Uint8Array, options?: FrameDecodeOptions): Promise<Uint8Array> {
  return decompressFrameSync(await lz4Ready(), data, options);
}
