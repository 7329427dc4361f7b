// The harness itself: real servers start with the options asked for, answer,
// stall under kill -STOP, die under kill -9, replicate, and form a cluster.
import { createConnection } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { redisAvailable, rawCommand, startCluster, startPrimaryReplica, startRedis, stopAll } from "./harness.js";

const ok = redisAvailable("test/redis/harness.test.ts");

describe.skipIf(!ok)("redis test harness (real redis-server on loopback)", () => {
  afterAll(stopAll);

  it("starts a server with the policy and maxmemory asked for, stops it by PID", async () => {
    const s = await startRedis({ policy: "allkeys-lru", maxmemory: "8mb" });
    expect(await s.command("CONFIG", "GET", "maxmemory-policy")).toContain("allkeys-lru");
    expect(await s.command("CONFIG", "GET", "maxmemory")).toContain(String(8 * 1024 * 1024));
    expect(await s.command("CONFIG", "GET", "save")).toMatch(/\$0\r\n\r\n/);
    await s.stop();
    expect(s.alive).toBe(false);
    expect(() => process.kill(s.pid, 0)).toThrow();
  });

  it("kill -STOP stalls the server (no reply), kill -CONT brings it back, kill -9 ends it", async () => {
    const s = await startRedis();
    s.pause();
    await expect(rawCommand(s.port, ["PING"], 300)).rejects.toThrow(/no reply/);
    s.resume();
    expect(await s.command("PING")).toBe("+PONG\r\n");
    await s.kill9();
    expect(s.alive).toBe(false);
    await expect(rawCommand(s.port, ["PING"], 300)).rejects.toThrow();
  });

  it("a primary with one replica: WAIT 1 confirms a write", async () => {
    const { primary, replica } = await startPrimaryReplica();
    // WAIT counts the replicas that acknowledged THIS connection's writes: the
    // SET and the WAIT must share one connection (on a fresh one WAIT has
    // nothing to wait for and answers at once, before the replica has the key).
    expect(await onOneConnection(primary.port, [["SET", "k", "v"], ["WAIT", "1", "1000"]])).toBe("+OK\r\n:1\r\n");
    expect(await replica.command("GET", "k")).toBe("$1\r\nv\r\n");
    await primary.stop();
    await replica.stop();
  });

  it("3 primaries and 3 replicas form a cluster with every slot covered", async () => {
    const c = await startCluster(3);
    const info = await c.nodes[0]!.command("CLUSTER", "INFO");
    expect(info).toContain("cluster_slots_assigned:16384");
    expect(info).toContain("cluster_known_nodes:6");
    await c.stop();
  }, 60_000);
});

/** Send `cmds` on one connection and return the replies, which must all be simple or integer ones. */
function onOneConnection(port: number, cmds: string[][], timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let buf = "";
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis :${port}: no reply in ${timeoutMs} ms (got ${JSON.stringify(buf)})`)); }, timeoutMs);
    sock.once("error", (e) => { clearTimeout(timer); reject(e); });
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (buf.split("\r\n").length - 1 >= cmds.length) { clearTimeout(timer); sock.end(); resolve(buf); }
    });
    sock.write(cmds.map((args) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")).join(""));
  });
}
