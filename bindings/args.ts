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
