// SPDX-License-Identifier: MIT
//
// zcache_drivers.ts: the built-in zpool drivers' operations as zcache's wasm
// half reaches them (tmem_zcache.ts's store and load, tmem_remote.ts's
// remotify and bring-home): malloc, free, map, unmap, compact of zsmalloc and
// zbud, and the two pool ids of a zcache, read from its state frame.
//
// A small table of driver operations, reached by a switch on the driver id in
// the state frame (ZC_W_DRIVER): zsmalloc and zbud, the two drivers whose
// code is in the wasm core. A switch rather than call_indirect: two entries,
// each inlined into its caller, so a store pays one compare instead of an
// indirect call per operation. A zcache on a driver written in JavaScript
// (ZC_DRV_JS) never calls these: src/zcache.ts stores through the zpool API.
//
// It is not a driver (zsmalloc.ts and zbud.ts are) and exports nothing to the
// host: assembly/index.ts does not re-export it.
//
// Concurrency: as the drivers' entry points (each takes its own locks).
//
// See also: zcache_layout.ts (ZC_W_DRIVER, ZC_W_BE_EPH, ZC_W_BE_PERS, ZC_DRV_*),
// src/zpool/driver.ts (ZpoolBackend.wasmDriver), src/zcache.ts.

import { E_NOMEM, E_BUSY, E_INVAL } from "./common";
import { ZC_W_DRIVER, ZC_W_BE_EPH, ZC_W_BE_PERS, ZC_DRV_ZSMALLOC, ZC_DRV_ZBUD } from "./zcache_layout";
import { zs_malloc, zs_free, zs_map_object, zs_unmap_object, zs_last_error, zs_compact } from "./zsmalloc";
import { zbud_alloc, zbud_free, zbud_map_address, zbud_unmap, zbud_mapped } from "./zbud";

/** The built-in driver (ZC_DRV_*) of the zcache whose state frame is `st`. */
// @ts-ignore: decorator
@inline export function driverOf(st: usize): u32 {
  return load<u32>(st + (<usize>ZC_W_DRIVER << 2));
}

/** The backend pool id of this zcache's persistent or ephemeral zpool. */
// @ts-ignore: decorator
@inline export function zpoolOf(st: usize, persistent: bool): u32 {
  return load<u32>(st + (<usize>(persistent ? ZC_W_BE_PERS : ZC_W_BE_EPH) << 2));
}

/** malloc: a handle (> 0), or -E_NOMEM (no frame), -E_NOSPC (too big for the driver), -E_INVAL. */
// @ts-ignore: decorator
@inline export function drvMalloc(drv: u32, zp: u32, size: u32): i32 {
  if (drv == ZC_DRV_ZBUD) return zbud_alloc(zp, size);
  if (drv != ZC_DRV_ZSMALLOC) return -E_INVAL;
  const h = zs_malloc(zp, size);
  return h == 0 ? -E_NOMEM : h;
}

/** free: 0, or a negative status (nothing changed). */
// @ts-ignore: decorator
@inline export function drvFree(drv: u32, zp: u32, handle: u32): i32 {
  if (drv == ZC_DRV_ZBUD) return zbud_free(zp, handle);
  if (drv != ZC_DRV_ZSMALLOC) return -E_INVAL;
  return zs_free(zp, handle);
}

/** map: the object's address, 0 on failure (drvMapBusy tells why). */
// @ts-ignore: decorator
@inline export function drvMap(drv: u32, zp: u32, handle: u32, mode: u32): usize {
  if (drv == ZC_DRV_ZBUD) return zbud_map_address(zp, handle);
  if (drv != ZC_DRV_ZSMALLOC) return 0;
  return zs_map_object(zp, handle, mode);
}

// @ts-ignore: decorator
@inline export function drvUnmap(drv: u32, zp: u32, handle: u32): void {
  if (drv == ZC_DRV_ZBUD) zbud_unmap(zp, handle);
  else zs_unmap_object(zp, handle);
}

/** After a failed drvMap: whether it failed because this instance has an object mapped already. */
// @ts-ignore: decorator
@inline export function drvMapBusy(drv: u32): bool {
  return drv == ZC_DRV_ZBUD ? zbud_mapped() != 0 : zs_last_error() == -E_BUSY;
}

/** Free frames that freed objects left partly used (zsmalloc compacts; zbud frees a frame with its last buddy). */
// @ts-ignore: decorator
@inline export function drvCompact(drv: u32, zp: u32): void {
  if (drv == ZC_DRV_ZSMALLOC) zs_compact(zp);
}
