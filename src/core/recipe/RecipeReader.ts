import { parseFloatDtype, type FloatDtype } from "../dtypes.ts";
import { describeJsonValue, oneLineMessage, quoteName } from "../messages/safeText.ts";
import { isPathLikeModelSpec } from "../sources/isPathLikeModelSpec.ts";
import { defaultRecipeParameters, VECTOR_SETTINGS, type MergeRecipe, type RecipeParameters, type Setting, type SettingCondition, type VectorSettingName } from "./MergeRecipe.ts";
import type { RecipeMethodId } from "./TensorRecipe.ts";

/** Turns a model path written in a recipe file into the path to open (the CLI: resolved against the file's folder). */
export type ResolveModelPath = (path: string) => string;

export interface ParseRecipeOptions {
  /** Applied to every model path (not to Hub ids); the CLI resolves them against the file's folder. */
  resolveModelPath?: ResolveModelPath;
}

const MAX_U32 = 0xffffffff;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** -0 and +0 act the same everywhere in a recipe; +0 keeps parse(render(r)) equal to r. */
const withoutNegativeZero = (value: number) => (value === 0 ? 0 : value);

/**
 * Reads the values of a recipe file (JSON or mergekit YAML) field by field; every problem is
 * thrown as one line `SOURCE: FIELD.PATH: what is wrong`, the value quoted as the file has it.
 */
export class RecipeReader {
  constructor(
    private readonly source: string,
    private readonly resolveModelPath?: ResolveModelPath,
  ) {}

  fail(path: string, message: string): never {
    throw new Error(oneLineMessage(`${this.source}: ${path === "" ? "" : `${path}: `}${message}`));
  }

  /** An object whose keys are all in `known`; `refused` maps keys the format knows but this tool does not take to the reason. */
  object(value: unknown, path: string, known: readonly string[], refused: Record<string, string> = {}): Record<string, unknown> {
    if (!isPlainObject(value)) this.fail(path, `${describeJsonValue(value)} is not an object`);
    for (const key of Object.keys(value)) {
      const field = path === "" ? key : `${path}.${key}`;
      if (Object.hasOwn(refused, key)) this.fail(field, refused[key]!);
      if (!known.includes(key)) this.fail(path, `unknown field ${quoteName(key)} (known: ${known.join(", ")})`);
    }
    return value;
  }

  required(object: Record<string, unknown>, key: string, path: string, what: string): unknown {
    if (object[key] === undefined) this.fail(path === "" ? key : `${path}.${key}`, `missing (${what})`);
    return object[key];
  }

  string(value: unknown, path: string): string {
    if (typeof value !== "string") this.fail(path, `${describeJsonValue(value)} is not a string`);
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value !== "boolean") this.fail(path, `${describeJsonValue(value)} is not true or false`);
    return value;
  }

  list(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `${describeJsonValue(value)} is not a list`);
    return value;
  }

  /** An unsigned 32-bit integer. */
  seed(value: unknown, path: string): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_U32) {
      this.fail(path, `${describeJsonValue(value)} is not an unsigned 32-bit integer (0 to ${MAX_U32})`);
    }
    return withoutNegativeZero(value);
  }

  /** bf16, f16 or f32 (any case). */
  floatDtype(value: unknown, path: string): FloatDtype {
    const text = this.string(value, path);
    try {
      return parseFloatDtype(text);
    } catch (error) {
      return this.fail(path, (error as Error).message);
    }
  }

  /** A finite number; a weight must stay finite in float32, a density or gamma lie in [0, 1]. */
  settingNumber(value: unknown, path: string, name: VectorSettingName): number {
    if (typeof value !== "number" || !Number.isFinite(value)) this.fail(path, `${describeJsonValue(value)} is not a finite number`);
    if (name === "weight" && !Number.isFinite(Math.fround(value))) this.fail(path, `${value} is infinite in float32`);
    if (name !== "weight" && !(value >= 0 && value <= 1)) this.fail(path, `${value} is outside [0, 1]`);
    return withoutNegativeZero(value);
  }

  /** A number or a gradient (a non-empty list of numbers). */
  private numberOrGradient(value: unknown, path: string, name: VectorSettingName): number | number[] {
    if (!Array.isArray(value)) return this.settingNumber(value, path, name);
    if (value.length === 0) this.fail(path, "a gradient with no numbers");
    return value.map((entry, i) => this.settingNumber(entry, `${path}[${i}]`, name));
  }

  /** A number, a gradient, or conditions [{filter?, value}] of which one applies to every tensor. */
  setting(value: unknown, path: string, name: VectorSettingName): Setting {
    if (!Array.isArray(value) || !value.some(isPlainObject)) return this.numberOrGradient(value, path, name);
    const conditions = value.map((entry, i): SettingCondition => {
      const at = `${path}[${i}]`;
      const fields = this.object(entry, at, ["filter", "value"]);
      const condition: SettingCondition = { value: this.numberOrGradient(this.required(fields, "value", at, "a number or a gradient"), `${at}.value`, name) };
      if (fields.filter !== undefined) condition.filter = this.string(fields.filter, `${at}.filter`);
      return condition;
    });
    if (!conditions.some(({ filter }) => filter === undefined || filter === "*" || filter === "")) {
      this.fail(path, 'conditions without a default: end them with an entry without a filter (or with filter "*")');
    }
    return conditions;
  }

  /**
   * A model: a Hub id (not path-like, exactly one "/": `owner/name[@revision]`) is kept as written;
   * anything else is a folder path, passed through resolveModelPath when one is given.
   */
  model(value: unknown, path: string): string {
    const spec = this.string(value, path);
    if (spec === "") this.fail(path, "empty: give a Hub id (owner/name) or a folder");
    if (spec.startsWith("~")) this.fail(path, `${quoteName(spec)}: "~" is not expanded in a recipe file; write the full path`);
    if (!isPathLikeModelSpec(spec) && spec.includes("/")) return spec;
    return this.resolveModelPath ? this.resolveModelPath(spec) : spec;
  }

  /** `parameters` of a recipe file or of a mergekit YAML (its fields already checked), defaults filled in. */
  parameters(fields: Record<string, unknown>, path: string, method: RecipeMethodId): RecipeParameters {
    const parameters = defaultRecipeParameters(method);
    const at = (key: string) => `${path}.${key}`;
    if (fields.normalize !== undefined) parameters.normalize = this.boolean(fields.normalize, at("normalize"));
    if (fields.rescale !== undefined) parameters.rescale = this.boolean(fields.rescale, at("rescale"));
    if (fields.seed !== undefined) parameters.seed = this.seed(fields.seed, at("seed"));
    for (const name of VECTOR_SETTINGS) {
      if (fields[name] !== undefined) parameters[name] = this.setting(fields[name], at(name), name);
    }
    return parameters;
  }

  /** Fails when a vector has no weight of its own and the recipe's parameters have none either; `vectorPath` names vector i in the file. */
  checkVectorWeights(recipe: Pick<MergeRecipe, "parameters" | "vectors">, vectorPath: (index: number) => string): void {
    if (recipe.parameters.weight !== undefined) return;
    const index = recipe.vectors.findIndex((vector) => vector.weight === undefined);
    if (index >= 0) this.fail(`${vectorPath(index)}.weight`, "missing, and parameters has no weight: the weight resolves to nothing");
  }
}
