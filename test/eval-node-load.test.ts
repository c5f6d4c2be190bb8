import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { openDecoderInMemory, type DecoderOpener } from "../src/eval/decoder/openDecoderInMemory.ts";
import { OnnxFolderWriter } from "../src/eval/node/OnnxFolderWriter.ts";
import { openDecoderFromTempFolder, TEMP_FOLDER_PREFIX } from "../src/eval/node/openDecoderFromTempFolder.ts";
import { buildQwen2Onnx, buildQwen2OnnxInto, type Qwen2OnnxFormat, type TensorLoader } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./helpers/randomQwen2Weights.ts";

const CONFIG = { ...qwen2ConfigJson(GQA_UNTIED), max_position_embeddings: 256 };
const WEIGHTS = randomQwen2Weights(GQA_UNTIED, 7);
const PROMPT = [3, 141, 59, 26, 53, 58, 97];
const SESSION = { sessionOptions: { intraOpNumThreads: 1 } };
const loadTensor: TensorLoader = async (name) => WEIGHTS.get(name)!;
/** Small files, so that the model has several external data files. */
const MAX_FILE_BYTES = 100_000;

let tempRoot: string;
beforeEach(async () => {
  tempRoot = await mkdtemp(join(tmpdir(), "eval-node-load-"));
});
afterEach(async () => {
  await rm(tempRoot, { recursive: true, force: true });
});

/** The prompt's last-position logits and 6 greedy steps' logits, then the decoder is released. */
async function logitsOf(open: DecoderOpener, format: Qwen2OnnxFormat): Promise<Float32Array[]> {
  const { decoder } = await open(ort, CONFIG, { format, loadTensor, logits: "last", maxExternalDataFileBytes: MAX_FILE_BYTES }, SESSION);
  try {
    return await greedyLogits(decoder);
  } finally {
    await decoder.release();
  }
}

async function greedyLogits(decoder: OnnxCausalDecoder): Promise<Float32Array[]> {
  const steps = [await decoder.forward(PROMPT, { lastOnly: true })];
  while (steps.length < 7) {
    const last = steps.at(-1)!;
    steps.push(await decoder.forward([last.indexOf(Math.max(...last))], { lastOnly: true }));
  }
  return steps;
}

describe("openDecoderFromTempFolder (onnxruntime-node, session from a folder on disk)", () => {
  it("writes the same model proto and external data bytes as the in-memory build, file by file", async () => {
    const inMemory = await buildQwen2Onnx(CONFIG, { format: "q8", loadTensor, maxExternalDataFileBytes: MAX_FILE_BYTES });
    expect(inMemory.externalData.length).toBeGreaterThan(1);
    const writer = new OnnxFolderWriter(tempRoot);
    let onDisk: Awaited<ReturnType<typeof buildQwen2OnnxInto>>;
    try {
      onDisk = await buildQwen2OnnxInto(CONFIG, { format: "q8", loadTensor, maxExternalDataFileBytes: MAX_FILE_BYTES }, writer);
    } finally {
      await writer.close();
    }
    expect(onDisk.model).toEqual(inMemory.model);
    expect((await readdir(tempRoot)).sort()).toEqual(inMemory.externalData.map((file) => file.path).sort());
    for (const file of inMemory.externalData) expect(new Uint8Array(await readFile(join(tempRoot, file.path)))).toEqual(file.data);
    expect(writer.totalBytes).toBe(inMemory.externalData.reduce((sum, file) => sum + file.data.byteLength, 0));
  });

  it("refuses to write over a file that is already there", async () => {
    const writer = new OnnxFolderWriter(tempRoot);
    try {
      await buildQwen2OnnxInto(CONFIG, { format: "f32", loadTensor, maxExternalDataFileBytes: MAX_FILE_BYTES }, writer);
    } finally {
      await writer.close();
    }
    const again = new OnnxFolderWriter(tempRoot);
    try {
      await expect(buildQwen2OnnxInto(CONFIG, { format: "f32", loadTensor }, again)).rejects.toThrow(/cannot create the external data file .*qwen2-f32-weights-000\.bin/);
    } finally {
      await again.close();
    }
  });

  for (const format of ["f32", "q8"] as const) {
    it(`${format}: the session's logits equal the in-memory session's, bit for bit, and the folder is gone once it is open`, async () => {
      const seen: string[][] = [];
      const watched: TensorLoader = async (name) => {
        seen.push(await readdir(tempRoot));
        return loadTensor(name);
      };
      const { decoder, weightBytes } = await openDecoderFromTempFolder(tempRoot)(
        ort,
        CONFIG,
        { format, loadTensor: watched, logits: "last", maxExternalDataFileBytes: MAX_FILE_BYTES },
        SESSION,
      );
      try {
        // While the weights were produced, one private folder existed under the root; now none.
        expect(new Set(seen.map((entries) => entries.length))).toEqual(new Set([1]));
        expect(seen[0]![0]!.startsWith(TEMP_FOLDER_PREFIX)).toBe(true);
        expect(await readdir(tempRoot)).toEqual([]);
        const inMemory = await buildQwen2Onnx(CONFIG, { format, loadTensor, maxExternalDataFileBytes: MAX_FILE_BYTES });
        expect(weightBytes).toBe(inMemory.externalData.reduce((sum, file) => sum + file.data.byteLength, 0));
        expect(await greedyLogits(decoder)).toEqual(await logitsOf(openDecoderInMemory, format));
      } finally {
        await decoder.release();
      }
    });
  }

  it("removes the folder when reading a tensor fails", async () => {
    let reads = 0;
    const failing: TensorLoader = async (name) => {
      if (++reads === 5) throw new Error(`disk gone while reading ${name}`);
      return loadTensor(name);
    };
    await expect(openDecoderFromTempFolder(tempRoot)(ort, CONFIG, { format: "q8", loadTensor: failing }, SESSION)).rejects.toThrow(/disk gone while reading/);
    expect(reads).toBe(5);
    expect(await readdir(tempRoot)).toEqual([]);
  });

  it("says in one sentence when the temp root cannot hold a folder", async () => {
    const notAFolder = join(tempRoot, "not-a-folder");
    await writeFile(notAFolder, "");
    await expect(openDecoderFromTempFolder(notAFolder)(ort, CONFIG, { format: "q8", loadTensor }, SESSION)).rejects.toThrow(
      `cannot create a temporary folder for the ONNX model in ${notAFolder}: a part of the path is a file, not a folder`,
    );
  });

  it("removes the folder when onnxruntime cannot create the session", async () => {
    const open = openDecoderFromTempFolder(tempRoot)(ort, CONFIG, { format: "q8", loadTensor }, { sessionOptions: { executionProviders: ["no-such-provider"] } });
    await expect(open).rejects.toThrow(/no-such-provider/);
    expect(await readdir(tempRoot)).toEqual([]);
  });

  it("removes the folder when the load is aborted while weights are written, and while the session is created", async () => {
    const controller = new AbortController();
    let reads = 0;
    const aborting: TensorLoader = async (name) => {
      if (++reads === 4) controller.abort(new Error("stopped by the user"));
      return loadTensor(name);
    };
    await expect(openDecoderFromTempFolder(tempRoot)(ort, CONFIG, { format: "q8", loadTensor: aborting, signal: controller.signal }, SESSION)).rejects.toThrow(
      "stopped by the user",
    );
    // The weight group being produced when the signal aborted is finished; no other is begun.
    expect(reads).toBeLessThan(8);
    expect(await readdir(tempRoot)).toEqual([]);

    const late = new AbortController();
    const opening = openDecoderFromTempFolder(tempRoot)(ort, CONFIG, { format: "q8", loadTensor, signal: late.signal }, SESSION, () =>
      late.abort(new Error("stopped while the session was created")),
    );
    await expect(opening).rejects.toThrow("stopped while the session was created");
    expect(await readdir(tempRoot)).toEqual([]);
  });

  it("removes the folder when the process is stopped by SIGINT while the weights are written", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./helpers/loadUntilSignal.ts", import.meta.url)), tempRoot], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("writing") && resolve());
      child.on("exit", () => reject(new Error("the child ended before it started writing")));
    });
    const during = await readdir(tempRoot);
    expect(during).toHaveLength(1);
    expect(await readdir(join(tempRoot, during[0]!))).not.toEqual([]);
    child.kill("SIGINT");
    expect(await exited).toBe("SIGINT");
    expect(await readdir(tempRoot)).toEqual([]);
  }, 30_000);
});
