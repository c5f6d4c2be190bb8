import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectCommand } from "../src/cli/inspectCommand.ts";
import { inspectionRecipe } from "../src/core/inspect/inspectionRecipe.ts";
import { inspectVectors } from "../src/core/inspect/inspectVectors.ts";
import type { VectorInspection } from "../src/core/inspect/VectorInspection.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

/*
 * `merge-studio inspect` on tiny generated Qwen2 models: one spawn of the real CLI with a
 * two-vector recipe file, its --json compared with the core's inspection of the same models, and
 * bad input (through the command's function, without a process each) refused in one line.
 */

let root: string;
const dir = (name: string) => join(root, name);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cli-inspect-"));
  for (const [name, variantSeed] of [["target", undefined], ["grpo", 1], ["sft", 2], ["other", 3]] as const) {
    await generateQwen2Model({ dir: dir(name), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 5, ...(variantSeed === undefined ? {} : { variantSeed }) });
  }
  await generateQwen2Model({ dir: dir("wide"), shape: { ...QWEN2_PRESETS.tiny, hiddenSize: QWEN2_PRESETS.tiny.hiddenSize * 2 }, dtype: "BF16", initSeed: 5, variantSeed: 4 });
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("merge-studio inspect", () => {
  it("writes, for a recipe file of two vectors, the JSON the core computes, and prints the summary with the cosine", async () => {
    const recipeFile = join(root, "recipe.json");
    // Weights, density and the method do not change the raw vectors: a ties recipe inspects the same.
    await writeFile(
      recipeFile,
      JSON.stringify({ target: "target", method: "ties", vectors: [{ plus: "grpo", minus: "sft", weight: 0.5, density: 0.2 }, { plus: "other", minus: "target", weight: 1 }] }),
    );
    const out = join(root, "inspection.json");
    const result = await runCli(["inspect", "--config", recipeFile, "--json", out]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const written = JSON.parse(await readFile(out, "utf8")) as VectorInspection;

    const recipe: MergeRecipe = {
      target: dir("target"),
      method: "task_arithmetic",
      parameters: defaultRecipeParameters("task_arithmetic"),
      vectors: [{ plus: dir("grpo"), minus: dir("sft"), weight: 1 }, { plus: dir("other"), minus: dir("target"), weight: 1 }],
      vocab: "exact",
    };
    const { plan, sources } = await openAndPlan(inspectionRecipe(recipe), (spec) => openFolderSource(spec));
    const expected = await inspectVectors(plan);
    await Promise.all(sources.map((source) => source.close?.()));
    expect(written).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(written.tensors.length).toBeGreaterThan(20);
    expect(written.total.pairs).toHaveLength(1);

    const cosine = expected.total.pairs[0]!.cosine!;
    expect(result.stdout).toContain(`0 and 1: cosine ${cosine.toPrecision(4)}`);
    const qCosines = expected.cells.filter((cell) => cell.layer !== null && cell.module === "q").map((cell) => cell.pairs[0]!.cosine!);
    const qMean = qCosines.reduce((sum, value) => sum + value, 0) / qCosines.length;
    const shown = Math.abs(qMean) >= 1e-3 ? qMean.toPrecision(4) : qMean.toExponential(3);
    expect(result.stdout).toContain(`cosine per module (mean over layers): q ${shown},`);
    expect(result.stdout).toContain(`vector 0: ${dir("grpo")} - ${dir("sft")}`);
    expect(result.stdout).toMatch(/largest relative changes/);
    expect(result.stdout).toMatch(/per module, .*q [0-9.e-]+ \[/);
  }, 60_000);

  it("refuses bad input in one line naming what is wrong", async () => {
    const refused = async (args: string[]) => {
      const error = await inspectCommand(args).then(
        () => undefined,
        (thrown: unknown) => thrown as Error,
      );
      expect(error, args.join(" ")).toBeInstanceOf(Error);
      expect(error!.message).not.toContain("\n");
      return error!.message;
    };
    expect(await refused(["--target", dir("target"), "--plus", dir("grpo")])).toBe("--minus is required (or give the recipe with --config FILE)");
    expect(await refused(["--target", dir("target"), "--plus", dir("grpo"), "--minus", join(root, "missing")])).toBe(`minus: ${join(root, "missing")}: no such folder`);
    expect(await refused(["--target", dir("target"), "--plus", dir("wide"), "--minus", dir("sft")])).toMatch(/^cannot inspect: config.json hidden_size differs: target 32, plus 64, minus 32 \(and \d+ more errors\)$/);
    expect(await refused(["--config", join(root, "nothing.json")])).toBe(`--config ${join(root, "nothing.json")}: no such file`);
    expect(await refused(["--target", dir("target"), "--plus", dir("grpo"), "--minus", dir("sft"), "--jsn", "x"])).toMatch(/Unknown option '--jsn'/);
  });
});
