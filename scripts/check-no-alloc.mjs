// Fail when managed-heap allocation or AssemblyScript runtime state reaches a
// wasm module. Every AS runtime keeps its heap state in per-instance wasm
// globals while tmem's memory is shared by every Worker, so two instances
// would hand out the same blocks (../shared/reference/toolchain.md §2a).
// At -O3 `__alloc` is inlined, so the check looks for the runtime's globals
// and helpers by name in the text format, not only for calls.
//
// Usage as a module: findAllocations(watText) → offending lines.
// Usage as a command: node scripts/check-no-alloc.mjs file.wat [...]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Markers of AssemblyScript runtime state or allocation in a .wat file. */
export const FORBIDDEN = [
  /\$~lib\/rt\//, // runtime globals/functions (stub offset, TLSF root, ITCMS state)
  /__stack_pointer/, // shadow stack: shared by every instance
  /\$~lib\/(array|staticarray|typedarray|map|set|string|arraybuffer)\/.*#constructor/,
  /\b__(new|alloc|renew|realloc|pin|collect)\b/,
];

/** Lines of `wat` that show allocation or runtime state, as "line: text". */
export function findAllocations(wat) {
  const bad = [];
  wat.split("\n").forEach((line, i) => {
    if (FORBIDDEN.some((re) => re.test(line))) bad.push(`${i + 1}: ${line.trim()}`);
  });
  return bad;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const bad = findAllocations(readFileSync(file, "utf8"));
    if (bad.length) {
      failed = true;
      console.error(`error: ${file}: managed-heap allocation or runtime state reached the wasm (toolchain.md §2a):\n${bad.slice(0, 20).join("\n")}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
