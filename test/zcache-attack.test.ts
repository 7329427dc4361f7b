// SPDX-License-Identifier: MIT
// Attack on zcache's one-call store path (split, session 4): bad input on the
// built-in drivers' wasm path answered as the generic (JavaScript driver) path
// answers it, and nothing leaked. The put tests (it.fails until the fix) were shown
// to turn red with the one-call putPage as it was (answering "rejected"); the
// get tests were shown to fail with the one-call getPage answering a miss
// instead of throwing for a pool that is not alive.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { TmemError } from "../bindings/status.js";
import { oidFrom } from "../src/tmem/core.js";
import { corpusPage, loadCorpus } from "./helpers.js";
import { registerJsDrivers } from "./js-driver.js";

const anon = await loadCorpus("anon");
const js = registerJsDrivers();
const k = [...anon.sizes.keys()].find((i) => anon.sizes[i]! >= 500 && anon.sizes[i]! <= 2000)!;
const page = corpusPage(anon, k).slice();
const oid = oidFrom(77n);

async function outcome(driver: string, what: (z: Zcache, pool: number) => unknown): Promise<{ r: string; objects: number; puts: number; rejects: number }> {
  const pm = await PhysicalMemory.create({ frames: 256 });
  const z = await Zcache.create(pm, { zpool: driver });
  const pool = z.createPool({ persistent: true });
  let r: string;
  try { r = String(what(z, pool)); } catch (e) { r = e instanceof TmemError ? `throw ${e.code}` : `throw ${String(e)}`; }
  const s = z.stats();
  return { r, objects: z.ephemeral.stats().objects + z.persistent.stats().objects, puts: s.persistentPuts, rejects: s.failedPersistentPuts };
}

describe("zcache one-call store: bad input answered as the generic path does", () => {
  for (const [fast, generic] of [["zsmalloc", js.zsmalloc], ["zbud", js.zbud]] as const) {
    // Was a bug: a put to a pool that is not alive answered "rejected" (and counted a failed put) on the
    // built-in drivers' one-call path, where the generic path throws EINVAL; tmem_zcache_store now
    // returns -E_INVAL there (nothing stored or counted) and putPage throws EINVAL.
    it(`${fast}: a put to a destroyed pool throws EINVAL as on the generic path`, async () => {
      const f = (z: Zcache, pool: number) => { z.destroyPool(pool); return z.putPage(pool, oid, 0, page); };
      const a = await outcome(fast, f), b = await outcome(generic, f);
      console.log("destroyed pool", fast, a, generic, b);
      expect(a.objects).toBe(0);
      expect(a).toEqual(b);
    });
    it(`${fast}: a put to a pool id never created throws EINVAL as on the generic path`, async () => {
      const f = (z: Zcache, _pool: number) => z.putPage(63, oid, 0, page);
      const a = await outcome(fast, f), b = await outcome(generic, f);
      console.log("bad pool", fast, a, generic, b);
      expect(a.objects).toBe(0);
      expect(a).toEqual(b);
    });
    it(`${fast}: a get from a destroyed pool`, async () => {
      const f = (z: Zcache, pool: number) => { z.putPage(pool, oid, 0, page); z.destroyPool(pool); return z.getPage(pool, oid, 0, new Uint8Array(4096)); };
      const a = await outcome(fast, f), b = await outcome(generic, f);
      console.log("get destroyed", fast, a, generic, b);
      expect(a.objects).toBe(0);
      expect(a).toEqual(b);
    });
  }
});
