// The README's API overview, run as written (kept in step by hand: if this
// fails, the README is wrong), and the README's claims about the command and
// the package checked against package.json and the command's own usage text.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PhysicalMemory, Frontswap, Cleancache, Zcache, createPool, compressFrame, decompressFrame, lz4Ready } from "../src/index.js";

describe("README example", () => {
  it("runs and does what the comments say", async () => {
    const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4 });
    expect(pm.frames).toBe(4096);
    const zcache = await Zcache.create(pm, { zpool: "zsmalloc" });

    const fs = Frontswap.for(pm);
    await fs.init(0);
    expect(await fs.registerOps(zcache)).toBeNull();
    const page = new Uint8Array(4096).fill(7);
    expect(fs.store(0, 42, page)).toBe(true);
    const back = new Uint8Array(4096);
    expect(fs.load(0, 42, back)).toBe(true);
    expect(back).toEqual(page);
    expect(fs.invalidatePage(0, 42)).toBe(true);
    expect(fs.load(0, 42, back)).toBe(false);

    const cc = Cleancache.for(pm);
    const fsId = await cc.initFs();
    await cc.registerOps(zcache);
    expect(cc.putPage(fsId, 1234n, 0, page)).toBe(true);
    back.fill(0);
    expect(cc.getPage(fsId, 1234n, 0, back)).toBe(true);
    expect(back).toEqual(page);
    expect(cc.getPage(fsId, 1234n, 0, back)).toBe(false); // exclusive: the page left

    const pool = await createPool("zsmalloc", pm);
    const h = pool.malloc(1500);
    pool.map(h, "wo").fill(1); pool.unmap(h);
    expect([...pool.map(h, "ro").subarray(0, 3)]).toEqual([1, 1, 1]);
    pool.unmap(h);
    pool.free(h);

    const bytes = new TextEncoder().encode("tmem ".repeat(1000));
    const frame = await compressFrame(bytes);
    expect(await decompressFrame(frame)).toEqual(bytes);
    const codec = await lz4Ready();
    expect(codec.compressBlock(page, { acceleration: 1 }).length).toBeLessThan(100);
  });
});

describe("README text", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

  it("documents maxWorkers, every package entry, typesVersions and the licence", () => {
    expect(readme).toMatch(/`maxWorkers` \(threads attached at once/);
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { exports: Record<string, unknown> };
    for (const sub of Object.keys(pkg.exports).filter((k) => k !== "." && k !== "./package.json")) expect(readme, sub).toContain(`\`tmem/${sub.slice(2)}\``);
    expect(readme).toMatch(/typesVersions/);
    expect(readme).toMatch(/Licensed MIT \(`LICENSE`\)/);
  });

  it("names the frame figures as the command does", () => {
    const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
    const out = spawnSync(process.execPath, [cli, "--pages", "300"], { encoding: "utf8" }).stdout;
    for (const name of ["pool frames", "object frames", "pool metadata frames", "object frames, compacted replay", "kernel's object frames"]) {
      expect(readme, name).toContain(`| ${name} |`);
      expect(out, name).toContain(name);
    }
  });
});
