// SPDX-License-Identifier: MIT
/**
 * zpool/index.ts: the zpool API's public surface (re-exports only): pools,
 * the driver registry, the driver contract and the built-in drivers.
 * @module
 */
export { createPool, createPoolSync, openPool, listPools, Zpool, MAX_POOLS } from "./zpool.js";
export type { ZpoolOptions, DestroyOptions, PoolListing } from "./zpool.js";
export {
  registerDriver, registerDriverLoader, unregisterDriver, registeredDrivers, driverRefs,
} from "./registry.js";
export type { DriverLoader, DriverModule } from "./registry.js";
export type { ZpoolDriver, ZpoolBackend, ZpoolDriverOptions, ZpoolStats, ZpoolHandle, MapMode, EvictFn } from "./driver.js";
export { zbudDriver, ZbudBackend, ZBUD_MAX_SIZE } from "./drivers/zbud.js";
export type { ZbudStats } from "./drivers/zbud.js";
export { zsmallocDriver, ZsmallocBackend } from "./drivers/zsmalloc.js";
export type { ZsmallocStats, ZsClassStats } from "./drivers/zsmalloc.js";
