// SPDX-License-Identifier: MIT
/**
 * cache/keyv-entry.ts: the `tmem/keyv` entry point (re-exports only): the
 * Keyv storage adapter KeyvTmem, and TmemCache and PhysicalMemory to make
 * the cache it stores into.
 * @module
 */
export { KeyvTmem } from "./keyv.js";
export type { KeyvTmemOptions } from "./keyv.js";
export { TmemCache } from "./cache.js";
export type { TmemCacheOptions, TmemCacheHandle, TmemCacheStats } from "./cache.js";
export { PhysicalMemory } from "../../bindings/physmem.js";
