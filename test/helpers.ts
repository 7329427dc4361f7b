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
