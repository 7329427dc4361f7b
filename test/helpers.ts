// Small helpers the test files share: error-code capture and test pages.
import { expect } from "vitest";
import { type ErrorCode, TmemError } from "../bindings/status.js";

/** The TmemError code `f` throws, or "no error". Any other exception propagates. */
export function errorCode(f: () => unknown): ErrorCode | "no error" {
  try {
    f();
  } catch (e) {
    if (e instanceof TmemError) return e.code;
    throw e;
  }
  return "no error";
}

/** The TmemError code `f` rejects with, or "no error". Any other exception propagates. */
export async function errorCodeAsync(f: () => Promise<unknown>): Promise<ErrorCode | "no error"> {
  try {
    await f();
  } catch (e) {
    if (e instanceof TmemError) return e.code;
    throw e;
  }
  return "no error";
}

/** Assert that `fn` throws a TmemError with `code`; returns it. */
export function throwsWith(fn: () => unknown, code: ErrorCode): TmemError {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, `expected ${code}`).toBeInstanceOf(TmemError);
  expect((err as TmemError).code).toBe(code);
  return err as TmemError;
}

/** Assert that `p` rejects with a TmemError with `code`; returns it. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<TmemError> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err, `expected ${code}`).toBeInstanceOf(TmemError);
  expect((err as TmemError).code).toBe(code);
  return err as TmemError;
}

/** A 4 KiB page of pseudo-random bytes (incompressible), fixed by `seed`. */
export function noise(seed: number): Uint8Array {
  const p = new Uint8Array(4096);
  let x = seed | 1;
  for (let j = 0; j < 4096; j++) { x = (x * 1103515245 + 12345) >>> 0; p[j] = x >>> 24; }
  return p;
}

// ── Real test pages (test/corpus.ts): the full corpus from ../shared, or the repo's sample ──
export { type Corpus, type CorpusName, corpusPage, corpusSizes, fullCorpusSkip, haveFullCorpus, loadCorpus } from "./corpus.js";

/**
 * Start a watchdog Worker for a test whose own thread calls into wasm while
 * other Workers are being killed: a synchronous hang there cannot be ended
 * by vitest's timeout, so if this thread's event loop stops for `ms` the
 * watchdog prints `what` and kills the test process (the run then fails, in
 * bounded time). Call stop() when the test ends.
 */
export async function startWatchdog(what: string, ms = 60_000): Promise<{ stop(): Promise<void> }> {
  const { Worker } = await import("node:worker_threads");
  const beat = new SharedArrayBuffer(8);
  const b = new Int32Array(beat);
  const w = new Worker(new URL("./workers/watchdog.mjs", import.meta.url), { workerData: { beat, ms, what } });
  w.unref();
  const timer = setInterval(() => { Atomics.add(b, 0, 1); }, 100);
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      Atomics.store(b, 1, 1);
      Atomics.notify(b, 1);
      await new Promise((r) => w.once("exit", r));
    },
  };
}

/**
 * Poll `ok` (every `pollMs` ms) until it is true; throw `${what}: not within
 * ${ms} ms` if it is not within `ms`. For waits on other Workers in tests.
 */
export async function waitUntil(what: string, ok: () => boolean, ms: number, pollMs = 1): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export { sixWordOids, type SixWordCore } from "./workers/six-word-oids.mjs";
