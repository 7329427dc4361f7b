// SPDX-License-Identifier: MIT
/**
 * tmem: transcendent memory for JavaScript. The package entry point; it only
 * re-exports.
 * @module
 */
export { PhysicalMemory } from "../bindings/physmem.js";
export type { PhysicalMemoryOptions, PhysicalMemoryHandle, PhysicalMemoryStats, Pfn } from "../bindings/physmem.js";
export { TmemError, ErrorCode } from "../bindings/status.js";
export { Owner, PAGE_SIZE, DEFAULT_FRAMES, DEFAULT_MAX_WORKERS, MAX_WORKERS } from "../bindings/layout.js";
export { compileCore } from "../bindings/wasm.js";
export type { Build } from "../bindings/wasm.js";
export * from "./zpool/index.js";
export * from "./lz4/index.js";
export * from "./tmem/index.js";
export { Zcache } from "./zcache.js";
export type { ZcacheOptions, ZcacheStats, ZcacheClientStats } from "./zcache.js";
export { Cleancache, FAKE_FS_POOLID_OFFSET, FAKE_SHARED_FS_POOLID_OFFSET } from "./cleancache.js";
export type { CleancacheCounters } from "./cleancache.js";
export { Frontswap } from "./frontswap.js";
export type { FrontswapCounters, FrontswapWriteback, UnregisterOptions } from "./frontswap.js";
