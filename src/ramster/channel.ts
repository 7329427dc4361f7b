// SPDX-License-Identifier: MIT
/**
 * channel.ts: the synchronous-over-asynchronous channel between a caller
 * thread (the main thread or any worker_thread) and the ramster helper
 * Worker, which owns the Redis client.
 *
 * What it is not: not the remote protocol (store.ts is; it runs inside the
 * helper) and not a general RPC library: one request per calling thread is
 * in flight synchronously, replies are bytes, a JSON value or "none".
 *
 * Key idea (RAMster's "the faulting thread sleeps; when the data arrives,
 * the thread awakens"): the caller writes its request into its own small
 * control block, a SharedArrayBuffer (request words and a request area),
 * publishes it with `Atomics.notify` and blocks with `Atomics.wait` on the
 * same block's state word. The helper never blocks (it is an event loop
 * around the client): it waits for each block's request word with
 * `Atomics.waitAsync`, so no MessagePort, structured clone or message
 * queue sits on the synchronous path in either direction; when the reply is
 * ready it claims the block with a compare-and-swap, writes the reply into
 * the data area and publishes it with `Atomics.notify`. Requests that carry
 * a transfer list, or do not fit the request area, or are not plain JSON
 * (optionally with one Uint8Array as the whole of `args`), are posted on the
 * MessagePort instead, with the same reply path.
 *
 * The request words (seqlock): the caller stores C_REQ = -1, writes the
 * request area, C_REQLEN (JSON bytes) and C_REQBIN (binary bytes after the
 * JSON, -1 for none), then stores C_REQ = seq and notifies. The helper reads
 * C_REQ, copies the area, reads C_REQ again and serves the copy only when
 * both reads give the same seq (a caller that gave up and wrote its next
 * request in between makes it re-read; the abandoned request is dropped).
 *
 * Guarantees: every wait is bounded. It ends with the reply, or with a
 * TmemError: ETIMEDOUT after `timeoutMs`; ENOTCONN when the helper is known
 * dead (its `exit`, seen by the thread that created it or by the helper's
 * own exit hook, sets a shared dead flag and wakes every control block) or
 * when its heartbeat (a shared counter it bumps every HEARTBEAT_MS) has not
 * moved for `deadAfterMs` while we wait, which covers the case the `exit`
 * event cannot: the creating thread itself blocked when the helper died. A
 * reply that arrives after its caller gave up is dropped by the helper: the
 * state word names the request (seq), so it can never be read as the answer
 * to a later request.
 *
 * The state word, per request with sequence number s (29 bits, wraps):
 *   0 idle ─caller→ 4s+1 waiting ─helper CAS→ 4s+2 writing ─helper→ 4s+3 done
 *   4s+1 ─caller CAS (timeout, death)→ 0: abandoned; the helper's CAS fails.
 * A caller that finds 4s+2 at its deadline waits a short grace for 4s+3
 * (a copy of at most DATA_CAP bytes), bounded too.
 *
 * Async form: {@link RemoteChannel.call} posts the same request and gets the
 * reply as a message (a Promise), with the same timeout and death rules. A
 * browser main thread cannot `Atomics.wait`: there `callSync` throws
 * ENOTSUP and callers use `call`.
 *
 * Layout of a control block (Int32 words, then bytes):
 *   0 state │ 1 status │ 2 length │ 3 request seq │ 4 request JSON length │
 *   5 request binary length │ 6..15 reserved │ data area (DATA_CAP bytes) │
 *   request area (REQ_CAP bytes)
 * Liveness block (one per helper): 0 heartbeat │ 1 dead flag │ 2 tier down
 *
 * Concurrency: one RemoteChannel per thread; it is not reentrant (one
 * synchronous call at a time, which blocking guarantees) but any number of
 * async calls may be in flight. Other threads get their own channel with
 * {@link RemoteChannel.connect} + {@link RemoteChannel.attach}.
 *
 * See also: helper.ts (the other side), store.ts, test/ramster-channel.test.ts.
 *
 * @module
 */
import type { MessagePort, Worker } from "node:worker_threads";
import { ErrorCode, TmemError } from "../../bindings/status.js";

/** Words of the control block. */
export const C_STATE = 0;
export const C_STATUS = 1;
export const C_LENGTH = 2;
/** Request words of the control block (see the seqlock above). */
export const C_REQ = 3;
export const C_REQLEN = 4;
export const C_REQBIN = 5;
/** Byte offset of the data area in a control block. */
export const C_DATA = 64;
/** Bytes of reply a control block holds: a page with its header, or a JSON reply. */
export const DATA_CAP = 64 * 1024;
/** Byte offset of the request area in a control block. */
export const C_REQDATA = 64 + DATA_CAP;
/** Bytes of request a control block holds (JSON + binary); larger requests are posted. */
export const REQ_CAP = 8 * 1024;
/** Words of the liveness block. */
export const L_BEAT = 0;
export const L_DEAD = 1;
/** Liveness word the helper sets to 1 while the remote tier is marked down (callers skip it without a round trip). */
export const L_DOWN = 2;
/** How often the helper bumps its heartbeat, in ms. */
export const HEARTBEAT_MS = 20;

/** Reply status codes in C_STATUS and in async replies. */
export const R_BYTES = 0;
export const R_JSON = 1;
export const R_NONE = 2;
export const R_ERROR = 3;

/** What a request returns: bytes, a JSON value, or null ("none", e.g. a miss). */
export type Reply = Uint8Array | null | string | number | boolean | Record<string, unknown> | unknown[];

/** A request as posted to the helper. */
export interface Request {
  kind: "sync" | "async";
  seq: number;
  op: string;
  args: unknown;
}

/** An async reply as posted back by the helper. */
export interface AsyncReply {
  seq: number;
  status: number;
  value: unknown;
}

/** Options of {@link RemoteChannel.create}. */
export interface ChannelOptions {
  /** URL of the helper Worker's entry (dist/ramster-worker.js). */
  workerUrl: URL;
  /** Passed to the helper's handler factory (e.g. the Redis address). */
  init: unknown;
  /** Default timeout of a call, in ms. @defaultValue 2000 */
  timeoutMs?: number;
  /** A waiting caller declares the helper dead when its heartbeat stalls this long, in ms. @defaultValue 1000 */
  deadAfterMs?: number;
}

/** What another thread needs to {@link RemoteChannel.attach}: post it with `port` in the transfer list. */
export interface ChannelHandle {
  port: MessagePort;
  /** The helper's `init` (the store's options: address, node, instance), for a thread's direct reads. */
  init?: unknown;
  ctrl: SharedArrayBuffer;
  live: SharedArrayBuffer;
  timeoutMs: number;
  deadAfterMs: number;
}

const SEQ_MASK = (1 << 29) - 1;

/**
 * Node's worker_threads, loaded when a helper is started (not at import
 * time), through a parameter so that bundlers for browsers leave it alone:
 * the package root re-exports the remote tier, and a browser bundle of the
 * root must not need Node's modules. The remote tier itself is Node-only.
 */
export async function nodeModule<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    throw new TmemError(ErrorCode.ENOTSUP, `the ramster remote tier needs Node.js (${name}): ${(e as Error).message}`);
  }
}

let blockingAllowed: boolean | undefined;
/** Whether this thread may block in Atomics.wait (false on a browser main thread). */
export function canBlock(): boolean {
  if (blockingAllowed === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockingAllowed = true;
    } catch {
      blockingAllowed = false;
    }
  }
  return blockingAllowed;
}

/** Allocate a control block. */
export function newControlBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(C_REQDATA + REQ_CAP);
}

/** Decode a TmemError carried as JSON {code, message}. */
export function errorFrom(v: unknown): TmemError {
  const o = (v ?? {}) as { code?: string; message?: string };
  const code = (Object.values(ErrorCode) as string[]).includes(o.code ?? "") ? (o.code as ErrorCode) : ErrorCode.EIO;
  const msg = (o.message ?? "remote error").replace(/^[A-Z0-9]+: /, "");
  return new TmemError(code, msg);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** JSON.stringify that refuses binary values (they would become objects of indices): undefined then. */
function plainJson(v: unknown): string | undefined {
  let binary = false;
  const s = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === "object" && x !== null && (ArrayBuffer.isView(x) || x instanceof ArrayBuffer || x instanceof SharedArrayBuffer)) binary = true;
    return x;
  });
  return binary ? undefined : s;
}

/**
 * One thread's end of the channel to the helper Worker.
 *
 * Thread safety: use from the thread that created or attached it only.
 */
export class RemoteChannel {
  /** The helper Worker, on the thread that created it; undefined on attached threads. */
  readonly worker: Worker | undefined;
  private readonly port: MessagePort | Worker;
  private readonly ctrl: Int32Array;
  private readonly ctrlBytes: Uint8Array;
  private readonly reqBytes: Uint8Array;
  private readonly live: Int32Array;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  /** Control blocks of every thread connected through this (creating) channel, woken on helper death. */
  private readonly blocks: Int32Array[] = [];
  private closed = false;
  /** Default timeout of a call, in ms. */
  timeoutMs: number;
  /** Heartbeat stall that counts as death, in ms. */
  readonly deadAfterMs: number;
  /** The helper's `init` as the creating thread gave it (undefined on a thread attached by an older handle). */
  init: unknown;

  private constructor(worker: Worker | undefined, port: MessagePort | Worker, ctrl: SharedArrayBuffer, live: SharedArrayBuffer,
    timeoutMs: number, deadAfterMs: number) {
    this.worker = worker;
    this.port = port;
    this.ctrl = new Int32Array(ctrl, 0, C_DATA / 4);
    this.ctrlBytes = new Uint8Array(ctrl, C_DATA, DATA_CAP);
    this.reqBytes = new Uint8Array(ctrl, C_REQDATA, REQ_CAP);
    this.live = new Int32Array(live);
    this.timeoutMs = timeoutMs;
    this.deadAfterMs = deadAfterMs;
    this.blocks.push(this.ctrl);
    port.on("message", (m: AsyncReply) => this.onReply(m));
    if (port !== worker) (port as MessagePort).unref();
  }

  /**
   * Start a helper Worker and wait until its handler is ready.
   * @throws TmemError ENOTCONN when the helper fails to start (its handler's error as the message).
   */
  static async create(o: ChannelOptions): Promise<RemoteChannel> {
    const { Worker } = await nodeModule<typeof import("node:worker_threads")>("node:worker_threads");
    const ctrl = newControlBlock();
    const live = new SharedArrayBuffer(16);
    const worker = new Worker(o.workerUrl, { workerData: { init: o.init, ctrl, live } });
    const ch = new RemoteChannel(worker, worker, ctrl, live, o.timeoutMs ?? 2000, o.deadAfterMs ?? 1000);
    ch.init = o.init;
    worker.on("exit", () => ch.markDead("the ramster helper Worker exited"));
    worker.on("error", () => { /* exit follows; markDead there */ });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean; error?: unknown }) => {
        if (m.ready === true) { worker.off("message", onMsg); resolve(); }
        else if (m.error !== undefined) { worker.off("message", onMsg); reject(errorFrom(m.error)); }
      };
      worker.on("message", onMsg);
      worker.once("exit", (code) => reject(new TmemError(ErrorCode.ENOTCONN, `ramster helper exited with ${code} during start`)));
    }).catch(async (e) => { await worker.terminate(); throw e; });
    worker.unref();
    return ch;
  }

  /**
   * A handle for another thread: post it (with `handle.port` in the
   * transfer list) and call {@link RemoteChannel.attach} there. Only on the
   * creating thread, which must stay alive for its `exit` watch.
   */
  connect(): ChannelHandle {
    if (this.worker === undefined) throw new TmemError(ErrorCode.EINVAL, "connect(): only the thread that created the helper can connect others");
    // Node's global MessageChannel is worker_threads' own (ports transfer to Workers).
    const { port1, port2 } = new MessageChannel() as unknown as { port1: MessagePort; port2: MessagePort };
    const ctrl = newControlBlock();
    this.blocks.push(new Int32Array(ctrl, 0, C_DATA / 4));
    this.worker.postMessage({ attach: port1, ctrl }, [port1]);
    return { port: port2, init: this.init, ctrl, live: this.live.buffer as SharedArrayBuffer, timeoutMs: this.timeoutMs, deadAfterMs: this.deadAfterMs };
  }

  /** This thread's channel from a {@link ChannelHandle} made by `connect()`. */
  static attach(h: ChannelHandle): RemoteChannel {
    const ch = new RemoteChannel(undefined, h.port, h.ctrl, h.live, h.timeoutMs, h.deadAfterMs);
    ch.init = h.init;
    return ch;
  }

  /** True while the helper reports the remote tier down (a shared word: no round trip). */
  get tierDown(): boolean {
    return Atomics.load(this.live, L_DOWN) !== 0;
  }

  /** True once the helper is known to have died (or this channel was closed). */
  get dead(): boolean {
    return this.closed || Atomics.load(this.live, L_DEAD) !== 0;
  }

  private markDead(why: string): void {
    Atomics.store(this.live, L_DEAD, 1);
    for (const b of this.blocks) Atomics.notify(b, C_STATE);
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(seq);
      p.reject(new TmemError(ErrorCode.ENOTCONN, why));
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & SEQ_MASK;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  /**
   * Send `op` and block until its reply. Bytes replies are copied into
   * `into` when given (and `into` returned, trimmed to the length as a
   * subarray), else into a new Uint8Array.
   *
   * @throws TmemError ETIMEDOUT after `timeoutMs`; ENOTCONN when the helper
   * died or its heartbeat stalled for `deadAfterMs`; ENOTSUP on a thread
   * that may not block (browser main thread: use {@link call}); E2BIG when
   * a bytes reply does not fit `into`; the helper's own error otherwise.
   * Not reentrant; this thread only.
   */
  callSync(op: string, args: unknown, transfer: ArrayBuffer[] = [], timeoutMs = this.timeoutMs, into?: Uint8Array): Reply {
    if (!canBlock()) throw new TmemError(ErrorCode.ENOTSUP, `${op}: this thread cannot block (Atomics.wait); use the async form`);
    if (this.dead) throw new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker is dead`);
    const seq = this.nextSeq();
    const waiting = seq * 4 + 1, writing = seq * 4 + 2, done = seq * 4 + 3;
    const c = this.ctrl;
    Atomics.store(c, C_STATE, waiting);
    if (transfer.length !== 0 || !this.writeRequest(seq, op, args)) this.port.postMessage({ kind: "sync", seq, op, args } satisfies Request, transfer);
    const start = Date.now();
    const deadline = start + timeoutMs;
    let beat = Atomics.load(this.live, L_BEAT), beatAt = start;
    for (;;) {
      const s = Atomics.load(c, C_STATE);
      if (s === done) break;
      const now = Date.now();
      let fail: TmemError | undefined;
      if (Atomics.load(this.live, L_DEAD) !== 0) fail = new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker died`);
      else if (now >= deadline) fail = new TmemError(ErrorCode.ETIMEDOUT, `${op}: no reply within ${timeoutMs} ms`);
      else {
        const b = Atomics.load(this.live, L_BEAT);
        if (b !== beat) { beat = b; beatAt = now; }
        else if (now - beatAt >= this.deadAfterMs) fail = new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker stopped (no heartbeat for ${now - beatAt} ms)`);
      }
      if (fail !== undefined) {
        if (Atomics.compareExchange(c, C_STATE, waiting, 0) === waiting) throw fail;
        // The helper is writing our reply: a bounded grace for the copy to finish.
        if (Atomics.wait(c, C_STATE, writing, 100) === "timed-out" && Atomics.load(c, C_STATE) !== done) {
          Atomics.store(c, C_STATE, 0);
          throw fail;
        }
        continue;
      }
      Atomics.wait(c, C_STATE, s, Math.min(50, deadline - now, this.deadAfterMs));
    }
    const status = Atomics.load(c, C_STATUS);
    const len = Atomics.load(c, C_LENGTH);
    let out: Reply;
    try {
      if (status === R_NONE) out = null;
      else if (status === R_BYTES) {
        if (into !== undefined) {
          if (into.byteLength < len) throw new TmemError(ErrorCode.E2BIG, `${op}: reply of ${len} bytes does not fit ${into.byteLength}`);
          into.set(this.ctrlBytes.subarray(0, len));
          out = into.subarray(0, len);
        } else out = this.ctrlBytes.slice(0, len);
      } else {
        const v = JSON.parse(decoder.decode(this.ctrlBytes.slice(0, len))) as unknown;
        if (status === R_ERROR) throw errorFrom(v);
        out = v as Reply;
      }
    } finally {
      Atomics.store(c, C_STATE, 0);
    }
    return out;
  }

  /**
   * Write a synchronous request into the control block's request area and
   * ring the helper (seqlock, see the module comment). False, with nothing
   * published, when it does not fit or is not plain JSON (the caller posts
   * it instead).
   */
  private writeRequest(seq: number, op: string, args: unknown): boolean {
    const bin = args instanceof Uint8Array ? args : undefined;
    const json = plainJson(bin !== undefined ? { op } : { op, args });
    if (json === undefined) return false;
    const c = this.ctrl;
    Atomics.store(c, C_REQ, -1);
    const r = encoder.encodeInto(json, this.reqBytes);
    if (r.read !== json.length || r.written + (bin?.byteLength ?? 0) > REQ_CAP) return false; // C_REQ stays -1: the helper ignores it
    if (bin !== undefined) this.reqBytes.set(bin, r.written);
    Atomics.store(c, C_REQLEN, r.written);
    Atomics.store(c, C_REQBIN, bin !== undefined ? bin.byteLength : -1);
    Atomics.store(c, C_REQ, seq);
    Atomics.notify(c, C_REQ);
    return true;
  }

  /**
   * Send `op`; the reply as a Promise (never blocks).
   * @throws (rejects) the same errors as {@link callSync}, except ENOTSUP.
   * This thread only; any number may be in flight.
   */
  call(op: string, args: unknown, transfer: ArrayBuffer[] = [], timeoutMs = this.timeoutMs): Promise<Reply> {
    if (this.dead) return Promise.reject(new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker is dead`));
    const seq = this.nextSeq();
    return new Promise<Reply>((resolve, reject) => {
      const startBeat = Atomics.load(this.live, L_BEAT);
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        if (this.dead) reject(new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker died`));
        else if (Atomics.load(this.live, L_BEAT) === startBeat) reject(new TmemError(ErrorCode.ENOTCONN, `${op}: the ramster helper Worker stopped (no heartbeat)`));
        else reject(new TmemError(ErrorCode.ETIMEDOUT, `${op}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.port.postMessage({ kind: "async", seq, op, args } satisfies Request, transfer);
    });
  }

  private onReply(m: AsyncReply): void {
    if (typeof m !== "object" || m === null || typeof m.seq !== "number") return;
    const p = this.pending.get(m.seq);
    if (p === undefined) return; // timed out already
    this.pending.delete(m.seq);
    clearTimeout(p.timer);
    if (m.status === R_ERROR) p.reject(errorFrom(m.value));
    else if (m.status === R_NONE) p.resolve(null);
    else p.resolve(m.value as Reply);
  }

  /**
   * Stop the helper (on the creating thread) or detach (elsewhere). Pending
   * async calls reject with ENOTCONN.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.worker !== undefined) {
      this.markDead("the ramster channel was closed");
      await this.worker.terminate();
    } else {
      for (const [seq, p] of this.pending) { clearTimeout(p.timer); this.pending.delete(seq); p.reject(new TmemError(ErrorCode.ENOTCONN, "channel closed")); }
      (this.port as MessagePort).close();
    }
  }
}
