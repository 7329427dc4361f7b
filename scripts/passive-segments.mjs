// Post-build pass: make every data segment passive and add `__init_data(guard)`.
//
// asc emits only active data segments, and every WebAssembly instantiation
// re-copies active segments into memory, which in a shared memory rewrites
// whatever an earlier instance (another Worker) changed there
// (../shared/reference/toolchain.md §2c). After this pass, instantiation
// writes nothing; the host calls `__init_data(guardAddr)` right after each
// instantiation, and only the first caller over a memory copies the segments:
//
//   cmpxchg(guard, 0, 1) == 0  ->  memory.init every segment; store(guard, 2); notify
//   otherwise                  ->  wait until guard == 2 (a browser main thread
//                                  must therefore be the first caller)
//   then data.drop every segment (per instance).
//
// It also stamps the module with a custom section `tmem.build` holding the
// first 8 bytes of the SHA-256 of the module before stamping, so that a memory
// formatted by one build refuses an attach from another (bindings/physmem.ts).
//
// Usage: node scripts/passive-segments.mjs in.wasm out.wasm
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import binaryen from "binaryen";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: passive-segments.mjs in.wasm out.wasm");
  process.exit(2);
}
const mod = binaryen.readBinaryWithFeatures(readFileSync(input), binaryen.Features.All);
const memInfo = mod.getMemoryInfo("mimport$0");
if (!memInfo || !memInfo.shared) throw new Error(`${input}: expected an imported shared memory 'mimport$0'`);

const segments = [];
for (let i = 0; i < mod.getNumDataSegments(); i++) {
  const info = mod.getDataSegmentInfo(mod.getDataSegmentByIndex(i));
  segments.push({ name: `seg${i}`, offset: info.offset, data: new Uint8Array(info.data), passive: info.passive });
}
for (const s of segments) {
  if (s.passive) throw new Error(`${input}: segment already passive; run this pass once`);
  if (s.offset === null || s.offset < 1024) throw new Error(`${input}: segment below 1024 or without offset`);
}
// Re-create the memory with passive segments, then re-attach the import that setMemory drops.
mod.setMemory(memInfo.initial, memInfo.max, null,
  segments.map((s) => ({ name: s.name, data: s.data, passive: true, offset: 0 })), true, false, "mimport$0");
mod.removeMemory?.("mimport$0");
mod.addMemoryImport("mimport$0", "env", "memory", true);

const M = "mimport$0";
const guard = () => mod.local.get(0, binaryen.i32);
const body = [];
if (segments.length > 0) {
  body.push(
    mod.if(
      mod.i32.eq(mod.i32.atomic.rmw.cmpxchg(0, guard(), mod.i32.const(0), mod.i32.const(1), M), mod.i32.const(0)),
      mod.block(null, [
        ...segments.map((s) => mod.memory.init(s.name, mod.i32.const(s.offset), mod.i32.const(0), mod.i32.const(s.data.length), M)),
        mod.i32.atomic.store(0, guard(), mod.i32.const(2), M),
        mod.drop(mod.memory.atomic.notify(guard(), mod.i32.const(-1), M)),
      ]),
      mod.loop("wait", mod.if(
        mod.i32.ne(mod.i32.atomic.load(0, guard(), M), mod.i32.const(2)),
        mod.block(null, [
          mod.drop(mod.memory.atomic.wait32(guard(), mod.i32.const(1), mod.i64.const(-1n), M)),
          mod.br("wait"),
        ]),
      )),
    ),
    ...segments.map((s) => mod.data.drop(s.name)),
  );
}
body.push(mod.return(mod.i32.const(segments.length)));
mod.addFunction("__init_data", binaryen.createType([binaryen.i32]), binaryen.i32, [], mod.block(null, body));
mod.addFunctionExport("__init_data", "__init_data");
if (!mod.validate()) throw new Error(`${input}: module invalid after passive pass`);

const unstamped = mod.emitBinary();
const hash = createHash("sha256").update(unstamped).digest().subarray(0, 8);
mod.addCustomSection("tmem.build", new Uint8Array(hash));
writeFileSync(output, mod.emitBinary());
console.log(`${output}: ${segments.length} passive segment(s), build ${Buffer.from(hash).toString("hex")}`);
