// SPDX-License-Identifier: MIT
/**
 * backend.ts: "ramster", a tmem backend whose pages live in Redis: chained
 * behind zcache in a frontend (register it first, zcache after, so zcache
 * is the head), it takes the stores zcache rejects when local memory is
 * full and keeps them, compressed, in other machines' RAM.
 *
 * What it is not (yet): not RAMster's remotify. RAMster moves cold pages
 * out of zcache in the background and replaces each local entry by a remote
 * descriptor after the ack; that needs two hooks inside zcache (take the
 * coldest compressed pages; swap an entry for a remote descriptor if it is
 * unchanged) that zcache does not have yet. This backend is the overflow
 * half: a store that zcache rejected is compressed here, sent synchronously
 * through the helper Worker, and indexed locally only after the remote ack.
 * A store costs one round trip (plus WAIT for persistent pages); loads the
 * same as remotify's would.
 *
 * Key idea: it is a {@link PamBackend}: the tmem core's index in shared
 * memory stays the authority on what exists, and the "pampd" of every page
 * is its remote descriptor: lo = generation (a per-instance counter, a new
 * one for every store), hi = compressed length, meta = RAW when LZ4 could
 * not shrink the page. Every remote value carries that generation
 * (protocol.ts), so a load can only return the bytes of the store the
 * index knows; flushes are generation-checked too, so a late flush never
 * deletes a newer store.
 *
 * Guarantees: a store is indexed only after the remote store said "ok"
 * (for a persistent pool: WAIT saw a replica on a noeviction server, or
 * the SPOF opt-in); anything else rejects the store, which falls to the
 * next backend or back to the caller: nothing accepted is lost on that
 * path. A tier marked down rejects at once (no round trip). A load of a
 * persistent page that no reachable Redis holds throws (EIO, ETIMEDOUT,
 * ENOTCONN): never false, never wrong bytes. An ephemeral load that fails
 * in any way is a miss and the local entry is dropped.
 *
 * Threads: the thread that calls {@link Ramster.create} owns the helper
 * Worker; another Worker uses the instance after {@link Ramster.attach}
 * with a handle from {@link Ramster.connect} (the frontends then open it by
 * id as any backend). A browser main thread cannot block: its loads of
 * remote pages throw ENOTSUP; the async form is {@link Ramster.loadAsync}.
 *
 * Layout: one OWNER_TMEM state frame per instance, u32 words:
 *   0 magic │ 1 generation counter │ 2 stores │ 3 rejected │ 4 loads │
 *   5 load misses │ 6 load errors │ 7 flushes
 *
 * Concurrency: any Worker may call any method (frontend rules: not put and
 * flush one key at once). Remote commands of one key keep their order in
 * the helper's per-object FIFO; the key stash used between putPage and
 * pamStore / pamFree is per thread and used synchronously.
 *
 * See also: channel.ts, store.ts, protocol.ts, ../tmem/pam.ts,
 * test/ramster-backend.test.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import { PAGE_SIZE, SCRATCH_STAGE } from "../../bindings/layout.js";
import { compressPhysical, decompressPhysical } from "../../bindings/lz4.js";
import { PamBackend } from "../tmem/pam.js";
import { registerBackendType, registeredBackendTypes, type TmemBackend } from "../tmem/ops.js";
import { GetMode, TMEM_POOL_PERSIST, type Oid } from "../tmem/core.js";
import { FrontendArea } from "../tmem/shared.js";
import { RemoteChannel, nodeModule, type ChannelHandle } from "./channel.js";
import { oidHex, type PoolRef } from "./protocol.js";
import type { PutOutcome, RemoteStats, StoreOptions } from "./store.js";
import type { Worker } from "node:worker_threads";
import { Owner } from "../../bindings/layout.js";
import * as L from "../../bindings/layout.generated.js";
import { setZcacheRemoteResolver, type Zcache, type ZcacheRemoteStats } from "../zcache.js";
import { startSupervised, type Supervised } from "../workers.js";
import { RamsterTier } from "./tier.js";
import { DirectReader, directTarget, type DirectOptions } from "./direct.js";
import {
  releaseAll, remotifyDefaults, RM_ALIVE, RM_BUF, RM_HOME, RM_HOME_FAIL, RM_KEPT, RM_LOST_RACE, RM_MAX_BUF, RM_NBUF,
  RM_IN_PUT, RM_PAUSE_ACK, RM_PAUSED, RM_PUT_P50, RM_PUT_P99, RM_REFUSED, RM_REMOTIFIED, RM_ROUNDS, RM_SWEEP_BELOW,
  RM_SWEEP_PASSES, RM_SWEEPS, RM_SWEPT, RM_TAKEN, RM_TIMEOUTS, RM_ZCACHE,
  type RemotifierConfig, type RemotifyOptions,
} from "./remotifier.js";

const MAGIC = 0x4d534d52; // "RMSM"
const W_MAGIC = 0, W_GEN = 1, W_STORES = 2, W_REJECTED = 3, W_LOADS = 4, W_MISSES = 5, W_ERRORS = 6, W_FLUSHES = 7;
/** meta bit: the remote payload is the raw page (LZ4 did not shrink it). */
const META_RAW = 1;

/** Options of {@link Ramster.create}: the remote store's, plus where the helper Worker is. */
export interface RamsterOptions extends StoreOptions {
  /** URL of dist/ramster-worker.js. @defaultValue next to this module in dist/ */
  workerUrl?: URL;
  /** Timeout of one synchronous remote call, ms. @defaultValue 3000 */
  timeoutMs?: number;
  /**
   * RAMster's remotify: the zcache (zsmalloc zpools) whose cold compressed
   * pages a background Worker moves to Redis while local memory is above
   * the watermark. Without it this backend is only the overflow tier
   * (stores zcache rejects, when registered behind it).
   */
  zcache?: Zcache;
  /** Watermarks and batch of the remotifier (see {@link RemotifyOptions}). */
  remotify?: RemotifyOptions;
  /** URL of dist/ramster-remotifier.js. @defaultValue next to `workerUrl` */
  remotifierUrl?: URL;
  /**
   * Loads of remote pages read a standalone server directly from the
   * loading thread (direct.ts: a synchronous HGET on the thread's own
   * connection, spinning while it waits) instead of through the helper
   * Worker, which saves two thread hops per load; anything but a checked
   * hit still goes through the helper. `false` turns it off (a thread
   * then sleeps while it waits); ignored for Redis Cluster and addresses
   * with a password or a database. @defaultValue true
   */
  direct?: boolean | DirectOptions;
}

/** The remotifier's counters (remotify mode). */
export interface RemotifierStats {
  /** Remotify rounds (one pipelined put each; cumulative). */
  rounds: number;
  /** Pages pinned for a round. */
  taken: number;
  /** Pages swapped for a remote descriptor after the ack. */
  remotified: number;
  /** Pages left local: the put failed, timed out or was refused. */
  kept: number;
  /** Of those: persistent pages refused (no replica / eviction policy). */
  refused: number;
  /** Of those: timeouts. */
  timeouts: number;
  /** Acknowledged copies whose swap lost to a concurrent overwrite, flush or read (deleted behind). */
  lostRace: number;
  /** Remote persistent pages brought home (cumulative). */
  broughtHome: number;
  /** Bring-home attempts that failed: the copy unreadable, or no local room (cumulative). */
  homeFailures: number;
  /** Round trip of a round's pipelined put (with WAIT), median of the last rounds, µs. */
  putP50us: number;
  /** The same, 99th percentile, µs. */
  putP99us: number;
  /** Times the remotifier Worker was restarted after dying. */
  restarts: number;
  /** Loop iterations of the remotifier (moves while it runs). */
  heartbeat: number;
  /** Rounds waiting for their put now (their pages pinned, not yet swapped). */
  roundsInPut: number;
  /** Orphan sweep passes run (after remotifier deaths; cumulative). */
  sweeps: number;
  /** Orphaned remote copies the sweeps removed (cumulative). */
  swept: number;
  /** Sweep passes still due now. */
  sweepsDue: number;
}

/** Statistics: the local index's counters and the remote store's. */
export interface RamsterStats {
  /** Overflow backend: pages indexed here whose bytes are remote (pages, now). */
  remotePages: number;
  /** Overflow backend: stores accepted after the remote ack (cumulative). */
  stores: number;
  /** Overflow backend: stores rejected (cumulative). */
  rejected: number;
  /** Overflow backend: loads asked of the remote (cumulative). */
  loads: number;
  /** Overflow backend: loads that found no valid copy (cumulative). */
  loadMisses: number;
  /** Overflow backend: loads that failed to reach the remote (cumulative). */
  loadErrors: number;
  /** Overflow backend: remote pages flushed (cumulative). */
  flushes: number;
  /** The helper's per-node counters (null when it cannot be asked). */
  remote: RemoteStats | null;
  /** Remotify mode: the zcache's remote pages (as zcache's stats().remote). */
  zcache?: ZcacheRemoteStats | null;
  /** Remotify mode: the remotifier's counters. */
  remotifier?: RemotifierStats;
  /** This thread's direct reads (direct.ts); null when it has none (turned off, Cluster, an address with a password). */
  direct: DirectStats | null;
}

/** One thread's direct reads of remote pages (the fast path that bypasses the helper Worker). */
export interface DirectStats {
  /** Whether its connection is up now. */
  connected: boolean;
  /** Loads served by it: a checked hit (cumulative, this thread). */
  hits: number;
  /** Loads it handed to the helper: a miss, a stale copy, a slow or unreachable server (cumulative, this thread). */
  passed: number;
}

/** This thread's remote tiers, per memory: ramster instance → tier. */
const tiers = new WeakMap<PhysicalMemory, Map<number, RamsterTier>>();
setZcacheRemoteResolver((pm, id) => {
  let m = tiers.get(pm);
  if (m === undefined) tiers.set(pm, (m = new Map()));
  let t = m.get(id);
  if (t === undefined) {
    const ch = channels.get(id);
    if (ch === undefined) return null;
    m.set(id, (t = new RamsterTier(pm, ch, directs.get(id))));
  }
  return t;
});

/**
 * The URL of a built Worker entry of dist/ (`name`.js): next to this module
 * when it is dist/index.js, one level up when the bundler put it in
 * dist/chunks/.
 */
async function distWorker(name: string): Promise<URL> {
  const { existsSync } = await nodeModule<typeof import("node:fs")>("node:fs");
  const { fileURLToPath } = await nodeModule<typeof import("node:url")>("node:url");
  for (const rel of [`./${name}`, `../${name}`]) {
    const u = new URL(rel, import.meta.url);
    try { if (u.protocol === "file:" && existsSync(fileURLToPath(u))) return u; } catch { /* not a file URL */ }
  }
  return new URL(`./${name}`, import.meta.url);
}

/** worker_threads' Worker class, loaded by create (see channel.ts nodeModule). */
let WorkerClass: typeof Worker | undefined;

function randomInstance(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const channels = new Map<number, RemoteChannel>(); // per thread: instance → channel
/** Per thread: instance → this thread's direct reader (direct.ts) and the namespace it reads. */
const directs = new Map<number, { reader: DirectReader; node: string; instance: string }>();

/**
 * Start this thread's direct reader for instance `id` when the store's
 * address allows it (a standalone `redis://host:port`) and the options do
 * not turn it off; resolves once its connection is up or failed (loads use
 * the helper until it is up). Node only: elsewhere it does nothing.
 */
async function startDirect(id: number, init: unknown): Promise<void> {
  const o = init as (StoreOptions & { direct?: boolean | DirectOptions }) | undefined;
  if (o === undefined || o.direct === false || o.instance === undefined || directs.has(id)) return;
  const target = directTarget(o.redis);
  if (target === null) return;
  let net: typeof import("node:net"), fs: typeof import("node:fs");
  try {
    net = await nodeModule<typeof import("node:net")>("node:net");
    fs = await nodeModule<typeof import("node:fs")>("node:fs");
  } catch { return; }
  if (directs.has(id)) return;
  const reader = new DirectReader(net, fs, target, typeof o.direct === "object" ? o.direct : {});
  directs.set(id, { reader, node: o.node, instance: o.instance });
  await reader.open();
}

function stopDirect(id: number): void {
  directs.get(id)?.reader.close();
  directs.delete(id);
}

/** The "ramster" backend. */
export class Ramster extends PamBackend<RamsterStats> implements TmemBackend<RamsterStats> {
  readonly type = "ramster";
  private readonly st: Int32Array;
  private readonly ch: RemoteChannel;
  private readonly stage: number;
  private readonly rx = new Uint8Array(2 * PAGE_SIZE);
  /** The key of the operation in progress (stash for pamStore / pamFree / pamLoad). */
  private kPool = 0;
  private kOid = "0";
  private kIndex = 0;
  private kValid = false;

  private readonly statePfn: number;

  private constructor(pm: PhysicalMemory, instance: number, generation: number, pfn: number, ch: RemoteChannel) {
    super(pm, instance, generation);
    this.statePfn = pfn;
    this.st = new Int32Array(pm.memory.buffer, pm.layout.framesBase + pfn * PAGE_SIZE, PAGE_SIZE / 4);
    this.ch = ch;
    this.stage = pm.scratch + SCRATCH_STAGE;
  }

  /**
   * Start the helper Worker, connect to Redis, and make a new instance in
   * `pm`; registers the "ramster" backend type in this thread.
   * @throws TmemError ENOTCONN when Redis cannot be reached; ENOSPC when 16 instances exist; EINVAL for bad options.
   */
  static async create(pm: PhysicalMemory, options: RamsterOptions): Promise<Ramster> {
    const { workerUrl, timeoutMs, zcache, remotify, remotifierUrl, ...rest } = options;
    const store: StoreOptions = { ...rest, instance: rest.instance ?? randomInstance() };
    const rcfg = remotifyDefaults(remotify);
    if (zcache !== undefined) {
      const h = zcache.remoteHandle();
      if (!h.zsmalloc) throw new TmemError(ErrorCode.ENOTSUP, "ramster remotify needs a zcache on zsmalloc zpools (the default)");
      if (Atomics.load(h.st, L.ZC_W_REMOTE) !== 0) throw new TmemError(ErrorCode.EBUSY, `zcache instance ${zcache.instance} already has a remote tier`);
    }
    const helper = workerUrl ?? await distWorker("ramster-worker.js");
    if (zcache !== undefined) WorkerClass ??= (await nodeModule<typeof import("node:worker_threads")>("node:worker_threads")).Worker;
    const ch = await RemoteChannel.create({ workerUrl: helper, init: store, timeoutMs: timeoutMs ?? 3000 });
    const area = FrontendArea.for(pm);
    let inst: ReturnType<FrontendArea["allocInstance"]>;
    try {
      inst = area.allocInstance("ramster");
    } catch (e) {
      await ch.close();
      throw e;
    }
    const b = new Ramster(pm, inst.id, inst.generation, inst.pfn, ch);
    Atomics.store(b.st, W_MAGIC, MAGIC);
    channels.set(inst.id, ch);
    await startDirect(inst.id, store);
    area.remember(b);
    Ramster.registerType();
    if (zcache !== undefined) {
      try {
        await b.startRemotify(zcache, store, rcfg, remotifierUrl ?? new URL("./ramster-remotifier.js", helper));
      } catch (e) {
        await b.destroy({ force: true }).catch(() => {});
        throw e;
      }
    }
    return b;
  }

  // ── remotify mode ──

  private zc: Zcache | undefined;
  private rcfg: RemotifierConfig | undefined;
  private rmUrl: URL | undefined;
  private sup: Supervised<Worker> | undefined;
  private stopping = false;
  private restarts = 0;

  private startRemotify(zcache: Zcache, store: StoreOptions, remotify: Required<RemotifyOptions>, url: URL): Promise<void> {
    const h = zcache.remoteHandle();
    const nbuf = Math.min(RM_MAX_BUF, remotify.inflight * Math.ceil(remotify.batch / (PAGE_SIZE / L.ZC_TAKE_RECORD)));
    for (let i = 0; i < nbuf; i++) {
      const pfn = this.pm.allocFrame(Owner.TMEM);
      this.pm.u8.fill(0, this.pm.layout.framesBase + pfn * PAGE_SIZE, this.pm.layout.framesBase + (pfn + 1) * PAGE_SIZE);
      Atomics.store(this.st, RM_BUF + i, pfn);
      Atomics.store(this.st, RM_NBUF, i + 1);
    }
    Atomics.store(this.st, RM_ZCACHE, zcache.instance + 1);
    Atomics.store(h.st, L.ZC_W_REMOTE, this.instance + 1);
    this.zc = zcache;
    this.rmUrl = url;
    this.rcfg = {
      store, remotify, statePfn: this.statePfn,
      zc: { stAddr: h.stAddr, zsEph: h.zsEph, zsPers: h.zsPers, domain: h.domain, instance: zcache.instance },
    };
    return this.spawnRemotifier();
  }

  /** Start the remotifier Worker; resolves once it runs (attached, connected), rejects (ENOTCONN) if it fails to start within 20 s. */
  private spawnRemotifier(): Promise<void> {
    const cfg = this.rcfg!;
    let started!: () => void, failed!: (e: Error) => void;
    const running = new Promise<void>((res, rej) => { started = res; failed = rej; });
    const sup = startSupervised(this.pm, (attach) => {
      const w = new WorkerClass!(this.rmUrl!, { workerData: { ...cfg, attach } });
      w.unref();
      w.on("error", () => { /* exit follows */ });
      w.on("message", (m: { ready?: boolean; error?: string }) => {
        if (m.ready === true) started();
        else if (m.error !== undefined) failed(new TmemError(ErrorCode.ENOTCONN, `ramster remotifier: ${m.error}`));
      });
      w.once("exit", (code) => failed(new TmemError(ErrorCode.ENOTCONN, `ramster remotifier exited with ${code} during start`)));
      return w;
    });
    const timer = setTimeout(() => failed(new TmemError(ErrorCode.ENOTCONN, "ramster remotifier: not running after 20 s")), 20_000);
    timer.unref();
    void running.then(() => clearTimeout(timer), () => clearTimeout(timer));
    this.sup = sup;
    void sup.gone.then(() => {
      // Its slot is reclaimed: release the pins it held, then start a new one (unless we are stopping).
      if (!this.pm.isAttached) return;
      releaseAll(this.pm, this.st, cfg.zc);
      Atomics.store(this.st, RM_IN_PUT, 0);
      if (this.stopping || this.sup !== sup) return;
      // Its writes in flight may still land, as copies no descriptor will point to: arm the
      // orphan sweep with the generation counter as it is now (after the release, so every
      // generation up to it is dead or settled; the next remotifier runs the passes).
      Atomics.store(this.st, RM_SWEEP_BELOW, Atomics.load(this.st, W_GEN));
      Atomics.store(this.st, RM_SWEEP_PASSES, 2);
      this.restarts++;
      // Back off when it keeps dying (e.g. Redis unreachable at its start): 50 ms doubling to 5 s.
      const delay = Math.min(5000, 50 * 2 ** Math.min(7, this.restarts - 1));
      setTimeout(() => { if (!this.stopping && this.pm.isAttached) this.spawnRemotifier().catch(() => { /* its exit restarts it again */ }); }, delay).unref();
    });
    return running;
  }

  /** Remotify mode: the remotifier Worker now (for tests that kill it), or undefined. */
  get remotifierWorker(): Worker | undefined {
    return this.sup?.worker;
  }

  /**
   * Remotify mode: pause (true) or resume the remotifier (a shared word; it
   * takes effect at its next loop turn). A pause resolves true once the
   * remotifier acknowledged it with no round in flight (so counters read
   * then are settled), false when none acknowledged within `timeoutMs`
   * (none running, or dead: its pins are released by its reclaim anyway).
   * A resume resolves true at once. Never rejects. The orphan sweep is not
   * paused (it moves no page).
   */
  pauseRemotify(paused: boolean, timeoutMs = 10_000): Promise<boolean> {
    Atomics.store(this.st, RM_PAUSED, paused ? 1 : 0);
    if (!paused) { Atomics.store(this.st, RM_PAUSE_ACK, 0); return Promise.resolve(true); }
    if (this.sup === undefined) return Promise.resolve(false);
    const end = Date.now() + timeoutMs;
    return new Promise<boolean>((resolve) => {
      const poll = () => {
        if (Atomics.load(this.st, RM_PAUSE_ACK) === 1 && Atomics.load(this.st, RM_PAUSED) === 1) resolve(true);
        else if (Atomics.load(this.st, RM_PAUSED) !== 1 || Date.now() >= end || !this.pm.isAttached) resolve(false);
        else setTimeout(poll, 2);
      };
      poll();
    });
  }

  private async stopRemotify(): Promise<void> {
    this.stopping = true;
    const sup = this.sup;
    if (sup === undefined) return;
    sup.worker.postMessage({ stop: true });
    const t = setTimeout(() => { void sup.terminate(); }, 2000);
    await sup.gone;
    clearTimeout(t);
    if (this.pm.isAttached) releaseAll(this.pm, this.st, this.rcfg!.zc);
  }

  /** Register "ramster" as a backend type in this thread (idempotent). */
  static registerType(): void {
    if (!registeredBackendTypes().includes("ramster")) registerBackendType({ type: "ramster", open: (pm, i) => Ramster.open(pm, i) });
  }

  /** A handle for another Worker: post it (transfer `handle.port`) and {@link Ramster.attach} there. */
  connect(): ChannelHandle {
    return this.ch.connect();
  }

  /** In another Worker: use `instance` through `handle` (from {@link connect}); then open it by id. */
  static attach(instance: number, handle: ChannelHandle): void {
    channels.set(instance, RemoteChannel.attach(handle));
    Ramster.registerType();
    // The direct reader connects in the background: this thread's loads use the helper until it is up.
    void startDirect(instance, handle.init);
  }

  /**
   * Load (pool, oid, index) of the remotified zcache without blocking (the
   * async form, for a thread that cannot Atomics.wait, e.g. a browser main
   * thread; see Zcache.loadAsync).
   * @throws TmemError EINVAL when this instance has no zcache (overflow mode: use {@link loadAsync}).
   */
  loadZcacheAsync(pool: number, oid: Oid, index: number, into: Uint8Array): Promise<boolean> {
    if (this.zc === undefined) return Promise.reject(new TmemError(ErrorCode.EINVAL, "ramster: not in remotify mode"));
    return this.zc.loadAsync(pool, oid, index, into);
  }

  /**
   * Open instance `instance` in this thread.
   * @throws TmemError ENODEV if it is not a ramster instance; ENOTCONN if this thread has no channel (call attach first).
   */
  static async open(pm: PhysicalMemory, instance: number): Promise<Ramster> {
    const area = FrontendArea.for(pm);
    const have = area.current(instance);
    if (have instanceof Ramster) return have;
    const info = area.instanceInfo(instance);
    if (info === null || info.type !== "ramster") throw new TmemError(ErrorCode.ENODEV, `instance ${instance} is not a ramster backend`);
    const ch = channels.get(instance);
    if (ch === undefined) throw new TmemError(ErrorCode.ENOTCONN, `ramster instance ${instance}: this thread has no channel to its helper (Ramster.attach first)`);
    const b = new Ramster(pm, instance, info.generation, info.pfn, ch);
    if (Atomics.load(b.st, W_MAGIC) !== MAGIC) throw new TmemError(ErrorCode.ENODEV, `ramster instance ${instance} is not initialised`);
    area.remember(b);
    return b;
  }

  private ref(pool: number): PoolRef {
    const info = this.tc.poolInfo(pool);
    if (info.shared) {
      const uuid = info.uuid.map((w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
      return { persistent: info.persistent, pool, uuid };
    }
    return { persistent: info.persistent, pool };
  }

  private stash(pool: number, oid: Oid, index: number): void {
    this.kPool = pool; this.kOid = oidHex(oid); this.kIndex = index; this.kValid = true;
  }

  /** @inheritDoc */
  override putPage(pool: number, oid: Oid, index: number, page: Uint8Array, noReplace = false) {
    this.stash(pool, oid, index);
    try { return super.putPage(pool, oid, index, page, noReplace); } finally { this.kValid = false; }
  }

  /** @inheritDoc */
  override getPage(pool: number, oid: Oid, index: number, into: Uint8Array): boolean {
    this.stash(pool, oid, index);
    try {
      return super.getPage(pool, oid, index, into);
    } catch (e) {
      // An ephemeral page that cannot be fetched is a miss (the entry is already dropped).
      if (e instanceof TmemError && e.code === ErrorCode.EBADMSG && !this.isPersistent(pool)) return false;
      throw e;
    } finally { this.kValid = false; }
  }

  /** @inheritDoc */
  override flushPage(pool: number, oid: Oid, index: number): boolean {
    this.stash(pool, oid, index);
    try { return super.flushPage(pool, oid, index); } finally { this.kValid = false; }
  }

  /** @inheritDoc */
  override flushObject(pool: number, oid: Oid): number {
    // pamFree runs once per page without telling the index: flush by object instead.
    this.kValid = false;
    const n = super.flushObject(pool, oid);
    void this.ch.call("flush", { pool: this.ref(pool), oid: oidHex(oid) }).catch(() => {});
    return n;
  }

  /** @inheritDoc */
  override flushPool(pool: number): number {
    this.kValid = false;
    const n = super.flushPool(pool);
    void this.ch.call("flushPool", { pool: this.ref(pool) }).catch(() => {});
    return n;
  }

  /** @inheritDoc */
  override destroyPool(pool: number): void {
    const ref = this.ref(pool);
    this.kValid = false;
    super.destroyPool(pool);
    if (this.tc.poolInfo(pool).state !== "alive") void this.ch.call("flushPool", { pool: ref }).catch(() => {});
  }

  protected pamStore(pool: number, _persistent: boolean): boolean {
    const st = this.st;
    if (!this.kValid || this.ch.dead || this.ch.tierDown) { Atomics.add(st, W_REJECTED, 1); return false; }
    let n = compressPhysical(this.pm, this.tc.ioAddr, PAGE_SIZE, this.stage, PAGE_SIZE);
    let meta = 0;
    if (n === 0) { this.pm.u8.copyWithin(this.stage, this.tc.ioAddr, this.tc.ioAddr + PAGE_SIZE); n = PAGE_SIZE; meta = META_RAW; }
    const gen = (Atomics.add(st, W_GEN, 1) + 1) >>> 0;
    const data = this.pm.u8.slice(this.stage, this.stage + n);
    let out: PutOutcome;
    try {
      const r = this.ch.callSync("put", [{ pool: this.ref(pool), oid: this.kOid, index: this.kIndex, gen, data }], [data.buffer as ArrayBuffer]) as PutOutcome[];
      out = r[0] ?? "error";
    } catch {
      out = "error"; // timeout or dead helper: not known stored (the store deletes it behind if it was)
    }
    if (out !== "ok") { Atomics.add(st, W_REJECTED, 1); return false; }
    this.pLo = gen; this.pHi = n; this.pMeta = meta;
    Atomics.add(st, W_STORES, 1);
    return true;
  }

  protected pamLoad(lo: number, hi: number, meta: number): boolean {
    const st = this.st;
    Atomics.add(st, W_LOADS, 1);
    const pool = this.kPool;
    const persistent = this.isPersistent(pool);
    let v: Uint8Array | null;
    try {
      v = this.ch.callSync("get", { pool: this.ref(pool), oid: this.kOid, index: this.kIndex, gen: lo }, [], undefined, this.rx) as Uint8Array | null;
    } catch (e) {
      Atomics.add(st, W_ERRORS, 1);
      if (persistent) throw e; // accepted: a miss would be a lie
      v = null;
    }
    if (v === null || v.byteLength !== hi) {
      Atomics.add(st, W_MISSES, 1);
      if (persistent) throw new TmemError(ErrorCode.EIO, `ramster: persistent page ${this.kOid}[${this.kIndex}] came back ${v === null ? "missing" : `as ${v.byteLength} bytes, not ${hi}`}`);
      return false; // PamBackend flushes the entry and reports EBADMSG; getPage turns that into a miss
    }
    if ((meta & META_RAW) !== 0) { this.tc.ioPage.set(v); return true; }
    this.pm.u8.set(v, this.stage);
    try {
      decompressPhysical(this.pm, this.stage, hi, this.tc.ioAddr, PAGE_SIZE, { exact: true });
    } catch {
      if (persistent) throw new TmemError(ErrorCode.EIO, `ramster: persistent page ${this.kOid}[${this.kIndex}] does not decompress`);
      return false;
    }
    return true;
  }

  protected pamFree(lo: number, _hi: number, _meta: number, pool: number): void {
    Atomics.add(this.st, W_FLUSHES, 1);
    if (!this.kValid) return; // object/pool flushes send one command for all
    void this.ch.call("flush", { pool: this.ref(pool), oid: this.kOid, index: this.kIndex, gen: lo, pages: 1 }).catch(() => {});
  }

  protected lruDomain(): number {
    return 0;
  }

  protected isPersistent(pool: number): boolean {
    return (this.tc.poolFlags(pool) & TMEM_POOL_PERSIST) !== 0;
  }

  /**
   * Load a page without blocking (for a thread that cannot Atomics.wait):
   * true and the bytes in `into`, false on a miss.
   * @throws (rejects) as getPage; a private ephemeral page is NOT removed by this form.
   */
  async loadAsync(pool: number, oid: Oid, index: number, into: Uint8Array): Promise<boolean> {
    // Read the descriptor and release the pin at once: no pin is held across the await.
    if (!this.tc.get(pool, oid, index, GetMode.KEEP)) return false;
    const gen = this.tc.lo, len = this.tc.hi, meta = this.tc.meta;
    if (this.tc.pin !== 0) this.tc.unpin(this.tc.pin, this.freeFn);
    const v = await this.ch.call("get", { pool: this.ref(pool), oid: oidHex(oid), index, gen }) as Uint8Array | null;
    if (v === null || v.byteLength !== len) {
      if (this.isPersistent(pool)) throw new TmemError(ErrorCode.EIO, `ramster: persistent page ${oidHex(oid)}[${index}] lost remotely`);
      return false;
    }
    if ((meta & META_RAW) !== 0) { into.set(v); return true; }
    this.pm.u8.set(v, this.stage);
    decompressPhysical(this.pm, this.stage, len, this.tc.ioAddr, PAGE_SIZE, { exact: true });
    into.set(this.tc.ioPage);
    return true;
  }

  /** Bytes the Redis deployment uses now (INFO memory used_memory over the primaries); null when it cannot be asked. */
  async usedMemory(): Promise<number | null> {
    try {
      return ((await this.ch.call("memory", {})) as { used: number | null }).used;
    } catch {
      return null;
    }
  }

  /** Statistics now (asks the helper for the remote counters; null if it cannot answer). */
  stats(): RamsterStats {
    const st = this.st;
    let remote: RemoteStats | null = null;
    try { remote = this.ch.callSync("stats", {}, [], 1000) as unknown as RemoteStats; } catch { /* helper gone */ }
    const g = (w: number) => Atomics.load(st, w);
    const out: RamsterStats = {
      remotePages: Atomics.load(st, W_STORES) - Atomics.load(st, W_FLUSHES),
      stores: Atomics.load(st, W_STORES), rejected: Atomics.load(st, W_REJECTED), loads: Atomics.load(st, W_LOADS),
      loadMisses: Atomics.load(st, W_MISSES), loadErrors: Atomics.load(st, W_ERRORS), flushes: Atomics.load(st, W_FLUSHES), remote,
      direct: null,
    };
    const d = directs.get(this.instance)?.reader;
    if (d !== undefined) out.direct = { connected: d.ready, hits: d.hits, passed: d.passed };
    if (this.zc !== undefined) {
      out.zcache = this.zc.isAlive ? this.zc.stats().remote : null;
      out.remotifier = {
        rounds: g(RM_ROUNDS), taken: g(RM_TAKEN), remotified: g(RM_REMOTIFIED), kept: g(RM_KEPT), refused: g(RM_REFUSED),
        timeouts: g(RM_TIMEOUTS), lostRace: g(RM_LOST_RACE), broughtHome: g(RM_HOME), homeFailures: g(RM_HOME_FAIL),
        putP50us: g(RM_PUT_P50), putP99us: g(RM_PUT_P99), restarts: this.restarts, heartbeat: g(RM_ALIVE),
        roundsInPut: g(RM_IN_PUT), sweeps: g(RM_SWEEPS), swept: g(RM_SWEPT), sweepsDue: g(RM_SWEEP_PASSES),
      };
    }
    return out;
  }

  /**
   * Close this thread's channel (on the creating thread: stop the helper
   * Worker) without destroying the instance. Loads of remote pages then
   * throw ENOTCONN (persistent) or miss (ephemeral); stores are rejected.
   */
  async disconnect(): Promise<void> {
    if (this.zc !== undefined) await this.stopRemotify();
    stopDirect(this.instance);
    await this.ch.close();
  }

  /**
   * Stop the helper (on the creating thread) and free the instance.
   * Unregister it from the frontends first.
   * @throws TmemError ENODEV when destroyed already; EBUSY while another attached Worker has it open (unless `force`).
   */
  async destroy(options: { force?: boolean } = {}): Promise<void> {
    this.destroyCheck(options.force === true);
    const zc = this.zc;
    if (zc !== undefined) {
      // Stop the remotifier first: a round in flight still holds pins (its pages count as remote until released).
      await this.stopRemotify();
      const r = zc.isAlive ? zc.stats().remote : null;
      if (r !== null && r.ephemeralPages + r.persistentPages > 0 && !options.force) {
        this.stopping = false;
        await this.spawnRemotifier().catch(() => { /* restarted by its exit watch */ });
        throw new TmemError(ErrorCode.EBUSY, `ramster instance ${this.instance}: zcache ${zc.instance} still has ${r.ephemeralPages + r.persistentPages} remote pages (flush them first)`);
      }
      if (zc.isAlive) Atomics.store(zc.remoteHandle().st, L.ZC_W_REMOTE, 0);
      const n = Atomics.load(this.st, RM_NBUF);
      for (let i = 0; i < n; i++) this.pm.freeFrame(this.pm.pfn(Atomics.load(this.st, RM_BUF + i)), Owner.TMEM);
      Atomics.store(this.st, RM_NBUF, 0);
    }
    channels.delete(this.instance);
    stopDirect(this.instance);
    tiers.get(this.pm)?.delete(this.instance);
    await this.ch.close();
    this.area.freeInstance(this.instance, this.generation);
  }
}
