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
const GENERATION = { preset: "qwen2.5-0.5b", dtype: "BF16", initSeed: 0, models: BENCH_MODELS } as const;

export const repoDir = (repo: string) => join(HUB_ROOT, ...repo.split("/"));

/** Generates the trio unless the marker says the same generation is already on disk. */
export async function generateBenchModels(): Promise<void> {
  const expected = JSON.stringify(GENERATION);
  if ((await readFile(MARKER, "utf8").catch(() => "")) === expected) return;
  await rm(MARKER, { force: true });
  for (const model of BENCH_MODELS) {
    const started = performance.now();
    await generateQwen2Model({
      dir: repoDir(model.repo),
      shape: QWEN2_PRESETS[GENERATION.preset],
      dtype: GENERATION.dtype,
      initSeed: GENERATION.initSeed,
      variantSeed: model.variantSeed,
      tokenizer: model.tokenizer,
    });
    process.stdout.write(`generated ${model.repo} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  await writeFile(MARKER, expected);
}
