// The `tmem` command, run as a user would: node dist/cli.js (built by npm test).
// TMEM_CLI=path runs the same checks against another build of the command
// (e.g. an older one, to see a check fail).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, symlinkSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cli = process.env.TMEM_CLI ?? fileURLToPath(new URL("../dist/cli.js", import.meta.url));
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
    for (const d of j.density) expect(d.objectFrames).toBeGreaterThan(0);
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
    // The zbud cells of the map are the run's zbud object frames (the pools' descriptor frames show as metadata).
    const objects = Number(/= ([\d,]+) object frames/.exec(r.stdout)![1]!.replace(/,/g, ""));
    expect(Number(/zbud object frames: (\d+)<\/text>/.exec(text)![1])).toBe(objects);
  });

  it("names each frame figure once, the same in the text, the SVG legend and the JSON", () => {
    const svg = join(tmp, "figures.svg");
    const r = tmem(["--pages", "700", "--svg", svg]);
    expect(r.code).toBe(0);
    const m = /frames used\s+([\d,]+) pool frames \(.*\) in zsmalloc = ([\d,]+) object frames \+ ([\d,]+) pool metadata frames/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [pool, object, meta] = m!.slice(1).map((x) => Number(x.replace(/,/g, "")));
    expect(pool).toBe(object! + meta!);
    // The map's allocator cells are the run's object frames: the legend says the same number under the same name.
    const legend = /zsmalloc object frames: (\d+)<\/text>/.exec(readFileSync(svg, "utf8"));
    expect(legend).not.toBeNull();
    expect(Number(legend![1])).toBe(object);
    // The density table names its columns for what they count.
    expect(r.stdout).toMatch(/object frames, compacted replay\s+kernel's object frames\s+\+ pool metadata frames/);
    const j = JSON.parse(tmem(["--pages", "700", "--json"]).stdout);
    expect(j.poolFrames).toBe(j.objectFrames + j.metaFrames);
    // One count of objects: the run's pool, the stored pages less the same-filled ones (zswap's u64 rule), the replay.
    expect(j.poolObjects).toBe(j.storedPages - j.zcache.sameFilledPages);
    expect(j.density[0].objects).toBe(j.poolObjects);
    expect(j.frameFigures.object).toBe("object frames");
    for (const d of j.density) expect(d.objectFrames).toBeGreaterThan(0);
  });

  it("checks the --svg path before the run, and a failed write after the run keeps the results", () => {
    for (const [target, re] of [[join(tmp, "no", "such", "dir", "x.svg"), /--svg: cannot write .*no such directory/], [tmp, /--svg: .* is a directory/]] as const) {
      const t0 = Date.now();
      const r = tmem(["--pages", "4000", "--svg", target]);
      expect(r.code, target).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/simulating|ENOENT|EISDIR|    at /); // refused before the run, no stack trace
      expect(r.stdout).toBe("");
      expect(Date.now() - t0).toBeLessThan(5000);
    }
    // /dev/full passes the check (a writable file) and fails the write: the run's results are printed anyway.
    const full = tmem(["--pages", "300", "--svg", "/dev/full"]);
    expect(full.code).toBe(1);
    expect(full.stdout).toMatch(/pages stored/);
    expect(full.stdout).toMatch(/compression\s+ratio \d/);
    expect(full.stderr).toMatch(/the run finished \(results above\) but the memory map could not be written to \/dev\/full/);
    expect(full.stderr).not.toMatch(/    at /);
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

  it("reads every readable file under a directory, subfolders included, without following links", () => {
    const d = join(tmp, "dir");
    mkdirSync(join(d, "sub", "deeper"), { recursive: true });
    writeFileSync(join(d, "a"), Buffer.alloc(8192, 1));
    writeFileSync(join(d, "b"), Buffer.alloc(100, 2));
    writeFileSync(join(d, "empty"), "");
    writeFileSync(join(d, "sub", "c"), Buffer.alloc(4096, 3));
    writeFileSync(join(d, "sub", "deeper", "d"), Buffer.alloc(5000, 4));
    symlinkSync(join(d, "a"), join(d, "link-to-a"));
    symlinkSync(d, join(d, "sub", "loop")); // followed, this would recurse forever
    const r = tmem(["--corpus", d, "--json", "--ram", "50%"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.workingSetPages).toBe(2 + 1 + 1 + 2); // a, b, sub/c, sub/deeper/d (2 pages)
    expect(j.source).toMatch(/4 files under/);
    expect(j.corpus.truncated).toBe(false);
    expect(j.corpus.skipped).toMatchObject({ empty: 1, links: 2 });
  });

  it("a corpus over 1 GiB is cut to 1 GiB, and the report says so", () => {
    const d = join(tmp, "big");
    mkdirSync(d);
    // Sparse files: 1.5 GiB on paper, nothing on disk.
    for (const name of ["part1", "part2"]) { writeFileSync(join(d, name), ""); truncateSync(join(d, name), 768 << 20); }
    // (One run: reading 1 GiB takes seconds on a shared machine.)
    const cut = tmem(["--corpus", d, "--pages", "64"]);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout).toMatch(/corpus\s+the corpus is larger than 1 GiB: only its first 1 GiB \(262,144 pages\) was read, from 2 files in name order; the rest was not read/);
    // Under the limit there is no such line.
    expect(tmem(["--corpus", join(tmp, "odd.bin"), "--ram", "2"]).stdout).not.toMatch(/1 GiB/);
  });

  it("bad input gets a clear message and exit status 2", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--corpus", join(tmp, "missing")], /no such file/],
      [["--bogus"], /Unknown option '--bogus'/],
      [["--allocator", "slab"], /must be one of .*zsmalloc/],
      [["--ram", "lots"], /--ram must be/],
      [["--pages", "0"], /--pages must be an integer/],
      [["--pages", "-3"], /--pages must be an integer from 1 to 262144, not '-3'/],
      [["--ram", "-5"], /--ram must be pages \(1024\), a size \(4M\) or a share \(25%\), not '-5'/],
      [["--ram", "0"], /--ram must be at least 1 page/],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ];
    const empty = join(tmp, "empty.bin");
    writeFileSync(empty, "");
    cases.push([["--corpus", empty], /is empty/]);
    const emptyDir = join(tmp, "emptydir");
    mkdirSync(emptyDir);
    cases.push([["--corpus", emptyDir], /found no readable, non-empty regular file in .* or its subfolders \(32 levels deep; symbolic links are not followed\)$/m]);
    const onlyEmpty = join(tmp, "only-empty");
    mkdirSync(join(onlyEmpty, "sub"), { recursive: true });
    writeFileSync(join(onlyEmpty, "sub", "nothing"), "");
    symlinkSync("/etc/hostname", join(onlyEmpty, "link"));
    cases.push([["--corpus", onlyEmpty], /found no readable, non-empty regular file .*; passed over: 1 empty, 1 symbolic links/]);
    for (const [args, re] of cases) {
      const r = tmem(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(re);
      expect(r.stdout).toBe("");
      expect(r.stderr, args.join(" ")).not.toMatch(/ambiguous|    at /);
    }
  });
});

describe("tmem demo", () => {
  it("2 Workers allocate and free frames of one memory; every frame is free again", () => {
    const r = tmem(["demo", "--frames", "512", "--ops", "20000", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.results).toHaveLength(2);
    for (const w of j.results) expect(w.allocs).toBeGreaterThan(1000);
    expect(j.stats.usedFrames).toBe(0);
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
