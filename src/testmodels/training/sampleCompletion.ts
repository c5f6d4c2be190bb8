import { nextUniform, type SplitMix32 } from "../seededGaussian.ts";
import { packSequences } from "./packSequences.ts";
import { qwen2Forward } from "./qwen2Model.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";

export interface SampleOptions {
  maxNewTokens: number;
  /** Generation stops after emitting one of these (it is kept in `ids`). */
  stopIds: readonly number[];
  /** 0: greedy (the first of equal largest logits); above 0: sample from softmax(logits / temperature) with `rng`. */
  temperature: number;
  /** Needed when temperature > 0; advanced by one draw per sampled token, sequences in order at each step. */
  rng?: SplitMix32;
}

export interface Completion {
  /** The new tokens, the stop token included when one ended the completion. */
  ids: number[];
  /** log p(token) of each new token under the model (at temperature 1), for a policy gradient. */
  logProbabilities: number[];
  stopped: boolean;
}

/** Continues one prompt: sampleCompletions of a single prompt. */
export function sampleCompletion(parameters: Qwen2Parameters, promptIds: readonly number[], options: SampleOptions): Completion {
  return sampleCompletions(parameters, [promptIds], options)[0]!;
}

/**
 * Continues every prompt token by token, the unfinished ones packed into one forward pass per step.
 * Simple rather than fast: each step runs the whole sequences through the forward pass (no KV cache),
 * which for the toy models' short answers costs little. A completion depends only on its prompt, the
 * weights and its own draws, whatever else is in the batch.
 */
export function sampleCompletions(parameters: Qwen2Parameters, prompts: readonly (readonly number[])[], options: SampleOptions): Completion[] {
  const { maxNewTokens, stopIds, temperature, rng } = options;
  if (!(temperature >= 0)) throw new Error(`temperature ${temperature} must be 0 (greedy) or positive`);
  if (temperature > 0 && rng === undefined) throw new Error("sampling at a temperature above 0 needs a seeded rng");
  prompts.forEach((prompt, index) => {
    if (prompt.length === 0) throw new Error(`prompt ${index} is empty; a completion needs at least one token to continue`);
  });
  const vocab = parameters.shape.vocabSize;
  const sequences = prompts.map((prompt) => [...prompt]);
  const completions: Completion[] = prompts.map(() => ({ ids: [], logProbabilities: [], stopped: false }));
  for (let step = 0; step < maxNewTokens; step++) {
    const open = completions.flatMap((completion, index) => (completion.stopped ? [] : [index]));
    if (open.length === 0) break;
    const batch = packSequences(open.map((index) => ({ ids: sequences[index]!, lossWeights: new Array<number>(sequences[index]!.length).fill(0) })));
    const { logits } = qwen2Forward(parameters, batch);
    open.forEach((index, slot) => {
      const lastRow = batch.segmentStarts[slot + 1]! - 1;
      const last = Array.from(logits.subarray(lastRow * vocab, (lastRow + 1) * vocab));
      const token = pickToken(last, temperature, rng);
      const max = Math.max(...last);
      const logTotal = Math.log(last.reduce((sum, logit) => sum + Math.exp(logit - max), 0));
      const completion = completions[index]!;
      completion.ids.push(token);
      completion.logProbabilities.push(last[token]! - max - logTotal);
      sequences[index]!.push(token);
      if (stopIds.includes(token)) completion.stopped = true;
    });
  }
  return completions;
}

/** The argmax (temperature 0) or a draw from softmax(logits / temperature). */
function pickToken(logits: number[], temperature: number, rng: SplitMix32 | undefined): number {
  const max = Math.max(...logits);
  if (temperature === 0) return logits.indexOf(max);
  const scaled = logits.map((logit) => Math.exp((logit - max) / temperature));
  const total = scaled.reduce((sum, value) => sum + value, 0);
  let remaining = nextUniform(rng!) * total;
  for (let id = 0; id < scaled.length; id++) {
    remaining -= scaled[id]!;
    if (remaining < 0) return id;
  }
  return scaled.length - 1;
}
