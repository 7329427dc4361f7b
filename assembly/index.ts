// SPDX-License-Identifier: MIT
//
// index.ts: the wasm module's exports, and nothing else.
//
// Export names carry the subsystem prefix and mirror the kernel's entry points
// (pm_/frame_ for physical memory, lz4_, zs_, zbud_, tmem_), so one grep joins
// the TypeScript, the AssemblyScript and the kernel's documentation. Each
// subsystem file keeps its logic; this file only re-exports it under the ABI
// names that bindings/ relies on. Every export returns a status code or a
// value: none traps on a recoverable condition.

import { CTRL_BASE, LAYOUT_ABI } from "./common";
import { mutexLock, mutexTryLock, mutexUnlock } from "./lock";

export {
  pmFormat as pm_format, pmAttach as pm_attach, pmDetach as pm_detach,
  pmAttached as pm_attached, pmScratch as pm_scratch,
  frameAlloc as frame_alloc, frameFree as frame_free, frameOwner as frame_owner,
  framesUsed as frame_used, framesOwned as frame_owned, framesOwnedAll as frame_owned_all,
} from "./frames";

/** End of static data: everything the host lays out must start above it. */
export function pm_heap_base(): usize {
  return __heap_base;
}

/** Address of the control block (a layout constant the host checks). */
export function pm_ctrl_base(): usize {
  return CTRL_BASE;
}

/** Acquire the mutex word at `addr` (tests and host-side critical sections). */
export function lock_acquire(addr: usize): void {
  mutexLock(addr);
}

/** Try to acquire the mutex word at `addr`; 1 if acquired, 0 if held elsewhere. */
export function lock_try(addr: usize): i32 {
  return mutexTryLock(addr) ? 1 : 0;
}

/** Release the mutex word at `addr`, held by the caller. */
export function lock_release(addr: usize): void {
  mutexUnlock(addr);
}

/**
 * A read-only static table ("tmem" and the layout ABI). It exists so the
 * module always has a data segment, and the tests can check that segments are
 * copied once per memory (by __init_data), never by a later instantiation.
 */
const STATIC_PROBE = memory.data<u8>([0x74, 0x6d, 0x65, 0x6d, <u8>LAYOUT_ABI, 0, 0, 0]);

/** Address of the static probe table (8 bytes). */
export function pm_static_probe(): usize {
  return STATIC_PROBE;
}

/** No-op: the floor of a JS→wasm call, for bench/. */
export function pm_nop(): void {}

// Subsystems export their own entry points under their ABI names.
export * from "./lz4";
export { lz4_compress_hc } from "./lz4hc";
export * from "./zsmalloc";
export * from "./zbud";
export * from "./tmem";
