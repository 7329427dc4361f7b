// SPDX-License-Identifier: MIT
//
// zbud.ts: placeholder; its owner replaces this file. Wasm exports defined here
// (export function zbud_...) reach the module through `export *` in index.ts.

/** Placeholder export so the module has a body. */
export function zbud_present(): i32 {
  return 1;
}
