import { expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DEMO_HUB_URL } from "./ports.ts";

export { DEMO_HUB_URL };
export const DEMO_TRIO = { target: "demo/Qwen2-Small-Instruct", plus: "demo/Qwen2-Small-GRPO", minus: "demo/Qwen2-Small-SFT" };

/** The recipe and inputs of a browser merge request of the demo trio: target + alpha * (plus - minus), each model a Hub repo. */
export function demoTrioRecipe(alpha: number, outDtype?: "BF16" | "F16" | "F32") {
  const { target, plus, minus } = DEMO_TRIO;
  return {
    recipe: {
      target,
      method: "task_arithmetic",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [{ plus, minus, weight: alpha }],
      vocab: "exact",
      ...(outDtype ? { out_dtype: outDtype } : {}),
    },
    inputs: Object.fromEntries([target, plus, minus].map((repo) => [repo, { kind: "hub", repo }])),
  };
}

/** The demo trio merged at alpha 1 by the real CLI (with `extraArgs`): what every browser merge of the same recipe must equal. */
export async function mergeWithCli(extraArgs: string[] = []): Promise<Map<string, Buffer>> {
  const dir = await mkdtemp(join(tmpdir(), "merge-studio-cli-"));
  try {
    const out = join(dir, "merged");
    const { target, plus, minus } = DEMO_TRIO;
    const args = ["merge", "--hub-url", DEMO_HUB_URL, "--target", target, "--plus", plus, "--minus", minus, "--alpha", "1", "--out", out, ...extraArgs];
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { stdio: "pipe" });
    return await readTree(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A recipe merged by the real CLI through `merge --config` (a JSON file of `recipe`), with `extraArgs`. */
export async function mergeRecipeWithCli(recipe: object, extraArgs: string[] = []): Promise<Map<string, Buffer>> {
  const dir = await mkdtemp(join(tmpdir(), "merge-studio-cli-"));
  try {
    const [file, out] = [join(dir, "recipe.json"), join(dir, "merged")];
    await writeFile(file, JSON.stringify(recipe));
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "merge", "--hub-url", DEMO_HUB_URL, "--config", file, "--out", out, ...extraArgs], { stdio: "pipe" });
    return await readTree(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function readTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(relative(root, path).split("\\").join("/"), await readFile(path));
    }
  }
  return files;
}

/** Same file names and bytes as the CLI's output; merge_recipe.json equal but for created_at. */
export function expectSameAsCli(files: Map<string, Buffer>, cliFiles: Map<string, Buffer>): void {
  expect([...files.keys()].sort()).toEqual([...cliFiles.keys()].sort());
  for (const [path, bytes] of files) {
    if (path === "merge_recipe.json") {
      const withoutDate = (json: Buffer) => ({ ...(JSON.parse(json.toString("utf8")) as object), created_at: undefined });
      expect(withoutDate(bytes)).toEqual(withoutDate(cliFiles.get(path)!));
    } else {
      expect(bytes.equals(cliFiles.get(path)!), `${path} differs from the CLI's`).toBe(true);
    }
  }
}
