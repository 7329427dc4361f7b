// SPDX-License-Identifier: MIT
/**
 * tmem/builtins.ts: registers the built-in backend types ("zcache",
 * "tmem-raw") in this thread, so the frontends can open instances that
 * other Workers made. The frontends call it when they are first used; it is a
 * function, not an import side effect, so no bundler can drop it.
 * @module
 */
import { registerBackendType, registeredBackendTypes } from "./ops.js";
import { RawBackend } from "./raw.js";
import { Zcache } from "../zcache.js";

/** Register "zcache" and "tmem-raw" in this thread unless they already are. Idempotent. */
export function registerBuiltinBackends(): void {
  const have = registeredBackendTypes();
  if (!have.includes("zcache")) registerBackendType({ type: "zcache", open: (pm, i) => Zcache.open(pm, i) });
  if (!have.includes("tmem-raw")) registerBackendType({ type: "tmem-raw", open: (pm, i) => RawBackend.open(pm, i) });
}
