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
 * - A Worker that dies (terminate() at any instruction, inside a cache call
 *   or not) costs the others nothing but its own operation in flight, once
 *   its slot is reclaimed (pm.reclaim; src/workers.ts does it on `exit`):
 *   see "Recovery" below.
 *
 * Layout: the root frame (i32 words; u64 counters as lo, hi word pairs):
 *
 * ╒═ root ══════════════════════════════════════════════════════════════╕
 * │ 0 lock (robust mutex) │ 1 next ticket │ 2 magic │ 3 stamp │ 4 zpool │
 * │ 5 buckets (2^k) │ 6 bucket frames │ 7 LRU head │ 8 LRU tail (slots) │
 * │ 9 entries │ 10 budget │ 11 sweep cursor │ 12 max key bytes          │
 * │ 13 state (1 live, 2 destroyed, 3 broken) │ 14 now serving           │
 * │ 15 gate waiters │ 16 own frames │ 17 pool frames, upper bound       │
 * │ 18 free slot │ 19 slots │ 20 slot-directory frames │ 21 recoveries  │
 * │ 22 objects leaked │ 64..255 bucket frames │ 256..511 slot-directory │
 * │ frames (1024 slot-frame numbers each) │ 512..531 counters (u64)     │
 * │ 544..551 the operation in flight │ 768..1023 its pending handles    │
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
 * memory. One lock in the root (cache/lock.ts: a robust mutex behind a FIFO
 * ticket gate) guards the index, the slot table, the counters, the record of
 * the operation in flight and every allocation and free of the cache's
 * objects. Compression runs before the lock is taken and decompression after
 * it is dropped; under it a set copies its stream into place and a get
 * copies one out. lock ordering: the cache lock (lock.ts level 2) is taken
 * before zsmalloc's class locks (level 6) and the frame allocator, after
 * nothing. A wait for it is bounded (LOCK_TIMEOUT_MS) and ends in TmemError
 * ETIMEDOUT naming the holder's Worker slot.
 *
 * Recovery: every store to shared state under the lock goes through `st`,
 * a store logged in this Worker's undo log (assembly/robust.ts: pm_ustore32),
 * and every zpool call or frame operation inside a section happens at a
 * point where that state is consistent (each zpool call takes zsmalloc's
 * locks: a commit point, after which the logged stores are final). The
 * index changes of an operation (pop a slot, unlink the old entry, link the
 * new one, the counters, the hand-over of the operation in flight) are one
 * run of logged stores between two explicit commit points (pm_ucommit), so a
 * reclaim of a Worker killed there rolls them all back. Stores nobody else
 * can reach are not logged: into the popped slot before the bucket store
 * links it (a rollback puts it back on the free list, whose link word it
 * keeps), into a new slot-table frame before the directory names it, into a
 * value's objects before the slot names them, and the record in flight
 * itself while a value is built (only recovery reads it).
 * What lies outside the index while an operation runs, the objects of the
 * value being built or of the entry being freed, is named in the root's
 * record of the operation in flight (root 544..551 and 768..1023, see
 * "The operation in flight"): only the lock holder has one, so the next
 * Worker to take the lock after a reclaim finds a non-empty record and frees
 * what it names. So a death leaks at most one object (one whose zs_malloc had
 * returned and whose handle was not yet recorded, or whose free had begun),
 * or one frame (allocated for the slot table and not yet recorded).
 *
 * See also: lock.ts (the lock), ../zpool/zpool.ts (the pool API), keyv.ts
 * (the Keyv store), ../../assembly/robust.ts, ../../test/cache*.test.ts,
 * ../../bench/cache.ts.
 *
 * @module
 */
import type { PhysicalMemory, PhysicalMemoryHandle, Pfn } from "../../bindings/physmem.js";
import { PhysicalMemory as PM } from "../../bindings/physmem.js";
import type { CoreExports } from "../../bindings/wasm.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import { byteArrayLength, bufferOfView } from "../../bindings/args.js";
import { PAGE_SIZE } from "../../bindings/layout.js";
import { type Lz4Codec, lz4Ready, compressBound } from "../../bindings/lz4.js";
import { createPool, openPool, type Zpool } from "../zpool/zpool.js";
import type { MapMode } from "../zpool/driver.js";
import { CacheLock, LOCK_TIMEOUT_MS, LW_LOCK, LW_NEXT, LW_SERVING, LW_WAITERS } from "./lock.js";

export { LOCK_TIMEOUT_MS };

// ══ Constants ══

/** Owner tag of the cache's own frames (root, buckets, slot table): a caller tag (≥ 16). */
export const CACHE_FRAME_OWNER = 0x20;
/** Default and largest key length in bytes (UTF-8 for strings). */
export const DEFAULT_MAX_KEY_BYTES = 1024;
export const MAX_KEY_BYTES = 2047;
/** Largest value (bytes after UTF-8 encoding): 1 GiB. */
export const MAX_VALUE_BYTES = 1 << 30;

/** "TMC2": the root layout with the robust lock and the record of the operation in flight. */
const MAGIC = 0x32434d54;
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
const R_MAGIC = 2, R_STAMP = 3, R_POOL = 4, R_NBUCKETS = 5, R_BFRAMES = 6, R_HEAD = 7, R_TAIL = 8, R_ENTRIES = 9,
  R_BUDGET = 10, R_CURSOR = 11, R_MAXKEY = 12, R_STATE = 13, R_OWN = 16, R_UBOUND = 17, R_FREESLOT = 18, R_SLOTS = 19,
  R_DIRS = 20, R_RECOVERED = 21, R_LEAKED = 22, R_BPFNS = 64, R_DPFNS = 256, R_COUNTERS = 512;
if (LW_LOCK !== 0 || LW_NEXT !== 1 || LW_SERVING !== 14 || LW_WAITERS !== 15) throw new Error("cache root layout: lock words moved");
const STATE_LIVE = 1, STATE_DESTROYED = 2, STATE_BROKEN = 3;
// u64 counters (lo, hi at R_COUNTERS + 2 i)
const C_HITS = 0, C_MISSES = 1, C_SETS = 2, C_DELETES = 3, C_EVICT_BUDGET = 4, C_EVICT_CLEAR = 5, C_EXPIRED = 6,
  C_RAW = 7, C_STORED = 8, C_KEYS = 9;
/** No counter (removeEntry's `counter` argument). */
const C_NONE = -1;

// ── The operation in flight (root words; written only by the lock holder) ──
//
// ╒═ in flight ═════════════════════════════════════════════════════════╕
// │ 544 record handle (0: none) │ 545 layout │ 546 key length          │
// │ 547 pieces │ 548 positions done │ 549 pending handles │ 550 frame of │
// │ a new slot directory │ 551 frame of new slots │ 768..1023 pending    │
// ╘═════════════════════════════════════════════════════════════════════╛
// A tree of objects outside the index: the value a set is building (pieces
// allocated so far; handles not yet written into the record or an index
// object wait in the pending list) or the entry a removal is freeing. Its
// objects are freed in position order: pieces 0..P-1, index objects P..P+X-1,
// the record P+X; "positions done" counts the ones already freed, bumped
// BEFORE each free (a death in between leaks that object, never frees it
// twice). Until a record's handle area is zeroed its layout reads INLINE, so
// a walk never follows unwritten handles. The hand-over from the built value
// to the replaced entry is a logged store in the set's index section.
const IF_REC = 544, IF_LAYOUT = 545, IF_KEYLEN = 546, IF_NPIECES = 547, IF_DONE = 548, IF_NPEND = 549,
  IF_FDIR = 550, IF_FSLOT = 551, IF_PEND = 768;
/** Pending handles at most: a set writes them into their parent object every this many pieces. */
const PEND_CAP = 256;
if (INDEX_FANOUT % PEND_CAP !== 0 || IF_PEND + PEND_CAP > PAGE_SIZE / 4) throw new Error("cache root layout: pending list");

// slot words
const S_HASH = 0, S_CHAIN = 1, S_PREV = 2, S_NEXT = 3, S_REC = 4, S_META = 5, S_RAW = 6, S_STORED = 7, S_EXPIRES = 8,
  S_PIECES = 10, S_FREE = 11;
// S_META: layout (2 bits) | flags (3 bits) << 2 | key length << 5
const FL_STRING = 1, FL_BYTEKEY = 2, FL_LZ4 = 4;
const L_INLINE = 0, L_DIRECT = 1, L_INDIRECT = 2;
const TWO32 = 4294967296;

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
  /** Operations in flight of dead Workers whose objects a later caller freed (see the module essay, Recovery), cumulative. */
  recoveries: number;
  /** Objects a free could not give back (pinned by a Worker whose pin was never released): leaked, cumulative. */
  leakedObjects: number;
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
 * The cache's own pool with its handles as plain numbers: every handle the
 * cache passes it is one it read back from its own index in shared memory
 * (u32 words), so one this pool made. The ZpoolHandle brand guards callers
 * of the Zpool API, not this round trip through shared memory.
 */
type OwnPool = Omit<Zpool, "free" | "map" | "unmap"> & {
  free(handle: number): void;
  map(handle: number, mode: MapMode): Uint8Array;
  unmap(handle: number): void;
};

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
  private readonly core: CoreExports;
  private readonly pool: OwnPool;
  private readonly codec: Lz4Codec;
  private readonly rootPfn: Pfn;
  private readonly stamp: number;
  private readonly w: Int32Array;
  /** Word index of the root frame in {@link u32}. */
  private readonly rw: number;
  private readonly lk: CacheLock;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** The memory's buffer, read once (the getter makes a new object per call; the memory never grows). */
  private readonly sab: ArrayBufferLike;
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
    this.core = pm.core;
    this.pool = pool;
    this.codec = codec;
    this.rootPfn = rootPfn;
    this.stamp = stamp;
    this.sab = pm.memory.buffer;
    const addr = pm.frameAddress(rootPfn);
    this.w = new Int32Array(this.sab, addr, PAGE_SIZE / 4);
    this.rw = addr >>> 2;
    this.lk = new CacheLock(pm, this.w);
    this.u32 = new Uint32Array(this.sab);
    this.i32 = new Int32Array(this.sab);
    this.f64 = new Float64Array(this.sab);
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
    w[R_STATE] = STATE_LIVE;
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
    if (Atomics.load(w, R_MAGIC) !== MAGIC || w[R_STAMP] !== handle.stamp || w[R_STATE] !== STATE_LIVE) {
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


  // ── the lock, logged stores, counters ──

  /**
   * Take the cache lock (lock.ts), then finish what a dead predecessor left:
   * free the objects its operation in flight names.
   * @throws TmemError ETIMEDOUT when the lock cannot be had within
   *   LOCK_TIMEOUT_MS; EINVAL when this instance is closed, its memory
   *   detached or the cache destroyed; EOWNERDEAD when the cache was found
   *   inconsistent after a takeover (it must be destroyed and made again).
   */
  private lock(): void {
    if (this.closed) throw new TmemError(ErrorCode.EINVAL, "this TmemCache was closed");
    // Before the ticket: after pm.detach() nothing may be written into the memory (not even a miss count).
    if (!this.pm.isAttached) throw new TmemError(ErrorCode.EINVAL, "this PhysicalMemory was detached: attach again to use it");
    const took = this.lk.acquire();
    this.checkLive();
    const u = this.u32, rw = this.rw;
    if ((u[rw + IF_REC]! | u[rw + IF_NPEND]! | u[rw + IF_FDIR]! | u[rw + IF_FSLOT]!) !== 0) {
      try {
        this.recoverInFlight();
      } catch (e) {
        this.unlock();
        throw e;
      }
    }
    if (took === 1) this.afterTakeover();
  }

  private unlock(): void {
    this.lk.release();
  }

  private checkLive(): void {
    const state = this.w[R_STATE];
    if (state !== STATE_LIVE || this.w[R_STAMP] !== this.stamp) {
      this.unlock();
      if (state === STATE_BROKEN && this.w[R_STAMP] === this.stamp) {
        throw new TmemError(ErrorCode.EOWNERDEAD, "this TmemCache was left inconsistent by a Worker that died holding its lock without a rollback: destroy it and make a new one");
      }
      throw new TmemError(ErrorCode.EINVAL, "this TmemCache was destroyed");
    }
  }

  /**
   * The lock was taken over from a dead holder without a rollback (its
   * reclaim did not release it: not expected, robust.ts releases every
   * LV_CACHE lock it rolls back). Check everything; if inconsistent, mark
   * the cache broken (every call then throws EOWNERDEAD).
   */
  private afterTakeover(): void {
    const problems = this.checkLocked().problems;
    if (problems.length === 0) return;
    this.st(this.rw + R_STATE, STATE_BROKEN);
    this.unlock();
    throw new TmemError(ErrorCode.EOWNERDEAD, `TmemCache: took the lock over from a dead Worker and found ${problems.length} problems (first: ${problems[0]}); the cache is marked broken`);
  }

  /**
   * The logged store: u32 word `word` of the memory (an index into
   * {@link u32}) := `v`, undoably (robust.ts pm_ustore32); nothing when the
   * word already holds `v`. Every store to shared state under the lock goes
   * through here, except into objects and frames nobody else can reach yet.
   */
  private st(word: number, v: number): void {
    if (this.u32[word] === (v >>> 0)) return;
    if (this.core.pm_ustore32(word << 2, v) < 0) {
      // The undo log is full (no commit point for UNDO_CAP stores): undo back to the last one and refuse.
      this.core.pm_uabort();
      throw new TmemError(ErrorCode.ENOSPC, "TmemCache: an operation outgrew its undo log (too many logged stores without a commit point); its stores since the last one were undone");
    }
  }

  /** Counter `c` (u64 as two words; exact below 2^53). Lock held. */
  private cnt(c: number): number {
    const at = this.rw + R_COUNTERS + 2 * c;
    return this.u32[at]! + this.u32[at + 1]! * TWO32;
  }

  /** Counter `c` += `delta`, by logged stores. Lock held. */
  private cadd(c: number, delta: number): void {
    if (delta === 0) return;
    const at = this.rw + R_COUNTERS + 2 * c;
    const v = Math.max(0, this.u32[at]! + this.u32[at + 1]! * TWO32 + delta);
    this.st(at, v >>> 0);
    this.st(at + 1, Math.floor(v / TWO32));
  }

  // ── the operation in flight ──

  /** The first free of each kind of error while freeing in flight that we could not do (rare; for the leak count). */
  private freeOrLeak(h: number): void {
    try {
      this.pool.free(h);
    } catch {
      // A handle that cannot be freed (pinned by a Worker whose pin was not
      // released, or already free): leaked, counted, never retried.
      this.core.pm_ucommit();
      this.st(this.rw + R_LEAKED, this.u32[this.rw + R_LEAKED]! + 1);
      this.core.pm_ucommit();
    }
  }

  /**
   * The handles of the in-flight tree in position order (pieces, index
   * objects, the record; 0 = not allocated yet), read from its objects.
   * Lock held; maps objects (commit points).
   */
  private inFlightTree(rec: number, layout: number, keyLen: number, npieces: number): { pieces: number[]; index: number[] } {
    const pieces: number[] = [], index: number[] = [];
    if (layout === L_INLINE) return { pieces, index };
    const v = this.pool.map(rec, "ro");
    const nref = layout === L_DIRECT ? npieces : Math.ceil(npieces / INDEX_FANOUT);
    const refs: number[] = [];
    for (let i = 0; i < nref; i++) refs.push(rd32(v, keyLen + 4 * i));
    this.pool.unmap(rec);
    if (layout === L_DIRECT) return { pieces: refs, index };
    for (let j = 0; j < refs.length; j++) {
      const ix = refs[j]!;
      index.push(ix);
      const count = Math.min(INDEX_FANOUT, npieces - j * INDEX_FANOUT);
      if (ix === 0) { for (let i = 0; i < count; i++) pieces.push(0); continue; }
      const iv = this.pool.map(ix, "ro");
      for (let i = 0; i < count; i++) pieces.push(rd32(iv, 4 * i));
      this.pool.unmap(ix);
    }
    return { pieces, index };
  }

  /**
   * Free everything the record of the operation in flight names: pending
   * handles, then the tree in position order, then clear the record. Each
   * step records its progress BEFORE the free it stands for (a death between
   * leaks that object). Starts at a commit point. Lock held.
   */
  private freeInFlight(): void {
    this.core.pm_ucommit();
    const u = this.u32, rw = this.rw;
    const rec = u[rw + IF_REC]!;
    const layout = u[rw + IF_LAYOUT]!, keyLen = u[rw + IF_KEYLEN]!, npieces = u[rw + IF_NPIECES]!;
    const done = u[rw + IF_DONE]!;
    let tree: { pieces: number[]; index: number[] } = { pieces: [], index: [] };
    // Index objects are freed only after every piece: while pieces remain, every object of the tree is live.
    if (rec !== 0 && done < npieces + (layout === L_INDIRECT ? Math.ceil(npieces / INDEX_FANOUT) : 0) + 1) {
      tree = done < npieces || layout !== L_INDIRECT ? this.inFlightTree(rec, layout, keyLen, npieces)
        : { pieces: new Array<number>(npieces).fill(0), index: this.inFlightTree(rec, L_DIRECT, keyLen, Math.ceil(npieces / INDEX_FANOUT)).pieces };
    }
    // Pending handles (a set's, not yet written into the tree; one written just before a death is in both).
    let npend = u[rw + IF_NPEND]!;
    if (npend > PEND_CAP) npend = PEND_CAP;
    if (npend > 0) {
      const inTree = new Set<number>([...tree.pieces, ...tree.index]);
      while (npend > 0) {
        npend--;
        const h = u[rw + IF_PEND + npend]!;
        u[rw + IF_NPEND] = npend;
        if (h !== 0 && !inTree.has(h)) this.freeOrLeak(h);
      }
    }
    if (rec !== 0) {
      const order = [...tree.pieces, ...tree.index, rec];
      for (let p = done; p < order.length; p++) {
        u[rw + IF_DONE] = p + 1;
        const h = order[p]!;
        if (h !== 0) this.freeOrLeak(h);
      }
    }
    u[rw + IF_REC] = 0;
    u[rw + IF_DONE] = 0;
    u[rw + IF_LAYOUT] = 0;
    u[rw + IF_NPIECES] = 0;
  }

  /**
   * The previous lock holder died with an operation in flight (its reclaim
   * rolled its index changes back): free what the record names, and the
   * frames it was adding to the slot table. Lock held.
   */
  private recoverInFlight(): void {
    this.core.pm_ucommit();
    const u = this.u32, rw = this.rw;
    for (const at of [IF_FDIR, IF_FSLOT]) {
      const pfn = u[rw + at]!;
      if (pfn === 0) continue;
      u[rw + at] = 0;
      this.pm.freeFrame(this.pm.pfn(pfn), CACHE_FRAME_OWNER);
    }
    this.freeInFlight();
    this.st(rw + R_RECOVERED, u[rw + R_RECOVERED]! + 1);
  }

  /** Start the record of a value being built: record `rec`, read as INLINE until its handle area is zeroed. Lock held. */
  private beginInFlight(rec: number, keyLen: number): void {
    const u = this.u32, rw = this.rw;
    u[rw + IF_LAYOUT] = L_INLINE;
    u[rw + IF_KEYLEN] = keyLen;
    u[rw + IF_NPIECES] = 0;
    u[rw + IF_DONE] = 0;
    u[rw + IF_NPEND] = 0;
    u[rw + IF_REC] = rec;
  }

  /** Append `h` to the pending handles (the caller keeps NPEND < PEND_CAP). */
  private pend(h: number): void {
    const u = this.u32, rw = this.rw;
    const n = u[rw + IF_NPEND]!;
    u[rw + IF_PEND + n] = h;
    u[rw + IF_NPEND] = n + 1;
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

  /**
   * Make sure a slot is free: grow the table by a frame of 85 slots (and a
   * directory frame every 1024 slot frames) when none is. Its own section:
   * the frames are recorded in flight as soon as they are allocated, the new
   * frame is filled before it is reachable, then linked by logged stores
   * that also clear the record, then a commit point. Lock held.
   * @throws TmemError ENOSPC (slot table full), ENOMEM (no frame); nothing changes then.
   */
  private ensureFreeSlot(): void {
    const w = this.w, u = this.u32, rw = this.rw;
    if (w[R_FREESLOT] !== 0) return;
    const nslots = w[R_SLOTS]!;
    const frameIdx = nslots / SLOTS_PER_FRAME;
    const dir = (frameIdx / DIR_FANOUT) | 0;
    const newDir = frameIdx % DIR_FANOUT === 0;
    if (newDir && dir >= MAX_DIR_FRAMES) throw new TmemError(ErrorCode.ENOSPC, "TmemCache: the slot table is full");
    this.core.pm_ucommit();
    let d: Pfn | 0 = 0;
    if (newDir) {
      d = this.pm.allocFrame(CACHE_FRAME_OWNER);
      u[rw + IF_FDIR] = d;
      this.pm.frameBytes(d).fill(0);
    }
    let pfn: Pfn;
    try {
      pfn = this.pm.allocFrame(CACHE_FRAME_OWNER);
    } catch (e) {
      if (d !== 0) { u[rw + IF_FDIR] = 0; this.pm.freeFrame(d, CACHE_FRAME_OWNER); }
      throw e;
    }
    u[rw + IF_FSLOT] = pfn;
    // Fill the frame while nobody can reach it: slots nslots+1 .. nslots+85 chained as the free list.
    const fb = this.pm.frameBytes(pfn);
    fb.fill(0);
    const fw = this.pm.frameAddress(pfn) >>> 2;
    for (let k = 1; k < SLOTS_PER_FRAME; k++) u[fw + (k - 1) * SLOT_WORDS + S_FREE] = nslots + k + 1;
    // Link it (logged), clear the record in the same run, commit.
    this.core.pm_ucommit();
    if (newDir) {
      this.st(rw + R_DPFNS + dir, d);
      this.st(rw + R_DIRS, dir + 1);
    }
    const dirWord = this.pm.frameAddress(this.pm.pfn(w[R_DPFNS + dir]!)) >>> 2;
    this.st(dirWord + (frameIdx % DIR_FANOUT), pfn);
    this.st(rw + R_OWN, w[R_OWN]! + (newDir ? 2 : 1));
    this.st(rw + R_SLOTS, nslots + SLOTS_PER_FRAME);
    this.st(rw + R_FREESLOT, nslots + 1);
    this.st(rw + IF_FDIR, 0);
    this.st(rw + IF_FSLOT, 0);
    this.core.pm_ucommit();
  }

  /** Pop a free slot ({@link ensureFreeSlot} made sure there is one). Logged; inside an index section. */
  private popSlot(): number {
    const s = this.w[R_FREESLOT]!;
    this.st(this.rw + R_FREESLOT, this.i32[this.slotWord(s) + S_FREE]!);
    return s;
  }

  /** Put slot `s` (word `sw`) on the free list (its record word cleared). Logged; inside an index section. */
  private freeSlot(s: number, sw: number): void {
    this.st(sw + S_REC, 0);
    this.st(sw + S_FREE, this.w[R_FREESLOT]!);
    this.st(this.rw + R_FREESLOT, s);
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

  /** Logged; inside an index section. */
  private lruUnlink(sw: number): void {
    const i32 = this.i32;
    const prev = i32[sw + S_PREV]!, next = i32[sw + S_NEXT]!;
    if (prev !== 0) this.st(this.slotWord(prev) + S_NEXT, next); else this.st(this.rw + R_HEAD, next);
    if (next !== 0) this.st(this.slotWord(next) + S_PREV, prev); else this.st(this.rw + R_TAIL, prev);
  }

  /** Logged; inside an index section. */
  private lruPushHead(s: number, sw: number): void {
    const head = this.w[R_HEAD]!;
    this.st(sw + S_PREV, 0);
    this.st(sw + S_NEXT, head);
    if (head !== 0) this.st(this.slotWord(head) + S_PREV, s); else this.st(this.rw + R_TAIL, s);
    this.st(this.rw + R_HEAD, s);
  }

  /**
   * Unlink slot `s` (word `sw`, chain predecessor `chainPrev`) from its chain
   * and the LRU list, free the slot, take its sizes off the counters and hand
   * its objects to the record in flight. Logged stores only: the caller runs
   * it inside an index section (between two commit points).
   */
  private unlinkEntry(s: number, sw: number, chainPrev: number): void {
    const i32 = this.i32, rw = this.rw;
    const meta = i32[sw + S_META]!;
    const keyLen = meta >>> 5, layout = meta & 3;
    const rec = i32[sw + S_REC]! >>> 0, npieces = i32[sw + S_PIECES]! >>> 0;
    const next = i32[sw + S_CHAIN]!;
    if (chainPrev !== 0) this.st(this.slotWord(chainPrev) + S_CHAIN, next);
    else this.st(this.bucketIndex(i32[sw + S_HASH]! >>> 0), next);
    this.lruUnlink(sw);
    this.cadd(C_RAW, -(i32[sw + S_RAW]! >>> 0));
    this.cadd(C_STORED, -(i32[sw + S_STORED]! >>> 0));
    this.cadd(C_KEYS, -keyLen);
    this.st(rw + R_ENTRIES, this.w[R_ENTRIES]! - 1);
    this.freeSlot(s, sw);
    this.st(rw + IF_LAYOUT, layout);
    this.st(rw + IF_KEYLEN, keyLen);
    this.st(rw + IF_NPIECES, npieces);
    this.st(rw + IF_DONE, 0);
    this.st(rw + IF_REC, rec);
  }

  /**
   * Remove slot `s` (chain predecessor `chainPrev`): one index section
   * (unlink, counters, `counter` += 1 unless C_NONE, the objects handed to
   * the record in flight), then free its objects. Lock held.
   */
  private removeEntry(s: number, chainPrev: number, counter: number): void {
    const sw = this.slotWord(s);
    this.core.pm_ucommit();
    this.unlinkEntry(s, sw, chainPrev);
    if (counter !== C_NONE) this.cadd(counter, 1);
    this.core.pm_ucommit();
    this.freeInFlight();
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
    this.st(this.rw + R_UBOUND, p);
    return p;
  }

  /** Evict the LRU tail; false when the cache is empty. Lock held. */
  private evictTail(): boolean {
    const tail = this.w[R_TAIL]!;
    if (tail === 0) return false;
    this.removeEntry(tail, this.chainPrevOf(tail), C_EVICT_BUDGET);
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
    if (w[R_UBOUND]! + w[R_OWN]! + need <= budget) { this.st(this.rw + R_UBOUND, w[R_UBOUND]! + need); return true; }
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
    this.st(this.rw + R_UBOUND, w[R_UBOUND]! + need);
    return true;
  }

  /** Worst-case frames allocating a record, `npieces` pieces and `nindex` index objects can add (a slot frame and its directory included). */
  private static worstFrames(npieces: number, nindex: number): number {
    return npieces + nindex + 2 * CHAIN + TABLE_GROWTH + Math.ceil((1 + npieces + nindex) / 256) + 2;
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


  // ── public API ──

  /**
   * The value of `key`, or undefined (missing or expired). A hit makes the
   * entry the most recently used. Strings come back as strings, bytes as a
   * new Uint8Array the caller owns.
   * @throws TypeError/RangeError for a bad key; TmemError ETIMEDOUT when the
   *   lock cannot be had, EINVAL when closed or destroyed (see the essay).
   * Thread safety: any attached Worker, concurrently.
   */
  get(key: CacheKey): CacheValue | undefined {
    const { k, n, byteKey } = this.keyBytes(key);
    const h = hashKey(k, n, byteKey);
    let flags: number, raw: number, stream: Uint8Array;
    this.lock();
    try {
      const s = this.find(k, n, byteKey, h, true);
      if (s === 0) { this.cadd(C_MISSES, 1); return undefined; }
      const i32 = this.i32;
      const sw = this.slotWord(s);
      const rec = i32[sw + S_REC]! >>> 0;
      const v = this.foundView;
      if (this.expired(this.f64[(sw + S_EXPIRES) >>> 1]!)) {
        this.pool.unmap(rec);
        this.cadd(C_MISSES, 1);
        this.removeEntry(s, this.foundPrev, C_EXPIRED);
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
      // An index section (the last unmap was a commit point; the unlock is the next).
      if (this.w[R_HEAD] !== s) { this.lruUnlink(sw); this.lruPushHead(s, sw); }
      this.cadd(C_HITS, 1);
      stream = dst.subarray(0, stored);
    } finally {
      this.unlock();
    }
    return this.decode(flags, raw, stream);
  }

  /**
   * Whether `key` has a live (unexpired) entry. Does not change the LRU order or the hit counters.
   * @throws TypeError/RangeError for a bad key; TmemError as {@link get}.
   * Thread safety: any attached Worker, concurrently.
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
   *   a view of the physical memory itself, ETIMEDOUT as {@link get}. On any
   *   throw the cache is unchanged (apart from entries evicted while making
   *   room for a value that then did not fit).
   * Thread safety: any attached Worker, concurrently; concurrent sets of one
   *   key leave one of the values, whole. A Worker that dies inside a set
   *   leaves either the old entry or the new one; what it had allocated for
   *   the value is freed by the next caller to take the lock after its
   *   reclaim (at most one object leaks: see the essay).
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
        let rec: number;
        try {
          rec = this.build(keyCopy, n, p.stream, layout, npieces, nindex, recSize);
          this.ensureFreeSlot();
        } catch (e) {
          // Give back what the attempt took (the record in flight names all of it).
          this.freeInFlight();
          this.exactPoolFrames();
          const retry = e instanceof TmemError && e.code === ErrorCode.ENOMEM && attempt < 64 && this.evictTail();
          if (retry) continue;
          if (e instanceof TmemError && e.code === ErrorCode.ENOMEM) {
            throw new TmemError(ErrorCode.E2BIG, `value of ${p.raw} bytes does not fit in the budget or in the memory's free frames`);
          }
          throw e;
        }
        // Built: find the old entry, if any (maps: commit points), then one
        // index section replaces it and links the new one (nothing can fail in it).
        const old = this.find(keyCopy, n, byteKey, h);
        const oldPrev = this.foundPrev;
        this.core.pm_ucommit();
        const rw = this.rw;
        const s = this.popSlot();
        const sw = this.slotWord(s);
        // (With no old entry only the record word matters: a record of 0 is empty whatever the other words say.)
        if (old !== 0) this.unlinkEntry(old, this.slotWord(old), oldPrev);
        else this.st(rw + IF_REC, 0);
        // The popped slot is unreachable until the bucket store below: its words need no log (a
        // rollback puts it back on the free list, where only its free-list link, untouched, is read).
        const b = this.bucketIndex(h);
        const i32 = this.i32;
        i32[sw + S_HASH] = h | 0;
        i32[sw + S_CHAIN] = this.u32[b]! | 0;
        i32[sw + S_REC] = rec | 0;
        i32[sw + S_META] = layout | ((p.flags | (byteKey ? FL_BYTEKEY : 0)) << 2) | (n << 5);
        i32[sw + S_RAW] = p.raw | 0;
        i32[sw + S_STORED] = stored | 0;
        i32[sw + S_PIECES] = npieces | 0;
        this.f64[(sw + S_EXPIRES) >>> 1] = expires;
        this.st(b, s);
        this.lruPushHead(s, sw);
        this.cadd(C_RAW, p.raw);
        this.cadd(C_STORED, stored);
        this.cadd(C_KEYS, n);
        this.cadd(C_SETS, 1);
        this.st(rw + R_ENTRIES, this.w[R_ENTRIES]! + 1);
        this.core.pm_ucommit();
        if (old !== 0) this.freeInFlight();
        return this;
      }
    } finally {
      this.unlock();
    }
  }

  /**
   * Allocate and fill the objects of a value (record first, then index
   * objects, then pieces), each named in the record in flight as soon as it
   * is allocated; returns the record's handle. On a throw the record in
   * flight names everything taken (the caller frees it). Lock held.
   */
  private build(keyCopy: Uint8Array, n: number, stream: Uint8Array, layout: number, npieces: number, nindex: number, recSize: number): number {
    const u = this.u32, rw = this.rw;
    const stored = stream.byteLength;
    const rec = this.pool.malloc(recSize);
    this.beginInFlight(rec, n);
    const v = this.pool.map(rec, "wo");
    v.set(keyCopy, 0);
    if (layout === L_INLINE) v.set(stream, n);
    else v.fill(0, n);
    this.pool.unmap(rec);
    if (layout === L_INLINE) return rec;
    // The handle area is zero: the tree may be walked from now on.
    u[rw + IF_NPIECES] = npieces;
    u[rw + IF_LAYOUT] = layout;
    const index: number[] = [];
    for (let j = 0; j < nindex; j++) {
      const ix = this.pool.malloc(PIECE);
      this.pend(ix);
      const iv = this.pool.map(ix, "wo");
      iv.fill(0);
      this.pool.unmap(ix);
      const rv = this.pool.map(rec, "rw");
      wr32(rv, n + 4 * j, ix);
      this.pool.unmap(rec);
      u[rw + IF_NPEND] = 0;
      index.push(ix);
    }
    // Pieces: pending until a batch of PEND_CAP (or the last) is written into its parent.
    let first = 0;
    for (let i = 0; i < npieces; i++) {
      const len = Math.min(PIECE, stored - i * PIECE);
      const ph = this.pool.malloc(len);
      this.pend(ph);
      const pv = this.pool.map(ph, "wo");
      pv.set(stream.subarray(i * PIECE, i * PIECE + len));
      this.pool.unmap(ph);
      if (u[rw + IF_NPEND] === PEND_CAP || i === npieces - 1) {
        const parent = layout === L_DIRECT ? rec : index[(first / INDEX_FANOUT) | 0]!;
        const base = layout === L_DIRECT ? n + 4 * first : 4 * (first % INDEX_FANOUT);
        const cnt = i + 1 - first;
        const dv = this.pool.map(parent, "rw");
        for (let q = 0; q < cnt; q++) wr32(dv, base + 4 * q, u[rw + IF_PEND + q]!);
        this.pool.unmap(parent);
        u[rw + IF_NPEND] = 0;
        first = i + 1;
      }
    }
    return rec;
  }

  /**
   * Remove `key`. @returns whether a live entry was removed (an expired one is freed and counted as expired).
   * @throws TypeError/RangeError for a bad key; TmemError as {@link get}.
   * Thread safety: any attached Worker, concurrently.
   */
  delete(key: CacheKey): boolean {
    return this.withEntry(key, (s, expires) => {
      if (s === 0) return false;
      const expired = this.expired(expires);
      this.removeEntry(s, this.foundPrev, expired ? C_EXPIRED : C_DELETES);
      return !expired;
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

  /**
   * Remove every entry (all Workers see an empty cache); the pool is compacted, its empty zspages go back to the memory.
   * @throws TmemError as {@link get}. Thread safety: any attached Worker, concurrently.
   */
  clear(): void {
    this.lock();
    try {
      while (this.w[R_TAIL] !== 0) {
        const tail = this.w[R_TAIL]!;
        this.removeEntry(tail, this.chainPrevOf(tail), C_EVICT_CLEAR);
      }
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
   * @throws RangeError for a bad count; TmemError as {@link get}.
   * Thread safety: any attached Worker, concurrently.
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
          this.removeEntry(s, prev, C_EXPIRED);
          freed++;
        } else {
          prev = s;
        }
        s = next;
      }
      cur = (cur + 1) & this.nbucketsMask;
    }
    this.core.pm_ucommit();
    this.st(this.rw + R_CURSOR, cur);
    return freed;
  }

  /**
   * Counters and sizes now (all Workers).
   * @throws TmemError as {@link get}. Thread safety: any attached Worker, concurrently.
   */
  stats(): TmemCacheStats {
    this.lock();
    try {
      const ps = this.pool.stats();
      this.st(this.rw + R_UBOUND, ps.pages);
      const own = this.w[R_OWN]!;
      const held = (ps.pages + own) * PAGE_SIZE;
      const raw = this.cnt(C_RAW);
      const entries = this.w[R_ENTRIES]!;
      return {
        entries,
        hits: this.cnt(C_HITS), misses: this.cnt(C_MISSES), sets: this.cnt(C_SETS), deletes: this.cnt(C_DELETES),
        evictions: { budget: this.cnt(C_EVICT_BUDGET), clear: this.cnt(C_EVICT_CLEAR) },
        expirations: this.cnt(C_EXPIRED),
        bytesRaw: raw,
        bytesStored: this.cnt(C_STORED),
        bytesHeld: held,
        bytesMetadata: this.cnt(C_KEYS) + ps.metadataBytes + own * PAGE_SIZE,
        budget: this.w[R_BUDGET]! * PAGE_SIZE,
        compressionRatio: held === 0 || raw === 0 ? 1 : raw / held,
        recoveries: this.w[R_RECOVERED]! >>> 0,
        leakedObjects: this.w[R_LEAKED]! >>> 0,
      };
    } finally {
      this.unlock();
    }
  }

  /**
   * @internal Walk everything the lock guards and report what is
   * inconsistent: every bucket's chain (bounded by the slot count; hashes
   * match their bucket, keys hash to their slot's hash), the LRU list both
   * ways, the slot free list, the counters against the entries' sums, the
   * frame count, the bound on the pool's frames, and the record in flight
   * (empty between calls). Also counts the pool's objects against the
   * entries' (a difference is a leak: the essay says which deaths leak).
   * For tests and after a takeover; O(entries + buckets), maps every record.
   * @throws TmemError as {@link get}. Thread safety: any attached Worker.
   */
  check(): { problems: string[]; objects: number; expectedObjects: number } {
    this.lock();
    try {
      return this.checkLocked();
    } finally {
      this.unlock();
    }
  }

  private checkLocked(): { problems: string[]; objects: number; expectedObjects: number } {
    const problems: string[] = [];
    const w = this.w, i32 = this.i32, u = this.u32, rw = this.rw;
    const nslots = w[R_SLOTS]!;
    const valid = (s: number): boolean => Number.isInteger(s) && s >= 1 && s <= nslots;
    const mark = new Uint8Array(nslots + 1); // 1 chained, 2 on the LRU list, 4 free
    let chained = 0, raw = 0, stored = 0, keys = 0, expectedObjects = 0;
    const nb = this.nbucketsMask + 1;
    for (let b = 0; b < nb && problems.length < 20; b++) {
      let s = u[this.bucketIndex(b)]!;
      while (s !== 0) {
        if (!valid(s)) { problems.push(`bucket ${b}: slot ${s} out of range`); break; }
        if (mark[s]! & 1) { problems.push(`bucket ${b}: slot ${s} chained twice (a cycle or a shared tail)`); break; }
        mark[s]! |= 1;
        chained++;
        const sw = this.slotWord(s);
        const h = u[sw + S_HASH]!, meta = i32[sw + S_META]!;
        const keyLen = meta >>> 5, layout = meta & 3, npieces = u[sw + S_PIECES]!;
        if ((h & this.nbucketsMask) !== b) problems.push(`slot ${s}: hash ${h} in bucket ${b}`);
        const rec = u[sw + S_REC]!;
        if (rec === 0) problems.push(`slot ${s}: chained without a record`);
        else {
          try {
            const v = this.pool.map(rec, "ro");
            const kh = hashKey(v, keyLen, (((meta >>> 2) & FL_BYTEKEY) !== 0));
            this.pool.unmap(rec);
            if (kh !== h) problems.push(`slot ${s}: its key hashes to ${kh}, not ${h}`);
          } catch (e) {
            problems.push(`slot ${s}: record ${rec} cannot be mapped (${(e as Error).message})`);
          }
        }
        raw += u[sw + S_RAW]!;
        stored += u[sw + S_STORED]!;
        keys += keyLen;
        expectedObjects += 1 + (layout === L_INLINE ? 0 : npieces + (layout === L_INDIRECT ? Math.ceil(npieces / INDEX_FANOUT) : 0));
        s = u[sw + S_CHAIN]!;
      }
    }
    let lru = 0, prev = 0;
    for (let s = w[R_HEAD]! >>> 0; s !== 0 && problems.length < 40;) {
      if (!valid(s)) { problems.push(`LRU: slot ${s} out of range`); break; }
      if (mark[s]! & 2) { problems.push(`LRU: slot ${s} twice (a cycle)`); break; }
      if (!(mark[s]! & 1)) problems.push(`LRU: slot ${s} is not in any chain`);
      mark[s]! |= 2;
      lru++;
      const sw = this.slotWord(s);
      if ((u[sw + S_PREV]! >>> 0) !== prev) problems.push(`LRU: slot ${s} has prev ${u[sw + S_PREV]}, not ${prev}`);
      prev = s;
      s = u[sw + S_NEXT]!;
    }
    if ((w[R_TAIL]! >>> 0) !== prev) problems.push(`LRU: tail ${w[R_TAIL]}, but the walk ends at ${prev}`);
    let free = 0;
    for (let s = w[R_FREESLOT]! >>> 0; s !== 0 && problems.length < 60;) {
      if (!valid(s)) { problems.push(`free list: slot ${s} out of range`); break; }
      if (mark[s]! & 4) { problems.push(`free list: slot ${s} twice (a cycle)`); break; }
      if (mark[s]! & 3) problems.push(`free list: slot ${s} is also in use`);
      mark[s]! |= 4;
      free++;
      s = u[this.slotWord(s) + S_FREE]!;
    }
    const entries = w[R_ENTRIES]!;
    if (chained !== entries || lru !== entries) problems.push(`entries ${entries}, chained ${chained}, on the LRU list ${lru}`);
    if (chained + free !== nslots) problems.push(`${chained} chained + ${free} free slots, of ${nslots}`);
    if (this.cnt(C_RAW) !== raw) problems.push(`bytesRaw ${this.cnt(C_RAW)}, the entries hold ${raw}`);
    if (this.cnt(C_STORED) !== stored) problems.push(`bytesStored ${this.cnt(C_STORED)}, the entries hold ${stored}`);
    if (this.cnt(C_KEYS) !== keys) problems.push(`key bytes ${this.cnt(C_KEYS)}, the entries hold ${keys}`);
    const own = 1 + w[R_BFRAMES]! + nslots / SLOTS_PER_FRAME + w[R_DIRS]!;
    if (w[R_OWN] !== own) problems.push(`own frames ${w[R_OWN]}, the root names ${own}`);
    for (const [name, at] of [["record", IF_REC], ["pending", IF_NPEND], ["directory frame", IF_FDIR], ["slot frame", IF_FSLOT]] as const) {
      if (u[rw + at] !== 0) problems.push(`the record in flight is not empty between calls (${name} ${u[rw + at]})`);
    }
    const ps = this.pool.stats();
    if (w[R_UBOUND]! < ps.pages) problems.push(`the bound on the pool's frames (${w[R_UBOUND]}) is below its ${ps.pages} frames`);
    return { problems, objects: ps.objects, expectedObjects };
  }

  /**
   * Stop this instance's sweep timer and close its pool handle (and detach
   * the memory if {@link attachMemory} attached it). The cache lives on for
   * other Workers. Idempotent. Thread safety: the owning thread.
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
   * A Worker that dies inside destroy after the cache is marked destroyed
   * leaks the cache's frames (nobody can reach them).
   * @throws TmemError as {@link get}. Thread safety: any attached Worker.
   */
  destroy(): void {
    this.lock();
    const own: number[] = [];
    try {
      while (this.w[R_TAIL] !== 0) {
        const tail = this.w[R_TAIL]!;
        this.removeEntry(tail, this.chainPrevOf(tail), C_NONE);
      }
      for (let i = 0; i < this.w[R_BFRAMES]!; i++) own.push(this.w[R_BPFNS + i]!);
      const nslotFrames = this.w[R_SLOTS]! / SLOTS_PER_FRAME;
      for (let f = 0; f < nslotFrames; f++) {
        const dirWord = this.pm.frameAddress(this.pm.pfn(this.w[R_DPFNS + ((f / DIR_FANOUT) | 0)]!)) >>> 2;
        own.push(this.u32[dirWord + (f % DIR_FANOUT)]!);
      }
      for (let d = 0; d < this.w[R_DIRS]!; d++) own.push(this.w[R_DPFNS + d]!);
      this.core.pm_ucommit();
      this.st(this.rw + R_STATE, STATE_DESTROYED);
      this.st(this.rw + R_STAMP, 0);
      this.st(this.rw + R_MAGIC, 0);
    } finally {
      this.unlock();
    }
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.pool.destroy({ force: true });
    for (const f of own) this.pm.freeFrame(this.pm.pfn(f), CACHE_FRAME_OWNER);
    this.pm.freeFrame(this.rootPfn, CACHE_FRAME_OWNER);
    if (this.ownsMemory) this.pm.detach();
  }
}
