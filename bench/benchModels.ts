import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";

/** The benchmarks' models: a Qwen2.5-0.5B-shaped trio in .bench/hub, generated once and kept. */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BENCH_DIR = join(REPO_ROOT, ".bench");
export const HUB_ROOT = join(BENCH_DIR, "hub");
const MARKER = join(BENCH_DIR, "models.json");

export const BENCH_MODELS = [
  { repo: "bench/target", variantSeed: undefined, tokenizer: true },
  { repo: "bench/plus", variantSeed: 1, tokenizer: false },
  { repo: "bench/minus", variantSeed: 2, tokenizer: false },
];
const GENERATION: BenchGeneration = { preset: "qwen2.5-0.5b", dtype: "BF16", initSeed: 0, models: BENCH_MODELS };

export const repoDir = (repo: string) => join(HUB_ROOT, ...repo.split("/"));

/** Bench models generated together: one preset and initialisation, each model with its own variant. */
export interface BenchGeneration {
  preset: keyof typeof QWEN2_PRESETS;
  dtype: "BF16";
  initSeed: number;
  noiseScale?: number;
  models: readonly { repo: string; variantSeed: number | undefined; tokenizer: boolean }[];
}

/** Generates the models of `generation` under HUB_ROOT unless `marker` says the same generation is already on disk. */
export async function generateOnce(marker: string, generation: BenchGeneration, log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<void> {
  const expected = JSON.stringify(generation);
  if ((await readFile(marker, "utf8").catch(() => "")) === expected) return;
  await rm(marker, { force: true });
  for (const model of generation.models) {
    const started = performance.now();
    await generateQwen2Model({
      dir: repoDir(model.repo),
      shape: QWEN2_PRESETS[generation.preset],
      dtype: generation.dtype,
      initSeed: generation.initSeed,
      variantSeed: model.variantSeed,
      ...(generation.noiseScale !== undefined ? { noiseScale: generation.noiseScale } : {}),
      tokenizer: model.tokenizer,
    });
    log(`generated ${model.repo} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  await writeFile(marker, expected);
}

/** Generates the trio unless the marker says the same generation is already on disk. */
export function generateBenchModels(): Promise<void> {
  return generateOnce(MARKER, GENERATION);
}
