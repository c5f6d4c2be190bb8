import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloatArray } from "../src/testmodels/training/floatArrays.ts";
import { packSequences, type WeightedSequence } from "../src/testmodels/training/packSequences.ts";
import { splitPackedBatch, startGradientWorkers, type GradientWorkers } from "../src/testmodels/training/parallelGradients.ts";
import { qwen2LossAndGradients, singleThreadLossAndGradients, type LossAndGradients } from "../src/testmodels/training/qwen2Model.ts";
import { initQwen2Parameters, type Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { trainGrpo, type GrpoProblem } from "../src/testmodels/training/trainGrpo.ts";
import { supervisedBatch, trainSupervised, type SupervisedExample } from "../src/testmodels/training/trainSupervised.ts";
import { toyTaskSplit } from "../src/testmodels/training/toyTasks.ts";
import { encodeToyText, TOY_VOCAB_SIZE, toyChatPrompt } from "../src/testmodels/training/toyTokenizer.ts";
import { SMALL_GRPO_OPTIONS, SMALL_TOY_SHAPE } from "./helpers/toyTrainingFixtures.ts";

const SMALL = SMALL_TOY_SHAPE;

const examples: SupervisedExample[] = toyTaskSplit("toy-own", { seed: 11, testCount: 0, trainCount: 24 }).train.map((problem) => ({
  promptIds: encodeToyText(toyChatPrompt(problem.prompt)),
  answerIds: encodeToyText(`${problem.target}<|im_end|>`),
}));
const batchOf = (count: number): WeightedSequence[] => supervisedBatch(examples.slice(0, count));

const bytesOf = (result: LossAndGradients) =>
  createHash("sha256")
    .update(String(result.loss))
    .update(Buffer.concat([...result.gradients].map(([name, values]) => Buffer.concat([Buffer.from(name), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]))))
    .digest("hex");

function largestMagnitude(values: FloatArray): number {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, Math.abs(value));
  return largest;
}

/** Every tensor of `actual` within 1e-5 of the largest magnitude of the same tensor of `expected`; the losses within 1e-5 relative. */
function expectCloseGradients(actual: LossAndGradients, expected: LossAndGradients) {
  expect(Math.abs(actual.loss - expected.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(expected.loss));
  expect([...actual.gradients.keys()]).toEqual([...expected.gradients.keys()]);
  for (const [name, values] of expected.gradients) {
    const scale = largestMagnitude(values);
    const got = actual.gradients.get(name)!;
    expect(got, name).toBeInstanceOf(Float32Array);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(got[i]! - values[i]!));
    expect(worst, name).toBeLessThanOrEqual(1e-5 * scale);
  }
}

describe("splitting a packed batch at a sequence boundary", () => {
  const sequence = (length: number, first: number): WeightedSequence => ({
    ids: Array.from({ length }, (_, t) => (first + t) % TOY_VOCAB_SIZE),
    lossWeights: Array.from({ length }, (_, t) => (t === 0 ? 0 : 0.1 * t)),
  });

  it("splits where the first half's rows come closest to half of all rows, each half what packSequences makes of its sequences", () => {
    // Rows 3, 5, 2, 6: boundaries after 3, 8, 10 of 16 rows; after 8 is exactly half.
    const sequences = [sequence(3, 1), sequence(5, 7), sequence(2, 20), sequence(6, 30)];
    expect(splitPackedBatch(packSequences(sequences))).toEqual([packSequences(sequences.slice(0, 2)), packSequences(sequences.slice(2))]);
  });

  it("takes the earlier boundary on a tie, and never leaves a half empty", () => {
    // Rows 2, 4, 2: boundaries after 2 and 6 of 8 rows, both 2 rows from half.
    const tie = [sequence(2, 1), sequence(4, 5), sequence(2, 9)];
    expect(splitPackedBatch(packSequences(tie))).toEqual([packSequences(tie.slice(0, 1)), packSequences(tie.slice(1))]);
    // One long sequence first: the only boundary that leaves both halves something is after it.
    const skewed = [sequence(20, 1), sequence(2, 5), sequence(2, 9)];
    expect(splitPackedBatch(packSequences(skewed))).toEqual([packSequences(skewed.slice(0, 1)), packSequences(skewed.slice(1))]);
  });

  it("leaves a batch of one sequence whole", () => {
    expect(splitPackedBatch(packSequences([sequence(5, 1)]))).toBeUndefined();
  });
});

describe("data-parallel gradients on two threads", () => {
  let workers: GradientWorkers;
  let parameters: Qwen2Parameters;
  beforeAll(() => {
    workers = startGradientWorkers(SMALL);
    parameters = initQwen2Parameters(SMALL, 7, Float32Array);
  });
  afterAll(() => workers.close());

  it("equals the single-threaded loss and gradients of the whole batch within float32 round-off", () => {
    const sequences = batchOf(9);
    const halves = splitPackedBatch(packSequences(sequences))!;
    expect(halves[0].ids.length).toBeGreaterThan(0);
    expect(halves[1].ids.length).toBeGreaterThan(0);
    expectCloseGradients(workers.lossAndGradients(parameters, sequences), qwen2LossAndGradients(parameters, packSequences(sequences)));
  });

  it("is the same bytes on every run, from the same workers and from new ones", async () => {
    const sequences = batchOf(12);
    const first = bytesOf(workers.lossAndGradients(parameters, sequences));
    expect(bytesOf(workers.lossAndGradients(parameters, sequences))).toBe(first);
    const others = startGradientWorkers(SMALL);
    try {
      expect(bytesOf(others.lossAndGradients(parameters, sequences))).toBe(first);
    } finally {
      await others.close();
    }
  });

  it("computes a one-sequence batch on the calling thread: the single-threaded bytes", () => {
    const sequences = batchOf(1);
    expect(bytesOf(workers.lossAndGradients(parameters, sequences))).toBe(bytesOf(qwen2LossAndGradients(parameters, packSequences(sequences))));
  });

  it("reads the parameters of each call: after an update, the result follows the new values", () => {
    const sequences = batchOf(6);
    const updated = initQwen2Parameters(SMALL, 8, Float32Array);
    expectCloseGradients(workers.lossAndGradients(updated, sequences), qwen2LossAndGradients(updated, packSequences(sequences)));
    expectCloseGradients(workers.lossAndGradients(parameters, sequences), qwen2LossAndGradients(parameters, packSequences(sequences)));
  });

  it("reports an error thrown on the worker's half as an error of the call, and goes on working", () => {
    const sequences = batchOf(4);
    const bad = { ids: [...sequences[3]!.ids.slice(0, -1), TOY_VOCAB_SIZE + 5], lossWeights: sequences[3]!.lossWeights };
    expect(() => workers.lossAndGradients(parameters, [...sequences.slice(0, 3), bad])).toThrow(/gradient worker failed on sequences 2 to 3: .*token id 52 .*outside the vocabulary of 47/);
    expectCloseGradients(workers.lossAndGradients(parameters, sequences), qwen2LossAndGradients(parameters, packSequences(sequences)));
  });

  it("reports an error of the calling thread's half after the worker has answered; the worker's error of that call does not linger", () => {
    const sequences = batchOf(4);
    const withToken = (sequence: WeightedSequence, id: number) => ({ ids: [...sequence.ids.slice(0, -1), id], lossWeights: sequence.lossWeights });
    const bothBad = [withToken(sequences[0]!, TOY_VOCAB_SIZE + 1), ...sequences.slice(1, 3), withToken(sequences[3]!, TOY_VOCAB_SIZE + 2)];
    expect(() => workers.lossAndGradients(parameters, bothBad)).toThrow(/^token id 48 .*outside the vocabulary of 47/);
    const workerBad = [...sequences.slice(0, 3), withToken(sequences[3]!, TOY_VOCAB_SIZE + 3)];
    expect(() => workers.lossAndGradients(parameters, workerBad)).toThrow(/gradient worker failed on sequences 2 to 3: token id 50 /);
    expectCloseGradients(workers.lossAndGradients(parameters, sequences), qwen2LossAndGradients(parameters, packSequences(sequences)));
  });

  it("refuses parameters it was not started for, naming the tensor", () => {
    const float64 = initQwen2Parameters(SMALL, 7, Float64Array);
    expect(() => workers.lossAndGradients(float64, batchOf(4))).toThrow(/float32 parameters; model\.embed_tokens\.weight is a Float64Array/);
    const wider = initQwen2Parameters({ ...SMALL, intermediateSize: 96 }, 7, Float32Array);
    expect(() => workers.lossAndGradients(wider, batchOf(4))).toThrow(/model\.layers\.0\.mlp\.gate_proj\.weight holds 3072 values; the gradient workers were started for 2048/);
  });
});

describe("the gradient worker's life", () => {
  it("a worker that does not answer in time is an error, not a hang, and the workers stay unusable", async () => {
    // The worker's first answer needs its start (loading TypeScript) and a long sequence; the caller's half is two tokens.
    const sequences: WeightedSequence[] = [
      { ids: [1, 2], lossWeights: [0, 1] },
      { ids: Array.from({ length: 120 }, (_, t) => t % TOY_VOCAB_SIZE), lossWeights: Array.from({ length: 120 }, (_, t) => (t === 0 ? 0 : 1)) },
    ];
    const workers = startGradientWorkers(SMALL, { answerTimeoutMs: 1 });
    const parameters = initQwen2Parameters(SMALL, 7, Float32Array);
    expect(() => workers.lossAndGradients(parameters, sequences)).toThrow(/gradient worker did not answer within 1 ms; it is stopped/);
    expect(() => workers.lossAndGradients(parameters, sequences)).toThrow(/unusable after an earlier failure/);
    await workers.close();
  });

  it("close() ends the worker thread; a call after it is an error", async () => {
    const workers = startGradientWorkers(SMALL);
    const parameters = initQwen2Parameters(SMALL, 7, Float32Array);
    workers.lossAndGradients(parameters, batchOf(3));
    await workers.close();
    expect(() => workers.lossAndGradients(parameters, batchOf(3))).toThrow(/gradient workers are closed/);
  });

  describe("under tsx, as the training scripts run", () => {
    let folder: string;
    beforeAll(async () => {
      folder = await mkdtemp(join(tmpdir(), "parallel-gradients-"));
    });
    afterAll(() => rm(folder, { recursive: true, force: true }));

    /** Runs a script with `npx tsx` that computes one batch on two threads and prints its loss and that of the single-threaded pass. */
    async function runScript(closeAtEnd: boolean): Promise<string> {
      const module = (path: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, path)).href);
      const script = join(folder, `step-${closeAtEnd}.mts`);
      await writeFile(
        script,
        `import { startGradientWorkers } from ${module("../src/testmodels/training/parallelGradients.ts")};
import { singleThreadLossAndGradients } from ${module("../src/testmodels/training/qwen2Model.ts")};
import { initQwen2Parameters } from ${module("../src/testmodels/training/qwen2Parameters.ts")};
const shape = ${JSON.stringify(SMALL)};
const sequences = ${JSON.stringify(batchOf(5))};
const parameters = initQwen2Parameters(shape, 7, Float32Array);
const workers = startGradientWorkers(shape);
const parallel = workers.lossAndGradients(parameters, sequences).loss;
console.log(JSON.stringify([parallel, singleThreadLossAndGradients(parameters, sequences).loss]));
${closeAtEnd ? "await workers.close();" : ""}
`,
      );
      const { stdout } = await promisify(execFile)("npx", ["tsx", script], { cwd: join(import.meta.dirname, ".."), timeout: 60_000 });
      return stdout;
    }

    for (const closeAtEnd of [true, false]) {
      it(`loads the worker and the process exits ${closeAtEnd ? "after close()" : "without close() (the worker does not hold it)"}`, async () => {
        const [parallel, single] = JSON.parse(await runScript(closeAtEnd)) as [number, number];
        expect(Math.abs(parallel - single)).toBeLessThanOrEqual(1e-5 * single);
      });
    }
  });
});

describe("the trainers' lossAndGradients option", () => {
  it("trainSupervised computes every step with it; two-threaded training is reproducible and close to single-threaded", async () => {
    const options = { steps: 4, batchSize: 8, seed: 3, adamW: { learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01 }, maxGradientNorm: 1, warmupSteps: 1, minLearningRateFraction: 0.1 };
    const single = trainSupervised(initQwen2Parameters(SMALL, 5, Float32Array), examples, options);
    const workers = startGradientWorkers(SMALL);
    try {
      const runTwoThreaded = () => {
        let calls = 0;
        const parameters = initQwen2Parameters(SMALL, 5, Float32Array);
        const records = trainSupervised(parameters, examples, {
          ...options,
          lossAndGradients: (stepParameters, sequences) => {
            calls++;
            return workers.lossAndGradients(stepParameters, sequences);
          },
        });
        return { calls, records, bytes: createHash("sha256").update(Buffer.concat([...parameters.tensors.values()].map((values) => Buffer.from(values.buffer)))).digest("hex") };
      };
      const first = runTwoThreaded();
      expect(first.calls).toBe(4);
      expect(runTwoThreaded()).toEqual(first);
      // The first step's loss is of the same parameters, so within round-off; later steps drift a little through AdamW.
      expect(Math.abs(first.records[0]!.loss - single[0]!.loss)).toBeLessThanOrEqual(1e-5 * single[0]!.loss);
      first.records.forEach((record, index) => expect(Math.abs(record.loss - single[index]!.loss)).toBeLessThanOrEqual(1e-3 * single[index]!.loss));
    } finally {
      await workers.close();
    }
  });

  it("trainGrpo computes every informative step with it, and by default with the single-threaded pass", () => {
    const prompts = ["rev 123", "rev 4567", "9+9=", "rev 00"].map((text) => encodeToyText(toyChatPrompt(text)));
    const problems: GrpoProblem[] = prompts.map((promptIds) => ({ promptIds, reward: (sampled) => (sampled.ids[0]! % 2 === 0 ? 1 : 0) }));
    const options = { ...SMALL_GRPO_OPTIONS, promptsPerStep: 2, groupSize: 4 };
    const byDefault = trainGrpo(initQwen2Parameters(SMALL, 9, Float32Array), problems, options);
    let calls = 0;
    const counted = trainGrpo(initQwen2Parameters(SMALL, 9, Float32Array), problems, {
      ...options,
      lossAndGradients: (parameters, sequences) => {
        calls++;
        return singleThreadLossAndGradients(parameters, sequences);
      },
    });
    expect(counted).toEqual(byDefault);
    expect(calls).toBe(byDefault.filter((record) => record.informativeGroups > 0).length);
    expect(calls).toBeGreaterThan(0);
  });
});
