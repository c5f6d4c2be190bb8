import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import type { Qwen2Shape } from "../src/testmodels/qwen2Shape.ts";
import { splitMix32 } from "../src/testmodels/seededGaussian.ts";
import { adamWStep, clipGradientNorm, createAdamWState, type AdamWSettings } from "../src/testmodels/training/adamW.ts";
import type { FloatArray } from "../src/testmodels/training/floatArrays.ts";
import { packSequences } from "../src/testmodels/training/packSequences.ts";
import { qwen2Forward } from "../src/testmodels/training/qwen2Model.ts";
import { initQwen2Parameters, type Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { sampleCompletion } from "../src/testmodels/training/sampleCompletion.ts";
import { scheduledLearningRate, trainSupervised, type SupervisedExample, type SupervisedTrainingOptions } from "../src/testmodels/training/trainSupervised.ts";
import { toyTaskSplit } from "../src/testmodels/training/toyTasks.ts";
import { encodeToyText, TOY_TOKEN_IDS, TOY_VOCAB_SIZE, toyChatPrompt } from "../src/testmodels/training/toyTokenizer.ts";
import { writeTrainedModel } from "../src/testmodels/training/writeTrainedModel.ts";
import { referenceLogits, type ReferenceShape } from "./helpers/qwen2Reference.ts";
import { readTestModel } from "./helpers/readTestModel.ts";
import { SMALL_TOY_SHAPE } from "./helpers/toyTrainingFixtures.ts";

const SMALL = SMALL_TOY_SHAPE;

const referenceShape = (shape: Qwen2Shape): ReferenceShape => ({ ...shape, headDim: shape.hiddenSize / shape.numHeads });
const asFloat64 = (parameters: Qwen2Parameters) => (name: string) => Float64Array.from(parameters.tensors.get(name)!);

const examples: SupervisedExample[] = toyTaskSplit("toy-own", { seed: 11, testCount: 0, trainCount: 24 }).train.map((problem) => ({
  promptIds: encodeToyText(toyChatPrompt(problem.prompt)),
  answerIds: encodeToyText(`${problem.target}<|im_end|>`),
}));

const ADAMW: AdamWSettings = { learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01 };
const OPTIONS: SupervisedTrainingOptions = { steps: 30, batchSize: 8, seed: 3, adamW: ADAMW, maxGradientNorm: 1, warmupSteps: 5, minLearningRateFraction: 0.1 };

/** The mean cross-entropy over every answer token of `batch`, from the float64 reference forward pass (test/helpers/qwen2Reference.ts). */
function referenceAnswerLoss(shape: Qwen2Shape, parameters: Qwen2Parameters, batch: readonly SupervisedExample[]): number {
  let total = 0;
  let count = 0;
  for (const { promptIds, answerIds } of batch) {
    const ids = [...promptIds, ...answerIds];
    const logits = referenceLogits(referenceShape(shape), asFloat64(parameters), ids);
    for (let t = promptIds.length; t < ids.length; t++) {
      const row = Array.from(logits.subarray((t - 1) * shape.vocabSize, t * shape.vocabSize));
      const max = Math.max(...row);
      total += max + Math.log(row.reduce((sum, logit) => sum + Math.exp(logit - max), 0)) - row[ids[t]!]!;
      count++;
    }
  }
  return total / count;
}

const bytesOf = (parameters: Qwen2Parameters) => createHash("sha256").update(Buffer.concat([...parameters.tensors.values()].map((values) => Buffer.from(values.buffer, values.byteOffset, values.byteLength)))).digest("hex");

describe("supervised training of a toy-vocabulary Qwen2 model (float32)", () => {
  it("is deterministic: two runs of 12 steps give the same losses and the same parameter bytes", () => {
    const run = () => {
      const parameters = initQwen2Parameters(SMALL, 5, Float32Array);
      const records = trainSupervised(parameters, examples, { ...OPTIONS, steps: 12 });
      return { records, bytes: bytesOf(parameters) };
    };
    const first = run();
    const second = run();
    expect(second.records).toEqual(first.records);
    expect(second.bytes).toBe(first.bytes);
    expect(first.bytes).not.toBe(bytesOf(initQwen2Parameters(SMALL, 5, Float32Array)));
  });

  it("lowers the answer loss over 30 steps; every step's loss is the float64 reference forward pass's on the weights before that step", () => {
    const parameters = initQwen2Parameters(SMALL, 5, Float32Array);
    // Full batches, so each step's loss is over all examples whatever their shuffled order.
    const expected: number[] = [referenceAnswerLoss(SMALL, parameters, examples)];
    const records = trainSupervised(parameters, examples, {
      ...OPTIONS,
      batchSize: examples.length,
      onStep: (step) => {
        if (step < 4) expected.push(referenceAnswerLoss(SMALL, parameters, examples));
      },
    });
    // The trainer runs in float32: its loss differs from the float64 pass by rounding, about 1e-6 relative.
    for (let step = 0; step < expected.length; step++) {
      expect(Math.abs(records[step]!.loss - expected[step]!) / expected[step]!, `step ${step}: ${records[step]!.loss} against ${expected[step]}`).toBeLessThan(1e-5);
    }
    // Untrained: about ln(47) = 3.85 per token.
    expect(records[0]!.loss).toBeGreaterThan(3.5);
    expect(records.at(-1)!.loss).toBeLessThan(0.6 * records[0]!.loss);
  });

  it("starts from the weights generateQwen2Model writes for the same seed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "training-init-"));
    try {
      await generateQwen2Model({ dir, shape: SMALL, dtype: "F32", initSeed: 5 });
      const written = await readTestModel(dir);
      const parameters = initQwen2Parameters(SMALL, 5, Float32Array);
      expect([...written.keys()]).toEqual([...parameters.tensors.keys()]);
      for (const [name, values] of parameters.tensors) expect(Buffer.from(written.get(name)!.data).equals(Buffer.from(values.buffer)), name).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

it("refuses a sequence longer than the model's positions, and a token outside its vocabulary, naming them", () => {
  const parameters = initQwen2Parameters({ ...SMALL, maxPositionEmbeddings: 4 }, 1, Float32Array);
  const sequence = (ids: number[]) => packSequences([{ ids, lossWeights: new Array<number>(ids.length).fill(0) }]);
  expect(() => qwen2Forward(parameters, sequence([1, 2, 3, 4, 5]))).toThrow("a sequence of 5 tokens is longer than the model's 4 positions (max_position_embeddings)");
  expect(() => qwen2Forward(parameters, sequence([1, 47]))).toThrow("token id 47 at position 1 is outside the vocabulary of 47 rows");
});

describe("AdamW and gradient clipping, against the formulas", () => {
  it("two AdamW steps with decoupled weight decay on a matrix, none on a norm or a bias", () => {
    const settings: AdamWSettings = { learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.5 };
    const tensors = new Map<string, FloatArray>([
      ["a.weight", Float64Array.from([1, -2])],
      ["a.norm.weight", Float64Array.from([3])],
      ["a.bias", Float64Array.from([0.5])],
    ]);
    const parameters: Qwen2Parameters = { shape: SMALL, tensors };
    const state = createAdamWState(parameters);
    const grads = [
      [0.5, -1, 2, 4],
      [-0.25, 3, 1, -4],
    ];
    // By hand: step 1 has m / (1 - b1) = g and v / (1 - b2) = g^2, so the update is lr g / (|g| + eps) (about lr sign(g)).
    const signStep = (g: number) => (0.1 * g) / (Math.abs(g) + 1e-8);
    const step1 = [1 * (1 - 0.05) - signStep(0.5), -2 * (1 - 0.05) - signStep(-1), 3 - signStep(2), 0.5 - signStep(4)];
    for (const [step, g] of grads.entries()) {
      adamWStep(parameters, new Map([
        ["a.weight", Float64Array.from(g.slice(0, 2))],
        ["a.norm.weight", Float64Array.from([g[2]!])],
        ["a.bias", Float64Array.from([g[3]!])],
      ]), state, settings);
      const values = [...tensors.get("a.weight")!, ...tensors.get("a.norm.weight")!, ...tensors.get("a.bias")!];
      if (step === 0) values.forEach((value, i) => expect(value).toBeCloseTo(step1[i]!, 12));
      else {
        const expected = step1.map((before, i) => {
          const m = 0.9 * 0.1 * grads[0]![i]! + 0.1 * g[i]!;
          const v = 0.999 * 0.001 * grads[0]![i]! ** 2 + 0.001 * g[i]! ** 2;
          const decay = i < 2 ? 1 - 0.1 * 0.5 : 1;
          return before * decay - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
        });
        values.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 12));
      }
    }
  });

  it("schedules the learning rate: linear warm-up to the peak, then a cosine down to the floor at the last step", () => {
    const schedule = { steps: 110, warmupSteps: 10, minLearningRateFraction: 0.1, peak: 2 };
    expect(scheduledLearningRate(1, schedule)).toBeCloseTo(0.2, 12);
    expect(scheduledLearningRate(10, schedule)).toBeCloseTo(2, 12);
    expect(scheduledLearningRate(60, schedule)).toBeCloseTo(0.2 + 1.8 * 0.5, 12);
    expect(scheduledLearningRate(110, schedule)).toBeCloseTo(0.2, 12);
  });

  it("clips the global norm of all gradients together, and leaves a smaller one alone", () => {
    const gradients = new Map<string, FloatArray>([
      ["a", Float64Array.from([3, 0])],
      ["b", Float64Array.from([4])],
    ]);
    expect(clipGradientNorm(gradients, 10)).toBe(5);
    expect([...gradients.get("a")!, ...gradients.get("b")!]).toEqual([3, 0, 4]);
    expect(clipGradientNorm(gradients, 1)).toBe(5);
    const scale = 1 / (5 + 1e-6);
    expect([...gradients.get("a")!, ...gradients.get("b")!]).toEqual([3 * scale, 0, 4 * scale]);
  });
});

describe("a trained model written as a Hugging Face folder", () => {
  let dir: string;
  let parameters: Qwen2Parameters;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "training-written-"));
    parameters = initQwen2Parameters(SMALL, 9, Float32Array);
    trainSupervised(parameters, examples, { ...OPTIONS, steps: 20 });
    await writeTrainedModel(dir, parameters);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("holds the parameters' float32 bytes under transformers' names", async () => {
    const written = await readTestModel(dir);
    expect([...written.keys()]).toEqual([...parameters.tensors.keys()]);
    for (const [name, values] of parameters.tensors) {
      expect(written.get(name)!.dtype).toBe("F32");
      expect(Buffer.from(written.get(name)!.data).equals(Buffer.from(values.buffer)), name).toBe(true);
    }
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ vocab_size: TOY_VOCAB_SIZE, hidden_size: 32, tie_word_embeddings: true, eos_token_id: TOY_TOKEN_IDS.imEnd, torch_dtype: "float32" });
  });

  it("gives, through the evaluator's ONNX graph (f32, onnxruntime-node), the trainer's logits within 1e-5 of their scale", async () => {
    const model = await inspectModel(await openFolderSource(dir));
    const built = await buildQwen2Onnx(model.config!, { format: "f32", loadTensor: modelTensorLoader(model) });
    const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
    try {
      for (const example of examples.slice(0, 3)) {
        const ids = [...example.promptIds, ...example.answerIds];
        decoder.reset();
        const onnx = await decoder.forward(ids);
        const trainer = qwen2Forward(parameters, packSequences([{ ids, lossWeights: new Array<number>(ids.length).fill(0) }])).logits;
        // Both compute in float32 with different summation orders: about 1e-6 of the scale apart (as the evaluator's own f32 tolerance).
        let scale = 0;
        let difference = 0;
        for (let i = 0; i < trainer.length; i++) {
          scale = Math.max(scale, Math.abs(trainer[i]!));
          difference = Math.max(difference, Math.abs(onnx[i]! - trainer[i]!));
        }
        expect(onnx.length).toBe(trainer.length);
        expect(difference / scale).toBeLessThan(1e-5);
      }
    } finally {
      await decoder.release();
    }
  });
});

describe("sampling completions", () => {
  const parameters = initQwen2Parameters(SMALL, 13, Float32Array);
  beforeAll(() => {
    trainSupervised(parameters, examples, { ...OPTIONS, steps: 20 });
  });
  const prompt = examples[0]!.promptIds;

  it("greedy: each token is the argmax of the float64 reference's last logits (margins checked)", () => {
    const completion = sampleCompletion(parameters, prompt, { maxNewTokens: 6, stopIds: [], temperature: 0 });
    expect(completion.ids.length).toBe(6);
    const sequence = [...prompt];
    for (const token of completion.ids) {
      const logits = Array.from(referenceLogits(referenceShape(SMALL), asFloat64(parameters), sequence).slice(-SMALL.vocabSize));
      const sorted = [...logits].sort((a, b) => b - a);
      expect(sorted[0]! - sorted[1]!).toBeGreaterThan(1e-4);
      expect(token).toBe(logits.indexOf(sorted[0]!));
      sequence.push(token);
    }
  });

  it("at a temperature: the same seed gives the same tokens, log-probabilities are the reference's log-softmax, a stop id ends it", () => {
    const options = { maxNewTokens: 8, stopIds: [TOY_TOKEN_IDS.imEnd], temperature: 1.5 };
    const first = sampleCompletion(parameters, prompt, { ...options, rng: splitMix32(77) });
    expect(sampleCompletion(parameters, prompt, { ...options, rng: splitMix32(77) })).toEqual(first);
    const seeds = Array.from({ length: 8 }, (_, seed) => sampleCompletion(parameters, prompt, { ...options, rng: splitMix32(seed) }).ids.join(","));
    expect(new Set(seeds).size, "different seeds sample different completions").toBeGreaterThan(1);
    const sequence = [...prompt];
    first.ids.forEach((token, index) => {
      const logits = Array.from(referenceLogits(referenceShape(SMALL), asFloat64(parameters), sequence).slice(-SMALL.vocabSize));
      const max = Math.max(...logits);
      const logSoftmax = logits[token]! - max - Math.log(logits.reduce((sum, logit) => sum + Math.exp(logit - max), 0));
      expect(first.logProbabilities[index]).toBeCloseTo(logSoftmax, 5);
      sequence.push(token);
    });
    if (first.stopped) expect(first.ids.at(-1)).toBe(TOY_TOKEN_IDS.imEnd);
    else expect(first.ids.length).toBe(8);
  });
});
