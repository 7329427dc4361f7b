// SPDX-License-Identifier: MIT
// Test support: a zpool driver written in JavaScript, over a built-in one.
// zcache stores through the built-in drivers' wasm ops in one call; a driver
// a user writes in JavaScript takes the generic path instead (PamBackend in
// src/tmem/pam.ts: prepare, malloc, map, copy, put, account through the zpool
// API). Wrapping zsmalloc or zbud keeps every byte where the built-in driver
// puts it but hides its wasm marker, so the generic path runs on the same
// allocator and a test can compare the two paths.
import type { ZpoolBackend, ZpoolDriver } from "../src/zpool/driver.js";
import { registerDriver, registeredDrivers } from "../src/zpool/index.js";
import { zsmallocDriver } from "../src/zpool/drivers/zsmalloc.js";
import { zbudDriver } from "../src/zpool/drivers/zbud.js";

/** Every call of `b`, delegated by closures: no `wasmDriver`, so zcache sees a JavaScript driver. */
function wrap(b: ZpoolBackend): ZpoolBackend {
  return {
    id: b.id,
    malloc: (size) => b.malloc(size),
    free: (handle) => b.free(handle),
    map: (handle, mode) => b.map(handle, mode),
    unmap: (handle) => b.unmap(handle),
    shrink: (pages) => b.shrink(pages),
    compact: () => b.compact(),
    totalSize: () => b.totalSize(),
    stats: () => b.stats(),
    destroy: () => b.destroy(),
  };
}

function jsDriver(type: string, inner: ZpoolDriver): ZpoolDriver {
  return {
    type,
    create: (pm, options) => wrap(inner.create(pm, options)),
    open: (pm, id, options) => wrap(inner.open(pm, id, options)),
  };
}

/**
 * Register "zsmalloc-js" and "zbud-js" in this thread (once): the built-in
 * allocators behind a JavaScript driver. Returns their names.
 */
export function registerJsDrivers(): { zsmalloc: string; zbud: string } {
  const have = registeredDrivers();
  if (!have.includes("zsmalloc-js")) registerDriver(jsDriver("zsmalloc-js", zsmallocDriver));
  if (!have.includes("zbud-js")) registerDriver(jsDriver("zbud-js", zbudDriver));
  return { zsmalloc: "zsmalloc-js", zbud: "zbud-js" };
}
