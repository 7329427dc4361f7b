// SPDX-License-Identifier: MIT
/**
 * cache/index.ts: the `tmem/cache` entry point (re-exports only): TmemCache,
 * a compressed cache of any values with a hard byte budget and TTL, shared
 * by every Worker attached to one physical memory, and PhysicalMemory to make
 * one. The Keyv store is `tmem/keyv` (keyv.ts).
 * @module
 */
export {
  TmemCache, CACHE_FRAME_OWNER, DEFAULT_MAX_KEY_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, LOCK_TIMEOUT_MS,
} from "./cache.js";
export type {
  CacheKey, CacheValue, TmemCacheOptions, TmemCacheAttachOptions, SetOptions, TmemCacheHandle, TmemCacheStats, TmemCacheEvictions,
} from "./cache.js";
export { PhysicalMemory } from "../../bindings/physmem.js";
export { TmemError } from "../../bindings/status.js";
