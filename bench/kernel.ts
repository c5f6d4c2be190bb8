import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { createWasmMergeKernel } from "../src/core/numeric/wasm/createWasmMergeKernel.ts";

/**
 * Merge arithmetic throughput (npm run bench:kernel): the JavaScript mergeChunk against the
 * WebAssembly SIMD kernel on 4 M-element chunks, one thread, best of several runs because other
 * jobs share the machine.
 */

const ELEMENTS = 4 * 2 ** 20;
const RUNS = 7;
const ALPHA = 0.7;

/** Weight-like values (normal floats around +-0.05) stored as dtype. */
function weights(dtype: FloatDtype): FloatChunk {
  const values = Float32Array.from({ length: ELEMENTS }, () => (Math.random() - 0.5) * 0.1);
  return { dtype, bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, dtype) };
}

function bestSeconds(run: () => Uint8Array): number {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

const kernel = createWasmMergeKernel();
const rate = (seconds: number) => (ELEMENTS / seconds / 1e6).toFixed(0).padStart(6);
process.stdout.write(`${ELEMENTS} elements per chunk, best of ${RUNS} runs, M elements/s\n`);
process.stdout.write("dtype            JS    wasm  speed-up\n");
for (const dtype of ["BF16", "F16", "F32"] as const) {
  const [t, p, m] = [weights(dtype), weights(dtype), weights(dtype)] as const;
  const js = bestSeconds(() => mergeChunk(ALPHA, t, p, m, dtype));
  const wasm = bestSeconds(() => kernel.mergeChunkWasm(ALPHA, t, p, m, dtype));
  process.stdout.write(`${`${dtype} -> ${dtype}`.padEnd(12)} ${rate(js)}  ${rate(wasm)}  ${(js / wasm).toFixed(1).padStart(7)}x\n`);
}
