// The zpool driver registry (src/zpool/registry.ts) through the zpool API:
// references taken by createPool/openPool and dropped by destroy/close,
// EBUSY on unregister, lazy loaders (one load however many callers race),
// unknown types, and destroy with live objects.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Owner } from "../bindings/layout.js";
import {
  createPool, createPoolSync, openPool, registerDriver, registerDriverLoader, unregisterDriver,
  registeredDrivers, driverRefs, zbudDriver, type ZpoolDriver,
} from "../src/zpool/index.js";
import { rejectsWith, throwsWith } from "./helpers.js";

let pm: PhysicalMemory;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A driver of another name that keeps its pools in zbud. */
const fakeDriver = (type: string): ZpoolDriver => ({
  type,
  create: (p, o) => zbudDriver.create(p, o),
  open: (p, id, o) => zbudDriver.open(p, id, o),
});

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("zpool driver registry", () => {
  it("has zbud and zsmalloc registered by default", () => {
    expect(registeredDrivers()).toEqual(expect.arrayContaining(["zbud", "zsmalloc"]));
  });

  it("an unknown type is ENODEV and the message names the known types", async () => {
    const e = await rejectsWith(createPool("z3fold", pm), "ENODEV");
    expect(e.message).toContain("z3fold");
    expect(e.message).toContain("zbud");
    expect(e.message).toContain("zsmalloc");
    throwsWith(() => createPoolSync("z3fold", pm), "ENODEV");
    await rejectsWith(createPool("", pm), "EINVAL");
    await rejectsWith(createPool(42 as unknown as string, pm), "EINVAL");
  });

  it("createPool takes a reference, destroy drops it; unregister with live pools is EBUSY", async () => {
    registerDriver(fakeDriver("fake-a"));
    expect(driverRefs("fake-a")).toBe(0);
    const p1 = await createPool("fake-a", pm);
    const p2 = await createPool("fake-a", pm);
    expect(p1.id).not.toBe(p2.id);
    expect(driverRefs("fake-a")).toBe(2);
    const e = throwsWith(() => unregisterDriver("fake-a"), "EBUSY");
    expect(e.message).toContain("2 pool");
    p1.destroy();
    expect(driverRefs("fake-a")).toBe(1);
    throwsWith(() => unregisterDriver("fake-a"), "EBUSY");
    p2.destroy();
    expect(driverRefs("fake-a")).toBe(0);
    unregisterDriver("fake-a");
    expect(registeredDrivers()).not.toContain("fake-a");
    throwsWith(() => unregisterDriver("fake-a"), "ENOENT");
    // The built-in zbud is protected the same way.
    const z = createPoolSync("zbud", pm);
    throwsWith(() => unregisterDriver("zbud"), "EBUSY");
    z.destroy();
  });

  it("registering twice is EEXIST; something that is not a driver is EINVAL", () => {
    throwsWith(() => registerDriver(zbudDriver), "EEXIST");
    throwsWith(() => registerDriverLoader("zbud", async () => zbudDriver), "EEXIST");
    throwsWith(() => registerDriver({ type: "x" } as unknown as ZpoolDriver), "EINVAL");
    throwsWith(() => registerDriverLoader("y", 5 as unknown as () => Promise<ZpoolDriver>), "EINVAL");
    throwsWith(() => registerDriver(fakeDriver("has space")), "EINVAL");
  });

  it("a lazy loader runs once for two concurrent createPools, and both get pools", async () => {
    let loads = 0;
    registerDriverLoader("lazy", async () => {
      loads++;
      await tick(20);
      return { lazyDriver: fakeDriver("lazy"), somethingElse: 5 };
    });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([createPool("lazy", pm), createPool("lazy", pm)]);
    expect(loads).toBe(1);
    expect(a.id).not.toBe(b.id);
    expect(a.type).toBe("lazy");
    const c = createPoolSync("lazy", pm);   // loaded now
    expect(loads).toBe(1);
    expect(driverRefs("lazy")).toBe(3);
    for (const p of [a, b, c]) {
      const h = p.malloc(100);
      p.free(h);
      p.destroy();
    }
    unregisterDriver("lazy");
  });

  it("unregister while a lazy load is in flight is EBUSY; a failed load is ENODEV with the cause and is retried", async () => {
    let loads = 0;
    registerDriverLoader("flaky", async () => {
      loads++;
      await tick(10);
      if (loads === 1) throw new Error("network down");
      return fakeDriver("flaky");
    });
    throwsWith(() => createPoolSync("flaky", pm), "ENODEV");    // not loaded, and no load started
    expect(loads).toBe(0);
    const first = createPool("flaky", pm);
    throwsWith(() => unregisterDriver("flaky"), "EBUSY");
    const e = await rejectsWith(first, "ENODEV");
    expect(e.message).toContain("network down");
    expect(driverRefs("flaky")).toBe(0);
    const p = await createPool("flaky", pm);
    expect(loads).toBe(2);
    p.destroy();
    unregisterDriver("flaky");
    registerDriverLoader("empty", async () => ({ notADriver: 1 }));
    const e2 = await rejectsWith(createPool("empty", pm), "ENODEV");
    expect(e2.message).toContain("no driver");
    unregisterDriver("empty");
  });

  it("destroying a pool with live objects is EBUSY and changes nothing; force warns once and frees everything", async () => {
    const pool = await createPool("zbud", pm);
    const handles = [pool.malloc(1000), pool.malloc(2000), pool.malloc(3000)];
    const v = pool.map(handles[0]!, "wo");
    v.fill(7);
    pool.unmap(handles[0]!);
    const before = pool.stats();
    const e = throwsWith(() => pool.destroy(), "EBUSY");
    expect(e.message).toContain("3 object");
    expect(pool.stats()).toEqual(before);
    expect([...pool.map(handles[0]!, "ro")].every((b) => b === 7)).toBe(true);
    pool.unmap(handles[0]!);
    expect(driverRefs("zbud")).toBe(1);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    pool.destroy({ force: true });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain("3 live object");
    expect(driverRefs("zbud")).toBe(0);
    expect(pm.stats().byOwner[Owner.ZBUD] ?? 0).toBe(0);
    throwsWith(() => pool.destroy({ force: true }), "EINVAL");
  });

  it("openPool takes a reference too; destroy while another open exists is EBUSY until it closes", async () => {
    const pool = await createPool("zbud", pm);
    const again = await openPool(pm, pool.id);
    expect(driverRefs("zbud")).toBe(2);
    const h = again.malloc(500);
    expect(pool.stats().objects).toBe(1);
    pool.free(h);
    const e = throwsWith(() => pool.destroy(), "EBUSY");
    expect(e.message).toContain("open in 1 other");
    again.close();
    again.close();                          // idempotent
    expect(driverRefs("zbud")).toBe(1);
    throwsWith(() => again.malloc(1), "EINVAL");
    pool.destroy();
    expect(driverRefs("zbud")).toBe(0);
  });

  it("opening a pool whose driver this thread lacks is ENODEV naming the type", async () => {
    registerDriver(fakeDriver("gone"));
    const pool = await createPool("gone", pm);
    const id = pool.id;
    pool.close();                           // the pool stays; this thread drops its reference
    unregisterDriver("gone");
    const e = await rejectsWith(openPool(pm, id), "ENODEV");
    expect(e.message).toContain("gone");
    registerDriver(fakeDriver("gone"));
    const back = await openPool(pm, id);
    back.destroy();
    unregisterDriver("gone");
  });
});
