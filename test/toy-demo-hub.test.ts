import { createHash } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { readModelTokenizer } from "../src/eval/loadEvalModel.ts";
import type { Qwen2Shape } from "../src/testmodels/qwen2Shape.ts";
import { initQwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { toyTokenizerFiles } from "../src/testmodels/training/toyTokenizer.ts";
import { writeTrainedModel } from "../src/testmodels/training/writeTrainedModel.ts";
import { ensureCurrentDemoHub } from "../src/testmodels/ensureCurrentDemoHub.ts";
import { demoHubIsCurrent, writeDemoHub } from "../src/testmodels/writeDemoHub.ts";
import { readTestModel } from "./helpers/readTestModel.ts";

/** The committed toy models and their manifest, read here as plain JSON (not through the project's parser). */
const TOY_MODELS = fileURLToPath(new URL("../models/toy", import.meta.url));
interface Manifest {
  command: string;
  shape: Qwen2Shape;
  models: { name: string; file: string; sha256: string; role: string; training: string }[];
}
const readManifest = async (folder: string) => JSON.parse(await readFile(join(folder, "toy-demo.json"), "utf8")) as Manifest;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const TOY_REPOS = ["Toy-Base", "Toy-Instruct", "Toy-SFT", "Toy-GRPO"];

let scratch: string;
let hub: string;
let manifest: Manifest;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "toy-demo-hub-"));
  hub = join(scratch, "hub");
  manifest = await readManifest(TOY_MODELS);
  await writeDemoHub(hub, TOY_MODELS);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A copy of models/toy/ whose file for `name` has one byte changed, with (or without) the manifest updated to match. */
async function toyCopyWithChangedWeights(folder: string, name: string, updateManifest: boolean): Promise<void> {
  await cp(TOY_MODELS, folder, { recursive: true });
  const entry = manifest.models.find((model) => model.name === name)!;
  const bytes = await readFile(join(folder, entry.file));
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
  await writeFile(join(folder, entry.file), bytes);
  if (updateManifest) {
    const changed = { ...manifest, models: manifest.models.map((model) => (model.name === name ? { ...model, sha256: sha256(bytes) } : model)) };
    await writeFile(join(folder, "toy-demo.json"), JSON.stringify(changed, null, 2));
  }
}

describe("writeDemoHub's toy repos", () => {
  it("are demo/Toy-Base, -Instruct, -SFT and -GRPO, each a Hugging Face folder whose weights are the committed file's bytes", async () => {
    expect(manifest.models.map((model) => model.name).sort()).toEqual([...TOY_REPOS].sort());
    for (const model of manifest.models) {
      const dir = join(hub, "demo", model.name);
      expect((await readdir(dir)).sort()).toEqual(["README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
      const weights = await readFile(join(dir, "model.safetensors"));
      expect(weights.equals(await readFile(join(TOY_MODELS, model.file))), model.name).toBe(true);
      expect(sha256(weights)).toBe(model.sha256);
    }
  });

  it("have a config.json of the manifest's shape with the toy tokenizer's special ids, and that tokenizer's files", async () => {
    const { shape } = manifest;
    const { tokenizerJson, tokenizerConfig } = toyTokenizerFiles();
    for (const name of TOY_REPOS) {
      const dir = join(hub, "demo", name);
      const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
      expect(config).toMatchObject({
        architectures: ["Qwen2ForCausalLM"],
        hidden_size: shape.hiddenSize,
        intermediate_size: shape.intermediateSize,
        num_hidden_layers: shape.numLayers,
        num_attention_heads: shape.numHeads,
        num_key_value_heads: shape.numKvHeads,
        vocab_size: shape.vocabSize,
        tie_word_embeddings: shape.tieWordEmbeddings,
        torch_dtype: "float32",
        // <|endoftext|> and <|im_end|>: ids 44 and 46 of the 47-token toy vocabulary.
        bos_token_id: 44,
        eos_token_id: 46,
      });
      const generation = JSON.parse(await readFile(join(dir, "generation_config.json"), "utf8")) as Record<string, unknown>;
      expect(generation).toMatchObject({ eos_token_id: [46, 44], pad_token_id: 44, do_sample: false });
      expect(JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8"))).toEqual(tokenizerJson);
      expect(JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8"))).toEqual(tokenizerConfig);
      // The weights agree with the config: the embedding table is vocabulary x hidden, F32.
      const embedding = (await readTestModel(dir)).get("model.embed_tokens.weight")!;
      expect(embedding).toMatchObject({ dtype: "F32", shape: [shape.vocabSize, shape.hiddenSize] });
    }
  });

  it("have the same non-weight files as the trainer writes for a model of that shape", async () => {
    const trained = join(scratch, "trained");
    await writeTrainedModel(trained, initQwen2Parameters(manifest.shape, 1, Float32Array));
    for (const file of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]) {
      expect(await readFile(join(hub, "demo", "Toy-Instruct", file), "utf8"), file).toBe(await readFile(join(trained, file), "utf8"));
    }
  });

  it("each say in README.md what the model is: trained by the project, its role and training line", async () => {
    for (const model of manifest.models) {
      const readme = await readFile(join(hub, "demo", model.name, "README.md"), "utf8");
      expect(readme).toContain(`# demo/${model.name}`);
      expect(readme).toMatch(/toy model trained by Merge Studio/);
      expect(readme).toContain(model.role);
      expect(readme).toContain(model.training);
      expect(readme).toContain(manifest.command);
    }
  });

  it("load through the evaluator's folder path with the toy chat template and <|im_end|> as a stop token", async () => {
    const source = await openFolderSource(join(hub, "demo", "Toy-GRPO"));
    const tokenizer = await readModelTokenizer(await inspectModel(source)).finally(() => source.close?.());
    expect(tokenizer.chatTemplateFile).toBe("tokenizer_config.json");
    expect(tokenizer.stopTokenIds).toEqual([44, 46]);
    expect(tokenizer.idCount).toBe(manifest.shape.vocabSize);
  });

  it("keep the generated Qwen2 repos next to them", async () => {
    expect((await readdir(join(hub, "demo"))).sort()).toEqual([...TOY_REPOS, "Qwen2-Small-BigVocab", "Qwen2-Small-GRPO", "Qwen2-Small-Instruct", "Qwen2-Small-SFT"].sort());
  });
});

describe("writeDemoHub refuses toy models that are not the manifest's, before writing anything", () => {
  it("names a file whose SHA-256 differs from toy-demo.json's and says how to regenerate it", async () => {
    const folder = join(scratch, "changed");
    await toyCopyWithChangedWeights(folder, "Toy-GRPO", false);
    const root = join(scratch, "hub-changed");
    await expect(writeDemoHub(root, folder)).rejects.toThrow(new RegExp(`^${join(folder, "Toy-GRPO.safetensors")}: its SHA-256 is [0-9a-f]{64}, toy-demo\\.json says [0-9a-f]{64}; regenerate the toy models with \`npm run train:demo\`$`));
    await expect(readdir(root)).rejects.toThrow(/ENOENT/);
  });

  it("names a file whose tensors do not have the manifest's shape", async () => {
    const folder = join(scratch, "reshaped");
    await cp(TOY_MODELS, folder, { recursive: true });
    const { hiddenSize } = manifest.shape;
    await writeFile(join(folder, "toy-demo.json"), JSON.stringify({ ...manifest, shape: { ...manifest.shape, intermediateSize: manifest.shape.intermediateSize * 2 } }));
    await expect(writeDemoHub(join(scratch, "hub-reshaped"), folder)).rejects.toThrow(
      `${join(folder, manifest.models[0]!.file)}: tensor "model.layers.0.mlp.gate_proj.weight" is F32 [${manifest.shape.intermediateSize}, ${hiddenSize}], toy-demo.json's shape needs F32 [${manifest.shape.intermediateSize * 2}, ${hiddenSize}]; regenerate the toy models with \`npm run train:demo\``,
    );
    await writeFile(join(folder, "toy-demo.json"), JSON.stringify({ ...manifest, shape: { ...manifest.shape, vocabSize: 151936 } }));
    await expect(writeDemoHub(join(scratch, "hub-reshaped"), folder)).rejects.toThrow("shape.vocabSize is 151936, the toy tokenizer has 47 tokens");
  });

  it("names a missing model file and a missing manifest, with the command that writes them", async () => {
    const folder = join(scratch, "missing");
    await cp(TOY_MODELS, folder, { recursive: true });
    await rm(join(folder, "Toy-SFT.safetensors"));
    await expect(writeDemoHub(join(scratch, "hub-missing"), folder)).rejects.toThrow(`${join(folder, "Toy-SFT.safetensors")}: missing; regenerate the toy models with \`npm run train:demo\``);
    await rm(join(folder, "toy-demo.json"));
    await expect(writeDemoHub(join(scratch, "hub-missing"), folder)).rejects.toThrow(`${join(folder, "toy-demo.json")}: missing; the toy demo's models are written by \`npm run train:demo\``);
  });
});

describe("demoHubIsCurrent (npm start rewrites a demo-hub/ that is not)", () => {
  it("is true for a demo Hub written from the same toy models", async () => {
    expect(await demoHubIsCurrent(hub, TOY_MODELS)).toBe(true);
  });

  it("is false for a demo Hub written before the toy repos existed", async () => {
    const old = join(scratch, "hub-before-toys");
    await cp(hub, old, { recursive: true });
    for (const name of TOY_REPOS) await rm(join(old, "demo", name), { recursive: true });
    expect(await demoHubIsCurrent(old, TOY_MODELS)).toBe(false);
    expect(await demoHubIsCurrent(join(scratch, "no-hub-here"), TOY_MODELS)).toBe(false);
  });

  it("is false once models/toy/ holds other weights, and true again after writing the Hub from them", async () => {
    const folder = join(scratch, "retrained");
    await toyCopyWithChangedWeights(folder, "Toy-Instruct", true);
    expect(await demoHubIsCurrent(hub, folder)).toBe(false);
    const rewritten = join(scratch, "hub-retrained");
    await writeDemoHub(rewritten, folder);
    expect(await demoHubIsCurrent(rewritten, folder)).toBe(true);
    expect(await demoHubIsCurrent(rewritten, TOY_MODELS)).toBe(false);
  });
});

describe("ensureCurrentDemoHub (npm start's demo-hub/)", () => {
  it("writes a missing demo Hub, keeps a current one as it is, and replaces an outdated one whole, through ROOT.partial", async () => {
    const root = join(scratch, "demo-hub");
    const heard: boolean[] = [];
    expect(await ensureCurrentDemoHub(root, TOY_MODELS, (replacing) => heard.push(replacing))).toBe("written");
    expect(await demoHubIsCurrent(root, TOY_MODELS)).toBe(true);

    // A current Hub is not touched: a file of its own survives.
    await writeFile(join(root, "kept.txt"), "mine");
    expect(await ensureCurrentDemoHub(root, TOY_MODELS, (replacing) => heard.push(replacing))).toBe("kept");
    expect(await readFile(join(root, "kept.txt"), "utf8")).toBe("mine");

    // Written before the toy repos existed: rewritten whole, with them.
    for (const name of TOY_REPOS) await rm(join(root, "demo", name), { recursive: true });
    expect(await ensureCurrentDemoHub(root, TOY_MODELS, (replacing) => heard.push(replacing))).toBe("rewritten");
    await expect(readFile(join(root, "kept.txt"))).rejects.toThrow(/ENOENT/);
    expect(await demoHubIsCurrent(root, TOY_MODELS)).toBe(true);

    // Other toy weights: rewritten from them; nothing is left beside it.
    const folder = join(scratch, "retrained-for-start");
    await toyCopyWithChangedWeights(folder, "Toy-GRPO", true);
    expect(await ensureCurrentDemoHub(root, folder, (replacing) => heard.push(replacing))).toBe("rewritten");
    expect(await demoHubIsCurrent(root, folder)).toBe(true);
    expect(heard).toEqual([false, true, true]);
    expect((await readdir(scratch)).filter((name) => name.startsWith("demo-hub"))).toEqual(["demo-hub"]);
  });

  it("leaves an outdated demo Hub in place when the toy models cannot be read", async () => {
    const root = join(scratch, "demo-hub-kept");
    await cp(hub, root, { recursive: true });
    for (const name of TOY_REPOS) await rm(join(root, "demo", name), { recursive: true });
    const folder = join(scratch, "broken-for-start");
    await toyCopyWithChangedWeights(folder, "Toy-SFT", false);
    await expect(ensureCurrentDemoHub(root, folder)).rejects.toThrow(/Toy-SFT\.safetensors: its SHA-256 is/);
    expect((await readdir(join(root, "demo"))).sort()).toEqual(["Qwen2-Small-BigVocab", "Qwen2-Small-GRPO", "Qwen2-Small-Instruct", "Qwen2-Small-SFT"]);
  });
});
