// SPDX-License-Identifier: MIT
//
// tmem.ts: placeholder; its owner replaces this file. Wasm exports defined here
// (export function tmem_...) reach the module through `export *` in index.ts.

/** Placeholder export so the module has a body. */
export function tmem_present(): i32 {
  return 1;
}
