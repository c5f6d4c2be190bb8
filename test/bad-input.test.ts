import { cp, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { quoteName } from "../src/core/messages/safeText.ts";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { memorySink, memorySource } from "./helpers/memoryModel.ts";
import { readTestModel } from "./helpers/readTestModel.ts";
import { runCli } from "./helpers/runCli.ts";
import { randomWords, safetensorsBytes, writeTestModel, type TestTensor } from "./helpers/writeTestModel.ts";
import { testTrioFolder } from "./helpers/testTrioFolder.ts";

const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: false, hidden_size: 4 };
const TENSOR_NAMES = ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"];

function tensors(seed: number, names = TENSOR_NAMES): TestTensor[] {
  const shapes = [[10, 4], [6, 4], [10, 4]];
  return names.map((name, i) => {
    const count = shapes[i]![0]! * shapes[i]![1]!;
    const words = randomWords(seed * 100 + i, count);
    const data = new Uint8Array(new Uint16Array(Array.from(words, (word) => 0x3c00 | (word & 0x83ff))).buffer);
    return { name, dtype: "BF16", shape: shapes[i]!, data };
  });
}

/** A header written entry by entry (so any name, "__proto__" included, is written as given). */
function headerText(entries: Array<{ name: string; dtype: string; shape: unknown; offsets: unknown }>): string {
  const parts = [`"__metadata__":{"format":"pt"}`];
  for (const entry of entries) parts.push(`${JSON.stringify(entry.name)}:{"dtype":${JSON.stringify(entry.dtype)},"shape":${JSON.stringify(entry.shape)},"data_offsets":${JSON.stringify(entry.offsets)}}`);
  return `{${parts.join(",")}}`;
}

function entriesOf(list: TestTensor[]) {
  let offset = 0;
  return list.map((tensor) => {
    const entry = { name: tensor.name, dtype: tensor.dtype, shape: tensor.shape as unknown, offsets: [offset, offset + tensor.data.byteLength] as unknown };
    offset += tensor.data.byteLength;
    return entry;
  });
}

const encode = (text: string) => new TextEncoder().encode(text);

/** The files of a single-file model: config.json and model.safetensors (with `header` as its header text). */
function modelFiles(seed: number, options: { header?: string; names?: string[]; configText?: string } = {}): Map<string, Uint8Array> {
  const list = tensors(seed, options.names);
  return new Map([
    ["config.json", encode(options.configText ?? JSON.stringify(config))],
    ["model.safetensors", safetensorsBytes(list, options.header ?? headerText(entriesOf(list)))],
  ]);
}

async function inspectError(files: Map<string, Uint8Array>, label = "org/plus@0123abc"): Promise<string> {
  return inspectModel(memorySource(label, files), undefined, "plus").then(
    () => "(accepted)",
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

// eslint-disable-next-line no-control-regex -- a message must hold no control character
const PRINTABLE_LINE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

const trio = testTrioFolder("bad-input-", tensors, config);

const exists = (path: string) => stat(path).then(() => true, () => false);

describe("errors name the input", () => {
  it("an error names the role, the source and the file", async () => {
    const list = tensors(2);
    const entries = entriesOf(list);
    entries[2]!.dtype = "BF17";
    const message = await inspectError(modelFiles(2, { header: headerText(entries) }));
    expect(message).toBe('plus (org/plus@0123abc): model.safetensors: tensor "lm_head.weight": unknown dtype "BF17"');
  });
  it("a config.json error names the role and the source", async () => {
    expect(await inspectError(modelFiles(2, { configText: "{" }))).toMatch(/^plus \(org\/plus@0123abc\): config\.json is not valid JSON/);
  });
});

describe("nothing corrupt is accepted", () => {
  it("weights with no tensors", async () => {
    expect(await inspectError(modelFiles(2, { header: headerText([]), names: [] }))).toMatch(/^plus \(.*\): model\.safetensors holds no tensors/);
  });
  it("an index with an empty weight_map", async () => {
    const files = modelFiles(2);
    files.set("model.safetensors.index.json", encode(JSON.stringify({ metadata: { total_size: 0 }, weight_map: {} })));
    expect(await inspectError(files)).toMatch(/weight_map is empty/);
  });
  it("a shard that the index does not list", async () => {
    const dir = join(trio.root, "unlisted");
    await writeTestModel(dir, tensors(2), { config, shards: 2 });
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    for (const [name, shard] of Object.entries(index.weight_map)) if (shard.startsWith("model-00002")) delete index.weight_map[name];
    await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify(index));
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", dir, "--minus", trio.models.minus, "--out", join(trio.root, "out-unlisted")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/model-00002-of-00002\.safetensors is not listed in model\.safetensors\.index\.json/);
    expect(await exists(join(trio.root, "out-unlisted"))).toBe(false);
  });
  it('a tensor named "__proto__" in all three inputs is merged and written under its name', async () => {
    const names = ["__proto__", ...TENSOR_NAMES.slice(1)];
    const dirs = await Promise.all([1, 2, 3].map(async (seed) => {
      const dir = join(trio.root, `proto-${seed}`);
      await mkdir(dir, { recursive: true });
      const list = tensors(seed, names);
      await writeFile(join(dir, "config.json"), JSON.stringify(config));
      await writeFile(join(dir, "model.safetensors"), safetensorsBytes(list, headerText(entriesOf(list))));
      return dir;
    }));
    const out = join(trio.root, "out-proto");
    const result = await runCli(["merge", "--target", dirs[0]!, "--plus", dirs[1]!, "--minus", dirs[2]!, "--alpha", "0", "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    const merged = await readTestModel(out);
    expect([...merged.keys()].sort()).toEqual([...names].sort());
    // alpha 0 gives the target bit for bit, "__proto__" included.
    expect(Buffer.from(merged.get("__proto__")!.data).equals(Buffer.from(tensors(1, names)[0]!.data))).toBe(true);
    const reread = await runCli(["merge", "--target", out, "--plus", out, "--minus", out, "--check"]);
    expect(reread.code, reread.stderr).toBe(0);
  });
  it("a lone UTF-16 surrogate in a tensor name", async () => {
    const names = ["bad\ud800name", ...TENSOR_NAMES.slice(1)];
    const list = tensors(2, names);
    const message = await inspectError(modelFiles(2, { names, header: headerText(entriesOf(list)) }));
    expect(message).toMatch(/not valid Unicode/);
    expect(message).toContain('"bad\\ud800name"');
  });
  it("a shape whose element count overflows", async () => {
    const entries = entriesOf(tensors(2));
    entries[1]!.shape = [2 ** 40, 2 ** 40, 0, 1].slice(0, 2);
    expect(await inspectError(modelFiles(2, { header: headerText(entries) }))).toMatch(/has more elements than any file can hold/);
  });
  it("an alpha that rounds to infinity in float32 is refused before anything is written", async () => {
    const out = join(trio.root, "out-alpha");
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", trio.models.plus, "--minus", trio.models.minus, "--alpha=1e40", "--out", out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/alpha 1e\+40 is too large for float32/);
    expect(await exists(out)).toBe(false);
    expect(await exists(`${out}.partial`)).toBe(false);
    const models = await Promise.all([trio.models.target, trio.models.plus, trio.models.minus].map((dir) => inspectModel(memorySourceOfFolder(dir))));
    const largest = planOneVector({ target: models[0]!, plus: models[1]!, minus: models[2]! }, 3.4028234e38);
    expect(largest.ok).toBe(true);
  });
});

/** A memory copy of a test folder (files written above are tiny). */
function memorySourceOfFolder(dir: string): ModelSource {
  const files = new Map<string, Uint8Array>();
  const ready = readdir(dir).then(async (names) => {
    for (const name of names) files.set(name, await readFile(join(dir, name)));
  });
  const inner = memorySource(dir, files);
  return { label: dir, listFiles: async () => (await ready, inner.listFiles()), read: async (...args) => (await ready, inner.read(...args)) };
}

describe("hostile names reach messages escaped and short", () => {
  it("a newline in a tensor name cannot forge a second error line", async () => {
    const names = [...TENSOR_NAMES];
    names[1] = "x\nerror: nothing is wrong";
    const dir = join(trio.root, "forged");
    await mkdir(dir, { recursive: true });
    const list = tensors(2, names);
    const entries = entriesOf(list);
    entries[1]!.dtype = "Q4";
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    await writeFile(join(dir, "model.safetensors"), safetensorsBytes(list, headerText(entries)));
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", dir, "--minus", trio.models.minus, "--out", join(trio.root, "out-forged")]);
    expect(result.code).toBe(1);
    expect(result.stderr.split("\n").filter((line) => line.startsWith("error:"))).toHaveLength(1);
    expect(result.stderr).toContain('tensor "x\\nerror: nothing is wrong"');
  });
  it("ANSI and OSC escapes, CR and NUL are shown, not sent", () => {
    const quoted = quoteName("\u001b[31mred\u001b]0;title\u0007\r\u0000end\u009b");
    expect(quoted).toBe('"\\x1b[31mred\\x1b]0;title\\x07\\r\\x00end\\x9b"');
    expect(quoted).toMatch(PRINTABLE_LINE);
  });
  it("a 1 MB name and a million-entry shape give a short line", async () => {
    const entries = entriesOf(tensors(2));
    entries[0]!.name = "n".repeat(1_000_000);
    entries[0]!.dtype = "BF17";
    const longName = await inspectError(modelFiles(2, { header: headerText(entries) }));
    expect(longName.length).toBeLessThan(400);
    expect(longName).toContain("(1000000 characters)");
    const shaped = entriesOf(tensors(2));
    shaped[1]!.shape = Array.from({ length: 1_000_000 }, () => 1.5);
    const longShape = await inspectError(modelFiles(2, { header: headerText(shaped) }));
    expect(longShape).toMatch(/shape \[1\.5, 1\.5, .*\(1000000 entries\)\] is not a list of non-negative integers/);
    expect(longShape.length).toBeLessThan(400);
  });
  it("a JSON error does not quote the file's text", async () => {
    const message = await inspectError(modelFiles(2, { header: '{"a":\n\n  1,\u001b[2J}' }));
    expect(message).toMatch(/header is not valid JSON/);
    expect(message).toMatch(PRINTABLE_LINE);
    expect(message).not.toContain("[2J");
  });
});

describe("unclear failures become clear", () => {
  it("a shape nested 100,000 arrays deep", async () => {
    const entries = entriesOf(tensors(2));
    const header = headerText(entries).replace('"shape":[6,4]', `"shape":${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expect(await inspectError(modelFiles(2, { header }))).toMatch(/header is not accepted: nested more than 4 levels deep/);
  });
  it("an object where config.json has a number", async () => {
    const files = [trio.models.target, trio.models.plus, trio.models.minus].map((dir) => memorySourceOfFolder(dir));
    const plusFiles = modelFiles(2, { configText: JSON.stringify({ ...config, hidden_size: { toString: 1 } }) });
    const models = await Promise.all([inspectModel(files[0]!), inspectModel(memorySource("plus", plusFiles)), inspectModel(files[2]!)]);
    const plan = planOneVector({ target: models[0]!, plus: models[1]!, minus: models[2]! }, 1);
    expect(plan.issues.map((issue) => issue.message)).toContain("config.json hidden_size differs: target 4, plus an object, minus 4");
  });
  it("invalid UTF-8 in config.json", async () => {
    const files = modelFiles(2);
    files.set("config.json", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
    expect(await inspectError(files)).toBe("plus (org/plus@0123abc): config.json is not valid UTF-8 text");
  });
  it("a 600 MB config.json", async () => {
    const inner = memorySource("org/plus@0123abc", modelFiles(2));
    const huge: ModelSource = {
      ...inner,
      listFiles: async () => (await inner.listFiles()).map((file) => (file.path === "config.json" ? { ...file, size: 600e6 } : file)),
      read: async () => {
        throw new Error("config.json must not be read");
      },
    };
    const message = await inspectModel(huge, undefined, "plus").then(() => "", (error: Error) => error.message);
    expect(message).toMatch(/^plus \(org\/plus@0123abc\): config\.json is 600000000 bytes, more than the \d+-byte limit/);
  });
  it("a mistyped local path is not reported as a Hub failure alone", async () => {
    const hubLike = await runCli(["merge", "--target", trio.models.target, "--plus", "no-such-dir/plus", "--minus", trio.models.minus, "--out", join(trio.root, "x"), "--hub-url", "http://127.0.0.1:9"]);
    expect(hubLike.code).toBe(1);
    expect(hubLike.stderr).toMatch(/^error: plus: .*\(and there is no local folder no-such-dir\/plus\)$/m);
    const pathLike = await runCli(["merge", "--target", trio.models.target, "--plus", "./no-such-dir/plus", "--minus", trio.models.minus, "--out", join(trio.root, "x")]);
    expect(pathLike.stderr).toMatch(/^error: plus: \.\/no-such-dir\/plus: no such folder$/m);
    const file = await runCli(["merge", "--target", trio.models.target, "--plus", join(trio.models.plus, "config.json"), "--minus", trio.models.minus, "--out", join(trio.root, "x")]);
    expect(file.stderr).toMatch(/config\.json is a file; give the model's folder/);
  });
});

describe("real folders", () => {
  it("the Hugging Face cache layout (symlinks to blobs) merges like a plain folder", async () => {
    const repo = join(trio.root, "hf-cache", "models--org--plus");
    const snapshot = join(repo, "snapshots", "0123456789abcdef0123456789abcdef01234567");
    await mkdir(join(repo, "blobs"), { recursive: true });
    await mkdir(snapshot, { recursive: true });
    for (const name of await readdir(trio.models.plus)) {
      const bytes = await readFile(join(trio.models.plus, name));
      const blob = createHash("sha256").update(bytes).digest("hex");
      await writeFile(join(repo, "blobs", blob), bytes);
      await symlink(join("..", "..", "blobs", blob), join(snapshot, name));
    }
    const fromCache = join(trio.root, "out-cache");
    const fromFolder = join(trio.root, "out-folder");
    const args = (plus: string, out: string) => ["merge", "--target", trio.models.target, "--plus", plus, "--minus", trio.models.minus, "--alpha", "0.5", "--out", out];
    expect((await runCli(args(snapshot, fromCache))).code).toBe(0);
    expect((await runCli(args(trio.models.plus, fromFolder))).code).toBe(0);
    const [a, b] = await Promise.all([readFile(join(fromCache, "model.safetensors")), readFile(join(fromFolder, "model.safetensors"))]);
    expect(a.equals(b)).toBe(true);
  });
  it("a file name that is not UTF-8 elsewhere in the folder does not break the listing", async () => {
    const dir = join(trio.root, "odd-names");
    await cp(trio.models.plus, dir, { recursive: true });
    await writeFile(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74])]), "not a model file");
    const result = await runCli(["merge", "--target", trio.models.target, "--plus", dir, "--minus", trio.models.minus, "--out", join(trio.root, "out-odd")]);
    expect(result.code, result.stderr).toBe(0);
  });
});

/**
 * The mutation run: a few thousand seeded mutations of the plus model's files (safetensors
 * header text and bytes, config.json, the index of a sharded copy), each through inspectModel,
 * planMerge and writeMergedModel in memory. Every case must end in one of two ways: a refusal whose
 * message is one printable line that names the role, or a merge whose output the project's reader
 * accepts again.
 */
describe("mutation run", () => {
  const CASES = 3000;
  const HOSTILE_VALUES: unknown[] = [-1, 0, 1, 2 ** 53, 1e308, 1.5, "x", null, [], {}, [1, 2, 3], true, [[[[1]]]], "\ud800", { toString: 1 }, [2 ** 31, 2 ** 31, 2 ** 31]];
  const HOSTILE_NAMES = ["__proto__", "constructor", "toString", "x\nerror: forged", "\u001b[31mred", "\ud800", "", "a".repeat(5000), "hasOwnProperty", "__metadata__x"];

  function mutate(seed: number): { files: Map<string, Uint8Array>; kind: string } {
    const random = randomWords(seed, 16);
    const pick = <T,>(list: readonly T[], word: number) => list[random[word]! % list.length]!;
    const list = tensors(2);
    const entries = entriesOf(list);
    const files = new Map<string, Uint8Array>([["config.json", encode(JSON.stringify(config))]]);
    let header = headerText(entries);
    const kind = pick(["field", "name", "bytes", "truncate", "length", "config", "index", "text"], 1);
    if (kind === "field") {
      const entry = pick(entries, 2);
      const field = pick(["dtype", "shape", "offsets"] as const, 3);
      (entry as Record<string, unknown>)[field] = pick(HOSTILE_VALUES, 4);
      header = headerText(entries);
    } else if (kind === "name") {
      pick(entries, 2).name = pick(HOSTILE_NAMES, 4);
      header = headerText(entries);
    } else if (kind === "text") {
      const at = random[5]! % header.length;
      header = header.slice(0, at) + pick(["{", "}", "[", "]", '"', ",", ":", "\\", "\u0000", "9e999", "\n"], 6) + header.slice(at + (random[7]! % 3));
    }
    let bytes = safetensorsBytes(list, header);
    if (kind === "bytes") {
      bytes = bytes.slice();
      for (let i = 0; i < 1 + (random[8]! % 4); i++) {
        const at = random[9 + i]! % Math.min(bytes.length, 8 + header.length);
        bytes[at] = bytes[at]! ^ (1 << (random[13]! % 8));
      }
    } else if (kind === "truncate") {
      bytes = bytes.slice(0, random[8]! % bytes.length);
    } else if (kind === "length") {
      bytes = bytes.slice();
      new DataView(bytes.buffer).setBigUint64(0, BigInt(pick([0, 1, 7, header.length - 1, header.length + 1, 2 ** 40, 2 ** 53], 8)), true);
    } else if (kind === "config") {
      const edited: Record<string, unknown> = { ...config };
      edited[pick(["hidden_size", "architectures", "model_type", "tie_word_embeddings", "num_hidden_layers"], 8)] = pick(HOSTILE_VALUES, 9);
      const text = pick(["json", "broken", "deep", "array"], 10);
      files.set("config.json", encode(text === "json" ? JSON.stringify(edited) : text === "broken" ? "{\"a\":" : text === "deep" ? "[".repeat(10000) + "]".repeat(10000) : "[1,2]"));
    }
    if (kind !== "index" && !(kind === "config" && random[0]! % 2 === 0)) {
      files.set("model.safetensors", bytes);
      return { files, kind };
    }
    // Sharded: the first two tensors in shard 1, the last in shard 2, and an index (mutated for kind "index").
    const first = list.slice(0, 2);
    const second = list.slice(2);
    files.set("model-00001-of-00002.safetensors", safetensorsBytes(first));
    files.set("model-00002-of-00002.safetensors", safetensorsBytes(second));
    const weightMap: Array<[string, unknown]> = [...first.map((tensor) => [tensor.name, "model-00001-of-00002.safetensors"] as [string, unknown]), [second[0]!.name, "model-00002-of-00002.safetensors"]];
    if (kind === "index") {
      const action = random[8]! % 4;
      if (action === 0) weightMap.splice(random[9]! % weightMap.length, 1);
      else if (action === 1) weightMap.push([pick(HOSTILE_NAMES, 9), "model-00002-of-00002.safetensors"]);
      else if (action === 2) weightMap[random[9]! % weightMap.length]![1] = pick(HOSTILE_VALUES, 10);
      else weightMap.length = 0;
    }
    files.set("model.safetensors.index.json", encode(`{"metadata":{},"weight_map":{${weightMap.map(([name, shard]) => `${JSON.stringify(name)}:${JSON.stringify(shard)}`).join(",")}}}`));
    return { files, kind };
  }

  it(`${CASES} mutated plus models: each refused in one clear line naming the role, or merged into a readable model`, async () => {
    const [target, minus] = await Promise.all([inspectModel(memorySource("target", modelFiles(1))), inspectModel(memorySource("minus", modelFiles(3)))]);
    const outcomes = new Map<string, number>();
    const bad: string[] = [];
    const count = (outcome: string, detail?: string) => {
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (detail !== undefined && bad.length < 5) bad.push(`${outcome}: ${detail}`);
    };
    for (let seed = 1; seed <= CASES; seed++) {
      const { files } = mutate(seed);
      let message: string | undefined;
      try {
        const plus = await inspectModel(memorySource("org/plus@0123abc", files), undefined, "plus");
        const plan = planOneVector({ target, plus, minus }, 1);
        if (!plan.ok) {
          message = `cannot merge: ${plan.issues.find((issue) => issue.severity === "error")!.message}`;
        } else {
          const sink = memorySink();
          await writeMergedModel(plan, sink, { shardSize: 5e9, toolVersion: "test" });
          const reread = await inspectModel(memorySource("merged", sink.files)).then(() => true, () => false);
          if (reread) count("merged");
          else count("bad: merged output the reader refuses", `seed ${seed}`);
          continue;
        }
      } catch (error) {
        message = error instanceof Error ? error.message : String(error);
      }
      const clear = PRINTABLE_LINE.test(message) && message.length <= 2000 && /\bplus\b/.test(message);
      if (clear) count("refused clearly");
      else count("bad: unclear message", `seed ${seed}: ${JSON.stringify(message.slice(0, 300))}`);
    }
    console.log(`mutation run, ${CASES} cases: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    expect(bad).toEqual([]);
    expect(outcomes.get("merged") ?? 0).toBeGreaterThan(50);
    expect(outcomes.get("refused clearly") ?? 0).toBeGreaterThan(CASES / 2);
  }, 120_000);

  it("a sample through the CLI: one error line and no output, or a complete output", async () => {
    for (const seed of [3, 17, 29, 41, 57, 88, 101, 150]) {
      const dir = join(trio.root, `mutant-${seed}`);
      await mkdir(dir, { recursive: true });
      for (const [path, bytes] of mutate(seed).files) await writeFile(join(dir, path), bytes);
      const out = join(trio.root, `out-mutant-${seed}`);
      const result = await runCli(["merge", "--target", trio.models.target, "--plus", dir, "--minus", trio.models.minus, "--out", out]);
      if (result.code === 0) {
        expect(await exists(join(out, "merge_recipe.json"))).toBe(true);
      } else {
        const errorLines = result.stderr.split("\n").filter((line) => line.startsWith("error:"));
        expect(errorLines, result.stderr).toHaveLength(1);
        expect(errorLines[0]).toMatch(/\bplus\b/);
        expect(await exists(out)).toBe(false);
        expect(await exists(`${out}.partial`)).toBe(false);
      }
    }
  }, 120_000);
});
