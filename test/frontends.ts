// SPDX-License-Identifier: MIT
// The frontends set up the way most tests want them: shared by the tests
// that check the frontends' argument boundaries.
import type { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache, type FsId } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";

/** Both frontends of `pm` over one zcache, swap type 0 and a private filesystem ready. */
export async function frontends(pm: PhysicalMemory): Promise<{ fs: Frontswap; cc: Cleancache; z: Zcache; fsId: FsId }> {
  const fs = Frontswap.for(pm);
  const cc = Cleancache.for(pm);
  await fs.init(0);
  const z = await Zcache.create(pm);
  await fs.registerOps(z);
  await cc.registerOps(z);
  return { fs, cc, z, fsId: await cc.initFs() };
}
