// Vitest setup (every test file): make the debug wasm build available, as a
// program does by importing "tmem/debug", so tests can run both builds.
import "../bindings/wasm-debug.js";
