// SPDX-License-Identifier: MIT
/**
 * callgrind-frontswap.ts: a fixed frontswap → zcache (zsmalloc) workload for
 * instruction counts under valgrind (load-independent, unlike timings):
 * store N real pages, then load each of them `--loads` times. Run it at two
 * lengths and divide the difference of the totals by the difference of N, so
 * start-up and compilation cancel:
 *
 *   node scripts/run-ts.mjs bench/callgrind-frontswap.ts --bundle-only
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded --no-liftoff \
 *     build/run/callgrind-frontswap.mjs --pages 2000 --loads 1
 *   (again with --pages 4000; and with --loads 2 for loads alone)
 * @module
 */
import { loadCorpus } from "../test/corpus.js";
import { PhysicalMemory, Zcache, Frontswap } from "../src/index.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
if (process.argv.includes("--bundle-only")) process.exit(0);
const N = Number(arg("--pages", "2000"));
const LOADS = Number(arg("--loads", "1"));
const anon = await loadCorpus("anon");
const NP = Math.floor(anon.pages.byteLength / 4096);
const page = (p: number): Uint8Array => anon.pages.subarray((p % NP) * 4096, (p % NP + 1) * 4096);
const pm = await PhysicalMemory.create({ frames: 8192, maxWorkers: 2 });
const z = await Zcache.create(pm, { zpool: "zsmalloc", maxPoolPercent: 100, acceptThresholdPercent: 100 });
const fs = Frontswap.for(pm);
await fs.registerOps(z);
await fs.init(0);
const out = new Uint8Array(4096);
// --core G: after the stores, G rounds of tmem_get(KEEP) + tmem_unpin straight on the core over the
// first 64 pages' keys (the pin path alone, without LZ4 and the copies).
const CORE = Number(arg("--core", "0"));
let hits = 0;
for (let i = 0; i < N; i++) fs.store(0, i, page(i));
for (let l = 0; l < LOADS; l++) for (let i = 0; i < N; i++) if (fs.load(0, i, out)) hits++;
if (CORE > 0) {
  const c = pm.core;
  const o = new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
  const probe = new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 16);
  // Find frontswap's tmem pool: the first alive pool.
  let pool = -1;
  for (let i = 0; i < 64 && pool < 0; i++) { c.tmem_pool_info(i); if (probe[0] === 1) pool = i | ((probe[15]! & 0x3ff) << 6); }
  let found = 0;
  // The object id goes by address: this Worker's call record (assembly/tmem_layout.ts CALL_RECORD).
  const call = c.tmem_call_record();
  const oid = new Uint32Array(pm.memory.buffer, call, 6);
  for (let g = 0; g < CORE; g++) {
    for (let k = 0; k < 64; k++) {
      // frontswap's key for offset k is oid (k, 0, 0, 0, 0, 0), index 0 (src/frontswap.ts).
      oid.fill(0);
      oid[0] = k;
      if (c.tmem_get(pool, call, 0, 2) === 1) { found++; c.tmem_unpin(o[3]!); }
    }
  }
  console.log(`core get+unpin ${CORE * 64} found ${found}`);
}
console.log(`pages ${N} loads ${LOADS} hits ${hits}`);
