// SPDX-License-Identifier: MIT
/**
 * tmem/debug: the debug build of the wasm core, for finding bugs.
 *
 * Importing this entry makes `build: "debug"` available:
 *
 *   import "tmem/debug";
 *   const pm = await PhysicalMemory.create({ frames: 4096, build: "debug" });
 *
 * The debug core checks the allocators' and the tmem index's invariants
 * with assertions (a failed one throws TmemError EINVAL naming the place);
 * it is slower than the release core. Without this import the
 * package carries (and downloads, in a browser bundle) the release core
 * only, and asking for `build: "debug"` is a TmemError ENOTSUP that says to
 * import this entry.
 * @module
 */
import { DEBUG_WASM_BYTES } from "../bindings/wasm-debug.js";

/** True once this entry is loaded: `build: "debug"` is available in this thread. */
export const debugBuildLoaded: boolean = DEBUG_WASM_BYTES > 0;

/** Size of the debug wasm core in bytes. */
export { DEBUG_WASM_BYTES };
