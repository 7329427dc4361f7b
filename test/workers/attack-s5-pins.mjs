// Worker for test/attack-s5-pins.test.ts: attach to a reserved slot, pin
// (GET_KEEP) the keys `pinKeys` of `pool` (object `obj`, index = key; a key
// listed twice is pinned twice), report the pins, then idle until terminated.
// On {cmd: "unpin", pin} it unpins and answers {cmd: "unpinned", r}.
// Works with either tmem ABI: six object-id words, or one call-record address.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";

const { handle, slot, pool, obj, pinKeys } = workerData;
const pm = await PhysicalMemory.attach(handle, { slot });
const c = pm.core;
const byAddress = typeof c.tmem_call_record === "function";
const rec = byAddress ? new Uint32Array(pm.memory.buffer, c.tmem_call_record(), 6) : null;
const get = (o0, index, mode) => {
  if (rec === null) return c.tmem_get(pool, o0, 0, 0, 0, 0, 0, index, mode);
  rec.set([o0, 0, 0, 0, 0, 0]);
  return c.tmem_get(pool, c.tmem_call_record(), index, mode);
};
const out = () => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
const pins = [];
for (const k of pinKeys) {
  const r = get(obj, k, 2);
  pins.push(r === 1 ? out()[3] : r);
}
parentPort.on("message", (m) => {
  if (m.cmd === "unpin") parentPort.postMessage({ cmd: "unpinned", r: c.tmem_unpin(m.pin) });
});
parentPort.postMessage({ cmd: "ready", pins });
