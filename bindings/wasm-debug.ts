// SPDX-License-Identifier: MIT
/**
 * wasm-debug.ts: the debug build of the wasm core, as its own module, so
 * that only a program that asks for it carries its bytes.
 *
 * What it is: importing this module registers the debug wasm (built with
 * `--use TMEM_DEBUG=1`: every `if (DEBUG) assert(...)` in assembly/ is live)
 * with bindings/wasm.ts, after which `PhysicalMemory.create({ build: "debug" })`
 * and `createLz4({ build: "debug" })` work. What it is not: a different API;
 * the debug core has the same exports as the release core.
 *
 * Key idea: the library chunk embeds the release wasm only; the package
 * entry "tmem/debug" (src/debug.ts) imports this file, so esbuild puts the
 * debug bytes in that entry's chunk and nowhere else.
 *
 * Concurrency: registration is per thread (per module instance of
 * bindings/wasm.ts). A Worker does not need it to attach: it receives the
 * compiled Module in the handle.
 *
 * See also: bindings/wasm.ts (compileCore), scripts/build-wasm.mjs.
 * @module
 */
import { wasmBase64 } from "./wasm-debug.generated.js";
import { registerDebugBuild } from "./wasm.js";

registerDebugBuild(wasmBase64);

/** Size of the debug wasm in bytes (as embedded). */
export const DEBUG_WASM_BYTES: number = Math.floor((wasmBase64.length * 3) / 4) - (wasmBase64.endsWith("==") ? 2 : wasmBase64.endsWith("=") ? 1 : 0);
