// SPDX-License-Identifier: MIT
/**
 * ramster-worker.ts: entry point of the ramster helper Worker (built to
 * dist/ramster-worker.js). It owns the Redis client and serves the remote
 * store's ops to every thread connected through src/ramster/channel.ts.
 *
 * What it is not: no logic; see src/ramster/helper.ts (the loop) and
 * src/ramster/ops.ts (the op table).
 *
 * @module
 */
import { runHelper } from "./ramster/helper.js";
import { storeHandler } from "./ramster/ops.js";

runHelper(storeHandler);
