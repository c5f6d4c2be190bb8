import { f16round } from "@petamoriken/float16";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { OnnxCausalDecoder, type OnnxRuntime } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type BuildQwen2OnnxOptions, type TensorLoader } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { dequantizedQ4, LINEAR_WEIGHT, q4ReferenceWeights } from "./helpers/q4Reference.ts";
import { referenceLogits, type ReferenceOptions, type ReferenceShape } from "./helpers/qwen2Reference.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./helpers/randomQwen2Weights.ts";
import { readTestModel } from "./helpers/readTestModel.ts";

const onnxruntimeNode: OnnxRuntime = ort;

/**
 * Tolerances, as a fraction of the logit scale (the largest |logit| of the reference rows compared):
 * - f32: 1e-5. float32 rounds each op by at most 6e-8 relative; a logit here is the end of about
 *   ten chained sums of up to 128 products; the errors measured on these models are 7e-7 .. 1e-6 of
 *   the scale (one rounding error per op growing roughly like sqrt of the terms summed), so 1e-5
 *   leaves a tenfold margin, while any mistake in the graph (a RoPE sign, a mask, a head grouping)
 *   moves logits by 1e-2 of the scale or more.
 * - q4 with accuracy_level 0 against the float64 pass over the dequantised weights: the same 1e-5
 *   (the kernel computes in float32 from the exact dequantised values).
 * - f16 against the float64 pass with the float16-rounded weights: 5e-3. The products' inputs and
 *   outputs are rounded to float16 (2^-11 = 4.9e-4 relative each); a float64 pass that rounds them
 *   the same way differs from the unrounded one by 1.3e-3 .. 1.9e-3 of the scale.
 * - q4 with accuracy_level 4 (activations quantised to int8 per block, max |x| / 254 per element):
 *   8e-2 against the dequantised weights; measured 2.4e-2 .. 3.2e-2 (about 1% per linear layer).
 */
const F32_TOLERANCE = 1e-5;
const F16_TOLERANCE = 5e-3;
const Q4_INT8_ACTIVATIONS_TOLERANCE = 8e-2;

/** One kv head for four query heads, tied embeddings, a head_dim apart from hidden / heads (4 x 8 != 48). */
const MQA_TIED_HEAD_DIM: ReferenceShape = {
  hiddenSize: 48,
  intermediateSize: 96,
  numLayers: 3,
  numHeads: 4,
  numKvHeads: 1,
  headDim: 8,
  vocabSize: 256,
  ropeTheta: 1_000_000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: true,
};
const MODELS = [
  ["GQA, untied", GQA_UNTIED],
  ["one kv head, tied, own head_dim", MQA_TIED_HEAD_DIM],
] as const;

const PROMPT = [3, 141, 59, 26, 53, 58, 97];
const NEW_TOKENS = 8;

type Weights = (name: string) => Float64Array;

const asFloat64 =
  (weights: Map<string, Float32Array>): Weights =>
  (name) =>
    Float64Array.from(weights.get(name)!);

async function openDecoder(configJson: Record<string, unknown>, loadTensor: TensorLoader, options: Omit<BuildQwen2OnnxOptions, "loadTensor">): Promise<OnnxCausalDecoder> {
  const built = await buildQwen2Onnx(configJson, { ...options, loadTensor });
  return OnnxCausalDecoder.create(onnxruntimeNode, built, { sessionOptions: { intraOpNumThreads: 1 } });
}

const mapLoader =
  (weights: Map<string, Float32Array>): TensorLoader =>
  async (name) =>
    weights.get(name)!;

/** Checks |computed - reference| <= tolerance x (largest |reference|) and returns the measured fraction. */
function expectClose(computed: Float32Array, reference: Float64Array, tolerance: number, what: string): number {
  expect(computed.length).toBe(reference.length);
  let scale = 0;
  let difference = 0;
  for (let i = 0; i < reference.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]!));
    difference = Math.max(difference, Math.abs(computed[i]! - reference[i]!));
  }
  expect(difference / scale, `${what}: max |difference| ${difference} against a logit scale of ${scale}`).toBeLessThanOrEqual(tolerance);
  return difference / scale;
}

const lastRow = (logits: Float64Array, vocab: number) => logits.subarray(logits.length - vocab);

/** Greedy tokens of the float64 pass, recomputing the whole sequence each step; fails if a choice is too close to call. */
function referenceGreedy(shape: ReferenceShape, weights: Weights, prompt: readonly number[], steps: number, tolerance: number, options?: ReferenceOptions): number[] {
  const sequence = [...prompt];
  for (let step = 0; step < steps; step++) {
    const logits = lastRow(referenceLogits(shape, weights, sequence, options), shape.vocabSize);
    const sorted = [...logits].sort((a, b) => b - a);
    const scale = Math.max(...logits.map(Math.abs));
    // Each side may be off by tolerance x scale: a larger margin makes the greedy choice certain.
    expect(sorted[0]! - sorted[1]!, `step ${step}: top-2 margin`).toBeGreaterThan(2 * tolerance * scale);
    sequence.push(logits.indexOf(sorted[0]!));
  }
  return sequence.slice(prompt.length);
}

describe("Qwen2 ONNX graph on onnxruntime-node against a float64 forward pass", () => {
  for (const [label, shape] of MODELS) {
    const weights = randomQwen2Weights(shape, 7);
    const config = qwen2ConfigJson(shape);

    for (const rmsNorm of ["SimplifiedLayerNormalization", "standard"] as const) {
      it(`${label}, f32, RMS norm as ${rmsNorm}: logits of 1 token and of 7 tokens`, async () => {
        const decoder = await openDecoder(config, mapLoader(weights), { format: "f32", rmsNorm });
        try {
          for (const ids of [PROMPT.slice(0, 1), PROMPT]) {
            decoder.reset();
            expectClose(await decoder.forward(ids), referenceLogits(shape, asFloat64(weights), ids), F32_TOLERANCE, `${ids.length} tokens`);
          }
        } finally {
          await decoder.release();
        }
      });
    }

    it(`${label}, f32: greedy decoding with the KV cache gives the reference's tokens and the logits of recomputing the whole sequence`, async () => {
      const expected = referenceGreedy(shape, asFloat64(weights), PROMPT, NEW_TOKENS, F32_TOLERANCE);
      const decoder = await openDecoder(config, mapLoader(weights), { format: "f32" });
      try {
        const streamed: number[] = [];
        const result = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS, onToken: (token) => streamed.push(token) });
        expect(result.tokens).toEqual(expected);
        expect(streamed).toEqual(expected);
        expect(result.stopReason).toBe("max_new_tokens");
        expect(decoder.cacheLength, "generate decodes in a cache of its own").toBe(0);

        decoder.reset();
        const sequence = [...PROMPT];
        let cached = await decoder.forward(PROMPT, { lastOnly: true });
        for (const token of expected) {
          const reference = lastRow(referenceLogits(shape, asFloat64(weights), sequence), shape.vocabSize);
          expectClose(cached, reference, F32_TOLERANCE, `cached step at ${sequence.length} tokens`);
          const recomputing = await openDecoder(config, mapLoader(weights), { format: "f32" });
          try {
            const recomputed = await recomputing.forward(sequence, { lastOnly: true });
            expectClose(cached, Float64Array.from(recomputed), F32_TOLERANCE, `cached against recomputed at ${sequence.length} tokens`);
          } finally {
            await recomputing.release();
          }
          sequence.push(token);
          cached = await decoder.forward([token], { lastOnly: true });
        }
      } finally {
        await decoder.release();
      }
    });

    it(`${label}, f16: logits within ${F16_TOLERANCE} of the scale, against float16-rounded weights and against the original`, async () => {
      const rounded: Weights = (name) => {
        const values = Float64Array.from(weights.get(name)!);
        return LINEAR_WEIGHT.test(name) || name === "model.embed_tokens.weight" || name === "lm_head.weight" ? values.map(f16round) : values;
      };
      const decoder = await openDecoder(config, mapLoader(weights), { format: "f16" });
      try {
        const logits = await decoder.forward(PROMPT);
        expectClose(logits, referenceLogits(shape, rounded, PROMPT, { roundLinearInputsAndOutputs: f16round }), F16_TOLERANCE, "f16 graph against float16 reference");
        expectClose(logits, referenceLogits(shape, asFloat64(weights), PROMPT), F16_TOLERANCE, "f16 graph against original weights");
      } finally {
        await decoder.release();
      }
    });

    it(`${label}, q4 (accuracy_level 0): logits and greedy tokens of the float64 pass over the dequantised weights`, async () => {
      const q4 = q4ReferenceWeights(shape, weights);
      const decoder = await openDecoder(config, mapLoader(weights), { format: "q4", q4AccuracyLevel: 0 });
      try {
        expectClose(await decoder.forward(PROMPT), referenceLogits(q4.shape, q4.weights, PROMPT), F32_TOLERANCE, "q4 against dequantised reference");
        const result = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
        expect(result.tokens).toEqual(referenceGreedy(q4.shape, q4.weights, PROMPT, NEW_TOKENS, F32_TOLERANCE));
      } finally {
        await decoder.release();
      }
    });

    it(`${label}, q4 (accuracy_level 4, int8 activations): logits within ${Q4_INT8_ACTIVATIONS_TOLERANCE} of the dequantised reference`, async () => {
      const q4 = q4ReferenceWeights(shape, weights);
      const decoder = await openDecoder(config, mapLoader(weights), { format: "q4", q4AccuracyLevel: 4 });
      try {
        expectClose(await decoder.forward(PROMPT), referenceLogits(q4.shape, q4.weights, PROMPT), Q4_INT8_ACTIVATIONS_TOLERANCE, "q4 int8 against dequantised reference");
      } finally {
        await decoder.release();
      }
    });
  }

  it("a graph built for last-position logits gives the last row and the same greedy tokens", async () => {
    const weights = randomQwen2Weights(MQA_TIED_HEAD_DIM, 3);
    const decoder = await openDecoder(qwen2ConfigJson(MQA_TIED_HEAD_DIM), mapLoader(weights), { format: "f32", logits: "last" });
    try {
      const logits = await decoder.forward(PROMPT);
      expect(logits).toHaveLength(MQA_TIED_HEAD_DIM.vocabSize);
      expectClose(logits, lastRow(referenceLogits(MQA_TIED_HEAD_DIM, asFloat64(weights), PROMPT), MQA_TIED_HEAD_DIM.vocabSize), F32_TOLERANCE, "last row");
      const result = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
      expect(result.tokens).toEqual(referenceGreedy(MQA_TIED_HEAD_DIM, asFloat64(weights), PROMPT, NEW_TOKENS, F32_TOLERANCE));
    } finally {
      await decoder.release();
    }
  });

  it("external data split into several files gives the same logits as one file", async () => {
    const weights = randomQwen2Weights(GQA_UNTIED, 11);
    const config = qwen2ConfigJson(GQA_UNTIED);
    const oneFile = await buildQwen2Onnx(config, { format: "f32", loadTensor: mapLoader(weights) });
    const split = await buildQwen2Onnx(config, { format: "f32", loadTensor: mapLoader(weights), maxExternalDataFileBytes: 80_000 });
    expect(oneFile.externalData).toHaveLength(1);
    expect(split.externalData.length).toBeGreaterThan(3);
    for (const file of split.externalData) expect(file.data.byteLength).toBeLessThanOrEqual(80_000);
    const weightBytes = oneFile.externalData[0]!.data.byteLength;
    // The model proto holds the graph only: every weight byte is external.
    expect(oneFile.model.byteLength).toBeLessThan(weightBytes / 10);
    const logits = [];
    for (const built of [oneFile, split]) {
      const decoder = await OnnxCausalDecoder.create(onnxruntimeNode, built);
      logits.push(await decoder.forward(PROMPT));
      await decoder.release();
    }
    expect(logits[1]).toEqual(logits[0]);
  });

  it("generate stops after an eos token, which it returns, or when stopWhen says so", async () => {
    const weights = randomQwen2Weights(GQA_UNTIED, 7);
    const greedy = referenceGreedy(GQA_UNTIED, asFloat64(weights), PROMPT, 4, F32_TOLERANCE);
    const decoder = await openDecoder(qwen2ConfigJson(GQA_UNTIED), mapLoader(weights), { format: "f32" });
    try {
      const atEos = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS, eosTokenIds: [greedy[2]!, 299] });
      expect(atEos.tokens).toEqual(greedy.slice(0, greedy.indexOf(greedy[2]!) + 1));
      expect(atEos.stopReason).toBe("eos");
      expect(atEos.promptTokens).toBe(PROMPT.length);
      expect(atEos.prefillTokensPerSecond).toBeGreaterThan(0);

      const seen: number[] = [];
      const stopped = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS, onToken: (token) => seen.push(token), stopWhen: () => seen.length === 4 });
      expect(stopped.tokens).toEqual(greedy);
      expect(stopped.stopReason).toBe("stop_sequence");
    } finally {
      await decoder.release();
    }
  });
});

describe("Qwen2 ONNX graph of generated model folders (bf16 safetensors through inspectModel)", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "eval-onnx-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  for (const tie of [false, true]) {
    it(`tiny preset, ${tie ? "tied" : "untied"}: f32 logits of the reference over the same bf16 values`, async () => {
      const preset = { ...QWEN2_PRESETS.tiny, tieWordEmbeddings: tie };
      const dir = join(root, `tiny-${tie}`);
      await generateQwen2Model({ dir, shape: preset, dtype: "BF16", initSeed: 5 });
      const stored = await readTestModel(dir);
      const weights: Weights = (name) => {
        const tensor = stored.get(name)!;
        expect(tensor.dtype).toBe("BF16");
        const halves = new Uint16Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength / 2);
        return Float64Array.from(new Float32Array(Uint32Array.from(halves, (bits) => bits << 16).buffer));
      };
      const shape: ReferenceShape = { ...preset, headDim: preset.hiddenSize / preset.numHeads };
      const source = await openFolderSource(dir);
      try {
        const model = await inspectModel(source);
        const decoder = await openDecoder(model.config, modelTensorLoader(model), { format: "f32" });
        try {
          expectClose(await decoder.forward(PROMPT), referenceLogits(shape, weights, PROMPT), F32_TOLERANCE, "generated model");
        } finally {
          await decoder.release();
        }
      } finally {
        await source.close?.();
      }
    });
  }
});

describe("quantizeMatMulNBits", () => {
  it("keeps each weight within half a step, (max - min) / 15 of its block with zero in the range, and zero exact", () => {
    const rows = 3;
    const columns = 70; // two full blocks and a padded one
    const weight = Float32Array.from({ length: rows * columns }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
    weight[5] = 0;
    const dequantized = dequantizedQ4(weight, rows, columns);
    for (let row = 0; row < rows; row++) {
      for (let block = 0; block * 32 < columns; block++) {
        const indices = Array.from({ length: Math.min(32, columns - block * 32) }, (_, i) => row * columns + block * 32 + i);
        const values = indices.map((i) => weight[i]!);
        const step = (Math.max(0, ...values) - Math.min(0, ...values)) / 15;
        for (const i of indices) expect(Math.abs(dequantized[i]! - weight[i]!)).toBeLessThanOrEqual(step / 2 + 1e-6 * step);
      }
    }
    expect(dequantized[5]).toBe(0);
  });
});
