// SPDX-License-Identifier: MIT
/**
 * ops.ts: the op table the ramster helper Worker serves: the remote store's
 * operations by name, as channel.ts callers name them.
 *
 * What it is not: no logic of its own; argument shapes are checked by the
 * store (protocol.ts validates keys, generations and sizes).
 *
 *   put(items)        → PutOutcome[]        (store.put)
 *   get(args)         → payload | null      (store.get; persistent misses throw EIO)
 *   flush(args)       → removed count       (store.flush)
 *   flushPool(args)   → removed keys        (store.flushPool)
 *   drop(args)        → removed fields      (store.drop: by generation)
 *   memory()          → { used }            (INFO memory used_memory, bytes)
 *   stats()           → RemoteStats
 *   echo(bytes)       → the same bytes      (a round trip through the helper
 *                                            without Redis: measures the thread hop)
 *
 * The store's "tier down" state is mirrored into the liveness block's
 * L_DOWN word, so callers can skip a down tier without asking.
 *
 * Concurrency: the helper's event loop only.
 *
 * See also: store.ts, helper.ts, src/ramster-worker.ts.
 *
 * @module
 */
import { L_DOWN } from "./channel.js";
import type { HelperHandler } from "./helper.js";
import { RemoteStore, type DropArgs, type FlushArgs, type GetArgs, type PutItem, type StoreOptions } from "./store.js";

/** Connect the store described by `init` and return the op table. */
export async function storeHandler(init: unknown, ctx: { live: Int32Array }): Promise<HelperHandler> {
  const store = await RemoteStore.connect(init as StoreOptions, (down) => Atomics.store(ctx.live, L_DOWN, down ? 1 : 0));
  return {
    put: (items: PutItem[]) => store.put(items),
    get: (a: GetArgs) => store.get(a),
    flush: (a: FlushArgs) => store.flush(a),
    flushPool: (a: Parameters<RemoteStore["flushPool"]>[0]) => store.flushPool(a),
    drop: (a: DropArgs) => store.drop(a),
    memory: async () => ({ used: await store.usedMemory() }),
    stats: () => store.stats() as unknown as Record<string, unknown>,
    echo: (b: Uint8Array) => b,
  };
}
