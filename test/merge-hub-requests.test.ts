import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel, type ModelInfo } from "../src/core/model/inspectModel.ts";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import { fetchRequest } from "../src/core/sources/fetchRequest.ts";
import { openHubSource, type HttpRequest } from "../src/core/sources/openHubSource.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { decodeFloat, encodeFloat, referenceMerge } from "./helpers/referenceNumerics.ts";
import { elementBits, readTestModel } from "./helpers/readTestModel.ts";

/**
 * How many CDN requests a merge through the Hub sends: adjacent tensors (the tiny model is made of
 * small ones, as a real model's biases and norms are) share one ranged read per input.
 */

let root: string;
let hub: RunningHubServer;
const ALPHA = -1;
const CHUNK_BYTES = 16 * 1024;
/** Single files, and a trio whose plus is sharded (its shard boundaries must end reads of the others too). */
const trios = {
  single: { target: "lab/target", plus: "lab/plus", minus: "lab/minus" },
  mixed: { target: "lab/target", plus: "lab/plus-sharded", minus: "lab/minus" },
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "merge-hub-requests-"));
  const models: [string, number | undefined, number | undefined][] = [
    ["lab/target", undefined, undefined],
    ["lab/plus", 1, undefined],
    ["lab/plus-sharded", 1, 10_000],
    ["lab/minus", 2, undefined],
  ];
  for (const [id, variantSeed, shardSize] of models) {
    await generateQwen2Model({ dir: join(root, "hub", id), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 9, variantSeed, shardSize });
  }
  // Only the weights are LFS files on the CDN: every CDN request the merge sends is a weight read.
  hub = await startHubServer({ root: join(root, "hub"), cdn: { lfsMinBytes: 2 ** 40 } });
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * The reads per input the merge needs, from the headers: tensors in order, split wherever any input
 * moves to another file; each stretch of adjacent tensors costs ceil(bytes / chunk) reads.
 */
function expectedReadsPerInput(models: Record<"target" | "plus" | "minus", ModelInfo>): number {
  let reads = 0;
  let stretch = 0;
  let files = "";
  for (const [name, target] of models.target.tensors) {
    const here = [target.file, models.plus.tensors.get(name)!.file, models.minus.tensors.get(name)!.file].join("|");
    if (here !== files) {
      reads += Math.ceil(stretch / CHUNK_BYTES);
      stretch = 0;
      files = here;
    }
    stretch += target.byteLength;
  }
  return reads + Math.ceil(stretch / CHUNK_BYTES);
}

describe.each([
  ["Node's undici requests", nodeHttpRequest],
  ["fetch", fetchRequest],
] as [string, HttpRequest][])("a merge through the Hub's CDN (%s)", (requestName, request) => {
  it.each(Object.keys(trios) as (keyof typeof trios)[])("reads adjacent tensors together, and merges the exact bytes (%s trio)", async (trioName) => {
    const trio = trios[trioName];
    const options = { hubUrl: hub.url, request, retryBaseMs: 1 };
    const sources = { target: await openHubSource(trio.target, options), plus: await openHubSource(trio.plus, options), minus: await openHubSource(trio.minus, options) };
    const models = { target: await inspectModel(sources.target), plus: await inspectModel(sources.plus), minus: await inspectModel(sources.minus) };
    const plan = planOneVector(models, ALPHA);
    // Every tensor is merged and every input is bf16: each read of a chunk job is a full chunk but the last of a stretch.
    expect(plan.tensors.every((tensor) => tensor.mergedElements > 0)).toBe(true);

    const before = hub.requestCounts().cdn;
    const out = join(root, "out", `${trioName}-${requestName}`);
    await writeMergedModel(plan, await openNodeFolderSink(out), { shardSize: 5e9, chunkBytes: CHUNK_BYTES, toolVersion: "test" });
    const cdnRequests = hub.requestCounts().cdn - before;

    const perInput = expectedReadsPerInput(models);
    expect(cdnRequests).toBe(3 * perInput);
    // One read per tensor (and per chunk of a large one) and input, as before adjacent tensors were read together.
    const perTensor = [...models.target.tensors.values()].reduce((sum, tensor) => sum + Math.ceil(tensor.byteLength / CHUNK_BYTES), 0);
    expect(perInput).toBeLessThan(perTensor / 3);
    if (trioName === "mixed") expect(perInput).toBeGreaterThan(expectedReadsPerInput({ ...models, plus: models.target }));

    // Byte for byte the numeric contract, element by element, against the inputs read from disk.
    const merged = await readTestModel(out);
    const inputs = await Promise.all([trio.target, trio.plus, trio.minus].map((id) => readTestModel(join(root, "hub", id))));
    expect([...merged.keys()]).toEqual([...models.target.tensors.keys()]);
    for (const [name, tensor] of merged) {
      const [t, p, m] = inputs.map((model) => elementBits("BF16", model.get(name)!.data));
      const out = elementBits("BF16", tensor.data);
      const expected = t!.map((bits, i) => encodeFloat("BF16", referenceMerge(decodeFloat("BF16", bits), decodeFloat("BF16", p![i]!), decodeFloat("BF16", m![i]!), ALPHA)));
      expect(out, name).toEqual(expected);
    }
  });
});
