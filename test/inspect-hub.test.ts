import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectionRecipe } from "../src/core/inspect/inspectionRecipe.ts";
import { inspectVectors } from "../src/core/inspect/inspectVectors.ts";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { parseRequestRange } from "../src/core/sources/byteRanges.ts";
import type { HttpRequest } from "../src/core/sources/HttpRequest.ts";
import { openHubSource } from "../src/core/sources/openHubSource.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";

/*
 * The inspector through the Hub (the project's server, weights on its CDN origin, real HTTP): after
 * the headers, the ranged requests it sends cover every data byte of every weight file exactly
 * once, also for a model that is two roles at once (the target is also vector 1's minus).
 */

const REPOS = ["lab/target", "lab/plus", "lab/minus", "lab/other"] as const;
let root: string;
let hub: RunningHubServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "inspect-hub-"));
  for (const [index, repo] of REPOS.entries()) {
    await generateQwen2Model({ dir: join(root, "hub", repo), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 9, ...(index === 0 ? {} : { variantSeed: index }), shardSize: index === 1 ? 10_000 : undefined });
  }
  hub = await startHubServer({ root: join(root, "hub"), cdn: { lfsMinBytes: 2 ** 40 } });
});

afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

describe("inspectVectors through the Hub", () => {
  it("reads every byte of every weight file once, in ranged requests of at most a chunk", async () => {
    const ranges: { path: string; start: number; end: number }[] = [];
    let recording = false;
    const request: HttpRequest = (url, init) => {
      const range = parseRequestRange(init.headers?.Range);
      if (recording && range) ranges.push({ path: decodeURIComponent(new URL(url).pathname), ...range });
      return nodeHttpRequest(url, init);
    };
    const recipe: MergeRecipe = {
      target: "lab/target",
      method: "task_arithmetic",
      parameters: defaultRecipeParameters("task_arithmetic"),
      vectors: [
        { plus: "lab/plus", minus: "lab/minus", weight: 1 },
        { plus: "lab/other", minus: "lab/target", weight: 1 },
      ],
      vocab: "exact",
    };
    const chunkBytes = 16 * 1024;
    const { plan, sources } = await openAndPlan(inspectionRecipe(recipe), (spec) => openHubSource(spec, { hubUrl: hub.url, request, retryBaseMs: 1 }));
    try {
      recording = true;
      const inspection = await inspectVectors(plan, { chunkBytes });
      expect(inspection.tensors.length).toBe(plan.models.target.tensors.size);
    } finally {
      await Promise.all(sources.map((source) => source.close?.()));
    }
    expect(Math.max(...ranges.map(({ start, end }) => end - start + 1))).toBeLessThanOrEqual(chunkBytes);
    const models = [plan.models.target, ...plan.models.vectors.flatMap(({ plus, minus }) => [plus, minus])];
    let files = 0;
    for (const model of new Set(models)) {
      const repo = model.source.repoId!;
      for (const header of model.weightFiles) {
        const tensors = [...model.tensors.values()].filter((tensor) => tensor.file === header.file);
        const dataStart = Math.min(...tensors.map((tensor) => tensor.offset));
        const dataEnd = Math.max(...tensors.map((tensor) => tensor.offset + tensor.byteLength));
        const times = new Uint8Array(dataEnd);
        const reads = ranges.filter(({ path }) => path.includes(`/${repo}/`) && path.endsWith(`/${header.file}`));
        for (const { start, end } of reads) for (let byte = start; byte <= end; byte++) times[byte]!++;
        expect([...times.subarray(0, dataStart)].every((count) => count === 0), `${repo} ${header.file}: nothing but data`).toBe(true);
        expect([...times.subarray(dataStart)].every((count) => count === 1), `${repo} ${header.file}: every data byte once`).toBe(true);
        files++;
      }
    }
    expect(files).toBeGreaterThan(4);
  });
});
