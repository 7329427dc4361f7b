// Worker for test/robust-zsmalloc.test.ts: attach to a reserved slot, work on
// one zsmalloc or zbud pool (objects filled with a pattern, freed, compacted,
// mapped), then tell the test it may arm the park hook, wait for it, and go
// on with the operation under test until the hook parks it (or it is
// terminated at a random moment). It never returns normally from the loop.
//
// workerData: { handle, slot, kind: "zs" | "zbud", pool, seed, setup, plan, ctl }
//   plan: "churn" (malloc/free/map), "malloc", "free", "compact", "grow" (the
//   next malloc adds a handle-table leaf: the pool's grow lock), "zspage"
//   (each malloc builds a zspage whose descriptor starts a new table frame,
//   each free empties both: descriptors taken and given back under the grow
//   lock), "lists" (mallocs and frees that move zspages between partial
//   fullness lists), "map-hold" (map one object, report its handle, and block without
//   unmapping).
//   ctl: SharedArrayBuffer(16): [0] set to 1 by the test when armed; [1] 1 =
//   pause between two operations (the Worker then sets [2] to 1 and waits
//   for [1] to go back to 0).
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, slot, kind, pool, seed, setup, plan, ctl } = workerData;
const pm = await PhysicalMemory.attach(handle, { slot });
const c = pm.core;
const u8 = pm.u8;
const ctl32 = new Int32Array(ctl);
let s = seed >>> 0;
const rnd = (n) => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (((t ^ (t >>> 14)) >>> 0) % n);
};
const ZS_WO = 2;
const pfnBits = c.zbud_pfn_bits();
const framesBase = pm.layout.framesBase;

/** Fill an object's bytes (the worker's own; nobody checks them but the map path runs). */
function fill(addr, size, h) {
  for (let i = 0; i < size; i += 61) u8[addr + i] = (h + i) & 0xff;
}

function alloc(size) {
  if (kind === "zs") {
    const h = c.zs_malloc(pool, size);
    if (h <= 0) return 0;
    const a = c.zs_map_object(pool, h, ZS_WO);
    if (a !== 0) { fill(a, size, h); c.zs_unmap_object(pool, h); }
    return h;
  }
  const h = c.zbud_alloc(pool, size);
  if (h <= 0) return 0;
  const r = c.zbud_map(pool, h);
  if (r > 0) {
    const pfn = (h >>> 1) & ((1 << pfnBits) - 1);
    fill(framesBase + pfn * 4096 + (r & 0xfff), r >>> 12, h);
    c.zbud_unmap(pool, h);
  }
  return h;
}
const free = (h) => (kind === "zs" ? c.zs_free(pool, h) : c.zbud_free(pool, h));
const maxSize = kind === "zs" ? 4096 : 3968;
const sizeOf = () => (rnd(4) === 0 ? 1 + rnd(maxSize) : 20 + rnd(1200));

const mine = [];
function churn(n) {
  for (let i = 0; i < n; i++) {
    if (mine.length === 0 || rnd(10) < 6) {
      const h = alloc(sizeOf());
      if (h > 0) mine.push(h);
    } else {
      const k = rnd(mine.length);
      free(mine[k]);
      mine[k] = mine[mine.length - 1];
      mine.pop();
    }
  }
}

churn(setup);
if (plan === "compact") {
  // Fragment: free two of every three of this Worker's objects.
  for (let i = mine.length - 1; i >= 0; i--) if (i % 3 !== 0) { free(mine[i]); mine.splice(i, 1); }
}
if (plan === "grow") {
  // Huge objects (one frame each, one class, never borrowed) until the class's
  // next refill takes a handle chunk that starts a new table leaf.
  const stats = pm.scratch + 16384 + 4096 + 64;   // any free scratch bytes (the driver's stats buffer)
  const brk = () => { c.zs_pool_stats(pool, stats); return new Uint32Array(u8.buffer, stats, 12)[7]; };
  for (;;) {
    const b0 = brk();
    const h = c.zs_malloc(pool, 4096);
    if (h > 0) mine.push(h);
    const b1 = brk();
    if (b1 !== b0 && b1 % 512 === 0) break;
  }
  // That chunk holds 15 handles; one went to the malloc above.
  for (let i = 0; i < 14; i++) mine.push(c.zs_malloc(pool, 4096));
}
if (plan === "zspage") {
  // One-frame zspages of class 2048 (two objects each) until the descriptors
  // in use fill whole table frames (63 each), so the next zspage's descriptor
  // starts a new frame; the loop then mallocs and frees one object of class
  // 3632 (no zspage of it, and no larger class to borrow from).
  const stats = pm.scratch + 16384 + 4096 + 64;
  const used = () => { c.zs_pool_stats(pool, stats); return new Uint32Array(u8.buffer, stats, 12)[8]; };
  for (let i = 0; i < 200 && used() % 63 !== 0; i++) {
    const h = c.zs_malloc(pool, 2040);
    if (h > 0) mine.push(h);
  }
}
if (plan === "lists") {
  // Objects of class 2720 (3 per 2-frame zspage), every other one freed:
  // zspages in groups 4 and 7, so frees and mallocs move zspages between
  // partial lists that are not empty (the batched move, zsmalloc_zspage.ts).
  const hs = [];
  for (let i = 0; i < 60; i++) hs.push(c.zs_malloc(pool, 2700));
  hs.forEach((h, i) => { if (i % 2 === 0) c.zs_free(pool, h); else mine.push(h); });
}
if (plan === "map-hold") {
  const h = alloc(100 + rnd(3000));
  const a = c.zs_map_object(pool, h, 1);
  parentPort.postMessage({ cmd: "mapped", handle: h, addr: a });
  for (;;) Atomics.wait(ctl32, 3, 0, 1000);
}

parentPort.postMessage({ cmd: "arm", slot: pm.slot });
while (Atomics.load(ctl32, 0) === 0) Atomics.wait(ctl32, 0, 0, 100);

for (;;) {
  if (Atomics.load(ctl32, 1) !== 0) {
    Atomics.store(ctl32, 2, 1);
    Atomics.notify(ctl32, 2);
    while (Atomics.load(ctl32, 1) !== 0) Atomics.wait(ctl32, 1, 1, 100);
    Atomics.store(ctl32, 2, 0);
  }
  if (plan === "lists") {
    if (mine.length > 0 && rnd(2) === 0) {
      const k = rnd(mine.length);
      c.zs_free(pool, mine[k]);
      mine[k] = mine[mine.length - 1];
      mine.pop();
    } else {
      const h = c.zs_malloc(pool, 2700);
      if (h > 0) mine.push(h);
    }
  } else if (plan === "zspage") {
    const h = c.zs_malloc(pool, 3600);
    if (h > 0) c.zs_free(pool, h);
  } else if (plan === "malloc" || plan === "grow") {
    const h = plan === "grow" ? c.zs_malloc(pool, 4096) : alloc(sizeOf());
    if (h > 0) mine.push(h);
    else churn(50);
  } else if (plan === "free") {
    if (mine.length === 0) churn(200);
    else free(mine.pop());
  } else if (plan === "compact") {
    if (kind === "zs") c.zs_compact(pool);
    churn(30);
    for (let i = mine.length - 1; i >= 0; i -= 2) { free(mine[i]); mine.splice(i, 1); }
  } else {
    churn(20);
    if (kind === "zs" && rnd(8) === 0) c.zs_compact(pool);
    if (kind === "zs" && mine.length > 0) {
      // A map held across a kill: the pin must come back (zs_reclaim_slot).
      const h = mine[rnd(mine.length)];
      const a = c.zs_map_object(pool, h, rnd(3));
      if (a !== 0 && rnd(4) !== 0) c.zs_unmap_object(pool, h);
      if (c.zs_mapped_handle() !== 0 && rnd(2) === 0) c.zs_unmap_object(pool, c.zs_mapped_handle());
    }
  }
}
