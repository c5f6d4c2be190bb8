import { convertChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics, type TermChunk } from "../src/core/recipe/magnitudeStatistics.ts";
import { createWasmRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";
import { mergeRecipeChunk } from "../src/core/recipe/mergeRecipeChunk.ts";
import { RECIPE_METHODS } from "../src/core/recipe/TensorRecipe.ts";
import { twoTermRecipe } from "./twoTermRecipe.ts";

/**
 * Recipe v2 arithmetic on one thread (npx tsx bench/recipeKernel.ts [M elements]): the magnitude
 * statistics pass, then the JavaScript mergeRecipeChunk and the WebAssembly SIMD kernel's (the same
 * bytes: the first chunk is compared before the timed runs), on a bf16 tensor of 50 M elements
 * with 2 terms, for each method, fed in 1 M-element chunks (2 MiB, the engine's local chunk size).
 * Chunks come from pools of weight-like values (plus and minus = base + small deltas, so v has the
 * repeated magnitudes of real bf16 deltas), cycled, so the tensor never has to be in memory.
 * Throughput counts the input bytes read: 2 x 2 per element and pass for statistics (pass 3 stops
 * at the last kept tie), 5 x 2 for the kernel; "passes" is elements read by the statistics divided
 * by numel. Seconds are this process's CPU time (user + system), steadier than wall time on a
 * machine shared with other jobs.
 */

const millions = Number(process.argv[2] ?? 50);
if (!(millions > 0 && millions <= 4000)) throw new Error(`usage: npm run bench:recipe-kernel [MILLIONS]: elements in millions, from 0 to 4000, not ${JSON.stringify(process.argv[2])}`);
const ELEMENTS = Math.round(millions * 1e6);
const CHUNK = 2 ** 20;
const POOL = 8 * CHUNK;

let state = 12345;
function gaussian(): number {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  const u = (state + 1) / 2 ** 32;
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * state) / 2 ** 32);
}

function bf16Pool(values: Float32Array): FloatChunk {
  return { dtype: "BF16", bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, "BF16") };
}

const base = Float32Array.from({ length: POOL }, () => gaussian() * 0.02);
const near = (scale: number) => bf16Pool(base.map((x) => x + gaussian() * scale));
const target = bf16Pool(base);
const pools = [near(1e-3), near(1e-3), near(2e-3), near(1e-3)];

function chunkAt(pool: FloatChunk, index: number, count: number): FloatChunk {
  const offset = ((index * 3) % 8) * CHUNK;
  return { dtype: pool.dtype, bytes: pool.bytes.subarray(offset * 2, (offset + count) * 2) };
}

function termChunks(index: number, count: number): TermChunk[] {
  return [
    { plus: chunkAt(pools[0]!, index, count), minus: chunkAt(pools[1]!, index, count) },
    { plus: chunkAt(pools[2]!, index + 1, count), minus: chunkAt(pools[3]!, index + 1, count) },
  ];
}


function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

const into = new Uint8Array(CHUNK * 2);
const wasmInto = new Uint8Array(CHUNK * 2);
const wasmKernel = createWasmRecipeKernel();
const mb = (bytes: number, seconds: number) => (bytes / seconds / 1e6).toFixed(0).padStart(5);
process.stdout.write(`${ELEMENTS / 1e6} M bf16 elements, 2 terms, chunks of ${CHUNK} elements, one thread\n`);
process.stdout.write("method            stats passes  stats CPU s  MB/s  JS CPU s  MB/s  wasm CPU s  MB/s  speed-up\n");
for (const method of RECIPE_METHODS) {
  const recipe = twoTermRecipe(method);
  let statsElements = 0;
  const start = cpuSeconds();
  const stats = needsMagnitudeStatistics(recipe)
    ? await computeMagnitudeStatistics(recipe, ELEMENTS, (visit) => {
        for (let first = 0, index = 0; first < ELEMENTS; first += CHUNK, index++) {
          const count = Math.min(CHUNK, ELEMENTS - first);
          statsElements += count;
          if (!visit(first, termChunks(index, count))) break;
        }
      })
    : undefined;
  const statsSeconds = cpuSeconds() - start;
  const merge = (kernel: typeof mergeRecipeChunk, out: Uint8Array, first: number, index: number) => {
    const count = Math.min(CHUNK, ELEMENTS - first);
    return kernel(recipe, stats, { target: chunkAt(target, index, count), terms: termChunks(index, count) }, first, "BF16", out);
  };
  const kernelSeconds = (kernel: typeof mergeRecipeChunk, out: Uint8Array) => {
    const begin = cpuSeconds();
    for (let first = 0, index = 0; first < ELEMENTS; first += CHUNK, index++) merge(kernel, out, first, index);
    return cpuSeconds() - begin;
  };
  // The first chunk, compared, also warms both kernels up (JIT tiers) before they are timed.
  const [jsBytes, wasmBytes] = [merge(mergeRecipeChunk, into, 0, 0), merge(wasmKernel.mergeRecipeChunk, wasmInto, 0, 0)];
  if (jsBytes.some((byte, i) => byte !== wasmBytes[i])) throw new Error(`${method}: the wasm kernel's bytes differ from mergeRecipeChunk's`);
  const jsSeconds = kernelSeconds(mergeRecipeChunk, into);
  const wasmSeconds = kernelSeconds(wasmKernel.mergeRecipeChunk, wasmInto);
  const statsRate = statsElements ? mb(statsElements * 4, statsSeconds) : "    -";
  const passes = (statsElements / ELEMENTS).toFixed(2);
  process.stdout.write(
    `${method.padEnd(18)}${passes.padStart(12)}${statsSeconds.toFixed(2).padStart(13)} ${statsRate}` +
      `${jsSeconds.toFixed(2).padStart(10)} ${mb(ELEMENTS * 10, jsSeconds)}${wasmSeconds.toFixed(2).padStart(12)} ${mb(ELEMENTS * 10, wasmSeconds)}` +
      `${(jsSeconds / wasmSeconds).toFixed(1).padStart(8)}x\n`,
  );
}
