// SPDX-License-Identifier: MIT
// Attacks on the built `tmem` command (node dist/cli.js, built by npm test):
// paths that do not exist, directories where files are expected and files
// where directories are, empty inputs, and numbers that are not numbers.
// Each must end with a one-line message and exit status 2 (bad usage) or 1
// (the operation failed), never a stack trace, and must not touch a
// directory or file it was not asked to write.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "tmem-attack-cli-"));
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const noTrace = (s: string) => expect(s, s).not.toMatch(/\n\s+at [^\n]*:\d+:\d+/);

const dir = join(tmp, "dir");
mkdirSync(dir);
writeFileSync(join(dir, "keep.txt"), "a file inside the directory\n");
const text = join(tmp, "in.txt");
writeFileSync(text, "hello tmem ".repeat(500));
const empty = join(tmp, "empty");
mkdirSync(empty);
writeFileSync(join(empty, "zero.bin"), "");

describe("tmem lz4 with paths that are not files", () => {
  it("a missing input or a directory as input is exit 2 with a message", () => {
    for (const args of [["lz4", join(tmp, "nope")], ["lz4", dir], ["lz4", "-d", dir], ["lz4", "-c", dir]]) {
      const r = run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(/no such file|is not a file/);
      noTrace(r.err);
    }
  });

  it("a directory as output is exit 2 'is a directory', with or without -f, and the directory is left alone", () => {
    for (const args of [["lz4", text, dir], ["lz4", "-f", text, dir], ["lz4", "-z", "-f", text, dir]]) {
      const r = run(args);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/is a directory/);
      noTrace(r.err);
      expect(statSync(dir).isDirectory()).toBe(true);
      expect(readFileSync(join(dir, "keep.txt"), "utf8")).toBe("a file inside the directory\n");
    }
  });

  it("an output in a missing folder is exit 1 with the system's reason; a corrupt input with -f leaves no partial output", () => {
    const r = run(["lz4", text, join(tmp, "missing", "out.lz4")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ENOENT/);
    noTrace(r.err);
    const bad = join(tmp, "bad.lz4");
    writeFileSync(bad, Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0xff, 0xff, 0xff, 0x7f]));
    const d = run(["lz4", "-d", "-f", bad, join(tmp, "bad.out")]);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/EBADMSG/);
    expect(existsSync(join(tmp, "bad.out"))).toBe(false);
  });
});

describe("tmem simulate and cache-bench with paths and numbers that are wrong", () => {
  it("--corpus missing, empty folder, empty file; --svg into a missing folder or onto a directory: exit 2 before any run", () => {
    for (const [args, msg] of [
      [["simulate", "--corpus", join(tmp, "nope")], /no such file or directory/],
      [["simulate", "--corpus", empty], /found no readable, non-empty regular file/],
      [["simulate", "--corpus", join(empty, "zero.bin")], /is empty/],
      [["simulate", "--svg", join(tmp, "nope", "m.svg"), "--pages", "8"], /no such directory/],
      [["simulate", "--svg", dir, "--pages", "8"], /is a directory/],
      [["simulate", "--pages", "1.5"], /--pages/], [["simulate", "--ram", "-5"], /--ram/],
      [["cache-bench", "--dir", join(tmp, "nope")], /is not a directory/],
      [["cache-bench", "--dir", text], /is not a directory/],
      [["cache-bench", "--dir", dir, "--budget", "-5"], /--budget/],
      [["cache-bench", "--dir", dir, "--reads", "NaN"], /--reads/],
    ] as Array<[string[], RegExp]>) {
      const r = run(args);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(msg);
      noTrace(r.err);
      expect(r.out).toBe("");
    }
    expect(statSync(dir).isDirectory()).toBe(true);
  });
});
