// SPDX-License-Identifier: MIT
/**
 * remotifier.ts: RAMster's "ramster_remotify" work, as a background Worker:
 * while local memory is above a watermark, take the coldest compressed pages
 * out of zcache, write them to Redis as they are (no second compression),
 * pipelined, and swap each local entry for a small remote descriptor only
 * after Redis acknowledged (persistent pages: after WAIT saw a replica,
 * unless the single point of failure was opted into by name). When local
 * room returns, bring remote persistent pages home (selfshrink).
 *
 * What it is not: not on any caller's path (stores always land in local
 * zcache; loads of remote pages go through the helper, tier.ts) and not the
 * authority on what exists (zcache's index is; the swap is a compare-and-
 * swap that any concurrent overwrite, flush or read wins).
 *
 * Key ideas:
 * - Ephemeral pages are taken from the tail of zcache's LRU domain;
 *   persistent pages have no LRU in tmem, so they are taken by a clock hand
 *   over the index buckets (assembly/tmem_take.ts tmem_take_lru / _scan). Both
 *   pin the page, so its bytes stay valid while they are copied and sent.
 * - One round = up to `batch` pages: copy each compressed object out into
 *   one buffer for the round, where each value's header is sealed in place
 *   (no allocation per page), one store.put (one HSET per object, one
 *   pipeline on a standalone server, one WAIT), then per page swap
 *   (tmem_zcache_remotify_done) or release. A page whose put
 *   failed, timed out or was refused stays local; a write that may have
 *   landed without a swap is deleted behind, by generation.
 * - Persistent pages refused (no replica, eviction policy) back off for
 *   `refusedBackoffMs` so the rounds do not spin on pages that must stay.
 * - Take records live in frames of shared memory (the ramster state names
 *   them), so when this Worker dies the owner releases every pin it held
 *   (Ramster's supervisor: releaseAll).
 *
 * - Orphans: a remotifier that dies between its HSET and its swap leaves
 *   a copy no descriptor points to (the page stays local). The owner arms
 *   an epoch sweep at the restart ({@link Remotifier.sweep}); a copy the
 *   local index points to is never deleted.
 *
 * Watermarks are fractions of the memory's frames in use (frame_used, one
 * wasm call): remotify above `high` until below `low`; bring home while
 * below `home`.
 *
 * Concurrency: one remotifier per ramster instance; it is an ordinary
 * attached Worker (its own slot, reclaimed on death).
 *
 * See also: assembly/tmem_remote.ts, store.ts, backend.ts (starts it),
 * src/ramster-remotifier.ts (the entry point).
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import * as L from "../../bindings/layout.generated.js";
import { PAGE_SIZE, SCRATCH_STAGE } from "../../bindings/layout.js";
import { GetMode, TmemCore, type Oid } from "../tmem/core.js";
import { RemoteStore, type PutItem, type StoreOptions } from "./store.js";
import { HEADER_BYTES, oidHex, parseObjectKey, sealValue, type PoolRef } from "./protocol.js";
import { poolRef } from "./tier.js";

/** Where the remotifier's shared words are (in the ramster state frame, u32 words). */
export const RM_ZCACHE = 8, RM_CURSOR = 9, RM_HOME_CURSOR = 10, RM_PAUSED = 11, RM_NBUF = 12, RM_BUF = 16, RM_MAX_BUF = 16;
/** Remotifier counters (state words). */
export const RM_ROUNDS = 32, RM_TAKEN = 33, RM_REMOTIFIED = 34, RM_KEPT = 35, RM_LOST_RACE = 36, RM_ORPHANS = 37,
  RM_HOME = 38, RM_HOME_FAIL = 39, RM_PUT_P50 = 40, RM_PUT_P99 = 41, RM_ALIVE = 42, RM_REFUSED = 43, RM_TIMEOUTS = 44,
  RM_IN_PUT = 45;
/**
 * The orphan sweep (see {@link Remotifier.sweep}): the generation counter's
 * value when a remotifier died (every generation issued up to it belonged to
 * a record that is dead or settled), sweep passes still due, passes run,
 * copies removed. Pause acknowledgement: 1 while the remotifier is paused
 * with no round in flight.
 */
export const RM_SWEEP_BELOW = 46, RM_SWEEP_PASSES = 47, RM_SWEEPS = 48, RM_SWEPT = 49, RM_PAUSE_ACK = 50;

/** Tuning of the remotifier (Ramster.create's `remotify` option). */
export interface RemotifyOptions {
  /** Remotify while more than this fraction of frames is in use. @defaultValue 0.8 */
  highWatermark?: number;
  /** ...until usage is below this fraction. @defaultValue highWatermark - 0.05 */
  lowWatermark?: number;
  /** Bring remote persistent pages home while usage is below this fraction (0: never). @defaultValue 0.5 */
  homeWatermark?: number;
  /** Pages per round (one pipelined put). 1..1024. @defaultValue 256 */
  batch?: number;
  /** Rounds in flight at once (their puts overlap; take records: ceil(batch / 64) frames each, 16 frames in all). @defaultValue 3 */
  inflight?: number;
  /** Pages brought home per round. @defaultValue 64 */
  homeBatch?: number;
  /** Sleep between rounds when there is nothing to do, ms. @defaultValue 5 */
  idleMs?: number;
  /** Remotify ephemeral (cleancache) pages. @defaultValue true */
  ephemeral?: boolean;
  /** Remotify persistent (frontswap) pages (they still need WAIT or the SPOF opt-in). @defaultValue true */
  persistent?: boolean;
  /** After a persistent page was refused (no replica, eviction policy), skip persistent pages this long, ms. @defaultValue 1000 */
  refusedBackoffMs?: number;
}

/** What the remotifier Worker gets in workerData (besides its attach). */
export interface RemotifierConfig {
  store: StoreOptions;
  remotify: Required<RemotifyOptions>;
  /** Frame of the ramster state (u32 words above). */
  statePfn: number;
  /** zcache: state address, zsmalloc pool ids, LRU domain, instance. */
  zc: { stAddr: number; zsEph: number; zsPers: number; domain: number; instance: number };
}

/** Fill in the defaults and check ranges. */
export function remotifyDefaults(o: RemotifyOptions = {}): Required<RemotifyOptions> {
  const high = o.highWatermark ?? 0.8;
  const r: Required<RemotifyOptions> = {
    highWatermark: high, lowWatermark: o.lowWatermark ?? Math.max(0, high - 0.05), homeWatermark: o.homeWatermark ?? 0.5,
    batch: o.batch ?? 256, inflight: o.inflight ?? 3, homeBatch: o.homeBatch ?? 64, idleMs: o.idleMs ?? 5, ephemeral: o.ephemeral ?? true,
    persistent: o.persistent ?? true, refusedBackoffMs: o.refusedBackoffMs ?? 1000,
  };
  const frac = (v: number) => typeof v === "number" && v >= 0 && v <= 1;
  if (!frac(r.highWatermark) || !frac(r.lowWatermark) || !frac(r.homeWatermark) || r.lowWatermark > r.highWatermark || r.homeWatermark > r.lowWatermark) {
    throw new RangeError("remotify watermarks must satisfy 0 ≤ home ≤ low ≤ high ≤ 1");
  }
  if (!Number.isInteger(r.batch) || r.batch < 1 || r.batch > RM_MAX_BUF * 64) throw new RangeError(`remotify batch must be 1..${RM_MAX_BUF * 64}`);
  if (!Number.isInteger(r.inflight) || r.inflight < 1 || r.inflight * Math.ceil(r.batch / 64) > RM_MAX_BUF) {
    throw new RangeError(`remotify inflight × ceil(batch / 64) must be 1..${RM_MAX_BUF}`);
  }
  if (!Number.isInteger(r.homeBatch) || r.homeBatch < 1 || r.homeBatch > 64) throw new RangeError("remotify homeBatch must be 1..64");
  return r;
}

const SKIP = L.ZC_META_SAME | L.ZC_META_REMOTE;
const REC = L.ZC_TAKE_RECORD;
const W_GEN = 1;
/** Byte offset of the meta word in a take record (assembly/tmem_take.ts), whose low bits are the compressed length. */
const REC_META = 40;
/** Bytes of the scratch staging area a page is copied through (SCRATCH_STAGE; the LZ4 bound of a page fits). */
const STAGE_CAP = 8192;

/** The loop; runs until `stop()` or the Worker ends. */
export class Remotifier {
  private readonly core: PhysicalMemory["core"];
  private readonly st: Int32Array;
  private readonly stBase: number;
  private readonly bufs: number[] = [];
  private readonly tc: TmemCore;
  private readonly stage: number;
  private stopped = false;
  private draining = false;
  private persistentUntil = 0;
  private readonly putRtt: number[] = [];

  constructor(private readonly pm: PhysicalMemory, private readonly store: RemoteStore, private readonly cfg: RemotifierConfig) {
    this.core = pm.core;
    this.stBase = pm.layout.framesBase + cfg.statePfn * PAGE_SIZE;
    this.st = new Int32Array(pm.memory.buffer, this.stBase, PAGE_SIZE / 4);
    const n = Atomics.load(this.st, RM_NBUF);
    for (let i = 0; i < n; i++) this.bufs.push(pm.layout.framesBase + Atomics.load(this.st, RM_BUF + i) * PAGE_SIZE);
    this.tc = TmemCore.for(pm);
    this.stage = pm.scratch + SCRATCH_STAGE;
    this.sweepDue = performance.now() + this.sweepDelayMs();
  }

  stop(): void {
    this.stopped = true;
  }

  private usage(): number {
    return this.core.frame_used() / this.pm.frames;
  }

  /** Run rounds until stopped: up to `inflight` remotify rounds overlap (each pins its own pages). */
  async run(): Promise<void> {
    const o = this.cfg.remotify;
    const perRound = Math.ceil(o.batch / (PAGE_SIZE / REC));
    const slots = Math.max(1, Math.min(o.inflight, Math.floor(this.bufs.length / perRound)));
    const free: number[] = Array.from({ length: slots }, (_, i) => i);
    const active = new Set<Promise<void>>();
    let lastCompact = 0;
    let idle = 0;
    while (!this.stopped) {
      Atomics.add(this.st, RM_ALIVE, 1);
      this.maybeSweep();
      if (Atomics.load(this.st, RM_PAUSED) !== 0) {
        await Promise.all(active);
        // Acknowledged only when no round is in flight: the caller may count pages now.
        Atomics.store(this.st, RM_PAUSE_ACK, Atomics.load(this.st, RM_PAUSED) !== 0 && active.size === 0 ? 1 : 0);
        await sleep(o.idleMs);
        continue;
      }
      Atomics.store(this.st, RM_PAUSE_ACK, 0);
      const u = this.usage();
      if (u > o.highWatermark) this.draining = true;
      else if (u < o.lowWatermark) this.draining = false;
      let started = false;
      if (this.draining && free.length > 0) {
        const slot = free.pop()!;
        const round = this.remotifyRound(this.bufs.slice(slot * perRound, (slot + 1) * perRound));
        if (round === null) free.push(slot);
        else {
          started = true;
          const p: Promise<void> = round.then(() => undefined, () => undefined).finally(() => { active.delete(p); free.push(slot); });
          active.add(p);
        }
      }
      if (started) idle = 0;
      if (started && free.length > 0) continue; // fill the pipeline
      if (active.size > 0) { await Promise.race(active); }
      // Freed objects give frames back only when their zspage empties: compact, at most every few ms.
      const now = performance.now();
      if (now - lastCompact > 5 && (started || active.size > 0 || this.compactDue)) {
        this.core.zs_compact(this.cfg.zc.zsEph);
        this.core.zs_compact(this.cfg.zc.zsPers);
        this.compactDue = false;
        lastCompact = now;
      }
      if (started || active.size > 0) continue;
      if (this.compactDue) { this.core.zs_compact(this.cfg.zc.zsEph); this.core.zs_compact(this.cfg.zc.zsPers); this.compactDue = false; }
      let did = 0;
      if (!this.draining && u < o.homeWatermark && this.remotePersistent() > 0) did = await this.homeRound();
      // Nothing to do: sleep, longer while it stays so (a scan of an index with nothing to take costs CPU).
      if (did === 0) await sleep(Math.min(50, o.idleMs * 2 ** Math.min(6, idle++)));
      else idle = 0;
    }
    await Promise.all(active);
  }

  private compactDue = false;

  private remotePersistent(): number {
    return Atomics.load(new Int32Array(this.pm.memory.buffer, this.cfg.zc.stAddr, PAGE_SIZE / 4), L.ZC_R_PERS);
  }

  /** Take up to `batch` pages into the record frames `bufs`; returns the record addresses. */
  private take(bufs: number[]): number[] {
    const { remotify: o, zc } = this.cfg;
    const core = this.core;
    const recs: number[] = [];
    const genAddr = this.stBase + W_GEN * 4;
    const perBuf = PAGE_SIZE / REC;
    const frames = Math.min(bufs.length, Math.ceil(o.batch / perBuf));
    let b = 0;
    // Ephemeral pages first (they may also be evicted; remote is better than gone), then persistent.
    if (o.ephemeral) {
      for (; b < frames && recs.length < o.batch; b++) {
        const n = core.tmem_take_lru(zc.domain, Math.min(perBuf, o.batch - recs.length), bufs[b]!, genAddr, SKIP);
        for (let i = 0; i < Math.max(0, n); i++) recs.push(bufs[b]! + i * REC);
        if (n < perBuf) { b++; break; }
      }
    }
    if (o.persistent && Date.now() >= this.persistentUntil) {
      for (; b < frames && recs.length < o.batch; b++) {
        const n = core.tmem_take_scan(zc.instance + 1, Math.min(perBuf, o.batch - recs.length), bufs[b]!, genAddr,
          this.stBase + RM_CURSOR * 4, SKIP, 0, 4096);
        for (let i = 0; i < Math.max(0, n); i++) recs.push(bufs[b]! + i * REC);
        if (n <= 0) break;
      }
    }
    return recs;
  }

  private item(rec: number, refs: Map<number, PoolRef>, data: Uint8Array): PutItem {
    const w = new Uint32Array(this.pm.memory.buffer, rec, REC / 4);
    const pool = w[0]!;
    let ref = refs.get(pool);
    if (ref === undefined) refs.set(pool, (ref = poolRef(this.tc, pool)));
    return { pool: ref, oid: oidHex(w.subarray(2, 8)), index: w[1]!, gen: w[12]!, data };
  }

  /**
   * One remotify round into the record frames `bufs`: the take and the copy
   * happen now (synchronously); the put, the swaps and the releases when it
   * answers. Returns null when there was nothing to take.
   */
  remotifyRound(bufs: number[]): Promise<number> | null {
    const { zc } = this.cfg;
    const core = this.core, u8 = this.pm.u8;
    const recs = this.take(bufs);
    if (recs.length === 0) return null;
    Atomics.add(this.st, RM_ROUNDS, 1);
    Atomics.add(this.st, RM_TAKEN, recs.length);
    const refs = new Map<number, PoolRef>();
    const items: PutItem[] = [];
    const live: number[] = [];
    // One buffer for the round: each page's value (header + compressed bytes) is sealed in place,
    // so a page costs one copy out of wasm memory and no allocation of its own.
    const words = new Uint32Array(this.pm.memory.buffer);
    let total = 0;
    for (const rec of recs) total += HEADER_BYTES + (words[(rec + REC_META) >>> 2]! & L.ZC_LEN_MASK);
    const round = new Uint8Array(total);
    let at = 0;
    for (const rec of recs) {
      const n = core.tmem_zcache_take_copy(zc.stAddr, rec, this.stage, STAGE_CAP);
      if (n <= 0 || at + HEADER_BYTES + n > total) { core.tmem_zcache_take_release(zc.stAddr, rec); continue; }
      round.set(u8.subarray(this.stage, this.stage + n), at + HEADER_BYTES);
      const it = this.item(rec, refs, round.subarray(at + HEADER_BYTES, at + HEADER_BYTES + n));
      it.value = sealValue(round, at, it.gen, n);
      items.push(it);
      live.push(rec);
      at += HEADER_BYTES + n;
    }
    const t0 = performance.now();
    Atomics.add(this.st, RM_IN_PUT, 1); // pages pinned, copies in flight, nothing swapped yet
    return this.store.put(items).catch(() => items.map(() => "error" as const)).then((outs) => {
      Atomics.sub(this.st, RM_IN_PUT, 1);
      this.rtt(performance.now() - t0);
      this.settle(live, items, outs);
      return recs.length;
    });
  }

  /** Swap or release each page of a round after its put answered. */
  private settle(live: number[], items: PutItem[], outs: string[]): void {
    const { zc } = this.cfg;
    const core = this.core;
    const orphans: PutItem[] = [];
    let refused = false;
    for (let i = 0; i < live.length; i++) {
      const rec = live[i]!, out = outs[i]!;
      if (out === "ok") {
        const r = core.tmem_zcache_remotify_done(zc.stAddr, rec);
        if (r === 1) Atomics.add(this.st, RM_REMOTIFIED, 1);
        else { orphans.push(items[i]!); Atomics.add(this.st, RM_LOST_RACE, 1); }
      } else {
        core.tmem_zcache_take_release(zc.stAddr, rec);
        Atomics.add(this.st, RM_KEPT, 1);
        if (out === "refused" || out === "unreplicated") { refused = true; Atomics.add(this.st, RM_REFUSED, 1); }
        if (out === "timeout") Atomics.add(this.st, RM_TIMEOUTS, 1);
      }
    }
    if (refused) this.persistentUntil = Date.now() + this.cfg.remotify.refusedBackoffMs;
    if (orphans.length > 0) { Atomics.add(this.st, RM_ORPHANS, orphans.length); this.store.dropItems(orphans); }
    this.compactDue = true;
  }

  /** One selfshrink round: bring up to homeBatch remote persistent pages home. Returns pages handled. */
  async homeRound(): Promise<number> {
    const { zc, remotify: o } = this.cfg;
    const core = this.core, u8 = this.pm.u8;
    const buf = this.bufs[0]!;
    const n = core.tmem_take_scan(zc.instance + 1, o.homeBatch, buf, this.stBase + W_GEN * 4, this.stBase + RM_HOME_CURSOR * 4,
      SKIP, L.ZC_META_REMOTE, 4096);
    if (n <= 0) return 0;
    const refs = new Map<number, PoolRef>();
    const recs = Array.from({ length: n }, (_, i) => buf + i * REC);
    const got = await Promise.all(recs.map(async (rec) => {
      const w = new Uint32Array(this.pm.memory.buffer, rec, REC / 4);
      const it = this.item(rec, refs, new Uint8Array(0));
      try {
        return { it, gen: w[8]!, v: await this.store.get({ pool: it.pool, oid: it.oid, index: it.index, gen: w[8]! }) };
      } catch {
        return { it, gen: w[8]!, v: null };
      }
    }));
    let full = false;
    for (let i = 0; i < n; i++) {
      const rec = recs[i]!, g = got[i]!;
      if (g.v === null || full) {
        core.tmem_zcache_take_release(zc.stAddr, rec);
        if (g.v === null) Atomics.add(this.st, RM_HOME_FAIL, 1);
        continue;
      }
      u8.set(g.v, this.stage);
      const r = core.tmem_zcache_home_done(zc.stAddr, rec, this.stage, g.v.byteLength);
      if (r === 1 || r === 3) {
        if (r === 1) Atomics.add(this.st, RM_HOME, 1);
        void this.store.drop({ pool: g.it.pool, oid: g.it.oid, index: g.it.index, gens: [g.gen] });
      } else if (r < 0) {
        full = true;
        Atomics.add(this.st, RM_HOME_FAIL, 1);
      }
    }
    return n;
  }

  // ── the orphan sweep ──

  private sweeping = false;
  /** When the next sweep pass may start (performance.now() ms); set in the constructor (the delay needs the config). */
  private sweepDue = 0;

  /** A dead remotifier's writes may land late (a paused or stopped server holds them): wait this long first. */
  private sweepDelayMs(): number {
    return 2 * (this.cfg.store.commandTimeoutMs ?? 1500);
  }

  /** Start a sweep pass when one is due (armed by the owner after a remotifier died); never two at once. */
  private maybeSweep(): void {
    const passes = Atomics.load(this.st, RM_SWEEP_PASSES);
    if (passes <= 0 || this.sweeping || performance.now() < this.sweepDue) return;
    this.sweeping = true;
    const below = Atomics.load(this.st, RM_SWEEP_BELOW) >>> 0;
    void this.sweep(below).then((n) => {
      Atomics.add(this.st, RM_SWEPT, n);
      Atomics.add(this.st, RM_SWEEPS, 1);
      // A death meanwhile re-armed it with a later epoch: its passes stay due.
      if ((Atomics.load(this.st, RM_SWEEP_BELOW) >>> 0) === below) Atomics.compareExchange(this.st, RM_SWEEP_PASSES, passes, passes - 1);
      // The second pass catches writes that landed after the first (held longer than the delay).
      this.sweepDue = performance.now() + 10 * this.sweepDelayMs();
    }, () => {
      this.sweepDue = performance.now() + this.sweepDelayMs(); // unreachable now: try again later
    }).finally(() => { this.sweeping = false; });
  }

  /**
   * Delete the remote copies that no local descriptor points to and that
   * no live take record can still swap in: RAMster's "failed remote put
   * leaked the page", cleaned up. A remotifier that dies between its HSET
   * and its swap leaves the copy in Redis while the page stays local (its
   * pins are released by the owner); the copy can never be read (its
   * generation matches no descriptor), but on a noeviction server it would
   * hold memory for good.
   *
   * The rule (an epoch sweep): every take generation is drawn from one
   * counter, so a copy whose generation is at most `below` (the counter
   * when the remotifier died, read after its pins were released) was
   * written by a record that is dead or settled; no descriptor can come to
   * point at it later. Such a copy is deleted unless the local index
   * points to it now (a remote descriptor with that generation), generation-
   * checked in the object's FIFO. Copies with later generations belong to
   * live rounds and are never touched. Only this node's private pools of
   * this zcache are swept (not the overflow backend's pools, whose
   * descriptors say "remote" differently, and not shared pools, whose
   * copies other nodes wrote); the copies of a destroyed pool go too.
   * Returns the copies removed.
   */
  async sweep(below: number): Promise<number> {
    const owner = this.cfg.zc.instance + 1;
    const kinds = new Map<number, "mine" | "gone" | "other">();
    let removed = 0;
    await this.store.objectGenerations(async (key, pairs) => {
      const k = parseObjectKey(this.store.node, this.store.instance, key);
      if (k === null) return;
      let kind = kinds.get(k.pool);
      if (kind === undefined) {
        try {
          const pi = this.tc.poolInfo(k.pool);
          kind = pi.state === "free" ? "gone" : pi.state === "alive" && pi.id === k.pool && pi.owner === owner && !pi.shared ? "mine" : "other";
        } catch {
          kind = "other"; // cannot tell: keep
        }
        kinds.set(k.pool, kind);
      }
      if (kind === "other") return;
      const stale: Array<[number, number]> = [];
      for (const [index, gen] of pairs) {
        if (((below - gen) >>> 0) >= 0x80000000) continue; // issued after the death: a live round's
        if (kind === "mine" && this.pointsTo(k.pool, k.oid, index, gen, stale)) continue;
        stale.push([index, gen]);
      }
      if (stale.length > 0) { const d = await this.store.dropStale(key, stale); removed += d; }
    });
    return removed;
  }

  /**
   * Whether the local index points to the remote copy (pool, oid, index)
   * of generation `gen` now. Looks with a kept get (a pin, released at
   * once; it touches a local page's LRU position). When that unpin was the
   * last pin of a page flushed meanwhile, its storage is freed here and, if
   * it was remote, its copy's generation is added to `stale`.
   */
  private pointsTo(pool: number, oid: Oid, index: number, gen: number, stale: Array<[number, number]>): boolean {
    const tc = this.tc;
    let hit: boolean;
    try { hit = tc.get(pool, oid, index, GetMode.KEEP); } catch { return true; } // the pool is going: keep (its flush drops the copies)
    if (!hit) return false;
    const yes = (tc.meta & L.ZC_META_REMOTE) !== 0 && tc.lo >>> 0 === gen;
    let freed = false;
    if (tc.pin !== 0) {
      tc.unpin(tc.pin, (lo, hi, meta) => {
        freed = true;
        this.core.tmem_zcache_free_stored(this.cfg.zc.stAddr, lo, hi, meta);
        if ((meta & L.ZC_META_REMOTE) !== 0 && lo >>> 0 !== gen) stale.push([index, lo >>> 0]);
      });
    }
    return yes && !freed;
  }

  private rtt(ms: number): void {
    const a = this.putRtt;
    a.push(ms * 1000);
    if (a.length >= 1) {
      const s = a.slice().sort((x, y) => x - y);
      Atomics.store(this.st, RM_PUT_P50, Math.round(s[Math.floor(s.length / 2)]!));
      Atomics.store(this.st, RM_PUT_P99, Math.round(s[Math.floor(s.length * 0.99)]!));
      if (a.length > 1024) a.splice(0, a.length - 256);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Release every pin a dead remotifier left in the record frames of ramster
 * state `st` (called by the owner after the Worker's slot was reclaimed).
 * Returns the pins released.
 */
export function releaseAll(pm: PhysicalMemory, st: Int32Array, zc: RemotifierConfig["zc"]): number {
  let n = 0;
  const nb = Atomics.load(st, RM_NBUF);
  for (let b = 0; b < nb; b++) {
    const base = pm.layout.framesBase + Atomics.load(st, RM_BUF + b) * PAGE_SIZE;
    const w = new Uint32Array(pm.memory.buffer, base, PAGE_SIZE / 4);
    for (let i = 0; i < PAGE_SIZE / REC; i++) {
      if (Atomics.load(w, (i * REC) / 4 + 11) === 0) continue;
      pm.core.tmem_zcache_take_release(zc.stAddr, base + i * REC);
      n++;
    }
  }
  return n;
}
