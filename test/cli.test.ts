// The `tmem` command, run as a user would: node dist/cli.js (built by npm test).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "tmem-cli-"));
const tmem = (args: string[], input?: Uint8Array) => {
  const r = spawnSync(process.execPath, [cli, ...args], { input, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe("tmem simulate", () => {
  it("runs on the embedded sample and reports a consistent result", () => {
    const r = tmem(["simulate", "--pages", "1024", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.workingSetPages).toBe(1024);
    expect(j.ramPages).toBe(256);
    const t = j.totals;
    expect(t.accesses).toBe(12 * 1024);
    expect(t.corrupt).toBe(0);
    expect(t.lost).toBe(0);
    expect(t.faults).toBe(t.firstTouches + t.hits + t.misses);
    expect(t.swapOuts).toBe(t.stores + t.rejected);
    expect(t.swapOuts).toBe(t.faults - 256); // RAM filled up once, then each fault evicts one page
    expect(j.compressionRatio).toBeGreaterThan(2);
    expect(j.storedPages).toBeGreaterThan(0);
    expect(j.density.map((d: { allocator: string }) => d.allocator)).toEqual(["zsmalloc", "zbud"]);
    for (const d of j.density) expect(d.frames).toBeGreaterThan(0);
  });

  it("prints the table, and with --svg writes the memory map", () => {
    const svg = join(tmp, "map.svg");
    const r = tmem(["--pages", "600", "--allocator", "zbud", "--svg", svg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pages stored/);
    expect(r.stdout).toMatch(/compression\s+ratio \d/);
    expect(r.stdout).toMatch(/zsmalloc .*\n\s+zbud/);
    expect(r.stderr).toMatch(/simulating .*100%/);
    const text = readFileSync(svg, "utf8");
    expect(text.startsWith("<svg")).toBe(true);
    expect(text).toMatch(/zbud: \d+ frames/);
  });

  it("runs 2 Workers sharing the memory", () => {
    const r = tmem(["--pages", "800", "--workers", "2", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.processes).toHaveLength(2);
    expect(j.totals.corrupt + j.totals.lost).toBe(0);
    for (const p of j.processes) expect(p.stores).toBeGreaterThan(0);
  });

  it("cuts any file into pages, zero-padding the tail", () => {
    const f = join(tmp, "odd.bin");
    writeFileSync(f, Buffer.alloc(3 * 4096 + 100, "tmem "));
    const r = tmem(["--corpus", f, "--json", "--ram", "2"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).workingSetPages).toBe(4);
  });

  it("reads every readable file of a directory", () => {
    const d = join(tmp, "dir");
    mkdirSync(d);
    writeFileSync(join(d, "a"), Buffer.alloc(8192, 1));
    writeFileSync(join(d, "b"), Buffer.alloc(100, 2));
    writeFileSync(join(d, "empty"), "");
    mkdirSync(join(d, "sub"));
    const r = tmem(["--corpus", d, "--json", "--ram", "50%"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.workingSetPages).toBe(3);
    expect(j.source).toMatch(/2 files/);
  });

  it("bad input gets a clear message and exit status 2", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--corpus", join(tmp, "missing")], /no such file/],
      [["--bogus"], /Unknown option '--bogus'/],
      [["--allocator", "slab"], /must be one of .*zsmalloc/],
      [["--ram", "lots"], /--ram must be/],
      [["--pages", "0"], /--pages must be an integer/],
      [["--pages", "-3"], /--pages/],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ];
    const empty = join(tmp, "empty.bin");
    writeFileSync(empty, "");
    cases.push([["--corpus", empty], /is empty/]);
    const emptyDir = join(tmp, "emptydir");
    mkdirSync(emptyDir);
    cases.push([["--corpus", emptyDir], /no readable, non-empty files/]);
    for (const [args, re] of cases) {
      const r = tmem(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(re);
      expect(r.stdout).toBe("");
    }
  });
});

describe("tmem lz4", () => {
  const data = Buffer.concat([Buffer.alloc(70000, "abcabcabd"), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 255))]);
  const lz4 = existsSync("/usr/bin/lz4") ? "/usr/bin/lz4" : null;
  if (!lz4) console.warn("tmem lz4 interop test skipped: the reference lz4 CLI (/usr/bin/lz4) is not installed");

  it("round-trips through stdin and stdout", () => {
    const c = tmem(["lz4", "compress"], data);
    expect(c.code).toBe(0);
    expect(c.out.length).toBeLessThan(data.length);
    const d = tmem(["lz4", "decompress"], c.out);
    expect(d.code).toBe(0);
    expect(Buffer.compare(d.out, data)).toBe(0);
  });

  it.skipIf(!lz4)("frames interchange with the reference lz4 CLI, through files", () => {
    const inFile = join(tmp, "in.bin"), ours = join(tmp, "ours.lz4"), back = join(tmp, "back.bin");
    writeFileSync(inFile, data);
    expect(tmem(["lz4", "compress", inFile, ours]).code).toBe(0);
    const ref = spawnSync(lz4!, ["-d", "-c", ours]);
    expect(ref.status).toBe(0);
    expect(Buffer.compare(ref.stdout, data)).toBe(0);
    const theirs = spawnSync(lz4!, ["-c", "-BD", inFile]).stdout;
    writeFileSync(join(tmp, "theirs.lz4"), theirs);
    expect(tmem(["lz4", "decompress", join(tmp, "theirs.lz4"), back]).code).toBe(0);
    expect(Buffer.compare(readFileSync(back), data)).toBe(0);
  });

  it("a corrupt frame and a missing file fail with a message", () => {
    const bad = tmem(["lz4", "decompress"], Buffer.from("not an lz4 frame at all"));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/EBADMSG/);
    const missing = tmem(["lz4", "compress", join(tmp, "nope")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
    expect(tmem(["lz4", "squash"]).code).toBe(2);
  });
});
