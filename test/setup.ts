// Vitest setup (every test file): make the debug wasm build available, as a
// program does by importing "tmem/debug", so tests can run both builds.
//
// TMEM_TEST_BUILD=debug (npm run test:debug) runs the whole suite on the
// debug build: every PhysicalMemory a test creates without naming a build
// gets `build: "debug"` (Workers attach with the module of the memory they
// are handed, so they follow it); tests that name a build keep theirs, and
// the LZ4-only codecs (createLz4) stay on their default.
import "../bindings/wasm-debug.js";
import { PhysicalMemory, type PhysicalMemoryOptions } from "../bindings/physmem.js";

const want = process.env.TMEM_TEST_BUILD;
if (want !== undefined && want !== "release" && want !== "debug") {
  throw new Error(`TMEM_TEST_BUILD must be "release" or "debug", not ${JSON.stringify(want)}`);
}
if (want === "debug") {
  const create = PhysicalMemory.create.bind(PhysicalMemory);
  PhysicalMemory.create = (options?: PhysicalMemoryOptions): Promise<PhysicalMemory> => {
    if (options === undefined) return create({ build: "debug" });
    // Anything but a plain option bag without a build goes through as it is (the argument tests).
    return create(typeof options === "object" && options !== null && !("build" in options) ? { ...options, build: "debug" } : options);
  };
}
