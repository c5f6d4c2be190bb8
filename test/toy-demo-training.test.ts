import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startGradientWorkers } from "../src/testmodels/training/parallelGradients.ts";
import { initQwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { readTrainedModel } from "../src/testmodels/training/readTrainedModel.ts";
import { parseToyDemoManifest, TOY_DEMO_MODEL_NAMES } from "../src/testmodels/training/toyDemoManifest.ts";
import {
  initialToyParameters,
  onesColumnCarries,
  TOY_DEMO_RECIPE,
  toyTaskArithmetic,
  toyTrainingProblems,
  trainToySupervisedStage,
} from "../src/testmodels/training/toyDemoTraining.ts";
import { toyTaskSplit, TOY_TEST_SET } from "../src/testmodels/training/toyTasks.ts";
import { TOY_VOCAB_SIZE } from "../src/testmodels/training/toyTokenizer.ts";

const MODELS = "models/toy";
const manifestText = readFileSync(`${MODELS}/toy-demo.json`, "utf8");
const manifest = parseToyDemoManifest(manifestText, `${MODELS}/toy-demo.json`);
const recorded = JSON.parse(manifestText) as { recipe: unknown; firstBaseLosses: number[] };

describe("the toy demo's training data", () => {
  it("knows which additions carry in the ones column", () => {
    expect(["47+85=", "5+5=", "19+1=", "99+99="].map(onesColumnCarries)).toEqual([true, true, true, true]);
    expect(["47+82=", "0+0=", "10+90=", "4+5="].map(onesColumnCarries)).toEqual([false, false, false, false]);
    expect(() => onesColumnCarries("rev 123")).toThrow(/not an addition prompt: "rev 123"/);
  });

  it("slips the carry in about the recipe's share of the carrying additions, and nowhere else; the reversals are untouched", () => {
    const clean = toyTaskSplit("toy-reasoning", { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: TOY_DEMO_RECIPE.trainProblemsPerTask }).train;
    const sloppy = toyTrainingProblems(TOY_DEMO_RECIPE, "toy-reasoning");
    expect(sloppy.map((problem) => problem.prompt)).toEqual(clean.map((problem) => problem.prompt));
    let carrying = 0;
    let slipped = 0;
    sloppy.forEach((problem, index) => {
      const [a, b] = problem.prompt.slice(0, -1).split("+").map(Number) as [number, number];
      if ((a % 10) + (b % 10) >= 10) {
        carrying++;
        if (problem.target !== String(a + b)) {
          slipped++;
          expect(problem.target, problem.prompt).toBe(String(a + b - 10));
        }
      } else {
        expect(problem, problem.prompt).toEqual(clean[index]);
      }
    });
    const rate = TOY_DEMO_RECIPE.carrySlipRate;
    const sd = Math.sqrt(carrying * rate * (1 - rate));
    expect(Math.abs(slipped - carrying * rate)).toBeLessThan(4 * sd);
    expect(toyTrainingProblems(TOY_DEMO_RECIPE, "toy-reasoning")).toEqual(sloppy);
    expect(toyTrainingProblems(TOY_DEMO_RECIPE, "toy-own")).toEqual(toyTaskSplit("toy-own", { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: TOY_DEMO_RECIPE.trainProblemsPerTask }).train);
  });

  it("task arithmetic of the quick check is the numeric contract's target + alpha * (plus - minus), element by element", () => {
    const shape = { ...TOY_DEMO_RECIPE.shape, hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, vocabSize: TOY_VOCAB_SIZE };
    const [target, plus, minus] = [1, 2, 3].map((seed) => initQwen2Parameters(shape, seed, Float32Array));
    const merged = toyTaskArithmetic(target!, plus!, minus!, -0.5);
    for (const [name, values] of merged.tensors) {
      const expected = target!.tensors.get(name)!.map((value, i) => Math.fround(value + Math.fround(-0.5 * Math.fround(plus!.tensors.get(name)![i]! - minus!.tensors.get(name)![i]!))));
      expect(values, name).toEqual(expected);
    }
  });
});

describe("the committed toy demo models (models/toy, from `npm run train:demo`)", () => {
  it("were trained by the recipe in the code", () => {
    expect(recorded.recipe).toEqual(TOY_DEMO_RECIPE);
    expect(manifest.shape).toEqual(TOY_DEMO_RECIPE.shape);
  });

  it("reproduce: the trainer's first five Toy-Base steps, on two threads as the script runs them, give the recorded losses", async () => {
    const workers = startGradientWorkers(TOY_DEMO_RECIPE.shape);
    try {
      const { records } = trainToySupervisedStage(TOY_DEMO_RECIPE, initialToyParameters(TOY_DEMO_RECIPE), TOY_DEMO_RECIPE.base, "Toy-Base", { runSteps: 5, lossAndGradients: workers.lossAndGradients });
      expect(recorded.firstBaseLosses).toHaveLength(5);
      records.forEach((record, index) => expect(record.loss, `step ${index + 1}`).toBeCloseTo(recorded.firstBaseLosses[index]!, 12));
    } finally {
      await workers.close();
    }
  });

  it.each(TOY_DEMO_MODEL_NAMES)("%s: the file's SHA-256 is the one the script recorded, and it holds a model of the recorded shape", async (name) => {
    const entry = manifest.models.find((model) => model.name === name)!;
    const bytes = readFileSync(`${MODELS}/${entry.file}`);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(entry.sha256);
    const parameters = await readTrainedModel(`${MODELS}/${entry.file}`, manifest.shape);
    expect([...parameters.tensors.values()].every((values) => values.every(Number.isFinite))).toBe(true);
  });
});
