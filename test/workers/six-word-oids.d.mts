import type { CoreExports } from "../../bindings/wasm.js";

/** The tmem core's exports with the object-id ones taking six words again, as the raw tests spell keys. */
export type SixWordCore = Omit<CoreExports, "tmem_put" | "tmem_get" | "tmem_flush_page" | "tmem_flush_object"> & {
  tmem_put(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number, index: number,
           lo: number, hi: number, meta: number, noReplace: number): number;
  tmem_get(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number, index: number, mode: number): number;
  tmem_flush_page(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number, index: number): number;
  tmem_flush_object(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number, max: number): number;
};

/**
 * `pm.core` with tmem_put, tmem_get, tmem_flush_page and tmem_flush_object
 * taking the object id as six words: each call writes them into this
 * thread's call record and passes its address.
 */
export function sixWordOids(pm: { readonly core: CoreExports; readonly memory: WebAssembly.Memory }): SixWordCore;
