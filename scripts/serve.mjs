// A small static file server on 127.0.0.1 for the browser demo and tests.
// Paths under /isolated/ (and / itself when `isolatedRoot`) are served with
// COOP/COEP, which makes the page cross-origin isolated (SharedArrayBuffer
// may be shared with Workers); paths under /plain/ are served without.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json",
  ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".lz4": "application/octet-stream",
};

/**
 * Serve `root` on 127.0.0.1.
 * @param {string} root directory to serve
 * @param {{ port?: number, isolatedRoot?: boolean }} [options]
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export async function serve(root, options = {}) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const m = /^\/(isolated|plain)(\/.*)$/.exec(path);
    const isolated = m ? m[1] === "isolated" : options.isolatedRoot === true;
    let rel = normalize(m ? m[2] : path).replace(/^(\.\.[/\\])+/, "");
    if (rel.endsWith("/")) rel += "index.html";
    const headers = isolated
      ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" }
      : {};
    try {
      const body = await readFile(join(root, rel));
      res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(rel)] ?? "application/octet-stream", "Cache-Control": "no-store" });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end("not found");
    }
  });
  await new Promise((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
