// SPDX-License-Identifier: MIT
/**
 * zsmalloc-stress-worker.ts: a worker_threads entry that attaches to a
 * physical memory, opens a zsmalloc pool by id and runs a random workload on
 * it: allocate (in its own size band or in a band shared with the other
 * Workers), write a signature unique to (worker, allocation), verify,
 * rewrite, free, and now and then compact the whole pool, which moves other
 * Workers' objects under them unless they are mapped (pinned).
 *
 * A signature found damaged, a live handle refused, or a freed handle
 * accepted is counted; the test requires all counts to be 0. At the end every
 * object is verified and freed.
 *
 * workerData: `{ handle, pool, options: ZsStressOptions, barrier }`, where
 * `barrier` is an Int32Array over a SharedArrayBuffer of [arrived, total].
 * Posts a {@link ZsStressResult}. Used by test/zsmalloc-stress.test.ts.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { arriveAndWait } from "../../src/demo/frames.js";
import { TmemError } from "../../bindings/status.js";
import { zsmallocDriver, type ZsmallocBackend } from "../../src/zpool/drivers/zsmalloc.js";

/** Parameters of one stress worker. */
export interface ZsStressOptions {
  /** Worker number (part of every signature). */
  id: number;
  /** Random operations. */
  ops: number;
  /** PRNG seed. */
  seed: number;
  /** Own size band [lo, hi] (bytes). */
  own: [number, number];
  /** Size band shared with the other workers. */
  shared: [number, number];
  /** Most objects held at once. */
  maxLive: number;
  /** Compact the pool every this many operations (0 = never). */
  compactEvery: number;
}

/** What one worker saw. */
export interface ZsStressResult {
  ops: number;
  allocs: number;
  frees: number;
  verified: number;
  /** Objects whose bytes were not what this worker wrote: must be 0. */
  corrupt: number;
  /** Unexpected errors (messages): must be empty. */
  errors: string[];
  /** Frames freed by this worker's compactions. */
  compacted: number;
  ms: number;
  slot: number;
}

/** Fill `v` with the signature of `tag`. */
function sign(v: Uint8Array, tag: number): void {
  let x = (tag * 2654435761) >>> 0 || 1;
  for (let i = 0; i < v.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    v[i] = x & 255;
  }
}

/** True if `v` holds the signature of `tag`. */
function signed(v: Uint8Array, tag: number): boolean {
  let x = (tag * 2654435761) >>> 0 || 1;
  for (let i = 0; i < v.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    if (v[i] !== (x & 255)) return false;
  }
  return true;
}

/** Run the workload on pool `p`. */
export function zsStress(p: ZsmallocBackend, o: ZsStressOptions): Omit<ZsStressResult, "ms" | "slot"> {
  let s = o.seed >>> 0 || 1;
  const rand = (n: number): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
  const handles: number[] = [], tags: number[] = [], sizes: number[] = [];
  const r: Omit<ZsStressResult, "ms" | "slot"> = { ops: 0, allocs: 0, frees: 0, verified: 0, corrupt: 0, errors: [], compacted: 0 };
  let counter = 0;
  const err = (what: string, e: unknown): void => { if (r.errors.length < 20) r.errors.push(`${what}: ${String(e)}`); };
  const verify = (i: number): boolean => {
    const v = p.map(handles[i]!, "ro");
    const ok = v.length === sizes[i] && signed(v, tags[i]!);
    p.unmap(handles[i]!);
    r.verified++;
    if (!ok) r.corrupt++;
    return ok;
  };
  for (let n = 0; n < o.ops; n++) {
    r.ops++;
    const op = rand(100);
    try {
      if (o.compactEvery > 0 && n % o.compactEvery === o.compactEvery - 1) {
        r.compacted += p.compact();
      } else if ((op < 45 && handles.length < o.maxLive) || handles.length === 0) {
        const band = rand(10) < 7 ? o.own : o.shared;
        const size = band[0] + rand(band[1] - band[0] + 1);
        const h = p.malloc(size);
        const tag = (o.id << 24) | (++counter & 0xffffff);
        const v = p.map(h, "wo");
        sign(v, tag);
        p.unmap(h);
        handles.push(h); tags.push(tag); sizes.push(size);
        r.allocs++;
      } else if (op < 80) {
        const i = rand(handles.length);
        verify(i);
        const h = handles[i]!;
        p.free(h);
        r.frees++;
        try {
          p.free(h);
          r.errors.push(`double free of ${h} accepted`);
        } catch (e) {
          if (!(e instanceof TmemError && e.code === "EINVAL")) err("double free", e);
        }
        const last = handles.length - 1;
        handles[i] = handles[last]!; tags[i] = tags[last]!; sizes[i] = sizes[last]!;
        handles.pop(); tags.pop(); sizes.pop();
      } else if (op < 90) {
        verify(rand(handles.length));
      } else if (op < 95) {
        // Dwell: keep an object mapped while rewriting it slowly, so another
        // Worker's compaction runs meanwhile; a moved (unpinned) object would
        // lose these writes.
        const i = rand(handles.length);
        const h = handles[i]!;
        const v = p.map(h, "rw");
        if (!signed(v, tags[i]!)) r.corrupt++;
        const tag = (o.id << 24) | (++counter & 0xffffff);
        for (let rep = 0; rep < 4; rep++) sign(v, tag);
        p.unmap(h);
        tags[i] = tag;
        verify(i);
      } else {
        const i = rand(handles.length);
        const v = p.map(handles[i]!, "rw");
        if (!signed(v, tags[i]!)) r.corrupt++;
        const tag = (o.id << 24) | (++counter & 0xffffff);
        sign(v, tag);
        p.unmap(handles[i]!);
        tags[i] = tag;
      }
    } catch (e) {
      if (e instanceof TmemError && e.code === "ENOMEM") continue;
      err(`op ${n}`, e);
    }
  }
  for (let i = 0; i < handles.length; i++) {
    try {
      verify(i);
      p.free(handles[i]!);
      r.frees++;
    } catch (e) {
      err("final free", e);
    }
  }
  return r;
}

if (parentPort && workerData && (workerData as { zsStress?: boolean }).zsStress) {
  const { handle, pool, options, barrier } = workerData as {
    handle: PhysicalMemoryHandle; pool: number; options: ZsStressOptions; barrier: Int32Array;
  };
  const pm = await PhysicalMemory.attach(handle);
  const p = zsmallocDriver.open(pm, pool, {}) as ZsmallocBackend;
  arriveAndWait(barrier);
  const t0 = performance.now();
  const result = zsStress(p, options);
  const ms = performance.now() - t0;
  const slot = pm.slot;
  pm.detach();
  parentPort.postMessage({ ...result, ms, slot } satisfies ZsStressResult);
}
