import { describe, expect, it } from "vitest";
import type { Setting } from "../src/core/recipe/MergeRecipe.ts";
import { evaluateSetting, tensorPosition } from "../src/core/recipe/evaluateSetting.ts";
import {
  describeSetting,
  layerPresets,
  layerTensorName,
  layerValues,
  parseSettingText,
  readLayerSetting,
  setLayerValue,
  writeLayerSetting,
  type LayerEditorModel,
} from "../src/ui/state/layerSetting.ts";

/**
 * recipe-v2.md "Settings per tensor", written here from the text: t = i / (L - 1) for layer i (1 when
 * L = 1); a gradient read at t by scaled = t(n-1), i0 = floor, i1 = min(n-1, i0+1), frac; conditions
 * by the first whose filter is absent, "*" or a substring of the name.
 */
function specValue(setting: Setting, name: string, layers: number): number {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  const t = layer ? (layers === 1 ? 1 : Number(layer[1]) / (layers - 1)) : name.startsWith("model.norm.") || name.startsWith("lm_head.") ? 1 : 0;
  const read = (value: number | number[]) => {
    if (typeof value === "number") return value;
    const scaled = t * (value.length - 1);
    const i0 = Math.floor(scaled);
    const i1 = Math.min(value.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * value[i0]! + frac * value[i1]!;
  };
  if (typeof setting === "number" || setting.every((entry) => typeof entry === "number")) return read(setting as number | number[]);
  const condition = (setting as { filter?: string; value: number | number[] }[]).find(({ filter }) => filter === undefined || filter === "*" || name.includes(filter));
  if (!condition) throw new Error("no condition applies");
  return read(condition.value);
}

const MODELS: LayerEditorModel[] = [
  { layers: 0.7, modules: [], others: 0 },
  { layers: [0, 1], modules: [], others: 0 },
  { layers: [1, 0.25, 0.5, -1, 2], modules: [], others: 0 },
  { layers: [0, 0.5, 1], modules: ["attention"], others: 0.3 },
  { layers: 1.5, modules: ["mlp", "norms"], others: -0.5 },
  { layers: [2, 0], modules: ["embeddings"], others: 1 },
  { layers: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], modules: ["attention", "mlp", "norms", "embeddings"], others: 0 },
];

describe("the per-layer editor: model -> Setting -> evaluateSetting per layer", () => {
  for (const layers of [1, 2, 7, 24, 28]) {
    for (const model of MODELS) {
      it(`bars equal the contract's value per layer (L = ${layers}, ${JSON.stringify(model)})`, () => {
        const setting = writeLayerSetting(model);
        const bars = layerValues(setting, layers, model.modules);
        expect(bars).toHaveLength(layers);
        bars.forEach((bar, layer) => {
          const name = layerTensorName(model.modules, layer);
          expect(bar).toBe(specValue(setting, name, layers));
          expect(bar).toBe(evaluateSetting(setting, name, tensorPosition(name, layers)));
        });
      });
    }
  }

  it("writes mergekit's conditions: each chosen module's filters, then the default", () => {
    expect(writeLayerSetting({ layers: [0, 1], modules: ["mlp", "attention"], others: 0.5 })).toEqual([
      { filter: "self_attn", value: [0, 1] },
      { filter: "mlp", value: [0, 1] },
      { value: 0.5 },
    ]);
    expect(writeLayerSetting({ layers: 1, modules: ["embeddings"], others: 0 })).toEqual([{ filter: "embed_tokens", value: 1 }, { filter: "lm_head", value: 1 }, { value: 0 }]);
    expect(writeLayerSetting({ layers: [0.5, 1], modules: [], others: 7 })).toEqual([0.5, 1]);
  });

  it("module filters reach the tensors they name and leave the others at the default", () => {
    const setting = writeLayerSetting({ layers: 2, modules: ["attention", "embeddings"], others: 0.25 });
    expect(evaluateSetting(setting, "model.layers.3.self_attn.k_proj.bias", 0.5)).toBe(2);
    expect(evaluateSetting(setting, "model.embed_tokens.weight", 0)).toBe(2);
    expect(evaluateSetting(setting, "lm_head.weight", 1)).toBe(2);
    expect(evaluateSetting(setting, "model.layers.3.mlp.up_proj.weight", 0.5)).toBe(0.25);
    expect(evaluateSetting(setting, "model.norm.weight", 1)).toBe(0.25);
  });

  it("reads back what it writes, and leaves hand-written conditions to the text field", () => {
    for (const model of MODELS) {
      const read = readLayerSetting(writeLayerSetting(model));
      expect(read).toEqual(model.modules.length === 0 ? { ...model, others: 0 } : model);
    }
    // As parseRecipeJson builds them: value before filter.
    expect(readLayerSetting([{ value: [0, 1], filter: "mlp" }, { value: 0.5 }])).toEqual({ layers: [0, 1], modules: ["mlp"], others: 0.5 });
    expect(readLayerSetting([{ filter: "q_proj", value: 1 }, { value: 0 }])).toBeUndefined();
    expect(readLayerSetting([{ filter: "mlp", value: 1 }, { filter: "self_attn", value: 2 }, { value: 0 }])).toBeUndefined();
  });

  it("presets: first / last k layers, a gradient a -> b, one value", () => {
    const first = layerValues(layerPresets.firstLayers(3, 0.8, 10), 10, []);
    expect(first).toEqual([0.8, 0.8, 0.8, 0, 0, 0, 0, 0, 0, 0]);
    const last = layerValues(layerPresets.lastLayers(2, 1.5, 10), 10, []);
    expect(last).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1.5, 1.5]);
    const gradient = layerValues(layerPresets.gradient(0, 1), 5, []);
    expect(gradient).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(layerValues(layerPresets.all(0.3), 4, [])).toEqual([0.3, 0.3, 0.3, 0.3]);
  });

  it("dragging bar i sets that layer only; the others keep what they showed", () => {
    const model: LayerEditorModel = { layers: [0, 1], modules: ["mlp"], others: 0.5 };
    const layers = 6;
    const before = layerValues(writeLayerSetting(model), layers, model.modules);
    const after = setLayerValue(model, layers, 4, -0.35);
    const bars = layerValues(writeLayerSetting(after), layers, after.modules);
    expect(bars[4]).toBe(-0.35);
    bars.forEach((bar, layer) => {
      if (layer !== 4) expect(bar).toBeCloseTo(before[layer]!, 12);
    });
    expect(after.modules).toEqual(["mlp"]);
    expect(after.others).toBe(0.5);
  });

  it("the setting's text reads back to the same setting, and bad text says what is wrong", () => {
    const settings: Setting[] = [0.5, [0, 0.5, 1], [{ filter: "mlp", value: [0, 1] }, { filter: "*", value: 2 }], [{ filter: "self_attn", value: 0.5 }, { value: 1 }]];
    for (const setting of settings) expect(parseSettingText(describeSetting(setting), "weight")).toEqual(setting);
    expect(() => parseSettingText("", "weight")).toThrow(/empty/);
    expect(() => parseSettingText("[]", "weight")).toThrow(/a gradient with no numbers/);
    expect(() => parseSettingText("abc", "weight")).toThrow(/"abc" is not a finite number/);
    expect(() => parseSettingText("[{filter: mlp, value: 1}]", "weight")).toThrow(/conditions without a default/);
    expect(() => parseSettingText("[0.5, 1.5]", "density")).toThrow(/density: \[1\]: 1.5 is outside \[0, 1\]/);
  });
});
