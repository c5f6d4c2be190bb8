import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { taskArithmetic } from "../src/core/methods/taskArithmetic.ts";
import { createWasmMergeKernel } from "../src/core/numeric/wasm/createWasmMergeKernel.ts";
import { createWasmRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/**
 * Merge arithmetic throughput (npm run bench:kernel): the JavaScript mergeChunk against the
 * WebAssembly SIMD kernel's merge and its recipe path (mergeRecipeChunk of a one-term
 * task_arithmetic recipe, the same bytes) on 4 M-element chunks, one thread, best CPU time of several
 * runs taken in turns, because other jobs share the machine.
 */

const ELEMENTS = 4 * 2 ** 20;
const RUNS = 11;
const ALPHA = 0.7;

/** Weight-like values (normal floats around +-0.05) stored as dtype. */
function weights(dtype: FloatDtype): FloatChunk {
  const values = Float32Array.from({ length: ELEMENTS }, () => (Math.random() - 0.5) * 0.1);
  return { dtype, bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, dtype) };
}

/** CPU seconds of this process (user + system): steadier than wall time on a machine shared with other jobs. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Each runner's best CPU time, the runners taking turns so that a busy spell of the machine hits them alike. */
function bestSeconds(runners: (() => Uint8Array)[]): number[] {
  const best = runners.map(() => Infinity);
  for (let i = 0; i < RUNS; i++) {
    runners.forEach((run, k) => {
      const start = cpuSeconds();
      run();
      best[k] = Math.min(best[k]!, cpuSeconds() - start);
    });
  }
  return best;
}

const kernel = createWasmMergeKernel();
const recipeKernel = createWasmRecipeKernel();
const oneTerm: TensorRecipe = {
  tensorName: "model.layers.0.mlp.up_proj.weight",
  method: "task_arithmetic",
  terms: [{ index: 0, weight: ALPHA, density: 1, gamma: 0.01 }],
  normalize: false,
  rescale: true,
  seed: 0,
};
const rate = (seconds: number) => (ELEMENTS / seconds / 1e6).toFixed(0).padStart(6);
process.stdout.write(`${ELEMENTS} elements per chunk, best of ${RUNS} runs, M elements/s\n`);
process.stdout.write("dtype            JS    wasm  speed-up  wasm recipe  recipe / merge\n");
for (const dtype of ["BF16", "F16", "F32"] as const) {
  const [t, p, m] = [weights(dtype), weights(dtype), weights(dtype)] as const;
  const [js, wasm, recipe] = bestSeconds([
    () => mergeChunk(taskArithmetic, { alpha: ALPHA }, t, p, m, dtype),
    () => kernel.mergeChunkWasm(ALPHA, t, p, m, dtype),
    () => recipeKernel.mergeRecipeChunk(oneTerm, undefined, { target: t, terms: [{ plus: p, minus: m }] }, 0, dtype),
  ]) as [number, number, number];
  process.stdout.write(
    `${`${dtype} -> ${dtype}`.padEnd(12)} ${rate(js)}  ${rate(wasm)}  ${(js / wasm).toFixed(1).padStart(7)}x` +
      `       ${rate(recipe)}  ${(wasm / recipe).toFixed(2).padStart(13)}\n`,
  );
}
