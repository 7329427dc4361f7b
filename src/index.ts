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
