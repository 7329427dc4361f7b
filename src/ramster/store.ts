// SPDX-License-Identifier: MIT
/**
 * store.ts: the remote store of one tmem node: puts, gets and flushes of
 * already-compressed pages in Redis (standalone, primary + replicas, or
 * Redis Cluster), with the safety rules of the remote tier. It runs inside
 * the ramster helper Worker (helper.ts), which is its only caller.
 *
 * What it is not: not the local index (the backend's descriptors are the
 * authority on what exists; this module never decides that a page exists)
 * and not a cache: it keeps no copy of any page.
 *
 * Key ideas:
 * - Per-object FIFO (RAMster's remote-op list, "out-of-order puts/flushes
 *   can cause strange race conditions"): every command that writes an
 *   object's HASH waits until the previous one on that key has settled, so
 *   a flush can never be overtaken by an older put, also across a
 *   reconnect or a Cluster redirection. Different objects pipeline freely:
 *   a batch's pages of one object go in ONE multi-field HSET, and on a
 *   standalone server the whole batch goes in ONE pipeline (one socket
 *   write; it waits for the earlier writes of every key it touches).
 * - Persistent pages are only reported "ok" (the caller may then free its
 *   local copy) when the server's policy is `noeviction` AND `WAIT` says at
 *   least `minReplicas` replicas have the write, or the node opted in to a
 *   single point of failure by name (`allowSinglePointOfFailure`). Anything
 *   else is "unreplicated"/"refused" and the written copy is deleted again
 *   (generation-checked, in the FIFO): the page stays local.
 * - Ephemeral pages may vanish (allkeys-lru): a missing, stale (wrong
 *   generation) or corrupt value, a timeout or a dead server is a miss.
 *   For a persistent page each of those is an error (EIO lost, ETIMEDOUT,
 *   ENOTCONN), after trying the replicas: never a miss, never bytes.
 * - Fail fast: no offline queue, no retries inside the client, a command
 *   timeout. `failuresToDown` consecutive failures mark the tier down
 *   (shared flag, so callers skip it without a round trip); a PING every
 *   `downRetryMs` brings it back.
 * - A put whose reply was lost may still have been applied ("maybe
 *   remote"): the caller keeps the page local, and the store sends a
 *   generation-checked delete behind it so no orphan is left when the
 *   server comes back.
 *
 * Accounting per node: remote pages and bytes (as acknowledged, minus
 * flushes and pages brought home; pages an LRU server evicts are counted
 * until a get misses them), puts, gets, hits, misses, failures, timeouts,
 * round-trip p50/p99 (µs), pages brought home.
 *
 * Concurrency: one instance per helper Worker, driven by its event loop.
 *
 * See also: protocol.ts (keys, value header), helper.ts, channel.ts,
 * remote.md §3, test/ramster-store.test.ts.
 *
 * @module
 */
import type { Redis, Cluster, RedisOptions } from "ioredis";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import {
  checkName, decodeValue, encodeValue, HEADER_BYTES, LatencyRing, objectKey, pageField, poolPrefix, type PoolRef,
} from "./protocol.js";

/** Where the remote tier lives. */
export type RedisTarget = string | { cluster: Array<{ host: string; port: number }> };

/** Options of the remote store (given to `Ramster.create` / the helper's init). */
export interface StoreOptions {
  /** `redis://host:port` of a primary, or `{ cluster: [...] }` seed nodes. */
  redis: RedisTarget;
  /** Replicas of a standalone primary, read when the primary fails (`redis://host:port`). */
  replicas?: string[];
  /** This node's name: the key namespace. 1..64 of [A-Za-z0-9_.-]. */
  node: string;
  /** This process's instance id (a new random one by default, so a restart never reads an old life's pages). */
  instance?: string;
  /** Per-command timeout, ms. @defaultValue 1500 */
  commandTimeoutMs?: number;
  /** Replicas `WAIT` must confirm before a persistent page counts as remote. @defaultValue 1 */
  minReplicas?: number;
  /**
   * `WAIT` timeout, ms (at most 2/3 of `commandTimeoutMs`, so WAIT answers
   * first). Measured here: a replica fresh from its first sync sometimes
   * takes 0.6-0.9 s to acknowledge; later acks take about a millisecond.
   * @defaultValue 1000
   */
  waitTimeoutMs?: number;
  /** Let persistent pages be remote-only with fewer replicas than `minReplicas` (RAMster's single point of failure). @defaultValue false */
  allowSinglePointOfFailure?: boolean;
  /** Consecutive failures (errors, timeouts) that mark the tier down. @defaultValue 3 */
  failuresToDown?: number;
  /** While down, probe with PING this often, ms. @defaultValue 500 */
  downRetryMs?: number;
}

/** One page of a put. `data` is the compressed page as stored locally. */
export interface PutItem {
  pool: PoolRef;
  /** Object id, hex (protocol.oidHex). */
  oid: string;
  index: number;
  /** The local descriptor's generation; checked on every load. */
  gen: number;
  data: Uint8Array;
  /** The whole value (header + `data`), already sealed with `gen` (protocol.sealValue); made from `data` when absent. */
  value?: Uint8Array;
}

/**
 * Outcome of one page of a put: only "ok" lets the caller drop its local
 * copy. "full": the server refused (OOM under noeviction); "timeout" and
 * "down": not known to be stored; "unreplicated": fewer replicas than
 * required; "refused": a persistent page and a server that may evict;
 * "error": any other failure.
 */
export type PutOutcome = "ok" | "full" | "timeout" | "down" | "unreplicated" | "refused" | "error";

/** A get. `gen` undefined accepts any generation (a shared pool read from another node). */
export interface GetArgs {
  pool: PoolRef;
  oid: string;
  index: number;
  gen?: number;
  /** Delete the remote copy with the read (bring the page home). */
  free?: boolean;
}

/** A flush of a page (`index` given) or of a whole object. `pages`/`bytes`: what the caller's descriptors say is remote, for accounting. */
export interface FlushArgs {
  pool: PoolRef;
  oid: string;
  index?: number;
  /** With `index`: delete only if the stored copy has this generation (a late flush never removes a newer put). */
  gen?: number;
  pages?: number;
  bytes?: number;
}

/** Per-node counters of the remote tier, as `stats()` shows them. */
export interface RemoteStats {
  /** This node's name (the key namespace). */
  node: string;
  /** This process's instance id (keys of an earlier life never match). */
  instance: string;
  /** Whether the tier is marked down now (failures in a row; a PING brings it back). */
  down: boolean;
  /** Pages this store acknowledged and did not see flushed or brought home (pages, now; the overflow backend's). */
  remotePages: number;
  /** Their payload bytes (bytes, now). */
  remoteBytes: number;
  /** put calls (batches; cumulative). */
  puts: number;
  /** Pages acknowledged by put (cumulative). */
  putPages: number;
  /** Pages a put did not store: refused, unreplicated, full, timed out, down (cumulative). */
  putFailures: number;
  /** get calls (cumulative). */
  gets: number;
  /** gets that returned the page (cumulative). */
  hits: number;
  /** gets that found no copy with the asked generation (cumulative). */
  misses: number;
  /** Of those: a copy was there but stale (another generation) or corrupt (cumulative). */
  staleOrCorrupt: number;
  /** gets that failed on the primary and every replica (cumulative). */
  getFailures: number;
  /** gets served by a replica after the primary failed (cumulative). */
  replicaReads: number;
  /** Commands that timed out (cumulative). */
  timeouts: number;
  /** flush and drop commands (cumulative). */
  flushes: number;
  /** Of those, failed ones: the copy may be left behind, unreachable by generation (cumulative). */
  flushFailures: number;
  /** Pages read and deleted in one step (the overflow backend's get-and-free; cumulative). */
  broughtHome: number;
  /** The last failure of a WAIT, for diagnosis ("" if none). */
  lastWaitError: string;
  /** Round trip of this store's commands, median of the last 4096, µs. */
  rttP50us: number;
  /** The same, 99th percentile, µs. */
  rttP99us: number;
}

type Client = Redis | Cluster;
type IoRedis = typeof import("ioredis");

/**
 * Load the client at run time, not at bundle time: ioredis is an optional
 * peer dependency (only ramster users need it), resolved from the
 * application's node_modules. The specifier goes through a parameter so the
 * bundler leaves the import alone.
 */
async function loadClient(spec = "ioredis"): Promise<IoRedis> {
  try {
    return (await import(spec)) as IoRedis;
  } catch (e) {
    throw new TmemError(ErrorCode.ENOTSUP, `ramster needs the '${spec}' package (npm install ${spec}@6.0.0): ${(e as Error).message}`);
  }
}

// KEYS[1] object, ARGV[1] field: the value, and the field deleted (bring home).
const GET_AND_FREE = `local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v`;
// KEYS[1] object, ARGV pairs (field, generation): delete each field whose stored
// generation (bytes 4..7 of the value, little-endian) is that generation.
const DEL_IF_GEN = `local n = 0
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.len(v) >= 8 and struct.unpack('<I4', v, 5) == tonumber(ARGV[i + 1]) then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n`;

// KEYS[1] object, ARGV generations: delete every field whose stored value
// carries one of them (a batch flush whose page indexes the caller does not know).
const DEL_GENS = `local want = {}
for i = 1, #ARGV do want[tonumber(ARGV[i])] = true end
local n = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = all[i + 1]
  if string.len(v) >= 8 and want[struct.unpack('<I4', v, 5)] then n = n + redis.call('HDEL', KEYS[1], all[i]) end
end
return n`;

// KEYS[1] object: the (field, generation) pairs of its values, flat (the orphan sweep
// reads generations without moving the pages over the network).
const FIELD_GENS = `local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = all[i + 1]
  if string.len(v) >= 8 then out[#out + 1] = all[i]; out[#out + 1] = struct.unpack('<I4', v, 5) end
end
return out`;

/** A generation-exact delete: `oid` undefined = anywhere in the pool, `index` undefined = anywhere in the object. */
export interface DropArgs {
  pool: PoolRef;
  oid?: string;
  index?: number;
  gens: number[];
}

function kindOf(e: unknown): "timeout" | "down" | "full" | "error" {
  const m = String((e as Error)?.message ?? e);
  if (/timed? ?out/i.test(m)) return "timeout";
  if (/^OOM|OOM command/i.test(m)) return "full";
  // A server's own error reply: only the cluster/loading states mean "not reachable now".
  if ((e as Error)?.name === "ReplyError") return /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY)/.test(m) ? "down" : "error";
  // Anything the client says (closed, refused, slots cache, redirections, retries): not reachable now.
  return "down";
}

/**
 * The value to store for `it`: its sealed `value` when it carries one that
 * matches (header generation and length), else one encoded from `data`.
 */
function valueOf(it: PutItem): Uint8Array {
  const v = it.value;
  if (v !== undefined && v.byteLength === HEADER_BYTES + it.data.byteLength
      && new DataView(v.buffer, v.byteOffset, HEADER_BYTES).getUint32(4, true) === it.gen >>> 0) return v;
  return encodeValue(it.gen, it.data);
}

function randomInstance(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The remote store of one node. Create with {@link RemoteStore.connect}.
 * Thread safety: one event loop (the helper Worker's).
 */
export class RemoteStore {
  readonly node: string;
  readonly instance: string;
  private readonly o: Required<Omit<StoreOptions, "replicas" | "instance">>;
  private readonly client: Client;
  private readonly replicas: Redis[];
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly rtt = new LatencyRing();
  private consecutive = 0;
  private down = false;
  private probe: ReturnType<typeof setInterval> | undefined;
  private noeviction = false;
  private readonly onDown: (down: boolean) => void;
  private readonly s: Omit<RemoteStats, "node" | "instance" | "down" | "rttP50us" | "rttP99us" | "lastWaitError"> = {
    remotePages: 0, remoteBytes: 0, puts: 0, putPages: 0, putFailures: 0, gets: 0, hits: 0, misses: 0,
    staleOrCorrupt: 0, getFailures: 0, replicaReads: 0, timeouts: 0, flushes: 0, flushFailures: 0, broughtHome: 0,
  };

  private readonly isCluster: boolean;
  private lastWaitError = "";

  private constructor(io: IoRedis, o: StoreOptions, onDown: (down: boolean) => void) {
    checkName("node", o.node);
    this.node = o.node;
    this.instance = o.instance ?? randomInstance();
    checkName("instance", this.instance);
    this.o = {
      redis: o.redis, node: o.node, commandTimeoutMs: o.commandTimeoutMs ?? 1500, minReplicas: o.minReplicas ?? 1,
      // WAIT must answer before the client's own command timeout fires
      waitTimeoutMs: Math.max(1, Math.min(o.waitTimeoutMs ?? 1000, Math.floor(((o.commandTimeoutMs ?? 1500) * 2) / 3))), allowSinglePointOfFailure: o.allowSinglePointOfFailure ?? false,
      failuresToDown: o.failuresToDown ?? 3, downRetryMs: o.downRetryMs ?? 500,
    };
    this.onDown = onDown;
    const common: RedisOptions = {
      lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false,
      commandTimeout: this.o.commandTimeoutMs, connectTimeout: Math.max(1000, this.o.commandTimeoutMs),
      retryStrategy: (times: number) => Math.min(50 * times, 500),
    };
    if (typeof o.redis === "string") {
      this.client = new io.Redis(o.redis, common);
    } else {
      const { retryStrategy: _r, enableOfflineQueue: _q, ...redisOptions } = common;
      this.client = new io.Cluster(o.redis.cluster, {
        redisOptions, enableOfflineQueue: false, lazyConnect: true, maxRedirections: 16,
        retryDelayOnFailover: 100, retryDelayOnClusterDown: 100, clusterRetryStrategy: (t: number) => Math.min(100 * t, 1000),
      });
    }
    this.isCluster = typeof o.redis !== "string";
    this.replicas = (o.replicas ?? []).map((u) => new io.Redis(u, { ...common, readOnly: true }));
    for (const c of [this.client, ...this.replicas]) c.on("error", () => { /* counted where a command fails */ });
    this.client.defineCommand("tmemGetAndFree", { numberOfKeys: 1, lua: GET_AND_FREE });
    this.client.defineCommand("tmemDelIfGen", { numberOfKeys: 1, lua: DEL_IF_GEN });
    this.client.defineCommand("tmemDelGens", { numberOfKeys: 1, lua: DEL_GENS });
    this.client.defineCommand("tmemFieldGens", { numberOfKeys: 1, lua: FIELD_GENS });
  }

  /**
   * Connect and read the server's eviction policy.
   * @throws TmemError ENOTCONN when the primary (or no cluster node) answers.
   */
  static async connect(o: StoreOptions, onDown: (down: boolean) => void = () => {}): Promise<RemoteStore> {
    const st = new RemoteStore(await loadClient(), o, onDown);
    try {
      await st.client.connect();
      await Promise.all(st.replicas.map((r) => r.connect().catch(() => { /* a replica may come later */ })));
      await st.readPolicy();
    } catch (e) {
      st.close();
      throw new TmemError(ErrorCode.ENOTCONN, `ramster: cannot reach ${JSON.stringify(o.redis)}: ${(e as Error).message}`);
    }
    return st;
  }

  private async readPolicy(): Promise<void> {
    const nodes: Redis[] = this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
    const infos = await Promise.all(nodes.map((n) => n.info("memory")));
    this.noeviction = infos.length > 0 && infos.every((i) => /maxmemory_policy:noeviction/.test(i));
  }

  /** Close every connection (pending commands fail). */
  close(): void {
    if (this.probe !== undefined) clearInterval(this.probe);
    this.client.disconnect();
    for (const r of this.replicas) r.disconnect();
  }

  private key(pool: PoolRef, oid: string): string {
    return objectKey(this.node, this.instance, pool, oid);
  }

  /** Run `fn` after every earlier write on `key` settled (the per-object FIFO). */
  private inOrder<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.chains.set(key, tail);
    void tail.then(() => { if (this.chains.get(key) === tail) this.chains.delete(key); });
    return run;
  }

  /**
   * Run `fn` once, after every earlier write on each of `keys` settled, and
   * make it the last write of every one of them (a batch that touches many
   * objects keeps each object's FIFO, as {@link inOrder} does for one).
   */
  private inOrderAll<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const prev: Promise<unknown>[] = [];
    for (const k of keys) { const p = this.chains.get(k); if (p !== undefined) prev.push(p); }
    let run: Promise<T>;
    if (prev.length === 0) { try { run = fn(); } catch (e) { run = Promise.reject(e); } } else run = Promise.all(prev).then(fn, fn);
    const tail = run.then(() => {}, () => {});
    for (const k of keys) this.chains.set(k, tail);
    void tail.then(() => { for (const k of keys) if (this.chains.get(k) === tail) this.chains.delete(k); });
    return run;
  }

  private ok(): void {
    this.consecutive = 0;
  }

  private failed(kind: "timeout" | "down" | "full" | "error"): void {
    if (kind === "timeout") this.s.timeouts++;
    if (kind === "full") return; // the server answered: alive, only full
    if (++this.consecutive >= this.o.failuresToDown && !this.down) this.setDown(true);
  }

  private setDown(down: boolean): void {
    this.down = down;
    this.onDown(down);
    if (down && this.probe === undefined) {
      this.probe = setInterval(() => {
        this.client.ping().then(async () => {
          await this.readPolicy();
          this.consecutive = 0;
          if (this.probe !== undefined) clearInterval(this.probe);
          this.probe = undefined;
          this.setDown(false);
        }, () => { /* still down */ });
      }, this.o.downRetryMs);
    }
  }

  private async timed<T>(p: Promise<T>): Promise<T> {
    const t0 = performance.now();
    const v = await p;
    this.rtt.add((performance.now() - t0) * 1000);
    return v;
  }

  /**
   * Store a batch of pages; one outcome per item, in order. Pages of one
   * object go in one HSET, in that object's FIFO; persistent pages then
   * need `WAIT` (see the module essay). Never throws for a remote failure.
   */
  async put(items: PutItem[]): Promise<PutOutcome[]> {
    const out: PutOutcome[] = new Array<PutOutcome>(items.length).fill("error");
    this.s.puts++;
    if (this.down) { out.fill("down"); this.s.putFailures += items.length; return out; }
    const groups = new Map<string, number[]>();
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.pool.persistent && !this.noeviction) { out[i] = "refused"; continue; }
      const k = this.key(it.pool, it.oid);
      let g = groups.get(k);
      if (g === undefined) groups.set(k, (g = []));
      g.push(i);
    }
    // With the single point of failure opted in, no WAIT: the primary's ack is all we ask for.
    const needWait = (k: number[]) => !this.o.allowSinglePointOfFailure && k.some((i) => items[i]!.pool.persistent);
    const isCluster = this.isCluster;
    const hsetArgs = (idx: number[]): [string, ...(string | Buffer)[]] => {
      const args: (string | Buffer)[] = [];
      for (const i of idx) { const v = valueOf(items[i]!); args.push(pageField(items[i]!.index), Buffer.from(v.buffer, v.byteOffset, v.byteLength)); }
      return args as [string, ...(string | Buffer)[]];
    };
    const failedGroup = (key: string, idx: number[], e: unknown): undefined => {
      const k = kindOf(e);
      this.failed(k);
      for (const i of idx) out[i] = k;
      // The write may have been applied (a lost reply): delete it behind, by generation.
      if (k === "timeout" || k === "down" || k === "error") void this.deleteIfGen(key, idx.map((i) => items[i]!));
      return undefined;
    };
    type Written = { key: string; idx: number[]; acks: number } | undefined;
    let written: Written[];
    if (!isCluster) {
      // Standalone: the whole batch in ONE pipeline (one socket write, one burst of replies), one
      // HSET per object, after every earlier write on any of its keys settled (the per-object FIFO).
      const entries = [...groups];
      const argv = entries.map(([, idx]) => hsetArgs(idx)); // a bad item throws here, before anything is sent
      try {
        const res = await this.inOrderAll(entries.map(([key]) => key), () => {
          const pl = this.client.pipeline();
          entries.forEach(([key], j) => pl.hset(key, ...argv[j]!));
          return this.timed(pl.exec());
        });
        written = entries.map(([key, idx], j) => {
          const r = res?.[j];
          if (r === undefined) return failedGroup(key, idx, new Error("pipeline: no reply"));
          return r[0] ? failedGroup(key, idx, r[0]) : { key, idx, acks: -1 };
        });
      } catch (e) {
        written = entries.map(([key, idx]) => failedGroup(key, idx, e));
      }
    } else {
      // Cluster: a pipeline must stay on one node, so one HSET (or HSET + WAIT) per object, each in its FIFO.
      written = await Promise.all([...groups].map(([key, idx]) => this.inOrder(key, async (): Promise<Written> => {
        const args = hsetArgs(idx);
        try {
          if (needWait(idx)) {
            // WAIT must follow the write on the connection of the slot's primary: one pipeline.
            const res = await this.timed(this.client.pipeline()
              .hset(key, ...args).call("WAIT", this.o.minReplicas, this.o.waitTimeoutMs).exec());
            const [e1] = res![0]!; const [e2, acks] = res![1]!;
            if (e1) throw e1;
            if (e2) throw e2;
            return { key, idx, acks: Number(acks) };
          }
          await this.timed(this.client.hset(key, ...args));
          return { key, idx, acks: -1 };
        } catch (e) {
          return failedGroup(key, idx, e);
        }
      })));
    }
    const done = written.filter((w) => w !== undefined);
    // Standalone: one WAIT after every write of the batch covers them all.
    let acks = -1;
    if (!isCluster && done.some((w) => needWait(w.idx))) {
      try {
        acks = Number(await this.timed(this.client.call("WAIT", this.o.minReplicas, this.o.waitTimeoutMs) as Promise<number>));
      } catch (e) {
        this.failed(kindOf(e));
        this.lastWaitError = String((e as Error).message);
        acks = -2;
      }
    }
    for (const w of done) {
      const a = w.acks >= 0 ? w.acks : acks;
      const unsafe: PutItem[] = [];
      for (const i of w.idx) {
        const it = items[i]!;
        if (it.pool.persistent && !this.o.allowSinglePointOfFailure && a < this.o.minReplicas) {
          out[i] = a === -2 ? "timeout" : "unreplicated";
          this.lastWaitError = `acks ${a} < ${this.o.minReplicas}`;
          unsafe.push(it);
        } else {
          out[i] = "ok";
          this.s.remotePages++;
          this.s.remoteBytes += it.data.byteLength;
          this.s.putPages++;
        }
      }
      if (unsafe.length > 0) void this.deleteIfGen(w.key, unsafe);
    }
    this.s.putFailures += out.filter((r) => r !== "ok").length;
    if (done.length > 0) this.ok();
    return out;
  }

  private deleteIfGen(key: string, items: PutItem[]): Promise<void> {
    const argv: string[] = [];
    for (const it of items) argv.push(pageField(it.index), String(it.gen >>> 0));
    return this.inOrder(key, async () => {
      try {
        await (this.client as unknown as { tmemDelIfGen(k: string, ...a: string[]): Promise<number> }).tmemDelIfGen(key, ...argv);
      } catch { this.s.flushFailures++; }
    });
  }

  /**
   * Read one page. Ephemeral: the payload or null (a miss: missing, stale,
   * corrupt, timeout, server down). Persistent: the payload, or a thrown
   * TmemError: EIO when no reachable copy with this generation exists
   * (lost), ETIMEDOUT / ENOTCONN when neither primary nor replicas answer.
   */
  async get(a: GetArgs): Promise<Uint8Array | null> {
    this.s.gets++;
    const key = this.key(a.pool, a.oid);
    const field = pageField(a.index);
    const read = (c: Client) => a.free
      ? (c as unknown as { tmemGetAndFreeBuffer(k: string, f: string): Promise<Buffer | null> }).tmemGetAndFreeBuffer(key, field)
      : c.hgetBuffer(key, field);
    let value: Buffer | null;
    try {
      value = await this.timed(a.free ? this.inOrder(key, () => read(this.client)) : read(this.client));
      this.ok();
    } catch (e) {
      const k = kindOf(e);
      this.failed(k);
      value = null;
      let lastErr: unknown = e;
      let got = false;
      if (!a.free) {
        for (const r of this.replicas) {
          try { value = await this.timed(r.hgetBuffer(key, field)); got = true; this.s.replicaReads++; break; } catch (e2) { lastErr = e2; }
        }
      }
      if (!got) {
        this.s.getFailures++;
        if (!a.pool.persistent) { this.s.misses++; return null; }
        const kk = kindOf(lastErr);
        throw new TmemError(kk === "timeout" ? ErrorCode.ETIMEDOUT : kk === "down" ? ErrorCode.ENOTCONN : ErrorCode.EIO,
          `ramster: persistent page ${key}[${field}] unreachable: ${(lastErr as Error).message}`);
      }
    }
    const d = decodeValue(value, a.gen);
    if ("rejected" in d) {
      if (d.rejected !== "missing") this.s.staleOrCorrupt++;
      this.s.misses++;
      if (a.pool.persistent) throw new TmemError(ErrorCode.EIO, `ramster: persistent page ${key}[${field}] lost remotely (${d.rejected})`);
      return null;
    }
    this.s.hits++;
    if (a.free) {
      this.s.broughtHome++;
      this.s.remotePages = Math.max(0, this.s.remotePages - 1);
      this.s.remoteBytes = Math.max(0, this.s.remoteBytes - d.payload.byteLength);
    }
    return new Uint8Array(d.payload);
  }

  /**
   * Flush a page or an object (HDEL / DEL), in the object's FIFO. Returns
   * the fields or keys removed. A failure is counted, not thrown: the local
   * index already forgot the page, so a left-over copy is unreachable
   * through this node (its generation can never match again).
   */
  async flush(a: FlushArgs): Promise<number> {
    const key = this.key(a.pool, a.oid);
    this.s.flushes++;
    this.s.remotePages = Math.max(0, this.s.remotePages - (a.pages ?? 0));
    this.s.remoteBytes = Math.max(0, this.s.remoteBytes - (a.bytes ?? 0));
    return this.inOrder(key, async () => {
      try {
        const c = this.client as unknown as { tmemDelIfGen(k: string, ...a: string[]): Promise<number> };
        const n = await this.timed(a.index === undefined ? this.client.unlink(key)
          : a.gen !== undefined ? c.tmemDelIfGen(key, pageField(a.index), String(a.gen >>> 0))
          : this.client.hdel(key, pageField(a.index)));
        this.ok();
        return n;
      } catch (e) {
        this.failed(kindOf(e));
        this.s.flushFailures++;
        return 0;
      }
    });
  }

  /**
   * Delete remote copies by generation (never a newer copy of the same
   * key), each object in its FIFO: one field (`index`), the fields of one
   * object, or those of every object of the pool (SCAN on every primary).
   * Failures are counted, not thrown. Returns the fields removed.
   */
  async drop(a: DropArgs): Promise<number> {
    const gens = a.gens.map((g) => String(g >>> 0));
    if (gens.length === 0) return 0;
    this.s.flushes++;
    const one = (key: string): Promise<number> => this.inOrder(key, async () => {
      try {
        const c = this.client as unknown as { tmemDelIfGen(k: string, ...x: string[]): Promise<number>; tmemDelGens(k: string, ...x: string[]): Promise<number> };
        const n = a.index !== undefined && gens.length === 1 ? await c.tmemDelIfGen(key, pageField(a.index), gens[0]!) : await c.tmemDelGens(key, ...gens);
        this.ok();
        return n;
      } catch (e) {
        this.failed(kindOf(e));
        this.s.flushFailures++;
        return 0;
      }
    });
    if (a.oid !== undefined) return one(this.key(a.pool, a.oid));
    // Pool-wide (a flushed or destroyed pool: the caller knows generations, not keys): per key,
    // in its FIFO, read the generations its values carry and delete the wanted ones, so the cost
    // is one pass over the pool's fields, not keys × generations script arguments.
    const want = new Set(gens.map(Number));
    let n = 0;
    try {
      await this.scanKeys(poolPrefix(this.node, this.instance, a.pool), (key) => this.inOrder(key, async () => {
        try {
          const stale = (await this.fieldGens(key)).filter(([, g]) => want.has(g));
          if (stale.length > 0) { const d = await this.delIfGen(key, stale); n += d; }
          this.ok();
        } catch (e) {
          this.failed(kindOf(e));
          this.s.flushFailures++;
        }
      }));
    } catch { this.s.flushFailures++; }
    return n;
  }

  /** SCAN every primary for the keys starting with `prefix`; `onKey` runs for each key of a batch concurrently, awaited before the next batch. */
  private async scanKeys(prefix: string, onKey: (key: string) => Promise<unknown>): Promise<number> {
    const match = prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
    const nodes: Redis[] = this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
    let keys = 0;
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, batch] = await node.scan(cursor, "MATCH", match, "COUNT", 1000);
        cursor = next;
        keys += batch.length;
        await Promise.all(batch.map(onKey));
      } while (cursor !== "0");
    }
    return keys;
  }

  /** The (page index, generation) pairs the values of object `key` carry (one script; the pages stay on the server). */
  private async fieldGens(key: string): Promise<Array<[number, number]>> {
    const flat = await (this.client as unknown as { tmemFieldGens(k: string): Promise<Array<string | number>> }).tmemFieldGens(key);
    const pairs: Array<[number, number]> = [];
    for (let j = 0; j + 1 < flat.length; j += 2) {
      const index = Number(flat[j]), gen = Number(flat[j + 1]);
      if (Number.isInteger(index) && index >= 0 && Number.isInteger(gen)) pairs.push([index, gen >>> 0]);
    }
    return pairs;
  }

  /** Delete the fields of `pairs` whose stored copy has that generation (one script). */
  private delIfGen(key: string, pairs: Array<[number, number]>): Promise<number> {
    const argv: string[] = [];
    for (const [index, gen] of pairs) argv.push(pageField(index), String(gen >>> 0));
    return (this.client as unknown as { tmemDelIfGen(k: string, ...x: string[]): Promise<number> }).tmemDelIfGen(key, ...argv);
  }

  /** The write of `items` may have landed: delete those copies behind, by generation (the remotifier's orphans). */
  dropItems(items: PutItem[]): void {
    const byKey = new Map<string, PutItem[]>();
    for (const it of items) {
      const k = this.key(it.pool, it.oid);
      let g = byKey.get(k);
      if (g === undefined) byKey.set(k, (g = []));
      g.push(it);
    }
    for (const [k, g] of byKey) void this.deleteIfGen(k, g);
  }

  /**
   * Every private object key of this node and instance, with the (page
   * index, generation) pairs its values carry: SCAN on every primary, one
   * script per key (generations only; the pages stay on the server). For
   * the orphan sweep (remotifier.ts); `onKey` may be async, and the scan
   * waits for it before reading the next batch of keys.
   * @throws whatever the client throws (the sweep is retried later).
   */
  async objectGenerations(onKey: (key: string, pairs: Array<[number, number]>) => void | Promise<void>): Promise<number> {
    return this.scanKeys(`tmem:{${this.node}/${this.instance}:`, async (key) => {
      let pairs: Array<[number, number]>;
      try { pairs = await this.fieldGens(key); } catch { return; }
      if (pairs.length > 0) await onKey(key, pairs);
    });
  }

  /**
   * Delete the given (page index, generation) copies of object `key`, each
   * only if the stored copy still has that generation, in the object's
   * FIFO. Returns the fields removed (0 on a failure, counted).
   */
  dropStale(key: string, pairs: Array<[number, number]>): Promise<number> {
    this.s.flushes++;
    return this.inOrder(key, async () => {
      try { return await this.delIfGen(key, pairs); } catch { this.s.flushFailures++; return 0; }
    });
  }

  /** Remove every object of a pool (SCAN + UNLINK on every primary). Returns keys removed. */
  async flushPool(a: { pool: PoolRef; pages?: number; bytes?: number }): Promise<number> {
    const match = poolPrefix(this.node, this.instance, a.pool).replace(/[*?[\]\\]/g, "\\$&") + "*";
    const nodes: Redis[] = this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
    this.s.remotePages = Math.max(0, this.s.remotePages - (a.pages ?? 0));
    this.s.remoteBytes = Math.max(0, this.s.remoteBytes - (a.bytes ?? 0));
    let n = 0;
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", 1000);
        cursor = next;
        for (const k of keys) n += await this.inOrder(k, () => node.unlink(k));
      } while (cursor !== "0");
    }
    return n;
  }

  /** Bytes the server(s) use now (INFO memory used_memory, summed over the primaries); null when unreachable. */
  async usedMemory(): Promise<number | null> {
    const nodes: Redis[] = this.isCluster ? (this.client as Cluster).nodes("master") : [this.client as Redis];
    try {
      const infos = await Promise.all(nodes.map((n) => n.info("memory")));
      return infos.reduce((a, i) => a + Number(/used_memory:(\d+)/.exec(i)?.[1] ?? 0), 0);
    } catch {
      return null;
    }
  }

  /** The node's counters. */
  stats(): RemoteStats {
    return {
      node: this.node, instance: this.instance, down: this.down, ...this.s, lastWaitError: this.lastWaitError,
      rttP50us: Math.round(this.rtt.percentile(50)), rttP99us: Math.round(this.rtt.percentile(99)),
    };
  }
}
