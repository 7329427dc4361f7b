// SPDX-License-Identifier: MIT
/**
 * ramster.ts (`npm run bench:ramster`): the remote tier's protocol layer on
 * a loopback redis-server, side by side in one run with what a user would do
 * without tmem: SET/GET of raw 4 KiB pages with the same client (ioredis
 * 6.0.0, same connection options), pipelined the same way (one batch of
 * BATCH pages per round trip, one batch at a time).
 *
 * Two of ours: the protocol layer alone (the real anon corpus,
 * data/sample-anon.pages.lz4, 512 pages cycled, compressed once with our
 * LZ4 as zcache holds them, put through the helper Worker: channel → helper
 * → store → HSET with the 16-byte header), and the real remotify: frontswap
 * pages stored in zcache, moved by the remotifier Worker (take, copy, HSET,
 * swap, compact), loaded back through frontswap.
 *
 * Measured, medians over REPEATS runs (FLUSHALL between):
 * - remotify pages/s: N pages in batches, ours through the helper (`call`),
 *   the peer's SET pipeline from the main thread;
 * - remote load p50/p99 (µs) and pages/s: LOADS random pages one at a time,
 *   ours a synchronous `callSync("get")` (thread hop + Atomics.wait) plus the
 *   LZ4 decompress back to 4 KiB, the peer an awaited GET;
 * - bytes in Redis per page: INFO memory used_memory after minus before,
 *   divided by N (so per-key overhead counts), for two layouts of ours:
 *   64 pages per object HASH (a frontswap offset swizzled into
 *   (offset >> 6, offset & 63)) and one page per object (frontswap's own
 *   oid = offset, index 0).
 * Targets (issue 11): bytes/page ≤ 0.5 × peer; remotify ≥ 50,000 pages/s;
 * remote load ≤ 1.5 × the peer's GET latency.
 *
 * See also: src/ramster/store.ts, test/redis/harness.ts, bench/harness.ts.
 */
import { Redis } from "ioredis";
import { readFileSync } from "node:fs";
import { RemoteChannel } from "../src/ramster/channel.js";
import type { PoolRef } from "../src/ramster/protocol.js";
import { createLz4 } from "../bindings/lz4.js";
import { decompressFrameSync } from "../src/lz4/frame.js";
import { startRedis, stopAll } from "../test/redis/harness.js";
import { median, report, type Row } from "./harness.js";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Zcache } from "../src/zcache.js";
import { Frontswap } from "../src/frontswap.js";
import { Ramster } from "../src/ramster/backend.js";

const N = Number(process.env.RAMSTER_PAGES ?? 16384);
const BATCH = 256;
const LOADS = 3000;
const REPEATS = Number(process.env.RAMSTER_REPEATS ?? 3);
const PAGE = 4096;

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!; };

async function usedMemory(r: Redis): Promise<number> {
  const info = await r.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function main(): Promise<void> {
  const codec = await createLz4();
  const corpus = decompressFrameSync(codec, readFileSync("data/sample-anon.pages.lz4"));
  const nCorpus = corpus.byteLength / PAGE;
  const raw = Array.from({ length: nCorpus }, (_, i) => corpus.slice(i * PAGE, (i + 1) * PAGE));
  const comp = raw.map((p) => codec.compressBlock(p).slice());
  const compBytes = comp.reduce((a, c) => a + c.byteLength, 0) / comp.length;

  const server = await startRedis({ policy: "noeviction", maxmemory: "2gb" });
  const url = `redis://127.0.0.1:${server.port}`;
  const peer = new Redis(url, { enableOfflineQueue: true, maxRetriesPerRequest: 0, commandTimeout: 5000 });
  const ch = await RemoteChannel.create({
    workerUrl: new URL("../dist/ramster-worker.js", `file://${process.cwd()}/bench/`), timeoutMs: 10_000,
    init: { redis: url, node: "bench", commandTimeoutMs: 5000, allowSinglePointOfFailure: true },
  });
  const pool: PoolRef = { persistent: true, pool: 1 };
  const rows: Record<string, { remotify: number[]; bytes: number[]; p50: number[]; p99: number[]; loads: number[] }> = {};
  const rec = (name: string) => (rows[name] ??= { remotify: [], bytes: [], p50: [], p99: [], loads: [] });
  const order = Array.from({ length: LOADS }, (_, i) => (i * 7919) % N);
  const helperUrl = new URL("../dist/ramster-worker.js", `file://${process.cwd()}/bench/`);

  /**
   * The real thing: N frontswap pages stored into local zcache with the
   * remotifier paused, then resumed with watermark 0: time until every page
   * is a remote descriptor (take, copy, pipelined HSET, swap, compact), then
   * synchronous frontswap loads of remote pages (helper hop + HGET + header
   * check + LZ4 decompress), checked byte for byte.
   */
  async function remotifyRun(row: ReturnType<typeof rec>): Promise<void> {
    await peer.flushall();
    const pm = await PhysicalMemory.create({ frames: 16384, maxWorkers: 8 });
    const zcache = await Zcache.create(pm);
    const ramster = await Ramster.create(pm, {
      redis: url, node: "benchrm", workerUrl: helperUrl, commandTimeoutMs: 5000, allowSinglePointOfFailure: true, zcache,
      remotify: { highWatermark: 0, lowWatermark: 0, homeWatermark: 0, idleMs: 1, batch: 256 },
    });
    ramster.pauseRemotify(true);
    const fs = Frontswap.for(pm);
    await fs.init(0);
    await fs.registerOps(zcache);
    let stored = 0;
    const isStored = new Uint8Array(N);
    for (let i = 0; i < N; i++) if (fs.store(0, i, raw[i % nCorpus]!)) { stored++; isStored[i] = 1; }
    // Same-filled pages take no memory and stay local (zcache keeps their word in the descriptor).
    const movable = stored - zcache.stats().sameFilledPages;
    const m0 = await usedMemory(peer);
    const t0 = performance.now();
    ramster.pauseRemotify(false);
    for (;;) {
      const r = zcache.stats().remote!;
      if (r.persistentPages >= movable) break;
      if (performance.now() - t0 > 120_000) throw new Error(`remotify stalled at ${r.persistentPages} of ${stored}`);
      await new Promise((res) => setTimeout(res, 1));
    }
    const t = performance.now() - t0;
    row.remotify.push(movable / (t / 1000));
    row.bytes.push(((await usedMemory(peer)) - m0) / movable);
    const lat: number[] = [];
    const into = new Uint8Array(PAGE);
    const t1 = performance.now();
    const loadOrder = order.filter((i) => isStored[i] === 1); // zcache refused the incompressible ones
    for (const i of loadOrder) {
      const s = performance.now();
      if (!fs.load(0, i, into)) throw new Error(`remotify: page ${i} missing`);
      lat.push((performance.now() - s) * 1000);
      if (!Buffer.from(into).equals(Buffer.from(raw[i % nCorpus]!))) throw new Error(`remotify: page ${i} wrong`);
    }
    row.p50.push(pct(lat, 50)); row.p99.push(pct(lat, 99)); row.loads.push(loadOrder.length / ((performance.now() - t1) / 1000));
    const rs = ramster.stats();
    remotifierStats = { stored, movable, remotifier: rs.remotifier, zcache: rs.zcache, helperRtt: { p50: rs.remote?.rttP50us, p99: rs.remote?.rttP99us } };
    ramster.pauseRemotify(true);
    await fs.invalidateArea(0);
    await fs.unregisterOps(zcache);
    await ramster.destroy();
    zcache.destroy();
    pm.detach();
  }
  let remotifierStats: unknown = null;

  for (let rep = 0; rep < REPEATS; rep++) {
    // ── peer: raw pages, SET/GET ──
    await peer.flushall();
    let m0 = await usedMemory(peer);
    let t0 = performance.now();
    for (let b = 0; b < N; b += BATCH) {
      const p = peer.pipeline();
      for (let i = b; i < Math.min(N, b + BATCH); i++) p.set(`raw:${i}`, Buffer.from(raw[i % nCorpus]!));
      await p.exec();
    }
    let t = performance.now() - t0;
    const peerRow = rec("peer: SET/GET raw 4 KiB");
    peerRow.remotify.push(N / (t / 1000));
    peerRow.bytes.push(((await usedMemory(peer)) - m0) / N);
    let lat: number[] = [];
    t0 = performance.now();
    for (const i of order) {
      const s = performance.now();
      const v = await peer.getBuffer(`raw:${i}`);
      lat.push((performance.now() - s) * 1000);
      if (v === null || v.byteLength !== PAGE) throw new Error("peer lost a page");
    }
    t = performance.now() - t0;
    peerRow.p50.push(pct(lat, 50)); peerRow.p99.push(pct(lat, 99)); peerRow.loads.push(LOADS / (t / 1000));

    // ── ours: compressed pages through the helper, two layouts ──
    for (const perObject of [64, 1]) {
      await peer.flushall();
      const key = (i: number) => perObject === 1 ? { oid: i.toString(16), index: 0 } : { oid: Math.floor(i / perObject).toString(16), index: i % perObject };
      m0 = await usedMemory(peer);
      t0 = performance.now();
      for (let b = 0; b < N; b += BATCH) {
        const items = [];
        for (let i = b; i < Math.min(N, b + BATCH); i++) items.push({ pool, ...key(i), gen: i + 1, data: comp[i % nCorpus]! });
        const res = (await ch.call("put", items)) as string[];
        if (res.some((r) => r !== "ok")) throw new Error(`put: ${res.find((r) => r !== "ok")}`);
      }
      t = performance.now() - t0;
      const row = rec(`tmem ramster: LZ4 + header, ${perObject} page(s)/object`);
      row.remotify.push(N / (t / 1000));
      row.bytes.push(((await usedMemory(peer)) - m0) / N);
      lat = [];
      const out = new Uint8Array(PAGE);
      const into = new Uint8Array(8192);
      t0 = performance.now();
      for (const i of order) {
        const s = performance.now();
        const v = ch.callSync("get", { pool, ...key(i), gen: i + 1 }, [], undefined, into) as Uint8Array;
        const n = codec.decompressBlockInto(v, out);
        lat.push((performance.now() - s) * 1000);
        if (n !== PAGE || out[17] !== raw[i % nCorpus]![17]) throw new Error("ours: wrong page");
      }
      t = performance.now() - t0;
      row.p50.push(pct(lat, 50)); row.p99.push(pct(lat, 99)); row.loads.push(LOADS / (t / 1000));
    }
    await remotifyRun(rec("tmem ramster: remotify from zcache, frontswap loads (1 page/object)"));
  }
  // The thread hop alone: a synchronous echo of a compressed-page-sized buffer through the helper, no Redis.
  const hop: number[] = [];
  const echoBuf = comp[0]!;
  for (let k = 0; k < LOADS; k++) {
    const s = performance.now();
    ch.callSync("echo", echoBuf);
    hop.push((performance.now() - s) * 1000);
  }
  const peerMed = rows["peer: SET/GET raw 4 KiB"]!;
  const table: Row[] = Object.entries(rows).map(([name, r]) => ({
    what: name,
    "remotify pages/s": Math.round(median(r.remotify)),
    "bytes/page in Redis": Math.round(median(r.bytes)),
    "× peer bytes": +(median(r.bytes) / median(peerMed.bytes)).toFixed(3),
    "load p50 µs": Math.round(median(r.p50)),
    "load p99 µs": Math.round(median(r.p99)),
    "× peer p50": +(median(r.p50) / median(peerMed.p50)).toFixed(2),
    "loads/s": Math.round(median(r.loads)),
  }));
  const st = ch.callSync("stats", {}) as Record<string, unknown>;
  await ch.close();
  peer.disconnect();
  await server.stop();
  await stopAll();
  console.log(`thread hop alone (sync echo through the helper, no Redis): p50 ${pct(hop, 50).toFixed(1)} µs, p99 ${pct(hop, 99).toFixed(1)} µs`);
  report("ramster", { [`${N} anon pages (${nCorpus} distinct, mean LZ4 size ${Math.round(compBytes)} B), batches of ${BATCH}, ${LOADS} loads, median of ${REPEATS}`]: table }, {
    pages: N, batch: BATCH, loads: LOADS, repeats: REPEATS, meanCompressedBytes: compBytes, helperStats: st,
    targets: { bytesPerPageVsPeer: 0.5, remotifyPagesPerSec: 50_000, loadLatencyVsPeer: 1.5 },
    threadHopUs: { p50: pct(hop, 50), p99: pct(hop, 99) }, remotifyRun: remotifierStats,
  });
}

await main();
