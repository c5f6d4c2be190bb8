import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { assertFitsWasmMemory, loadEvalModel, ModelTooLargeError } from "../src/eval/loadEvalModel.ts";
import { buildQwen2Onnx, QWEN2_ONNX_FORMATS, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { Q8_MAX_CODE, quantizeInt8PerChannel } from "../src/eval/onnx/quantizeInt8PerChannel.ts";
import { qwen2OnnxWeightBytes } from "../src/eval/onnx/qwen2OnnxWeightBytes.ts";
import { readQwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { releaseExternalData } from "../src/eval/onnx/releaseExternalData.ts";
import { renderQwen2Config } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS, qwen2Tensors } from "../src/testmodels/qwen2Shape.ts";
import { dequantizedQ8, q8ReferenceWeights, quantizeQ8ActivationRows } from "./helpers/q8Reference.ts";
import { referenceLogits, type ReferenceShape } from "./helpers/qwen2Reference.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./helpers/randomQwen2Weights.ts";

/**
 * The q8 format (int8 weights per output channel, activations quantised to uint8 row by row,
 * MatMulInteger) on onnxruntime-node, against the float64 forward pass of test/helpers/qwen2Reference.ts.
 *
 * Tolerances, as a fraction of the logit scale (largest |reference logit| of the rows compared):
 * - Q8_EMULATED_TOLERANCE (1e-4) against the float64 pass over the dequantised weights that also
 *   quantises each linear layer's input row by row as the graph does (test/helpers/q8Reference.ts):
 *   what is left is float32 arithmetic (measured 2.5e-7, as for f32). An activation within 1e-6 of
 *   its value from a rounding half may round either way (one did, at position 15 of the tied model,
 *   moving the logits from there on by 2.8e-2): positions from the first such one get Q8_TOLERANCE;
 * - Q8_TOLERANCE (0.2) against the float64 pass over the dequantised weights: the activations'
 *   quantisation, a step of max |row| / 127; measured 0.16 and 0.13 on these models, whose large
 *   q/k weights make attention sharp (far more sensitive than trained models: the same holds for
 *   the weights' rounding alone, 0.02 .. 0.18);
 * - Q8_AGAINST_ORIGINAL (0.4) against the float64 pass over the original weights; measured 0.34
 *   and 0.17. Few greedy steps of these models have a top-2 margin of twice that, so the greedy
 *   comparison with f32 also asks for agreement on MIN_GREEDY_AGREEMENT of all steps (measured 16
 *   and 15 of 16), and the exact check of the greedy tokens is against the pass that quantises the
 *   activations as the graph does.
 */
const Q8_TOLERANCE = 0.2;
const Q8_EMULATED_TOLERANCE = 1e-4;
const MIN_GREEDY_AGREEMENT = 0.75;
const Q8_AGAINST_ORIGINAL = 0.4;

/** Tied embeddings (lm_head reads the embedding's quantised table) and three query heads per kv head. */
const GQA3_TIED: ReferenceShape = {
  hiddenSize: 96,
  intermediateSize: 160,
  numLayers: 3,
  numHeads: 6,
  numKvHeads: 2,
  headDim: 16,
  vocabSize: 320,
  ropeTheta: 1_000_000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: true,
};
const MODELS = [
  ["GQA, untied", GQA_UNTIED],
  ["three query heads per kv head, tied", GQA3_TIED],
] as const;
const PROMPT = [3, 141, 59, 26, 53, 58, 97];
const NEW_TOKENS = 16;

async function openDecoder(shape: ReferenceShape, weights: Map<string, Float32Array>, format: Qwen2OnnxFormat): Promise<OnnxCausalDecoder> {
  const built = await buildQwen2Onnx(qwen2ConfigJson(shape), { format, loadTensor: async (name) => weights.get(name)! });
  return OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
}

/** max |computed - reference| / max |reference|. */
function relativeDifference(computed: Float32Array, reference: Float64Array): number {
  expect(computed.length).toBe(reference.length);
  let scale = 0;
  let difference = 0;
  for (let i = 0; i < reference.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]!));
    difference = Math.max(difference, Math.abs(computed[i]! - reference[i]!));
  }
  return difference / scale;
}

const lastRow = (logits: Float64Array, vocab: number) => logits.subarray(logits.length - vocab);

describe("quantizeInt8PerChannel", () => {
  it("writes a hand-made weight transposed, with max |row| / 127 as scale, rounding halves away from zero", () => {
    // Rows [1, -0.5, 0.25, 0.5 / 127] and [0, 0, 0, 0]: scale fl32(1 / 127); -0.5 x 127 = -63.5 -> -64; 0.25 x 127 = 31.75 -> 32.
    const weight = Float32Array.from([1, -0.5, 0.25, 0.5 / 127, 0, 0, 0, 0]);
    const codes = new Int8Array(8);
    const scales = new Float32Array(2);
    quantizeInt8PerChannel(weight, 2, 4, { codes, scales, outRows: 2 });
    expect(Array.from(codes)).toEqual([127, 0, -64, 0, 32, 0, 1, 0]);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), 0]);
  });

  it("places rows written one source at a time after each other (fused q, k and v)", () => {
    const first = Float32Array.from([2, -1, 0.5, 4, 3, -3]);
    const second = Float32Array.from([-8, 1, 2]);
    const codes = new Int8Array(9);
    const scales = new Float32Array(3);
    quantizeInt8PerChannel(first, 2, 3, { codes, scales, outRows: 3 });
    quantizeInt8PerChannel(second, 1, 3, { codes, scales, outRows: 3 }, 2);
    const whole = { codes: new Int8Array(9), scales: new Float32Array(3), outRows: 3 };
    quantizeInt8PerChannel(Float32Array.from([...first, ...second]), 3, 3, whole);
    expect(codes).toEqual(whole.codes);
    expect(scales).toEqual(whole.scales);
  });

  it("keeps every weight within half a step of its row, codes within -127..127, zero exact", () => {
    const rows = 5;
    const columns = 77;
    const weight = Float32Array.from({ length: rows * columns }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 7)) * 10 ** ((i % 5) - 2));
    weight[9] = 0;
    const codes = new Int8Array(rows * columns);
    const scales = new Float32Array(rows);
    quantizeInt8PerChannel(weight, rows, columns, { codes, scales, outRows: rows });
    expect(Math.max(...Array.from(codes, Math.abs))).toBe(Q8_MAX_CODE);
    const dequantized = dequantizedQ8(weight, rows, columns);
    for (let row = 0; row < rows; row++) {
      const values = Array.from(weight.subarray(row * columns, (row + 1) * columns));
      const step = Math.max(...values.map(Math.abs)) / Q8_MAX_CODE;
      for (let column = 0; column < columns; column++) {
        const i = row * columns + column;
        expect(Math.abs(dequantized[i]! - weight[i]!)).toBeLessThanOrEqual(step / 2 + 1e-6 * step);
      }
    }
    expect(dequantized[9]).toBe(0);
  });
});

describe("q8 Qwen2 graph on onnxruntime-node against a float64 forward pass", () => {
  for (const [label, shape] of MODELS) {
    const weights = randomQwen2Weights(shape, 7);
    const dequantized = q8ReferenceWeights(shape, weights);

    it(`${label}: the same logits whether the prompt is one call, token by token, or recomputed; within ${Q8_EMULATED_TOLERANCE} of the scale of the pass that quantises each linear layer's input row by row`, async () => {
      const decoder = await openDecoder(shape, weights, "q8");
      try {
        const { tokens } = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
        const sequence = [...PROMPT, ...tokens];
        const { vocabSize } = shape;
        decoder.reset();
        const whole = await decoder.forward(sequence);
        const row = (logits: ArrayLike<number>, position: number) => Array.prototype.slice.call(logits, position * vocabSize, (position + 1) * vocabSize) as number[];
        const scale = Math.max(...whole.map(Math.abs));
        // Each row is quantised alone, so a position's logits do not depend on how the tokens were grouped into calls.
        decoder.reset();
        for (const [position, token] of sequence.entries()) {
          const alone = Array.from(await decoder.forward([token]));
          expect(Math.max(...alone.map((value, i) => Math.abs(value - whole[position * vocabSize + i]!))) / scale, `token by token, position ${position}`).toBeLessThanOrEqual(1e-6);
        }
        decoder.reset();
        const calls = [Array.from(await decoder.forward(PROMPT))];
        for (const token of tokens.slice(0, -1)) calls.push(Array.from(await decoder.forward([token])));
        const split = calls.flat();
        expect(Math.max(...split.map((value, i) => Math.abs(value - whole[i]!))) / scale, "the prompt in one call, then one token per call").toBeLessThanOrEqual(1e-6);

        // One reference for every position (each depends on its prefix only). A rounding that float32
        // arithmetic upstream may tip (a near tie) changes the positions from its own on: those get Q8_TOLERANCE.
        let firstNearTie = sequence.length;
        const reference = referenceLogits(shape, dequantized, sequence, {
          quantizeLinearInputs: (x, columns) => quantizeQ8ActivationRows(x, columns, (position) => (firstNearTie = Math.min(firstNearTie, position))),
        });
        const measured = sequence.map((_, position) => relativeDifference(Float32Array.from(row(whole, position)), reference.subarray(position * vocabSize, (position + 1) * vocabSize)));
        const decided = Math.max(...measured.slice(0, firstNearTie));
        console.log(`${label}, q8: max difference ${decided.toExponential(2)} of the logit scale against the pass with quantised activations over positions 0..${firstNearTie - 1}, ${Math.max(...measured).toExponential(2)} over all ${sequence.length}`);
        expect(firstNearTie, "positions compared without a near tie").toBeGreaterThanOrEqual(PROMPT.length);
        expect(decided).toBeLessThanOrEqual(Q8_EMULATED_TOLERANCE);
        expect(Math.max(...measured)).toBeLessThanOrEqual(Q8_TOLERANCE);
      } finally {
        await decoder.release();
      }
    });

    it(`${label}: prompt logits and every KV-cache step within ${Q8_TOLERANCE} of the scale of the pass over the dequantised weights`, async () => {
      const decoder = await openDecoder(shape, weights, "q8");
      try {
        const measured = [relativeDifference(await decoder.forward(PROMPT), referenceLogits(shape, dequantized, PROMPT))];
        const generation = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
        decoder.reset();
        const sequence = [...PROMPT];
        let cached = await decoder.forward(sequence, { lastOnly: true });
        for (const token of generation.tokens) {
          measured.push(relativeDifference(cached, lastRow(referenceLogits(shape, dequantized, sequence), shape.vocabSize)));
          sequence.push(token);
          cached = await decoder.forward([token], { lastOnly: true });
        }
        console.log(`${label}, q8: max difference ${Math.max(...measured).toExponential(2)} of the logit scale against the dequantised pass`);
        expect(Math.max(...measured)).toBeLessThanOrEqual(Q8_TOLERANCE);
      } finally {
        await decoder.release();
      }
    });

    it(`${label}: greedy decoding with the KV cache gives the tokens of the pass with quantised activations, up to its first near tie`, async () => {
      const decoder = await openDecoder(shape, weights, "q8");
      try {
        const { tokens } = await decoder.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
        const sequence = [...PROMPT];
        let decided = 0;
        for (const token of tokens) {
          let nearTie = false;
          const all = referenceLogits(shape, dequantized, sequence, { quantizeLinearInputs: (x, columns) => quantizeQ8ActivationRows(x, columns, () => (nearTie = true)) });
          // A near tie anywhere in the sequence so far may have been rounded the other way by the graph: this step and the rest are not the reference's to decide.
          if (nearTie) break;
          const expected = lastRow(all, shape.vocabSize);
          const sorted = [...expected].sort((a, b) => b - a);
          const scale = Math.max(...expected.map(Math.abs));
          expect(sorted[0]! - sorted[1]!, `step ${decided}: top-2 margin`).toBeGreaterThan(2 * Q8_EMULATED_TOLERANCE * scale);
          expect(token, `step ${decided}`).toBe(expected.indexOf(sorted[0]!));
          sequence.push(token);
          decided++;
        }
        console.log(`${label}, q8: ${decided} of ${tokens.length} greedy steps decided by the pass with quantised activations`);
        expect(decided).toBeGreaterThanOrEqual(tokens.length / 2);
      } finally {
        await decoder.release();
      }
    });

    it(`${label}: the f32 graph's greedy tokens wherever the float64 pass's top-2 margin exceeds twice ${Q8_AGAINST_ORIGINAL} of the scale, and on most other steps`, async () => {
      const [f32, q8] = [await openDecoder(shape, weights, "f32"), await openDecoder(shape, weights, "q8")];
      try {
        const f32Tokens = (await f32.generate(PROMPT, { maxNewTokens: NEW_TOKENS })).tokens;
        const original = (name: string) => Float64Array.from(weights.get(name)!);
        // Teacher-forced on the f32 tokens: each step from the same prefix.
        const sequence = [...PROMPT];
        let decided = 0;
        let agreed = 0;
        let measured = 0;
        for (const token of f32Tokens) {
          q8.reset();
          const logits = await q8.forward(sequence, { lastOnly: true });
          const reference = lastRow(referenceLogits(shape, original, sequence), shape.vocabSize);
          measured = Math.max(measured, relativeDifference(logits, reference));
          const sorted = [...reference].sort((a, b) => b - a);
          const scale = Math.max(...reference.map(Math.abs));
          expect(reference.indexOf(sorted[0]!)).toBe(token);
          const q8Token = logits.indexOf(Math.max(...logits));
          if (sorted[0]! - sorted[1]! > 2 * Q8_AGAINST_ORIGINAL * scale) {
            expect(q8Token).toBe(token);
            decided++;
          }
          if (q8Token === token) agreed++;
          sequence.push(token);
        }
        console.log(`${label}, q8: ${agreed} of ${f32Tokens.length} greedy steps agree with f32 (${decided} decided beyond the bound); max difference ${measured.toExponential(2)} against the original weights`);
        expect(measured).toBeLessThanOrEqual(Q8_AGAINST_ORIGINAL);
        expect(agreed / f32Tokens.length).toBeGreaterThanOrEqual(MIN_GREEDY_AGREEMENT);
      } finally {
        await f32.release();
        await q8.release();
      }
    });
  }

  it("a token whose embedding is all zeros (so are its normed q/k/v inputs): finite logits, as the pass that quantises a zero row to zero computes them", async () => {
    const weights = randomQwen2Weights(GQA_UNTIED, 11);
    weights.get("model.embed_tokens.weight")!.fill(0, 0, GQA_UNTIED.hiddenSize);
    const decoder = await openDecoder(GQA_UNTIED, weights, "q8");
    try {
      const prompt = [0, 141, 0, 26];
      const logits = await decoder.forward(prompt);
      expect(logits.every(Number.isFinite)).toBe(true);
      let nearTie = false;
      const reference = referenceLogits(GQA_UNTIED, q8ReferenceWeights(GQA_UNTIED, weights), prompt, { quantizeLinearInputs: (x, columns) => quantizeQ8ActivationRows(x, columns, () => (nearTie = true)) });
      expect(nearTie).toBe(false);
      expect(relativeDifference(logits, reference)).toBeLessThanOrEqual(Q8_EMULATED_TOLERANCE);
    } finally {
      await decoder.release();
    }
  });

  it("asks onnxruntime for exact int8 products on x86 CPUs without VNNI (session.x64quantprecision), keeping the caller's other entries", async () => {
    // On such a CPU (an AVX2 EPYC here) the cases above fail without it: the u8s8 kernel saturates pairs of products.
    const seen: ort.InferenceSession.SessionOptions[] = [];
    const recording = {
      Tensor: ort.Tensor,
      InferenceSession: {
        create: async (model: Uint8Array, options?: ort.InferenceSession.SessionOptions) => {
          seen.push(options!);
          return ort.InferenceSession.create(model, options);
        },
      },
    } as unknown as Parameters<typeof OnnxCausalDecoder.create>[0];
    const weights = randomQwen2Weights(GQA3_TIED, 4);
    const built = await buildQwen2Onnx(qwen2ConfigJson(GQA3_TIED), { format: "q8", loadTensor: async (name) => weights.get(name)! });
    const extra = { session: { set_denormal_as_zero: "1" }, memory: { enable_memory_arena_shrinkage: "cpu:0" } };
    const decoder = await OnnxCausalDecoder.create(recording, built, { sessionOptions: { intraOpNumThreads: 1, extra } });
    await decoder.release();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.intraOpNumThreads).toBe(1);
    expect(seen[0]!.extra).toEqual({ session: { set_denormal_as_zero: "1", x64quantprecision: "1" }, memory: { enable_memory_arena_shrinkage: "cpu:0" } });
    expect(extra.session).toEqual({ set_denormal_as_zero: "1" });
  });

  it("a session keeps computing after the built files are released (onnxruntime holds its own copy)", async () => {
    const weights = randomQwen2Weights(GQA3_TIED, 9);
    const built = await buildQwen2Onnx(qwen2ConfigJson(GQA3_TIED), { format: "q8", loadTensor: async (name) => weights.get(name)! });
    const files = [...built.externalData];
    const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
    try {
      const before = await decoder.forward(PROMPT);
      // Overwriting the files shows whether the session still reads them; then they are released.
      for (const file of files) file.data.fill(0x55);
      releaseExternalData(built);
      expect(built.externalData).toEqual([]);
      const transfers = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === "function";
      for (const file of files) expect(file.data.byteLength).toBe(transfers ? 0 : file.data.buffer.byteLength);
      decoder.reset();
      expect(await decoder.forward(PROMPT)).toEqual(before);
    } finally {
      await decoder.release();
    }
  });

  it("stores the tied table once, as int8: a quarter of the f32 graph's weight bytes", async () => {
    const weights = randomQwen2Weights(GQA3_TIED, 3);
    const bytes = async (format: Qwen2OnnxFormat) => {
      const built = await buildQwen2Onnx(qwen2ConfigJson(GQA3_TIED), { format, loadTensor: async (name) => weights.get(name)! });
      return built.externalData.reduce((sum, file) => sum + file.data.byteLength, 0);
    };
    const { hiddenSize: hidden, intermediateSize: inter, numHeads, numKvHeads, headDim, vocabSize: vocab, numLayers } = GQA3_TIED;
    const matrices = numLayers * ((numHeads + 2 * numKvHeads) * headDim * hidden + hidden * numHeads * headDim + 3 * inter * hidden) + vocab * hidden;
    const q8 = await bytes("q8");
    expect(q8).toBeGreaterThanOrEqual(matrices);
    expect(q8).toBeLessThan(matrices * 1.15);
    expect(q8 / (await bytes("f32"))).toBeLessThan(0.3);
  });

  it("reads the vocabulary tables in blocks of rows, never whole, and builds the same bytes as from whole tensors", async () => {
    // 9000 x 640 float32 is 23 MB: two 16 MiB blocks.
    const shape: ReferenceShape = { ...GQA_UNTIED, hiddenSize: 640, headDim: 160, intermediateSize: 32, numLayers: 1, vocabSize: 9000 };
    const weights = randomQwen2Weights(shape, 5);
    const tableNames = new Set(["model.embed_tokens.weight", "lm_head.weight"]);
    for (const format of ["q8", "f32", "f16"] as const) {
      const asked: string[] = [];
      const ranged = await buildQwen2Onnx(qwen2ConfigJson(shape), {
        format,
        loadTensor: async (name, range) => {
          const values = weights.get(name)!;
          if (tableNames.has(name)) asked.push(range ? `${name} ${range.start}..${range.end}` : `${name} whole`);
          return range ? values.slice(range.start, range.end) : values;
        },
      });
      const whole = await buildQwen2Onnx(qwen2ConfigJson(shape), { format, loadTensor: async (name) => weights.get(name)! });
      expect(ranged.externalData.map((file) => Buffer.from(file.data).toString("base64"))).toEqual(whole.externalData.map((file) => Buffer.from(file.data).toString("base64")));
      const blockRows = Math.floor(16 * 2 ** 20 / (4 * 640));
      const blocks = (name: string) => [`${name} 0..${blockRows * 640}`, `${name} ${blockRows * 640}..${9000 * 640}`];
      const expected = format === "q8" ? [...blocks("model.embed_tokens.weight"), ...blocks("lm_head.weight")] : blocks("model.embed_tokens.weight");
      expect(asked.filter((line) => format === "q8" || line.startsWith("model.embed")), format).toEqual(expected);
    }
  });
});

describe("weight bytes per format, and models too large for WebAssembly memory", () => {
  for (const shape of [GQA_UNTIED, GQA3_TIED]) {
    it(`${shape.tieWordEmbeddings ? "tied" : "untied"}: qwen2OnnxWeightBytes is what buildQwen2Onnx writes, in every format`, async () => {
      const weights = randomQwen2Weights(shape, 5);
      const config = qwen2ConfigJson(shape);
      for (const format of QWEN2_ONNX_FORMATS) {
        const built = await buildQwen2Onnx(config, { format, loadTensor: async (name) => weights.get(name)! });
        const written = built.externalData.reduce((sum, file) => sum + file.data.byteLength, 0);
        const expected = qwen2OnnxWeightBytes(readQwen2Config(config), format).total;
        // Each weight starts at a multiple of 64 bytes: at most 63 bytes of padding before each.
        expect(written, format).toBeGreaterThanOrEqual(expected);
        expect(written - expected, format).toBeLessThan(64 * (8 + 6 * shape.numLayers));
      }
    });
  }

  const config15 = JSON.parse(renderQwen2Config(QWEN2_PRESETS["qwen2.5-1.5b"], "BF16")) as Record<string, unknown>;
  const config05 = JSON.parse(renderQwen2Config(QWEN2_PRESETS["qwen2.5-0.5b"], "BF16")) as Record<string, unknown>;

  it("the Qwen2.5-1.5B shape has Qwen2.5-1.5B's 1,543,714,304 parameters", () => {
    const parameters = qwen2Tensors(QWEN2_PRESETS["qwen2.5-1.5b"]).reduce((sum, tensor) => sum + tensor.shape.reduce((product, dim) => product * dim, 1), 0);
    expect(parameters).toBe(1_543_714_304);
  });

  it("refuses the 1.5B shape in f32 on wasm, naming its size, the 4 GiB limit and the formats that fit; accepts q8, q4 and the 0.5B in f32", () => {
    expect(() => assertFitsWasmMemory(config15, "f32")).toThrow(ModelTooLargeError);
    // 1,310,339,072 linear parameters + 233,373,696 in the table, 4 bytes each, + RoPE tables and vectors.
    expect(() => assertFitsWasmMemory(config15, "f32")).toThrow(/in format f32 this model's weights take 5\.8 GiB, .*stops at 4\.0 GiB .*choose q8 \(1\.5 GiB\) or q4 \(1\.\d GiB\)/);
    for (const format of ["q8", "q4"] as const) expect(() => assertFitsWasmMemory(config15, format)).not.toThrow();
    expect(() => assertFitsWasmMemory(config05, "f32")).not.toThrow();
  });

  it("loadEvalModel on wasm refuses before reading any tensor or opening a session", async () => {
    const read: string[] = [];
    const refusingRuntime = {
      InferenceSession: { create: () => Promise.reject(new Error("no session may be opened")) },
      Tensor: ort.Tensor,
    };
    const source = { config: config15, loadTensor: async (name: string) => (read.push(name), new Float32Array(0)), tokenizer: undefined as never };
    await expect(loadEvalModel(refusingRuntime as never, source, "f32", { sessionOptions: { executionProviders: ["wasm"] } })).rejects.toThrow(/more than WebAssembly can hold/);
    expect(read).toEqual([]);
  });
});
