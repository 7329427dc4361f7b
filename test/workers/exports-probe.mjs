// Imports tmem the way a user does (by package name, through the exports map)
// and checks that the subpath entries share the root's classes.
import { PhysicalMemory, Zcache, Frontswap as RootFrontswap } from "tmem";
import { Frontswap } from "tmem/frontswap";
import { Cleancache } from "tmem/cleancache";
import { createPool } from "tmem/zpool";
import { compressFrame, decompressFrame } from "tmem/lz4";

const pm = await PhysicalMemory.create({ frames: 1024 });
const z = await Zcache.create(pm);
const fs = Frontswap.for(pm);
await fs.init(0);
await fs.registerOps(z);
const page = new Uint8Array(4096).map((_, i) => i % 251);
const stored = fs.store(0, 1, page);
const back = new Uint8Array(4096);
const loaded = fs.load(0, 1, back) && back.every((b, i) => b === page[i]);
const pool = await createPool("zsmalloc", pm);
const h = pool.malloc(100);
pool.free(h);
const cc = Cleancache.for(pm);
const text = new TextEncoder().encode("tmem ".repeat(100));
const round = await decompressFrame(await compressFrame(text));
console.log(JSON.stringify({
  sameClass: Frontswap === RootFrontswap, stored, loaded, ccCounters: typeof cc.counters().puts,
  lz4: round.length === text.length,
}));
