// SPDX-License-Identifier: MIT
/**
 * status.ts: one error family for all of tmem, and the mapping from the wasm
 * core's status codes (negative Linux errno values, assembly/common.ts) to it.
 *
 * The wasm core never throws or traps on a recoverable condition; it returns
 * `-errno`. Every TypeScript entry point turns such a status into a
 * {@link TmemError} with a stable `.code`, so callers can branch on
 * `err.code === "ENOMEM"` without parsing messages. Bad arguments are caught
 * at the TypeScript boundary and get the same error type (code `EINVAL`).
 *
 * The errno values the wasm core returns come from its own declarations
 * (assembly/common.ts E_*, through the generated bindings/layout.generated.ts);
 * {@link Status} is the one table of them for TypeScript (no file writes
 * `-22`). ETIMEDOUT and EOWNERDEAD are not in common.ts, so their numbers
 * live here.
 *
 * @module
 */
import {
  E_NOENT, E_2BIG, E_NOMEM, E_FAULT, E_BUSY, E_EXIST, E_NODEV, E_INVAL, E_NOSPC, E_PROTO, E_BADMSG,
} from "./layout.generated.js";

/** Error codes, after the Linux errno names the kernel's tmem stack returns. */
export const ErrorCode = {
  /** No such entry (a missing pool, key or driver). errno 2. */
  ENOENT: "ENOENT",
  /** Argument or data too large. errno 7. */
  E2BIG: "E2BIG",
  /** Out of page frames or host memory. errno 12. */
  ENOMEM: "ENOMEM",
  /** An address outside physical memory. errno 14. */
  EFAULT: "EFAULT",
  /** In use: a driver with live pools, no free Worker slot, a mapped handle. errno 16. */
  EBUSY: "EBUSY",
  /** Already exists. errno 17. */
  EEXIST: "EEXIST",
  /** Not set up: the memory is not formatted, or no backend. errno 19. */
  ENODEV: "ENODEV",
  /** Invalid argument: a bad handle, double free, forged id, out-of-range value. errno 22. */
  EINVAL: "EINVAL",
  /** No space in the container: an object too big for the allocator. errno 28. */
  ENOSPC: "ENOSPC",
  /** Layout or build mismatch between a memory and a module. errno 71. */
  EPROTO: "EPROTO",
  /** Malformed compressed data or a bad checksum. errno 74. */
  EBADMSG: "EBADMSG",
  /** The environment lacks a feature (WebAssembly threads, cross-origin isolation). */
  ENOTSUP: "ENOTSUP",
  /** A bounded wait on another Worker (or a remote server) ran out of time. errno 110. */
  ETIMEDOUT: "ETIMEDOUT",
  /** The Worker that held a lock or was inside an operation died. errno 130. */
  EOWNERDEAD: "EOWNERDEAD",
  /** A remote store failed or lost a page it had acknowledged (ramster). errno 5. */
  EIO: "EIO",
  /** No connection: the remote tier is down or its helper Worker died (ramster). errno 107. */
  ENOTCONN: "ENOTCONN",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Linux ETIMEDOUT and EOWNERDEAD. The host's bounded waits raise them; the
 * wasm core's one timed export, lock_acquire_timed, also answers -ETIMEDOUT
 * (assembly/index.ts writes that number itself: it is not one of common.ts's
 * E_* constants, so the generated layout does not carry it).
 */
export const E_TIMEDOUT = 110, E_OWNERDEAD = 130;

/**
 * The wasm core's status codes as it returns them (negative errno), by
 * {@link ErrorCode} name: TypeScript compares a return value with
 * `Status.EBUSY`, never with `-16`. The numbers are assembly/common.ts's E_*
 * (through layout.generated.ts), so they are declared once, in wasm.
 */
export const Status = {
  ENOENT: -E_NOENT,
  E2BIG: -E_2BIG,
  ENOMEM: -E_NOMEM,
  EFAULT: -E_FAULT,
  EBUSY: -E_BUSY,
  EEXIST: -E_EXIST,
  ENODEV: -E_NODEV,
  EINVAL: -E_INVAL,
  ENOSPC: -E_NOSPC,
  EPROTO: -E_PROTO,
  EBADMSG: -E_BADMSG,
  ETIMEDOUT: -E_TIMEDOUT,
  EOWNERDEAD: -E_OWNERDEAD,
} as const satisfies Partial<Record<ErrorCode, number>>;

/** A status the wasm core returns on failure: one of {@link Status}. */
export type Status = (typeof Status)[keyof typeof Status];

/** -status → code, built from {@link Status} (so the two cannot disagree). */
const ERRNO_TO_CODE: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.entries(Status) as Array<[ErrorCode, number]>).map(([code, status]) => [-status, code]),
);

/**
 * The error every tmem API throws (or rejects with). `code` is stable;
 * `message` is for people and may change.
 */
export class TmemError extends Error {
  /** Stable machine-readable code, e.g. `"ENOMEM"`. */
  readonly code: ErrorCode;

  /**
   * @param code - one of {@link ErrorCode}.
   * @param message - what failed, for people.
   */
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "TmemError";
    this.code = code;
  }
}

/**
 * Map a wasm status (a negative errno) to a {@link TmemError}.
 * @param status - a negative status returned by the wasm core.
 * @param what - the operation, for the message ("frame_alloc").
 */
export function statusError(status: number, what: string): TmemError {
  const code = ERRNO_TO_CODE.get(-status);
  if (code === undefined) return new TmemError(ErrorCode.EINVAL, `${what}: unknown status ${status}`);
  return new TmemError(code, `${what} failed (status ${status})`);
}

/**
 * Return `status` when it is not negative, throw its {@link TmemError} otherwise.
 * @param status - the wasm return value.
 * @param what - the operation, for the message.
 */
export function check(status: number, what: string): number {
  if (status < 0) throw statusError(status, what);
  return status;
}

/** Throw an `EINVAL` {@link TmemError} unless `ok`. */
export function argCheck(ok: boolean, message: string): asserts ok {
  if (!ok) throw new TmemError(ErrorCode.EINVAL, message);
}
