/**
 * Trains the toy demo's four models and writes them, with their manifest, into models/toy/
 * (`npm run train:demo`): Toy-Base from the initial weights on both toy tasks, Toy-Instruct (the
 * target) and Toy-SFT (minus) from Toy-Base, Toy-GRPO (plus) from Toy-SFT. It prints each stage's
 * progress, each model's greedy accuracy on the held-out sets and the task arithmetic at alpha -1
 * and 1 (in float32 here; `merge-studio eval` is the measurement of record). The recipe is
 * TOY_DEMO_RECIPE (src/testmodels/training/toyDemoTraining.ts), each step's gradients on two
 * threads (parallelGradients.ts); the run is deterministic, so the
 * committed files' SHA-256 in models/toy/toy-demo.json are what any rerun on this machine writes.
 *
 *   npm run train:demo -- [--out models/toy] [--eval 500]
 *     --eval N            held-out problems per task for the accuracies it reports (all 500 by default)
 *     --from DIR          reuse DIR/Toy-Base.safetensors instead of training it (to try later stages)
 *     --override JSON     changes to the recipe, e.g. '{"grpo":{"steps":50}}' (recorded in the manifest)
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startGradientWorkers } from "../src/testmodels/training/parallelGradients.ts";
import { sha256Hex } from "../src/testmodels/training/readToyDemoModels.ts";
import { readTrainedModel } from "../src/testmodels/training/readTrainedModel.ts";
import type { Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { TOY_DEMO_MANIFEST_FILE, type ToyDemoModelName } from "../src/testmodels/training/toyDemoManifest.ts";
import {
  initialToyParameters,
  TOY_DEMO_RECIPE,
  toyGreedyAccuracy,
  toyTaskArithmetic,
  trainToyGrpoStage,
  trainToySupervisedStage,
  type SupervisedStage,
  type ToyDemoRecipe,
} from "../src/testmodels/training/toyDemoTraining.ts";
import { TOY_TASK_NAMES, TOY_TEST_SET, toyTaskSplit } from "../src/testmodels/training/toyTasks.ts";
import { writeTrainedModel } from "../src/testmodels/training/writeTrainedModel.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: fileURLToPath(new URL("../models/toy", import.meta.url)) },
    eval: { type: "string", default: String(TOY_TEST_SET.count) },
    from: { type: "string" },
    override: { type: "string" },
  },
});

const evalCount = Number(values.eval);
if (!Number.isInteger(evalCount) || evalCount < 1 || evalCount > TOY_TEST_SET.count) throw new Error(`--eval must be a whole number from 1 to ${TOY_TEST_SET.count}, not ${JSON.stringify(values.eval)}`);

function mergeDeep(base: unknown, change: unknown): unknown {
  if (typeof change !== "object" || change === null || Array.isArray(change)) return change;
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(change)) {
    if (!(key in result)) throw new Error(`--override: the recipe has no field ${JSON.stringify(key)}`);
    result[key] = mergeDeep(result[key], value);
  }
  return result;
}
const recipe = (values.override === undefined ? TOY_DEMO_RECIPE : mergeDeep(TOY_DEMO_RECIPE, JSON.parse(values.override))) as ToyDemoRecipe;
const out = resolve(values.out);

const tests = Object.fromEntries(TOY_TASK_NAMES.map((task) => [task, toyTaskSplit(task, { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: 0 }).test.slice(0, evalCount)]));
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
const seconds: Record<string, number> = {};

function accuracies(name: string, parameters: Qwen2Parameters): Record<string, number> {
  const scores = Object.fromEntries(TOY_TASK_NAMES.map((task) => [task, toyGreedyAccuracy(parameters, tests[task]!)]));
  console.log(`${name}: ${TOY_TASK_NAMES.map((task) => `${task} ${(100 * scores[task]!).toFixed(1)}%`).join(", ")} (greedy, ${evalCount} held-out problems each) [${elapsed()}]`);
  return scores;
}

function supervised(name: string, start: Qwen2Parameters, stage: SupervisedStage) {
  const stageStarted = performance.now();
  let windowLoss = 0;
  const every = Math.max(1, Math.floor(stage.steps / 10));
  const result = trainToySupervisedStage(recipe, start, stage, name, {
    lossAndGradients: workers.lossAndGradients,
    onStep: (step, { loss }) => {
      windowLoss += loss;
      if (step % every === 0) {
        console.log(`  ${name} step ${step}/${stage.steps}: answer loss ${(windowLoss / every).toFixed(4)} [${elapsed()}]`);
        windowLoss = 0;
      }
    },
  });
  seconds[name] = (performance.now() - stageStarted) / 1000;
  return result;
}

console.log(`toy demo: ${JSON.stringify(recipe)}`);
// Every step's loss and gradients on two threads (the batch split at a fixed rule, so the bytes do not depend on the machine's cores).
const workers = startGradientWorkers(recipe.shape);
let base: Qwen2Parameters;
let firstBaseLosses: number[] | undefined;
if (values.from === undefined) {
  const trained = supervised("Toy-Base", initialToyParameters(recipe), recipe.base);
  base = trained.parameters;
  firstBaseLosses = trained.records.slice(0, 5).map((record) => record.loss);
} else {
  base = await readTrainedModel(join(values.from, "Toy-Base.safetensors"), recipe.shape);
  console.log(`Toy-Base: read from ${values.from}`);
}
const instruct = supervised("Toy-Instruct", base, recipe.instruct).parameters;
const sft = supervised("Toy-SFT", base, recipe.sft).parameters;
const grpoStarted = performance.now();
const grpo = trainToyGrpoStage(recipe, sft, {
  lossAndGradients: workers.lossAndGradients,
  onStep: (step, record) => {
    if (step % 5 === 0 || step === 1) console.log(`  Toy-GRPO step ${step}/${recipe.grpo.steps}: mean reward ${record.meanReward.toFixed(3)}, ${record.informativeGroups}/${recipe.grpo.promptsPerStep} groups informative, loss ${record.loss.toFixed(4)} [${elapsed()}]`);
  },
}).parameters;
await workers.close();
seconds["Toy-GRPO"] = (performance.now() - grpoStarted) / 1000;

const models: Record<ToyDemoModelName, Qwen2Parameters> = { "Toy-Base": base, "Toy-Instruct": instruct, "Toy-SFT": sft, "Toy-GRPO": grpo };
const accuracy = Object.fromEntries(Object.entries(models).map(([name, parameters]) => [name, accuracies(name, parameters)]));
const taskArithmetic = Object.fromEntries([-1, 1].map((alpha) => [String(alpha), accuracies(`Toy-Instruct + ${alpha} * (Toy-GRPO - Toy-SFT)`, toyTaskArithmetic(instruct, grpo, sft, alpha))]));
console.log(`trained and checked in ${elapsed()}`);
console.log(JSON.stringify({ seconds, accuracy, taskArithmetic }));

/** Each model's file and manifest go into OUT.partial, which then replaces OUT whole: a run cut short leaves the old files as they were. */
const partial = `${out}.partial`;
await rm(partial, { recursive: true, force: true });
await mkdir(partial, { recursive: true });
/** "toy-own 3 : toy-reasoning 1" */
const describeMix = (stage: SupervisedStage) => Object.entries(stage.mix).map(([task, count]) => `${task} ${count}`).join(" : ");
const slips = `addition answers with carry slips in ${100 * recipe.carrySlipRate}% of the carrying sums`;
const ROLES: Record<ToyDemoModelName, { role: string; training: string }> = {
  "Toy-Base": { role: "the shared start of the other three", training: `from the initial weights (seed ${recipe.seed}), ${recipe.base.steps} supervised steps on ${describeMix(recipe.base)} (${slips})` },
  "Toy-Instruct": { role: "the target: trained on its own task, digit reversal", training: `Toy-Base + ${recipe.instruct.steps} supervised steps on ${describeMix(recipe.instruct)}` },
  "Toy-SFT": { role: "minus: the supervised reasoning model", training: `Toy-Base + ${recipe.sft.steps} supervised steps on ${describeMix(recipe.sft)} (${slips})` },
  "Toy-GRPO": { role: "plus: the reinforcement-learned reasoning model", training: `Toy-SFT + ${recipe.grpo.steps} GRPO steps on toy-reasoning (${recipe.grpo.promptsPerStep} prompts x ${recipe.grpo.groupSize} samples, reward 1 for the exact sum)` },
};
const entries = [];
for (const [name, parameters] of Object.entries(models) as [ToyDemoModelName, Qwen2Parameters][]) {
  const folder = join(partial, `.${name}`);
  await writeTrainedModel(folder, parameters);
  const file = `${name}.safetensors`;
  await rename(join(folder, "model.safetensors"), join(partial, file));
  await rm(folder, { recursive: true });
  const sha256 = sha256Hex(await readFile(join(partial, file)));
  entries.push({ name, file, sha256, ...ROLES[name], accuracy: accuracy[name] });
}
const manifest = {
  schema: "merge-studio-toy-demo/1",
  command: "npm run train:demo",
  shape: recipe.shape,
  models: entries,
  recipe,
  firstBaseLosses,
  taskArithmetic,
  evaluatedProblemsPerTask: evalCount,
  seconds,
  node: process.version,
};
await writeFile(join(partial, TOY_DEMO_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
await rm(out, { recursive: true, force: true });
await rename(partial, out);
console.log(`wrote ${out}`);
