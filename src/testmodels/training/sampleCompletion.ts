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
  /** Needed when temperature > 0; advanced by one draw per sampled token. */
  rng?: SplitMix32;
}

export interface Completion {
  /** The new tokens, the stop token included when one ended the completion. */
  ids: number[];
  /** log p(token) of each new token under the model (at temperature 1), for a policy gradient. */
  logProbabilities: number[];
  stopped: boolean;
}

/**
 * Continues `promptIds` token by token. Simple rather than fast: each step runs the whole sequence
 * through the forward pass (no KV cache), which for the toy models' short answers costs little.
 */
export function sampleCompletion(parameters: Qwen2Parameters, promptIds: readonly number[], options: SampleOptions): Completion {
  const { maxNewTokens, stopIds, temperature, rng } = options;
  if (!(temperature >= 0)) throw new Error(`temperature ${temperature} must be 0 (greedy) or positive`);
  if (temperature > 0 && rng === undefined) throw new Error("sampling at a temperature above 0 needs a seeded rng");
  if (promptIds.length === 0) throw new Error("the prompt is empty; a completion needs at least one token to continue");
  const vocab = parameters.shape.vocabSize;
  const sequence = [...promptIds];
  const completion: Completion = { ids: [], logProbabilities: [], stopped: false };
  while (completion.ids.length < maxNewTokens) {
    const { logits } = qwen2Forward(parameters, packSequences([{ ids: sequence, lossWeights: new Array<number>(sequence.length).fill(0) }]));
    const last = Array.from(logits.subarray(logits.length - vocab));
    const max = Math.max(...last);
    const logTotal = Math.log(last.reduce((sum, logit) => sum + Math.exp(logit - max), 0));
    let token: number;
    if (temperature === 0) {
      token = last.indexOf(max);
    } else {
      const scaled = last.map((logit) => Math.exp((logit - max) / temperature));
      const total = scaled.reduce((sum, value) => sum + value, 0);
      let remaining = nextUniform(rng!) * total;
      token = scaled.length - 1;
      for (let id = 0; id < scaled.length; id++) {
        remaining -= scaled[id]!;
        if (remaining < 0) {
          token = id;
          break;
        }
      }
    }
    completion.ids.push(token);
    completion.logProbabilities.push(last[token]! - max - logTotal);
    sequence.push(token);
    if (stopIds.includes(token)) {
      completion.stopped = true;
      break;
    }
  }
  return completion;
}
