import { parse as parseYaml } from "yaml";
import { isSettingConditions, type Setting, type SettingCondition, type VectorSettingName } from "../../core/recipe/MergeRecipe.ts";
import { RecipeReader } from "../../core/recipe/RecipeReader.ts";
import { evaluateSetting, tensorPosition } from "../../core/recipe/evaluateSetting.ts";

/**
 * The per-layer editor's model of a setting: bar values over the layers (a number for all of them,
 * or a gradient), applied to every tensor or only to some modules (mergekit `filter` conditions,
 * the other tensors getting `others`). writeLayerSetting turns it into the recipe's Setting;
 * layerValues reads any Setting back per layer with evaluateSetting, so the bars always show what
 * the merge computes.
 */
export type ModuleKind = "attention" | "mlp" | "norms" | "embeddings";

export const MODULE_KINDS: readonly ModuleKind[] = ["attention", "mlp", "norms", "embeddings"];

/** The tensor-name substrings of each module kind in a Qwen2 / Llama-shaped model. */
export const MODULE_FILTERS: Record<ModuleKind, readonly string[]> = {
  attention: ["self_attn"],
  mlp: ["mlp"],
  norms: ["norm"],
  embeddings: ["embed_tokens", "lm_head"],
};

export interface LayerEditorModel {
  /** A number (every layer) or a gradient read at each tensor's position. */
  layers: number | number[];
  /** The modules the layer values apply to; empty: every tensor. */
  modules: ModuleKind[];
  /** The value of the tensors outside `modules` (unused when `modules` is empty). */
  others: number;
}

export function writeLayerSetting(model: LayerEditorModel): Setting {
  if (model.modules.length === 0) return model.layers;
  const conditions: SettingCondition[] = MODULE_KINDS.filter((kind) => model.modules.includes(kind)).flatMap((kind) =>
    MODULE_FILTERS[kind].map((filter) => ({ filter, value: model.layers })),
  );
  return [...conditions, { value: model.others }];
}

const sameValue = (a: number | number[], b: number | number[]) =>
  typeof a === "number" || typeof b === "number" ? a === b : a.length === b.length && a.every((value, i) => value === b[i]);

/** The editor model of a setting, or undefined when the setting has another shape (hand-written conditions). */
export function readLayerSetting(setting: Setting): LayerEditorModel | undefined {
  if (!isSettingConditions(setting)) return { layers: setting, modules: [], others: 0 };
  const last = setting.at(-1);
  const filtered = setting.slice(0, -1);
  const first = filtered[0];
  if (!last || last.filter !== undefined || typeof last.value !== "number" || !first) return undefined;
  if (!filtered.every((condition) => condition.filter !== undefined && sameValue(condition.value, first.value))) return undefined;
  const modules = MODULE_KINDS.filter((kind) => MODULE_FILTERS[kind].every((filter) => filtered.some((condition) => condition.filter === filter)));
  if (modules.length === 0) return undefined;
  const model: LayerEditorModel = { layers: first.value, modules, others: last.value };
  // Conditions read from a file may list `value` before `filter`: compare them field by field.
  const entries = (conditions: SettingCondition[]) => JSON.stringify(conditions.map(({ filter, value }) => [filter ?? null, value]));
  return entries(writeLayerSetting(model) as SettingCondition[]) === entries(setting) ? model : undefined;
}

/** A tensor of layer `layer` that the modules' filters select (the MLP's down projection when none is chosen). */
export function layerTensorName(modules: readonly ModuleKind[], layer: number): string {
  if (modules.includes("attention")) return `model.layers.${layer}.self_attn.q_proj.weight`;
  if (modules.includes("norms")) return `model.layers.${layer}.input_layernorm.weight`;
  if (modules.includes("mlp") || modules.length === 0) return `model.layers.${layer}.mlp.down_proj.weight`;
  return `model.layers.${layer}.self_attn.q_proj.weight`;
}

/** What the merge uses for the layer tensors of `modules`, layer by layer (evaluateSetting at each layer's position). */
export function layerValues(setting: Setting, numHiddenLayers: number, modules: readonly ModuleKind[]): number[] {
  return Array.from({ length: numHiddenLayers }, (_, layer) => {
    const name = layerTensorName(modules, layer);
    return evaluateSetting(setting, name, tensorPosition(name, numHiddenLayers));
  });
}

/** The tensors outside the layers, with what the merge uses for each. */
export function outerValues(setting: Setting, numHiddenLayers: number): { name: string; value: number }[] {
  return ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"].map((name) => ({
    name,
    value: evaluateSetting(setting, name, tensorPosition(name, numHiddenLayers)),
  }));
}

/** The model after bar `layer` is set to `value`: the bars become one gradient point per layer. */
export function setLayerValue(model: LayerEditorModel, numHiddenLayers: number, layer: number, value: number): LayerEditorModel {
  const values = layerValues(writeLayerSetting(model), numHiddenLayers, model.modules);
  values[layer] = value;
  return { ...model, layers: values };
}

/** The presets of the editor: one value for every layer, the first or last k layers (0 elsewhere), a gradient a -> b. */
export const layerPresets = {
  all: (value: number): number => value,
  firstLayers: (count: number, value: number, numHiddenLayers: number): number[] =>
    Array.from({ length: numHiddenLayers }, (_, layer) => (layer < count ? value : 0)),
  lastLayers: (count: number, value: number, numHiddenLayers: number): number[] =>
    Array.from({ length: numHiddenLayers }, (_, layer) => (layer >= numHiddenLayers - count ? value : 0)),
  gradient: (from: number, to: number): number[] => [from, to],
};

/** A setting as mergekit writes it in YAML flow style: 0.5, [0, 1], [{filter: mlp, value: 0.5}, {value: 1}]. */
export function describeSetting(setting: Setting): string {
  if (!isSettingConditions(setting)) return JSON.stringify(setting).replaceAll(",", ", ");
  const entries = setting.map(({ filter, value }) => {
    const valueText = JSON.stringify(value).replaceAll(",", ", ");
    const filterText = filter !== undefined && /^[A-Za-z_][A-Za-z0-9_.]*$/.test(filter) ? filter : JSON.stringify(filter);
    return filter === undefined ? `{value: ${valueText}}` : `{filter: ${filterText}, value: ${valueText}}`;
  });
  return `[${entries.join(", ")}]`;
}

/**
 * Reads a setting typed as mergekit writes it (YAML flow: 0.5, [0, 1], [{filter: mlp, value: 0.5},
 * {value: 1}]) and checks it as a recipe file's; the error says what is wrong.
 */
export function parseSettingText(text: string, name: VectorSettingName): Setting {
  if (text.trim() === "") throw new Error("empty: give a number, a gradient [a, b, …] or filter conditions");
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new Error(`not a setting: ${(error as Error).message.split("\n")[0]}`, { cause: error });
  }
  return new RecipeReader(name).setting(value, "", name);
}
