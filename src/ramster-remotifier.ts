// SPDX-License-Identifier: MIT
/**
 * ramster-remotifier.ts: entry point of the ramster remotifier Worker (built
 * to dist/ramster-remotifier.js): attach to the memory in the slot the
 * owner reserved, connect its own Redis client, and run the remotify loop.
 *
 * What it is not: no logic; see src/ramster/remotifier.ts.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { attachSupervised, type SupervisedAttach } from "./workers.js";
import { RemoteStore } from "./ramster/store.js";
import { Remotifier, type RemotifierConfig } from "./ramster/remotifier.js";

const cfg = workerData as RemotifierConfig & { attach: SupervisedAttach };
const pm = await attachSupervised(cfg.attach);
let store: RemoteStore;
try {
  store = await RemoteStore.connect(cfg.store);
} catch (e) {
  parentPort?.postMessage({ error: String((e as Error).message) });
  pm.detach();
  process.exit(1);
}
const r = new Remotifier(pm, store, cfg);
parentPort?.on("message", (m: { stop?: boolean }) => {
  if (m.stop === true) r.stop();
});
parentPort?.postMessage({ ready: true });
await r.run();
store.close();
pm.detach();
