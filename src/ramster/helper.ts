// SPDX-License-Identifier: MIT
/**
 * helper.ts: the inside of the ramster helper Worker: an event loop that
 * owns the Redis client, takes requests from every connected thread and
 * answers each one in its thread's control block (synchronous callers) or
 * as a message (async callers).
 *
 * What it is not: not the protocol (store.ts) and never a waiter: it must
 * not call `Atomics.wait`, because the threads it serves are blocked
 * waiting for it; everything here is callbacks and promises.
 *
 * Key idea: a handler is a table op name → async function; the helper only
 * moves requests and replies. A sync reply is written with the claim
 * protocol of channel.ts: compare-and-swap the state word from "waiting for
 * seq" to "writing seq", copy, store "done seq", notify. If the CAS fails,
 * the caller gave up (timeout) or moved on, and the reply is dropped.
 *
 * Liveness: a heartbeat counter bumped every HEARTBEAT_MS (so a blocked
 * caller can tell a slow helper from a dead one), and a `process` exit hook
 * that sets the dead flag and wakes every known control block; `terminate()`
 * skips that hook, which the heartbeat and the creating thread's `exit`
 * watch cover.
 *
 * Concurrency: requests run concurrently (the handler orders what must be
 * ordered, per object: store.ts); replies to one thread's sync calls come
 * one at a time because that thread makes one at a time.
 *
 * See also: channel.ts, store.ts, src/ramster-worker.ts (the entry point).
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { TmemError } from "../../bindings/status.js";
import {
  C_DATA, C_LENGTH, C_REQ, C_REQBIN, C_REQDATA, C_REQLEN, C_STATE, C_STATUS, DATA_CAP, HEARTBEAT_MS, L_BEAT, L_DEAD,
  R_BYTES, R_ERROR, R_JSON, R_NONE, REQ_CAP, type AsyncReply, type Request,
} from "./channel.js";

/** Atomics.waitAsync (ES2024; Node ≥ 16), typed here because the project's lib is es2022. */
type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: boolean; value: Promise<"ok" | "timed-out"> | "not-equal" | "timed-out" };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
const reqDecoder = new TextDecoder();

/**
 * Read the request a caller published in its control block's request area,
 * or undefined when there is none or it changed while being read (seqlock,
 * see channel.ts). The copy is taken before the second read of C_REQ.
 */
function readRequest(ctrlBuf: SharedArrayBuffer): Request | undefined {
  const c = new Int32Array(ctrlBuf, 0, C_DATA / 4);
  const seq = Atomics.load(c, C_REQ);
  if (seq <= 0) return undefined;
  const jl = Atomics.load(c, C_REQLEN), bl = Atomics.load(c, C_REQBIN);
  if (jl < 0 || jl > REQ_CAP || bl > REQ_CAP - jl) return undefined;
  const copy = new Uint8Array(ctrlBuf, C_REQDATA, jl + Math.max(bl, 0)).slice();
  if (Atomics.load(c, C_REQ) !== seq) return undefined;
  let h: { op?: unknown; args?: unknown };
  try { h = JSON.parse(reqDecoder.decode(copy.subarray(0, jl))) as typeof h; } catch { return undefined; }
  if (typeof h.op !== "string") return undefined;
  return { kind: "sync", seq, op: h.op, args: bl >= 0 ? copy.subarray(jl) : h.args };
}

/** One op of a helper: takes the request's args, returns the reply. */
export type HelperOp = (args: never) => Promise<Uint8Array | null | object | string | number | boolean> | Uint8Array | null | object | string | number | boolean;

/** The op table a helper serves. */
export type HelperHandler = Record<string, HelperOp>;

const encoder = new TextEncoder();

function errorJson(e: unknown): { code: string; message: string } {
  if (e instanceof TmemError) return { code: e.code, message: e.message };
  const err = e as { code?: unknown; message?: unknown };
  return { code: "EIO", message: String(err?.message ?? e) };
}

/** Write a reply into a control block if its caller still waits for `seq`. */
function writeSync(ctrlBuf: SharedArrayBuffer, seq: number, status: number, value: unknown): void {
  const c = new Int32Array(ctrlBuf, 0, C_DATA / 4);
  const data = new Uint8Array(ctrlBuf, C_DATA, DATA_CAP);
  let bytes: Uint8Array | undefined;
  if (status === R_BYTES) bytes = value as Uint8Array;
  else if (status !== R_NONE) bytes = encoder.encode(JSON.stringify(value));
  if (bytes !== undefined && bytes.byteLength > DATA_CAP) {
    status = R_ERROR;
    bytes = encoder.encode(JSON.stringify({ code: "E2BIG", message: `reply of ${bytes.byteLength} bytes exceeds the control block (${DATA_CAP})` }));
  }
  if (Atomics.compareExchange(c, C_STATE, seq * 4 + 1, seq * 4 + 2) !== seq * 4 + 1) return; // abandoned
  if (bytes !== undefined) data.set(bytes);
  Atomics.store(c, C_STATUS, status);
  Atomics.store(c, C_LENGTH, bytes?.byteLength ?? 0);
  Atomics.store(c, C_STATE, seq * 4 + 3);
  Atomics.notify(c, C_STATE);
}

function classify(v: unknown): number {
  if (v === null || v === undefined) return R_NONE;
  if (v instanceof Uint8Array) return R_BYTES;
  return R_JSON;
}

/**
 * Run the helper loop in this Worker. `makeHandler` gets the channel's
 * `init` and builds the op table (connects the client); its failure is
 * reported to the creating thread and ends the Worker.
 */
export function runHelper(makeHandler: (init: unknown, ctx: { live: Int32Array }) => Promise<HelperHandler>): void {
  if (parentPort === null) throw new Error("runHelper: not in a Worker");
  const parent = parentPort;
  const { init, ctrl, live } = workerData as { init: unknown; ctrl: SharedArrayBuffer; live: SharedArrayBuffer };
  const liveI = new Int32Array(live);
  const blocks: SharedArrayBuffer[] = [ctrl];
  setInterval(() => Atomics.add(liveI, L_BEAT, 1), HEARTBEAT_MS);
  process.on("exit", () => {
    Atomics.store(liveI, L_DEAD, 1);
    for (const b of blocks) Atomics.notify(new Int32Array(b, 0, 1), C_STATE);
  });

  let handler: HelperHandler | undefined;
  const queued: Array<[Request, SharedArrayBuffer, MessagePort | typeof parent]> = [];

  const serve = (req: Request, block: SharedArrayBuffer, reply: MessagePort | typeof parent) => {
    const op = handler![req.op];
    const answer = (status: number, value: unknown) => {
      if (req.kind === "sync") writeSync(block, req.seq, status, value);
      else reply.postMessage({ seq: req.seq, status, value } satisfies AsyncReply);
    };
    if (op === undefined) { answer(R_ERROR, { code: "EINVAL", message: `unknown ramster op '${req.op}'` }); return; }
    let p: unknown;
    try {
      p = op(req.args as never);
    } catch (e) {
      answer(R_ERROR, errorJson(e));
      return;
    }
    Promise.resolve(p).then((v) => answer(classify(v), v ?? null), (e) => answer(R_ERROR, errorJson(e)));
  };

  /**
   * Serve the block's shared-memory requests: wait (waitAsync, never
   * blocking) for its request word to move off the last value seen, read
   * the request, serve it, wait again. A request whose word changed while
   * it was read is re-read from the new value.
   */
  const watch = (block: SharedArrayBuffer, port: MessagePort | typeof parent) => {
    const c = new Int32Array(block, 0, C_DATA / 4);
    let seen = 0; // a fresh block; a request published before this watch started is seen at once
    const step = (): void => {
      for (;;) {
        const now = Atomics.load(c, C_REQ);
        if (now !== seen) {
          const req = readRequest(block);
          if (req === undefined) { if (Atomics.load(c, C_REQ) === now) seen = now; continue; }
          seen = req.seq;
          if (handler === undefined) queued.push([req, block, port]);
          else serve(req, block, port);
          continue;
        }
        const w = waitAsync(c, C_REQ, seen);
        if (w.async) { (w.value as Promise<string>).then(step); return; }
      }
    };
    step();
  };

  const listen = (port: MessagePort | typeof parent, block: SharedArrayBuffer) => {
    watch(block, port);
    port.on("message", (m: Request | { attach: MessagePort; ctrl: SharedArrayBuffer }) => {
      if ("attach" in m) {
        blocks.push(m.ctrl);
        listen(m.attach, m.ctrl);
        return;
      }
      if (handler === undefined) queued.push([m, block, port]);
      else serve(m, block, port);
    });
  };
  listen(parent, ctrl);

  makeHandler(init, { live: liveI }).then((h) => {
    handler = h;
    for (const [m, b, p] of queued.splice(0)) serve(m, b, p);
    parent.postMessage({ ready: true });
  }, (e) => {
    parent.postMessage({ error: errorJson(e) });
    setTimeout(() => process.exit(1), 10);
  });
}
