// Watchdog for tests that drive wasm from the test's own thread while other
// Workers are killed around it (test/helpers.ts startWatchdog): if the
// test's thread stops beating for `ms` (stuck in a synchronous loop that no
// vitest timeout can end), say so on stderr and kill the test process, so the
// run fails in bounded time instead of hanging.
import { workerData } from "node:worker_threads";
import { writeSync } from "node:fs";

const { beat, ms, what } = workerData;
const b = new Int32Array(beat);
let last = Atomics.load(b, 0);
let since = Date.now();
for (;;) {
  Atomics.wait(b, 1, 0, 500);
  if (Atomics.load(b, 1) !== 0) break; // stopped
  const now = Atomics.load(b, 0);
  if (now !== last) { last = now; since = Date.now(); continue; }
  if (Date.now() - since > ms) {
    writeSync(2, `\nwatchdog: ${what}: the test's thread has not run for ${ms} ms (a synchronous hang); killing the test process\n`);
    process.kill(process.pid, "SIGKILL");
  }
}
