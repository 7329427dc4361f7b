// SPDX-License-Identifier: MIT
/**
 * args.ts: argument checks every layer shares at its public boundary, made
 * with the engine's own accessors so that a caller cannot fake them.
 *
 * What it is: the one place that decides what a "page" argument is. A page
 * is a real `Uint8Array` (or subclass, such as a Node `Buffer`) of exactly
 * 4096 bytes that is NOT a view into the physical memory itself.
 *
 * Key idea: `page.length` and `page.byteLength` are properties a caller can
 * shadow on the object (`Object.defineProperty(u8, "length", { value: 4096 })`
 * on a 16-byte array passed the old check and stored the previous page's
 * bytes). The `%TypedArray%.prototype` getters read the internal slots
 * instead, and throw on anything that is not a typed array, so they are what
 * we call. A view into `pm.memory.buffer` is refused because the store and
 * load paths copy through this Worker's scratch and write compressed data
 * into frames of the same memory: a destination that aliases a zsmalloc data
 * frame overwrote compressed pages (issue 9). Copy the page out first.
 *
 * The same holds for byte arrays of any size (LZ4 input and output, cache
 * keys and values): {@link byteArrayLength} reads the internal length and
 * refuses an array whose `length` property says something else, so code that
 * goes on to use `x.length` or `x.subarray` sees the real bytes.
 *
 * Concurrency: pure functions.
 *
 * See also: status.ts (the errors), src/frontswap.ts, src/cleancache.ts, src/tmem/pam.ts.
 *
 * @module
 */
import { ErrorCode, TmemError } from "./status.js";

const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const getter = (name: string): ((this: unknown) => unknown) =>
  Object.getOwnPropertyDescriptor(typedArrayProto, name)!.get as (this: unknown) => unknown;
const byteLengthOf = getter("byteLength");
const bufferOf = getter("buffer");
const tagOf = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag)!.get as (this: unknown) => unknown;

/** Bytes of a page. */
const PAGE = 4096;

function refuse(what: string, why: string): never {
  throw new TmemError(ErrorCode.EINVAL, `${what} must be a Uint8Array of ${PAGE} bytes outside the physical memory: ${why}`);
}

/**
 * Check that `p` is a page argument: a genuine Uint8Array of exactly 4096
 * bytes (by its internal byte length, not a property the caller can fake)
 * whose buffer is not `memoryBuffer`.
 * @param what - the argument's name, for the message ("page", "into").
 * @throws TmemError EINVAL otherwise.
 * Thread safety: pure.
 */
export function checkPage(p: unknown, memoryBuffer: ArrayBufferLike, what: string): asserts p is Uint8Array {
  let tag: unknown, len: unknown, buf: unknown;
  try {
    tag = tagOf.call(p);
    len = byteLengthOf.call(p);
    buf = bufferOf.call(p);
  } catch {
    refuse(what, `got ${p === null ? "null" : typeof p}`);
  }
  if (tag !== "Uint8Array") refuse(what, `got a ${String(tag ?? typeof p)}`);
  if (len !== PAGE) refuse(what, `it has ${String(len)} bytes`);
  if (buf === memoryBuffer) refuse(what, "it is a view into the physical memory itself");
}

/**
 * Check that `x` is a genuine Uint8Array (or subclass such as Buffer; not a
 * Proxy, not another typed-array kind) whose `length` and `byteLength` are
 * not shadowed by the caller, and return its internal byte length. A view
 * of a detached buffer is refused too.
 * @param what - the argument's name, for the message.
 * @returns the array's real length in bytes.
 * @throws TmemError EINVAL otherwise.
 * Thread safety: pure.
 */
export function byteArrayLength(x: unknown, what: string): number {
  let tag: unknown, len: unknown;
  try {
    tag = tagOf.call(x);
    len = byteLengthOf.call(x);
  } catch {
    throw new TmemError(ErrorCode.EINVAL, `${what} must be a Uint8Array, not ${x === null ? "null" : typeof x}`);
  }
  if (tag !== "Uint8Array") throw new TmemError(ErrorCode.EINVAL, `${what} must be a Uint8Array, not a ${String(tag ?? typeof x)}`);
  if (len === 0) {
    // A view of a detached (transferred) buffer reads as empty, but copying from it throws a raw TypeError.
    try {
      new Uint8Array(bufferOf.call(x) as ArrayBuffer, 0, 0);
    } catch {
      throw new TmemError(ErrorCode.EINVAL, `${what} is a view of a detached ArrayBuffer`);
    }
  }
  const u = x as Uint8Array;
  if (u.length !== len || u.byteLength !== len) {
    throw new TmemError(ErrorCode.EINVAL, `${what} claims ${String(u.length)} bytes but has ${String(len)} (a faked length)`);
  }
  return len as number;
}

/**
 * The buffer of typed array `x`, read through the engine's getter (a
 * shadowed `buffer` property cannot hide a view of the physical memory).
 * @throws TypeError if x is not a typed array.
 * Thread safety: pure.
 */
export function bufferOfView(x: Uint8Array): ArrayBufferLike {
  return bufferOf.call(x) as ArrayBufferLike;
}

/**
 * Check that `oid` is a genuine six-word Uint32Array on a live buffer (tag
 * and byte length through the engine's getters: a 2-word array, a detached
 * one, another typed-array kind or a Proxy is refused, where reading its
 * words would silently name object 0), and return its buffer.
 * @throws TmemError EINVAL otherwise.
 * Thread safety: pure.
 */
export function checkOid(oid: unknown): ArrayBufferLike {
  let tag: unknown, len: unknown, buf: unknown;
  try {
    tag = tagOf.call(oid);
    len = byteLengthOf.call(oid);
    buf = bufferOf.call(oid);
  } catch {
    throw new TmemError(ErrorCode.EINVAL, `an object id must be a Uint32Array of 6 words, not ${oid === null ? "null" : typeof oid}`);
  }
  if (tag !== "Uint32Array" || len !== 24) {
    throw new TmemError(ErrorCode.EINVAL,
      `an object id must be a Uint32Array of 6 words, not a ${String(tag)} of ${String(len)} bytes${len === 0 ? " (detached?)" : ""}`);
  }
  return buf as ArrayBufferLike;
}
