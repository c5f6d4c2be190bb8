import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import wabt from "wabt";

/**
 * Compiles src/core/numeric/wasm/mergeKernel.wat (npm run build:wasm) into mergeKernelWasm.ts, the
 * binary as base64 in a TypeScript module: the same import then works in Node, the browser and
 * workers, with no asset path to resolve. test/wasm-kernel.test.ts checks that the committed
 * module is what this script makes of the .wat now.
 */

const WASM_DIR = fileURLToPath(new URL("../src/core/numeric/wasm/", import.meta.url));
export const WAT_PATH = resolve(WASM_DIR, "mergeKernel.wat");
export const MODULE_PATH = resolve(WASM_DIR, "mergeKernelWasm.ts");

/**
 * The kernel's memory line, and what the shared-memory build puts in its place: the memory comes
 * from the caller (`env.memory`, shared, up to 4 GiB), so that chunk buffers can live in it and be
 * read into, computed on and hashed on another thread where they lie (src/core/engine/WasmChunkArena.ts).
 */
const OWN_MEMORY = '(memory (export "memory") 1)';
const SHARED_MEMORY = '(import "env" "memory" (memory 1 65536 shared))';

async function compile(toolkit: Awaited<ReturnType<typeof wabt>>, wat: string): Promise<string> {
  const features = { simd: true, threads: true };
  const parsed = toolkit.parseWat("mergeKernel.wat", wat, features);
  try {
    // wabt's validate takes the features as parseWat does (index.js); its typings leave them out.
    (parsed as unknown as { validate(features: object): void }).validate(features);
    return Buffer.from(parsed.toBinary({ write_debug_names: false }).buffer).toString("base64");
  } finally {
    parsed.destroy();
  }
}

/** The text of mergeKernelWasm.ts for the .wat as it is now. */
export async function renderMergeKernelModule(): Promise<string> {
  const toolkit = await wabt();
  const wat = await readFile(WAT_PATH, "utf8");
  if (!wat.includes(OWN_MEMORY)) throw new Error(`${WAT_PATH} must declare its memory as ${OWN_MEMORY}`);
  return [
    "// Generated from mergeKernel.wat by `npm run build:wasm` (scripts/build-wasm.ts): do not edit by hand.",
    "",
    "/** The merge kernel's WebAssembly binary, base64-encoded: it owns its memory. */",
    `export const MERGE_KERNEL_WASM_BASE64 =\n  "${await compile(toolkit, wat)}";`,
    "",
    "/** The same kernel importing its memory as `env.memory`, a shared memory of up to 4 GiB. */",
    `export const MERGE_KERNEL_SHARED_MEMORY_WASM_BASE64 =\n  "${await compile(toolkit, wat.replace(OWN_MEMORY, SHARED_MEMORY))}";`,
    "",
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await writeFile(MODULE_PATH, await renderMergeKernelModule());
  process.stdout.write(`wrote ${MODULE_PATH}\n`);
}
