import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { mergedTensorLoader } from "../src/eval/weights/mergedTensorLoader.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

let root: string;
const opened: ModelSource[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cli-eval-sweep-"));
  // Three variants of one initialisation, far enough apart to answer differently (the base alone repeats a newline).
  for (const [name, variantSeed] of [["target", 3], ["plus", 1], ["minus", 2]] as const) {
    await generateQwen2Model({ dir: join(root, name), shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 3, variantSeed, noiseScale: 5, tokenizer: true });
  }
}, 60_000);
afterAll(async () => {
  await Promise.all(opened.map((source) => source.close?.()));
  await rm(root, { recursive: true, force: true });
});

const PROBLEMS = ["--problems", "0,7,21", "--max-new-tokens", "6", "--batch", "3"];
const trio = () => ["--target", join(root, "target"), "--plus", join(root, "plus"), "--minus", join(root, "minus")];
const outputs = (report: EvalReport, label: string) => report.models.find((model) => model.label === label)!.answers.map((answer) => answer.output);

async function evaluate(args: string[], name: string): Promise<{ report: EvalReport; csv: string; stdout: string; stderr: string }> {
  const json = join(root, `${name}.json`);
  const csv = join(root, `${name}.csv`);
  const result = await runCli(["eval", ...trio(), ...args, ...PROBLEMS, "--json", json, "--csv", csv]);
  expect(result.code, result.stderr).toBe(0);
  return { report: JSON.parse(await readFile(json, "utf8")) as EvalReport, csv: await readFile(csv, "utf8"), stdout: result.stdout, stderr: result.stderr };
}

describe("merge-studio eval --alphas", () => {
  it("gives each alpha of a 3-alpha sweep exactly the answers of its own --alpha run, alpha 0 the target's, and a random-sign control with merge --config's weights", async () => {
    const sweep = await evaluate(["--alphas", "1,-1,0", "--control", "random-sign", "--control-alpha", "0.5", "--control-seed", "7"], "sweep");
    const { report } = sweep;
    expect(report.models.map((model) => [model.label, model.kind, model.alpha, model.control])).toEqual([
      ["target", "target", null, null],
      ["alpha -1", "merged", -1, null],
      ["alpha 0", "merged", 0, null],
      ["alpha 1", "merged", 1, null],
      ["random-sign control (alpha 0.5)", "merged", 0.5, "random-sign"],
    ]);
    const target = outputs(report, "target");
    // The models answer differently (else the equalities below would prove nothing), alpha 0 exactly as the target.
    expect(outputs(report, "alpha 1")).not.toEqual(target);
    expect(outputs(report, "alpha -1")).not.toEqual(target);
    expect(outputs(report, "alpha 0")).toEqual(target);
    expect(sweep.stderr).not.toMatch(/^error/m);

    for (const alpha of ["-1", "0", "1"]) {
      const single = await evaluate(["--alpha", alpha], `single-${alpha}`);
      expect(single.report.models.map((model) => model.label)).toEqual(["target", `alpha ${alpha}`]);
      expect(outputs(single.report, "target"), "the target answers as in the sweep").toEqual(target);
      expect(outputs(single.report, `alpha ${alpha}`), `alpha ${alpha}`).toEqual(outputs(report, `alpha ${alpha}`));
    }

    // The terminal: one line per model with accuracy, interval, fixed / broken, p and Holm p, and the many-tests note.
    for (const model of report.models) {
      const [score] = model.scores;
      const cells = [model.label, `${score!.correct}/${score!.total} =`];
      if (model.comparison) cells.push(`${model.comparison.fixed}  `, model.comparison.pValue.toPrecision(3), model.comparison.holmPValue.toPrecision(3));
      expect(sweep.stdout.split("\n").some((line) => line.startsWith(model.label) && cells.every((cell) => line.includes(cell))), model.label).toBe(true);
    }
    expect(sweep.stdout).toContain("4 models are compared with the target, and many alphas mean many tests: read Holm p (adjusted over the 4 comparisons)");
    // The CSV: a header and one row per model, in the report's order.
    const rows = sweep.csv.split("\r\n");
    expect(rows[0]).toBe("label,kind,alpha,control,metric,correct,total,accuracy,low,high,fixed,broken,p,holm p");
    expect(rows.slice(1, -1).map((row) => row.split(",").slice(0, 5))).toEqual([
      ["target", "target", "", "", "numeric-match"],
      ["alpha -1", "merged", "-1", "", "numeric-match"],
      ["alpha 0", "merged", "0", "", "numeric-match"],
      ["alpha 1", "merged", "1", "", "numeric-match"],
      ["random-sign control (alpha 0.5)", "merged", "0.5", "random-sign", "numeric-match"],
    ]);
    expect(rows.at(-1)).toBe("");

    // The control's recipe as the report records it, merged by the CLI: the weights it was evaluated with are those of the saved files.
    const control = report.models.at(-1)!;
    const recipeFile = join(root, "control.json");
    await writeFile(recipeFile, JSON.stringify(control.recipe));
    const merged = join(root, "control-merged");
    const merge = await runCli(["merge", "--config", recipeFile, "--out", merged]);
    expect(merge.code, merge.stderr).toBe(0);
    const recipe = parseRecipeJson(JSON.stringify(control.recipe), "report");
    expect(recipe.control).toEqual({ kind: "random_sign", seed: 7 });
    expect(recipe.vectors[0]!.weight).toBe(0.5);
    const { plan, sources } = await openAndPlan(recipe, (spec) => openFolderSource(spec));
    opened.push(...sources);
    const savedSource = await openFolderSource(merged);
    opened.push(savedSource);
    const saved = await inspectModel(savedSource);
    const computed = mergedTensorLoader(plan);
    const fromFiles = modelTensorLoader(saved);
    const unsigned = await openAndPlan({ ...recipe, control: undefined }, (spec) => openFolderSource(spec));
    opened.push(...unsigned.sources);
    const withoutControl = mergedTensorLoader(unsigned.plan);
    const bytes = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    let flipped = 0;
    for (const tensor of plan.tensors) {
      const values = bytes(await computed(tensor.name));
      expect(values.equals(bytes(await fromFiles(tensor.name))), `${tensor.name}: the evaluated weights are the saved ones, bit for bit`).toBe(true);
      if (!values.equals(bytes(await withoutControl(tensor.name)))) flipped++;
    }
    expect(flipped, "the random signs change the weights").toBeGreaterThan(plan.tensors.length / 2);
  }, 300_000);

  it("evaluates the target alone for an empty list, and refuses a sweep of more than 21 alphas in one line", async () => {
    const empty = await evaluate(["--alphas", ""], "empty");
    expect(empty.stderr).toContain("--alphas is empty: evaluating the target alone");
    expect(empty.report.models.map((model) => model.label)).toEqual(["target"]);
    const many = await runCli(["eval", ...trio(), "--alphas", "-1:1:0.05", ...PROBLEMS]);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/^error: --alphas: the range -1:1:0\.05 has 41 alphas; a sweep evaluates at most 21 \(each a whole model run\)$/m);
  }, 120_000);
});
