import { join } from "node:path";
import type { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { BENCH_DIR, generateOnce, type BenchGeneration } from "./benchModels.ts";

/** The shapes bench:gsm8k runs: the real one and a small one (real vocabulary, tiny widths) to check the script end to end. */
export const GSM8K_BENCH_SHAPES = { "1.5b": "qwen2.5-1.5b", small: "small" } as const satisfies Record<string, keyof typeof QWEN2_PRESETS>;
export type Gsm8kBenchShape = keyof typeof GSM8K_BENCH_SHAPES;

/**
 * Plus and minus are the target plus noise of this size (relative to the weights' scale, 0.02) from
 * their own seeds, so plus - minus is about 7% of a weight's size and the merged model answers
 * differently from the target (the generator's default, 1e-3, would barely move a greedy token).
 */
const DONOR_NOISE_SCALE = 0.05;

export interface Gsm8kBenchTrio {
  target: string;
  plus: string;
  minus: string;
}

/** The trio's Hub repo ids (under .bench/hub): bench/gsm8k-<shape>-target, -plus, -minus. */
export function gsm8kBenchTrio(shape: Gsm8kBenchShape): Gsm8kBenchTrio {
  const repo = (role: string) => `bench/gsm8k-${shape}-${role}`;
  return { target: repo("target"), plus: repo("plus"), minus: repo("minus") };
}

/**
 * Generates the trio of `shape` in bf16 (a shared initialisation; the target with the real Qwen
 * tokenizer, plus and minus with their own noise) unless a marker says this generation is on disk.
 */
export async function generateGsm8kBenchTrio(shape: Gsm8kBenchShape, log: (line: string) => void): Promise<Gsm8kBenchTrio> {
  const trio = gsm8kBenchTrio(shape);
  const models = [
    { repo: trio.target, variantSeed: undefined, tokenizer: true },
    { repo: trio.plus, variantSeed: 1, tokenizer: false },
    { repo: trio.minus, variantSeed: 2, tokenizer: false },
  ];
  const generation: BenchGeneration = { preset: GSM8K_BENCH_SHAPES[shape], dtype: "BF16", initSeed: 0, noiseScale: DONOR_NOISE_SCALE, models };
  await generateOnce(join(BENCH_DIR, `gsm8k-${shape}.json`), generation, log);
  return trio;
}
