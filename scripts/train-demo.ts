/**
 * A first supervised run for the toy demo: trains a base model from the shared initialisation on a
 * mix of the two toy tasks and reports the loss as it goes, then greedy exact-match accuracy on the
 * held-out test sets, with timings: to learn what size and how many steps the demo models need.
 *
 *   npx tsx scripts/train-demo.ts [--steps 300] [--batch 32] [--lr 3e-3] [--eval 200] [--out DIR]
 *     [--hidden 128] [--intermediate 256] [--layers 4]      (the shape, TOY_SHAPE's by default)
 *     [--reasoning toy-reasoning|toy-reasoning-worked]     (the addition task of the mix; toy-own is the other)
 *
 * --out writes the trained model as a Hugging Face folder (not committed: the demo's weights come
 * from `npm run train:demo` once the recipe is settled).
 */
import { parseArgs } from "node:util";
import { initQwen2Parameters, type Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { sampleCompletion } from "../src/testmodels/training/sampleCompletion.ts";
import { trainSupervised, type SupervisedExample } from "../src/testmodels/training/trainSupervised.ts";
import { TOY_SHAPE } from "../src/testmodels/training/toyShape.ts";
import { TOY_TEST_SET, toyTaskSplit, type ToyProblem, type ToyTaskName } from "../src/testmodels/training/toyTasks.ts";
import { decodeToyIds, encodeToyText, TOY_TOKEN_IDS, toyChatPrompt } from "../src/testmodels/training/toyTokenizer.ts";
import { writeTrainedModel } from "../src/testmodels/training/writeTrainedModel.ts";

const INIT_SEED = 2509;

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "300" },
    batch: { type: "string", default: "32" },
    lr: { type: "string", default: "3e-3" },
    train: { type: "string", default: "20000" },
    eval: { type: "string", default: "200" },
    "report-every": { type: "string", default: "25" },
    out: { type: "string" },
    hidden: { type: "string", default: String(TOY_SHAPE.hiddenSize) },
    intermediate: { type: "string", default: String(TOY_SHAPE.intermediateSize) },
    layers: { type: "string", default: String(TOY_SHAPE.numLayers) },
    reasoning: { type: "string", default: "toy-reasoning" },
  },
});

function positiveNumber(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not ${JSON.stringify(text)}`);
  return value;
}

const steps = positiveNumber("steps", values.steps);
const batchSize = positiveNumber("batch", values.batch);
const learningRate = positiveNumber("lr", values.lr);
const trainCount = positiveNumber("train", values.train);
const evalCount = positiveNumber("eval", values.eval);
const reportEvery = positiveNumber("report-every", values["report-every"]);
const shape = {
  ...TOY_SHAPE,
  hiddenSize: positiveNumber("hidden", values.hidden),
  intermediateSize: positiveNumber("intermediate", values.intermediate),
  numLayers: positiveNumber("layers", values.layers),
};

const toExample = (problem: ToyProblem): SupervisedExample => ({
  promptIds: encodeToyText(toyChatPrompt(problem.prompt)),
  answerIds: encodeToyText(`${problem.target}<|im_end|>`),
});

/** Greedy exact match: the completion up to <|im_end|> must be the target. Prints the first few answers. */
function accuracy(parameters: Qwen2Parameters, problems: readonly ToyProblem[]): number {
  let correct = 0;
  problems.forEach((problem, index) => {
    const { ids } = sampleCompletion(parameters, encodeToyText(toyChatPrompt(problem.prompt)), { maxNewTokens: 12, stopIds: [TOY_TOKEN_IDS.imEnd, TOY_TOKEN_IDS.endOfText], temperature: 0 });
    const answer = decodeToyIds(ids.filter((id) => id !== TOY_TOKEN_IDS.imEnd && id !== TOY_TOKEN_IDS.endOfText));
    if (answer === problem.target) correct++;
    if (index < 4) console.log(`  ${problem.prompt} -> ${JSON.stringify(answer)} (target ${problem.target})`);
  });
  return correct / problems.length;
}

const reasoningTask = values.reasoning as ToyTaskName;
if (reasoningTask !== "toy-reasoning" && reasoningTask !== "toy-reasoning-worked") throw new Error(`--reasoning must be toy-reasoning or toy-reasoning-worked, not ${JSON.stringify(values.reasoning)}`);
const tasks: ToyTaskName[] = [reasoningTask, "toy-own"];
const splits = Object.fromEntries(tasks.map((task) => [task, toyTaskSplit(task, { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: trainCount / 2 })]));
// Interleaved, so any stretch of the seeded order holds both tasks about equally.
const mix = splits[reasoningTask]!.train.flatMap((problem, i) => [problem, splits["toy-own"]!.train[i]!]).map(toExample);

const parameters = initQwen2Parameters(shape, INIT_SEED, Float32Array);
const parameterCount = [...parameters.tensors.values()].reduce((sum, tensor) => sum + tensor.length, 0);
const tokensPerStep = mix.slice(0, batchSize).reduce((sum, example) => sum + example.promptIds.length + example.answerIds.length, 0);
console.log(`toy model: ${parameterCount} parameters (${JSON.stringify(shape)})`);
console.log(`training on ${mix.length} problems (both tasks), ${steps} steps of ${batchSize} (about ${tokensPerStep} tokens a step), peak lr ${learningRate}`);

const started = performance.now();
let windowLoss = 0;
trainSupervised(parameters, mix, {
  steps,
  batchSize,
  seed: INIT_SEED,
  adamW: { learningRate, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01 },
  maxGradientNorm: 1,
  warmupSteps: Math.min(50, Math.ceil(steps / 10)),
  minLearningRateFraction: 0.1,
  onStep: (step, loss) => {
    windowLoss += loss;
    if (step % reportEvery === 0 || step === steps) {
      const seconds = (performance.now() - started) / 1000;
      console.log(`step ${step}: mean answer loss ${(windowLoss / (step % reportEvery || reportEvery)).toFixed(4)}, ${seconds.toFixed(1)} s, ${(step / seconds).toFixed(2)} steps/s`);
      windowLoss = 0;
    }
  },
});
const trainSeconds = (performance.now() - started) / 1000;
console.log(`trained in ${trainSeconds.toFixed(1)} s (${(steps / trainSeconds).toFixed(2)} steps/s)`);

for (const task of tasks) {
  const evalStarted = performance.now();
  const problems = splits[task]!.test.slice(0, evalCount);
  const score = accuracy(parameters, problems);
  console.log(`${task}: greedy exact match ${(100 * score).toFixed(1)}% of ${problems.length} held-out problems (${((performance.now() - evalStarted) / 1000).toFixed(1)} s)`);
}
if (values.out !== undefined) {
  await writeTrainedModel(values.out, parameters);
  console.log(`wrote ${values.out}`);
}
