// SPDX-License-Identifier: MIT
/**
 * tier.ts: the remote tier as one thread's zcache sees it: fetch a remote
 * page's compressed bytes, drop remote copies by generation. It is the
 * {@link ZcacheRemote} of src/zcache.ts, over this thread's channel to the
 * ramster helper Worker.
 *
 * What it is not: not the store (store.ts, inside the helper) and not the
 * remotifier (remotifier.ts moves pages out; this module only reads them
 * back and deletes them).
 *
 * Key idea: zcache's index stays the authority. A fetch names the
 * generation the local descriptor holds, and the store rejects any other
 * copy (an older put's, a copy an invalidation raced with), so a stale
 * remote copy is never returned. Drops are generation-exact too, and go in
 * the object's FIFO behind the writes of the same key, so a late drop never
 * removes a newer copy.
 *
 * Failures: an ephemeral fetch that fails in any way (down tier, timeout,
 * miss, stale) is a miss (-1 / null). A persistent one throws what the
 * store says (EIO lost, ETIMEDOUT, ENOTCONN), or ENOTCONN at once when the
 * tier is marked down or the helper is dead: never a miss, never bytes.
 *
 * Concurrency: one object per thread (its channel is this thread's).
 *
 * See also: ../zcache.ts (remoteLoad, loadAsync), store.ts, channel.ts.
 *
 * @module
 */
import type { PhysicalMemory } from "../../bindings/physmem.js";
import { ErrorCode, TmemError } from "../../bindings/status.js";
import { TmemCore, type Oid } from "../tmem/core.js";
import type { ZcacheRemote } from "../zcache.js";
import type { RemoteChannel } from "./channel.js";
import { objectKey, oidHex, type PoolRef } from "./protocol.js";
import { DIRECT_ASK_HELPER, type DirectReader } from "./direct.js";

/** The pool's remote name (private pools by id, shared pools by uuid). */
export function poolRef(tc: TmemCore, pool: number): PoolRef {
  const info = tc.poolInfo(pool);
  if (info.shared) {
    const uuid = info.uuid.map((w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
    return { persistent: info.persistent, pool, uuid };
  }
  return { persistent: info.persistent, pool };
}

/** One thread's remote tier of a zcache. */
export class RamsterTier implements ZcacheRemote {
  private readonly tc: TmemCore;
  private readonly rx = new Uint8Array(8192);
  /** Pool handle → its remote name. A handle names one pool for good (it carries the slot's generation). */
  private readonly refs = new Map<number, PoolRef>();

  /** This thread's direct reader and the key namespace it reads (standalone servers only), if any. */
  private readonly direct: { reader: DirectReader; node: string; instance: string } | undefined;

  constructor(private readonly pm: PhysicalMemory, private readonly ch: RemoteChannel, direct?: { reader: DirectReader; node: string; instance: string }) {
    this.tc = TmemCore.for(pm);
    this.direct = direct;
  }

  /** @inheritDoc */
  ref(pool: number): unknown {
    return this.poolRef(pool);
  }

  private poolRef(pool: number): PoolRef {
    let r = this.refs.get(pool);
    if (r === undefined) {
      r = poolRef(this.tc, pool);
      if (this.refs.size > 256) this.refs.clear();
      this.refs.set(pool, r);
    }
    return r;
  }

  private unreachable(persistent: boolean, what: string): -1 {
    if (persistent) throw new TmemError(ErrorCode.ENOTCONN, `ramster: ${what}: the remote tier is ${this.ch.dead ? "gone (helper dead)" : "marked down"}`);
    return -1;
  }

  /** @inheritDoc */
  fetch(pool: number, oid: Oid, index: number, gen: number | undefined, persistent: boolean, dst: number): number {
    if (this.ch.dead || this.ch.tierDown) return this.unreachable(persistent, `page ${oidHex(oid)}[${index}]`);
    const ref = this.poolRef(pool), hex = oidHex(oid);
    const d = this.direct;
    if (d !== undefined) {
      // The fast path: this thread's own synchronous HGET; only a checked hit is served, the rest asks the helper.
      const n = d.reader.hget(objectKey(d.node, d.instance, ref, hex), String(index), gen, this.pm.u8.subarray(dst, dst + this.rx.byteLength));
      if (n !== DIRECT_ASK_HELPER) return n;
    }
    let v: Uint8Array | null;
    try {
      v = this.ch.callSync("get", { pool: ref, oid: hex, index, gen }, [], undefined, this.rx) as Uint8Array | null;
    } catch (e) {
      if (persistent) throw e;
      return -1;
    }
    if (v === null) {
      if (persistent) throw new TmemError(ErrorCode.EIO, `ramster: persistent page ${oidHex(oid)}[${index}] generation ${gen} is lost remotely`);
      return -1;
    }
    this.pm.u8.set(v, dst);
    return v.byteLength;
  }

  /** @inheritDoc */
  async fetchAsync(pool: number, oid: Oid, index: number, gen: number | undefined, persistent: boolean): Promise<Uint8Array | null> {
    if (this.ch.dead || this.ch.tierDown) { this.unreachable(persistent, `page ${oidHex(oid)}[${index}]`); return null; }
    try {
      return await this.ch.call("get", { pool: this.poolRef(pool), oid: oidHex(oid), index, gen }) as Uint8Array | null;
    } catch (e) {
      if (persistent) throw e;
      return null;
    }
  }

  /** @inheritDoc */
  drop(ref: unknown, oid: Oid | null, index: number | null, gens: number[]): void {
    if (gens.length === 0 || this.ch.dead) return;
    const args: Record<string, unknown> = { pool: ref, gens };
    if (oid !== null) args.oid = oidHex(oid);
    if (index !== null) args.index = index;
    void this.ch.call("drop", args).catch(() => { /* counted by the store; the copy can never match again */ });
  }
}
