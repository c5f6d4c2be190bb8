import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTestModel } from "./helpers/readTestModel.ts";
import { decodeFloat, encodeFloat, referenceMerge } from "./helpers/referenceNumerics.ts";
import { runCli } from "./helpers/runCli.ts";
import { randomWords, type TestTensor } from "./helpers/writeTestModel.ts";
import { testTrioFolder } from "./helpers/testTrioFolder.ts";

const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: false, hidden_size: 4 };

function tensors(seed: number): TestTensor[] {
  const words = randomWords(seed, 32);
  // Finite bfloat16 values between 2^-8 and 2^8, either sign.
  const data = new Uint8Array(new Uint16Array(Array.from(words, (word) => (word & 0x8000) | (0x3b80 + (word % 0x800)))).buffer);
  return [{ name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [8, 4], data }];
}

const trio = testTrioFolder("cli-options-", tensors, config);

const mergeArgs = (out: string) => ["merge", "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus, "--out", out];

/** The bfloat16 bits the numeric contract gives for every element, computed by the test's own reference. */
function expectedBits(alpha: number): number[] {
  const [t, p, m] = [tensors(1), tensors(2), tensors(3)].map((model) => Array.from(new Uint16Array(model[0]!.data.slice().buffer)));
  return t!.map((bits, i) => encodeFloat("BF16", referenceMerge(decodeFloat("BF16", bits), decodeFloat("BF16", p![i]!), decodeFloat("BF16", m![i]!), alpha))!);
}

describe("numeric options take negative values as users type them", () => {
  for (const text of ["-1", "-0.5", "-1e-3", "-.25"]) {
    it(`merge --alpha ${text}`, async () => {
      const out = join(trio.root, `alpha${text}`);
      const result = await runCli([...mergeArgs(out), "--alpha", text]);
      expect(result.code, result.stderr).toBe(0);
      const recipe = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8"));
      expect(recipe.vectors[0].weight).toBe(Number(text));
      const merged = (await readTestModel(out)).get("model.layers.0.mlp.up_proj.weight")!;
      expect(Array.from(new Uint16Array(merged.data.slice().buffer))).toEqual(expectedBits(Number(text)));
    });
  }

  it("a value that is not a number is refused, naming the option and the value", async () => {
    const result = await runCli([...mergeArgs(join(trio.root, "never")), "--alpha", "-one"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: --alpha needs a value, but is followed by the option -one/);
    const text = await runCli([...mergeArgs(join(trio.root, "never")), "--alpha", "one"]);
    expect(text.code).toBe(2);
    expect(text.stderr).toMatch(/error: --alpha must be a finite number, got "one"/);
  });

  it("an option followed by another option, or by nothing, is a missing value", async () => {
    const followed = await runCli(["merge", "--alpha", "--out", join(trio.root, "never"), "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus]);
    expect(followed.code).toBe(2);
    expect(followed.stderr).toMatch(/error: --alpha needs a value, but is followed by the option --out/);
    const last = await runCli([...mergeArgs(join(trio.root, "never")), "--alpha"]);
    expect(last.code).toBe(2);
    expect(last.stderr).toMatch(/error: --alpha needs a value\n/);
  });

  it("eval: --alpha -1 is taken, and negative counts get their own clear errors", async () => {
    const recipe = ["eval", "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus];
    // The vocab check follows the alpha check: reaching it shows that --alpha -1 was accepted.
    const alpha = await runCli([...recipe, "--alpha", "-1", "--vocab", "neither"]);
    expect(alpha.code).toBe(2);
    expect(alpha.stderr).toMatch(/error: --vocab must be exact or common, got "neither"/);
    const n = await runCli([...recipe, "--n", "-3"]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/error: --n must be a positive integer, got "-3"/);
    const seed = await runCli([...recipe, "--seed", "-1"]);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/error: --seed must be a non-negative integer, got "-1"/);
  });

  it("hub: a negative port is refused as a value, not as an ambiguous option", async () => {
    const result = await runCli(["hub", "--root", trio.root, "--port", "-1"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: --port must be a non-negative integer, got "-1"/);
  });
});

describe("--help after a command", () => {
  for (const name of ["eval", "inspect", "record"]) {
    it(`${name} --help prints that command's usage and exits 0`, async () => {
      const result = await runCli([name, "--help"]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe("");
      expect(result.stdout.startsWith(`usage: merge-studio ${name} `)).toBe(true);
    });
  }
});
