// SPDX-License-Identifier: MIT
/**
 * cache/keyv.ts: KeyvTmem, a Keyv storage adapter over a {@link TmemCache},
 * so that Keyv (5.x) and cache-manager (7.x, whose stores are Keyv
 * instances) can keep their values compressed in shared memory under a hard
 * byte budget, one cache for every Worker.
 *
 * What it is not: not a serializer. Keyv serializes `{ value, expires }` to
 * a string before it calls the store, and checks `expires` itself on read;
 * this adapter stores what it is given (a string, or bytes) and gives the
 * same back. It imports nothing from keyv at run time: it implements the
 * adapter's shape (get, set with a TTL in ms, delete, clear, has, getMany,
 * setMany, deleteMany, hasMany, iterator, disconnect, and `on` for 'error').
 *
 * Key idea: Keyv prefixes keys with its namespace (`ns:key`) and sets the
 * store's `namespace` property; `clear` and `iterator` honour it by that
 * prefix, so several Keyv instances (and namespaces) share one TmemCache.
 * The TTL Keyv passes goes to the cache, which frees the entry's memory
 * when it expires (Keyv's own `expires` check still applies on read).
 *
 * Guarantee: every method resolves or rejects; a value of another type than
 * string or bytes rejects with a TypeError and stores nothing. Keyv 5
 * wires `keyv.iterator()` only to stores of a fixed list of dialects
 * (sqlite, redis, ...), so with this adapter iterate with
 * `store.iterator(namespace)` directly.
 *
 * Concurrency: as TmemCache: any Worker, any time; adapters in several
 * Workers over one cache see one set of keys.
 *
 * See also: cache.ts, ../../test/keyv.test.ts (the unmodified
 * @keyv/test-suite), ../../examples/cache-manager.ts.
 *
 * @module
 */
import type { CacheValue, TmemCache } from "./cache.js";

type Listener = (...args: unknown[]) => void;

/** Options of {@link KeyvTmem}. */
export interface KeyvTmemOptions {
  /** Namespace (Keyv sets it; usually leave unset). */
  namespace?: string;
}

/** A Keyv storage adapter keeping values in a TmemCache. */
export class KeyvTmem {
  /** The cache the values live in. */
  readonly cache: TmemCache;
  /** Keyv reads `opts`; `dialect` names this store. */
  readonly opts: { dialect: string; url: string; [k: string]: unknown };
  /** The namespace Keyv sets; clear() and iterator() act on keys `namespace:…` only. */
  namespace?: string;
  private readonly listeners = new Map<string, Listener[]>();

  /** @param cache - a TmemCache (one may serve many adapters and Workers). */
  constructor(cache: TmemCache, options: KeyvTmemOptions = {}) {
    if (typeof cache !== "object" || cache === null || typeof (cache as { get?: unknown }).get !== "function") {
      throw new TypeError("KeyvTmem: a TmemCache is required");
    }
    this.cache = cache;
    this.opts = { dialect: "tmem", url: "tmem://" };
    if (options.namespace !== undefined) this.namespace = options.namespace;
  }

  // ── the event emitter Keyv expects ('error') ──

  /** Add a listener. */
  on(event: string, listener: Listener): this {
    const l = this.listeners.get(event) ?? [];
    l.push(listener);
    this.listeners.set(event, l);
    return this;
  }

  /** Remove a listener. */
  off(event: string, listener: Listener): this {
    const l = this.listeners.get(event);
    if (l !== undefined) this.listeners.set(event, l.filter((x) => x !== listener));
    return this;
  }

  /** Call the listeners of `event`; returns whether there were any. */
  emit(event: string, ...args: unknown[]): boolean {
    const l = this.listeners.get(event);
    if (l === undefined || l.length === 0) return false;
    for (const f of l) f(...args);
    return true;
  }

  // ── the adapter ──

  /** The stored value, or undefined. */
  async get(key: string): Promise<CacheValue | undefined> {
    return this.cache.get(key);
  }

  /** Values of `keys`, undefined where missing. */
  async getMany(keys: string[]): Promise<Array<CacheValue | undefined>> {
    return this.cache.getMany(keys);
  }

  /**
   * Store `value` under `key`; `ttl` in ms (undefined or 0: none).
   * @throws TypeError (rejects) for a value that is not a string or bytes.
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.cache.set(key, value as CacheValue, ttl !== undefined && ttl > 0 ? { ttl } : undefined);
    return true;
  }

  /** Store each `{ key, value, ttl }`; all are checked before the first is stored. */
  async setMany(values: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    this.cache.setMany(values.map((e) => [e.key, e.value as CacheValue, e.ttl !== undefined && e.ttl > 0 ? { ttl: e.ttl } : undefined] as const));
  }

  /** Remove `key`; resolves whether it was there. */
  async delete(key: string): Promise<boolean> {
    return this.cache.delete(key);
  }

  /** Remove `keys`; resolves whether any was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    return this.cache.deleteMany(keys) > 0;
  }

  /** Whether `key` is there. */
  async has(key: string): Promise<boolean> {
    return this.cache.has(key);
  }

  /** has() of each key. */
  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((k) => this.cache.has(k));
  }

  /** Remove the keys of this namespace (`namespace:…`), or every key when no namespace is set. */
  async clear(): Promise<void> {
    if (this.namespace === undefined || this.namespace === "") { this.cache.clear(); return; }
    const prefix = `${this.namespace}:`;
    const mine: string[] = [];
    for (const k of this.cache.keys()) if (typeof k === "string" && k.startsWith(prefix)) mine.push(k);
    this.cache.deleteMany(mine);
  }

  /** [key, value] of the keys of `namespace` (all string keys when none), most recently used first. */
  async *iterator(namespace?: string): AsyncGenerator<[string, CacheValue], void> {
    const prefix = namespace !== undefined && namespace !== "" ? `${namespace}:` : "";
    for (const k of this.cache.keys()) {
      if (typeof k !== "string" || !k.startsWith(prefix)) continue;
      const v = this.cache.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  /** Nothing to disconnect: the cache stays for others (close it with cache.close()). */
  async disconnect(): Promise<void> {}
}
