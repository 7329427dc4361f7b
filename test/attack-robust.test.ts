// SPDX-License-Identifier: MIT
// Attacks on issue 10's robust tmem core (assembly/robust.ts, tmem.ts's
// sections, tmem_reclaim_slot, pm.reclaim): forged pins, Workers that die
// holding pins, reclaim misuse (twice, concurrently, from a Worker, of a
// slot that changed hands), Workers parked by the debug hook at the k-th
// logged store under each tmem lock during every entry point (evictions
// nest stripe inside LRU, puts nest LRU inside stripe) and killed there, and
// sections that could overflow the undo log. After every reclaim: the index
// and lists are consistent (tmem_check), no lock word is held, the main
// thread's pages are exact, and at the end every descriptor is accounted for.
//
// Attacks that found a bug are `it.fails` with the bug named; each one
// passes (as a failure) only while the bug is there.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory, type WorkerSlot } from "../bindings/physmem.js";
import {
  CTRL_BASE, CTRL_SCRATCH_BASE_OFF, CTRL_SCRATCH_SIZE_OFF, ROOT_TMEM, SCRATCH_ROBUST, R_DESC_CACHE, PIN_SLOTS, R_ENTRIES, UNDO_CAP,
} from "../bindings/layout.generated.js";
import { startWatchdog, waitUntil, sixWordOids, type SixWordCore } from "./helpers.js";

const workerUrl = new URL("./workers/attack-robust-op.mjs", import.meta.url);

/** Lock-order levels (assembly/robust.ts LV_*). */
const LV_TMEM_POOLS = 3, LV_STRIPE = 4, LV_LRU = 5;
const EINVAL = -22;
/** Robust-area words of tmem (robust.ts R_DESC_CACHE): cache head, count, put in flight. */
const R_PEND = R_DESC_CACHE + 8;
const STRIPES = ROOT_TMEM + 4608;

type Msg = { cmd: string; [k: string]: unknown };
interface W { w: Worker; slot: WorkerSlot; msgs: Msg[]; failed?: unknown }

function start(pm: PhysicalMemory, data: Record<string, unknown>): W {
  const slot = pm.reserveSlot();
  const w = new Worker(workerUrl, { workerData: { handle: pm.handle, slot, ...data } });
  const me: W = { w, slot, msgs: [] };
  w.on("message", (m: Msg) => me.msgs.push(m));
  w.on("error", (e) => { me.failed = e; });
  return me;
}

const until = (what: string, ok: () => boolean, ms = 15_000): Promise<void> => waitUntil(what, ok, ms);

async function msg(x: W, cmd: string): Promise<Msg> {
  await until(`worker ${x.slot}: ${cmd}`, () => x.failed !== undefined || x.msgs.some((m) => m.cmd === cmd));
  if (x.failed !== undefined) throw x.failed;
  const i = x.msgs.findIndex((m) => m.cmd === cmd);
  return x.msgs.splice(i, 1)[0]!;
}

const key = (k: number): [number, number, number, number, number, number, number] => [1 + (k >> 3), 0, 0, 0, 0, 0, k & 7];

/** A memory with the tmem core up, a persistent and an ephemeral pool of the main thread filled with `n` keys each. */
async function setup(opts: { frames?: number; maxWorkers?: number; build?: "release" | "debug"; n?: number } = {}) {
  const pm = await PhysicalMemory.create({ frames: opts.frames ?? 1024, maxWorkers: opts.maxWorkers ?? 6, build: opts.build ?? "release" });
  const c = sixWordOids(pm);
  expect(c.tmem_init()).toBe(0);
  const dMain = c.tmem_new_domain();
  const dWork = c.tmem_new_domain();
  const pers = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 1);
  const eph = c.tmem_new_pool(0, 0, 0, 0, 0, dMain, 2);
  const wpool = c.tmem_new_pool(0, 0, 0, 0, 0, dWork, 3);
  const wpers = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 4);
  expect(Math.min(dMain, dWork, pers, eph, wpool, wpers)).toBeGreaterThan(0);
  const n = opts.n ?? 160;
  const out = (): Uint32Array => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
  for (let k = 0; k < n; k++) {
    expect(c.tmem_put(pers, ...key(k), 0x5000 + k, 0, k, 0)).toBe(0);
    expect(c.tmem_put(eph, ...key(k), 0x9000 + k, 0, k, 0)).toBe(0);
  }
  /** The main thread's pages, exact (pampd and meta), none pinned afterwards. */
  const intact = (what: unknown): void => {
    const bad: string[] = [];
    for (let k = 0; k < n; k++) {
      for (const [p, base] of [[pers, 0x5000], [eph, 0x9000]] as const) {
        const r = c.tmem_get(p, ...key(k), 2);
        if (r !== 1 || out()[0] !== base + k || out()[2] !== k) bad.push(`${p}:${k}=${r}/${out()[0]}`);
        if (r === 1 && c.tmem_unpin(out()[3]!) !== 0) bad.push(`${p}:${k} unpin`);
      }
    }
    expect({ what, bad: bad.slice(0, 5) }).toEqual({ what, bad: [] });
  };
  const u32 = (): Uint32Array => new Uint32Array(pm.memory.buffer);
  const robustArea = (slot: number): number =>
    u32()[(CTRL_BASE + CTRL_SCRATCH_BASE_OFF) >> 2]! + slot * u32()[(CTRL_BASE + CTRL_SCRATCH_SIZE_OFF) >> 2]! + SCRATCH_ROBUST;
  /** Destroy every pool, drain and release it; then every descriptor must be accounted for. */
  const teardown = (extra: number[] = []): number => {
    for (const p of [pers, eph, wpool, wpers, ...extra]) {
      expect(c.tmem_destroy_pool(p)).toBe(1);
      while (c.tmem_pool_drain(p, 64) > 0);
      expect(c.tmem_pool_release(p)).toBe(0);
    }
    return c.tmem_check(1);
  };
  return { pm, c, dMain, dWork, pers, eph, wpool, wpers, n, out, intact, u32, robustArea, teardown };
}

describe("attack: forged and stale pins", () => {
  it("random u32s, freed and reused descriptors' pins, double unpins, user frames: EINVAL, nothing changes", async () => {
    const s = await setup();
    const { c, pm, pers, out } = s;
    // Pins of real descriptors, then made stale.
    expect(c.tmem_get(pers, ...key(3), 2)).toBe(1);
    const pin3 = out()[3]!;
    expect(c.tmem_unpin(pin3)).toBe(0);
    expect(c.tmem_unpin(pin3)).toBe(EINVAL); // double unpin
    expect(c.tmem_flush_page(pers, ...key(3))).toBe(1);
    expect(c.tmem_unpin(pin3)).toBe(EINVAL); // freed descriptor
    // Reused: the next put takes it from this thread's cache (same address, new incarnation).
    expect(c.tmem_put(pers, ...key(3), 0x5000 + 3, 0, 3, 0)).toBe(0);
    expect(c.tmem_get(pers, ...key(3), 2)).toBe(1);
    const pin3b = out()[3]!;
    expect(pin3b & ~63).toBe(pin3 & ~63);
    expect(pin3b).not.toBe(pin3);
    expect(c.tmem_unpin(pin3)).toBe(EINVAL); // stale incarnation, descriptor pinned by someone else
    expect(c.tmem_unpin(pin3b)).toBe(0);
    // Every other incarnation of a live unpinned descriptor, and of address+offset.
    for (let inc = 0; inc < 64; inc++) {
      expect(c.tmem_unpin((pin3b & ~63) | inc)).toBe(EINVAL);
      expect(c.tmem_unpin(((pin3b & ~63) + 64 * 1024) | inc)).toBe(EINVAL);
    }
    // A user frame dressed as a pinned descriptor (refs 1, the pin's incarnation).
    const pfn = pm.allocFrame();
    const bytes = pm.frameBytes(pfn);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, 4096);
    for (let o = 0; o < 4096; o += 64) { dv.setUint16(o + 60, 1, true); dv.setUint16(o + 62, 5 << 8, true); }
    for (let o = 0; o < 4096; o += 64) expect(c.tmem_unpin((pm.frameAddress(pfn) + o) | 5)).toBe(EINVAL);
    expect(dv.getUint16(60, true)).toBe(1);
    // Random words.
    let x = 0x9e3779b9;
    for (let i = 0; i < 20_000; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      expect(c.tmem_unpin(x)).toBe(EINVAL);
    }
    expect(c.tmem_check(0)).toBe(0);
    s.intact("after forged pins");
    pm.freeFrame(pfn);
    expect(s.teardown()).toBe(0);
    pm.detach();
  });

  // FIXED (was a bug, tmem.ts tmem_unpin; descriptor frames now carry a FrameMeta tag): the forged-address check accepted every
  // OWNER_TMEM frame, but the bucket-table frames (and the directory, and the
  // frontends' OWNER_TMEM state frames) are OWNER_TMEM too. A "pin" into a
  // table frame reads a bucket head as refs (low 16 bits) and flags (high 16
  // bits): once descriptors live above 16 MiB, (head >> 24) & 63 is a valid
  // incarnation, tmem_unpin returns 0 and decrements the bucket head, so the
  // chain now starts at a misaligned address (tmem_check -1; a lookup reads
  // garbage). Fix: check the frame is a descriptor frame (e.g. a FrameMeta
  // tag set when descAlloc carves it), not just its owner.
  it("a pin forged into a bucket-table frame (memory above 16 MiB) is refused and changes nothing", async () => {
    const pm = await PhysicalMemory.create({ frames: 8192, maxWorkers: 2 });
    const c = sixWordOids(pm);
    expect(c.tmem_init()).toBe(0); // the table takes low frames
    const filler: ReturnType<PhysicalMemory["allocFrame"]>[] = [];
    for (let i = 0; i < 4400; i++) filler.push(pm.allocFrame());
    const pool = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 1);
    const out = (): Uint32Array => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
    for (let k = 0; k < 3000; k++) expect(c.tmem_put(pool, ...key(k), 0x100 + k, 0, 0, 0)).toBe(0);
    expect(c.tmem_get(pool, ...key(0), 2)).toBe(1);
    expect(out()[3]!).toBeGreaterThanOrEqual(1 << 24); // descriptors above 16 MiB
    expect(c.tmem_unpin(out()[3]!)).toBe(0);
    const u32 = new Uint32Array(pm.memory.buffer);
    const dir = pm.frameAddress(pm.pfn(u32[(ROOT_TMEM + 12) >> 2]!));
    const forged: number[] = [];
    for (let t = 0; t < 16 && forged.length < 8; t++) {
      const table = pm.frameAddress(pm.pfn(u32[(dir >> 2) + t]!));
      for (let j = 0; j < 64; j++) {
        const head = u32[(table + j * 64 + 60) >> 2]!;
        const inc = (head >>> 24) & 63;
        if (head !== 0 && (head & 0xffff) !== 0 && inc !== 0 && (head & 0x10000) === 0) forged.push((table + j * 64) | inc);
      }
    }
    expect(forged.length).toBeGreaterThan(0);
    const results = forged.map((p) => c.tmem_unpin(p));
    expect({ results, check: c.tmem_check(0) }).toEqual({ results: forged.map(() => EINVAL), check: 0 });
    for (let k = 0; k < 3000; k++) {
      expect(c.tmem_get(pool, ...key(k), 1)).toBe(1);
      expect(out()[0]).toBe(0x100 + k);
    }
    for (const f of filler) pm.freeFrame(f);
    pm.detach();
  }, 60_000);
});

describe("attack: a Worker that dies holding pins", () => {
  // FIXED (was a bug, tmem.ts tmem_get / tmem_reclaim_slot; a per-slot pin
  // table now, robust.ts R_PINS): a slot recorded ONE "pin in flight" and
  // every GET_KEEP overwrote it. A Worker that held two pins when it died
  // (two pages mapped at once, or a get(KEEP) while it held another) was
  // reclaimed with only the last one dropped: the first descriptor stayed
  // pinned forever, its flush returned 2 ("the last reader frees it":
  // nobody would), its storage and descriptor leaked (tmem_check(1) -6).
  it("both pins of a Worker killed holding two are dropped by its reclaim", async () => {
    const s = await setup({ n: 16 });
    const { c, pm, pers } = s;
    const x = start(pm, { mode: "pins", obj: 1, pool: pers, pinKeys: [3, 5] });
    const ready = await msg(x, "ready");
    expect((ready.pins as number[]).every((p) => p > 1)).toBe(true);
    await x.w.terminate();
    pm.reclaim(x.slot);
    // Flushing them now hands the storage back at once: nobody pins them.
    expect({ k3: c.tmem_flush_page(pers, ...key(3)), k5: c.tmem_flush_page(pers, ...key(5)) }).toEqual({ k3: 1, k5: 1 });
    expect(s.teardown()).toBe(0);
    pm.detach();
  });

  it("a Worker killed holding PIN_SLOTS pins (two of them on one page, one page flushed meanwhile): its reclaim drops each once; one more get(KEEP) is ENOSPC and changes nothing", async () => {
    const s = await setup({ n: 16 });
    const { c, pm, pers, eph, out } = s;
    // Keys 0..PIN_SLOTS-2, then key 0 again: one descriptor pinned twice by one Worker.
    const pinKeys = [...Array.from({ length: PIN_SLOTS - 1 }, (_, k) => k), 0, 9];
    const x = start(pm, { mode: "pins", obj: 1, pool: pers, pinKeys });
    const ready = await msg(x, "ready");
    const pins = ready.pins as number[];
    expect(pins.slice(0, PIN_SLOTS).every((p) => p > 1)).toBe(true);
    expect(pins[PIN_SLOTS - 1]).toBe(pins[0]); // the same page's pin twice
    expect(pins[PIN_SLOTS]).toBe(-28); // the ninth: ENOSPC
    // This thread's own table is independent: it pins key 0 too (refs 3 now) and keeps it across the reclaim.
    expect(c.tmem_get(pers, ...key(0), 2)).toBe(1);
    const mine = out()[3]!;
    expect(mine).toBe(pins[0]);
    // A pin another Worker holds is not this thread's to drop.
    expect(c.tmem_unpin(pins[1]!)).toBe(EINVAL);
    expect(c.tmem_check(0)).toBe(0);
    // Key 9 (the refused get) is not pinned: its flush frees at once. Key 3 is flushed while pinned.
    expect(c.tmem_flush_page(pers, ...key(9))).toBe(1);
    expect(c.tmem_flush_page(pers, ...key(3))).toBe(2);
    await x.w.terminate();
    pm.reclaim(x.slot);
    expect(c.tmem_check(0)).toBe(0);
    // Key 0 is still pinned once, by this thread; the others are free.
    expect(c.tmem_flush_page(pers, ...key(0))).toBe(2);
    expect(c.tmem_unpin(mine)).toBe(1);
    for (let k = 1; k < PIN_SLOTS - 1; k++) if (k !== 3) expect(c.tmem_flush_page(pers, ...key(k))).toBe(1);
    void eph;
    expect(s.teardown()).toBe(0);
    pm.detach();
  });

  it("a thread that detaches holding pins drops them: their pages flush at once, and the slot's next owner has all PIN_SLOTS free", async () => {
    const s = await setup({ n: 16 });
    const { c, pm, pers } = s;
    const pm2 = await PhysicalMemory.attach(pm.handle);
    const c2 = sixWordOids(pm2);
    for (const k of [3, 5]) expect(c2.tmem_get(pers, ...key(k), 2)).toBe(1);
    const slot = pm2.slot;
    pm2.detach();
    expect(c.tmem_check(0)).toBe(0);
    expect({ k3: c.tmem_flush_page(pers, ...key(3)), k5: c.tmem_flush_page(pers, ...key(5)) }).toEqual({ k3: 1, k5: 1 });
    const pm3 = await PhysicalMemory.attach(pm.handle);
    expect(pm3.slot).toBe(slot);
    const got = Array.from({ length: PIN_SLOTS + 1 }, (_, k) => sixWordOids(pm3).tmem_get(pers, ...key(6 + k), 2));
    expect(got).toEqual([...Array(PIN_SLOTS).fill(1), -28]);
    pm3.detach();
    expect(c.tmem_check(0)).toBe(0);
    expect(s.teardown()).toBe(0);
    pm.detach();
  });

  it("a Worker killed holding one pin: its reclaim drops it (flush then frees at once)", async () => {
    const s = await setup({ n: 16 });
    const { c, pm, pers } = s;
    const x = start(pm, { mode: "pins", obj: 1, pool: pers, pinKeys: [6] });
    await msg(x, "ready");
    expect(c.tmem_flush_page(pers, ...key(6))).toBe(2); // pinned: the last reader frees it
    await x.w.terminate();
    pm.reclaim(x.slot);
    expect(c.tmem_check(0)).toBe(0);
    expect(s.teardown()).toBe(0);
    pm.detach();
  });
});

/** Destroy, drain and release every pool a Worker made for itself (owner tag >= 50) and left behind when it died. */
function sweepWorkerPools(c: SixWordCore, pm: PhysicalMemory): void {
  for (let i = 0; i < 64; i++) {
    expect(c.tmem_pool_info(i)).toBe(0);
    const w = new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 16);
    const state = w[0]!, owner = w[14]!, gen = w[15]! & 0x3ff;
    if (state === 0 || owner < 50) continue;
    const h = i | (gen << 6);
    if (state === 1) expect(c.tmem_destroy_pool(h)).toBe(1);
    while (c.tmem_pool_drain(h, 64) > 0);
    expect(c.tmem_pool_release(h)).toBe(0);
  }
}

describe("attack: reclaim misuse", () => {
  it("twice, of its own slot, of a slot never attached: EINVAL and nothing changes", async () => {
    const s = await setup({ n: 32 });
    const { c, pm } = s;
    const x = start(pm, { mode: "loop", pool: s.wpool, domain: s.dWork, ops: "prkfoe" });
    await msg(x, "ready");
    await new Promise((r) => setTimeout(r, 30));
    await x.w.terminate();
    pm.reclaim(x.slot);
    expect(c.tmem_check(0)).toBe(0);
    const gen = pm.slotState(x.slot).generation;
    expect(() => pm.reclaim(x.slot)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => pm.reclaim(pm.slot)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => pm.reclaim(pm.workerSlot(5))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(c.pm_reclaim(pm.slot, 0, 0)).toBe(EINVAL);
    expect(pm.slotState(x.slot).generation).toBe(gen);
    expect(c.tmem_check(0)).toBe(0);
    s.intact("after misuse");
    expect(s.teardown()).toBe(0);
    pm.detach();
  }, 30_000);

  it("a stale supervisor's reclaim never touches the slot's next owner (its stripe lock and pin survive)", async () => {
    const s = await setup({ n: 16 });
    const { c, pm, pers, out } = s;
    const { adoptSupervised } = await import("../src/workers.js");
    const x = start(pm, { mode: "detach" });
    const sup = adoptSupervised(pm, x.w, x.slot);
    await msg(x, "detached");
    // The slot is free again; the next attach in this thread takes it.
    const pm3 = await PhysicalMemory.attach(pm.handle);
    expect(pm3.slot).toBe(x.slot);
    const c3 = sixWordOids(pm3);
    expect(c3.tmem_get(pers, ...key(4), 2)).toBe(1);
    const pin = new Uint32Array(pm3.memory.buffer, c3.tmem_out_area(), 4)[3]!;
    const lock = STRIPES + 77 * 16;
    expect(c3.lock_acquire_robust(lock, 1000, LV_STRIPE)).toBe(0);
    const word = (): number => Atomics.load(new Int32Array(pm.memory.buffer), lock >> 2);
    const held = word();
    expect(held).not.toBe(0);
    // The old Worker exits now: its supervisor's reclaim must see the generation moved on.
    expect(await sup.terminate()).toBe(false);
    expect(word()).toBe(held);
    expect(c.tmem_flush_page(pers, ...key(4))).toBe(2); // still pinned by pm3
    c3.lock_release(lock);
    expect(c3.tmem_unpin(pin)).toBe(1); // last pin of a flushed page: pm3 frees it
    expect(out()).toBeDefined();
    pm3.detach();
    expect(c.tmem_check(0)).toBe(0);
    expect(s.teardown()).toBe(0);
    pm.detach();
  }, 30_000);

  // Was a bug (src/workers.ts adoptSupervised + frames.ts generations): a
  // slot's generation moved on at attach and at reclaim, not at reserve. A
  // supervisor of a Worker that had only reserved its slot (generation g)
  // accepts [g, g + 2): after a reclaim by hand and a new reservation
  // (generation g + 1) the first Worker's exit reclaimed the NEW
  // reservation. pmReserve now moves the generation too.
  it("a supervisor whose Worker's reserved slot was reclaimed by hand and reserved again leaves the new reservation alone", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 3 });
    const { startSupervised } = await import("../src/workers.js");
    const a = startSupervised(pm, (tmem) => new Worker(workerUrl, { workerData: { ...tmem, mode: "noattach" } }));
    await new Promise<void>((res) => a.worker.once("message", () => res()));
    // The caller knows A will never attach and reclaims its slot by hand ...
    pm.reclaim(a.slot);
    // ... the next Worker's reservation takes the same slot ...
    const next = pm.reserveSlot();
    expect(next).toBe(a.slot);
    // ... and A's exit must not reclaim it.
    const aGone = await a.terminate();
    expect({ aGone, stillReserved: pm.slotState(next).reserved }).toEqual({ aGone: false, stillReserved: true });
    pm.detach();
  }, 30_000);

  it("two reclaims of one dead Worker at once (main thread and a Worker): exactly one does it", async () => {
    const s = await setup({ n: 32 });
    const { c, pm } = s;
    const r = start(pm, { mode: "reclaim" });
    await msg(r, "ready");
    const results: string[] = [];
    for (let round = 0; round < 12; round++) {
      const x = start(pm, { mode: "loop", pool: s.wpool, domain: s.dWork, ops: "prkfoe" });
      await msg(x, "ready");
      await new Promise((res) => setTimeout(res, 5 + (round % 4) * 7));
      await x.w.terminate();
      r.w.postMessage({ slot: x.slot });
      let mine = "ok";
      try { pm.reclaim(x.slot); } catch (e) { mine = (e as { code: string }).code; }
      const theirs = (await msg(r, "reclaimed")).r as string;
      results.push(`${mine}/${theirs}`);
      expect([mine, theirs].filter((v) => v === "ok").length, `${mine}/${theirs}`).toBe(1);
      expect([mine, theirs].every((v) => v === "ok" || v === "EINVAL" || v === "EBUSY")).toBe(true);
      expect(c.tmem_check(0)).toBe(0);
    }
    await r.w.terminate();
    pm.reclaim(r.slot);
    s.intact("after racing reclaims");
    console.log(`racing reclaims (main/worker): ${results.join(" ")}`);
    expect(s.teardown()).toBe(0);
    pm.detach();
  }, 60_000);
});

describe("attack: pool destroy, drain and release racing a put", () => {
  // FIXED (was a bug, tmem.ts tmem_put; the generation is re-checked under the stripe lock): the put resolved its handle to a pool slot
  // (poolSlot: generation check) BEFORE it takes the stripe lock, and under
  // the lock re-checks only that the slot is ALIVE. A put that waits on the
  // stripe lock while the pool is destroyed, released, and its slot handed
  // to a new pool, finds the slot ALIVE (the new pool's) and inserts a page
  // under the OLD handle: the put of a destroyed pool returns 0 ("new"),
  // the index holds a descriptor of a pool that no longer exists
  // (tmem_check -2), and the new pool's page count includes it, so the new
  // pool can never be released (its drain matches its own handle only:
  // EBUSY for ever). Deterministic here: this thread holds the stripe lock
  // (lock_acquire_robust) while a Worker's put waits on it. Fix: re-check
  // the generation under the stripe lock (poolSlot(h) == pool as well as
  // ALIVE), as destroy's "DYING before drain" argument assumes.
  it("a put that waited on its stripe lock while its pool was destroyed and the slot reused is refused", async () => {
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 3 });
    const c = sixWordOids(pm);
    expect(c.tmem_init()).toBe(0);
    const out = (): Uint32Array => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
    const p1 = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 7);
    // The stripe of key (p1, 5, 0, ...; index 3): from its descriptor's bucket.
    expect(c.tmem_put(p1, 5, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0)).toBe(0);
    expect(c.tmem_get(p1, 5, 0, 0, 0, 0, 0, 3, 2)).toBe(1);
    const a = out()[3]! & ~63;
    expect(c.tmem_unpin(out()[3]!)).toBe(0);
    const lock = STRIPES + (new Uint32Array(pm.memory.buffer)[(a + 56) >> 2]! & 255) * 16;
    expect(c.tmem_flush_page(p1, 5, 0, 0, 0, 0, 0, 3)).toBe(1);
    const x = start(pm, { mode: "put1" });
    await msg(x, "ready");
    expect(c.lock_acquire_robust(lock, 1000, LV_STRIPE)).toBe(0);
    x.w.postMessage({ pool: p1, o0: 5, index: 3 });
    const word = (): number => Atomics.load(new Int32Array(pm.memory.buffer), lock >> 2);
    await until("the Worker's put waits on the stripe lock", () => (word() & 3) === 2);
    expect(c.tmem_destroy_pool(p1)).toBe(1);
    expect(c.tmem_pool_drain(p1, 64)).toBe(0); // empty: no stripe lock taken
    expect(c.tmem_pool_release(p1)).toBe(0);
    const p2 = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 8);
    expect(p2 & 63).toBe(p1 & 63); // the same slot, a new generation
    c.lock_release(lock);
    const r = (await msg(x, "put")).r;
    const check = c.tmem_check(0);
    expect(c.tmem_destroy_pool(p2)).toBe(1);
    while (c.tmem_pool_drain(p2, 64) > 0);
    expect({ put: r, check, release: c.tmem_pool_release(p2) }).toEqual({ put: EINVAL, check: 0, release: 0 });
    await x.w.terminate();
    pm.reclaim(x.slot);
    pm.detach();
  }, 30_000);
});

describe("attack: the reclaimer dies in the middle of a reclaim", () => {
  // FIXED (was a bug, tmem_reclaim.ts pmReclaim / frames.ts; a reclaim now
  // names its reclaimer in the slot's reclaimer word, and a reclaim of a dead
  // reclaimer finishes what it left): a reclaim was not itself robust. A
  // Worker R reclaiming dead Worker X set X's dead bit, rolled X back,
  // bumped X's generation, then dropped X's pin through tmem_unpin under a
  // stripe lock. R killed there (parked by the debug hook at that logged
  // store) left X's dead bit set for ever: pm.reclaim(X) was EBUSY after R
  // itself was reclaimed, X's slot was never freed (attachedWorkers stayed
  // up), and X's pin, cleared before the unpin and rolled back in R's, was
  // lost (the page stayed pinned, flush returned 2).
  it("a Worker that dies while reclaiming another: its own reclaim finishes the other's (that slot is freed, nothing stays pinned)", async () => {
    const s = await setup({ build: "debug", n: 16 });
    const { c, pm, pers } = s;
    const r = start(pm, { mode: "reclaim" });
    await msg(r, "ready");
    const x = start(pm, { mode: "pins", obj: 1, pool: pers, pinKeys: [2] });
    await msg(x, "ready");
    await x.w.terminate();
    expect(c.pm_park_arm(LV_STRIPE, r.slot, 1)).toBe(0);
    r.w.postMessage({ slot: x.slot });
    await until("the reclaimer parks in tmem_unpin", () => c.pm_parked() === r.slot + 1);
    await r.w.terminate();
    c.pm_park_disarm();
    pm.reclaim(r.slot);
    let second = "ok";
    try { pm.reclaim(x.slot); } catch (e) { second = (e as { code: string }).code; }
    // Already finished by the reclaim of its reclaimer: nothing left to reclaim.
    expect({ second, attached: pm.stats().attachedWorkers, check: c.tmem_check(0), flush: c.tmem_flush_page(pers, ...key(2)) })
      .toEqual({ second: "EINVAL", attached: 1, check: 0, flush: 1 });
    expect(s.teardown()).toBe(0);
    pm.detach();
  }, 30_000);
});

describe("attack: chains of reclaimers killed at every step of their reclaims", () => {
  // X dies holding PIN_SLOTS - 1 pins (one page pinned twice, one flushed
  // meanwhile). R1 reclaims X and is parked at its k-th logged stripe store
  // (inside the pin drops) and killed; with depth 2, R2 reclaims R1, parks at
  // its k2-th and is killed too; or a reclaimer dies after the wasm half of
  // its reclaim (before the host steps). Then the main thread reclaims the
  // last one: every slot of the chain is freed, every pin dropped exactly
  // once (tmem_check's pin-table count and the final descriptor count).
  it("at k = 1..6 under the stripe lock, depth 1 and 2, and between the wasm and host halves: every slot is freed, every pin dropped once", async () => {
    const s = await setup({ build: "debug", maxWorkers: 6, n: 16 });
    const { c, pm, pers } = s;
    const cases: string[] = [];
    let round = 0;
    for (const depth of [1, 2]) {
      for (const k of [1, 2, 3, 4, 5, 6, 0]) {
        round++;
        const keys = [1, 2, 3, 4, 5, 6, 1].map((j) => (j + round) % 16);
        const x = start(pm, { mode: "pins", obj: 1, pool: pers, pinKeys: keys });
        const pins = (await msg(x, "ready")).pins as number[];
        expect(pins.every((p) => p > 1)).toBe(true);
        const flushed = keys[2]!;
        expect(c.tmem_flush_page(pers, ...key(flushed))).toBe(2);
        await x.w.terminate();
        // The chain: each reclaimer reclaims the previous dead slot and is killed in it.
        let victim = x.slot;
        const dead: WorkerSlot[] = [x.slot];
        for (let d = 0; d < depth; d++) {
          const wasmOnly = k === 0 && d === depth - 1;
          const r = start(pm, { mode: wasmOnly ? "reclaimwasm" : "reclaim" });
          await msg(r, "ready");
          if (!wasmOnly) expect(c.pm_park_arm(LV_STRIPE, r.slot, (k || 1) + d)).toBe(0);
          r.w.postMessage({ slot: victim });
          if (wasmOnly) expect((await msg(r, "reclaimed")).r).toBe(0);
          else await until(`depth ${depth} k ${k}: reclaimer ${d} parks`, () => r.failed !== undefined || c.pm_parked() === r.slot + 1);
          await r.w.terminate();
          c.pm_park_disarm();
          victim = r.slot;
          dead.push(r.slot);
        }
        pm.reclaim(victim);
        const left = dead.filter((sl) => pm.slotState(sl).reserved || c.pm_reclaim(sl, 0, 0) !== EINVAL);
        cases.push(`${depth}/${k}`);
        expect({ depth, k, left, attached: pm.stats().attachedWorkers, check: c.tmem_check(0) })
          .toEqual({ depth, k, left: [], attached: 1, check: 0 });
        // Nobody pins them now: the flushed page is gone, the others flush at once.
        for (const j of new Set(keys)) if (j !== flushed) expect({ j, r: c.tmem_flush_page(pers, ...key(j)) }).toEqual({ j, r: 1 });
        for (const j of new Set(keys)) expect(c.tmem_put(pers, ...key(j), 0x5000 + j, 0, j, 0)).toBe(0);
      }
    }
    console.log(`reclaimer chains (depth/k; k 0 = killed between the wasm and host halves): ${cases.join(" ")}`);
    s.intact("after the chains");
    expect(s.teardown()).toBe(0);
    pm.detach();
  }, 90_000);
});

describe("attack: Workers parked inside every tmem section and killed there", () => {
  it("puts, replacing puts, pins, flush_object, own-pool destroy/drain, eviction (stripe inside LRU), take_lru: at many k per level, reclaimed by the main thread or a Worker", async () => {
    const s = await setup({ build: "debug", maxWorkers: 6, n: 120 });
    const { c, pm } = s;
    const takeFrame = pm.allocFrame();
    const takeAddr = pm.frameAddress(takeFrame);
    const takeBuf = { addr: takeAddr, gen: takeAddr + 4092 };
    const r = start(pm, { mode: "reclaim" });
    await msg(r, "ready");
    const recovered0 = pm.lockRecoveries();
    let parks = 0;
    const mixes = ["prkfoetd", "eeept", "rrkkeo", "dpe"];
    for (const level of [LV_TMEM_POOLS, LV_STRIPE, LV_LRU]) {
      for (const k of [1, 2, 3, 4, 6, 9, 13, 19]) {
        const ops = level === LV_TMEM_POOLS ? "dpe" : mixes[(k + level) % mixes.length]!;
        const x = start(pm, { mode: "loop", pool: s.wpool, domain: s.dWork, ops, keys: 96, takeBuf });
        await msg(x, "ready");
        expect(c.pm_park_arm(level, x.slot, k)).toBe(0);
        await until(`level ${level} k ${k} ${ops}: parks`, () => x.failed !== undefined || c.pm_parked() === x.slot + 1);
        expect(x.failed).toBeUndefined();
        parks++;
        await x.w.terminate();
        c.pm_park_disarm();
        if (parks % 2 === 0) {
          r.w.postMessage({ slot: x.slot });
          expect((await msg(r, "reclaimed")).r).toBe("ok");
        } else {
          pm.reclaim(x.slot);
        }
        expect({ level, k, ops, check: c.tmem_check(0) }).toEqual({ level, k, ops, check: 0 });
        // The dead remotifier's take records are its recoverer's to release.
        for (let j = 0; j < 8; j++) c.tmem_take_release(takeAddr + (x.slot % 4) * 1024 + j * 64);
        expect(c.tmem_check(0)).toBe(0);
        s.intact({ level, k });
      }
    }
    expect(parks).toBe(24);
    expect(pm.lockRecoveries() - recovered0).toBeGreaterThanOrEqual(parks);
    await r.w.terminate();
    pm.reclaim(r.slot);
    sweepWorkerPools(c, pm);
    expect(s.teardown()).toBe(0);
    pm.freeFrame(takeFrame);
    pm.detach();
  }, 90_000);
});

describe("attack: a put's descriptor in flight, linked, then flushed by another Worker before the reclaim looks at it", () => {
  it("a Worker parked in its put's LRU section (descriptor linked) while another spins to flush that page the moment the stripe lock frees", async () => {
    const s = await setup({ build: "debug", maxWorkers: 6, n: 16 });
    const { c, pm, u32 } = s;
    const y = start(pm, { mode: "spin" });
    await msg(y, "ready");
    const results: string[] = [];
    for (let round = 0; round < 12; round++) {
      const x = start(pm, { mode: "loop", pool: s.wpool, domain: s.dWork, ops: "p", keys: 1 << 20, obj: 100 + round * 0x20000 });
      await msg(x, "ready");
      expect(c.pm_park_arm(LV_LRU, x.slot, 1)).toBe(0);
      await until("parks in lruAddHead", () => x.failed !== undefined || c.pm_parked() === x.slot + 1);
      // The put's in-flight word was cleared with its link (the fix); the
      // descriptor is the one whose lruPrev the parked store logged (entry 0
      // of the undo log at robust area + R_ENTRIES: its address - 48).
      expect(u32()[(s.robustArea(x.slot) + R_PEND) >> 2]).toBe(0);
      const a = u32()[(s.robustArea(x.slot) + R_ENTRIES) >> 2]! - 48;
      expect(a % 64).toBe(0);
      const o0 = u32()[(a + 16) >> 2]!, index = u32()[(a + 8) >> 2]!, bucket = u32()[(a + 56) >> 2]!;
      y.w.postMessage({ lock: STRIPES + (bucket & 255) * 16, pool: s.wpool, o0, index });
      await msg(y, "spinning");
      await x.w.terminate();
      c.pm_park_disarm();
      pm.reclaim(x.slot);
      const f = await msg(y, "flushed");
      const check = c.tmem_check(1);
      results.push(`${f.r}:${check}`);
      // The put was linked before the park: it happened, and the racing flush removed it.
      expect({ round, r: f.r, check }).toEqual({ round, r: 1, check: 0 });
    }
    console.log(`put in flight vs racing flush (flush result:tmem_check): ${results.join(" ")}`);
    await y.w.terminate();
    pm.reclaim(y.slot);
    pm.detach();
  }, 60_000);

  // FIXED (was a bug, tmem.ts; the record is cleared by a logged store right after the link): a put recorded its descriptor
  // "in flight" (robust area word 88) until AFTER its stripe section ends
  // (store<u32>(cw, 0, 8) after mutexUnlock), and the reclaim frees a
  // recorded descriptor when descLinked() does not find it on its chain. A
  // Worker killed between its put's mutexUnlock and that store leaves the
  // word naming a descriptor that IS linked; any Worker may flush that page
  // before the reclaim runs (the supervisor sees the exit event whenever it
  // does), moving the descriptor to the flusher's cache; descLinked then says
  // "not linked" and the reclaim pushes it onto the global stack as well:
  // stackPushChain overwrites its link, so the flusher's cache now runs into
  // the global stack (both free lists share a tail: descriptors handed to two
  // puts) and the rest of that cache is cut off (measured: tmem_check(1) -6,
  // 30 descriptors unaccounted).
  // (The same happens, in a microsecond window, when the Worker is killed
  // inside its put's LRU section, a commit point after the link: the test
  // above races for it.) The state is built here directly: the dead Worker's
  // word names a descriptor that was linked and then flushed. Fix: clear the
  // word with a logged store inside the stripe section right after the link
  // (ustore32(cw + 8, 0)), so after any rollback "in flight" means "never
  // linked", and drop the descLinked() guess.
  it("a put killed after its link, its page flushed before the reclaim: the reclaim does not free the descriptor again", async () => {
    // With the fix the state the bug needed cannot arise: a put's in-flight
    // word is cleared by a logged store in the section that links it, so
    // after any put returns (or any rollback) it is 0 or names a descriptor
    // that was never linked. Checked here: after puts by this thread and by
    // a Worker, both words are 0; and a reclaim of that Worker after its page
    // was flushed frees nothing twice.
    const s = await setup({ n: 16 });
    const { c, pm, u32 } = s;
    const x = start(pm, { mode: "pins", pool: s.pers, pinKeys: [] });
    await msg(x, "ready");
    expect(c.tmem_put(s.wpool, ...key(40), 0x777, 0, 0, 0)).toBe(0);
    expect(u32()[(s.robustArea(pm.slot) + R_PEND) >> 2]).toBe(0);
    expect(u32()[(s.robustArea(x.slot) + R_PEND) >> 2]).toBe(0);
    await x.w.terminate();
    expect(c.tmem_flush_page(s.wpool, ...key(40))).toBe(1);
    pm.reclaim(x.slot);
    expect({ check: c.tmem_check(1), unaccounted: c.tmem_check_unaccounted() }).toEqual({ check: 0, unaccounted: 0 });
    pm.detach();
  });
});

describe(`attack: the undo log's capacity (${UNDO_CAP} entries between commit points)`, () => {
  it("no tmem entry point logs past it: huge flush_object, pool drain, eviction, takes and replaces in the debug build (which asserts on overflow)", async () => {
    const s = await setup({ build: "debug", frames: 2048, n: 8 });
    const { c, pm } = s;
    const state = (): number => c.pm_robust_state();
    // One object of 600 pages: all in one stripe, removed in one flush_object call.
    for (let i = 0; i < 600; i++) expect(c.tmem_put(s.wpers, 900, 0, 0, 0, 0, 0, i, 0x100 + i, 0, 0, 0)).toBe(0);
    expect(c.tmem_flush_object(s.wpers, 900, 0, 0, 0, 0, 0, 1000)).toBe(600);
    expect(state()).toBe(0);
    // 1,700 ephemeral pages on one LRU: evicted in one call (the largest max the out area takes).
    for (let i = 0; i < 1700; i++) expect(c.tmem_put(s.wpool, 901 + (i >> 6), 0, 0, 0, 0, 0, i & 63, 0x200 + i, 0, 0, 0)).toBe(0);
    // Pins and takes of many pages at once, then replace and release.
    const frame = pm.allocFrame();
    const buf = pm.frameAddress(frame);
    const gen = pm.frameAddress(pm.allocFrame()); // a counter word of its own
    expect(c.tmem_take_lru(s.dWork, 64, buf, gen, 0)).toBe(64);
    expect(state()).toBe(0);
    for (let j = 0; j < 64; j++) expect(c.tmem_replace_pinned(buf + j * 64, 0xabc0 + j, 0, 0, j & 1)).toBe(1);
    for (let j = 0; j < 64; j++) expect(c.tmem_take_release(buf + j * 64)).toBe(0);
    expect(c.tmem_evict(s.dWork, 1700)).toBeGreaterThan(1500);
    expect(state()).toBe(0);
    // Persistent pages of one owner: a clock scan takes 64 at once.
    for (let i = 0; i < 1500; i++) expect(c.tmem_put(s.wpers, 950 + (i >> 4), 0, 0, 0, 0, 0, i & 15, 0x300 + i, 0, 0, 0)).toBe(0);
    const cursor = gen + 8;
    expect(c.tmem_take_scan(4, 64, buf, gen, cursor, 0, 0, 1 << 20)).toBe(64);
    for (let j = 0; j < 64; j++) expect(c.tmem_take_release(buf + j * 64)).toBe(0);
    // A pool drain of everything in one call.
    expect(c.tmem_destroy_pool(s.wpers)).toBe(1);
    expect(c.tmem_pool_drain(s.wpers, 1700)).toBe(1500);
    expect(c.tmem_pool_release(s.wpers)).toBe(0);
    expect(state()).toBe(0);
    expect(c.tmem_check(0)).toBe(0);
    pm.detach();
  }, 60_000);

  // Was a bug (robust.ts logEntry, release build): a section that logged
  // more than UNDO_CAP (232) stores set an overflow flag nobody read; the
  // stores past the cap were made unlogged and a reclaim undid only the first
  // 232, silently. Now pm_ustore32 refuses (-28, ENOSPC, nothing stored)
  // once the log is full, and pm_uabort undoes a live section's stores.
  it("a TypeScript robust section past the undo log's capacity: the store past it is refused, nothing unlogged is written, and a reclaim undoes the rest (release build)", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 3 });
    const frame = pm.allocFrame();
    const base = pm.frameAddress(frame);
    const x = start(pm, { mode: "host", lock: base, words: base + 64, stores: 300 });
    const ready = await msg(x, "ready");
    expect({ r: ready.r, refusedAt: ready.refusedAt, refusal: ready.refusal }).toEqual({ r: 0, refusedAt: UNDO_CAP, refusal: -28 });
    const words = new Uint32Array(pm.memory.buffer, base + 64, 300);
    expect(words.reduce((n, v) => n + v, 0)).toBe(UNDO_CAP);
    await x.w.terminate();
    pm.reclaim(x.slot);
    const left = words.reduce((n, v) => n + v, 0);
    expect({ lock: new Uint32Array(pm.memory.buffer, base, 1)[0], left }).toEqual({ lock: 0, left: 0 });
    pm.detach();
  });

  it("pm_uabort undoes a live TypeScript section's logged stores and keeps its lock", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 3 });
    const frame = pm.allocFrame();
    const base = pm.frameAddress(frame);
    const x = start(pm, { mode: "host", lock: base, words: base + 64, stores: 100, abort: true });
    const ready = await msg(x, "ready");
    expect({ r: ready.r, refusedAt: ready.refusedAt, undone: ready.undone }).toEqual({ r: 0, refusedAt: -1, undone: 100 });
    const words = new Uint32Array(pm.memory.buffer, base + 64, 100);
    expect(words.reduce((n, v) => n + v, 0)).toBe(0);
    // Still held by the Worker (its tag in the lock word) until it dies and is reclaimed.
    expect(new Uint32Array(pm.memory.buffer, base, 1)[0]).not.toBe(0);
    await x.w.terminate();
    pm.reclaim(x.slot);
    expect(new Uint32Array(pm.memory.buffer, base, 1)[0]).toBe(0);
    pm.detach();
  });

  it("a TypeScript robust section of 200 logged stores, killed: its reclaim undoes them all and frees the lock", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 3 });
    const frame = pm.allocFrame();
    const base = pm.frameAddress(frame);
    const x = start(pm, { mode: "host", lock: base, words: base + 64, stores: 200 });
    expect((await msg(x, "ready")).state).toBe(200 | (1 << 16));
    await x.w.terminate();
    pm.reclaim(x.slot);
    const words = new Uint32Array(pm.memory.buffer, base + 64, 300);
    expect({ lock: new Uint32Array(pm.memory.buffer, base, 1)[0], left: words.reduce((n, v) => n + v, 0) }).toEqual({ lock: 0, left: 0 });
    pm.detach();
  });
});

describe("attack: Workers terminated at random moments while the main thread keeps working", () => {
  const randomKills = async (shared: boolean): Promise<void> => {
    const dog = await startWatchdog("attack-robust: random kills", 80_000);
    try {
      const s = await setup({ maxWorkers: 6, n: 96 });
      const { c, pm, out } = s;
      const takeFrame = pm.allocFrame();
      const takeAddr = pm.frameAddress(takeFrame);
      const takeBuf = { addr: takeAddr, gen: takeAddr + 4092 };
      // Each Worker on a pool and LRU domain of its own, or both on one.
      const doms = [c.tmem_new_domain(), c.tmem_new_domain()];
      const pools = doms.map((d, i) => c.tmem_new_pool(0, 0, 0, 0, 0, d, 5 + i));
      expect(Math.min(...doms, ...pools)).toBeGreaterThan(0);
      // The main thread's own model: key → pampd (persistent pool, keys 200..263).
      const model = new Map<number, number>();
      let seed = 12345;
      const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
      let kills = 0, mainOps = 0;
      const mainWork = (): void => {
        for (let i = 0; i < 200; i++) {
          const k = 200 + rnd(64), v = 0x70000 + rnd(1 << 16);
          const op = rnd(4);
          if (op < 2) { expect(c.tmem_put(s.pers, ...key(k), v, 0, k, 0)).toBeGreaterThanOrEqual(0); model.set(k, v); }
          else if (op === 2) { const r = c.tmem_flush_page(s.pers, ...key(k)); expect(r).toBe(model.has(k) ? 1 : 0); model.delete(k); }
          else {
            const r = c.tmem_get(s.pers, ...key(k), 2);
            expect(r).toBe(model.has(k) ? 1 : 0);
            if (r === 1) {
              expect(out()[0]).toBe(model.get(k));
              const pin = out()[3]!, a = pin & ~63;
              const before = new Uint16Array(pm.memory.buffer, a + 60, 2).slice();
              const u = c.tmem_unpin(pin);
              if (u !== 0) {
                const w = new Uint32Array(pm.memory.buffer, a, 16).slice();
                console.log(`main unpin ${u}: pin ${pin.toString(16)} refs/flags before ${before[0]}/${before[1]!.toString(16)} now ${JSON.stringify(Array.from(w, (x) => x.toString(16)))} key ${k} kills ${kills}`);
              }
              expect(u).toBe(0);
            }
          }
          mainOps++;
        }
        for (const d of shared ? [s.dWork] : doms) c.tmem_evict(d, 8); // the main thread evicts the Workers' pages too
      };
      for (let round = 0; round < 24; round++) {
        const ops = ["prkfoetds", "rkeetpf", "pdkfoe"][round % 3]!;
        const ws = [0, 1].map((i) => start(pm, { mode: "loop", pool: shared ? s.wpool : pools[i], domain: shared ? s.dWork : doms[i], ops, keys: 96, takeBuf }));
        for (const x of ws) await msg(x, "ready");
        for (const x of ws) {
          const end = Date.now() + 5 + rnd(40);
          while (Date.now() < end) { mainWork(); await new Promise((r) => setTimeout(r, 0)); }
          await x.w.terminate();
          pm.reclaim(x.slot);
          kills++;
          for (let j = 0; j < 8; j++) c.tmem_take_release(takeAddr + (x.slot % 4) * 1024 + j * 64);
          mainWork(); // the survivor is still running: the main thread must not wait on the dead one's locks
        }
        expect({ round, check: c.tmem_check(0) }).toEqual({ round, check: 0 });
        s.intact({ round });
      }
      sweepWorkerPools(c, pm);
      for (const k of [...model.keys()]) expect(c.tmem_flush_page(s.pers, ...key(k))).toBe(1);
      const check = s.teardown(pools);
      const leaked = c.tmem_check_unaccounted();
      console.log(`random kills (${shared ? "one shared pool" : "a pool each"}): ${kills} kills, ${mainOps} main-thread ops meanwhile, ${leaked} descriptors unaccounted at the end`);
      // The stated windows OUTSIDE sections (a refill, a carve, a trim between the shared stack and the slot's cache) may leak a bounded number.
      expect(check === 0 || (check === -6 && leaked > 0 && leaked <= kills * 64), `tmem_check ${check}, ${leaked} unaccounted`).toBe(true);
      pm.freeFrame(takeFrame);
      pm.detach();
    } finally {
      await dog.stop();
    }
  };
  it("two Workers, a pool and LRU domain each (puts, replaces, pins, flushes, flush_object, evictions, takes, own pools, reaps), killed one at a time; the main thread's ops never hang and its pages stay exact", async () => {
    await randomKills(false);
  }, 90_000);
  // On ONE shared pool this failed once in 22 runs (under load) before
  // fe17fe1 fixed bug 3, in the way bug 3 predicts: a Worker killed between
  // its put's unlock and the clearing of its in-flight word, the other
  // Worker flushing or evicting that page before the reclaim, the reclaim
  // pushing the descriptor on the global stack while it sat in the
  // survivor's cache (seen: the main thread's own pin refused, EINVAL).
  it("the same with both Workers on one shared pool and LRU domain", async () => {
    await randomKills(true);
  }, 90_000);
});

describe("attack: frontswap and cleancache through zcache, a Worker parked inside a critical section mid-operation and killed there", () => {
  it("at the k-th logged store under the stripe, LRU and zsmalloc locks: every acknowledged page loads back exactly, invalidated ones stay gone, the one in flight is old, new or absent, and every frame comes back", async () => {
    const { Frontswap } = await import("../src/frontswap.js");
    const { Cleancache } = await import("../src/cleancache.js");
    const { Zcache } = await import("../src/zcache.js");
    const { TmemCore } = await import("../src/tmem/core.js");
    const { startSupervised } = await import("../src/workers.js");
    const { loadCorpus } = await import("./helpers.js");
    const dog = await startWatchdog("attack-robust: frontends", 80_000);
    try {
      const anon = await loadCorpus("anon");
      const corpus = new SharedArrayBuffer(128 * 4096);
      new Uint8Array(corpus).set(anon.pages.subarray(0, corpus.byteLength));
      const pageOf = (p: number): Uint8Array => new Uint8Array(corpus, (p % 128) * 4096, 4096);
      const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
      const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 6, build: "debug" });
      const z = await Zcache.create(pm, { zpool: "zsmalloc" });
      const fs = Frontswap.for(pm);
      const cc = Cleancache.for(pm);
      await fs.registerOps(z);
      await cc.registerOps(z);
      const fsId = await cc.initSharedFs("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf");
      await fs.init(0);
      const mine = new Map<number, number>();
      for (let off = 0, p = 40; off < 24; p++) if (fs.store(0, off, pageOf(p))) mine.set(off, p), off++;
      const out = new Uint8Array(4096);
      const COUNT = 48;
      let parks = 0, inflightSeen = 0, acked = 0;
      let type = 0;
      for (const level of [LV_STRIPE, LV_LRU, 6]) {
        for (const k of [1, 2, 3, 5, 8, 13]) {
          type++;
          const swap = fs.swapType(type);
          await fs.init(swap);
          const log = new SharedArrayBuffer((16 + COUNT) * 4);
          const L = new Int32Array(log);
          const sup = startSupervised(pm, (tmem) => new Worker(new URL("./workers/attack-robust-fs.mjs", import.meta.url),
            { workerData: { tmem, corpus, type, fsId, count: COUNT, log, seed: level * 100 + k } }));
          let failed: unknown;
          sup.worker.on("error", (e) => { failed = e; });
          await new Promise<void>((res) => sup.worker.once("message", () => res()));
          // Let it run a little (pages of its own exist), then park it.
          await until("some operations", () => failed !== undefined || L[6]! > 60);
          expect(pm.core.pm_park_arm(level, sup.slot, k)).toBe(0);
          await until(`level ${level} k ${k}: parks`, () => failed !== undefined || pm.core.pm_parked() === sup.slot + 1);
          expect(failed).toBeUndefined();
          parks++;
          expect(await sup.terminate()).toBe(true);
          pm.core.pm_park_disarm();
          expect(L[5], "the Worker's own loads").toBe(0);
          const inflight = L[0] !== L[4] ? L[2]! : -1;
          if (inflight >= 0) inflightSeen++;
          const where = { level, k, kind: L[1], inflight };
          expect({ ...where, check: pm.core.tmem_check(0) }).toEqual({ ...where, check: 0 });
          for (let off = 0; off < COUNT; off++) {
            const want = L[16 + off]!;
            const hit = fs.load(swap, off, out);
            if (off === inflight) {
              // Old, new (a store in flight) or absent: never other bytes.
              const ok = !hit || (want !== 0 && same(out, pageOf(want - 1))) || (L[1] === 1 && same(out, pageOf(L[3]!)));
              expect({ ...where, off, ok }).toEqual({ ...where, off, ok: true });
            } else {
              if (want !== 0) acked++;
              expect({ ...where, off, hit }).toEqual({ ...where, off, hit: want !== 0 });
              if (hit) expect(same(out, pageOf(want - 1)), `type ${type} offset ${off}`).toBe(true);
            }
          }
          for (let idx = 0; idx < COUNT; idx++) if (cc.getPage(fsId, 9, idx, out)) expect(same(out, pageOf(idx))).toBe(true);
          for (const [off, p] of mine) expect(fs.load(0, off, out) && same(out, pageOf(p)), `main page ${off}`).toBe(true);
          await fs.invalidateArea(swap);
        }
      }
      console.log(`frontends parked: ${parks} parks, ${inflightSeen} with an operation in flight, ${acked} acknowledged pages checked`);
      expect(parks).toBe(18);
      expect(pm.stats().attachedWorkers).toBe(1);
      await fs.invalidateArea(0);
      await cc.invalidateFs(fsId);
      expect(TmemCore.for(pm).stats().descriptors).toBe(0);
      await fs.unregisterOps(z);
      await cc.unregisterOps(z);
      z.destroy({ force: true });
      const s1 = pm.stats(), core1 = TmemCore.for(pm).stats();
      expect(s1.usedFrames, `frames held beyond the index's own: ${JSON.stringify(s1.byOwner)}`).toBe(core1.descriptorFrames + core1.tableFrames);
      expect(pm.core.tmem_check(1)).toBe(0);
      pm.detach();
    } finally {
      await dog.stop();
    }
  }, 90_000);
});
