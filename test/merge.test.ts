import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { mergeSources } from "./helpers/mergeFolders.ts";
import { decodeFloat, encodeFloat, referenceMerge } from "./helpers/referenceNumerics.ts";
import { elementBits, readTestModel } from "./helpers/readTestModel.ts";
import { randomWords, writeTestModel, type TestTensor } from "./helpers/writeTestModel.ts";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32"];
const WIDTH = { BF16: 2, F16: 2, F32: 4 } as const;
const SHAPES: [string, number[]][] = [
  ["model.embed_tokens.weight", [97, 16]],
  ["model.layers.0.self_attn.q_proj.weight", [16, 16]],
  ["model.layers.0.self_attn.q_proj.bias", [7]],
  ["model.layers.0.mlp.up_proj.weight", [3, 5, 11]],
  ["model.norm.weight", [16]],
  ["lm_head.weight", [97, 16]],
];

/** Bits of `count` values: realistic weights around a seed-shared base, and raw random patterns (NaN, Inf, subnormals). */
function tensorBits(dtype: FloatDtype, count: number, seed: number, variant: number): number[] {
  const base = randomWords(seed, count);
  const noise = randomWords(seed * 31 + variant + 1, count);
  const raw = randomWords(seed * 977 + variant, count);
  const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00000001, 0x80400000, 0x477ff000, 0x38000000, 0x33000000, 0x33000001];
  return Array.from({ length: count }, (_, i) => {
    if (i % 5 === 4) return dtype === "F32" ? raw[i]! : raw[i]! & 0xffff;
    if (i % 11 === 3) return encodeFloat(dtype, decodeFloat("F32", specials[(i + variant) % specials.length]!)) ?? 0x7fc0;
    const weight = ((base[i]! / 2 ** 32) - 0.5) * 0.1 + (variant === 0 ? 0 : ((noise[i]! / 2 ** 32) - 0.5) * 1e-3);
    return encodeFloat(dtype, weight)!;
  });
}

function bitsToBytes(dtype: FloatDtype, bits: number[]): Uint8Array {
  const bytes = new Uint8Array(bits.length * WIDTH[dtype]);
  const view = new DataView(bytes.buffer);
  bits.forEach((value, i) => (WIDTH[dtype] === 4 ? view.setUint32(i * 4, value, true) : view.setUint16(i * 2, value, true)));
  return bytes;
}

function modelTensors(dtype: FloatDtype, variant: number): TestTensor[] {
  const tensors: TestTensor[] = SHAPES.map(([name, shape], index) => {
    const count = shape.reduce((a, b) => a * b, 1);
    return { name, dtype, shape, data: bitsToBytes(dtype, tensorBits(dtype, count, index + 1, variant)) };
  });
  // A non-float tensor: copied from the target unchanged.
  const positions = new BigInt64Array([BigInt(variant), 1n, -2n]);
  tensors.push({ name: "model.rotary.position_ids", dtype: "I64", shape: [3], data: new Uint8Array(positions.buffer) });
  return tensors;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "merge-test-"));
  for (const dtype of DTYPES) {
    for (const [role, variant] of [["target", 0], ["plus", 1], ["minus", 2]] as const) {
      const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: false, torch_dtype: dtype };
      await writeTestModel(join(root, dtype, role), modelTensors(dtype, variant), { config });
      await writeTestModel(join(root, dtype, `${role}-sharded`), modelTensors(dtype, variant), { config, shards: 3 });
    }
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function merge(dtype: FloatDtype, alpha: number, outName: string, options: { sharded?: boolean; outDtype?: FloatDtype } = {}) {
  const suffix = options.sharded ? "-sharded" : "";
  const sources = {
    target: await openFolderSource(join(root, dtype, `target${suffix}`)),
    plus: await openFolderSource(join(root, dtype, `plus${suffix}`)),
    minus: await openFolderSource(join(root, dtype, `minus${suffix}`)),
  };
  const out = join(root, "out", outName);
  await mergeSources(sources, { alpha, out, outDtype: options.outDtype });
  await Promise.all(Object.values(sources).map((source) => source.close?.()));
  return readTestModel(out);
}

describe("merge matches the numeric contract element by element", () => {
  for (const dtype of DTYPES) {
    for (const alpha of [1, 0.5, -1, 0.3]) {
      it(`${dtype}, alpha ${alpha}`, async () => {
        const merged = await merge(dtype, alpha, `${dtype}-${alpha}`);
        const inputs = [0, 1, 2].map((variant) => modelTensors(dtype, variant));
        let checked = 0;
        for (const [index, [name]] of SHAPES.entries()) {
          const [t, p, m] = inputs.map((tensors) => elementBits(dtype, tensors[index]!.data));
          const out = elementBits(dtype, merged.get(name)!.data);
          expect(merged.get(name)!.dtype).toBe(dtype);
          for (let i = 0; i < out.length; i++) {
            const r = referenceMerge(decodeFloat(dtype, t![i]!), decodeFloat(dtype, p![i]!), decodeFloat(dtype, m![i]!), alpha);
            const expected = encodeFloat(dtype, r);
            if (expected === undefined) expect(Number.isNaN(decodeFloat(dtype, out[i]!)), `${name}[${i}] should be NaN`).toBe(true);
            else if (out[i] !== expected) expect.fail(`${name}[${i}]: got 0x${out[i]!.toString(16)}, expected 0x${expected.toString(16)}`);
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(3000);
        expect(merged.get("model.rotary.position_ids")!.data).toEqual(inputs[0]!.at(-1)!.data);
      });
    }
    it(`${dtype}, alpha 0 gives the target bit for bit`, async () => {
      const merged = await merge(dtype, 0, `${dtype}-zero`);
      for (const tensor of modelTensors(dtype, 0)) expect(merged.get(tensor.name)!.data, tensor.name).toEqual(tensor.data);
    });
    it(`${dtype}, a sharded input gives the same tensors as the single file`, async () => {
      const single = await merge(dtype, 0.3, `${dtype}-single`);
      const sharded = await merge(dtype, 0.3, `${dtype}-from-sharded`, { sharded: true });
      expect([...sharded.keys()].sort()).toEqual([...single.keys()].sort());
      for (const [name, tensor] of single) expect(sharded.get(name)!.data, name).toEqual(tensor.data);
    });
  }

  for (const [from, to] of [["BF16", "F32"], ["F32", "BF16"], ["F16", "BF16"], ["BF16", "F16"], ["F32", "F16"]] as const) {
    it(`${from} inputs written as ${to}`, async () => {
      const merged = await merge(from, -1, `${from}-to-${to}`, { outDtype: to });
      const inputs = [0, 1, 2].map((variant) => modelTensors(from, variant));
      for (const [index, [name]] of SHAPES.entries()) {
        const [t, p, m] = inputs.map((tensors) => elementBits(from, tensors[index]!.data));
        const out = elementBits(to, merged.get(name)!.data);
        expect(merged.get(name)!.dtype).toBe(to);
        for (let i = 0; i < out.length; i++) {
          const expected = encodeFloat(to, referenceMerge(decodeFloat(from, t![i]!), decodeFloat(from, p![i]!), decodeFloat(from, m![i]!), -1));
          if (expected === undefined) expect(Number.isNaN(decodeFloat(to, out[i]!))).toBe(true);
          else if (out[i] !== expected) expect.fail(`${name}[${i}]: got 0x${out[i]!.toString(16)}, expected 0x${expected.toString(16)}`);
        }
      }
    });
  }
});

describe("merged folder layout", () => {
  it("writes compact headers padded to 8, shards with an index, config dtype, card and recipe with hashes", async () => {
    const sources = {
      target: await openFolderSource(join(root, "BF16", "target")),
      plus: await openFolderSource(join(root, "BF16", "plus")),
      minus: await openFolderSource(join(root, "BF16", "minus")),
    };
    const out = join(root, "out", "layout");
    await mergeSources(sources, { alpha: 1, out, outDtype: "F32", shardSize: 2000 });
    const files = (await readdir(out)).sort();
    expect(files).toContain("model.safetensors.index.json");
    expect(files).not.toContain("model.safetensors");
    const shards = files.filter((file) => file.endsWith(".safetensors"));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards[0]).toBe(`model-00001-of-${String(shards.length).padStart(5, "0")}.safetensors`);
    const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8"));
    let total = 0;
    for (const shard of shards) {
      const bytes = await readFile(join(out, shard));
      const headerLength = Number(bytes.readBigUInt64LE(0));
      expect((8 + headerLength) % 8).toBe(0);
      const text = bytes.subarray(8, 8 + headerLength).toString("utf8");
      expect(text.startsWith('{"__metadata__":{"format":"pt"},')).toBe(true);
      expect(text.trimEnd()).toBe(JSON.stringify(JSON.parse(text)));
      const header = JSON.parse(text);
      for (const [name, entry] of Object.entries(header) as [string, { data_offsets: number[] }][]) {
        if (name === "__metadata__") continue;
        expect(index.weight_map[name]).toBe(shard);
        total += entry.data_offsets[1]! - entry.data_offsets[0]!;
      }
    }
    expect(index.metadata.total_size).toBe(total);
    const config = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    expect(config.torch_dtype).toBe("float32");
    const card = await readFile(join(out, "README.md"), "utf8");
    expect(card).toMatch(/^---\nbase_model:\n- .*target\n- .*plus\n- .*minus\ntags:\n- merge\n- merge-studio\n- task-arithmetic\n/);
    expect(card).toContain("merge_method: linear");
    const recipe = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8"));
    expect(recipe.method).toBe("task_arithmetic");
    expect(recipe.vectors).toEqual([{ plus: expect.stringMatching(/plus$/), minus: expect.stringMatching(/minus$/), weight: 1 }]);
    const { createHash } = await import("node:crypto");
    for (const file of files.filter((name) => name !== "merge_recipe.json")) {
      const bytes = await readFile(join(out, file));
      expect(recipe.files[file], file).toEqual({ size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") });
    }
  });

  it("drops lm_head.weight when the target ties embeddings", async () => {
    const tied = join(root, "tied");
    const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: true };
    for (const [role, variant] of [["target", 0], ["plus", 1], ["minus", 2]] as const) {
      await writeTestModel(join(tied, role), modelTensors("BF16", variant), { config, extraFiles: { "tokenizer.json": `{"role":"${role}"}` } });
    }
    const sources = {
      target: await openFolderSource(join(tied, "target")),
      plus: await openFolderSource(join(tied, "plus")),
      minus: await openFolderSource(join(tied, "minus")),
    };
    const out = join(root, "out", "tied");
    const { plan } = await mergeSources(sources, { alpha: 1, out });
    const merged = await readTestModel(out);
    expect(merged.has("lm_head.weight")).toBe(false);
    expect(merged.has("model.embed_tokens.weight")).toBe(true);
    expect(plan.issues.some((issue) => issue.tensor === "lm_head.weight")).toBe(true);
    expect(await readFile(join(out, "tokenizer.json"), "utf8")).toBe('{"role":"target"}');
    expect(await readFile(join(out, "config.json"), "utf8")).toBe(JSON.stringify(config));
  });
});

describe("vocabulary mismatch with vocab common", () => {
  it("merges the common rows and keeps the target's extra rows unchanged", async () => {
    const dir = join(root, "vocab");
    const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: true };
    const embedding = (rows: number, variant: number): TestTensor => ({
      name: "model.embed_tokens.weight",
      dtype: "BF16",
      shape: [rows, 16],
      data: bitsToBytes("BF16", tensorBits("BF16", rows * 16, 1, variant)),
    });
    await writeTestModel(join(dir, "target"), [embedding(12, 0)], { config });
    await writeTestModel(join(dir, "plus"), [embedding(10, 1)], { config });
    await writeTestModel(join(dir, "minus"), [embedding(11, 2)], { config });
    const sources = {
      target: await openFolderSource(join(dir, "target")),
      plus: await openFolderSource(join(dir, "plus")),
      minus: await openFolderSource(join(dir, "minus")),
    };
    const out = join(root, "out", "vocab-common");
    const { plan } = await mergeSources(sources, { alpha: 1, out, vocab: "common" });
    expect(plan.issues.map((issue) => issue.message).join("\n")).toMatch(/target has 12 rows, plus 10, minus 11.*merging the 10 common rows/);
    const merged = elementBits("BF16", (await readTestModel(out)).get("model.embed_tokens.weight")!.data);
    const [t, p, m] = [0, 1, 2].map((variant) => tensorBits("BF16", 12 * 16, 1, variant)) as [number[], number[], number[]];
    expect(merged.length).toBe(12 * 16);
    for (let i = 0; i < 12 * 16; i++) {
      const expected = i < 10 * 16 ? encodeFloat("BF16", referenceMerge(decodeFloat("BF16", t[i]!), decodeFloat("BF16", p[i]!), decodeFloat("BF16", m[i]!), 1)) : t[i];
      if (expected === undefined) expect(Number.isNaN(decodeFloat("BF16", merged[i]!))).toBe(true);
      else expect(merged[i], `element ${i}`).toBe(expected);
    }
  });
});
