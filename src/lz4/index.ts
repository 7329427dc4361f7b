// SPDX-License-Identifier: MIT
/**
 * lz4: the public LZ4 API of tmem: the wasm block codec for JS arrays and
 * physical memory, the frame format, Web Streams and xxHash32. Re-exports only.
 * @module
 */
export {
  Lz4Codec, createLz4, lz4Ready, compressBound, compressPhysical, decompressPhysical,
  MAX_BLOCK_INPUT, LZ4_WINDOW, MAX_ACCELERATION, LZ4_MAX_INPUT_SIZE, MIN_LEVEL, HC_MIN_LEVEL, MAX_LEVEL,
} from "../../bindings/lz4.js";
export type { CompressBlockOptions, DecompressBlockOptions, DecompressSize } from "../../bindings/lz4.js";
export {
  compressFrame, decompressFrame, compressFrameSync, decompressFrameSync, FrameEncoder, FrameDecoder,
  LZ4_FRAME_MAGIC, LZ4_SKIPPABLE_MAGIC, LZ4_LEGACY_MAGIC, LEGACY_BLOCK_SIZE, DEFAULT_MAX_OUTPUT, BLOCK_SIZES,
} from "./frame.js";
export type { FrameOptions, FrameDecodeOptions, BlockSizeId } from "./frame.js";
export { createCompressStream, createDecompressStream } from "./stream.js";
export { xxhash32, XxHash32 } from "./xxhash32.js";
