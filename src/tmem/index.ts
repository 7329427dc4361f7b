// SPDX-License-Identifier: MIT
/**
 * tmem/index.ts: the tmem core's public surface (re-exports only): the core
 * API, the backend interface and registry, the PAM base class and the raw
 * backend. The frontends and zcache are exported from ../index.ts.
 * @module
 */
export {
  TmemCore, GetMode, oidFrom, newOid, uuidWords, TMEM_POOL_PERSIST, TMEM_POOL_SHARED, TMEM_MAX_POOLS, TMEM_MAX_DOMAINS,
  TMEM_DESC_SIZE,
} from "./core.js";
export type { Oid, OidLike, UuidLike, FreePampd, NewPoolOptions, PoolInfo, CoreStats } from "./core.js";
export { registerBackendType, registeredBackendTypes, openBackend } from "./ops.js";
export type { TmemBackend, BackendType, PoolSpec, PutResult } from "./ops.js";
export { PamBackend } from "./pam.js";
export { RawBackend } from "./raw.js";
export type { RawBackendOptions, RawBackendStats } from "./raw.js";
export { registerBuiltinBackends } from "./builtins.js";
export { MAX_INSTANCES, MAX_CHAIN, MAX_FS, MAX_SWAP_TYPES } from "./shared.js";
