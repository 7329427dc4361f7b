// SPDX-License-Identifier: MIT
/**
 * direct.ts: the remote tier's fast read: a synchronous HGET on the calling
 * thread's own connection to a standalone Redis, with no helper Worker in
 * the way.
 *
 * What it is not: not a Redis client (it speaks one command, HGET, and
 * parses one reply, a bulk string, in RESP2), and never the authority: it
 * serves only a clean hit whose value passes the generation and checksum
 * check (protocol.ts). Everything else (a miss, a stale or corrupt copy, an
 * error reply, a slow or dead server, a Cluster, an address with a
 * password) answers "ask the helper", which has the full rules: replicas,
 * timeouts, tier down, EIO for a persistent page no copy of which is left.
 *
 * Key idea: a load through the helper costs four thread wake-ups (caller →
 * helper → Redis → helper → caller) where the same client's GET costs two;
 * profiled, the two extra hops were most of the gap to the peer. Node has no
 * synchronous socket API, but a connected TCP socket is a file descriptor:
 * with the socket paused (libuv neither reads nor polls it), the caller
 * writes the command with `fs.writeSync` and reads the reply with
 * `fs.readSync`, which on this non-blocking descriptor returns EAGAIN until
 * bytes arrive. The caller polls: it spins for `spinUs` (a reply on
 * loopback or a LAN comes in tens to hundreds of µs; sleeping would add the
 * timer slack, ~50 µs on Linux), then sleeps in 0.1 ms steps, up to
 * `timeoutMs`. The descriptor is Node's internal `_handle.fd` (Unix only):
 * where it is missing the fast path is simply off.
 *
 * Trade-off: the caller burns a core while it waits (as a spinning lock
 * does), instead of sleeping in the kernel: on a machine short of cores the
 * helper path may be the better citizen (`direct: false`).
 *
 * Guarantees: a reply is matched to its request by order on a connection
 * only this thread uses, one request at a time; any doubt (a timeout, extra
 * bytes, an error reply, a short write) closes the connection, so a late
 * reply can never be read as the answer to a later request, and the value
 * check would refuse one anyway. The connection is (re)opened
 * asynchronously, on this thread's event loop; until it is up, loads use
 * the helper.
 *
 * Concurrency: one reader per thread and remote tier; not reentrant.
 *
 * See also: tier.ts (its caller), channel.ts (the helper path), protocol.ts.
 *
 * @module
 */
import type { Socket } from "node:net";
import { decodeValue, HEADER_BYTES, MAX_PAYLOAD } from "./protocol.js";

type Net = typeof import("node:net");
type Fs = typeof import("node:fs");

/** Options of a {@link DirectReader}. */
export interface DirectOptions {
  /** Spin this long on a reply before sleeping between polls, µs. @defaultValue 2000 */
  spinUs?: number;
  /** Give up (and ask the helper) after this long, ms. @defaultValue 200 */
  timeoutMs?: number;
  /** After a failure, wait this long before reconnecting, ms. @defaultValue 1000 */
  retryMs?: number;
}

/** What {@link DirectReader.hget} answers besides a length: ask the helper. */
export const DIRECT_ASK_HELPER = -1;

const CR = 13, LF = 10;

/**
 * The `host:port` of a plain `redis://host:port` address (no user,
 * password, database or TLS), or null when the fast path cannot use it.
 */
export function directTarget(redis: unknown): { host: string; port: number } | null {
  if (typeof redis !== "string") return null;
  let u: URL;
  try { u = new URL(redis); } catch { return null; }
  if (u.protocol !== "redis:" || u.username !== "" || u.password !== "" || (u.pathname !== "" && u.pathname !== "/" && u.pathname !== "/0")) return null;
  const port = u.port === "" ? 6379 : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return host === "" || !Number.isInteger(port) ? null : { host, port };
}

/** One thread's synchronous reader. */
export class DirectReader {
  private sock: Socket | undefined;
  private fd = -1;
  private connecting = false;
  private closed = false;
  private retryAt = 0;
  private readonly spinMs: number;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly rbuf = Buffer.allocUnsafe(HEADER_BYTES + MAX_PAYLOAD + 64);
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));
  /** Loads served here (cumulative, this thread). */
  hits = 0;
  /** Loads handed to the helper after trying here (cumulative, this thread). */
  passed = 0;

  constructor(private readonly net: Net, private readonly fs: Fs, private readonly target: { host: string; port: number }, o: DirectOptions = {}) {
    this.spinMs = (o.spinUs ?? 2000) / 1000;
    this.timeoutMs = o.timeoutMs ?? 200;
    this.retryMs = o.retryMs ?? 1000;
    this.open();
  }

  /** True when a request can go now. */
  get ready(): boolean {
    return this.fd >= 0;
  }

  /** Open the connection in the background (on this thread's event loop); resolves when it is up or failed. */
  open(): Promise<void> {
    if (this.closed || this.connecting || this.fd >= 0) return Promise.resolve();
    this.connecting = true;
    return new Promise<void>((resolve) => {
      const s = this.net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
      s.pause(); // libuv must never read this socket: the replies are read with fs.readSync
      const fail = () => { this.connecting = false; this.drop(); this.retryAt = Date.now() + this.retryMs; resolve(); };
      s.once("error", fail);
      s.once("close", () => { if (this.sock === s) this.drop(); });
      s.once("connect", () => {
        this.connecting = false;
        s.pause();
        const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
        if (this.closed || typeof fd !== "number" || fd < 0) { s.destroy(); resolve(); return; }
        s.unref();
        s.on("error", () => { /* the next hget finds it broken */ });
        this.sock = s;
        this.fd = fd;
        resolve();
      });
    });
  }

  private drop(): void {
    this.fd = -1;
    const s = this.sock;
    this.sock = undefined;
    s?.destroy();
  }

  /** Close for good. */
  close(): void {
    this.closed = true;
    this.drop();
  }

  private broken(): number {
    this.drop();
    this.retryAt = Date.now() + this.retryMs;
    this.passed++;
    return DIRECT_ASK_HELPER;
  }

  /**
   * HGET `field` of `key`; if the value is there and carries generation
   * `gen` (any when undefined) with a good checksum, copy its payload to
   * `into` and return the payload's length. Anything else returns
   * {@link DIRECT_ASK_HELPER}. Never throws. This thread only; blocks up to
   * `timeoutMs`.
   */
  hget(key: string, field: string, gen: number | undefined, into: Uint8Array): number {
    if (this.fd < 0) {
      if (!this.connecting && !this.closed && Date.now() >= this.retryAt) void this.open();
      return DIRECT_ASK_HELPER;
    }
    const fd = this.fd, fs = this.fs, b = this.rbuf;
    const cmd = `*3\r\n$4\r\nHGET\r\n$${key.length}\r\n${key}\r\n$${field.length}\r\n${field}\r\n`;
    try {
      if (fs.writeSync(fd, cmd) !== cmd.length) return this.broken(); // keys are ASCII: bytes = chars
    } catch {
      return this.broken();
    }
    const t0 = performance.now();
    let have = 0, need = -1, body = 0;
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(fd, b, have, b.byteLength - have, null);
        if (n === 0) return this.broken(); // the server closed
      } catch (e) {
        if ((e as { code?: string }).code !== "EAGAIN") return this.broken();
        const waited = performance.now() - t0;
        if (waited > this.timeoutMs) return this.broken();
        if (waited > this.spinMs) Atomics.wait(this.nap, 0, 0, 0.1);
        continue;
      }
      have += n;
      if (need < 0) {
        // The reply's first line: "$<len>\r\n" (a bulk string), "$-1\r\n" (no such field), or an error.
        let eol = -1;
        for (let i = 1; i + 1 < have; i++) if (b[i] === CR && b[i + 1] === LF) { eol = i; break; }
        if (eol < 0) { if (have > 32) return this.broken(); continue; }
        if (b[0] !== 0x24 /* $ */) return this.broken();
        const len = Number(b.toString("latin1", 1, eol));
        if (!Number.isInteger(len) || len > HEADER_BYTES + MAX_PAYLOAD) return this.broken();
        if (len < 0) { if (have !== eol + 2) return this.broken(); this.passed++; return DIRECT_ASK_HELPER; }
        body = eol + 2;
        need = body + len + 2;
      }
      if (have < need) continue;
      if (have > need || b[need - 2] !== CR || b[need - 1] !== LF) return this.broken();
      break;
    }
    const d = decodeValue(b.subarray(body, need - 2), gen);
    if ("rejected" in d || d.payload.byteLength > into.byteLength) { this.passed++; return DIRECT_ASK_HELPER; }
    into.set(d.payload);
    this.hits++;
    return d.payload.byteLength;
  }
}
