import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The debug wasm is its own entry ("tmem/debug"); the setup loads it for the tests that run both builds.
    setupFiles: ["test/setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: the 2-Worker tests want them both, so files run one after another.
    fileParallelism: false,
  },
});
