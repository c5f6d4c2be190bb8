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

/** The text of mergeKernelWasm.ts for the .wat as it is now. */
export async function renderMergeKernelModule(): Promise<string> {
  const toolkit = await wabt();
  const parsed = toolkit.parseWat("mergeKernel.wat", await readFile(WAT_PATH, "utf8"), { simd: true });
  try {
    parsed.validate();
    const { buffer } = parsed.toBinary({ write_debug_names: false });
    return [
      "// Generated from mergeKernel.wat by `npm run build:wasm` (scripts/build-wasm.ts): do not edit by hand.",
      "",
      "/** The merge kernel's WebAssembly binary, base64-encoded. */",
      `export const MERGE_KERNEL_WASM_BASE64 =\n  "${Buffer.from(buffer).toString("base64")}";`,
      "",
    ].join("\n");
  } finally {
    parsed.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await writeFile(MODULE_PATH, await renderMergeKernelModule());
  process.stdout.write(`wrote ${MODULE_PATH}\n`);
}
