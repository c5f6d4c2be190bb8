import type { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";

/** One batch size of a bench case: its prompts are generated together, `runs` times. */
export interface BatchPlan {
  batch: number;
  newTokens: number;
  runs: number;
}

/** Best rates over a plan's runs, aggregated over the batch's rows. */
export interface BatchMeasurement extends BatchPlan {
  /** Prompt tokens of all rows over the seconds of the prefill passes. */
  prefillTokensPerSecond: number;
  /** Tokens after each row's first (the prefill gives that one), summed over the rows, over the seconds from the first of them to the last. */
  decodeTokensPerSecond: number;
}

/**
 * Greedy generation of the first `plan.batch` prompts together (OnnxCausalDecoder.generateBatch,
 * as the evaluator runs them), each to exactly `plan.newTokens` tokens (no stop token), `plan.runs`
 * times; the first run pays for lazy initialisation, so the best run is reported. All prompts enter
 * in one prefill pass (its slots are raised to fit them), so every row decodes in lockstep and the
 * decode seconds are those of the batch's steps, with no other prefill among them.
 */
export async function measureBatchGeneration(decoder: OnnxCausalDecoder, prompts: ReadonlyArray<readonly number[]>, plan: BatchPlan): Promise<BatchMeasurement> {
  if (prompts.length < plan.batch) throw new Error(`a batch of ${plan.batch} needs ${plan.batch} prompts, got ${prompts.length}`);
  if (!Number.isInteger(plan.newTokens) || plan.newTokens < 2) throw new Error(`a decode rate needs at least 2 new tokens, got ${plan.newTokens}`);
  const rows = prompts.slice(0, plan.batch);
  const promptTokens = rows.reduce((sum, prompt) => sum + prompt.length, 0);
  const prefillSlots = rows.length * Math.max(...rows.map((prompt) => prompt.length));
  let prefillTokensPerSecond = 0;
  let decodeTokensPerSecond = 0;
  for (let run = 0; run < plan.runs; run++) {
    let prefillSeconds = 0;
    const results = await decoder.generateBatch(rows, {
      batchSize: plan.batch,
      maxNewTokens: plan.newTokens,
      maxPrefillSlots: prefillSlots,
      onStep: (step) => {
        if (step.kind === "prefill") prefillSeconds += step.seconds;
      },
    });
    const short = results.findIndex((result) => result.tokens.length !== plan.newTokens);
    if (short >= 0) throw new Error(`row ${short} of the batch of ${plan.batch} stopped after ${results[short]!.tokens.length} of ${plan.newTokens} tokens`);
    const decodeTokens = results.reduce((sum, result) => sum + result.tokens.length - 1, 0);
    const decodeSeconds = Math.max(...results.map((result) => result.decodeSeconds));
    prefillTokensPerSecond = Math.max(prefillTokensPerSecond, promptTokens / prefillSeconds);
    decodeTokensPerSecond = Math.max(decodeTokensPerSecond, decodeTokens / decodeSeconds);
  }
  return { ...plan, prefillTokensPerSecond, decodeTokensPerSecond };
}
