// SPDX-License-Identifier: MIT
//
// zsmalloc.ts: placeholder; its owner replaces this file. Wasm exports defined here
// (export function zsmalloc_...) reach the module through `export *` in index.ts.

/** Placeholder export so the module has a body. */
export function zsmalloc_present(): i32 {
  return 1;
}
