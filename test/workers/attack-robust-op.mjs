// Worker for test/attack-robust.test.ts: attach to a reserved slot and run
// one kind of tmem load (workerData.mode) until it is terminated (or parked
// by the debug hook inside a critical section, then terminated there).
//
// Modes:
//   noattach idle without attaching
//   pins     pin (GET_KEEP) every key in `keys` of `pool`, report, then idle
//   loop     the op mix `ops` (letters, see below) over `keys` keys of `pool`
//            (object 7 + key >> 3, index key & 7), forever
//   spin     wait for {lock, pool, o0, index}: spin on the lock word until
//            it is free, then flush that key (the race against a reclaim's check)
//   host     a TypeScript robust section of `stores` logged stores, parked
//   put1     on {pool, o0, index}: one put, answer {r}
//   detach   detach at once, then idle until terminated
//   reclaim  on {slot}: pm.reclaim(slot) from this Worker, answer {r}
//   reclaimwasm on {slot}: only pm_reclaim(slot) (the wasm half), answer {r}, then idle
//
// Op letters: p put, r replacing put (same key twice), k get(KEEP) + unpin,
// K two pins then both unpins, f flush_page, o flush_object, e evict(domain),
// d a private pool of our own filled then destroyed + drained + released,
// s slab reap, t take_lru + release.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";
import { sixWordOids } from "./six-word-oids.mjs";

const { handle, slot, mode, pool, domain, keys = 64, ops = "prkfoe", takeBuf, obj = 7 } = workerData;
if (mode === "noattach") {
  // A Worker that never attaches to its reserved slot (it is reclaimed, or terminated, before).
  parentPort.postMessage({ cmd: "ready" });
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
const pm = await PhysicalMemory.attach(handle, { slot });
const c = sixWordOids(pm);
const out = () => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
const key = (k) => [obj + (k >> 3), 0, 0, 0, 0, 0, k & 7];

if (mode === "pins") {
  const pins = [];
  for (const k of workerData.pinKeys) {
    const r = c.tmem_get(pool, ...key(k), 2);
    pins.push(r === 1 ? out()[3] : r);
  }
  parentPort.postMessage({ cmd: "ready", pins });
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
} else if (mode === "host") {
  // A host (TypeScript) robust section: take the lock at `lock` at level 2,
  // log `stores` stores of 1 to the words from `words`, report, park holding it.
  const { lock, words, stores } = workerData;
  const r = c.lock_acquire_robust(lock, 1000, 2);
  // The first refused store (-28: the undo log is full) ends the loop; `abort` then undoes the section's stores.
  let refusedAt = -1, refusal = 0, undone = -1;
  for (let i = 0; i < stores; i++) {
    const s = c.pm_ustore32(words + 4 * i, 1);
    if (s !== 0) { refusedAt = i; refusal = s; break; }
  }
  const state = c.pm_robust_state();
  if (workerData.abort) undone = c.pm_uabort();
  parentPort.postMessage({ cmd: "ready", r, state, refusedAt, refusal, undone });
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
} else if (mode === "put1") {
  parentPort.on("message", (m) => {
    const r = c.tmem_put(m.pool, m.o0, 0, 0, 0, 0, 0, m.index, 0xbad, 0, 0, 0);
    parentPort.postMessage({ cmd: "put", r });
  });
  parentPort.postMessage({ cmd: "ready" });
} else if (mode === "detach") {
  pm.detach();
  parentPort.postMessage({ cmd: "detached" });
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
} else if (mode === "spin") {
  parentPort.on("message", (m) => {
    const w = new Int32Array(pm.memory.buffer);
    const i = m.lock >> 2;
    parentPort.postMessage({ cmd: "spinning" });
    let spins = 0;
    while (Atomics.load(w, i) !== 0 && spins < 2e9) spins++;
    const r = c.tmem_flush_page(m.pool, m.o0, 0, 0, 0, 0, 0, m.index);
    parentPort.postMessage({ cmd: "flushed", r, spins });
  });
  parentPort.postMessage({ cmd: "ready" });
} else if (mode === "reclaimwasm") {
  // Only the wasm half of a reclaim (pm_reclaim), then idle: a reclaimer that
  // dies between it and the host steps (zs_reclaim_slot, hooks, pm_reclaim_end).
  parentPort.on("message", (m) => {
    parentPort.postMessage({ cmd: "reclaimed", r: c.pm_reclaim(m.slot, 0, 0) });
  });
  parentPort.postMessage({ cmd: "ready" });
} else if (mode === "reclaim") {
  parentPort.on("message", (m) => {
    let r = "ok";
    try { pm.reclaim(m.slot); } catch (e) { r = e.code ?? String(e); }
    parentPort.postMessage({ cmd: "reclaimed", r });
  });
  parentPort.postMessage({ cmd: "ready" });
} else {
  parentPort.postMessage({ cmd: "ready" });
  let own = -1;
  for (let i = 1; ; i++) {
    const k = i % keys;
    const op = ops[i % ops.length];
    if (op === "p") c.tmem_put(pool, ...key(k), 0x10000 + i, 0, 0, 0);
    else if (op === "r") { c.tmem_put(pool, ...key(k), 0x20000 + i, 0, 0, 0); c.tmem_put(pool, ...key(k), 0x30000 + i, 0, 0, 0); }
    else if (op === "k") { if (c.tmem_get(pool, ...key(k), 2) === 1) c.tmem_unpin(out()[3]); }
    else if (op === "K") {
      const a = c.tmem_get(pool, ...key(k), 2) === 1 ? out()[3] : 0;
      const b = c.tmem_get(pool, ...key((k + 1) % keys), 2) === 1 ? out()[3] : 0;
      if (a) c.tmem_unpin(a);
      if (b) c.tmem_unpin(b);
    } else if (op === "f") c.tmem_flush_page(pool, ...key(k));
    else if (op === "o") c.tmem_flush_object(pool, obj + (k >> 3), 0, 0, 0, 0, 0, 64);
    else if (op === "e") { if (domain) c.tmem_evict(domain, 16); }
    else if (op === "s") c.tmem_slab_reap();
    else if (op === "t") {
      if (domain && takeBuf) {
        const buf = takeBuf.addr + (slot % 4) * 1024;
        const n = c.tmem_take_lru(domain, 8, buf, takeBuf.gen, 0);
        for (let j = 0; j < n; j++) c.tmem_take_release(buf + j * 64);
      }
    } else if (op === "d") {
      if (own < 0) own = c.tmem_new_pool(0, 0, 0, 0, 0, domain, 50 + slot);
      if (own >= 0) {
        for (let j = 0; j < 40; j++) c.tmem_put(own, 3, j >> 2, 0, 0, 0, 0, j & 3, 0x40000 + j, 0, 0, 0);
        if (c.tmem_destroy_pool(own) === 1) {
          while (c.tmem_pool_drain(own, 64) > 0);
          c.tmem_pool_release(own);
        }
        own = -1;
      }
    }
  }
}
