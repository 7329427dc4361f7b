// SPDX-License-Identifier: MIT
/**
 * physmem.ts: physical memory, the ground every tmem structure stands on.
 *
 * A {@link PhysicalMemory} is one shared `WebAssembly.Memory` holding N page
 * frames of 4 KiB, a frame allocator and per-frame owner tags (in wasm,
 * assembly/frames.ts), and one scratch area per attached Worker. The creating
 * thread calls {@link PhysicalMemory.create}; every other Worker receives
 * {@link PhysicalMemory.handle} (the compiled Module and the Memory, both
 * structured-cloneable) and calls {@link PhysicalMemory.attach}. Each attached
 * instance has its own wasm instance, its own scratch area, and sees the same
 * frames. {@link PhysicalMemory.detach} returns the scratch slot.
 *
 * A Worker that dies without detaching keeps its slot until another thread
 * calls {@link PhysicalMemory.reclaim} for it (src/workers.ts does so on a
 * Worker's `exit` event): the slot's frame cache, pending counts, lock
 * ownership (assembly/lock.ts) and the frontends' per-slot words (reclaim
 * hooks) are recovered, and the slot can be attached again.
 *
 * Thread safety: every method may be called concurrently from any attached
 * Worker; the frame allocator is lock-free. A `PhysicalMemory` object itself
 * belongs to the thread that made it (it wraps that thread's wasm instance).
 *
 * @module
 */
import { type Build, type CoreExports, buildStamp, compileCore, instantiateCore, assertEnvironment } from "./wasm.js";
import { ErrorCode, Status, TmemError, argCheck, check } from "./status.js";
import {
  CTRL_BASE, CTRL_RESERVED_OFF, DEFAULT_FRAMES, DEFAULT_MAX_WORKERS, MAX_WORKERS, Owner, PAGE_SIZE,
  SCRATCH_IO, SCRATCH_SIZE, WASM_PAGE, computeLayout, maxFrames, type Layout,
} from "./layout.js";

import {
  CTRL_MAGIC, CTRL_MAGIC_OFF, CTRL_NFRAMES_OFF, CTRL_FRAMES_BASE_OFF, CTRL_META_BASE_OFF, CTRL_SCRATCH_BASE_OFF,
  CTRL_SCRATCH_SIZE_OFF, CTRL_MAX_WORKERS_OFF,
} from "./layout.generated.js";

/** The control block's layout words, read by their assembly/common.ts offsets. */
interface ControlWords {
  magic: number;
  frames: number;
  framesBase: number;
  metaBase: number;
  scratchBase: number;
  scratchSize: number;
  maxWorkers: number;
}

/** Read the control block's layout words (plain loads: they are written once, by pm_format). */
function readControlWords(memory: WebAssembly.Memory): ControlWords {
  const v = new DataView(memory.buffer, CTRL_BASE, CTRL_MAX_WORKERS_OFF + 4);
  const u32 = (off: number): number => v.getUint32(off, true);
  return {
    magic: u32(CTRL_MAGIC_OFF), frames: u32(CTRL_NFRAMES_OFF), framesBase: u32(CTRL_FRAMES_BASE_OFF),
    metaBase: u32(CTRL_META_BASE_OFF), scratchBase: u32(CTRL_SCRATCH_BASE_OFF), scratchSize: u32(CTRL_SCRATCH_SIZE_OFF),
    maxWorkers: u32(CTRL_MAX_WORKERS_OFF),
  };
}

/** Options of {@link PhysicalMemory.create}. */
export interface PhysicalMemoryOptions {
  /**
   * Number of 4 KiB page frames; memory is reserved for all of them up front.
   * @defaultValue 4096 (16 MiB)
   */
  frames?: number;
  /**
   * Most Workers attached at once (each takes a 64 KiB scratch area), 1 to 256.
   * @defaultValue 16
   */
  maxWorkers?: number;
  /**
   * Which wasm build to run: `"debug"` checks invariants with assertions.
   * @defaultValue "release"
   */
  build?: Build;
  /**
   * Allow a browser page that is not cross-origin isolated. The memory then
   * works on this thread only: it cannot be posted to Workers.
   * @defaultValue false (such a page gets ENOTSUP with the headers to set)
   */
  allowUnisolated?: boolean;
  /**
   * Touch every 4 KiB of the memory once, here, before anything uses it: the
   * operating system's first-touch page faults (zero-filling each page on its
   * first write) are then paid once, by this call, instead of by the Workers
   * that fill fresh frames, where they serialise on the process's page
   * tables. Costs time in `create` proportional to the size (and makes all of
   * it resident at once, which a lazily touched memory is not).
   * @defaultValue false
   */
  prefault?: boolean;
}

/** What a Worker needs to attach: post it with postMessage or workerData. */
export interface PhysicalMemoryHandle {
  /** The compiled wasm core (the build that formatted the memory). */
  readonly module: WebAssembly.Module;
  /** The shared memory. */
  readonly memory: WebAssembly.Memory;
}

/** A snapshot of frame usage. Counters are read without a lock: each is exact, the set is not atomic. */
export interface PhysicalMemoryStats {
  /** Page frames (4 KiB each) in the memory. */
  totalFrames: number;
  /** Frames not allocated. */
  freeFrames: number;
  /** Frames allocated, all owners. */
  usedFrames: number;
  /**
   * Frames held per owner tag (1..255: the library's tags and the caller's
   * from 16 up); only tags holding frames appear. Keyed by data, not by
   * field, hence the record.
   */
  byOwner: Record<number, number>;
  /** Workers (instances) attached now, this one included; reserved slots count. */
  attachedWorkers: number;
}

/**
 * Refuse a control block whose layout words disagree with each other or with
 * the memory's size (garbled, or another program's memory): the wasm trusts
 * them for every bounds check.
 * @throws TmemError ENODEV (never formatted) or EPROTO (inconsistent).
 */
function checkControlBlock(memory: WebAssembly.Memory): void {
  const { magic, frames, framesBase, metaBase, scratchBase, scratchSize, maxWorkers } = readControlWords(memory);
  if (magic !== CTRL_MAGIC) throw new TmemError(ErrorCode.ENODEV, "this memory was never formatted by PhysicalMemory.create");
  const want = computeLayout(frames, maxWorkers);
  if (frames < 1 || maxWorkers < 1 || maxWorkers > MAX_WORKERS || want === null || scratchSize !== SCRATCH_SIZE
      || want.framesBase !== framesBase || want.metaBase !== metaBase || want.scratchBase !== scratchBase
      || want.wasmPages * WASM_PAGE > memory.buffer.byteLength) {
    throw new TmemError(ErrorCode.EPROTO,
      `this memory's control block is inconsistent (frames ${frames}, maxWorkers ${maxWorkers}, ${memory.buffer.byteLength} bytes): it is damaged or not a tmem memory`);
  }
}

/** Options of {@link PhysicalMemory.attach}. */
export interface AttachOptions {
  /**
   * Attach to this slot, reserved for this thread by
   * {@link PhysicalMemory.reserveSlot} (so the reserving thread knows the
   * slot before this one runs, and can reclaim it if this one dies).
   * @defaultValue the lowest free slot
   */
  slot?: number;
}

/**
 * Longest wait (ms) of a host-side lock (the frontends' registration and
 * instance locks, the zpool table lock) on a live owner before it throws
 * ETIMEDOUT. A dead owner's lock is taken over once its slot is reclaimed.
 */
export const LOCK_HOST_TIMEOUT_MS = 30_000;

/**
 * A Worker slot of a memory, 0 ≤ slot < maxWorkers: which scratch area an
 * attached thread (or a reserved one) owns, as {@link PhysicalMemory.slot}
 * and {@link PhysicalMemory.reserveSlot} give it. Branded: a frame number, a
 * pool id, a swap type or a plain number is not a WorkerSlot to the type
 * checker; {@link PhysicalMemory.workerSlot} makes one from a number (one
 * posted by another Worker), checking its range.
 */
export type WorkerSlot = number & { readonly [workerSlotBrand]: "worker slot" };
declare const workerSlotBrand: unique symbol;

/** A hook run by {@link PhysicalMemory.reclaim} with the slot being reclaimed. */
export type ReclaimHook = (pm: PhysicalMemory, slot: WorkerSlot) => void;
const anyReclaimHooks: ReclaimHook[] = [];

/**
 * A page-frame number, 0 ≤ pfn < frames, as {@link PhysicalMemory.allocFrame}
 * returns it. Branded: a zpool handle, a byte address or a plain number is
 * not a Pfn to the type checker; {@link PhysicalMemory.pfn} makes one from a
 * number (one read back from shared memory or posted by another Worker),
 * checking its range.
 */
export type Pfn = number & { readonly [pfnBrand]: "page-frame number" };
declare const pfnBrand: unique symbol;

const isBrowserMainThread = (): boolean =>
  typeof (globalThis as { document?: unknown }).document === "object";

/** True if this thread may block in Atomics.wait (false on a browser main thread). */
function probeCanBlock(memory: WebAssembly.Memory): boolean {
  try {
    // The word is always 0, so a permitted wait returns "not-equal" at once.
    Atomics.wait(new Int32Array(memory.buffer, CTRL_BASE + CTRL_RESERVED_OFF, 1), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One attached view of a physical memory: this thread's wasm instance over the
 * shared memory, and its scratch slot.
 */
export class PhysicalMemory {
  /** The shared memory. */
  readonly memory: WebAssembly.Memory;
  /** The compiled wasm core. */
  readonly module: WebAssembly.Module;
  /** @internal This thread's wasm instance exports (for the layers above). */
  readonly core: CoreExports;
  /** @internal The layout of the memory (byte addresses of its regions). */
  readonly layout: Layout;
  /** This instance's scratch slot (0 ≤ slot < maxWorkers). */
  readonly slot: WorkerSlot;
  /** @internal Address of this instance's scratch area ({@link SCRATCH_SIZE} bytes). */
  readonly scratch: number;
  /** @internal Whether this thread may block in Atomics.wait (false on a browser main thread). */
  readonly canBlock: boolean;
  /** @internal Bytes of the whole memory, as a view (the memory never grows). */
  readonly u8: Uint8Array;
  private attached = true;
  private readonly detachHooks: Array<() => void> = [];
  private readonly reclaimHooks: Array<(slot: WorkerSlot) => void> = [];

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, core: CoreExports,
                      layout: Layout, slot: number, canBlock: boolean) {
    this.module = module;
    this.memory = memory;
    this.core = core;
    this.layout = layout;
    this.slot = slot as WorkerSlot;
    this.scratch = layout.scratchBase + slot * SCRATCH_SIZE;
    this.canBlock = canBlock;
    this.u8 = new Uint8Array(memory.buffer);
    // Host-side locks are bounded: a wait on a live owner that outlasts
    // LOCK_HOST_TIMEOUT_MS throws ETIMEDOUT instead of hanging the thread (the
    // wasm export waits without a bound as long as the owner lives).
    const timed = core.lock_acquire_timed;
    Object.defineProperty(core, "lock_acquire", {
      value: (addr: number): void => {
        if (timed(addr, LOCK_HOST_TIMEOUT_MS) < 0) {
          throw new TmemError(ErrorCode.ETIMEDOUT,
            `a lock at ${addr} stayed held by another Worker for ${LOCK_HOST_TIMEOUT_MS} ms; if that Worker died, reclaim its slot (pm.reclaim)`);
        }
      },
      writable: true, configurable: true,
    });
  }

  /**
   * Create a physical memory of `frames` page frames and attach to it.
   * @throws TmemError EINVAL for a non-integer or out-of-range `frames` or
   *   `maxWorkers`; ENOMEM when the host cannot reserve the memory; ENOTSUP when
   *   the environment has no wasm threads or is a non-isolated browser page.
   */
  static async create(options: PhysicalMemoryOptions = {}): Promise<PhysicalMemory> {
    argCheck(typeof options === "object" && options !== null, "PhysicalMemory.create takes an options object");
    // Only a missing option takes its default: null, NaN or "4096" are errors, not the default.
    const frames = options.frames === undefined ? DEFAULT_FRAMES : options.frames;
    const maxWorkers = options.maxWorkers === undefined ? DEFAULT_MAX_WORKERS : options.maxWorkers;
    const build = options.build === undefined ? "release" : options.build;
    argCheck(build === "release" || build === "debug", `build must be "release" or "debug", not ${String(build)}`);
    argCheck(options.prefault === undefined || typeof options.prefault === "boolean",
      `prefault must be a boolean, not ${String(options.prefault)}`);
    argCheck(Number.isSafeInteger(maxWorkers) && maxWorkers >= 1 && maxWorkers <= MAX_WORKERS,
      `maxWorkers must be an integer from 1 to ${MAX_WORKERS}, not ${String(maxWorkers)}`);
    const limit = maxFrames(maxWorkers);
    argCheck(Number.isSafeInteger(frames) && frames >= 1 && frames <= limit,
      `frames must be an integer from 1 to ${limit} (4 GiB of wasm32 memory), not ${String(frames)}`);
    assertEnvironment(options.allowUnisolated === true);
    const layout = computeLayout(frames, maxWorkers)!;
    const module = await compileCore(build);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: layout.wasmPages, maximum: layout.wasmPages, shared: true });
    } catch (e) {
      throw new TmemError(ErrorCode.ENOMEM, `cannot reserve ${layout.wasmPages * 64} KiB of shared memory: ${String(e)}`);
    }
    if (options.prefault === true) {
      // One write per 4 KiB (the value it already holds: 0); nobody else can reach the memory yet.
      const u8 = new Uint8Array(memory.buffer);
      for (let i = 0; i < u8.length; i += 4096) u8[i] = 0;
    }
    const core = await instantiateCore(module, memory);
    check(core.pm_heap_base() < CTRL_BASE ? 0 : Status.EINVAL, "static data overlaps the control block");
    const stamp = buildStamp(module)!;
    check(core.pm_format(frames, layout.framesBase, layout.metaBase, layout.scratchBase, SCRATCH_SIZE,
      maxWorkers, stamp[0], stamp[1]), "pm_format");
    return PhysicalMemory.attachCore(module, memory, core, stamp);
  }

  /**
   * Attach this thread to an existing physical memory, given what the creator
   * posted ({@link PhysicalMemory.handle}). Takes one scratch slot until
   * {@link detach}.
   * @throws TmemError EINVAL when the memory is not a shared WebAssembly.Memory
   *   or the module is not a tmem core; ENODEV when the memory was never
   *   formatted; EPROTO when it was formatted by a different build of tmem;
   *   EBUSY when every Worker slot is taken; EINVAL when `options.slot` is
   *   not a slot reserved by {@link reserveSlot} (or was reclaimed since).
   */
  static async attach(handle: PhysicalMemoryHandle, options: AttachOptions = {}): Promise<PhysicalMemory> {
    argCheck(typeof handle === "object" && handle !== null, "attach needs { module, memory }");
    argCheck(typeof options === "object" && options !== null, "attach options must be an object");
    const want = options.slot;
    argCheck(want === undefined || (Number.isInteger(want) && want >= 0 && want < MAX_WORKERS),
      `options.slot must be an integer from 0 to ${MAX_WORKERS - 1}, not ${String(want)}`);
    const { module, memory } = handle;
    argCheck(module instanceof WebAssembly.Module, "handle.module must be a WebAssembly.Module");
    argCheck(memory instanceof WebAssembly.Memory, "handle.memory must be a WebAssembly.Memory");
    const buf = memory.buffer as ArrayBufferLike;
    argCheck(Object.prototype.toString.call(buf) === "[object SharedArrayBuffer]",
      "handle.memory must be a shared WebAssembly.Memory (created with shared: true)");
    const stamp = buildStamp(module);
    argCheck(stamp !== null, "handle.module is not a tmem core (no tmem.build stamp)");
    assertEnvironment();
    // The control block must be there and consistent before any wasm reads it.
    argCheck(buf.byteLength >= CTRL_BASE + WASM_PAGE,
      `handle.memory holds ${buf.byteLength} bytes: too small to be a tmem physical memory (made by PhysicalMemory.create)`);
    checkControlBlock(memory);
    let core: CoreExports;
    try {
      core = await instantiateCore(module, memory);
    } catch (e) {
      if (e instanceof TmemError) throw e;
      throw new TmemError(ErrorCode.EINVAL, `cannot instantiate the tmem core on handle.memory: ${String(e)}`);
    }
    return PhysicalMemory.attachCore(module, memory, core, stamp, want);
  }

  private static attachCore(module: WebAssembly.Module, memory: WebAssembly.Memory, core: CoreExports,
                            stamp: [number, number], want?: number): PhysicalMemory {
    const canBlock = probeCanBlock(memory) && !isBrowserMainThread();
    const slot = want === undefined ? core.pm_attach(stamp[0], stamp[1], canBlock) : core.pm_attach_slot(want, stamp[0], stamp[1], canBlock);
    if (slot === Status.EINVAL && want !== undefined) {
      throw new TmemError(ErrorCode.EINVAL, `slot ${want} is not reserved for an attach (reserveSlot), or was attached or reclaimed since`);
    }
    if (slot === Status.EPROTO) {
      throw new TmemError(ErrorCode.EPROTO,
        "this memory was formatted by a different build of tmem (layout version mismatch): attach with the module it was created with");
    }
    if (slot === Status.ENODEV) throw new TmemError(ErrorCode.ENODEV, "this memory was never formatted by PhysicalMemory.create");
    if (slot === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, "every Worker slot of this memory is taken (raise maxWorkers)");
    check(slot, "pm_attach");
    const { frames, framesBase, metaBase, scratchBase, maxWorkers } = readControlWords(memory);
    const layout: Layout = { frames, maxWorkers, scratchBase, metaBase, framesBase, wasmPages: memory.buffer.byteLength / WASM_PAGE };
    return new PhysicalMemory(module, memory, core, layout, slot, canBlock);
  }

  /** What another Worker needs to attach; structured-cloneable. */
  get handle(): PhysicalMemoryHandle {
    return { module: this.module, memory: this.memory };
  }

  /** Number of page frames. */
  get frames(): number {
    return this.layout.frames;
  }

  private live(): void {
    if (!this.attached) throw new TmemError(ErrorCode.EINVAL, "this PhysicalMemory was detached");
  }

  private checkOwner(owner: number): void {
    argCheck(Number.isInteger(owner) && owner >= 1 && owner <= 255, `owner tag must be an integer from 1 to 255, not ${String(owner)}`);
  }

  private checkPfn(pfn: number): void {
    argCheck(Number.isInteger(pfn) && pfn >= 0 && pfn < this.layout.frames,
      `frame number must be an integer from 0 to ${this.layout.frames - 1}, not ${String(pfn)}`);
  }

  /**
   * `n` as a {@link Pfn}: the boundary where a frame number that came as a
   * plain number (read from shared memory, posted by another Worker) is
   * checked. Says nothing about who holds the frame.
   * @throws TmemError EINVAL unless `n` is an integer from 0 to frames - 1.
   */
  pfn(n: number): Pfn {
    this.checkPfn(n);
    return n as Pfn;
  }

  /**
   * Allocate one frame for `owner`. Its bytes are whatever its last owner left.
   * @param owner - owner tag, 1..255 ({@link Owner}; 16..255 are free for callers).
   * @returns the frame number.
   * @throws TmemError ENOMEM when no frame is free; EINVAL for a bad tag.
   */
  allocFrame(owner: number = Owner.USER): Pfn {
    this.live();
    this.checkOwner(owner);
    return check(this.core.frame_alloc(owner), "frame_alloc: out of page frames") as Pfn;
  }

  /**
   * Free frame `pfn`, which must be held by `owner` (by default
   * {@link Owner.USER}, what {@link allocFrame} gives by default): a caller
   * can never free a frame zsmalloc, zbud or the tmem core holds.
   * @throws TmemError EINVAL when the frame is out of range, already free, or
   *   held by another owner; nothing changes then.
   */
  freeFrame(pfn: Pfn, owner: number = Owner.USER): void {
    this.live();
    this.checkPfn(pfn);
    this.checkOwner(owner);
    if (this.core.frame_free(pfn, owner) < 0) {
      const cur = this.core.frame_owner(pfn);
      throw new TmemError(ErrorCode.EINVAL, cur === 0
        ? `frame ${pfn} is not allocated (double free?)`
        : `frame ${pfn} is held by owner ${cur}, not ${owner}`);
    }
  }

  /** Owner tag of frame `pfn`, 0 when free. @throws TmemError EINVAL for a bad pfn. */
  frameOwner(pfn: Pfn): number {
    this.checkPfn(pfn);
    return this.core.frame_owner(pfn);
  }

  /** Byte address of frame `pfn` in the memory. @throws TmemError EINVAL for a bad pfn. */
  frameAddress(pfn: Pfn): number {
    this.checkPfn(pfn);
    return this.layout.framesBase + pfn * PAGE_SIZE;
  }

  /**
   * A view of frame `pfn`'s 4096 bytes. It aliases shared memory: valid for
   * as long as the caller holds the frame. @throws TmemError EINVAL for a bad pfn.
   */
  frameBytes(pfn: Pfn): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.frameAddress(pfn), PAGE_SIZE);
  }

  /** Frame usage now. */
  stats(): PhysicalMemoryStats {
    this.live();
    // One wasm pass writes every owner's count into this Worker's I/O scratch.
    const out = this.scratch + SCRATCH_IO;
    const used = this.core.frame_owned_all(out);
    const counts = new Uint32Array(this.memory.buffer, out, 256);
    const byOwner: Record<number, number> = {};
    for (let owner = 1; owner < 256; owner++) if (counts[owner]! > 0) byOwner[owner] = counts[owner]!;
    return {
      totalFrames: this.layout.frames,
      freeFrames: this.layout.frames - used,
      usedFrames: used,
      byOwner,
      attachedWorkers: this.core.pm_attached(),
    };
  }

  /**
   * Detach this thread: release its scratch slot. The memory and every frame
   * stay as they are for the other Workers. Idempotent.
   */
  detach(): void {
    if (!this.attached) return;
    // Layers above forget what this thread had open (their opener marks live in shared memory).
    for (const hook of this.detachHooks.splice(0)) {
      try { hook(); } catch { /* detaching must complete; a hook's failure leaves only a stale mark */ }
    }
    // Pins this thread still holds (tmem_get KEEP without its unpin): dropped, so the slot's next owner starts with an empty pin table.
    try { this.core.tmem_drop_pins(); } catch { /* detaching must complete */ }
    this.attached = false;
    this.core.pm_detach();
    // Anything that kept this instance's exports (zpools, codecs, the tmem core) now fails
    // loudly instead of writing through a scratch slot that another attach may own.
    const core = this.core as unknown as Record<string, unknown>;
    const refuse = (): never => { throw new TmemError(ErrorCode.EINVAL, "this PhysicalMemory was detached: attach again to use it"); };
    for (const src of [core, Object.getPrototypeOf(core) as Record<string, unknown>]) {
      for (const k of Object.getOwnPropertyNames(src)) {
        // The wasm exports object (the prototype) is frozen: shadow its functions with own properties.
        if (typeof src[k] === "function") Object.defineProperty(core, k, { value: refuse, writable: true, configurable: true });
      }
    }
  }

  /**
   * Reserve a Worker slot for a thread that will attach later with
   * `PhysicalMemory.attach(handle, { slot })`. The slot counts as attached
   * from now on (stats, grace periods), so the reserving thread can
   * {@link reclaim} it if that thread dies before or after it attaches.
   * @returns the slot.
   * @throws TmemError EBUSY when every slot is taken; EINVAL when detached.
   * Thread safety: any attached thread.
   */
  reserveSlot(): WorkerSlot {
    this.live();
    const r = this.core.pm_reserve();
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, "every Worker slot of this memory is taken (raise maxWorkers)");
    return check(r, "pm_reserve") as WorkerSlot;
  }

  /**
   * `n` as a {@link WorkerSlot}: the boundary where a slot posted by another
   * Worker (a plain number once structured-cloned) is checked. Says nothing
   * about whether the slot is attached now.
   * @throws TmemError EINVAL unless `n` is an integer from 0 to maxWorkers - 1.
   */
  workerSlot(n: number): WorkerSlot {
    this.checkSlot(n);
    return n as WorkerSlot;
  }

  private checkSlot(slot: number): void {
    argCheck(Number.isInteger(slot) && slot >= 0 && slot < this.layout.maxWorkers,
      `slot must be an integer from 0 to ${this.layout.maxWorkers - 1}, not ${String(slot)}`);
  }

  /**
   * Recover slot `slot`, whose Worker is dead, for the other Workers: its
   * per-Worker frame cache goes back to the shared free stack, its pending
   * frame counts are published, every lock it held reads as dead (the next
   * waiter takes it over, assembly/lock.ts says per lock what that leaves),
   * the reclaim hooks of the layers above run (the frontends clear its grace
   * counters and its opener marks), and the slot can be attached again.
   *
   * The caller MUST guarantee that the Worker is really gone: terminated (or
   * exited) and its `exit` event seen (in a browser: `worker.terminate()`
   * returned), or it never attached to a reserved slot and never will. A
   * reclaim of a live Worker's slot breaks mutual exclusion for it. Every
   * wasm critical section the Worker was inside is rolled back and its lock
   * released before the slot's generation moves on (assembly/robust.ts);
   * host locks it held are taken over by their next waiter (EOWNERDEAD,
   * {@link lockTakeovers}). A zsmalloc object the dead Worker had mapped is
   * unpinned (it can be freed and compacted again), and so is every tmem
   * page it held pinned (its pin table). Its operation in flight is lost (a
   * store in flight may leak its compressed object). If the dead Worker was
   * itself in the middle of reclaiming another slot, that reclaim is
   * finished here too (that slot is freed as well).
   * @throws TmemError EINVAL for this thread's own slot, a slot out of range,
   *   or one that is not attached or reserved; EBUSY while another reclaim of
   *   it runs. A hook that throws does not stop the reclaim (its error is
   *   rethrown after the slot is free).
   * Thread safety: any attached thread, concurrently with any operation.
   */
  reclaim(slot: number): void {
    // A plain number, as the README documents it (a slot posted by the Worker): checked in reclaimIf.
    this.reclaimIf(slot as WorkerSlot, 0, 0);
  }

  /**
   * @internal {@link reclaim}, only if slot `slot`'s generation is in
   * [gen, gen + span) (span 0: any); returns false (nothing done) when it is
   * not, or when the slot is not attached (it detached on its own).
   */
  reclaimIf(slot: WorkerSlot, gen: number, span: number): boolean {
    this.live();
    this.checkSlot(slot);
    if (slot === this.slot) throw new TmemError(ErrorCode.EINVAL, `slot ${slot} is this thread's own: detach it instead`);
    const r = this.core.pm_reclaim(slot, gen >>> 0, span >>> 0);
    if (r === Status.EINVAL && span !== 0) return false;
    if (r === Status.EINVAL) throw new TmemError(ErrorCode.EINVAL, `slot ${slot} is not attached (nothing to reclaim)`);
    if (r === Status.EBUSY) throw new TmemError(ErrorCode.EBUSY, `slot ${slot} is being reclaimed by another thread`);
    check(r, "pm_reclaim");
    // The host steps of this reclaim, then of every reclaim the dead Worker
    // had in flight itself (it died reclaiming others: pm_reclaim finished
    // their wasm steps and made this thread their reclaimer). Each step may
    // run again if this thread dies here too: whoever reclaims it finishes.
    let first: unknown = undefined;
    for (let s = slot as number; s >= 0; s = this.core.pm_reclaim_next() - 1) {
      // The zsmalloc pin of an object the dead Worker had mapped (its map
      // record, assembly/zsmalloc_map.ts): the object can be freed again.
      this.core.zs_reclaim_slot(s);
      for (const hook of [...anyReclaimHooks.map((h) => (t: WorkerSlot) => h(this, t)), ...this.reclaimHooks]) {
        try { hook(s as WorkerSlot); } catch (e) { first ??= e; }
      }
      check(this.core.pm_reclaim_end(s), "pm_reclaim_end");
    }
    if (first !== undefined) throw first;
    return true;
  }

  /**
   * @internal The generation of slot `slot` (bumped by every reserve,
   * attach and reclaim) and whether it is reserved and not yet attached.
   */
  slotState(slot: WorkerSlot): { generation: number; reserved: boolean } {
    this.live();
    return { generation: this.core.pm_slot_gen(slot) >>> 0, reserved: this.core.pm_reserved(slot) === 1 };
  }

  /**
   * @internal Run `hook(slot)` in {@link reclaim}, before the slot is freed
   * for a new attach (the layers above clear what that slot held).
   */
  onReclaim(hook: (slot: WorkerSlot) => void): void {
    this.live();
    this.reclaimHooks.push(hook);
  }

  /**
   * @internal Run `hook(pm, slot)` in every {@link reclaim} of every memory
   * in this thread (a layer registers it once, at module load, so it runs
   * even when that layer was never used in the reclaiming thread).
   */
  static onAnyReclaim(hook: ReclaimHook): void {
    anyReclaimHooks.push(hook);
  }

  /**
   * Locks taken over from a dead Worker since this memory was created (all
   * Workers): each is an EOWNERDEAD event, the state behind that lock is as
   * the dead Worker left it (assembly/lock.ts says per lock what that means).
   */
  lockTakeovers(): number {
    this.live();
    return this.core.pm_takeovers();
  }

  /**
   * Wasm locks released by reclaims since the memory was created: a reclaim
   * of a dead Worker rolls back the critical sections it was inside
   * (assembly/robust.ts) and releases their locks itself, so their waiters
   * never see the dead owner. Thread safety: any thread; a racy snapshot.
   */
  lockRecoveries(): number {
    this.live();
    return this.core.pm_recovered();
  }

  /**
   * @internal Run `hook` when this thread detaches, before the slot is
   * released (the layers above clear their per-Worker marks in shared memory).
   */
  onDetach(hook: () => void): void {
    this.live();
    this.detachHooks.push(hook);
  }

  /** Whether {@link detach} has not been called. */
  get isAttached(): boolean {
    return this.attached;
  }
}
