// SPDX-License-Identifier: MIT
// `tmem cache-bench`: replays a Zipf trace of real files' contents through a
// TmemCache and an lru-cache with one limit, and reports what it saw; bad
// usage exits 2 with a message.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const tmem = (args: string[]) => spawnSync(process.execPath, [cli, "cache-bench", ...args], { encoding: "utf8", timeout: 120_000 });

describe("tmem cache-bench", () => {
  it("reports hit rate, reads/s and memory for tmem and lru-cache on the same files and limit", () => {
    const r = tmem(["--dir", "node_modules/@types/node", "--budget", "512K", "--reads", "10000", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      files: number; rawBytes: number; budget: number; reads: number;
      tmem: { hitRate: number; readsPerSecond: number; heldBytes: number; entries: number };
      lruCache: { hitRate: number; entries: number } | null;
    };
    expect(j.files).toBeGreaterThan(40);
    expect(j.budget).toBe(512 << 10);
    expect(j.reads).toBe(10000);
    expect(j.tmem.heldBytes).toBeLessThanOrEqual(512 << 10);
    expect(j.tmem.entries).toBeGreaterThan(0);
    expect(j.tmem.hitRate).toBeGreaterThan(0.2);
    expect(j.tmem.hitRate).toBeLessThan(1);
    expect(j.lruCache).not.toBeNull();
    expect(j.lruCache!.hitRate).toBeGreaterThan(0.1);
    // Compressed, the same limit holds more of the files than raw values do.
    expect(j.tmem.entries).toBeGreaterThan(j.lruCache!.entries);
    const text = tmem(["--dir", "node_modules/@types/node", "--budget", "512K", "--reads", "3000"]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^tmem +[\d.]+ %/m);
    expect(text.stdout).toMatch(/^lru-cache +[\d.]+ %/m);
  });

  it("exits 2 with a message on bad usage", () => {
    for (const [args, msg] of [
      [["--bogus"], /unknown option '--bogus'/],
      [["--reads", "x"], /--reads must be an integer/],
      [["--budget", "lots"], /--budget must be bytes/],
      [["--dir", "/nonexistent-tmem-dir"], /is not a directory/],
      [["--skew", "-1"], /--skew must be/],
    ] as Array<[string[], RegExp]>) {
      const r = tmem(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});
