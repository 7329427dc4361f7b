// SPDX-License-Identifier: MIT
/**
 * registry.ts: the zpool driver registry, the kernel's zpool_register_driver
 * / zpool_get_driver / zpool_put_driver in TypeScript.
 *
 * What it is: a per-thread table from a driver type name ("zbud", "zsmalloc")
 * to a {@link ZpoolDriver}, with a reference count of the pools this thread
 * holds on each driver. It is not shared between Workers: drivers are code,
 * and code cannot live in a SharedArrayBuffer. Every thread registers the
 * built-in drivers (zbud at once, zsmalloc lazily) when this module loads;
 * a user's driver must be registered in each Worker that opens its pools.
 *
 * Key idea (seed 001, Andrew Morton's "racy against unregister" review): a
 * lookup and its reference are one step, {@link acquireDriver}, so a driver
 * can never be unregistered between the lookup and the pool's creation.
 * Unregistering a driver with references fails with EBUSY instead of
 * pulling code from under live pools. A lazily registered driver (the
 * kernel's request_module("zpool-<type>")) is loaded by the first acquire;
 * concurrent acquires share that one load and the reference is taken before
 * the load starts, so unregister cannot slip in while it runs.
 *
 * Guarantee: an unknown type is ENODEV with a message naming the known
 * types; a failed lazy load is ENODEV carrying the cause and is retried by
 * the next acquire.
 *
 * Concurrency: one JS thread per registry, so no locks; "race-free" means
 * across interleaved async callers (awaits), not across Workers.
 *
 * See also: driver.ts (the contract), zpool.ts (createPool takes and destroy
 * drops the references), ../../test/registry.test.ts.
 *
 * @module
 */
import { ErrorCode, TmemError, argCheck } from "../../bindings/status.js";
import type { ZpoolDriver } from "./driver.js";
import { zbudDriver } from "./drivers/zbud.js";

/** What a lazy loader may resolve to: the driver, or a module that exports it. */
export type DriverModule = ZpoolDriver | { readonly [name: string]: unknown };

/** A lazy loader, e.g. `() => import("./drivers/zsmalloc.js")`. */
export type DriverLoader = () => Promise<DriverModule>;

interface Entry {
  type: string;
  driver: ZpoolDriver | undefined;
  loader: DriverLoader | undefined;
  loading: Promise<ZpoolDriver> | undefined;
  /** Pools (and loads in flight) of this thread that hold the driver. */
  refs: number;
}

const entries = new Map<string, Entry>();

function isDriver(x: unknown): x is ZpoolDriver {
  const d = x as Partial<ZpoolDriver> | null;
  return typeof d === "object" && d !== null && typeof d.type === "string" &&
    typeof d.create === "function" && typeof d.open === "function";
}

function checkType(type: unknown): asserts type is string {
  argCheck(typeof type === "string" && type.length >= 1 && type.length <= 40 && /^[\x21-\x7e]+$/.test(type),
    `driver type must be 1 to 40 printable ASCII characters, not ${JSON.stringify(type)}`);
}

/**
 * Register `driver` under `driver.type`. Replaces a lazy loader of the same
 * type that has not been loaded yet.
 * @throws TmemError EINVAL for something that is not a driver; EEXIST when a
 *   driver of that type is already registered.
 * Thread safety: per thread; register a user driver in every Worker that uses it.
 */
export function registerDriver(driver: ZpoolDriver): void {
  argCheck(isDriver(driver), "registerDriver needs { type, create, open }");
  checkType(driver.type);
  const e = entries.get(driver.type);
  if (e !== undefined && (e.driver !== undefined || e.loading !== undefined)) {
    throw new TmemError(ErrorCode.EEXIST, `a zpool driver "${driver.type}" is already registered`);
  }
  entries.set(driver.type, { type: driver.type, driver, loader: undefined, loading: undefined, refs: e?.refs ?? 0 });
}

/**
 * Register a driver lazily: `loader` runs on the first {@link acquireDriver}
 * (first createPool or openPool) of `type`, once, however many callers race.
 * It may resolve to the driver or to a module exporting it.
 * @throws TmemError EINVAL for a bad type or loader; EEXIST when `type` is taken.
 */
export function registerDriverLoader(type: string, loader: DriverLoader): void {
  checkType(type);
  argCheck(typeof loader === "function", "registerDriverLoader needs a function returning a promise");
  if (entries.has(type)) throw new TmemError(ErrorCode.EEXIST, `a zpool driver "${type}" is already registered`);
  entries.set(type, { type, driver: undefined, loader, loading: undefined, refs: 0 });
}

/**
 * Unregister the driver (or loader) of `type`.
 * @throws TmemError ENOENT when none is registered; EBUSY while this thread
 *   holds pools of it (or is loading it): destroy or close them first.
 */
export function unregisterDriver(type: string): void {
  checkType(type);
  const e = entries.get(type);
  if (e === undefined) throw new TmemError(ErrorCode.ENOENT, `no zpool driver "${type}" is registered`);
  if (e.refs > 0) {
    throw new TmemError(ErrorCode.EBUSY, `zpool driver "${type}" is in use by ${e.refs} pool(s) of this thread`);
  }
  entries.delete(type);
}

/** The registered driver types, sorted (lazy ones included). */
export function registeredDrivers(): string[] {
  return [...entries.keys()].sort();
}

/** References this thread holds on `type`'s driver (0 when unknown). */
export function driverRefs(type: string): number {
  return entries.get(type)?.refs ?? 0;
}

function unknown(type: string, what: string): TmemError {
  const known = registeredDrivers();
  return new TmemError(ErrorCode.ENODEV,
    `${what}: no zpool driver "${type}" is registered in this thread (known: ${known.length ? known.join(", ") : "none"})`);
}

function resolveModule(type: string, m: DriverModule): ZpoolDriver {
  if (isDriver(m) && m.type === type) return m;
  for (const v of Object.values(m)) if (isDriver(v) && v.type === type) return v;
  throw new TmemError(ErrorCode.ENODEV, `the loader of zpool driver "${type}" returned no driver of that type`);
}

/**
 * Look up `type` and take a reference on its driver, loading it first if it
 * was registered lazily. Pair with {@link releaseDriver}.
 * @param what - the operation, for error messages ("createPool").
 * @throws TmemError ENODEV for an unknown type (the message names the known
 *   ones) or a failed load (the message carries the cause).
 */
export async function acquireDriver(type: string, what = "acquireDriver"): Promise<ZpoolDriver> {
  checkType(type);
  const e = entries.get(type);
  if (e === undefined) throw unknown(type, what);
  e.refs++;
  if (e.driver !== undefined) return e.driver;
  try {
    if (e.loading === undefined) {
      const loader = e.loader!;
      e.loading = (async () => resolveModule(type, await loader()))();
    }
    const d = await e.loading;
    e.driver = d;
    return d;
  } catch (err) {
    e.loading = undefined;
    e.refs--;
    if (err instanceof TmemError) throw err;
    throw new TmemError(ErrorCode.ENODEV, `${what}: loading zpool driver "${type}" failed: ${String(err)}`);
  }
}

/**
 * The driver of `type` if it is registered and loaded, taking a reference;
 * undefined when it is unknown or not loaded yet (no load is started).
 */
export function acquireDriverSync(type: string): ZpoolDriver | undefined {
  const e = entries.get(type);
  if (e === undefined || e.driver === undefined) return undefined;
  e.refs++;
  return e.driver;
}

/** Drop a reference taken by {@link acquireDriver}. */
export function releaseDriver(type: string): void {
  const e = entries.get(type);
  if (e !== undefined && e.refs > 0) e.refs--;
}

// ══ Built-in drivers ══
// zbud is registered at once; zsmalloc lazily, as the kernel loads
// "zpool-zsmalloc" on first use, so it costs nothing until a pool needs it.
// The specifier is a literal so bundlers (esbuild, vite) include the driver.

registerDriver(zbudDriver);
registerDriverLoader("zsmalloc", () => import("./drivers/zsmalloc.js") as Promise<DriverModule>);
