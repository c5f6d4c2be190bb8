import { inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { defaultRecipeParameters, type MergeRecipe, type Setting } from "../src/core/recipe/MergeRecipe.ts";
import { RECIPE_METHODS } from "../src/core/recipe/TensorRecipe.ts";
import { decodeRecipeParameter, EMPTY_SLOT, encodeRecipeParameter, readRecipeLink, writeRecipeLink } from "../src/ui/state/recipeLink.ts";

const SETTINGS = { hubUrl: "http://127.0.0.1:5311", defaultHubUrl: "https://huggingface.co", shardSizeText: "5GB", defaultShardSize: "5GB", backend: "auto" as const };
const TARGET = "Qwen/Qwen2.5-Math-1.5B";
const GRPO = "michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-GRPO";
const SFT = "michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-SFT@0123abc";

const SETTING_KINDS: Record<string, Setting> = {
  number: 0.75,
  gradient: [0, 0.5, 1],
  "one-point gradient": [0.3],
  conditions: [{ filter: "self_attn", value: [0, 1] }, { filter: "mlp", value: 0.5 }, { value: 1 }],
  "star default": [{ filter: "lm_head", value: 0 }, { filter: "*", value: [1, 0.5] }],
};

function recipe(overrides: Partial<MergeRecipe>): MergeRecipe {
  return {
    target: TARGET,
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    vectors: [{ plus: GRPO, minus: SFT, weight: 1 }],
    vocab: "exact",
    ...overrides,
  };
}

/** The page-level round trip: the query a link gets, read back as the opening page reads it. */
async function throughLink(written: MergeRecipe): Promise<MergeRecipe> {
  const query = await writeRecipeLink(written, SETTINGS, new Set());
  const link = readRecipeLink(query);
  expect(link.problems).toEqual([]);
  expect(link.encodedRecipe).toBeDefined();
  return decodeRecipeParameter(link.encodedRecipe!);
}

/** The `r` format read without the studio's code: base64url, raw deflate, JSON. */
function readIndependently(parameter: string): Record<string, unknown> {
  const bytes = Buffer.from(parameter.replaceAll("-", "+").replaceAll("_", "/"), "base64");
  return JSON.parse(inflateRawSync(bytes).toString("utf8")) as Record<string, unknown>;
}

describe("the recipe link", () => {
  for (const method of RECIPE_METHODS) {
    for (const [kind, setting] of Object.entries(SETTING_KINDS)) {
      it(`round-trips ${method} with a ${kind} weight and density`, async () => {
        const written = recipe({
          method,
          parameters: { ...defaultRecipeParameters(method), seed: 7, rescale: false },
          vectors: [
            { plus: GRPO, minus: SFT, weight: setting, density: method === "task_arithmetic" ? 0.5 : [0.25, 0.75] },
            { plus: "org/Other-1.5B", minus: TARGET, weight: -0.5, gamma: 0.05 },
          ],
          control: { kind: "random_sign", seed: 4294967295 },
          out_dtype: "F32",
          vocab: "common",
        });
        expect(await throughLink(written)).toEqual(written);
      });
    }
  }

  it("round-trips recipe-level defaults (parameters.weight, density, gamma) and models not picked yet", async () => {
    const written = recipe({
      method: "breadcrumbs_ties",
      parameters: { normalize: true, rescale: true, seed: 0, weight: [1, 0], density: 0.9, gamma: [0.01, 0.1] },
      vectors: [
        { plus: EMPTY_SLOT, minus: TARGET },
        { plus: GRPO, minus: EMPTY_SLOT, weight: 2 },
      ],
    });
    expect(await throughLink(written)).toEqual(written);
  });

  it("carries the canonical recipe JSON, deflated, in base64url: readable without the studio", async () => {
    const written = recipe({ method: "ties", parameters: defaultRecipeParameters("ties"), vectors: [{ plus: GRPO, minus: TARGET, weight: [0, 1], density: 0.5 }] });
    const parameter = await encodeRecipeParameter(written);
    expect(parameter).toMatch(/^[A-Za-z0-9_-]+$/);
    // Defaults the recipe file fills in are left out; the rest is the contract's recipe file.
    expect(readIndependently(parameter)).toEqual({ target: TARGET, method: "ties", vectors: [{ plus: GRPO, minus: TARGET, weight: [0, 1], density: 0.5 }] });
  });

  it("keeps a 3-vector recipe with gradients short", async () => {
    const written = recipe({
      method: "dare_ties",
      parameters: { ...defaultRecipeParameters("dare_ties"), seed: 42 },
      vectors: [
        { plus: "Qwen/Qwen2.5-Math-1.5B-Instruct", minus: TARGET, weight: [0, 0.5, 1, 0.5], density: 0.6 },
        { plus: GRPO, minus: TARGET, weight: [{ filter: "self_attn", value: [1, 0] }, { filter: "mlp", value: [0, 1] }, { value: 0.5 }], density: 0.4 },
        { plus: "nvidia/OpenMath2-Qwen2.5-1.5B", minus: TARGET, weight: [0.2, 0.8], density: [0.3, 0.7] },
      ],
    });
    const query = await writeRecipeLink(written, SETTINGS, new Set());
    const json = JSON.stringify(written);
    console.log(`3-vector dare_ties recipe with gradients: link query ${query.length} characters (its JSON: ${json.length})`);
    expect(query.length).toBeLessThan(json.length);
    expect(query.length).toBeLessThan(400);
  });

  it("writes the one-vector task_arithmetic recipe in the old readable form", async () => {
    const query = await writeRecipeLink(recipe({ vectors: [{ plus: GRPO, minus: SFT, weight: -0.5 }], out_dtype: "BF16", vocab: "common" }), SETTINGS, new Set(), [["e2e", "1"]]);
    expect(query).toBe(`?e2e=1&hub=http://127.0.0.1:5311&target=${TARGET}&plus=${GRPO}&minus=${SFT}&alpha=-0.5&dtype=bf16&vocab=common`);
  });

  it("leaves local folders out of the old form, and names them in an r link", async () => {
    const oneVector = recipe({ vectors: [{ plus: "my-grpo", minus: SFT, weight: 1 }] });
    expect(await writeRecipeLink(oneVector, SETTINGS, new Set(["my-grpo"]))).not.toContain("my-grpo");
    const ties = recipe({ method: "ties", parameters: defaultRecipeParameters("ties"), vectors: [{ plus: "my-grpo", minus: TARGET, weight: 1 }] });
    expect((await throughLink(ties)).vectors[0]!.plus).toBe("my-grpo");
  });

  it("opens old links: target, plus, minus, alpha, dtype, shard, vocab, backend", () => {
    const link = readRecipeLink(`?target=${TARGET}&plus=${GRPO}&minus=${SFT}&alpha=0.25&dtype=f16&shard=2GB&vocab=common&backend=cpu`);
    expect(link).toEqual({
      inputs: {
        target: { kind: "hub", repo: TARGET },
        plus: { kind: "hub", repo: GRPO },
        minus: { kind: "hub", repo: "michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-SFT", revision: "0123abc" },
      },
      alpha: 0.25,
      outDtype: "F16",
      shardSize: "2GB",
      vocab: "common",
      backend: "cpu",
      problems: [],
    });
  });

  it("lists the problems of a link and keeps what is usable", async () => {
    const link = readRecipeLink("?target=not-a-repo&alpha=abc&vocab=some");
    expect(link.problems).toEqual([
      "The link's target “not-a-repo” was ignored: invalid model \"not-a-repo\": expected \"owner/name\" or \"owner/name@revision\".",
      "The link's alpha “abc” was ignored: alpha must be a finite number.",
      'The link\'s vocab “some” was ignored: use "common" or "exact".',
    ]);
    const both = readRecipeLink(`?r=abc&target=${TARGET}`);
    expect(both.problems).toEqual([`The link's target “${TARGET}” was ignored: the recipe comes from the link's “r” parameter.`]);
    await expect(decodeRecipeParameter("not*base64")).rejects.toThrow(/not a recipe this studio wrote \(it is not base64url text\)/);
    await expect(decodeRecipeParameter("AAAA")).rejects.toThrow(/not a recipe this studio wrote/);
    const unknownMethod = Buffer.from(JSON.stringify({ target: TARGET, method: "slerp", vectors: [{ plus: GRPO, minus: TARGET, weight: 1 }] }));
    const { deflateRawSync } = await import("node:zlib");
    const parameter = deflateRawSync(unknownMethod).toString("base64url");
    await expect(decodeRecipeParameter(parameter)).rejects.toThrow('recipe: method: unknown method "slerp"');
  });
});
