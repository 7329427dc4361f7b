// SPDX-License-Identifier: MIT
/**
 * tmem/shared.ts: the frontends' state that every Worker must agree on,
 * laid out in the frontend area of ROOT_TMEM: backend instances, each
 * frontend's chain of registered backends, the cleancache filesystem slots,
 * the frontswap swap types, and the counters.
 *
 * What it is not: not the backends' data (pools live in the tmem core, bytes
 * in the backends' zpools). Only what the kernel kept in frontend globals
 * (cleancache_ops, fs_poolid_map, frontswap's need_init bitmap): the seed
 * 000 review called the first version "blatantly racy" because those globals
 * were read and written with no lock and no ordering. Here every write of the
 * registration state happens under one futex per frontend (in shared memory,
 * so it excludes other Workers too), and readers never see a half-made
 * registration: a chain change is published by bumping a generation number
 * after the state behind it is complete.
 *
 * Key idea: a two-phase grace counter, a poor man's RCU. Every frontend
 * operation enters by incrementing active[generation & 1] (and re-checks the
 * generation), a counter pair in the LAST 64 BYTES OF ITS OWN WORKER'S
 * SCRATCH AREA, so two Workers never write one cache line on the hot path; a
 * writer that must know no operation still uses the previous
 * chain (unregistering a backend before destroying its pools) bumps the
 * generation and waits for every attached Worker's old-parity counter to
 * drain. Operations never block on the registration lock.
 *
 * Layout (offsets in the 4 KiB frontend area at ROOT_TMEM + 12288, u32 words
 * unless noted):
 *
 *   [0, 64)      cleancache registry  { lock, generation, chainLen, pad,
 *                                       chain[8], pad }
 *   [64, 128)    frontswap registry   (same)
 *   [128, 896)   instances[16]        { state, pfn, typeLen, type: 36 B }
 *                state = generation << 1 | 1 while alive, generation << 1
 *                when free: the generation (30 bits, never 0 once used) is
 *                bumped by every allocInstance, so an (id, generation)
 *                pair names one backend instance for the memory's life
 *   [896, 960)   unused (the counters are per Worker, see TAIL_OFF)
 *   [960, 964)   instance-table lock
 *   [1024, 2560) cleancache fs slots[32] { state, uuid[4], unused }
 *   [2560, 3584) frontswap types[32]     { state, unused }
 *   [3584, 4096) frontswap key locks[128] (futex words; see frontswap.ts)
 *
 * Pool maps (which tmem pool each instance has for a slot or type) live
 * outside the area, at ROOT_TMEM + POOL_MAPS_OFF, as u16 pool ids (0 = none):
 * cleancache fs slot s, instance i at [s * 16 + i], frontswap type t at
 * [512 + t * 16 + i].
 *
 * A chain entry is an instance id (bits 0..7), CHAIN_DRAINING (bit 8) while
 * the backend is being unregistered (stores skip it; loads and invalidations
 * still reach it), and the low 20 bits of the instance's generation (bits
 * 12..31), so a Worker never serves a chain entry with a cached object of a
 * destroyed instance whose id was reused: it re-opens the live one. A pool
 * map entry is NO_POOL (0) when that instance has no pool for the slot.
 *
 * Openers: outside the area, at ROOT_TMEM + OPENERS_OFF (8704, after the
 * stripe locks), one 256-bit map per instance of the Worker slots that have
 * it open (set by create/open, cleared by close, destroy and pm.detach).
 * Destroying an instance another attached Worker has open is EBUSY unless
 * forced; after a forced destroy the other Workers' objects refuse every call
 * (ENODEV), because every call first compares the instance's state word with
 * the (generation << 1 | 1) the object was opened with.
 *
 * Concurrency: lock order: frontend registry lock → instance-table lock →
 * tmem pool-table lock (backend createPool runs under the registry lock).
 * Counters are per Worker (each Worker's scratch tail), so the hot paths
 * write no cache line another Worker writes; reads sum all slots in 32-bit
 * wrapping arithmetic (exact while the true total is below 2^31, see sum()).
 *
 * See also: ops.ts, ../cleancache.ts, ../frontswap.ts, assembly/tmem.ts.
 *
 * @module
 */
import { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import { PAGE_SIZE, Owner, SCRATCH_SIZE, MAX_WORKERS } from "../../bindings/layout.js";
import { CTRL_BASE, CTRL_WORKER_MAP_OFF, ROOT_TMEM } from "../../bindings/layout.generated.js";
import { TmemCore, TMEM_FRONTEND_OFF, TMEM_FRONTEND_SIZE } from "./core.js";
import { openBackend, type PoolSpec, type TmemBackend } from "./ops.js";

/** Most backend instances (all types) in one memory. */
export const MAX_INSTANCES = 16;
/** Most backends chained on one frontend. */
export const MAX_CHAIN = 8;
/** cleancache filesystem slots (the kernel's MAX_INITIALIZABLE_FS). */
export const MAX_FS = 32;
/** frontswap swap types (the kernel's MAX_SWAPFILES). */
export const MAX_SWAP_TYPES = 32;
/** A chain entry's flag: the backend is being drained (stores skip it). */
export const CHAIN_DRAINING = 0x100;
/** Pool map entry: no pool in that instance (a tmem pool id is never 0). */
export const NO_POOL = 0;

/** Word offsets (from the frontend area) of the two registries. */
export const REG_CLEANCACHE = 0;
export const REG_FRONTSWAP = 64;
const REG_LOCK = 0, REG_GEN = 4, REG_LEN = 8, REG_SYNC = 12, REG_CHAIN = 16;
/** How long {@link FrontendRegistry.synchronize} waits for one Worker's operations before it gives up (ms). */
export const GRACE_TIMEOUT_MS = 30_000;
/**
 * The last 256 bytes of each Worker's scratch area (assembly/tmem_layout.ts
 * OUT_BYTES stops before them) hold that Worker's frontend words, i32:
 *   [0, 4)    grace counters: cleancache even, odd; frontswap even, odd
 *   [4, 8)    cleancache counters: succ_gets, failed_gets, puts, invalidates
 *   [8, 12)   frontswap counters: loads, succ_stores, failed_stores, invalidates
 *   [16, 48)  frontswap pages stored per swap type (this Worker's net +/-)
 * Totals are sums over every slot (detached Workers' counts stay in their
 * slot and count; only the grace counters are reset when a slot is taken).
 */
const TAIL_OFF = SCRATCH_SIZE - 256;
const TAIL_WORDS = 64;
/** Word indexes in the tail. */
export const TAIL_CC = 4, TAIL_FS = 8, TAIL_STORED = 16;
const INSTANCES = 128, INSTANCE_SIZE = 48, INSTANCE_NAME = 12, INSTANCE_NAME_MAX = 36;
/** Chain entry fields (see the essay). */
export const CHAIN_ID_MASK = 0xff, CHAIN_GEN_SHIFT = 12, CHAIN_GEN_MASK = 0xfffff;
/** Byte offset from ROOT_TMEM of the instance opener maps (16 × 32 bytes; assembly/tmem_layout.ts leaves [8704, 12288) to the frontends). */
const OPENERS_OFF = 8704, OPENER_MAP_BYTES = 32;
/** Byte offset from ROOT_TMEM of the pool maps (u16[1024]: fs slots, then swap types); ends at 11264. */
const POOL_MAPS_OFF = 9216, TYPE_MAPS = 512;
/** Largest instance generation (30 bits) before it wraps to 1. */
const INSTANCE_GEN_MAX = 0x3fff_ffff;

/** The chain entry of instance `id` at generation `gen` (no flags). */
export function chainEntry(id: number, gen: number): number {
  return (id & CHAIN_ID_MASK) | ((gen & CHAIN_GEN_MASK) << CHAIN_GEN_SHIFT);
}

/** Instance id of a chain entry. */
export function entryId(e: number): number {
  return e & CHAIN_ID_MASK;
}

/**
 * Refuse (EINVAL) what is not a backend object of `pm`: not an object with
 * the backend methods, or a backend of another physical memory (its
 * instance id and generation may well be live here too: ids are per memory).
 * Thread safety: pure.
 */
export function checkBackend(pm: PhysicalMemory, backend: unknown, what: string): asserts backend is TmemBackend {
  const b = backend as Partial<TmemBackend> | null;
  if (typeof b !== "object" || b === null || typeof b.putPage !== "function" || typeof b.instance !== "number") {
    throw new TmemError(ErrorCode.EINVAL, `${what} needs a TmemBackend, not ${b === null ? "null" : typeof b}`);
  }
  if (b.pm !== pm) {
    throw new TmemError(ErrorCode.EINVAL, `${what}: backend instance ${b.instance} belongs to another physical memory`);
  }
}

/** Whether chain entry `e` names backend object `b` (same id, same generation). */
export function entryIs(e: number, b: TmemBackend): boolean {
  return (e & CHAIN_ID_MASK) === b.instance && ((e >>> CHAIN_GEN_SHIFT) & CHAIN_GEN_MASK) === (b.generation & CHAIN_GEN_MASK);
}
const INSTANCE_LOCK = 960;
/** cleancache fs slots. */
export const FS_SLOTS = 1024;
export const FS_SLOT_SIZE = 48;
/** frontswap types. */
export const SWAP_TYPES = 2560;
export const SWAP_TYPE_SIZE = 32;

/** Per-memory, per-thread view of the frontend area and the backends opened here. */
export class FrontendArea {
  readonly pm: PhysicalMemory;
  readonly tc: TmemCore;
  /** Base address of the frontend area. */
  readonly base: number;
  /** Address of ROOT_TMEM. */
  private readonly root: number;
  /** The area as i32 words (Atomics). */
  readonly i32: Int32Array;
  /** The area as bytes. */
  readonly u8: Uint8Array;
  /** Backends opened in this thread, by instance id. */
  readonly opened = new Map<number, TmemBackend>();
  /** The pool maps (see the essay). Written under the registry lock; read by data operations. */
  private readonly maps: Uint16Array;
  private readonly opening = new Map<number, Promise<TmemBackend>>();

  private constructor(pm: PhysicalMemory) {
    this.pm = pm;
    this.tc = TmemCore.for(pm);
    this.base = ROOT_TMEM + TMEM_FRONTEND_OFF;
    this.root = ROOT_TMEM;
    if (pm.core.tmem_frontend_area() !== this.base) {
      throw new TmemError(ErrorCode.EPROTO, "the frontend area address disagrees with the wasm core");
    }
    this.i32 = new Int32Array(pm.memory.buffer, this.base, TMEM_FRONTEND_SIZE / 4);
    this.u8 = new Uint8Array(pm.memory.buffer, this.base, TMEM_FRONTEND_SIZE);
    this.maps = new Uint16Array(pm.memory.buffer, ROOT_TMEM + POOL_MAPS_OFF, 2 * TYPE_MAPS);
    this.tail = new Int32Array(pm.memory.buffer, pm.scratch + TAIL_OFF, TAIL_WORDS);
    // This slot is ours and no operation of ours is in flight: grace starts at zero.
    for (let i = 0; i < 4; i++) Atomics.store(this.tail, i, 0);
    this.tails = [];
    for (let slot = 0; slot < pm.layout.maxWorkers; slot++) {
      this.tails.push(new Int32Array(pm.memory.buffer, pm.layout.scratchBase + slot * SCRATCH_SIZE + TAIL_OFF, TAIL_WORDS));
    }
    pm.onDetach(() => this.dropOpeners());
  }

  /** This Worker's frontend words (see TAIL_OFF): written only by this Worker on the hot paths. */
  readonly tail: Int32Array;
  /** Every slot's frontend words, for sums and grace waits. */
  readonly tails: Int32Array[];

  /**
   * Sum of word `k` over every Worker slot, in 32-bit wrapping arithmetic.
   * A word is one Worker's net count (Worker A's stores minus the pages it
   * invalidated), so one word alone may wrap (A stores forever, B
   * invalidates); the wrapped sum is still exact as long as the true total
   * is below 2^31, which a count of pages or of events read as u32 is.
   */
  sum(k: number): number {
    let n = 0;
    for (const t of this.tails) n = (n + Atomics.load(t, k)) | 0;
    return n;
  }

  /** Set word `k` to zero in every slot (the caller has made sure nobody changes it now). */
  zero(k: number): void {
    for (const t of this.tails) Atomics.store(t, k, 0);
  }

  /** The area of `pm` for this thread. @throws TmemError EINVAL when `pm` is detached. */
  static for(pm: PhysicalMemory): FrontendArea {
    let a = areas.get(pm);
    if (!pm.isAttached) throw detachedError();
    if (a === undefined) { a = new FrontendArea(pm); areas.set(pm, a); }
    return a;
  }

  /** The tmem pool of cleancache fs slot `s` in instance `inst`, or NO_POOL. */
  fsPool(s: number, inst: number): number {
    return Atomics.load(this.maps, (s << 4) | inst);
  }

  /** The tmem pool of frontswap type `t` in instance `inst`, or NO_POOL. */
  typePool(t: number, inst: number): number {
    return Atomics.load(this.maps, TYPE_MAPS + ((t << 4) | inst));
  }

  /** Set (NO_POOL clears) a map entry; the caller holds the registry lock. */
  setFsPool(s: number, inst: number, pool: number): void {
    Atomics.store(this.maps, (s << 4) | inst, pool);
  }

  /** Set (NO_POOL clears) a map entry; the caller holds the registry lock. */
  setTypePool(t: number, inst: number, pool: number): void {
    Atomics.store(this.maps, TYPE_MAPS + ((t << 4) | inst), pool);
  }

  /** Clear fs slot `s`'s (or, with `type`, swap type `s`'s) entries for every instance. */
  clearPools(s: number, type: boolean): void {
    const b = (type ? TYPE_MAPS : 0) + (s << 4);
    for (let i = 0; i < MAX_INSTANCES; i++) Atomics.store(this.maps, b + i, NO_POOL);
  }

  /** Word index of byte offset `off` in the area. */
  w(off: number): number {
    return off >> 2;
  }

  lock(off: number): void {
    this.pm.core.lock_acquire(this.base + off);
  }

  unlock(off: number): void {
    this.pm.core.lock_release(this.base + off);
  }

  // ── backend instances ──

  /**
   * Claim an instance slot for a new backend of `type` with one zeroed
   * OWNER_TMEM frame for its shared state, and mark this Worker an opener.
   * @returns the instance id, its state frame and its generation.
   * @throws TmemError ENOSPC when 16 instances exist; ENOMEM without a frame;
   *   EINVAL when `pm` is detached.
   */
  allocInstance(type: string): InstanceInfo & { id: number } {
    this.live();
    const pfn = this.pm.allocFrame(Owner.TMEM);
    this.pm.u8.fill(0, this.pm.layout.framesBase + pfn * PAGE_SIZE, this.pm.layout.framesBase + (pfn + 1) * PAGE_SIZE);
    this.lock(INSTANCE_LOCK);
    try {
      for (let i = 0; i < MAX_INSTANCES; i++) {
        const o = INSTANCES + i * INSTANCE_SIZE;
        const state = Atomics.load(this.i32, this.w(o));
        if ((state & 1) !== 0) continue;
        let gen = (state >>> 1) + 1;
        if (gen > INSTANCE_GEN_MAX) gen = 1;
        const name = new TextEncoder().encode(type).subarray(0, INSTANCE_NAME_MAX);
        this.u8.fill(0, o + INSTANCE_NAME, o + INSTANCE_SIZE);
        this.u8.set(name, o + INSTANCE_NAME);
        Atomics.store(this.i32, this.w(o) + 1, pfn);
        Atomics.store(this.i32, this.w(o) + 2, name.length);
        this.openers(i).fill(0);
        Atomics.store(this.i32, this.w(o), (gen << 1) | 1);
        this.markOpener(i, true);
        return { id: i, type, pfn, generation: gen };
      }
    } finally {
      this.unlock(INSTANCE_LOCK);
    }
    this.pm.freeFrame(pfn, Owner.TMEM);
    throw new TmemError(ErrorCode.ENOSPC, `all ${MAX_INSTANCES} tmem backend instances are in use`);
  }

  /**
   * Release instance `id` at generation `gen` and its state frame (its pools
   * must be gone). Does nothing if that generation is no longer alive.
   */
  freeInstance(id: number, gen: number): void {
    const o = INSTANCES + id * INSTANCE_SIZE;
    this.lock(INSTANCE_LOCK);
    try {
      if (Atomics.load(this.i32, this.w(o)) !== ((gen << 1) | 1)) return;
      const pfn = Atomics.load(this.i32, this.w(o) + 1);
      Atomics.store(this.i32, this.w(o), gen << 1);
      this.openers(id).fill(0);
      this.pm.freeFrame(this.pm.pfn(pfn), Owner.TMEM);
    } finally {
      this.unlock(INSTANCE_LOCK);
    }
    const b = this.opened.get(id);
    if (b !== undefined && b.generation === gen) this.opened.delete(id);
  }

  /** The type, state frame and generation of live instance `id`, or null if the slot is free. */
  instanceInfo(id: number): InstanceInfo | null {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_INSTANCES) return null;
    const o = INSTANCES + id * INSTANCE_SIZE;
    const state = Atomics.load(this.i32, this.w(o));
    if ((state & 1) === 0) return null;
    const len = Atomics.load(this.i32, this.w(o) + 2);
    const type = new TextDecoder().decode(this.u8.slice(o + INSTANCE_NAME, o + INSTANCE_NAME + len));
    return { type, pfn: Atomics.load(this.i32, this.w(o) + 1), generation: state >>> 1 };
  }

  /** Word index (in {@link i32}) of instance `id`'s state word: (generation << 1 | 1) while alive. */
  stateWord(id: number): number {
    return this.w(INSTANCES + id * INSTANCE_SIZE);
  }

  /** Whether instance `id` is alive at generation `gen`. */
  isLive(id: number, gen: number): boolean {
    return Atomics.load(this.i32, this.stateWord(id)) === ((gen << 1) | 1);
  }

  /**
   * Record that this Worker has instance `id` open (or no longer has).
   * Thread safety: atomic on the map word; any Worker.
   */
  markOpener(id: number, open: boolean): void {
    const m = this.openers(id), bit = 1 << (this.pm.slot & 31), w = this.pm.slot >> 5;
    if (open) Atomics.or(m, w, bit); else Atomics.and(m, w, ~bit);
  }

  /** Attached Worker slots other than this one that have instance `id` open. */
  otherOpeners(id: number): number[] {
    const m = this.openers(id), out: number[] = [];
    const attached = new Uint32Array(this.pm.memory.buffer, CTRL_BASE + CTRL_WORKER_MAP_OFF, MAX_WORKERS / 32);
    for (let w = 0; w < MAX_WORKERS / 32; w++) {
      const bits = Atomics.load(m, w) & Atomics.load(attached, w);
      if (bits === 0) continue;
      for (let b = 0; b < 32; b++) if ((bits & (1 << b)) !== 0 && w * 32 + b !== this.pm.slot) out.push(w * 32 + b);
    }
    return out;
  }

  /**
   * Clear what Worker slot `slot` (dead, being reclaimed: {@link
   * PhysicalMemory.reclaim}) held here: its grace counters (its operations in
   * flight died with it) and its opener marks. Its event counters stay.
   */
  reclaimSlot(slot: number): void {
    const t = this.tails[slot];
    if (t !== undefined) for (let i = 0; i < 4; i++) Atomics.store(t, i, 0);
    const bit = 1 << (slot & 31), w = slot >> 5;
    for (let id = 0; id < MAX_INSTANCES; id++) Atomics.and(this.openers(id), w, ~bit);
  }

  /** Forget every instance this Worker has open (it is detaching). */
  private dropOpeners(): void {
    for (let id = 0; id < MAX_INSTANCES; id++) this.markOpener(id, false);
    this.opened.clear();
  }

  private openers(id: number): Int32Array {
    return new Int32Array(this.pm.memory.buffer, this.root + OPENERS_OFF + id * OPENER_MAP_BYTES, OPENER_MAP_BYTES / 4);
  }

  /** @throws TmemError EINVAL when the memory was detached in this thread. */
  live(): void {
    if (!this.pm.isAttached) throw detachedError();
  }

  /** Remember a backend object made or opened in this thread (and mark this Worker an opener). */
  remember(b: TmemBackend): void {
    this.opened.set(b.instance, b);
    this.markOpener(b.instance, true);
  }

  /**
   * The backend object this thread has open for instance `id` at its current
   * generation, or undefined (never opened here, or the one cached here
   * belongs to a destroyed instance whose id was reused: it is dropped).
   */
  current(id: number): TmemBackend | undefined {
    const b = this.opened.get(id);
    if (b === undefined) return undefined;
    if (this.isLive(id, b.generation)) return b;
    this.opened.delete(id);
    return undefined;
  }

  /** The object for chain entry `e` if this thread has it open at that generation. */
  forEntry(e: number): TmemBackend | undefined {
    const b = this.current(e & CHAIN_ID_MASK);
    return b !== undefined && entryIs(e, b) ? b : undefined;
  }

  /**
   * Open instance `id` in this thread (cached per generation).
   * @throws TmemError ENODEV for a free slot or an unknown type.
   */
  async open(id: number): Promise<TmemBackend> {
    this.live();
    const have = this.current(id);
    if (have !== undefined) return have;
    let p = this.opening.get(id);
    if (p === undefined) {
      const info = this.instanceInfo(id);
      if (info === null) throw new TmemError(ErrorCode.ENODEV, `tmem backend instance ${id} does not exist`);
      p = openBackend(this.pm, info.type, id).then((b) => {
        if (b.generation !== info.generation || !this.isLive(id, b.generation)) {
          throw new TmemError(ErrorCode.ENODEV, `tmem backend instance ${id} was destroyed while it was being opened`);
        }
        this.remember(b);
        return b;
      }).finally(() => this.opening.delete(id));
      this.opening.set(id, p);
    }
    return p;
  }
}

const areas = new WeakMap<PhysicalMemory, FrontendArea>();
// A reclaimed slot's frontend words are cleared whichever thread reclaims it.
PhysicalMemory.onAnyReclaim((pm, slot) => FrontendArea.for(pm).reclaimSlot(slot));

/** A live backend instance as the instance table records it. */
export interface InstanceInfo {
  /** The backend type name. */
  type: string;
  /** Its shared state frame. */
  pfn: number;
  /** Its generation (bumped each time the slot is reused). */
  generation: number;
}

/** The one error every layer raises for a call on a detached memory. */
export function detachedError(): TmemError {
  return new TmemError(ErrorCode.EINVAL, "this PhysicalMemory was detached: attach again to use it");
}

/** A resolved chain: backends in order (newest first) with their draining flags. */
export interface Chain {
  generation: number;
  backends: TmemBackend[];
  instances: number[];
  draining: boolean[];
  /** Whether any backend on the chain is being drained (frontswap then serialises each key with the drain). */
  anyDraining: boolean;
}

/**
 * One frontend's registry: the chain of backends in shared memory, its lock,
 * and the grace counters. `off` is REG_CLEANCACHE or REG_FRONTSWAP.
 */
export class FrontendRegistry {
  readonly area: FrontendArea;
  private readonly off: number;
  private cached: Chain = { generation: -1, backends: [], instances: [], draining: [], anyDraining: false };

  /** Word index of the generation in the area. */
  private readonly genWord: number;
  /** This Worker's grace counters (in its own scratch: no cache line shared with other Workers). */
  private readonly mine: Int32Array;
  /** Index of this registry's two counters in `mine`. */
  private readonly activeBase: number;

  constructor(area: FrontendArea, off: number) {
    this.area = area;
    this.off = off;
    this.genWord = area.w(off + REG_GEN);
    this.mine = area.tail;
    this.activeBase = off === REG_CLEANCACHE ? 0 : 2;
  }

  /** Take the registration lock (lock order: outermost). */
  lock(): void {
    this.area.lock(this.off + REG_LOCK);
  }

  unlock(): void {
    this.area.unlock(this.off + REG_LOCK);
  }

  /** The generation now. */
  generation(): number {
    return Atomics.load(this.area.i32, this.area.w(this.off + REG_GEN));
  }

  /** Chain entries in shared memory (instance | flags), newest first. */
  entries(): number[] {
    const i32 = this.area.i32, w = this.area.w(this.off);
    const n = Atomics.load(i32, w + REG_LEN / 4);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Atomics.load(i32, w + REG_CHAIN / 4 + i));
    return out;
  }

  /**
   * Write a new chain and publish it (bump the generation). The caller holds
   * the lock and has finished every state change the new chain relies on.
   */
  publish(entries: number[]): void {
    const i32 = this.area.i32, w = this.area.w(this.off);
    if (entries.length > MAX_CHAIN) throw new TmemError(ErrorCode.ENOSPC, `at most ${MAX_CHAIN} backends can be chained`);
    for (let i = 0; i < entries.length; i++) Atomics.store(i32, w + REG_CHAIN / 4 + i, entries[i]!);
    Atomics.store(i32, w + REG_LEN / 4, entries.length);
    Atomics.add(i32, w + REG_GEN / 4, 1);
  }

  /** Enter an operation; returns the token for {@link exit}. Never blocks. */
  enter(): number {
    if (!this.area.pm.isAttached) throw detachedError();
    const i32 = this.area.i32, gw = this.genWord, mine = this.mine;
    for (;;) {
      const g = Atomics.load(i32, gw);
      const k = this.activeBase + (g & 1);
      Atomics.add(mine, k, 1);
      if (Atomics.load(i32, gw) === g) return k;
      Atomics.sub(mine, k, 1);
    }
  }

  /** Leave an operation entered with {@link enter}. */
  exit(token: number): void {
    Atomics.sub(this.mine, token, 1);
  }

  /**
   * Wait until every operation, in any Worker, that entered before this call
   * has left (a grace period). Call it WITHOUT holding the registration lock.
   *
   * Soundness (SRCU's flip-and-wait-twice): synchronizers are serialised by
   * their own futex. A reader still inside may have entered under either
   * parity (a publish is a flip too, and several may have happened since it
   * entered), so a synchronizer flips the generation and waits for the old
   * parity's counters to drain in every attached slot, then flips again and
   * waits for the other parity. Between its flips new readers count under
   * the other parity (a reader that increments across a flip sees the
   * generation changed on its re-check, which compares the whole value, and
   * retries), so each wait ends. One flip is not enough: a reader that
   * entered before the caller's publish has the parity the first flip makes
   * current again.
   *
   * Spins with 1 ms sleeps where the thread may block (a browser main thread
   * just spins).
   * @throws TmemError ETIMEDOUT when one Worker slot stays inside an
   *   operation for `timeoutMs` (a Worker that died there: reclaim it); the
   *   caller's change is then published but not yet safe to act on.
   */
  synchronize(timeoutMs = GRACE_TIMEOUT_MS): void {
    const syncLock = this.off + REG_SYNC;
    this.area.lock(syncLock);
    try {
      for (let flip = 0; flip < 2; flip++) this.drainParity(this.activeBase + (Atomics.add(this.area.i32, this.genWord, 1) & 1), timeoutMs);
    } finally {
      this.area.unlock(syncLock);
    }
  }

  /** Wait until counter `old` is 0 in every attached slot (bounded by `timeoutMs` per slot). */
  private drainParity(old: number, timeoutMs: number): void {
    const pm = this.area.pm;
    {
      const map = new Uint32Array(pm.memory.buffer, CTRL_BASE + CTRL_WORKER_MAP_OFF, MAX_WORKERS / 32);
      for (let slot = 0; slot < pm.layout.maxWorkers; slot++) {
        if ((Atomics.load(map, slot >> 5) & (1 << (slot & 31))) === 0) continue; // not attached
        const counters = this.area.tails[slot]!;
        let deadline = 0;
        for (let v = Atomics.load(counters, old); v !== 0; v = Atomics.load(counters, old)) {
          const now = Date.now();
          if (deadline === 0) deadline = now + timeoutMs;
          else if (now > deadline) {
            throw new TmemError(ErrorCode.ETIMEDOUT,
              `Worker slot ${slot} stayed inside a frontend operation for ${timeoutMs} ms; if that Worker died, reclaim its slot`);
          }
          if (pm.canBlock) Atomics.wait(counters, old, v, 1);
        }
      }
    }
  }

  /**
   * The chain as backends opened in this thread (cached per generation).
   * @throws TmemError ENODEV when an instance registered by another Worker is
   *   not open here yet: `await` {@link ready} (or the frontend's `ready()`)
   *   and retry. Opening starts in the background.
   */
  chain(): Chain {
    const g = this.generation();
    if (g === this.cached.generation) return this.cached;
    const entries = this.entries();
    const backends: TmemBackend[] = [];
    const instances: number[] = [];
    const draining: boolean[] = [];
    for (const e of entries) {
      const id = e & CHAIN_ID_MASK;
      const b = this.area.forEntry(e);
      if (b === undefined) {
        void this.area.open(id).catch(() => undefined);
        throw new TmemError(ErrorCode.ENODEV,
          `tmem backend instance ${id} was registered by another Worker and is not open in this one yet: await the frontend's ready() and retry`);
      }
      backends.push(b);
      instances.push(id);
      draining.push((e & CHAIN_DRAINING) !== 0);
    }
    const c = { generation: g, backends, instances, draining, anyDraining: draining.includes(true) };
    // Only cache if nothing changed meanwhile.
    if (this.generation() === g) this.cached = c;
    return c;
  }

  /**
   * Run `fn` under the registration lock with the chain's entries and every
   * chained backend open in this thread (waiting, outside the lock, for any
   * still opening). Both frontends' registration changes go through it.
   */
  async locked<T>(fn: (entries: number[], backends: TmemBackend[]) => T): Promise<T> {
    for (let round = 0; ; round++) {
      await this.ready();
      this.area.live();
      this.lock();
      try {
        const entries = this.entries();
        const backends = entries.map((e) => this.area.forEntry(e));
        const missing = backends.findIndex((x) => x === undefined);
        if (missing < 0) return fn(entries, backends as TmemBackend[]);
        // A chain that names an instance generation that is no longer alive
        // (never the case while destroy refuses registered backends).
        if (round >= 16) {
          throw new TmemError(ErrorCode.ENODEV,
            `the chain names backend instance ${entryId(entries[missing]!)} at a generation that is no longer alive`);
        }
      } finally {
        this.unlock();
      }
    }
  }

  /**
   * The common part of cleancache's and frontswap's registerOps: under the
   * lock, refuse a backend already chained (EEXIST) or a full chain (ENOSPC),
   * create its pools for the frontend's live slots (`pools()` lists [slot,
   * spec]; all are made or, on an error, none is left: {@link makePools}),
   * record each with `setPool`, then publish the chain with the backend at
   * its head. On any error nothing changed.
   * @param frontend - "cleancache" or "frontswap", for messages.
   * @returns the previous head of the chain, or null.
   */
  async register(backend: TmemBackend, frontend: string, pools: () => Array<[number, PoolSpec]>,
                 setPool: (slot: number, instance: number, pool: number) => void): Promise<TmemBackend | null> {
    this.area.live();
    checkBackend(this.area.pm, backend, "registerOps");
    if (!this.area.isLive(backend.instance, backend.generation)) {
      throw new TmemError(ErrorCode.ENODEV, `backend instance ${backend.instance} was destroyed`);
    }
    this.area.remember(backend);
    const prev = await this.locked((entries) => {
      if (entries.some((e) => entryId(e) === backend.instance)) {
        throw new TmemError(ErrorCode.EEXIST, `backend instance ${backend.instance} is registered with ${frontend} already`);
      }
      if (entries.length >= MAX_CHAIN) {
        throw new TmemError(ErrorCode.ENOSPC, `at most ${MAX_CHAIN} backends can be chained on ${frontend}`);
      }
      const list = pools();
      const made = makePools(list.map(([, spec]) => [backend, spec]));
      for (let i = 0; i < list.length; i++) setPool(list[i]![0], backend.instance, made[i]!);
      this.publish([chainEntry(backend.instance, backend.generation), ...entries]);
      return entries.length > 0 ? entryId(entries[0]!) : -1;
    });
    return prev < 0 ? null : this.area.open(prev);
  }

  /** Open every backend on the chain in this thread. */
  async ready(): Promise<void> {
    for (;;) {
      const g = this.generation();
      try {
        for (const e of this.entries()) await this.area.open(e & CHAIN_ID_MASK);
      } catch (err) {
        // An instance destroyed after we read the chain: the chain changed too; read it again.
        if (this.generation() !== g) continue;
        throw err;
      }
      if (this.generation() === g) return;
    }
  }
}

/**
 * Create one pool per [backend, spec], all or none: if any createPool throws,
 * the pools made so far are destroyed (each destroy's own error is dropped in
 * favour of the first) and the first error is rethrown.
 * @returns the pool ids, in order.
 * Thread safety: the caller holds the registration lock.
 */
export function makePools(list: ReadonlyArray<readonly [TmemBackend, PoolSpec]>): number[] {
  const made: number[] = [];
  try {
    for (const [b, spec] of list) made.push(b.createPool(spec));
  } catch (e) {
    for (let i = 0; i < made.length; i++) {
      try { list[i]![0].destroyPool(made[i]!); } catch { /* the first error is the one to report */ }
    }
    throw e;
  }
  return made;
}
