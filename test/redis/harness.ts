// SPDX-License-Identifier: MIT
/**
 * harness.ts: real redis-server processes for the remote-tier tests, started
 * on 127.0.0.1 on free ports and stopped by PID.
 *
 * What it is not: not a mock and not a Redis client (the tests use the
 * project's client, ioredis, or the helper Worker); it speaks just enough
 * RESP (PING, INFO, CLUSTER INFO, raw commands) over a plain socket to know
 * when a server is ready, so it has no dependency on the code under test.
 *
 * Key idea: every server is a child process we own. Each gets its own
 * temporary directory, `--save '' --appendonly no` (nothing on disk), a
 * `maxmemory` and the `maxmemory-policy` under test, and is registered in a
 * process-wide table, so `stopAll()` (in afterEach/afterAll) and a process
 * `exit` hook kill whatever a failed test left behind, by PID, never by name.
 * A server stopped with `kill -STOP` is continued before it is killed, so
 * a SIGTERM would be seen; we use SIGKILL anyway, since the data is scratch.
 *
 * Guarantees: `startRedis` resolves only once the server answers PING (and,
 * for a replica, once its link to the primary is up; for a cluster, once
 * every node reports cluster_state:ok), or rejects within `readyMs` with the
 * server's own log tail. Ports are picked by binding port 0 and checked
 * (for a cluster node also its bus port, port + 10000) just before use; a
 * race with another process taking the port shows as a start failure, which
 * is retried on a new port.
 *
 * Skipping: `redisServerPath()` is null when no redis-server is installed;
 * test files then `describe.skipIf` with a printed reason, except under
 * CI=true, where the absence is an error (.ci/run installs the package).
 *
 * See also: .ci/run, test/ramster*.test.ts, bench/ramster.ts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Options of {@link startRedis}. */
export interface RedisServerOptions {
  /** `maxmemory-policy`. @defaultValue "noeviction" */
  policy?: "noeviction" | "allkeys-lru" | "allkeys-lfu" | "volatile-lru";
  /** `maxmemory`, as redis-server takes it. @defaultValue "64mb" */
  maxmemory?: string;
  /** Start as a replica of this primary port. */
  replicaOf?: number;
  /** Start with `cluster-enabled yes` (node timeout `clusterNodeTimeoutMs`). */
  cluster?: boolean;
  /** `cluster-node-timeout` in ms. @defaultValue 1000 */
  clusterNodeTimeoutMs?: number;
  /** More `--name value` arguments. */
  args?: string[];
  /** Give up on readiness after this many ms. @defaultValue 10000 */
  readyMs?: number;
}

/** One redis-server child process. */
export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly options: RedisServerOptions;
  /** True until the process has exited. */
  readonly alive: boolean;
  /** kill -9 and wait for the exit. */
  kill9(): Promise<void>;
  /** kill -STOP: the server stops answering; its socket stays open. */
  pause(): void;
  /** kill -CONT. */
  resume(): void;
  /** Stop for good (SIGCONT then SIGKILL) and remove its directory. */
  stop(): Promise<void>;
  /** One command over a fresh socket; the raw RESP reply as text. */
  command(...args: string[]): Promise<string>;
  /** INFO `section`, parsed into name → value. */
  info(section: string): Promise<Record<string, string>>;
}

const live = new Set<ChildProcess>();
let exitHooked = false;

/**
 * Path of redis-server, or null when it is not installed. `TMEM_REDIS_SERVER`
 * names another binary (a path that does not exist reads as "not installed").
 */
export function redisServerPath(): string | null {
  const forced = process.env.TMEM_REDIS_SERVER;
  if (forced !== undefined) return existsSync(forced) ? forced : null;
  const r = spawnSync("/bin/sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p !== "" ? p : null;
}

/**
 * Whether the Redis tests can run; prints why not. Under CI=true a missing
 * redis-server throws instead, so CI cannot pass by skipping.
 */
export function redisAvailable(file: string): boolean {
  if (redisServerPath() !== null) return true;
  if (process.env.CI === "true") throw new Error(`${file}: redis-server is missing in CI (.ci/run installs it)`);
  console.log(`${file}: SKIPPED: redis-server is not installed (apt-get install redis-server to run these tests)`);
  return false;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort();
    if (p + 10000 < 65536 && (await portFree(p + 10000))) return p;
  }
  throw new Error("no free port with a free bus port");
}

/** Send one command (RESP array of bulk strings) and return the raw reply once complete. */
export function rawCommand(port: number, args: string[], timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let buf = "";
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis :${port} ${args[0]}: no reply in ${timeoutMs} ms`)); }, timeoutMs);
    sock.once("error", (e) => { clearTimeout(timer); reject(e); });
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (replyComplete(buf)) { clearTimeout(timer); sock.end(); resolve(buf); }
    });
    sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
  });
}

/** Whether `s` holds one complete RESP reply (simple, error, integer, bulk; arrays of those). */
function replyComplete(s: string): boolean {
  let i = 0;
  const one = (): boolean => {
    const eol = s.indexOf("\r\n", i);
    if (eol < 0) return false;
    const t = s[i]!;
    const n = Number(s.slice(i + 1, eol));
    i = eol + 2;
    if (t === "$") { if (n < 0) return true; if (s.length < i + n + 2) return false; i += n + 2; return true; }
    if (t === "*") { for (let k = 0; k < n; k++) if (!one()) return false; return true; }
    return true;
  };
  return one();
}

function parseInfo(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of raw.split("\r\n")) {
    const c = line.indexOf(":");
    if (c > 0 && !line.startsWith("#")) out[line.slice(0, c)] = line.slice(c + 1);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try { if (await probe()) return; } catch (e) { last = e; }
    await sleep(25);
  }
  throw new Error(`${what}: not ready after ${ms} ms${last ? ` (${(last as Error).message})` : ""}`);
}

/** Start one redis-server on 127.0.0.1 on a free port; resolves once it is ready. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = redisServerPath();
  if (bin === null) throw new Error("redis-server is not installed");
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.cluster ? await freeClusterPort() : await freePort();
    try {
      return await startOn(bin, port, options);
    } catch (e) {
      lastErr = e;
    }
  }
  throw lastErr;
}

async function startOn(bin: string, port: number, o: RedisServerOptions): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "tmem-redis-"));
  const args = [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--maxmemory", o.maxmemory ?? "64mb", "--maxmemory-policy", o.policy ?? "noeviction",
    "--daemonize", "no", "--dir", dir, "--logfile", join(dir, "log"), "--protected-mode", "no",
    // a replica's first sync starts at once instead of after the default 5 s gather delay
    "--repl-diskless-sync-delay", "0",
  ];
  if (o.replicaOf !== undefined) args.push("--replicaof", "127.0.0.1", String(o.replicaOf));
  if (o.cluster) {
    args.push("--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"),
      "--cluster-node-timeout", String(o.clusterNodeTimeoutMs ?? 1000));
  }
  if (o.args) args.push(...o.args);
  const child = spawn(bin, args, { stdio: "ignore" });
  if (child.pid === undefined) throw new Error("redis-server did not start");
  live.add(child);
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", () => { for (const c of live) { try { process.kill(c.pid!, "SIGCONT"); process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } });
  }
  let exited = false;
  const exitP = new Promise<void>((r) => child.once("exit", () => { exited = true; live.delete(child); r(); }));
  const logTail = () => { try { return readFileSync(join(dir, "log"), "utf8").split("\n").slice(-5).join("\n"); } catch { return ""; } };
  const server: RedisServer = {
    port, pid: child.pid, dir, options: o,
    get alive() { return !exited; },
    async kill9() { if (!exited) { process.kill(child.pid!, "SIGKILL"); } await exitP; },
    pause() { process.kill(child.pid!, "SIGSTOP"); },
    resume() { if (!exited) process.kill(child.pid!, "SIGCONT"); },
    async stop() {
      if (!exited) { try { process.kill(child.pid!, "SIGCONT"); process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }
      await exitP;
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
    command: (...a: string[]) => rawCommand(port, a),
    info: async (section: string) => parseInfo(await rawCommand(port, ["INFO", section])),
  };
  try {
    await until(`redis-server :${port}`, o.readyMs ?? 10_000, async () => {
      if (exited) throw new Error(`exited: ${logTail()}`);
      return (await rawCommand(port, ["PING"], 500)).startsWith("+PONG");
    });
    if (o.replicaOf !== undefined) {
      await until(`replica :${port} of :${o.replicaOf}`, o.readyMs ?? 10_000,
        async () => (await server.info("replication")).master_link_status === "up");
    }
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** A primary and one replica (noeviction unless said otherwise); WAIT 1 works on it. */
export async function startPrimaryReplica(options: RedisServerOptions = {}): Promise<{ primary: RedisServer; replica: RedisServer }> {
  const primary = await startRedis(options);
  const replica = await startRedis({ ...options, replicaOf: primary.port });
  await until(`primary :${primary.port} sees its replica`, 10_000,
    async () => {
      const i = await primary.info("replication");
      return i.connected_slaves === "1" && /state=online/.test(i.slave0 ?? "");
    });
  // "online" is not yet streaming: after a diskless sync the primary waits for
  // the replica's first ACK (up to a second) before it sends writes. Ready
  // means a write is confirmed by WAIT.
  await until(`primary :${primary.port} streams to its replica`, 10_000, async () => {
    await rawCommand(primary.port, ["SET", "tmem:harness:probe", "1"]);
    return (await rawCommand(primary.port, ["WAIT", "1", "2000"], 3000)) === ":1\r\n";
  });
  await rawCommand(primary.port, ["DEL", "tmem:harness:probe"]);
  return { primary, replica };
}

/** A Redis Cluster of `primaries` primaries with one replica each, all slots covered. */
export async function startCluster(primaries = 3, options: RedisServerOptions = {}): Promise<{ nodes: RedisServer[]; stop(): Promise<void> }> {
  const nodes = await Promise.all(Array.from({ length: primaries * 2 }, () => startRedis({ ...options, cluster: true })));
  const cli = spawnSync("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`),
    "--cluster-replicas", "1", "--cluster-yes"], { encoding: "utf8", timeout: 30_000 });
  if (cli.status !== 0) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw new Error(`redis-cli --cluster create failed: ${cli.stdout}\n${cli.stderr}`);
  }
  await until("cluster_state:ok on every node", 20_000, async () => {
    for (const n of nodes) if (!(await n.command("CLUSTER", "INFO")).includes("cluster_state:ok")) return false;
    // every primary has its replica attached
    const roles = await Promise.all(nodes.map((n) => n.info("replication")));
    return roles.filter((r) => r.role === "master" && r.connected_slaves === "1").length === primaries;
  });
  return { nodes, stop: async () => { await Promise.all(nodes.map((n) => n.stop())); } };
}

/** Kill every server this process started and has not stopped (afterAll / afterEach). */
export async function stopAll(): Promise<void> {
  const pids = [...live];
  for (const c of pids) { try { process.kill(c.pid!, "SIGCONT"); process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } }
  await Promise.all(pids.map((c) => c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once("exit", r))));
}

/** The role a node reports ("master" | "slave"). */
export async function role(s: RedisServer): Promise<string> {
  return (await s.info("replication")).role ?? "?";
}
