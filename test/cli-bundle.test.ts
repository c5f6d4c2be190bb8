import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import type { CliSources } from "../vite.cli.config.ts";
import { runCli, runNode, type CliResult } from "./helpers/runCli.ts";

/**
 * The CLI as users run it: bin/merge-studio.js on the bundle that `npm run build:cli` writes, built
 * here into a scratch copy of the checkout's layout, so that the test leaves the checkout's dist-cli/
 * alone: SCRATCH/bin/merge-studio.js (a copy), SCRATCH/dist-cli/ (built), SCRATCH/public (a link
 * to public/, which eval reads GSM8K and the toy sets from, relative to its own module) and
 * SCRATCH/models (a link to models/, where demo finds the committed toy models).
 */

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const BUILD_HINT = 'run "npm run build:cli"';

let scratch: string;
let bin: string;
let models: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(repoRoot, ".scratch-cli-bundle-"));
  models = await mkdtemp(join(tmpdir(), "cli-bundle-"));
  const build = runNode(["node_modules/vite/bin/vite.js", "build", "--config", "vite.cli.config.ts", "--outDir", join(scratch, "dist-cli"), "--logLevel", "warn"]);
  bin = join(scratch, "bin", "merge-studio.js");
  await mkdir(join(scratch, "bin"));
  await copyFile(join(repoRoot, "bin", "merge-studio.js"), bin);
  await symlink(join(repoRoot, "public"), join(scratch, "public"));
  await symlink(join(repoRoot, "models"), join(scratch, "models"));
  const tiny = QWEN2_PRESETS.tiny;
  await generateQwen2Model({ dir: join(models, "target"), shape: tiny, dtype: "BF16", initSeed: 0 });
  await generateQwen2Model({ dir: join(models, "plus"), shape: tiny, dtype: "BF16", initSeed: 0, variantSeed: 1 });
  await generateQwen2Model({ dir: join(models, "minus"), shape: tiny, dtype: "BF16", initSeed: 0, variantSeed: 2 });
  await generateQwen2Model({ dir: join(models, "small"), shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 3, tokenizer: true });
  const built = await build;
  if (built.code !== 0) throw new Error(`npm run build:cli failed (${built.code}):\n${built.stdout}${built.stderr}`);
}, 60_000);
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  await rm(models, { recursive: true, force: true });
});

/** Every file under `dir` (paths relative to it) with its bytes. */
async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  const files = new Map<string, Buffer>();
  for (const entry of names) {
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), await readFile(path));
  }
  return files;
}

/** A module hook (node:module's register) that prints every package the process imports to stderr. */
const PACKAGE_IMPORTS_HOOK = `export async function resolve(specifier, context, next) {
  if (!/^(\\.|\\/|[a-z]+:)/.test(specifier)) process.stderr.write("imports package " + specifier + "\\n");
  return next(specifier, context);
}`;
const dataUrl = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;
const RECORD_PACKAGE_IMPORTS = dataUrl(`import { register } from "node:module"; register(${JSON.stringify(dataUrl(PACKAGE_IMPORTS_HOOK))});`);
const importedPackages = (result: CliResult) => [...result.stderr.matchAll(/^imports package (\S+)$/gm)].map((match) => match[1]);

describe("the built CLI (npm run build:cli, bin/merge-studio.js)", () => {
  it("writes the same merged folder, byte for byte, as the TypeScript CLI through tsx", async () => {
    const recipe = ["merge", "--target", join(models, "target"), "--plus", join(models, "plus"), "--minus", join(models, "minus"), "--alpha", "-0.5"];
    const [viaTsx, viaBundle] = await Promise.all([
      runCli([...recipe, "--out", join(models, "out-tsx")]),
      runNode([bin, ...recipe, "--out", join(models, "out-bundle")]),
    ]);
    expect(viaTsx).toMatchObject({ code: 0 });
    // The same report, but for the output folder's name and the time taken.
    const report = (text: string) => text.replaceAll("out-tsx", "out-bundle").replace(/ in [\d.]+ s \([\d.]+ GB\/s\)/, " in (time)");
    expect({ ...viaBundle, stderr: report(viaBundle.stderr) }).toEqual({ ...viaTsx, stderr: report(viaTsx.stderr) });

    const want = await readTree(join(models, "out-tsx"));
    const got = await readTree(join(models, "out-bundle"));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    expect(got.has("model.safetensors")).toBe(true);
    for (const [name, bytes] of want) {
      if (name === "merge_recipe.json") continue;
      expect(got.get(name)!.equals(bytes), name).toBe(true);
    }
    // merge_recipe.json records when each merge began; everything else in it is the same.
    const recipeOf = (bytes: Buffer) => ({ ...(JSON.parse(bytes.toString("utf8")) as Record<string, unknown>), created_at: "(when it began)" });
    expect(recipeOf(got.get("merge_recipe.json")!)).toEqual(recipeOf(want.get("merge_recipe.json")!));
  });

  it("prints the same help, usage errors and exit statuses as through tsx", async () => {
    const cases = [["--help"], [], ["frobnicate"], ["merge", "--alpha"], ["merge", "--target", "t", "--plus", "p", "--minus", "m", "--alpha", "x", "--out", "o"]];
    const results = await Promise.all(cases.map((args) => Promise.all([runCli(args), runNode([bin, ...args])])));
    for (const [i, [viaTsx, viaBundle]] of results.entries()) {
      expect(viaBundle, cases[i]!.join(" ")).toEqual(viaTsx);
      expect(viaTsx.stdout + viaTsx.stderr, cases[i]!.join(" ")).toContain("usage: merge-studio");
    }
    expect(results.map(([viaTsx]) => viaTsx.code)).toEqual([0, 2, 2, 2, 2]);
  });

  it("merges without importing onnxruntime-node or the Hub client; eval imports onnxruntime-node and reads GSM8K from public/", async () => {
    const merge = await runNode(["--import", RECORD_PACKAGE_IMPORTS, bin, "merge", "--target", join(models, "target"), "--plus", join(models, "plus"), "--minus", join(models, "minus"), "--out", join(models, "out-imports")]);
    expect(merge.code, merge.stderr).toBe(0);
    expect(importedPackages(merge)).not.toContain("onnxruntime-node");
    expect(importedPackages(merge)).not.toContain("undici");
    expect(importedPackages(merge)).not.toContain("@huggingface/hub");

    const evaluation = await runNode(["--import", RECORD_PACKAGE_IMPORTS, bin, "eval", "--model", join(models, "small"), "--problems", "3", "--max-new-tokens", "2", "--batch", "1"]);
    expect(evaluation.code, evaluation.stderr).toBe(0);
    expect(importedPackages(evaluation)).toContain("onnxruntime-node");
    // Problem 3 of public/data/gsm8k/test.jsonl, whose gold answer is 540.
    expect(evaluation.stdout).toMatch(/^#3\s+540\s/m);
  });

  it("writes the toy repos from models/toy/ (demo) and runs a toy task by name (eval --task toy-reasoning) as the TypeScript CLI does", async () => {
    const [viaTsx, viaBundle] = await Promise.all([runCli(["demo", "--root", join(models, "demo-tsx")]), runNode([bin, "demo", "--root", join(models, "demo-bundle")])]);
    expect(viaTsx, viaTsx.stderr).toMatchObject({ code: 0 });
    expect(viaBundle, viaBundle.stderr).toMatchObject({ code: 0 });
    const want = await readTree(join(models, "demo-tsx"));
    const got = await readTree(join(models, "demo-bundle"));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, bytes] of want) expect(got.get(name)!.equals(bytes), name).toBe(true);
    const committed = await readFile(join(repoRoot, "models", "toy", "Toy-GRPO.safetensors"));
    expect(got.get(join("demo", "Toy-GRPO", "model.safetensors"))!.equals(committed)).toBe(true);

    const args = ["eval", "--model", join(models, "demo-bundle", "demo", "Toy-Instruct"), "--task", "toy-reasoning", "--problems", "2,5", "--batch", "1"];
    const [evalTsx, evalBundle] = await Promise.all([runCli(args), runNode([bin, ...args])]);
    expect(evalBundle.code, evalBundle.stderr).toBe(0);
    expect(evalBundle.stdout).toBe(evalTsx.stdout);
    expect(evalBundle.stderr).toMatch(/^toy-reasoning: 2 items \(2, 5\), .*max 16 new tokens/m);
  });

  it("refuses to run a bundle that is missing or older than its sources, in one line naming the command to run", async () => {
    const layout = await mkdtemp(join(scratch, "layout-"));
    const staleBin = join(layout, "bin", "merge-studio.js");
    await mkdir(join(layout, "bin"));
    await copyFile(bin, staleBin);
    const expectRefusal = async (reason: RegExp) => {
      const result = await runNode([staleBin, "--help"]);
      expect(result).toMatchObject({ code: 1, stdout: "" });
      expect(result.stderr).toMatch(new RegExp(`^merge-studio: ${reason.source}: ${BUILD_HINT}\\n$`));
    };

    await expectRefusal(/the CLI is not built \(\S+sources\.json is missing\)/);

    const built = JSON.parse(await readFile(join(scratch, "dist-cli", "sources.json"), "utf8")) as CliSources;
    expect(built.sources).toContain("../../src/cli/main.ts");
    expect(built.sources).toContain("../../vite.cli.config.ts");
    await mkdir(join(layout, "dist-cli"));
    // Paths relative to dist-cli/: this layout is one folder deeper than the scratch build's.
    const inLayout = built.sources.map((source) => `../${source}`);
    const manifest = (builtFrom: number, sources: string[]) => writeFile(join(layout, "dist-cli", "sources.json"), JSON.stringify({ builtFrom, sources }));

    await manifest(0, inLayout);
    await expectRefusal(/the CLI bundle is out of date \(\S+ changed after it was built\)/);
    await manifest(Date.now() + 60_000, [...inLayout, "../../../src/cli/removedCommand.ts"]);
    await expectRefusal(/the CLI bundle is out of date \(\S+removedCommand\.ts, one of its sources, is gone\)/);
    await writeFile(join(layout, "dist-cli", "sources.json"), "{");
    await expectRefusal(/\S+sources\.json is unreadable \(.+\)/);
  });
});
