// SPDX-License-Identifier: MIT
//
// zcache_layout.ts: the layout of a zcache instance's state frame (one 4 KiB
// frame of u32 words) and of the pampd meta word, declared once for both
// languages.
//
// The frame is read and written by src/zcache.ts (configuration, rare-event
// counters, stats) and by tmem_zcache.ts (the per-page counters, from wasm).
// assembly/index.ts exports every constant below as a `layout_*` global, and
// scripts/gen-layout.mjs turns them into bindings/layout.generated.ts, so the
// TypeScript side imports these names instead of retyping them.
//
//   word 0..9      configuration: magic, maxZsize, max pool %, accept %, LRU
//                  domain, ephemeral and persistent zpool ids, reached-full,
//                  acceleration, name length
//   word 10..19    the zpool type name (ZC_W_NAME_MAX = 40 bytes)
//   word 20..23    the remote tier; the built-in driver and its two pool ids
//   word 32+9..12  shared rare-event counters: compress_poor, pool_limit_hit,
//                  reject_alloc_fail, evicted
//   word 256 + client × 16   one cache line per client (48 clients):
//                  { ephemeral pages, persistent pages, ephemeral zbytes,
//                    persistent zbytes, ephemeral puts, persistent puts,
//                    ephemeral rejects, persistent rejects, gets, frees,
//                    same-filled, unused × 5 }
//
// The pampd meta word: length (bits 0..12) │ SAME (13) │ PERSIST (14) │ client << 16.
//
// Concurrency: constants only.
//
// See also: tmem_zcache.ts, src/zcache.ts.

/** "ZCAC": marks an initialised state frame (word ZC_W_MAGIC). */
// @ts-ignore: decorator
@inline export const ZC_MAGIC: u32 = 0x5a434143;
// @ts-ignore: decorator
@inline export const ZC_W_MAGIC: u32 = 0;
// @ts-ignore: decorator
@inline export const ZC_W_MAXZ: u32 = 1;
// @ts-ignore: decorator
@inline export const ZC_W_MAXPCT: u32 = 2;
// @ts-ignore: decorator
@inline export const ZC_W_ACCEPT: u32 = 3;
// @ts-ignore: decorator
@inline export const ZC_W_DOMAIN: u32 = 4;
// @ts-ignore: decorator
@inline export const ZC_W_EPH: u32 = 5;
// @ts-ignore: decorator
@inline export const ZC_W_PERS: u32 = 6;
// @ts-ignore: decorator
@inline export const ZC_W_FULL: u32 = 7;
// @ts-ignore: decorator
@inline export const ZC_W_ACCEL: u32 = 8;
// @ts-ignore: decorator
@inline export const ZC_W_NAMELEN: u32 = 9;
// @ts-ignore: decorator
@inline export const ZC_W_NAME: u32 = 10;
/** Bytes of the zpool type name. */
// @ts-ignore: decorator
@inline export const ZC_W_NAME_MAX: u32 = 40;
/** First word of the shared rare-event counters. */
// @ts-ignore: decorator
@inline export const ZC_C: u32 = 32;
// @ts-ignore: decorator
@inline export const ZC_C_POOR: u32 = ZC_C + 9;
// @ts-ignore: decorator
@inline export const ZC_C_LIMIT: u32 = ZC_C + 10;
// @ts-ignore: decorator
@inline export const ZC_C_ALLOCFAIL: u32 = ZC_C + 11;
// @ts-ignore: decorator
@inline export const ZC_C_EVICTED: u32 = ZC_C + 12;
/** First word of the per-client lines. */
// @ts-ignore: decorator
@inline export const ZC_CLIENTS: u32 = 256;
// @ts-ignore: decorator
@inline export const ZC_MAX_CLIENTS: u32 = 48;
/** Words per client line (64 bytes: one cache line). */
// @ts-ignore: decorator
@inline export const ZC_CW: u32 = 16;
// Words of a client line.
// @ts-ignore: decorator
@inline export const ZC_K_EPH: u32 = 0;
// @ts-ignore: decorator
@inline export const ZC_K_PERS: u32 = 1;
// @ts-ignore: decorator
@inline export const ZC_K_EPH_Z: u32 = 2;
// @ts-ignore: decorator
@inline export const ZC_K_PERS_Z: u32 = 3;
// @ts-ignore: decorator
@inline export const ZC_K_EPH_PUTS: u32 = 4;
// @ts-ignore: decorator
@inline export const ZC_K_PERS_PUTS: u32 = 5;
// @ts-ignore: decorator
@inline export const ZC_K_EPH_REJ: u32 = 6;
// @ts-ignore: decorator
@inline export const ZC_K_PERS_REJ: u32 = 7;
// @ts-ignore: decorator
@inline export const ZC_K_GETS: u32 = 8;
// @ts-ignore: decorator
@inline export const ZC_K_FREES: u32 = 9;
// @ts-ignore: decorator
@inline export const ZC_K_SAME: u32 = 10;
// The pampd meta word.
// @ts-ignore: decorator
@inline export const ZC_LEN_MASK: u32 = 0x1fff;
// @ts-ignore: decorator
@inline export const ZC_META_SAME: u32 = 1 << 13;
// @ts-ignore: decorator
@inline export const ZC_META_PERSIST: u32 = 1 << 14;
/**
 * The page's bytes are remote (RAMster): pampd lo = the remote copy's
 * generation, hi = 1 persistent / 0 ephemeral, length bits = compressed length.
 */
// @ts-ignore: decorator
@inline export const ZC_META_REMOTE: u32 = 1 << 15;
// The remote tier's words (tmem_remote.ts, src/zcache.ts, src/ramster/).
/** The ramster instance + 1 that holds this zcache's remote pages (0: none). */
// @ts-ignore: decorator
@inline export const ZC_W_REMOTE: u32 = 20;
/** First remote counter: pages and bytes per kind, cumulative moves. */
// @ts-ignore: decorator
@inline export const ZC_R: u32 = 48;
// @ts-ignore: decorator
@inline export const ZC_R_EPH: u32 = ZC_R;
// @ts-ignore: decorator
@inline export const ZC_R_PERS: u32 = ZC_R + 1;
// @ts-ignore: decorator
@inline export const ZC_R_EPH_Z: u32 = ZC_R + 2;
// @ts-ignore: decorator
@inline export const ZC_R_PERS_Z: u32 = ZC_R + 3;
/** Pages made remote (cumulative). */
// @ts-ignore: decorator
@inline export const ZC_R_REMOTIFIED: u32 = ZC_R + 4;
/** Remote pages brought home (cumulative). */
// @ts-ignore: decorator
@inline export const ZC_R_HOME: u32 = ZC_R + 5;
/** Remote pages freed (flush, overwrite, exclusive get; cumulative). */
// @ts-ignore: decorator
@inline export const ZC_R_FREES: u32 = ZC_R + 6;
/** Loads served from the remote tier; loads of a remote page that missed or failed (src/zcache.ts counts both). */
// @ts-ignore: decorator
@inline export const ZC_R_HITS: u32 = ZC_R + 7;
// @ts-ignore: decorator
@inline export const ZC_R_MISSES: u32 = ZC_R + 8;
/** Bytes of one take record (assembly/tmem.ts tmem_take_lru: TAKE_RECORD). */
// @ts-ignore: decorator
@inline export const ZC_TAKE_RECORD: u32 = 64;
// The built-in drivers the wasm store and load reach (tmem_zcache.ts's driver table).
/** Which driver's ops the wasm calls for this zcache's zpools: ZC_DRV_* (0: a JavaScript driver, the generic path). */
// @ts-ignore: decorator
@inline export const ZC_W_DRIVER: u32 = 21;
/** The ephemeral and persistent zpools' backend pool ids (what the driver's zs_* / zbud_* entry points take). */
// @ts-ignore: decorator
@inline export const ZC_W_BE_EPH: u32 = 22;
// @ts-ignore: decorator
@inline export const ZC_W_BE_PERS: u32 = 23;
/** A driver written in JavaScript: src/zcache.ts stores through the zpool API (PamBackend's generic path). */
// @ts-ignore: decorator
@inline export const ZC_DRV_JS: u32 = 0;
/** zsmalloc (assembly/zsmalloc.ts). */
// @ts-ignore: decorator
@inline export const ZC_DRV_ZSMALLOC: u32 = 1;
/** zbud (assembly/zbud.ts). */
// @ts-ignore: decorator
@inline export const ZC_DRV_ZBUD: u32 = 2;
// Results of tmem_zcache_store: what the put did (src/tmem/ops.ts PutResult), one code each.
/** Stored; no older copy existed. */
// @ts-ignore: decorator
@inline export const ZC_PUT_NEW: i32 = 0;
/** Stored; the older copy was replaced (or flushed first to make room). */
// @ts-ignore: decorator
@inline export const ZC_PUT_REPLACED: i32 = 1;
/** noReplace and a copy existed: kept, nothing stored. */
// @ts-ignore: decorator
@inline export const ZC_PUT_EXISTS: i32 = 2;
/** Not stored, and no copy of the key remains (none existed). */
// @ts-ignore: decorator
@inline export const ZC_PUT_REJECTED: i32 = 3;
/** Not stored, and the older copy that existed was flushed. */
// @ts-ignore: decorator
@inline export const ZC_PUT_REJECTED_FLUSHED: i32 = 4;
// Results of tmem_zcache_load beside a negative status (-E_BADMSG, -E_BUSY, -E_INVAL).
/** Not there. */
// @ts-ignore: decorator
@inline export const ZC_GET_MISS: i32 = 0;
/** There: the page is in the I/O slot. */
// @ts-ignore: decorator
@inline export const ZC_GET_HIT: i32 = 1;
/** There, but its bytes are remote: the OutRecord {generation, hi, meta, pin} is the caller's to finish. */
// @ts-ignore: decorator
@inline export const ZC_GET_REMOTE: i32 = 2;

if (ZC_W_DRIVER <= ZC_W_REMOTE || ZC_W_BE_PERS >= ZC_C) ERROR("zcache driver words overlap");
if (ZC_W_REMOTE < ZC_W_NAME + ZC_W_NAME_MAX / 4 || ZC_W_REMOTE >= ZC_C) ERROR("zcache remote word overlaps");
if (ZC_R <= ZC_C_EVICTED || ZC_R_MISSES >= ZC_CLIENTS) ERROR("zcache remote counters overlap");
if ((ZC_META_REMOTE & (ZC_LEN_MASK | ZC_META_SAME | ZC_META_PERSIST | 0xff0000)) != 0) ERROR("REMOTE must be a free meta bit");
if (ZC_C_EVICTED >= ZC_CLIENTS) ERROR("zcache counters overlap the client lines");
if (ZC_W_NAME + ZC_W_NAME_MAX / 4 > ZC_C) ERROR("zcache name overlaps the counters");
if (ZC_CLIENTS + ZC_MAX_CLIENTS * ZC_CW > 1024) ERROR("zcache client lines overflow the state frame");
