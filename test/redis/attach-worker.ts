// A worker_thread that attaches to a ramster channel and makes synchronous
// calls on request: {op, args} in, {ok, value} | {err, code} out.
import { parentPort, workerData } from "node:worker_threads";
import { RemoteChannel, type ChannelHandle } from "../../src/ramster/channel.js";
import { TmemError } from "../../bindings/status.js";

const ch = RemoteChannel.attach(workerData as ChannelHandle);
parentPort!.on("message", (m: { op: string; args: unknown; timeoutMs?: number }) => {
  const t0 = Date.now();
  try {
    const value = ch.callSync(m.op, m.args, [], m.timeoutMs);
    parentPort!.postMessage({ ok: true, value, ms: Date.now() - t0 });
  } catch (e) {
    parentPort!.postMessage({ ok: false, code: e instanceof TmemError ? e.code : String(e), message: (e as Error).message, ms: Date.now() - t0 });
  }
});
parentPort!.postMessage({ ready: true });
