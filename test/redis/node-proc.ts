// One tmem node as its own process, for the two-node test: a physical
// memory, zcache, a Ramster remotifying everything (watermark 0) and
// cleancache with a private fs and a shared fs (one uuid on every node).
// Commands are JSON lines on stdin, answers JSON lines on stdout.
import { createInterface } from "node:readline";
import { PhysicalMemory } from "../../bindings/physmem.js";
import { Zcache } from "../../src/zcache.js";
import { Cleancache, type FsId } from "../../src/cleancache.js";
import { Ramster } from "../../src/ramster/backend.js";

/** The page of `seed`: compressible, distinct per seed. */
function page(seed: number): Uint8Array {
  const p = new Uint8Array(4096);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < 4096; i += 8) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    p[i] = x & 0xff; p[i + 1] = seed & 0xff; p[i + 2] = (seed >> 8) & 0xff;
  }
  return p;
}

let pm: PhysicalMemory, zcache: Zcache, ramster: Ramster, cc: Cleancache, priv: FsId, shared: FsId;
const into = new Uint8Array(4096);

const handlers: Record<string, (a: Record<string, unknown>) => Promise<unknown> | unknown> = {
  async init(a) {
    pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 4 });
    zcache = await Zcache.create(pm);
    ramster = await Ramster.create(pm, {
      redis: a.redis as string, node: a.node as string, workerUrl: new URL(a.helperUrl as string), zcache,
      remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 2 },
    });
    cc = Cleancache.for(pm);
    priv = await cc.initFs();
    shared = await cc.initSharedFs(a.uuid as string);
    await cc.registerOps(zcache);
    return true;
  },
  put: (a) => cc.putPage(a.shared ? shared : priv, BigInt(a.ino as number), a.idx as number, page(a.seed as number)),
  get: (a) => {
    if (!cc.getPage(a.shared ? shared : priv, BigInt(a.ino as number), a.idx as number, into)) return { hit: false };
    return { hit: true, same: a.seed === undefined ? null : Buffer.from(into).equals(Buffer.from(page(a.seed as number))) };
  },
  inval: (a) => cc.invalidatePage(a.shared ? shared : priv, BigInt(a.ino as number), a.idx as number),
  remote: () => zcache.stats().remote,
  async exit() {
    ramster.pauseRemotify(true);
    await cc.invalidateFs(priv);
    await cc.invalidateFs(shared);
    await cc.unregisterOps(zcache);
    await ramster.destroy();
    setTimeout(() => process.exit(0), 10);
    return true;
  },
};

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const m = JSON.parse(line) as { id: number; op: string; args: Record<string, unknown> };
  Promise.resolve().then(() => handlers[m.op]!(m.args ?? {})).then(
    (value) => process.stdout.write(JSON.stringify({ id: m.id, value }) + "\n"),
    (e) => process.stdout.write(JSON.stringify({ id: m.id, error: String((e as Error).message) }) + "\n"),
  );
});
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
