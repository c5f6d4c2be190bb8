import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import type { ModelInfo } from "../src/core/model/inspectModel.ts";
import type { MergePlan } from "../src/core/plan/planMerge.ts";

type Role = "target" | "plus" | "minus";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const MATH_TEMPLATE = "{% for m in messages %}{{ m.content }}\n{% endfor %}";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "plan-warnings-"));
}, 30_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Setup {
  /** Fields written over the generated config.json (undefined removes one). */
  config?: Record<string, unknown>;
  /** Files written next to it. */
  files?: Record<string, string>;
}

/** A tiny Qwen2 model on disk (the same initialisation for every role), with its config.json edited and extra files. */
async function writeModel(name: string, setup: Setup): Promise<string> {
  const dir = join(root, name);
  await generateQwen2Model({ dir, shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 5 });
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  for (const [field, value] of Object.entries(setup.config ?? {})) {
    if (value === undefined) delete config[field];
    else config[field] = value;
  }
  await writeFile(join(dir, "config.json"), JSON.stringify(config));
  for (const [file, text] of Object.entries(setup.files ?? {})) await writeFile(join(dir, file), text);
  return dir;
}

async function plan(setups: Record<Role, Setup>, prefix: string): Promise<{ plan: MergePlan; dirs: Record<Role, string> }> {
  const dirs = {} as Record<Role, string>;
  const models = {} as Record<Role, ModelInfo>;
  for (const role of ["target", "plus", "minus"] as const) {
    dirs[role] = await writeModel(`${prefix}-${role}`, setups[role]);
    const source = await openFolderSource(dirs[role]);
    models[role] = await inspectModel(source);
    await source.close?.();
  }
  return { plan: planOneVector(models, 1), dirs };
}

const warnings = (merge: MergePlan) => merge.issues.filter((issue) => issue.severity === "warning").map((issue) => issue.message);

/** Qwen2.5-1.5B-Instruct's set-up (config fields and template in tokenizer_config.json) ... */
const INSTRUCT: Setup = {
  config: { rope_theta: 1000000.0, max_position_embeddings: 32768 },
  files: { "tokenizer_config.json": JSON.stringify({ eos_token: "<|im_end|>", chat_template: CHATML }) },
};
/** ... and Qwen2.5-Math-1.5B's fine-tunes', saved by transformers 5 and TRL (rope_parameters, chat_template.jinja). */
const MATH_TRANSFORMERS_5: Setup = {
  config: { rope_theta: undefined, rope_parameters: { rope_theta: 10000.0, rope_type: "default" }, max_position_embeddings: 4096 },
  files: { "tokenizer_config.json": JSON.stringify({ eos_token: "<|endoftext|>" }), "chat_template.jinja": MATH_TEMPLATE },
};

describe("compatibility warnings for a different training set-up", () => {
  it("warns, without stopping the merge, when rope_theta (either layout), max_position_embeddings and the chat template differ", async () => {
    const { plan: merge } = await plan({ target: INSTRUCT, plus: MATH_TRANSFORMERS_5, minus: MATH_TRANSFORMERS_5 }, "instruct-math");
    expect(merge.ok).toBe(true);
    expect(warnings(merge)).toEqual([
      "RoPE base (rope_theta) differs: target 1000000, plus 10000, minus 10000; the merged model keeps the target's: the task vector was trained with another RoPE base",
      "max_position_embeddings differs: target 32768, plus 4096, minus 4096; the merged model keeps the target's",
      "chat templates differ (target from tokenizer_config.json, plus from chat_template.jinja, minus from chat_template.jinja); the merged model keeps the target's, and the evaluator prompts each model with its own",
    ]);
  });

  it("compares the RoPE base across layouts and templates by text: the same set-up saved by transformers 4 and 5 gives no warning", async () => {
    const instruct5: Setup = {
      config: { rope_theta: undefined, rope_parameters: { rope_theta: 1000000.0, rope_type: "default" }, max_position_embeddings: 32768 },
      files: { "tokenizer_config.json": JSON.stringify({ eos_token: "<|im_end|>" }), "chat_template.jinja": CHATML },
    };
    const { plan: merge } = await plan({ target: INSTRUCT, plus: instruct5, minus: INSTRUCT }, "same");
    expect(merge.ok).toBe(true);
    expect(warnings(merge)).toEqual([]);
  });

  it("names a donor without any chat template, and one that has the target's", async () => {
    const noTemplate: Setup = { config: INSTRUCT.config, files: { "tokenizer_config.json": "{}" } };
    const { plan: merge } = await plan({ target: INSTRUCT, plus: noTemplate, minus: INSTRUCT }, "no-template");
    expect(warnings(merge)).toEqual([
      "chat templates differ (target from tokenizer_config.json, plus none, minus the target's); the merged model keeps the target's, and the evaluator prompts each model with its own",
    ]);
  });

  it("prints the warnings in the CLI's compatibility report (merge --check)", async () => {
    const { dirs } = await plan({ target: INSTRUCT, plus: MATH_TRANSFORMERS_5, minus: MATH_TRANSFORMERS_5 }, "cli");
    const result = await runCli(["merge", "--target", dirs.target, "--plus", dirs.plus, "--minus", dirs.minus, "--alpha", "1", "--check"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^! RoPE base \(rope_theta\) differs: target 1000000, plus 10000, minus 10000;/m);
    expect(result.stderr).toMatch(/^! max_position_embeddings differs: target 32768, plus 4096, minus 4096;/m);
    expect(result.stderr).toMatch(/^! chat templates differ \(target from tokenizer_config\.json, plus from chat_template\.jinja, minus from chat_template\.jinja\)/m);
    expect(result.stderr).toMatch(/^compatible: /m);
  });

  it("refuses a tokenizer_config.json that is not JSON, naming the model and the file", async () => {
    const dir = await writeModel("broken-tokenizer-config", { files: { "tokenizer_config.json": "{oops" } });
    const source = await openFolderSource(dir);
    try {
      await expect(inspectModel(source)).rejects.toThrow(/broken-tokenizer-config: tokenizer_config\.json is not valid JSON/);
    } finally {
      await source.close?.();
    }
  });
});
