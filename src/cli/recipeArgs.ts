import { stat, readFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { parseFloatDtype } from "../core/dtypes.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../core/recipe/MergeRecipe.ts";
import { parseMergekitYaml } from "../core/recipe/parseMergekitYaml.ts";
import { parseRecipeJson } from "../core/recipe/parseRecipeJson.ts";
import { UsageError } from "./format.ts";
import { parseFiniteNumber } from "./parseCommandArgs.ts";

/** The options that give a recipe, shared by merge and eval: a recipe file, or the one-vector shorthand. */
export const RECIPE_ARG_OPTIONS = {
  config: { type: "string" },
  target: { type: "string" },
  plus: { type: "string" },
  minus: { type: "string" },
  alpha: { type: "string" },
  vocab: { type: "string" },
  "out-dtype": { type: "string" },
} as const;

export type RecipeArgs = { [K in keyof typeof RECIPE_ARG_OPTIONS]?: string };

const SHORTHAND_FLAGS = ["target", "plus", "minus", "alpha", "vocab", "out-dtype"] as const;

/** Whether the arguments name a recipe at all (a file, or any of the shorthand's flags). */
export function hasRecipeArgs(values: RecipeArgs): boolean {
  return values.config !== undefined || SHORTHAND_FLAGS.some((flag) => values[flag] !== undefined);
}

/**
 * The recipe the arguments give: `--config FILE` (a recipe .json of ../shared/recipe-v2.md, or a
 * mergekit .yml/.yaml; model paths in it resolved against the file's folder), or the one-vector
 * shorthand --target --plus --minus [--alpha A (default 1)] [--vocab] [--out-dtype]: target +
 * alpha * (plus - minus), task_arithmetic. A local folder named by a flag is made absolute, so that
 * the merge_recipe.json of the output opens the same folders from anywhere. Both at once, or
 * neither, is a usage error; a bad recipe file, one line naming the field and the value.
 */
export async function readRecipeArgs(values: RecipeArgs): Promise<MergeRecipe> {
  const flags = SHORTHAND_FLAGS.filter((flag) => values[flag] !== undefined);
  if (values.config !== undefined) {
    if (flags.length > 0) throw new UsageError(`--config gives the whole recipe: drop ${flags.map((flag) => `--${flag}`).join(", ")} (or drop --config)`);
    return readRecipeFile(values.config);
  }
  for (const role of ["target", "plus", "minus"] as const) {
    if (values[role] === undefined) throw new UsageError(`--${role} is required (or give the recipe with --config FILE)`);
  }
  const alpha = values.alpha === undefined ? 1 : parseFiniteNumber(values.alpha, "--alpha");
  if (!Number.isFinite(Math.fround(alpha))) throw new Error(`--alpha ${alpha} is too large for float32 (largest about 3.4e38): the merge would be Inf and NaN`);
  const vocab = values.vocab ?? "exact";
  if (vocab !== "exact" && vocab !== "common") throw new UsageError(`--vocab must be exact or common, got "${vocab}"`);
  const recipe: MergeRecipe = {
    target: await absoluteIfFolder(values.target!),
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    // +0 for -0, as a recipe file reads it.
    vectors: [{ plus: await absoluteIfFolder(values.plus!), minus: await absoluteIfFolder(values.minus!), weight: alpha === 0 ? 0 : alpha }],
    vocab,
  };
  if (values["out-dtype"] !== undefined) recipe.out_dtype = parseFloatDtype(values["out-dtype"]);
  return recipe;
}

/** A spec that names an existing folder (or file) as an absolute path; anything else as given (a Hub id, or a path openModelSource will report). */
async function absoluteIfFolder(spec: string): Promise<string> {
  return (await stat(spec).catch(() => undefined)) ? resolve(spec) : spec;
}

async function readRecipeFile(file: string): Promise<MergeRecipe> {
  const extension = extname(file).toLowerCase();
  const parse = extension === ".json" ? parseRecipeJson : extension === ".yml" || extension === ".yaml" ? parseMergekitYaml : undefined;
  if (!parse) throw new UsageError(`--config ${file}: give a recipe .json or a mergekit .yml / .yaml, not "${extension || "no extension"}"`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`--config ${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
  }
  const folder = dirname(resolve(file));
  return parse(text, file, { resolveModelPath: (path) => resolve(folder, path) });
}
