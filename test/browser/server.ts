// A tiny static server on 127.0.0.1 for the browser tests. Paths under
// /isolated/ are served with COOP/COEP (cross-origin isolation); paths under
// /plain/ without. Returns the base URL and a close function.
import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".map": "application/json", ".css": "text/css", ".png": "image/png" };

/** Serve `root` on 127.0.0.1 (ephemeral port). */
export async function serve(root: string): Promise<{ url: string; close: () => Promise<void>; server: Server }> {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const m = /^\/(isolated|plain)(\/.*)$/.exec(path);
    const rel = normalize(m ? m[2]! : path).replace(/^(\.\.[/\\])+/, "");
    const headers: Record<string, string> = {};
    if (m?.[1] === "isolated") {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    }
    try {
      const body = await readFile(join(root, rel === "/" ? "index.html" : rel));
      res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(rel)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
