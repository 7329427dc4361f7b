// The package as a user gets it: by name, through the exports map, with
// the subpath entries sharing the root's classes (one physical memory, one
// frontend per memory, whichever entry it came from); what `npm pack` puts
// in the tarball; the types under the older moduleResolution (node10); the
// root's surface; the debug build as its own entry.
import { describe, expect, it, onTestFinished } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as {
  exports: Record<string, string | Record<string, string>>; typesVersions: Record<string, Record<string, string[]>>; license: string; files: string[];
};
const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));

describe("package exports", () => {
  it("every subpath resolves to built code and declarations", () => {
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

  it("typesVersions gives every subpath its types, and a node10 project type-checks against them", () => {
    // Same map as "exports", for TypeScript's moduleResolution node10 ("node"), which ignores "exports".
    const tv = pkg.typesVersions["*"]!;
    const subpaths = Object.entries(pkg.exports).filter(([k, v]) => k !== "." && typeof v !== "string");
    expect(Object.keys(tv).sort()).toEqual(subpaths.map(([k]) => k.slice(2)).sort());
    for (const [k, v] of subpaths) expect(tv[k.slice(2)], k).toEqual([(v as Record<string, string>).types]);
    // TypeScript 7 has dropped node10, so the check runs the TypeScript 5 that users on it have.
    const dir = mkdtempSync(join(tmpdir(), "tmem-node10-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true })); // the link into the repo goes, not what it names
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(root, join(dir, "node_modules", "tmem"));
    writeFileSync(join(dir, "use.ts"), [
      `import { PhysicalMemory, Zcache, TmemError } from "tmem";`,
      `import { Frontswap } from "tmem/frontswap";`,
      `import { Cleancache } from "tmem/cleancache";`,
      `import { createPool, type ZpoolStats } from "tmem/zpool";`,
      `import { compressFrame } from "tmem/lz4";`,
      `import { debugBuildLoaded } from "tmem/debug";`,
      `export async function f(): Promise<[number, boolean, ZpoolStats]> {`,
      `  const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 2 });`,
      `  const z = await Zcache.create(pm); await Frontswap.for(pm).registerOps(z); Cleancache.for(pm);`,
      `  const p = await createPool("zbud", pm);`,
      `  return [(await compressFrame(new Uint8Array(8))).length, debugBuildLoaded && TmemError !== undefined, p.stats()];`,
      `}`,
    ].join("\n"));
    const tsc5 = join(root, "node_modules/typescript-5/bin/tsc");
    const r = spawnSync(process.execPath, [tsc5, "--noEmit", "--strict", "--skipLibCheck", "--module", "commonjs", "--moduleResolution", "node10", "--target", "es2022",
      "--lib", "es2022,dom", "--types", "node", "--typeRoots", join(root, "node_modules/@types"), "use.ts"], { cwd: dir, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("what ships", () => {
  const pack = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" });
  const files = (JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);

  it("the tarball has the LICENSE (MIT, tmem developers, 2026) and no test support", () => {
    expect(files).toContain("LICENSE");
    expect(pkg.license).toBe("MIT");
    const license = readFileSync(join(root, "LICENSE"), "utf8");
    expect(license).toMatch(/^MIT License/);
    expect(license).toMatch(/Copyright \(c\) 2026 tmem developers/);
    expect(files.filter((f) => /stress|test|bench|fixtures/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith("data/"))).toEqual(["data/sample-anon.pages.lz4"]);
  });

  it("the library embeds the release wasm once; the debug wasm is only in tmem/debug", () => {
    const slice = (file: string): string => {
      const b64 = /wasmBase64: string = "([^"]+)"/.exec(readFileSync(join(root, file), "utf8"))![1]!;
      return b64.slice(b64.length >> 1, (b64.length >> 1) + 80);
    };
    const release = slice("bindings/wasm-release.generated.ts"), debug = slice("bindings/wasm-debug.generated.ts");
    const js = walk(join(root, "dist")).filter((f) => f.endsWith(".js"));
    const holding = (s: string): string[] => js.filter((f) => readFileSync(f, "utf8").includes(s)).map((f) => f.slice(root.length));
    expect(holding(release)).toHaveLength(1);
    expect(holding(release)[0]).toMatch(/^dist\/chunks\//);
    expect(holding(debug)).toEqual(["dist/debug.js"]);
  });

  it("the root exports what the README documents, not the internals", async () => {
    const m = await import(join(root, "dist/index.js")) as Record<string, unknown>;
    for (const name of ["PhysicalMemory", "TmemError", "ErrorCode", "Zcache", "Frontswap", "Cleancache", "Ramster", "createPool", "registerDriver",
      "compressFrame", "decompressFrame", "createCompressStream", "createDecompressStream", "lz4Ready", "PAGE_SIZE"]) {
      expect(m[name], name).toBeDefined();
    }
    for (const name of ["TmemCore", "PamBackend", "RawBackend", "registerBackendType", "openBackend", "compileCore", "Owner", "frameStress", "arriveAndWait"]) {
      expect(m[name], name).toBeUndefined();
    }
  });

  it("the published declarations are the entries' graph only, with no @internal member: every README example that imports tmem type-checks against them (no skipLibCheck), pm.core and pm.u8 do not", () => {
    const dts = walk(join(root, "dist/types")).map((f) => f.slice(root.length).replace(/^\/+/, "")).filter((f) => f.endsWith(".d.ts"));
    // Not reachable from any entry: the command, the simulator, the remote tier's Worker side (helper, ops), the kernel models.
    expect(dts.filter((f) => /\/(cli|sim|demo)\b|ramster\/(helper|ops)|kernel-|-worker\.d\.ts$|-remotifier\.d\.ts$/.test(f))).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), "tmem-consumer-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true })); // the link into the repo goes, not what it names
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(root, join(dir, "node_modules", "tmem"));
    for (const dep of ["keyv", "cache-manager"]) symlinkSync(join(root, "node_modules", dep), join(dir, "node_modules", dep));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    // The README's examples as written; the names they take from the text around them are declared.
    const given: Record<string, string> = {
      workerData: "any", page: "Uint8Array", bytes: "Uint8Array", url: "URL", slot: "number",
      pm: `import("tmem").PhysicalMemory`, cache: `import("tmem/cache").TmemCache`,
    };
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const files: string[] = [];
    for (const [, block] of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
      if (!/from "tmem(\/[a-z]+)?"/.test(block!)) continue;
      const code = block!.replace(/\/\/.*/g, "");
      const decls = Object.entries(given).filter(([n]) => new RegExp(`\\b${n}\\b`).test(code) && !new RegExp(`\\bconst ${n}\\b`).test(code))
        .map(([n, t]) => `declare const ${n}: ${t};`);
      const file = `readme-${files.length}.ts`;
      writeFileSync(join(dir, file), `${block}\n${decls.join("\n")}\nexport {};\n`);
      files.push(file);
    }
    expect(files.length).toBeGreaterThanOrEqual(6);
    writeFileSync(join(dir, "internal.ts"), [
      `import { PhysicalMemory } from "tmem";`,
      `const pm = await PhysicalMemory.create();`,
      `export const internals = [pm.core, pm.u8, pm.scratch, pm.layout, pm.canBlock];`,
    ].join("\n"));
    const tsc = (...f: string[]) => spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "--strict",
      "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--lib", "es2022,dom", "--types", "node",
      "--typeRoots", join(root, "node_modules/@types"), ...f], { cwd: dir, encoding: "utf8" });
    const ok = tsc(...files);
    expect(ok.stdout + ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const bad = tsc("internal.ts");
    expect(bad.stdout.match(/Property '\w+' does not exist on type 'PhysicalMemory'/g)).toEqual(
      ["core", "u8", "scratch", "layout", "canBlock"].map((m) => `Property '${m}' does not exist on type 'PhysicalMemory'`));
  });

  it("the published declarations carry no notes that point into the project's design sources", () => {
    const dts = walk(join(root, "dist/types")).filter((f) => f.endsWith(".d.ts"));
    expect(dts.length).toBeGreaterThan(20);
    const bad = dts.flatMap((f) => (readFileSync(f, "utf8").match(/\(seeds?[\s*]+\d{3}[^)\n]*\)?/g) ?? []).map((m) => `${f.slice(root.length)}: ${m}`));
    expect(bad).toEqual([]);
  });

  it("build: \"debug\" needs tmem/debug, with an error that says so; after the import it runs", () => {
    const code = `
      import { PhysicalMemory, TmemError } from "tmem";
      let before;
      try { await PhysicalMemory.create({ frames: 16, build: "debug" }); before = "created"; } catch (e) { before = e instanceof TmemError ? e.code + ": " + e.message : String(e); }
      const { debugBuildLoaded } = await import("tmem/debug");
      const pm = await PhysicalMemory.create({ frames: 16, build: "debug" });
      console.log(JSON.stringify({ before, debugBuildLoaded, frames: pm.frames }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    const j = JSON.parse(r.stdout) as { before: string; debugBuildLoaded: boolean; frames: number };
    expect(j.before).toMatch(/^ENOTSUP: .*the debug build is not loaded: import "tmem\/debug"/);
    expect(j.debugBuildLoaded).toBe(true);
    expect(j.frames).toBe(16);
  });
});
