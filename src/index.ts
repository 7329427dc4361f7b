// SPDX-License-Identifier: MIT
/**
 * tmem: transcendent memory for JavaScript. The package entry point; it only
 * re-exports, and only what the README documents:
 *
 *   physical memory   PhysicalMemory (create / attach / detach / stats), its
 *                     option and handle types, PAGE_SIZE and the limits
 *   errors            TmemError with a stable .code, ErrorCode
 *   zpool             createPool and the driver registry (also "tmem/zpool")
 *   LZ4               frames, streams, the block codec (also "tmem/lz4")
 *   backend           Zcache
 *   frontends         Frontswap ("tmem/frontswap"), Cleancache ("tmem/cleancache")
 *
 * What it does not export: the tmem core (TmemCore, PamBackend, RawBackend,
 * the backend-type registry), the wasm loader and the frame owner tags. They
 * are internals whose shape changes with the store protocol; the tests
 * import them from their source paths. The debug wasm build is its own
 * entry, "tmem/debug", so this one embeds the release build only.
 * @module
 */
export { PhysicalMemory } from "../bindings/physmem.js";
export type { PhysicalMemoryOptions, PhysicalMemoryHandle, PhysicalMemoryStats, Pfn, WorkerSlot, AttachOptions } from "../bindings/physmem.js";
export { TmemError, ErrorCode } from "../bindings/status.js";
export { PAGE_SIZE, DEFAULT_FRAMES, DEFAULT_MAX_WORKERS, MAX_WORKERS } from "../bindings/layout.js";
export type { Build } from "../bindings/wasm.js";
export * from "./zpool/index.js";
export * from "./lz4/index.js";
export { Zcache } from "./zcache.js";
export type { ZcacheOptions, ZcacheStats, ZcacheClientStats, ZcacheRemoteStats } from "./zcache.js";
export { Ramster } from "./ramster/backend.js";
export type { RamsterOptions, RamsterStats, RemotifierStats } from "./ramster/backend.js";
export type { RemotifyOptions } from "./ramster/remotifier.js";
export type { StoreOptions, RemoteStats, RedisTarget } from "./ramster/store.js";
export type { ChannelHandle } from "./ramster/channel.js";
export { Cleancache } from "./cleancache.js";
export type { CleancacheCounters, FsId } from "./cleancache.js";
export { Frontswap } from "./frontswap.js";
export type { FrontswapCounters, FrontswapWriteback, UnregisterOptions, SwapType } from "./frontswap.js";
export { startSupervised, adoptSupervised, attachSupervised } from "./workers.js";
export type { Supervised, SupervisedAttach, WorkerLike } from "./workers.js";
