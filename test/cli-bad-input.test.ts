import { cp, mkdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTestModel } from "./helpers/readTestModel.ts";
import { runCli } from "./helpers/runCli.ts";
import { randomWords, safetensorsBytes, writeTestModel, type TestTensor } from "./helpers/writeTestModel.ts";
import { testTrioFolder } from "./helpers/testTrioFolder.ts";

const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: false, hidden_size: 4 };

function tensors(seed: number, vocab = 10): TestTensor[] {
  const bf16 = (count: number, salt: number) => {
    const words = randomWords(seed * 100 + salt, count);
    // Small finite bfloat16 values: exponent bits kept in a narrow band.
    return new Uint8Array(new Uint16Array(Array.from(words, (word) => 0x3c00 | (word & 0x83ff))).buffer);
  };
  return [
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [vocab, 4], data: bf16(vocab * 4, 1) },
    { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [6, 4], data: bf16(24, 2) },
    { name: "lm_head.weight", dtype: "BF16", shape: [vocab, 4], data: bf16(vocab * 4, 3) },
  ];
}

const trio = testTrioFolder("cli-bad-", tensors, config);

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Runs a merge with `broken` as the plus model and checks: non-zero exit, the message, and no output. */
async function expectRefused(broken: string, ...fragments: (string | RegExp)[]) {
  const out = join(trio.root, `out-${Math.random().toString(36).slice(2)}`);
  const result = await runCli(["merge", "--target", trio.models.target, "--plus", broken, "--minus", trio.models.minus, "--alpha", "1", "--out", out]);
  expect(result.code, result.stderr).toBe(1);
  const errorLine = result.stderr.split("\n").find((line) => line.startsWith("error: "));
  expect(errorLine, result.stderr).toBeDefined();
  // Every message names the broken input's role; errors found while reading it also name its folder.
  expect(errorLine).toMatch(/\bplus\b/);
  for (const fragment of fragments) expect(errorLine).toMatch(fragment);
  expect(await exists(out)).toBe(false);
  expect(await exists(`${out}.partial`)).toBe(false);
}

/** A copy of the good plus model whose model.safetensors is replaced by `bytes`. */
async function brokenModel(name: string, bytes: Uint8Array): Promise<string> {
  const dir = join(trio.root, name);
  await cp(trio.models.plus, dir, { recursive: true });
  await writeFile(join(dir, "model.safetensors"), bytes);
  return dir;
}

function headerWith(edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): string {
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> = {};
  let offset = 0;
  for (const tensor of tensors(2)) {
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  edit(header);
  return JSON.stringify(header);
}

describe("the CLI refuses bad input with one clear line and no output folder", () => {
  it("truncated shard", async () => {
    const dir = join(trio.root, "truncated");
    await cp(trio.models.plus, dir, { recursive: true });
    await truncate(join(dir, "model.safetensors"), (await stat(join(dir, "model.safetensors"))).size - 10);
    await expectRefused(dir, `plus (${dir}): model.safetensors: `, 'tensor "lm_head.weight"', /truncated/);
  });
  it("header length larger than the file", async () => {
    const bytes = safetensorsBytes(tensors(2));
    new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, 1_000_000n, true);
    await expectRefused(await brokenModel("long-header", bytes), "model.safetensors", /header length 1000000 is larger than the file/);
  });
  it("header that is not JSON", async () => {
    const text = "{not json" + " ".repeat(10);
    await expectRefused(await brokenModel("not-json", safetensorsBytes(tensors(2), text)), "model.safetensors", /not valid JSON/);
  });
  it("offsets out of bounds", async () => {
    const text = headerWith((h) => (h["lm_head.weight"]!.data_offsets = [208, 288]));
    await expectRefused(await brokenModel("out-of-bounds", safetensorsBytes(tensors(2), text)), 'tensor "lm_head.weight"', /run past the end/);
  });
  it("overlapping offsets", async () => {
    const text = headerWith((h) => (h["model.layers.0.mlp.up_proj.weight"]!.data_offsets = [40, 88]));
    const bytes = safetensorsBytes(tensors(2), text);
    await expectRefused(await brokenModel("overlap", bytes), 'tensor "model.layers.0.mlp.up_proj.weight"', /overlaps tensor "model.embed_tokens.weight"/);
  });
  it("offsets that leave a gap", async () => {
    const text = headerWith((h) => (h["model.layers.0.mlp.up_proj.weight"]!.data_offsets = [84, 132]));
    const bytes = safetensorsBytes(tensors(2), text);
    await expectRefused(await brokenModel("gap", bytes), 'tensor "model.layers.0.mlp.up_proj.weight"', /gap/);
  });
  it("unknown dtype", async () => {
    const text = headerWith((h) => (h["lm_head.weight"]!.dtype = "BF17"));
    await expectRefused(await brokenModel("dtype", safetensorsBytes(tensors(2), text)), 'tensor "lm_head.weight"', /unknown dtype "BF17"/);
  });
  it("shape that disagrees with the byte length", async () => {
    const text = headerWith((h) => (h["lm_head.weight"]!.shape = [10, 5]));
    await expectRefused(await brokenModel("shape-bytes", safetensorsBytes(tensors(2), text)), 'tensor "lm_head.weight"', /needs 100 bytes but data_offsets span 80/);
  });
  it("index naming a missing shard", async () => {
    const dir = join(trio.root, "missing-shard");
    await writeTestModel(dir, tensors(2), { config, shards: 2 });
    await rm(join(dir, "model-00002-of-00002.safetensors"));
    await expectRefused(dir, "model.safetensors.index.json", "model-00002-of-00002.safetensors", /missing/);
  });
  it("index naming a tensor its shard does not hold", async () => {
    const dir = join(trio.root, "index-extra");
    await writeTestModel(dir, tensors(2), { config, shards: 2 });
    const indexPath = join(dir, "model.safetensors.index.json");
    const index = JSON.parse(await readFile(indexPath, "utf8"));
    index.weight_map["model.layers.9.ghost.weight"] = "model-00001-of-00002.safetensors";
    await writeFile(indexPath, JSON.stringify(index));
    await expectRefused(dir, 'tensor "model.layers.9.ghost.weight"', "model-00001-of-00002.safetensors");
  });
  it("pickle weights only", async () => {
    const dir = join(trio.root, "pickle");
    await mkdir(dir);
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    await writeFile(join(dir, "pytorch_model.bin"), "PK\x03\x04 not really a zip");
    await expectRefused(dir, "pytorch_model.bin", /pickle/, /run arbitrary code/);
  });
  it("missing config.json", async () => {
    const dir = join(trio.root, "no-config");
    await cp(trio.models.plus, dir, { recursive: true });
    await rm(join(dir, "config.json"));
    await expectRefused(dir, "config.json is missing");
  });
  it("mismatched shapes", async () => {
    const dir = join(trio.root, "mismatch");
    const wrong = tensors(2);
    wrong[1] = { ...wrong[1]!, shape: [4, 6] };
    await writeTestModel(dir, wrong, { config });
    await expectRefused(dir, "model.layers.0.mlp.up_proj.weight", /shapes differ: target \[6, 4\], plus \[4, 6\]/);
  });
  it("different vocabulary sizes: an error naming both sizes, unless --vocab common", async () => {
    const dir = join(trio.root, "bigvocab");
    await writeTestModel(dir, tensors(2, 12), { config });
    await expectRefused(dir, "model.embed_tokens.weight", /target has 10 rows, plus 12/, /common/);
    const out = join(trio.root, "vocab-common");
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", dir, "--minus", trio.models.minus, "--alpha", "0.5", "--vocab", "common", "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    const merged = await readTestModel(out);
    expect(merged.get("model.embed_tokens.weight")!.shape).toEqual([10, 4]);
  });
  it("an output folder that exists, unless --force", async () => {
    const out = join(trio.root, "existing");
    await mkdir(out);
    await writeFile(join(out, "keep.txt"), "precious");
    const args = ["merge", "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus, "--alpha", "1", "--out", out];
    const refused = await runCli(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already exists.*--force/);
    expect(await readFile(join(out, "keep.txt"), "utf8")).toBe("precious");
    const forced = await runCli([...args, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await exists(join(out, "keep.txt"))).toBe(false);
    expect(await exists(join(out, "model.safetensors"))).toBe(true);
  });
  it("a bad alpha or option is a usage error", async () => {
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus, "--alpha", "abc", "--out", join(trio.root, "x")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--alpha must be a finite number/);
  });
});
