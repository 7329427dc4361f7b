// SPDX-License-Identifier: MIT
/**
 * cache/cache.ts: TmemCache, a Map-like cache of any values (strings and
 * byte arrays, 0 B to 1 GiB) in one physical memory, with a hard byte
 * budget, TTL that frees memory, LRU eviction, LZ4 compression, and one
 * index that every Worker attached to the memory shares.
 *
 * What it is not: not a tmem pool and not a frontend. tmem speaks in exact
 * 4 KiB pages under 192-bit object ids; a cache speaks in keys of any length
 * and values of any size, and needs what tmem does not keep: an expiry per
 * entry, one LRU order over every entry and a byte total it can hold to. So
 * the cache keeps its own index in frames of its own and stores keys and
 * values as objects of one private zsmalloc pool (the zpool API); it does not
 * touch the tmem core, whose pools are page-shaped.
 *
 * Key idea: an entry is a 48-byte slot in the cache's slot table (hash,
 * hash-chain and LRU links, expiry, sizes: everything the index walks, so a
 * lookup, an LRU move, an eviction or a sweep reads plain words and maps no
 * object) and one zsmalloc object, its record: the key, then the value's
 * stored stream when it fits, else the handles of its pieces. A piece is
 * 4096 bytes of the stream, one object of zsmalloc's huge class (exactly a
 * frame, no waste); the last piece goes in a size class. The stream is the
 * raw bytes when LZ4 does not shrink them (stored, not refused), or LZ4
 * blocks of 64 KiB of value each (one bare block for a value ≤ 64 KiB).
 *
 * Guarantees:
 * - Budget: the pool's frames (objects and zsmalloc's own tables) plus the
 *   cache's frames (root, buckets, slot table) never exceed the budget. A set
 *   first bounds the frames it could add (its full pieces, two new zspages,
 *   table growth, a slot frame); an upper bound on the pool's frames kept in
 *   the root says whether that fits, and when it might not, the exact count
 *   is read and entries are evicted from the LRU tail until it does. A value
 *   that cannot fit in the empty cache is refused (TmemError E2BIG) and
 *   nothing changes.
 * - TTL: an expired entry is never returned; `sweep` (a timer in every
 *   instance that has one, and a few buckets on every set) walks buckets from
 *   a shared cursor and frees expired entries, so their memory comes back
 *   with nobody touching them.
 * - Atomic replacement: a set builds the new entry completely before it
 *   unlinks the old one, under the cache lock, so concurrent sets of one key
 *   from several Workers leave exactly one of the values, whole.
 * - Bad input (a key or value of the wrong type, a key over `maxKeyBytes`, a
 *   bad TTL) throws TypeError/RangeError before anything changes; a failed
 *   allocation gives back what it took and leaves the old entry in place.
 *
 * Layout: the root frame (i32 words; f64 counters from byte 512):
 *
 * ╒═ root ══════════════════════════════════════════════════════════════╕
 * │ 0 lock ticket │ 1 waiters │ 2 magic │ 3 stamp │ 4 zpool id          │
 * │ 5 buckets (2^k) │ 6 bucket frames │ 7 LRU head │ 8 LRU tail (slots) │
 * │ 9 entries │ 10 budget │ 11 sweep cursor │ 12 max key bytes          │
 * │ 13 state (1 live, 2 destroyed) │ 14 now serving │ 15 holder slot+1  │
 * │ 16 own frames │ 17 pool frames, upper bound │ 18 free slot │ 19 slots│
 * │ 20 slot-directory frames │ 64..255 bucket frames │ 256..511 slot    │
 * │ directory frames (1024 slot-frame numbers each) │ 512 B.. counters  │
 * ╘═════════════════════════════════════════════════════════════════════╛
 * ╒═ slot (48 B; 85 per frame; slot numbers from 1, 0 = none) ══════════╕
 * │ 0 hash │ 1 chain next │ 2 LRU prev │ 3 LRU next │ 4 record handle   │
 * │ 5 layout:2 flags:3 key length:11 │ 6 raw length │ 7 stored length   │
 * │ 8-9 expires at (f64 ms, 0 = never) │ 10 pieces │ 11 free-list next  │
 * ╘═════════════════════════════════════════════════════════════════════╛
 * record: key bytes, then the stored stream (INLINE), or u32 piece handles
 * (DIRECT), or u32 handles of index objects of 1024 piece handles (INDIRECT).
 *
 * Concurrency: every method may be called from any Worker attached to the
 * memory. One FIFO ticket lock in the root guards the index, the slot table,
 * the counters and every allocation and free of the cache's objects.
 * Compression runs before the lock is taken and decompression after it is
 * dropped; under it a set copies its stream into place and a get copies one
 * out. lock ordering: the cache lock is taken before zsmalloc's class locks
 * (lock.ts level 6) and the frame allocator, after nothing. A wait for it is
 * bounded (LOCK_TIMEOUT_MS) and ends in TmemError EBUSY naming the holder's
 * Worker slot: a Worker that dies inside a cache call leaves the lock held,
 * and the cache then has to be recreated (no recovery of a half-done splice:
 * said, not hidden).
 *
 * See also: ../zpool/zpool.ts (the pool API), keyv.ts (the Keyv store),
 * ../../test/cache*.test.ts, ../../bench/cache.ts.
 *
 * @module
 */
import type { PhysicalMemory, PhysicalMemoryHandle, Pfn } from "../../bindings/physmem.js";
import { PhysicalMemory as PM } from "../../bindings/physmem.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import { byteArrayLength, bufferOfView } from "../../bindings/args.js";
import { PAGE_SIZE } from "../../bindings/layout.js";
import { type Lz4Codec, lz4Ready, compressBound } from "../../bindings/lz4.js";
import { createPool, openPool, type Zpool } from "../zpool/zpool.js";

// ══ Constants ══

/** Owner tag of the cache's own frames (root, buckets, slot table): a caller tag (≥ 16). */
export const CACHE_FRAME_OWNER = 0x20;
/** Default and largest key length in bytes (UTF-8 for strings). */
export const DEFAULT_MAX_KEY_BYTES = 1024;
export const MAX_KEY_BYTES = 2047;
/** Largest value (bytes after UTF-8 encoding): 1 GiB. */
export const MAX_VALUE_BYTES = 1 << 30;
/** Wait at most this long for the cache lock before EBUSY. */
export const LOCK_TIMEOUT_MS = 10_000;

const MAGIC = 0x48434d54; // "TMCH"
const PIECE = PAGE_SIZE;
/** Value bytes per LZ4 block in a stored stream (the LZ4 window: bigger blocks do not compress better). */
const BLOCK = 65536;
/** Values shorter than this are stored raw: LZ4 cannot gain enough on them to pay for a decode. */
const MIN_COMPRESS = 48;
/** Handles per index object (INDIRECT layout). */
const INDEX_FANOUT = PIECE / 4;
/** zsmalloc frames per zspage for the cache's pool: the headroom a set reserves is two of these. */
const CHAIN = 4;
/** Frames zsmalloc's handle and zspage tables can add in one set (a table frame and a directory frame per class touched, three classes). */
const TABLE_GROWTH = 8;
/** Bucket frames at most (root words 64..255). */
const MAX_BUCKET_FRAMES = 192;
/** Slot-directory frames at most (root words 256..511), 1024 slot frames each. */
const MAX_DIR_FRAMES = 256;
const BUCKETS_PER_FRAME = PAGE_SIZE / 4;
/** One bucket per this many budget bytes (a bucket is 4 bytes: 0.2 % of the budget). */
const BYTES_PER_BUCKET = 2048;
const MIN_BUCKETS = 1024;
const SLOT_WORDS = 12;
const SLOTS_PER_FRAME = Math.floor(PAGE_SIZE / (SLOT_WORDS * 4)); // 85
const DIR_FANOUT = PAGE_SIZE / 4;

// root words
const R_TICKET = 0, R_WAITERS = 1, R_MAGIC = 2, R_STAMP = 3, R_POOL = 4, R_NBUCKETS = 5, R_BFRAMES = 6,
  R_HEAD = 7, R_TAIL = 8, R_ENTRIES = 9, R_BUDGET = 10, R_CURSOR = 11, R_MAXKEY = 12, R_STATE = 13, R_SERVING = 14,
  R_HOLDER = 15, R_OWN = 16, R_UBOUND = 17, R_FREESLOT = 18, R_SLOTS = 19, R_DIRS = 20, R_BPFNS = 64, R_DPFNS = 256;
const ROOT_F64 = 512 / 8;
// f64 counters
const C_HITS = 0, C_MISSES = 1, C_SETS = 2, C_DELETES = 3, C_EVICT_BUDGET = 4, C_EVICT_CLEAR = 5, C_EXPIRED = 6,
  C_RAW = 7, C_STORED = 8, C_KEYS = 9;
const NCOUNTERS = 10;

// slot words
const S_HASH = 0, S_CHAIN = 1, S_PREV = 2, S_NEXT = 3, S_REC = 4, S_META = 5, S_RAW = 6, S_STORED = 7, S_EXPIRES = 8,
  S_PIECES = 10, S_FREE = 11;
// S_META: layout (2 bits) | flags (3 bits) << 2 | key length << 5
const FL_STRING = 1, FL_BYTEKEY = 2, FL_LZ4 = 4;
const L_INLINE = 0, L_DIRECT = 1, L_INDIRECT = 2;

// ══ Public types ══

/** A key: a string (hashed as UTF-8) or bytes. A string key and a byte key with the same bytes are different keys. */
export type CacheKey = string | Uint8Array;
/** A value: a string (returned as a string) or bytes (returned as a fresh Uint8Array). */
export type CacheValue = string | Uint8Array;

/** Options of {@link TmemCache.create}. */
export interface TmemCacheOptions {
  /**
   * The hard budget: bytes of physical memory the cache may hold, metadata
   * included (rounded down to whole frames), or `{ share }`, a fraction
   * (0, 1] of the memory's frames. Required.
   */
  budget: number | { share: number };
  /** Longest key in bytes (UTF-8 for strings), 1..2048. @defaultValue 1024 */
  maxKeyBytes?: number;
  /** TTL of entries set without one (ms; 0 = none). @defaultValue 0 */
  defaultTtl?: number;
  /** The clock, ms since the epoch. @defaultValue Date.now (fake timers replace it) */
  now?: () => number;
  /** Run one sweep step this often (ms; 0 = no timer). The timer does not keep Node alive. @defaultValue 1000 */
  sweepIntervalMs?: number;
  /** Buckets one sweep step examines. @defaultValue 1024 */
  sweepBuckets?: number;
}

/** Options of {@link TmemCache.attach}: this instance's clock and sweep timer. */
export type TmemCacheAttachOptions = Pick<TmemCacheOptions, "now" | "sweepIntervalMs" | "sweepBuckets" | "defaultTtl">;

/** Options of one set. */
export interface SetOptions {
  /** Time to live in ms (> 0, finite); 0 or omitted: the cache's default TTL; Infinity: never expires. */
  ttl?: number;
}

/** What another Worker needs to attach (structured-cloneable). */
export interface TmemCacheHandle {
  readonly memory: PhysicalMemoryHandle;
  /** Frame number of the cache's root. */
  readonly root: number;
  /** Random stamp written in the root at creation: a reused frame is not mistaken for the cache. */
  readonly stamp: number;
}

/** Why entries left a {@link TmemCache} other than by delete or expiry (counts, cumulative). */
export interface TmemCacheEvictions {
  /** Least recently used entries evicted so that a set fits the budget. */
  budget: number;
  /** Entries removed by clear(). */
  clear: number;
}

/** Counters and sizes of one cache (all Workers together), read under the lock. */
export interface TmemCacheStats {
  /** Entries now. */
  entries: number;
  /** Gets that found a live entry, cumulative. */
  hits: number;
  /** Gets that found nothing or an expired entry, cumulative. */
  misses: number;
  /** Entries written by set (and setMany), cumulative. */
  sets: number;
  /** Live entries removed by delete (and deleteMany), cumulative. */
  deletes: number;
  /** Entries removed to make room and by clear(), cumulative. */
  evictions: TmemCacheEvictions;
  /** Entries removed because they expired (on read or by the sweep), cumulative. */
  expirations: number;
  /** Sum of the live values' sizes in bytes (UTF-8 for strings). */
  bytesRaw: number;
  /** Sum of the live values' stored streams (after LZ4, or raw). */
  bytesStored: number;
  /** Physical memory the cache holds: its pool's frames (objects and metadata) and its own frames, in bytes. */
  bytesHeld: number;
  /** Of bytesHeld, bytes of metadata: records' headers and keys, zsmalloc's tables, root and buckets. */
  bytesMetadata: number;
  /** The budget in bytes. */
  budget: number;
  /** bytesRaw / bytesHeld (1 when empty). */
  compressionRatio: number;
}

// ══ Small helpers ══

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: false });
/**
 * Node's Buffer where there is one: its UTF-8 codec is several times faster
 * than TextEncoder/TextDecoder on Node 20 (the profile of a JSON get spent half
 * its time in TextDecoder.decode). Browsers use the standard codecs.
 */
interface NodeBufferLike {
  from(s: string, enc: "utf8"): Uint8Array;
  from(b: ArrayBufferLike, off: number, len: number): { toString(enc: "utf8"): string };
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;
/** A lone (unpaired) UTF-16 surrogate: UTF-8 cannot carry it (an encoder writes U+FFFD instead). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * Refuse a string key or value that UTF-8 would change: "\uD800" and
 * "\uFFFD" encode alike, so such keys aliased and such values came back
 * altered. @throws RangeError.
 */
function checkWellFormed(s: string, what: string): void {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (native !== undefined ? !native.call(s) : LONE_SURROGATE.test(s)) {
    throw new RangeError(`${what} has a lone UTF-16 surrogate, which UTF-8 cannot store (it would read back as U+FFFD)`);
  }
}

function encodeUtf8(s: string): Uint8Array {
  return NodeBuffer !== undefined ? NodeBuffer.from(s, "utf8") : utf8.encode(s);
}
function decodeUtf8(b: Uint8Array): string {
  return NodeBuffer !== undefined ? NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8") : fromUtf8.decode(b);
}

function rd32(v: Uint8Array, o: number): number {
  return (v[o]! | (v[o + 1]! << 8) | (v[o + 2]! << 16) | (v[o + 3]! << 24)) >>> 0;
}
function wr32(v: Uint8Array, o: number, x: number): void {
  v[o] = x & 0xff; v[o + 1] = (x >>> 8) & 0xff; v[o + 2] = (x >>> 16) & 0xff; v[o + 3] = (x >>> 24) & 0xff;
}

/** FNV-1a over the key bytes, with the key kind mixed in. */
function hashKey(k: Uint8Array, n: number, byteKey: boolean): number {
  let h = byteKey ? 0x811c9dc5 ^ 0x5bd1e995 : 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ k[i]!, 0x01000193);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Whether `x` is a byte key or value: a Uint8Array (or Buffer). One that is
 * not what it claims (a Proxy, a shadowed `length` or `byteLength`: the set
 * stored the claimed size and a get then read a neighbour's stale bytes) is a
 * TypeError, like any other bad key or value.
 */
function isBytes(x: unknown): x is Uint8Array {
  if (!(x instanceof Uint8Array)) return false;
  try {
    byteArrayLength(x, "a cache key or value");
  } catch (e) {
    throw new TypeError((e as Error).message);
  }
  return true;
}

function checkTtl(ttl: unknown): void {
  if (ttl === undefined) return;
  if (typeof ttl !== "number") throw new TypeError(`ttl must be a number of milliseconds, not ${typeof ttl}`);
  if (Number.isNaN(ttl) || ttl < 0) throw new RangeError(`ttl must be ≥ 0 milliseconds (0: the default), not ${ttl}`);
}

/** A value prepared for storing: its stored stream and how to read it back. */
interface Prepared {
  raw: number;
  flags: number;
  stream: Uint8Array;
}

// ══ The cache ══

/**
 * A compressed cache of string and byte values over one physical memory,
 * shared by every Worker that attaches to it. See the module essay.
 *
 * Thread safety: every method may be called from any attached Worker
 * concurrently; a TmemCache object belongs to the thread that made it.
 */
export class TmemCache {
  /** The physical memory the cache lives in. */
  readonly pm: PhysicalMemory;
  private readonly pool: Zpool;
  private readonly codec: Lz4Codec;
  private readonly rootPfn: Pfn;
  private readonly stamp: number;
  private readonly w: Int32Array;
  private readonly c: Float64Array;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** The memory's buffer, read once (the getter makes a new object per call; the memory never grows). */
  private readonly sab: ArrayBufferLike;
  private readonly lockToken: number;
  private readonly now: () => number;
  private readonly defaultTtl: number;
  private readonly sweepBuckets: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** Made by attachMemory: close() detaches the PhysicalMemory too. */
  private ownsMemory = false;
  /** Key scratch (UTF-8 of string keys). */
  private kbuf = new Uint8Array(DEFAULT_MAX_KEY_BYTES * 3 + 16);
  /** Compression output scratch (values up to 1 MiB). */
  private cbuf = new Uint8Array(compressBound(BLOCK) + 8);
  /** Read scratch for stored streams. */
  private rbuf = new Uint8Array(PIECE * 16);
  /** Decompression scratch for string values (decoded to a string straight from it). */
  private dbuf = new Uint8Array(BLOCK);
  /** i32 word index of each bucket frame. */
  private readonly bucketWord: number[];
  private readonly nbucketsMask: number;
  /** i32 word index of each slot frame this instance has seen (slot frames are only added). */
  private readonly slotFrameWord: number[] = [];

  private constructor(pm: PhysicalMemory, pool: Zpool, codec: Lz4Codec, rootPfn: Pfn, stamp: number,
                      opts: TmemCacheAttachOptions) {
    this.pm = pm;
    this.pool = pool;
    this.codec = codec;
    this.rootPfn = rootPfn;
    this.stamp = stamp;
    this.sab = pm.memory.buffer;
    const addr = pm.frameAddress(rootPfn);
    this.w = new Int32Array(this.sab, addr, PAGE_SIZE / 4);
    this.c = new Float64Array(this.sab, addr + ROOT_F64 * 8, NCOUNTERS);
    this.u32 = new Uint32Array(this.sab);
    this.i32 = new Int32Array(this.sab);
    this.f64 = new Float64Array(this.sab);
    this.lockToken = pm.slot + 1;
    this.now = opts.now ?? ((): number => Date.now());
    this.defaultTtl = opts.defaultTtl ?? 0;
    this.sweepBuckets = opts.sweepBuckets ?? 1024;
    this.nbucketsMask = this.w[R_NBUCKETS]! - 1;
    this.bucketWord = [];
    for (let i = 0; i < this.w[R_BFRAMES]!; i++) this.bucketWord.push(pm.frameAddress(pm.pfn(this.w[R_BPFNS + i]!)) >>> 2);
    const every = opts.sweepIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => { try { this.sweep(); } catch { /* closed or destroyed elsewhere */ } }, every);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /**
   * Make a cache in `pm`'s memory.
   * @throws RangeError/TypeError for bad options; TmemError ENOMEM when the
   *   memory has no frames for the root and buckets, E2BIG when the budget
   *   cannot hold the cache's own frames and room for values.
   * Thread safety: any Worker; the cache is then reachable by {@link handle}.
   */
  static async create(pm: PhysicalMemory, options: TmemCacheOptions): Promise<TmemCache> {
    if (typeof options !== "object" || options === null) throw new TypeError("TmemCache.create: options { budget } are required");
    const b = options.budget;
    let budgetFrames: number;
    if (typeof b === "number") {
      if (!Number.isFinite(b) || b <= 0) throw new RangeError(`budget must be a positive number of bytes, not ${b}`);
      budgetFrames = Math.floor(b / PAGE_SIZE);
    } else if (typeof b === "object" && b !== null && typeof b.share === "number") {
      if (!(b.share > 0 && b.share <= 1)) throw new RangeError(`budget.share must be in (0, 1], not ${b.share}`);
      budgetFrames = Math.floor(pm.frames * b.share);
    } else {
      throw new TypeError("budget must be a number of bytes or { share: fraction of the memory }");
    }
    const maxKey = options.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
    if (!Number.isInteger(maxKey) || maxKey < 1 || maxKey > MAX_KEY_BYTES) throw new RangeError(`maxKeyBytes must be an integer 1..${MAX_KEY_BYTES}, not ${maxKey}`);
    checkTtl(options.defaultTtl);
    let nb = MIN_BUCKETS;
    while (nb * BYTES_PER_BUCKET < budgetFrames * PAGE_SIZE && nb < MAX_BUCKET_FRAMES * BUCKETS_PER_FRAME) nb *= 2;
    const bframes = Math.ceil(nb / BUCKETS_PER_FRAME);
    const minFrames = 1 + bframes + 2 + TmemCache.worstFrames(0, 0);
    if (budgetFrames < minFrames) {
      throw new TmemError(ErrorCode.E2BIG, `budget of ${budgetFrames} frames cannot hold the cache's own ${1 + bframes} frames and room for values (need ≥ ${minFrames} frames)`);
    }
    const codec = await lz4Ready();
    const pool = await createPool("zsmalloc", pm, { maxPagesPerZspage: CHAIN });
    const frames: Pfn[] = [];
    try {
      for (let i = 0; i < 1 + bframes; i++) {
        const pfn = pm.allocFrame(CACHE_FRAME_OWNER);
        frames.push(pfn);
        pm.frameBytes(pfn).fill(0);
      }
    } catch (e) {
      for (const f of frames) pm.freeFrame(f, CACHE_FRAME_OWNER);
      pool.destroy({ force: true });
      throw e;
    }
    const root = frames[0]!;
    const w = new Int32Array(pm.memory.buffer, pm.frameAddress(root), PAGE_SIZE / 4);
    const stamp = (Math.random() * 0x7fffffff) | 1;
    w[R_POOL] = pool.id;
    w[R_NBUCKETS] = nb;
    w[R_BFRAMES] = bframes;
    for (let i = 0; i < bframes; i++) w[R_BPFNS + i] = frames[1 + i]!;
    w[R_BUDGET] = budgetFrames;
    w[R_MAXKEY] = maxKey;
    w[R_OWN] = 1 + bframes;
    w[R_UBOUND] = pool.stats().pages;
    w[R_STAMP] = stamp;
    w[R_STATE] = 1;
    Atomics.store(w, R_MAGIC, MAGIC);
    return new TmemCache(pm, pool, codec, root, stamp, options);
  }

  /**
   * Attach to a cache made in another Worker (or this one) from its {@link handle}.
   * @param pm - this Worker's PhysicalMemory attached to the same memory.
   * @throws TmemError EINVAL when the handle names no live cache in this memory.
   */
  static async attach(pm: PhysicalMemory, handle: TmemCacheHandle, options: TmemCacheAttachOptions = {}): Promise<TmemCache> {
    if (typeof handle !== "object" || handle === null || !Number.isInteger(handle.root) || !Number.isInteger(handle.stamp)) {
      throw new TypeError("TmemCache.attach: a handle { memory, root, stamp } from TmemCache.handle is required");
    }
    const root = pm.pfn(handle.root);
    if (pm.frameOwner(root) !== CACHE_FRAME_OWNER) throw new TmemError(ErrorCode.EINVAL, `frame ${root} is not a cache root`);
    const w = new Int32Array(pm.memory.buffer, pm.frameAddress(root), PAGE_SIZE / 4);
    if (Atomics.load(w, R_MAGIC) !== MAGIC || w[R_STAMP] !== handle.stamp || w[R_STATE] !== 1) {
      throw new TmemError(ErrorCode.EINVAL, "TmemCache.attach: the handle names no live cache (destroyed, or another memory)");
    }
    const codec = await lz4Ready();
    const pool = await openPool(pm, w[R_POOL]!);
    return new TmemCache(pm, pool, codec, root, handle.stamp, options);
  }

  /** Attach in a Worker given only the handle: attaches the physical memory too ({@link close} detaches it). */
  static async attachMemory(handle: TmemCacheHandle, options: TmemCacheAttachOptions = {}): Promise<TmemCache> {
    const pm = await PM.attach(handle.memory);
    try {
      const c = await TmemCache.attach(pm, handle, options);
      c.ownsMemory = true;
      return c;
    } catch (e) {
      pm.detach();
      throw e;
    }
  }

  /** What another Worker passes to {@link attach} (post it with postMessage). */
  get handle(): TmemCacheHandle {
    return { memory: this.pm.handle, root: this.rootPfn, stamp: this.stamp };
  }

  /** The budget in bytes (whole frames). */
  get budget(): number {
    return this.w[R_BUDGET]! * PAGE_SIZE;
  }

  /** Longest key in bytes. */
  get maxKeyBytes(): number {
    return this.w[R_MAXKEY]!;
  }

  /** Entries now (all Workers), expired ones not yet swept included. */
  get size(): number {
    return Atomics.load(this.w, R_ENTRIES);
  }

  /**
   * Take the cache lock: a ticket lock (FIFO, so a Worker that sets in a
   * loop cannot starve another). Spins briefly, then sleeps in Atomics.wait
   * on the now-serving word (spins only, on a browser main thread).
   * @throws TmemError EBUSY after LOCK_TIMEOUT_MS (the holder died or hangs; the cache must be recreated).
   */
  private lock(): void {
    const w = this.w;
    if (this.closed) throw new TmemError(ErrorCode.EINVAL, "this TmemCache was closed");
    // Before the ticket: after pm.detach() nothing may be written into the memory (not even a miss count).
    if (!this.pm.isAttached) throw new TmemError(ErrorCode.EINVAL, "this PhysicalMemory was detached: attach again to use it");
    const my = Atomics.add(w, R_TICKET, 1);
    let cur = Atomics.load(w, R_SERVING);
    if (cur !== my) {
      const start = Date.now();
      for (let spin = 0; cur !== my; spin++) {
        if (spin > 200) {
          if (this.pm.canBlock) {
            Atomics.add(w, R_WAITERS, 1);
            Atomics.wait(w, R_SERVING, cur, 5);
            Atomics.sub(w, R_WAITERS, 1);
          }
          if ((spin & 15) === 0 && Date.now() - start > LOCK_TIMEOUT_MS) {
            throw new TmemError(ErrorCode.EBUSY, `TmemCache: the cache lock has been held by Worker slot ${w[R_HOLDER]! - 1} for over ${LOCK_TIMEOUT_MS} ms (did it die inside a cache call? the cache must then be recreated)`);
          }
        }
        cur = Atomics.load(w, R_SERVING);
      }
    }
    w[R_HOLDER] = this.lockToken;
    this.checkLive();
  }

  private unlock(): void {
    Atomics.add(this.w, R_SERVING, 1);
    if (Atomics.load(this.w, R_WAITERS) > 0) Atomics.notify(this.w, R_SERVING);
  }

  private checkLive(): void {
    if (this.w[R_STATE] !== 1 || this.w[R_STAMP] !== this.stamp) {
      this.unlock();
      throw new TmemError(ErrorCode.EINVAL, "this TmemCache was destroyed");
    }
  }


  // ── keys and values ──

  /** Encode `key` into kbuf; returns its byte length and kind. Throws before any change. */
  private keyBytes(key: unknown): { k: Uint8Array; n: number; byteKey: boolean } {
    const max = this.w[R_MAXKEY]!;
    if (typeof key === "string") {
      if (key.length > max) throw new RangeError(`key of ${key.length} characters is over maxKeyBytes (${max})`);
      checkWellFormed(key, "a string key");
      if (this.kbuf.length < key.length * 3) this.kbuf = new Uint8Array(key.length * 3 + 16);
      const { written } = utf8.encodeInto(key, this.kbuf);
      if (written > max) throw new RangeError(`key of ${written} UTF-8 bytes is over maxKeyBytes (${max})`);
      return { k: this.kbuf, n: written, byteKey: false };
    }
    if (isBytes(key)) {
      const n = key.byteLength;
      if (n > max) throw new RangeError(`key of ${n} bytes is over maxKeyBytes (${max})`);
      return { k: key, n, byteKey: true };
    }
    throw new TypeError(`a cache key must be a string or a Uint8Array, not ${key === null ? "null" : typeof key}`);
  }


  /** Check and encode a value, then compress it (outside the lock). */
  private prepare(value: unknown): Prepared {
    let bytes: Uint8Array;
    let flags = 0;
    if (typeof value === "string") {
      checkWellFormed(value, "a string value");
      bytes = encodeUtf8(value);
      flags |= FL_STRING;
    } else if (isBytes(value)) {
      if (bufferOfView(value) === this.sab) {
        throw new TmemError(ErrorCode.EINVAL, "a value that is a view of the physical memory itself is refused (copy it first)");
      }
      bytes = value;
    } else {
      throw new TypeError(`a cache value must be a string or a Uint8Array, not ${value === null ? "null" : typeof value}`);
    }
    const raw = bytes.byteLength;
    if (raw > MAX_VALUE_BYTES) throw new RangeError(`value of ${raw} bytes is over the largest (${MAX_VALUE_BYTES})`);
    if (raw < MIN_COMPRESS) return { raw, flags: flags, stream: bytes };
    // LZ4 blocks: [u32 length | 0x80000000 if stored raw][bytes] per 64 KiB of value;
    // a value of one block is stored as the bare block (no length word).
    const nblocks = Math.ceil(raw / BLOCK);
    const cap = raw + 4 * nblocks + Math.ceil(raw / 255) + 16 * nblocks + 8;
    let out = cap <= this.cbuf.length ? this.cbuf : cap <= (1 << 20) ? (this.cbuf = new Uint8Array(Math.max(cap, this.cbuf.length * 2))) : new Uint8Array(cap);
    if (out.length < compressBound(Math.min(raw, BLOCK)) + 4) out = new Uint8Array(compressBound(Math.min(raw, BLOCK)) + 4);
    if (nblocks === 1) {
      const n = this.codec.compressBlockInto(bytes, out);
      if (n >= raw) return { raw, flags: flags, stream: bytes };
      return { raw, flags: flags | FL_LZ4, stream: out.subarray(0, n) };
    }
    let o = 0;
    for (let i = 0; i < raw; i += BLOCK) {
      const src = bytes.subarray(i, Math.min(raw, i + BLOCK));
      if (o + 4 + compressBound(src.length) > out.length) {
        const bigger = new Uint8Array(Math.max(out.length * 2, o + 4 + compressBound(src.length)));
        bigger.set(out.subarray(0, o));
        out = bigger;
      }
      const n = this.codec.compressBlockInto(src, out.subarray(o + 4));
      if (n >= src.length) {
        wr32(out, o, (src.length | 0x80000000) >>> 0);
        out.set(src, o + 4);
        o += 4 + src.length;
      } else {
        wr32(out, o, n);
        o += 4 + n;
      }
      if (o >= raw) return { raw, flags: flags, stream: bytes };
    }
    return { raw, flags: flags | FL_LZ4, stream: out.subarray(0, o) };
  }

  private decode(flags: number, raw: number, stream: Uint8Array): CacheValue {
    let bytes: Uint8Array;
    const isString = (flags & FL_STRING) !== 0;
    // A string is decoded from scratch (no new array); bytes get a fresh array the caller owns.
    const out = (n: number): Uint8Array => {
      if (!isString || n > (4 << 20)) return new Uint8Array(n);
      if (this.dbuf.length < n) this.dbuf = new Uint8Array(Math.max(n, this.dbuf.length * 2));
      return this.dbuf.subarray(0, n);
    };
    if ((flags & FL_LZ4) === 0) {
      bytes = stream.length === raw && stream.buffer !== this.rbuf.buffer ? stream : stream.slice(0, raw);
    } else if (raw <= BLOCK) {
      bytes = out(raw);
      this.codec.decompressBlockInto(stream, bytes, { exact: true });
    } else {
      bytes = out(raw);
      let o = 0, p = 0;
      while (p < stream.length) {
        const hdr = rd32(stream, p);
        const len = hdr & 0x7fffffff;
        const part = Math.min(BLOCK, raw - o);
        if (hdr & 0x80000000) bytes.set(stream.subarray(p + 4, p + 4 + len), o);
        else this.codec.decompressBlockInto(stream.subarray(p + 4, p + 4 + len), bytes.subarray(o, o + part), { exact: true });
        o += part;
        p += 4 + len;
      }
      if (o !== raw) throw new TmemError(ErrorCode.EBADMSG, `TmemCache: a stored value decoded to ${o} bytes, not ${raw}`);
    }
    return isString ? decodeUtf8(bytes) : bytes;
  }


  // ── the slot table ──

  /** i32 word index of slot `s` (≥ 1). Lock held (reads the directory). */
  private slotWord(s: number): number {
    const idx = s - 1;
    const f = (idx / SLOTS_PER_FRAME) | 0;
    let fw = this.slotFrameWord[f];
    if (fw === undefined) {
      for (let g = this.slotFrameWord.length; g <= f; g++) {
        const dirWord = this.pm.frameAddress(this.pm.pfn(this.w[R_DPFNS + ((g / DIR_FANOUT) | 0)]!)) >>> 2;
        this.slotFrameWord.push(this.pm.frameAddress(this.pm.pfn(this.u32[dirWord + (g % DIR_FANOUT)]!)) >>> 2);
      }
      fw = this.slotFrameWord[f]!;
    }
    return fw + (idx - f * SLOTS_PER_FRAME) * SLOT_WORDS;
  }

  /** Take a free slot (growing the table by a frame when none is free); returns its number and word index. Lock held. */
  private allocSlot(): number {
    const w = this.w;
    let s = w[R_FREESLOT]!;
    if (s !== 0) {
      w[R_FREESLOT] = this.i32[this.slotWord(s) + S_FREE]!;
      return s;
    }
    const nslots = w[R_SLOTS]!;
    const frameIdx = nslots / SLOTS_PER_FRAME;
    const dir = (frameIdx / DIR_FANOUT) | 0;
    if (frameIdx % DIR_FANOUT === 0) {
      if (dir >= MAX_DIR_FRAMES) throw new TmemError(ErrorCode.ENOSPC, "TmemCache: the slot table is full");
      const d = this.pm.allocFrame(CACHE_FRAME_OWNER);
      this.pm.frameBytes(d).fill(0);
      w[R_DPFNS + dir] = d;
      w[R_DIRS] = dir + 1;
      w[R_OWN] = w[R_OWN]! + 1;
    }
    let pfn: Pfn;
    try {
      pfn = this.pm.allocFrame(CACHE_FRAME_OWNER);
    } catch (e) {
      throw e; // the directory frame (if new) stays: it is counted and reused by the next growth
    }
    this.pm.frameBytes(pfn).fill(0);
    const dirWord = this.pm.frameAddress(this.pm.pfn(w[R_DPFNS + dir]!)) >>> 2;
    this.u32[dirWord + (frameIdx % DIR_FANOUT)] = pfn;
    w[R_OWN] = w[R_OWN]! + 1;
    w[R_SLOTS] = nslots + SLOTS_PER_FRAME;
    // Slots nslots+2 .. nslots+85 go on the free list; nslots+1 is returned.
    for (let k = SLOTS_PER_FRAME; k >= 2; k--) {
      const t = nslots + k;
      this.i32[this.slotWord(t) + S_FREE] = w[R_FREESLOT]!;
      w[R_FREESLOT] = t;
    }
    s = nslots + 1;
    return s;
  }

  private freeSlot(s: number, sw: number): void {
    for (let i = 0; i < SLOT_WORDS; i++) this.i32[sw + i] = 0;
    this.i32[sw + S_FREE] = this.w[R_FREESLOT]!;
    this.w[R_FREESLOT] = s;
  }

  private bucketIndex(h: number): number {
    const b = h & this.nbucketsMask;
    return this.bucketWord[b >>> 10]! + (b & (BUCKETS_PER_FRAME - 1));
  }

  /** Find the slot of a key: its number and its predecessor in the chain (0 = the bucket). Lock held. */
  private find(k: Uint8Array, n: number, byteKey: boolean, h: number, keep = false): number {
    const i32 = this.i32;
    let prev = 0;
    let s = this.u32[this.bucketIndex(h)]!;
    const wantMeta = ((byteKey ? FL_BYTEKEY : 0) << 2) | (n << 5);
    while (s !== 0) {
      const sw = this.slotWord(s);
      if ((i32[sw + S_HASH]! >>> 0) === h && (i32[sw + S_META]! & ~(3 | ((FL_STRING | FL_LZ4) << 2))) === wantMeta) {
        const rec = i32[sw + S_REC]! >>> 0;
        const v = this.pool.map(rec, "ro");
        let same = true;
        for (let i = 0; i < n; i++) if (v[i] !== k[i]) { same = false; break; }
        if (same && keep) { this.foundView = v; this.foundPrev = prev; return s; } // still mapped: the caller unmaps
        this.pool.unmap(rec);
        if (same) { this.foundPrev = prev; return s; }
      }
      prev = s;
      s = i32[sw + S_CHAIN]! >>> 0;
    }
    this.foundPrev = prev;
    return 0;
  }
  /** Chain predecessor of the slot the last {@link find} returned. */
  private foundPrev = 0;
  /** With `keep`, the view of the found record, left mapped for the caller. */
  private foundView: Uint8Array = new Uint8Array(0);

  private lruUnlink(sw: number): void {
    const i32 = this.i32;
    const prev = i32[sw + S_PREV]!, next = i32[sw + S_NEXT]!;
    if (prev !== 0) i32[this.slotWord(prev) + S_NEXT] = next; else this.w[R_HEAD] = next;
    if (next !== 0) i32[this.slotWord(next) + S_PREV] = prev; else this.w[R_TAIL] = prev;
  }

  private lruPushHead(s: number, sw: number): void {
    const i32 = this.i32;
    const head = this.w[R_HEAD]!;
    i32[sw + S_PREV] = 0;
    i32[sw + S_NEXT] = head;
    if (head !== 0) i32[this.slotWord(head) + S_PREV] = s; else this.w[R_TAIL] = s;
    this.w[R_HEAD] = s;
  }

  /** Free an entry's objects: its pieces (and index objects) and its record. */
  private freeObjects(rec: number, layout: number, keyLen: number, npieces: number): void {
    if (layout !== L_INLINE) {
      const v = this.pool.map(rec, "ro");
      const nref = layout === L_DIRECT ? npieces : Math.ceil(npieces / INDEX_FANOUT);
      const refs: number[] = [];
      for (let i = 0; i < nref; i++) refs.push(rd32(v, keyLen + 4 * i));
      this.pool.unmap(rec);
      if (layout === L_INDIRECT) {
        for (const ix of refs) {
          const iv = this.pool.map(ix, "ro");
          const pieces: number[] = [];
          for (let i = 0; i < INDEX_FANOUT; i++) { const p = rd32(iv, 4 * i); if (p !== 0) pieces.push(p); }
          this.pool.unmap(ix);
          for (const p of pieces) this.pool.free(p);
          this.pool.free(ix);
        }
      } else {
        for (const p of refs) this.pool.free(p);
      }
    }
    this.pool.free(rec);
  }

  /** Unlink slot `s` (chain predecessor `chainPrev`) from its chain and the LRU list; free its objects and the slot. Lock held. */
  private removeEntry(s: number, chainPrev: number): void {
    const i32 = this.i32;
    const sw = this.slotWord(s);
    const meta = i32[sw + S_META]!;
    const keyLen = meta >>> 5, layout = meta & 3;
    const raw = i32[sw + S_RAW]! >>> 0, stored = i32[sw + S_STORED]! >>> 0;
    const next = i32[sw + S_CHAIN]!;
    if (chainPrev !== 0) i32[this.slotWord(chainPrev) + S_CHAIN] = next;
    else this.u32[this.bucketIndex(i32[sw + S_HASH]! >>> 0)] = next;
    this.lruUnlink(sw);
    this.freeObjects(i32[sw + S_REC]! >>> 0, layout, keyLen, i32[sw + S_PIECES]! >>> 0);
    this.freeSlot(s, sw);
    const c = this.c;
    c[C_RAW] = c[C_RAW]! - raw;
    c[C_STORED] = c[C_STORED]! - stored;
    c[C_KEYS] = c[C_KEYS]! - keyLen;
    Atomics.sub(this.w, R_ENTRIES, 1);
  }

  /** Chain predecessor of slot `s` (0 when first in its bucket). Lock held. */
  private chainPrevOf(s: number): number {
    const h = this.i32[this.slotWord(s) + S_HASH]! >>> 0;
    let prev = 0, cur = this.u32[this.bucketIndex(h)]!;
    while (cur !== 0 && cur !== s) { prev = cur; cur = this.i32[this.slotWord(cur) + S_CHAIN]! >>> 0; }
    if (cur === 0) throw new TmemError(ErrorCode.EINVAL, "TmemCache: an entry is missing from its hash chain (corrupt index)");
    return prev;
  }

  /** Frames the pool holds now, exactly (a wasm pass over the pool's classes: ~4 µs); refreshes the bound. Lock held. */
  private exactPoolFrames(): number {
    const p = this.pool.stats().pages;
    this.w[R_UBOUND] = p;
    return p;
  }

  /** Evict the LRU tail; false when the cache is empty. Lock held. */
  private evictTail(): boolean {
    const tail = this.w[R_TAIL]!;
    if (tail === 0) return false;
    this.removeEntry(tail, this.chainPrevOf(tail));
    this.c[C_EVICT_BUDGET] = this.c[C_EVICT_BUDGET]! + 1;
    return true;
  }

  /**
   * Make sure `need` more frames fit under the budget: by the bound when it
   * allows, else by the exact count, evicting from the LRU tail (and
   * compacting now and then) until they do. Then counts them into the bound.
   * @returns false if they cannot fit even in the empty cache. Lock held.
   */
  private reserve(need: number): boolean {
    const w = this.w;
    const budget = w[R_BUDGET]!;
    if (w[R_UBOUND]! + w[R_OWN]! + need <= budget) { w[R_UBOUND] = w[R_UBOUND]! + need; return true; }
    let used = this.exactPoolFrames() + w[R_OWN]!;
    let sinceCompact = 0;
    while (used + need > budget) {
      if (sinceCompact >= 16) { this.pool.compact(); sinceCompact = 0; used = this.exactPoolFrames() + w[R_OWN]!; continue; }
      if (!this.evictTail()) {
        this.pool.compact();
        if (this.exactPoolFrames() + w[R_OWN]! + need > budget) return false;
        break;
      }
      sinceCompact++;
      used = this.exactPoolFrames() + w[R_OWN]!;
    }
    w[R_UBOUND] = w[R_UBOUND]! + need;
    return true;
  }

  /** Worst-case frames allocating a record, `npieces` pieces and `nindex` index objects can add (a slot frame and its directory included). */
  private static worstFrames(npieces: number, nindex: number): number {
    return npieces + nindex + 2 * CHAIN + TABLE_GROWTH + Math.ceil((1 + npieces + nindex) / 256) + 2;
  }

  // ── public API ──

  /**
   * The value of `key`, or undefined (missing or expired). A hit makes the
   * entry the most recently used. Strings come back as strings, bytes as a
   * new Uint8Array the caller owns.
   * @throws TypeError/RangeError for a bad key; TmemError EBUSY when the lock cannot be had (see essay).
   */
  get(key: CacheKey): CacheValue | undefined {
    const { k, n, byteKey } = this.keyBytes(key);
    const h = hashKey(k, n, byteKey);
    let flags: number, raw: number, stream: Uint8Array;
    this.lock();
    try {
      const s = this.find(k, n, byteKey, h, true);
      if (s === 0) { this.c[C_MISSES] = this.c[C_MISSES]! + 1; return undefined; }
      const i32 = this.i32;
      const sw = this.slotWord(s);
      const rec = i32[sw + S_REC]! >>> 0;
      const v = this.foundView;
      if (this.expired(this.f64[(sw + S_EXPIRES) >>> 1]!)) {
        this.pool.unmap(rec);
        this.removeEntry(s, this.foundPrev);
        this.c[C_EXPIRED] = this.c[C_EXPIRED]! + 1;
        this.c[C_MISSES] = this.c[C_MISSES]! + 1;
        return undefined;
      }
      const meta = i32[sw + S_META]!;
      const layout = meta & 3;
      flags = (meta >>> 2) & 7;
      raw = i32[sw + S_RAW]! >>> 0;
      const stored = i32[sw + S_STORED]! >>> 0;
      const npieces = i32[sw + S_PIECES]! >>> 0;
      // Raw values are copied straight into the buffer handed back; compressed ones into scratch.
      let dst: Uint8Array;
      try {
        dst = (flags & FL_LZ4) === 0 ? new Uint8Array(stored)
          : stored <= this.rbuf.length ? this.rbuf : stored <= (4 << 20) ? (this.rbuf = new Uint8Array(stored)) : new Uint8Array(stored);
      } catch (e) {
        this.pool.unmap(rec);
        throw e;
      }
      if (layout === L_INLINE) {
        dst.set(v.subarray(n, n + stored));
        this.pool.unmap(rec);
      } else {
        const nref = layout === L_DIRECT ? npieces : Math.ceil(npieces / INDEX_FANOUT);
        const refs: number[] = [];
        for (let i = 0; i < nref; i++) refs.push(rd32(v, n + 4 * i));
        this.pool.unmap(rec);
        let pieces = refs;
        if (layout === L_INDIRECT) {
          pieces = [];
          for (const ix of refs) {
            const iv = this.pool.map(ix, "ro");
            for (let i = 0; i < INDEX_FANOUT && pieces.length < npieces; i++) pieces.push(rd32(iv, 4 * i));
            this.pool.unmap(ix);
          }
        }
        let o = 0;
        for (const p of pieces) {
          const pv = this.pool.map(p, "ro");
          dst.set(pv, o);
          o += pv.length;
          this.pool.unmap(p);
        }
      }
      if (this.w[R_HEAD] !== s) { this.lruUnlink(sw); this.lruPushHead(s, sw); }
      this.c[C_HITS] = this.c[C_HITS]! + 1;
      stream = dst.subarray(0, stored);
    } finally {
      this.unlock();
    }
    return this.decode(flags, raw, stream);
  }

  /**
   * Whether `key` has a live (unexpired) entry. Does not change the LRU order or the hit counters.
   * @throws TypeError/RangeError for a bad key.
   */
  has(key: CacheKey): boolean {
    return this.withEntry(key, (s, expires) => s !== 0 && !this.expired(expires));
  }

  /**
   * Set `key` to `value` (replacing any entry), the most recently used.
   * Evicts least recently used entries as the budget needs.
   * @param options - `ttl` in ms.
   * @throws TypeError/RangeError for a bad key, value or ttl; TmemError
   *   E2BIG for a value that cannot fit in the budget even alone, EINVAL for
   *   a view of the physical memory itself. On any throw the cache is unchanged
   *   (apart from entries evicted while making room for a value that then
   *   did not fit).
   */
  set(key: CacheKey, value: CacheValue, options?: SetOptions): this {
    if (options !== undefined && (typeof options !== "object" || options === null)) throw new TypeError("set options must be an object { ttl }");
    const ttl = options?.ttl;
    checkTtl(ttl);
    const { k, n, byteKey } = this.keyBytes(key);
    const keyCopy = byteKey ? k.slice(0, n) : k.subarray(0, n);
    const h = hashKey(keyCopy, n, byteKey);
    const p = this.prepare(value);
    const t = ttl === undefined || ttl === 0 ? this.defaultTtl : ttl;
    const stored = p.stream.byteLength;
    let layout: number, npieces = 0, nindex = 0;
    if (n + stored <= PIECE) layout = L_INLINE;
    else {
      npieces = Math.ceil(stored / PIECE);
      const direct = Math.floor((PIECE - n) / 4);
      if (npieces <= direct) layout = L_DIRECT;
      else { layout = L_INDIRECT; nindex = Math.ceil(npieces / INDEX_FANOUT); if (nindex > direct) throw new RangeError(`value too large to index (${stored} bytes stored)`); }
    }
    const recSize = Math.max(1, layout === L_INLINE ? n + stored : n + 4 * (layout === L_DIRECT ? npieces : nindex));
    const need = TmemCache.worstFrames(npieces, nindex);
    this.lock();
    try {
      const budget = this.w[R_BUDGET]!;
      if (need + this.w[R_OWN]! > budget) {
        throw new TmemError(ErrorCode.E2BIG, `value of ${p.raw} bytes (${stored} stored) needs up to ${need} frames; the budget holds ${budget - this.w[R_OWN]!} beside the cache's own`);
      }
      this.sweepLocked(4);
      const expires = t === Infinity || t === 0 ? 0 : this.now() + t;
      for (let attempt = 0; ; attempt++) {
        if (!this.reserve(need)) {
          throw new TmemError(ErrorCode.E2BIG, `value of ${p.raw} bytes does not fit in the budget (${budget} frames)`);
        }
        const taken: number[] = [];
        let rec = 0, s = 0;
        try {
          rec = this.pool.malloc(recSize);
          taken.push(rec);
          const refs: number[] = [];
          if (layout !== L_INLINE) {
            const pieces: number[] = [];
            for (let i = 0; i < npieces; i++) {
              const len = Math.min(PIECE, stored - i * PIECE);
              const ph = this.pool.malloc(len);
              taken.push(ph);
              pieces.push(ph);
              const pv = this.pool.map(ph, "wo");
              pv.set(p.stream.subarray(i * PIECE, i * PIECE + len));
              this.pool.unmap(ph);
            }
            if (layout === L_DIRECT) refs.push(...pieces);
            else {
              for (let j = 0; j < nindex; j++) {
                const ix = this.pool.malloc(PIECE);
                taken.push(ix);
                refs.push(ix);
                const iv = this.pool.map(ix, "wo");
                iv.fill(0);
                for (let i = 0; i < INDEX_FANOUT && j * INDEX_FANOUT + i < npieces; i++) wr32(iv, 4 * i, pieces[j * INDEX_FANOUT + i]!);
                this.pool.unmap(ix);
              }
            }
          }
          const v = this.pool.map(rec, "wo");
          v.set(keyCopy, 0);
          if (layout === L_INLINE) v.set(p.stream, n);
          else for (let i = 0; i < refs.length; i++) wr32(v, n + 4 * i, refs[i]!);
          this.pool.unmap(rec);
          s = this.allocSlot();
        } catch (e) {
          for (const x of taken) { try { this.pool.free(x); } catch { /* not allocated */ } }
          this.exactPoolFrames();
          const retry = e instanceof TmemError && e.code === ErrorCode.ENOMEM && attempt < 64 && this.evictTail();
          if (retry) continue;
          if (e instanceof TmemError && e.code === ErrorCode.ENOMEM) {
            throw new TmemError(ErrorCode.E2BIG, `value of ${p.raw} bytes does not fit in the budget or in the memory's free frames`);
          }
          throw e;
        }
        // Built: now replace the old entry, if any, and link the new one (nothing can fail from here on).
        const old = this.find(keyCopy, n, byteKey, h);
        if (old !== 0) this.removeEntry(old, this.foundPrev);
        const i32 = this.i32;
        const sw = this.slotWord(s);
        const b = this.bucketIndex(h);
        i32[sw + S_HASH] = h | 0;
        i32[sw + S_CHAIN] = this.u32[b]! | 0;
        i32[sw + S_REC] = rec | 0;
        i32[sw + S_META] = layout | ((p.flags | (byteKey ? FL_BYTEKEY : 0)) << 2) | (n << 5);
        i32[sw + S_RAW] = p.raw | 0;
        i32[sw + S_STORED] = stored | 0;
        i32[sw + S_PIECES] = npieces | 0;
        i32[sw + S_FREE] = 0;
        this.f64[(sw + S_EXPIRES) >>> 1] = expires;
        this.u32[b] = s;
        this.lruPushHead(s, sw);
        const c = this.c;
        c[C_RAW] = c[C_RAW]! + p.raw;
        c[C_STORED] = c[C_STORED]! + stored;
        c[C_KEYS] = c[C_KEYS]! + n;
        c[C_SETS] = c[C_SETS]! + 1;
        Atomics.add(this.w, R_ENTRIES, 1);
        return this;
      }
    } finally {
      this.unlock();
    }
  }

  /**
   * Remove `key`. @returns whether a live entry was removed (an expired one is freed and counted as expired).
   * @throws TypeError/RangeError for a bad key.
   */
  delete(key: CacheKey): boolean {
    return this.withEntry(key, (s, expires) => {
      if (s === 0) return false;
      this.removeEntry(s, this.foundPrev);
      if (this.expired(expires)) { this.c[C_EXPIRED] = this.c[C_EXPIRED]! + 1; return false; }
      this.c[C_DELETES] = this.c[C_DELETES]! + 1;
      return true;
    });
  }

  /**
   * Look `key` up under the cache lock and return `fn(slot, expires)`: slot 0
   * (expires 0) when there is no entry, else its slot (with {@link foundPrev}
   * set for {@link removeEntry}) and its expiry time (0: never). The key is
   * hashed before the lock is taken; `fn` runs with it held, and the lock is
   * released however `fn` ends.
   */
  private withEntry<T>(key: CacheKey, fn: (s: number, expires: number) => T): T {
    const { k, n, byteKey } = this.keyBytes(key);
    const h = hashKey(k, n, byteKey);
    this.lock();
    try {
      const s = this.find(k, n, byteKey, h);
      return fn(s, s === 0 ? 0 : this.f64[(this.slotWord(s) + S_EXPIRES) >>> 1]!);
    } finally {
      this.unlock();
    }
  }

  /** Whether an entry that expires at `expires` (0: never) has expired by now. */
  private expired(expires: number): boolean {
    return expires !== 0 && expires <= this.now();
  }

  /** Remove every entry (all Workers see an empty cache); the pool is compacted, its empty zspages go back to the memory. */
  clear(): void {
    this.lock();
    try {
      let n = 0;
      while (this.w[R_TAIL] !== 0) {
        const tail = this.w[R_TAIL]!;
        this.removeEntry(tail, this.chainPrevOf(tail));
        n++;
      }
      this.c[C_EVICT_CLEAR] = this.c[C_EVICT_CLEAR]! + n;
      this.pool.compact();
      this.exactPoolFrames();
    } finally {
      this.unlock();
    }
  }

  /** {@link get} of each key, in order. */
  getMany(keys: readonly CacheKey[]): Array<CacheValue | undefined> {
    if (!Array.isArray(keys)) throw new TypeError("getMany: keys must be an array");
    return keys.map((k) => this.get(k));
  }

  /**
   * {@link set} of each [key, value, options?], in order. Every entry is
   * checked before the first is set, so bad input changes nothing.
   */
  setMany(entries: ReadonlyArray<readonly [CacheKey, CacheValue, SetOptions?]>): this {
    if (!Array.isArray(entries)) throw new TypeError("setMany: entries must be an array of [key, value, options?]");
    for (const e of entries) {
      if (!Array.isArray(e)) throw new TypeError("setMany: each entry must be [key, value, options?]");
      this.keyBytes(e[0]);
      if (typeof e[1] !== "string" && !isBytes(e[1])) throw new TypeError(`a cache value must be a string or a Uint8Array, not ${e[1] === null ? "null" : typeof e[1]}`);
      checkTtl(e[2]?.ttl);
    }
    for (const [k, v, o] of entries) this.set(k, v, o);
    return this;
  }

  /** {@link delete} of each key; returns how many live entries were removed. */
  deleteMany(keys: readonly CacheKey[]): number {
    if (!Array.isArray(keys)) throw new TypeError("deleteMany: keys must be an array");
    for (const k of keys) this.keyBytes(k);
    let n = 0;
    for (const k of keys) if (this.delete(k)) n++;
    return n;
  }

  /**
   * The live keys, most recently used first: a snapshot taken under the lock
   * in one pass (entries set meanwhile may be missing, never invented).
   */
  *keys(): IterableIterator<CacheKey> {
    const out: CacheKey[] = [];
    this.lock();
    try {
      const now = this.now();
      const i32 = this.i32;
      for (let s = this.w[R_HEAD]!; s !== 0;) {
        const sw = this.slotWord(s);
        const expires = this.f64[(sw + S_EXPIRES) >>> 1]!;
        if (expires === 0 || expires > now) {
          const meta = i32[sw + S_META]!;
          const n = meta >>> 5;
          const rec = i32[sw + S_REC]! >>> 0;
          const kb = this.pool.map(rec, "ro").slice(0, n);
          this.pool.unmap(rec);
          out.push(((meta >>> 2) & FL_BYTEKEY) !== 0 ? kb : decodeUtf8(kb));
        }
        s = i32[sw + S_NEXT]!;
      }
    } finally {
      this.unlock();
    }
    yield* out;
  }

  /** [key, value] of the live entries (keys as {@link keys}; each value got as by {@link get}, skipped if gone). */
  *entries(): IterableIterator<[CacheKey, CacheValue]> {
    for (const k of this.keys()) {
      const v = this.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[CacheKey, CacheValue]> {
    return this.entries();
  }

  /**
   * One step of the incremental sweep: examine `buckets` buckets from the
   * shared cursor and free the expired entries in them.
   * @returns entries freed.
   */
  sweep(buckets: number = this.sweepBuckets): number {
    if (!(Number.isSafeInteger(buckets) && buckets >= 0)) throw new RangeError(`sweep buckets must be an integer ≥ 0, not ${String(buckets)}`);
    this.lock();
    try {
      return this.sweepLocked(buckets);
    } finally {
      this.unlock();
    }
  }

  private sweepLocked(buckets: number): number {
    if (this.w[R_ENTRIES] === 0) return 0;
    const now = this.now();
    const nb = this.nbucketsMask + 1;
    const i32 = this.i32;
    let freed = 0;
    let cur = this.w[R_CURSOR]!;
    for (let i = 0; i < Math.min(buckets, nb); i++) {
      const b = this.bucketIndex(cur);
      let prev = 0, s = this.u32[b]!;
      while (s !== 0) {
        const sw = this.slotWord(s);
        const next = i32[sw + S_CHAIN]! >>> 0;
        const expires = this.f64[(sw + S_EXPIRES) >>> 1]!;
        if (expires !== 0 && expires <= now) {
          this.removeEntry(s, prev);
          freed++;
        } else {
          prev = s;
        }
        s = next;
      }
      cur = (cur + 1) & this.nbucketsMask;
    }
    this.w[R_CURSOR] = cur;
    if (freed > 0) this.c[C_EXPIRED] = this.c[C_EXPIRED]! + freed;
    return freed;
  }

  /** Counters and sizes now (all Workers). */
  stats(): TmemCacheStats {
    this.lock();
    try {
      const c = this.c;
      const ps = this.pool.stats();
      this.w[R_UBOUND] = ps.pages;
      const own = this.w[R_OWN]!;
      const held = (ps.pages + own) * PAGE_SIZE;
      const raw = c[C_RAW]!;
      const entries = this.w[R_ENTRIES]!;
      return {
        entries,
        hits: c[C_HITS]!, misses: c[C_MISSES]!, sets: c[C_SETS]!, deletes: c[C_DELETES]!,
        evictions: { budget: c[C_EVICT_BUDGET]!, clear: c[C_EVICT_CLEAR]! },
        expirations: c[C_EXPIRED]!,
        bytesRaw: raw,
        bytesStored: c[C_STORED]!,
        bytesHeld: held,
        bytesMetadata: c[C_KEYS]! + ps.metadataBytes + own * PAGE_SIZE,
        budget: this.w[R_BUDGET]! * PAGE_SIZE,
        compressionRatio: held === 0 || raw === 0 ? 1 : raw / held,
      };
    } finally {
      this.unlock();
    }
  }

  /**
   * Stop this instance's sweep timer and close its pool handle (and detach
   * the memory if {@link attachMemory} attached it). The cache lives on for
   * other Workers. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.pool.close();
    if (this.ownsMemory) this.pm.detach();
  }

  /**
   * Free every entry and every frame of the cache; its handle becomes
   * invalid in every Worker (their calls throw EINVAL). Other Workers should
   * close their instances first (their pool opens make destroy force the pool).
   */
  destroy(): void {
    this.lock();
    while (this.w[R_TAIL] !== 0) {
      const tail = this.w[R_TAIL]!;
      this.removeEntry(tail, this.chainPrevOf(tail));
    }
    const own: number[] = [];
    for (let i = 0; i < this.w[R_BFRAMES]!; i++) own.push(this.w[R_BPFNS + i]!);
    const nslotFrames = this.w[R_SLOTS]! / SLOTS_PER_FRAME;
    for (let f = 0; f < nslotFrames; f++) {
      const dirWord = this.pm.frameAddress(this.pm.pfn(this.w[R_DPFNS + ((f / DIR_FANOUT) | 0)]!)) >>> 2;
      own.push(this.u32[dirWord + (f % DIR_FANOUT)]!);
    }
    for (let d = 0; d < this.w[R_DIRS]!; d++) own.push(this.w[R_DPFNS + d]!);
    this.w[R_STATE] = 2;
    this.w[R_STAMP] = 0;
    Atomics.store(this.w, R_MAGIC, 0);
    this.unlock();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.pool.destroy({ force: true });
    for (const f of own) this.pm.freeFrame(this.pm.pfn(f), CACHE_FRAME_OWNER);
    this.pm.freeFrame(this.rootPfn, CACHE_FRAME_OWNER);
    if (this.ownsMemory) this.pm.detach();
  }
}
