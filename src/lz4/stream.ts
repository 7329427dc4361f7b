// SPDX-License-Identifier: MIT
/**
 * stream.ts: LZ4 frames as Web Streams: a compressing and a decompressing
 * `TransformStream<Uint8Array, Uint8Array>`, for `pipeThrough` in browsers,
 * Deno and Node (globalThis.TransformStream, Node ≥ 18).
 *
 * What it is not: no new format logic: both are thin adapters over
 * {@link FrameEncoder} and {@link FrameDecoder} (frame.ts), so a stream
 * and the one-shot functions produce and accept exactly the same bytes.
 *
 * Key idea: the codec is created asynchronously in the stream's `start`, so
 * every `transform` is synchronous work on whatever chunk arrives; output is
 * enqueued block by block, so memory stays around one block (up to 4 MiB,
 * 8 MiB for a legacy frame) plus the linked-mode window, whatever the
 * stream's length.
 *
 * Errors: a malformed, truncated or corrupted input errors the readable side
 * with TmemError EBADMSG (E2BIG past the decoder's `maxOutput`); bad options
 * throw EINVAL from the factory at once. A non-Uint8Array chunk errors with EINVAL.
 *
 * Thread safety: a stream belongs to the thread that made it.
 *
 * See also: frame.ts, test/lz4-frame.test.ts.
 * @module
 */
import { lz4Ready } from "../../bindings/lz4.js";
import { type FrameDecodeOptions, type FrameOptions, FrameDecoder, FrameEncoder, checkFrameDecodeOptions, checkFrameOptions } from "./frame.js";

/**
 * A TransformStream that compresses its input into one LZ4 frame.
 * @param options - frame options; `contentSize` must be the exact byte count
 *   (or false): a stream does not know its length in advance.
 * @throws TmemError EINVAL at once for bad options.
 */
export function createCompressStream(options?: FrameOptions): TransformStream<Uint8Array, Uint8Array> {
  let enc: FrameEncoder | undefined;
  checkFrameOptions(options); // a bad option throws from the factory, not later from the stream
  return new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      enc = new FrameEncoder(await lz4Ready(), options);
    },
    transform(chunk, controller) {
      for (const part of enc!.push(chunk)) controller.enqueue(part);
    },
    flush(controller) {
      for (const part of enc!.finish()) controller.enqueue(part);
    },
  });
}

/**
 * A TransformStream that decodes LZ4 frames (concatenated frames are joined,
 * skippable frames skipped, legacy frames read) into their content.
 * Memory per stream is bounded by one block of output (≤ 4 MiB; 8 MiB for
 * legacy frames) plus one block of input and the 64 KiB linked-mode window,
 * whatever the total: chunks are enqueued as each block completes.
 * @param options - `maxOutput`: the stream errors with TmemError E2BIG when
 *   the content would pass it (default: no limit).
 * @throws TmemError EINVAL at once for bad options.
 */
export function createDecompressStream(options?: FrameDecodeOptions): TransformStream<Uint8Array, Uint8Array> {
  let dec: FrameDecoder | undefined;
  checkFrameDecodeOptions(options); // a bad option throws from the factory, not later from the stream
  return new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      dec = new FrameDecoder(await lz4Ready(), options);
    },
    transform(chunk, controller) {
      for (const part of dec!.push(chunk)) controller.enqueue(part);
    },
    flush() {
      dec!.finish();
    },
  });
}
