import { nextUniform, type SplitMix32 } from "../seededGaussian.ts";
import { copyKeyValueCache, decodeWithCache, emptyKeyValueCache } from "./qwen2Decoder.ts";
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
 * Continues every prompt token by token, the unfinished ones in one forward pass per step, with a
 * key/value cache: each distinct prompt is run once and its cache copied to every completion of it
 * (a GRPO group). A completion depends only on its prompt, the weights and its own draws, whatever
 * else is in the batch.
 */
export function sampleCompletions(parameters: Qwen2Parameters, prompts: readonly (readonly number[])[], options: SampleOptions): Completion[] {
  const { maxNewTokens, stopIds, temperature, rng } = options;
  if (!(temperature >= 0)) throw new Error(`temperature ${temperature} must be 0 (greedy) or positive`);
  if (temperature > 0 && rng === undefined) throw new Error("sampling at a temperature above 0 needs a seeded rng");
  prompts.forEach((prompt, index) => {
    if (prompt.length === 0) throw new Error(`prompt ${index} is empty; a completion needs at least one token to continue`);
  });
  const completions: Completion[] = prompts.map(() => ({ ids: [], logProbabilities: [], stopped: false }));
  if (maxNewTokens <= 0 || prompts.length === 0) return completions;
  const distinct = [...new Map(prompts.map((prompt) => [prompt.join(","), prompt])).values()];
  const distinctCaches = distinct.map(() => emptyKeyValueCache(parameters.shape));
  const distinctLogits = decodeWithCache(parameters, distinctCaches, distinct);
  const indexOf = new Map(distinct.map((prompt, index) => [prompt.join(","), index]));
  const caches = prompts.map((prompt) => copyKeyValueCache(distinctCaches[indexOf.get(prompt.join(","))!]!));
  let logits = prompts.map((prompt) => distinctLogits[indexOf.get(prompt.join(","))!]!);
  let open = prompts.map((_, index) => index);
  for (let step = 0; ; step++) {
    open.forEach((index, slot) => {
      const last = Array.from(logits[slot]!);
      const token = pickToken(last, temperature, rng);
      const max = Math.max(...last);
      const logTotal = Math.log(last.reduce((sum, logit) => sum + Math.exp(logit - max), 0));
      const completion = completions[index]!;
      completion.ids.push(token);
      completion.logProbabilities.push(last[token]! - max - logTotal);
      if (stopIds.includes(token)) completion.stopped = true;
    });
    open = open.filter((index) => !completions[index]!.stopped);
    if (open.length === 0 || step + 1 === maxNewTokens) break;
    logits = decodeWithCache(parameters, open.map((index) => caches[index]!), open.map((index) => completions[index]!.ids.slice(-1)));
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
