import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { packSequences } from "../src/testmodels/training/packSequences.ts";
import { qwen2Forward } from "../src/testmodels/training/qwen2Model.ts";
import { decodeWithCache, emptyKeyValueCache } from "../src/testmodels/training/qwen2Decoder.ts";
import { initQwen2Parameters, type Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { sampleCompletion, sampleCompletions, type Completion } from "../src/testmodels/training/sampleCompletion.ts";
import { groupAdvantages, grpoSequences, trainGrpo, type GrpoProblem } from "../src/testmodels/training/trainGrpo.ts";
import { encodeToyText, TOY_TOKEN_IDS, TOY_VOCAB_SIZE, toyChatPrompt } from "../src/testmodels/training/toyTokenizer.ts";
import { SMALL_GRPO_OPTIONS, SMALL_TOY_SHAPE } from "./helpers/toyTrainingFixtures.ts";

const SMALL = SMALL_TOY_SHAPE;

const completion = (ids: number[]): Completion => ({ ids, logProbabilities: ids.map(() => -1), stopped: false });
const bytesOf = (parameters: Qwen2Parameters) => createHash("sha256").update(Buffer.concat([...parameters.tensors.values()].map((values) => Buffer.from(values.buffer, values.byteOffset, values.byteLength)))).digest("hex");

/** Even digits as the first answer token earn 1: a skill a policy gradient can teach a random model in a few steps. */
const EVEN_DIGITS = encodeToyText("02468");
const prompts = ["rev 123", "rev 4567", "9+9=", "rev 00", "12+3=", "rev 98"].map((text) => encodeToyText(toyChatPrompt(text)));
const evenFirstProblems: GrpoProblem[] = prompts.map((promptIds) => ({ promptIds, reward: (sampled) => (EVEN_DIGITS.includes(sampled.ids[0]!) ? 1 : 0) }));

const OPTIONS = SMALL_GRPO_OPTIONS;

/** The probability the model gives an even digit as the first answer token, averaged over the prompts. */
function evenFirstProbability(parameters: Qwen2Parameters): number {
  let total = 0;
  for (const promptIds of prompts) {
    const { logits } = qwen2Forward(parameters, packSequences([{ ids: promptIds, lossWeights: new Array<number>(promptIds.length).fill(0) }]));
    const last = Array.from(logits.subarray(logits.length - TOY_VOCAB_SIZE));
    const max = Math.max(...last);
    const exp = last.map((logit) => Math.exp(logit - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    total += EVEN_DIGITS.reduce((a, id) => a + exp[id]! / sum, 0);
  }
  return total / prompts.length;
}

describe("GRPO's pieces against the formulas", () => {
  it("normalises rewards within a group by their mean and population std; a group of equal rewards has no advantage", () => {
    const [a, b, c, d] = groupAdvantages([1, 0, 0, 1]);
    expect(a).toBeCloseTo(0.5 / (0.5 + 1e-4), 12);
    expect([b, c, d]).toEqual([-a!, -a!, a]);
    const three = groupAdvantages([1, 0, 0]);
    const std = Math.sqrt((2 / 3) ** 2 / 3 + 2 * (1 / 3) ** 2 / 3);
    expect(three[0]).toBeCloseTo((2 / 3) / (std + 1e-4), 12);
    expect(three[1]).toBeCloseTo(-(1 / 3) / (std + 1e-4), 12);
    expect(groupAdvantages([1, 1, 1, 1])).toEqual([0, 0, 0, 0]);
    expect(groupAdvantages([0, 0])).toEqual([0, 0]);
  });

  it("weighs each completion token by advantage / (groups * group size * completion length); prompts and zero advantages weigh nothing", () => {
    const sequences = grpoSequences([
      { promptIds: [7, 8], completions: [completion([1, 2, 3]), completion([4])], advantages: [1, -1] },
      { promptIds: [9], completions: [completion([5, 6]), completion([5])], advantages: [0, 0] },
    ]);
    expect(sequences).toEqual([
      { ids: [7, 8, 1, 2, 3], lossWeights: [0, 0, 1 / 12, 1 / 12, 1 / 12] },
      { ids: [7, 8, 4], lossWeights: [0, 0, -1 / 4] },
    ]);
  });
});

describe("sampling in batches", () => {
  const parameters = initQwen2Parameters(SMALL, 21, Float32Array);

  it("the key/value cache gives the training forward pass's logits bit for bit, whether tokens come in one pass or one by one", () => {
    const ids = prompts[0]!;
    const full = qwen2Forward(parameters, packSequences([{ ids, lossWeights: new Array<number>(ids.length).fill(0) }])).logits;
    const rowOf = (t: number) => Array.from(full.subarray(t * TOY_VOCAB_SIZE, (t + 1) * TOY_VOCAB_SIZE));
    const cache = emptyKeyValueCache(SMALL);
    const other = emptyKeyValueCache(SMALL);
    const [first, alongside] = decodeWithCache(parameters, [cache, other], [ids.slice(0, 5), prompts[1]!]);
    expect(Array.from(first!)).toEqual(rowOf(4));
    expect(other.length).toBe(prompts[1]!.length);
    for (let t = 5; t < ids.length; t++) expect(Array.from(decodeWithCache(parameters, [cache], [[ids[t]!]])[0]!), `token ${t}`).toEqual(rowOf(t));
    expect(cache.length).toBe(ids.length);
    const alone = qwen2Forward(parameters, packSequences([{ ids: prompts[1]!, lossWeights: new Array<number>(prompts[1]!.length).fill(0) }])).logits;
    expect(Array.from(alongside!)).toEqual(Array.from(alone.subarray(alone.length - TOY_VOCAB_SIZE)));
  });

  it("greedy: each prompt's completion is the one it gets alone, whatever else is in the batch", () => {
    const options = { maxNewTokens: 5, stopIds: [TOY_TOKEN_IDS.imEnd, 3], temperature: 0 };
    const batch = sampleCompletions(parameters, prompts, options);
    expect(batch).toEqual(prompts.map((promptIds) => sampleCompletion(parameters, promptIds, options)));
  });

  it("refuses an empty prompt, naming it", () => {
    expect(() => sampleCompletions(parameters, [[1], []], { maxNewTokens: 1, stopIds: [], temperature: 0 })).toThrow(/prompt 1 is empty/);
  });
});

describe("GRPO training (float32)", () => {
  it("is deterministic: two runs give the same records and the same parameter bytes", () => {
    const runs = [0, 1].map(() => {
      const parameters = initQwen2Parameters(SMALL, 21, Float32Array);
      const records = trainGrpo(parameters, evenFirstProblems, OPTIONS);
      return { records, bytes: bytesOf(parameters) };
    });
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[0]!.records.some((record) => record.informativeGroups > 0)).toBe(true);
    expect(runs[0]!.bytes).not.toBe(bytesOf(initQwen2Parameters(SMALL, 21, Float32Array)));
  });

  it("raises the probability of rewarded answers: an even first digit goes from rare to likely in 25 steps", () => {
    const parameters = initQwen2Parameters(SMALL, 21, Float32Array);
    const before = evenFirstProbability(parameters);
    const records = trainGrpo(parameters, evenFirstProblems, { ...OPTIONS, steps: 25, promptsPerStep: 6, groupSize: 8 });
    const after = evenFirstProbability(parameters);
    expect(before).toBeLessThan(0.2);
    expect(after).toBeGreaterThan(0.6);
    const meanOf = (part: typeof records) => part.reduce((sum, record) => sum + record.meanReward, 0) / part.length;
    expect(meanOf(records.slice(-5))).toBeGreaterThan(meanOf(records.slice(0, 5)) + 0.3);
  });

  it("refuses settings under which GRPO cannot learn, saying why", () => {
    const parameters = initQwen2Parameters(SMALL, 21, Float32Array);
    expect(() => trainGrpo(parameters, evenFirstProblems, { ...OPTIONS, groupSize: 1 })).toThrow(/group size 1 must be at least 2/);
    expect(() => trainGrpo(parameters, evenFirstProblems, { ...OPTIONS, temperature: 0 })).toThrow(/temperature 0 must be above 0/);
    expect(() => trainGrpo(parameters, evenFirstProblems, { ...OPTIONS, promptsPerStep: 7 })).toThrow(/between 1 and the 6 problems/);
  });
});
