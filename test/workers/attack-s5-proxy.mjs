// A hostile TCP proxy in front of a redis-server, run as a child process by
// test/attack-s5-ramster.test.ts (not a Worker: the direct reader blocks the
// loading thread's event loop, so the proxy must live in another process).
// argv: <redis port>. Prints its own port on the first line of stdout. Its
// behaviour is set by lines on stdin, "mode NAME", for server→client bytes
// after a client chunk that contains an HGET:
//   pass   forward as they come
//   split  forward 7 bytes per write, a macrotask between writes
//   trail  forward, then append a stray reply ":1\r\n"
//   stall  drop them (the client never hears back)
//   other  answer the HGET with a well-formed bulk string of 64 bytes of 0x5a
// Connections are plain byte pipes otherwise.
import net from "node:net";
import { createInterface } from "node:readline";

const target = Number(process.argv[2]);
let mode = "pass";
createInterface({ input: process.stdin }).on("line", (l) => {
  const m = /^mode (\w+)$/.exec(l.trim());
  if (m) { mode = m[1]; process.stdout.write(`ok ${mode}\n`); }
});
const srv = net.createServer((c) => {
  const s = net.connect(target, "127.0.0.1");
  let hget = false;
  let chain = Promise.resolve();
  c.on("data", (d) => {
    if (/hget/i.test(d.toString("latin1"))) hget = true;
    if (mode === "other" && hget) { hget = false; chain = chain.then(() => { c.write("$64\r\n" + "Z".repeat(64) + "\r\n"); }); return; }
    s.write(d);
  });
  s.on("data", (d) => {
    const forHget = hget;
    hget = false;
    const m = mode;
    chain = chain.then(async () => {
      if (!forHget || m === "pass" || m === "other") { c.write(d); return; }
      if (m === "stall") return;
      if (m === "trail") { c.write(d); c.write(":1\r\n"); return; }
      for (let i = 0; i < d.length; i += 7) { c.write(d.subarray(i, i + 7)); await new Promise((r) => setImmediate(r)); }
    }).catch(() => undefined);
  });
  const end = () => { c.destroy(); s.destroy(); };
  c.on("error", end); s.on("error", end); c.on("close", end); s.on("close", end);
});
srv.listen(0, "127.0.0.1", () => process.stdout.write(`${srv.address().port}\n`));
