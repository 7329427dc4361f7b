// The package as a user imports it: by name, through the exports map, with
// the subpath entries sharing the root's classes (one physical memory, one
// frontend per memory, whichever entry it came from).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("package exports", () => {
  it("every subpath resolves to built code and declarations", () => {
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { exports: Record<string, string | Record<string, string>> };
    for (const [sub, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") continue;
      expect(Object.keys(target)[0], `${sub}: types first`).toBe("types");
      for (const file of Object.values(target)) expect(existsSync(`${root}/${file}`), `${sub} → ${file}`).toBe(true);
    }
  });

  it("imports by name work in Node, and subpaths share the root's classes", () => {
    const r = spawnSync(process.execPath, ["test/workers/exports-probe.mjs"], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ sameClass: true, stored: true, loaded: true, ccCounters: "number", lz4: true });
  });
});
