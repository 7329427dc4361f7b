// SPDX-License-Identifier: MIT
/**
 * protocol.ts: what a remote page looks like in Redis: its key, its field,
 * and the header every value carries. Pure functions, no I/O, so the layout
 * is testable without a server and the same on every node.
 *
 * What it is not: not the client (store.ts issues the commands).
 *
 * Key idea (RAMster's "all pages of one tmem object live on one remote
 * node"): one Redis HASH per tmem object, the page index as the field, the
 * already-compressed page as the value. The key's hash tag (the part in
 * braces) is the whole object name, so in Redis Cluster every page of one
 * object is in one slot: an object's puts, its flush-object (one DEL) and
 * its get-and-free are single-slot and keep their order on one connection.
 *
 *   private pool:  tmem:{<node>/<instance>:<e|p><pool>:<oid hex>}
 *   shared pool:   tmem:{s/<uuid hex>:<e|p>:<oid hex>}    (cleancache initSharedFs)
 *   field:         the page index in decimal
 *
 * The instance (a random id per process unless given) keeps a restarted
 * node from ever reading its previous life's pages; those age out (LRU on
 * an ephemeral server, flushPool or an operator's SCAN on a persistent one).
 * A shared pool is named by its uuid alone, so every node sees one copy.
 *
 * Value layout (little-endian), checked on every load:
 *   0 magic "RMS1" (u32) │ 4 generation (u32) │ 8 payload length (u32) │
 *   12 xxhash32(payload, seed = generation ^ length) │ 16 payload …
 * The generation is the local index's: every put of a key gets a new one,
 * so a copy left behind by an older put, an invalidated page's copy that a
 * late command resurrected, or another node's copy of a private key never
 * matches the descriptor that asks for it. The checksum catches torn or
 * foreign bytes; both failures are a miss for an ephemeral page and a lost
 * page (EIO) for a persistent one, never bytes handed to the caller.
 *
 * Concurrency: pure; any thread.
 *
 * See also: store.ts, test/ramster-protocol.test.ts.
 *
 * @module
 */
import { xxhash32 } from "../lz4/xxhash32.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";

/** Bytes of the value header. */
export const HEADER_BYTES = 16;
/** "RMS1" as a little-endian u32. */
export const VALUE_MAGIC = 0x31534d52;
/** Largest payload: a compressed page never exceeds a page; allow a raw page plus slack. */
export const MAX_PAYLOAD = 8192;

/** Where a pool's pages live remotely. */
export interface PoolRef {
  /** Persistent (frontswap) or ephemeral (cleancache). */
  persistent: boolean;
  /** The local pool id (private pools). */
  pool: number;
  /** 32 hex digits: a shared pool's uuid; the key then ignores node and pool id. */
  uuid?: string;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Check a node or instance name: 1..64 of [A-Za-z0-9_.-]. @throws TmemError EINVAL */
export function checkName(what: string, s: string): void {
  if (typeof s !== "string" || !NAME_RE.test(s)) throw new TmemError(ErrorCode.EINVAL, `${what} '${s}' must be 1..64 of [A-Za-z0-9_.-]`);
}

/** The key prefix of one pool (every object key of it starts so). */
export function poolPrefix(node: string, instance: string, p: PoolRef): string {
  const kind = p.persistent ? "p" : "e";
  if (p.uuid !== undefined) {
    if (!/^[0-9a-f]{32}$/.test(p.uuid)) throw new TmemError(ErrorCode.EINVAL, `shared pool uuid '${p.uuid}' must be 32 lowercase hex digits`);
    return `tmem:{s/${p.uuid}:${kind}:`;
  }
  if (!Number.isInteger(p.pool) || p.pool < 0 || p.pool > 0xffffffff) throw new TmemError(ErrorCode.EINVAL, `pool id ${p.pool}`);
  return `tmem:{${node}/${instance}:${kind}${p.pool}:`;
}

/** The HASH key of one object; `oid` is the object id in hex (1..48 digits). */
export function objectKey(node: string, instance: string, p: PoolRef, oid: string): string {
  if (!/^[0-9a-f]{1,48}$/.test(oid)) throw new TmemError(ErrorCode.EINVAL, `oid '${oid}' must be 1..48 lowercase hex digits`);
  return `${poolPrefix(node, instance, p)}${oid}}`;
}

/**
 * The pool and object a PRIVATE object key of (node, instance) names, or
 * null when `key` is not one (another node's or instance's key, a shared
 * pool's key, a malformed key). The inverse of {@link objectKey}.
 */
export function parseObjectKey(node: string, instance: string, key: string): { persistent: boolean; pool: number; oid: Uint32Array } | null {
  const head = `tmem:{${node}/${instance}:`;
  if (!key.startsWith(head) || !key.endsWith("}")) return null;
  const m = /^([ep])(\d{1,10}):([0-9a-f]{1,48})$/.exec(key.slice(head.length, -1));
  if (m === null) return null;
  const pool = Number(m[2]);
  if (pool > 0xffffffff) return null;
  const hex = m[3]!;
  const oid = new Uint32Array(6);
  for (let w = 0, end = hex.length; end > 0; w++, end -= 8) oid[w] = parseInt(hex.slice(Math.max(0, end - 8), end), 16) >>> 0;
  return { persistent: m[1] === "p", pool, oid };
}

/** The hex form of a tmem Oid (six u32 words, word 0 least significant), leading zeros dropped. */
export function oidHex(oid: Uint32Array): string {
  // Most oids (a frontswap offset, an inode number) fit the low word.
  if (oid.length === 6 && (oid[1]! | oid[2]! | oid[3]! | oid[4]! | oid[5]!) === 0) return (oid[0]! >>> 0).toString(16);
  let s = "";
  for (let i = oid.length - 1; i >= 0; i--) s += (oid[i]! >>> 0).toString(16).padStart(8, "0");
  s = s.replace(/^0+/, "");
  return s === "" ? "0" : s;
}

/** The field of a page index. */
export function pageField(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new TmemError(ErrorCode.EINVAL, `page index ${index}`);
  return String(index);
}

function checksum(payload: Uint8Array, generation: number): number {
  return xxhash32(payload, (generation ^ payload.byteLength) >>> 0);
}

/** Header + payload, ready to HSET. @throws TmemError EINVAL on a bad generation or size */
export function encodeValue(generation: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(generation) || generation < 0 || generation > 0xffffffff) throw new TmemError(ErrorCode.EINVAL, `generation ${generation}`);
  if (payload.byteLength > MAX_PAYLOAD) throw new TmemError(ErrorCode.E2BIG, `payload of ${payload.byteLength} bytes`);
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, VALUE_MAGIC, true);
  dv.setUint32(4, generation, true);
  dv.setUint32(8, payload.byteLength, true);
  dv.setUint32(12, checksum(payload, generation), true);
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Write the header of a value in place: the payload (`length` bytes) is
 * already at `out[at + HEADER_BYTES ..]`, so a batch of pages copied once
 * into one buffer becomes a batch of values without a copy per page (the
 * remotifier's rounds). Returns the value, a view of `out`.
 * @throws TmemError EINVAL on a bad generation, E2BIG on a bad size or a view that does not fit `out`
 */
export function sealValue(out: Uint8Array, at: number, generation: number, length: number): Uint8Array {
  if (!Number.isInteger(generation) || generation < 0 || generation > 0xffffffff) throw new TmemError(ErrorCode.EINVAL, `generation ${generation}`);
  if (!Number.isInteger(length) || length < 0 || length > MAX_PAYLOAD || at < 0 || at + HEADER_BYTES + length > out.byteLength) {
    throw new TmemError(ErrorCode.E2BIG, `value of ${length} bytes at ${at} in ${out.byteLength}`);
  }
  const value = out.subarray(at, at + HEADER_BYTES + length);
  const dv = new DataView(value.buffer, value.byteOffset, HEADER_BYTES);
  dv.setUint32(0, VALUE_MAGIC, true);
  dv.setUint32(4, generation, true);
  dv.setUint32(8, length, true);
  dv.setUint32(12, checksum(value.subarray(HEADER_BYTES), generation), true);
  return value;
}

/** Why a stored value was not accepted. */
export type Rejection = "missing" | "malformed" | "generation" | "checksum";

/**
 * Check a value read from Redis against the generation the local
 * descriptor holds (`undefined`: accept any generation, for a shared
 * pool read by a node that has no descriptor). Returns the payload (a view
 * into `value`) and its generation, or why it is rejected.
 */
export function decodeValue(value: Uint8Array | null | undefined, generation: number | undefined):
  { payload: Uint8Array; generation: number } | { rejected: Rejection } {
  if (value === null || value === undefined) return { rejected: "missing" };
  if (value.byteLength < HEADER_BYTES) return { rejected: "malformed" };
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (dv.getUint32(0, true) !== VALUE_MAGIC) return { rejected: "malformed" };
  const gen = dv.getUint32(4, true);
  const len = dv.getUint32(8, true);
  if (len !== value.byteLength - HEADER_BYTES) return { rejected: "malformed" };
  if (generation !== undefined && gen !== generation >>> 0) return { rejected: "generation" };
  const payload = value.subarray(HEADER_BYTES);
  if (checksum(payload, gen) !== dv.getUint32(12, true)) return { rejected: "checksum" };
  return { payload, generation: gen };
}

/** Latency samples in a ring; percentiles on demand. */
export class LatencyRing {
  private readonly buf: Float64Array;
  private n = 0;
  constructor(capacity = 4096) { this.buf = new Float64Array(capacity); }
  /** Record one round trip, in microseconds. */
  add(us: number): void { this.buf[this.n++ % this.buf.length] = us; }
  /** The p-th percentile (0..100) of the kept samples, in µs; 0 with no samples. */
  percentile(p: number): number {
    const k = Math.min(this.n, this.buf.length);
    if (k === 0) return 0;
    const s = this.buf.slice(0, k).sort();
    return s[Math.min(k - 1, Math.floor((p / 100) * k))]!;
  }
}
