import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { ProtobufWriter } from "../src/eval/onnx/ProtobufWriter.ts";
import { readQwen2Config, UnsupportedModelError } from "../src/eval/onnx/readQwen2Config.ts";
import { referenceLogits } from "./helpers/qwen2Reference.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./helpers/randomQwen2Weights.ts";

const QWEN2_CONFIG = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  rope_theta: 1000000.0,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  sliding_window: 32768,
  use_sliding_window: false,
  max_window_layers: 21,
  tie_word_embeddings: true,
  max_position_embeddings: 32768,
};

describe("readQwen2Config", () => {
  it("reads Qwen2.5-0.5B-Instruct's config.json", () => {
    expect(readQwen2Config(QWEN2_CONFIG)).toEqual({
      hiddenSize: 896,
      intermediateSize: 4864,
      numLayers: 24,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      vocabSize: 151936,
      ropeTheta: 1000000,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 32768,
    });
  });

  it("takes transformers' defaults for fields a config may leave out, and an explicit head_dim", () => {
    const defaulted: Record<string, unknown> = { ...QWEN2_CONFIG, head_dim: 32 };
    for (const field of ["num_key_value_heads", "rope_theta", "rms_norm_eps", "tie_word_embeddings"]) delete defaulted[field];
    const config = readQwen2Config(defaulted);
    expect(config).toMatchObject({ numKvHeads: 14, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: false, headDim: 32 });
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ["another architecture", { architectures: ["LlamaForCausalLM"] }, /"architectures" is \["LlamaForCausalLM"\].*Qwen2ForCausalLM/],
    ["no architectures", { architectures: undefined }, /"architectures" is undefined/],
    ["another model_type", { model_type: "qwen3" }, /"model_type" is "qwen3"/],
    ["RoPE scaling", { rope_scaling: { type: "yarn", factor: 4 } }, /"rope_scaling" .*not implemented/],
    ["sliding windows", { use_sliding_window: true }, /"use_sliding_window" is true; sliding-window attention is not implemented/],
    ["another activation", { hidden_act: "gelu" }, /"hidden_act" is "gelu"/],
    ["heads not a multiple of kv heads", { num_key_value_heads: 3 }, /"num_attention_heads" \(14\) is not a multiple of "num_key_value_heads" \(3\)/],
    ["a missing size", { hidden_size: undefined }, /"hidden_size" is undefined; expected a positive integer/],
    ["a fractional size", { num_hidden_layers: 2.5 }, /"num_hidden_layers" is 2.5/],
    ["a negative rope_theta", { rope_theta: -1 }, /"rope_theta" is -1/],
    ["an odd head dimension", { head_dim: 7 }, /head dimension 7 is odd/],
    ["a bad max_position_embeddings", { max_position_embeddings: 0 }, /"max_position_embeddings" is 0/],
  ];
  for (const [what, change, message] of refusals) {
    it(`refuses ${what}, naming the field`, () => {
      const call = () => readQwen2Config({ ...QWEN2_CONFIG, ...change });
      expect(call).toThrow(UnsupportedModelError);
      expect(call).toThrow(message);
    });
  }

  it("stops a build on a tensor whose size does not match config.json, naming it", async () => {
    const config = { ...QWEN2_CONFIG, hidden_size: 64, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 32 };
    const sizes: Array<[RegExp, number]> = [
      [/embed_tokens/, 32 * 64],
      [/norm/, 64],
      [/q_proj.bias/, 64],
      [/[kv]_proj.bias/, 32],
      // k_proj.weight comes as [64, 64] instead of [32, 64].
      [/proj.weight/, 64 * 64],
    ];
    const build = buildQwen2Onnx(config, { format: "f32", loadTensor: async (name) => new Float32Array(sizes.find(([pattern]) => pattern.test(name))![1]) });
    await expect(build).rejects.toThrow(/tensor model.layers.0.self_attn.k_proj.weight has 4096 values; config.json implies shape \[32, 64\] \(2048 values\)/);
  });
});

/**
 * Qwen2.5-1.5B-Instruct's config.json as transformers 5 saves it: the RoPE base moved into
 * `rope_parameters`, `dtype` instead of `torch_dtype`, `layer_types` written out, and
 * `sliding_window` null (Qwen2Config.__post_init__ clears it when use_sliding_window is false).
 */
const QWEN25_INSTRUCT_TRANSFORMERS_5 = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  dtype: "bfloat16",
  eos_token_id: 151645,
  hidden_act: "silu",
  hidden_size: 1536,
  initializer_range: 0.02,
  intermediate_size: 8960,
  layer_types: Array.from({ length: 28 }, () => "full_attention"),
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: "qwen2",
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  pad_token_id: null,
  rms_norm_eps: 1e-6,
  rope_parameters: { rope_theta: 1000000.0, rope_type: "default" },
  sliding_window: null,
  tie_word_embeddings: true,
  transformers_version: "5.0.0",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** The same model as transformers 4 saved it. */
const QWEN25_INSTRUCT_TRANSFORMERS_4: Record<string, unknown> = {
  ...QWEN25_INSTRUCT_TRANSFORMERS_5,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  torch_dtype: "bfloat16",
  transformers_version: "4.43.1",
};
for (const field of ["rope_parameters", "layer_types", "dtype", "pad_token_id"]) delete QWEN25_INSTRUCT_TRANSFORMERS_4[field];

describe("readQwen2Config on transformers 5's layout", () => {
  it("reads the same fields from Qwen2.5-1.5B-Instruct's config.json as transformers 4 and 5 save it", () => {
    const expected = {
      hiddenSize: 1536,
      intermediateSize: 8960,
      numLayers: 28,
      numHeads: 12,
      numKvHeads: 2,
      headDim: 128,
      vocabSize: 151936,
      ropeTheta: 1000000,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 32768,
    };
    expect(readQwen2Config(QWEN25_INSTRUCT_TRANSFORMERS_5)).toEqual(expected);
    expect(readQwen2Config(QWEN25_INSTRUCT_TRANSFORMERS_4)).toEqual(expected);
  });

  it("takes rope_parameters without rope_type, with partial_rotary_factor 1, or next to an equal rope_theta", () => {
    const withParameters = (rope_parameters: unknown, extra: Record<string, unknown> = {}) => readQwen2Config({ ...QWEN25_INSTRUCT_TRANSFORMERS_5, rope_parameters, ...extra }).ropeTheta;
    expect(withParameters({ rope_theta: 10000.0 })).toBe(10000);
    expect(withParameters({ rope_theta: 500000, rope_type: "default", partial_rotary_factor: 1.0 })).toBe(500000);
    expect(withParameters({ rope_theta: 1e6, rope_type: "default" }, { rope_theta: 1e6 })).toBe(1e6);
    expect(withParameters({ rope_type: "default" }, { rope_theta: 25000 })).toBe(25000);
    expect(withParameters(null, { rope_theta: 25000 })).toBe(25000);
  });

  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ["another rope_type", { rope_parameters: { rope_theta: 1e6, rope_type: "yarn", factor: 4 } }, /"rope_parameters.rope_type" is "yarn"; only "default" is implemented/],
    ["a dynamic rope_type alone", { rope_parameters: { rope_theta: 1e6, rope_type: "dynamic" } }, /"rope_parameters.rope_type" is "dynamic"; only "default" is implemented/],
    ["a partial rotary factor", { rope_parameters: { rope_theta: 1e6, rope_type: "default", partial_rotary_factor: 0.5 } }, /"rope_parameters.partial_rotary_factor" is 0.5/],
    ["per-layer-type RoPE parameters", { rope_parameters: { full_attention: { rope_theta: 1e6, rope_type: "default" } } }, /"rope_parameters" has "full_attention"/],
    ["rope_parameters that is not an object", { rope_parameters: 1e6 }, /"rope_parameters" is 1000000; expected an object/],
    ["a rope_parameters.rope_theta that is not a positive number", { rope_parameters: { rope_theta: "1e6", rope_type: "default" } }, /"rope_parameters.rope_theta" is "1e6"; expected a positive number/],
    ["rope_parameters without rope_theta and no rope_theta", { rope_parameters: { rope_type: "default" } }, /"rope_parameters" has no "rope_theta", and there is no top-level "rope_theta"/],
    ["both forms disagreeing", { rope_theta: 10000, rope_parameters: { rope_theta: 1e6, rope_type: "default" } }, /"rope_theta" \(10000\) and "rope_parameters.rope_theta" \(1000000\) disagree/],
    ["a sliding-attention layer", { layer_types: [...Array.from({ length: 27 }, () => "full_attention"), "sliding_attention"] }, /"layer_types\[27\]" is "sliding_attention"; only "full_attention"/],
    ["layer_types of the wrong length", { layer_types: ["full_attention"] }, /"layer_types" has 1 entries but "num_hidden_layers" is 28/],
    ["layer_types that is not a list", { layer_types: "full_attention" }, /"layer_types" is "full_attention"; expected a list/],
    ["a use_sliding_window that is not a boolean", { use_sliding_window: "false" }, /"use_sliding_window" is "false"; expected true or false/],
  ];
  for (const [what, change, message] of refusals) {
    it(`refuses ${what}, naming the field`, () => {
      const call = () => readQwen2Config({ ...QWEN25_INSTRUCT_TRANSFORMERS_5, ...change });
      expect(call).toThrow(UnsupportedModelError);
      expect(call).toThrow(message);
    });
  }

  it("gives the same logits on onnxruntime-node from rope_theta and from rope_parameters, those of the float64 pass with that base", async () => {
    const shape = { ...GQA_UNTIED, ropeTheta: 1_000_000 };
    const weights = randomQwen2Weights(shape, 11);
    const transformers4 = qwen2ConfigJson(shape);
    const transformers5: Record<string, unknown> = {
      ...transformers4,
      rope_parameters: { rope_theta: shape.ropeTheta, rope_type: "default" },
      layer_types: Array.from({ length: shape.numLayers }, () => "full_attention"),
      sliding_window: null,
      max_window_layers: shape.numLayers,
      dtype: "float32",
    };
    delete transformers5.rope_theta;
    const prompt = [5, 17, 250, 3, 99, 42, 7, 128, 64, 1, 200, 33];
    const logitsOf = async (config: Record<string, unknown>) => {
      const built = await buildQwen2Onnx(config, { format: "f32", loadTensor: async (name) => weights.get(name)! });
      const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: 1 } });
      try {
        return await decoder.forward(prompt);
      } finally {
        await decoder.release();
      }
    };
    const [fromRopeTheta, fromRopeParameters] = [await logitsOf(transformers4), await logitsOf(transformers5)];
    expect(Array.from(fromRopeParameters)).toEqual(Array.from(fromRopeTheta));

    const reference = referenceLogits(shape, (name) => Float64Array.from(weights.get(name)!), prompt);
    const withDefaultBase = referenceLogits({ ...shape, ropeTheta: 10000 }, (name) => Float64Array.from(weights.get(name)!), prompt);
    const scale = Math.max(...reference.map(Math.abs));
    const largestDifference = (from: ArrayLike<number>) => Math.max(...Array.from(reference, (value, i) => Math.abs(value - from[i]!)));
    expect(largestDifference(fromRopeParameters) / scale).toBeLessThanOrEqual(1e-5);
    // The base matters: had rope_parameters been ignored (the default 10000), the logits would be far off.
    expect(largestDifference(withDefaultBase) / scale).toBeGreaterThan(1e-2);
  });
});

describe("ProtobufWriter", () => {
  it("writes varints, negative int64s, floats and length-delimited fields in the wire format", () => {
    const bytes = new ProtobufWriter()
      .varintField(1, 150)
      .varintField(2, -1)
      .floatField(3, 1.5)
      .stringField(4, "hé")
      .messageField(5, (inner) => inner.varintField(1, 2 ** 40))
      .finish();
    expect(Array.from(bytes)).toEqual([
      0x08, 0x96, 0x01, // field 1, varint 150
      0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // field 2, -1 as 64-bit two's complement
      0x1d, 0x00, 0x00, 0xc0, 0x3f, // field 3, fixed32 1.5
      0x22, 0x03, 0x68, 0xc3, 0xa9, // field 4, "hé" in UTF-8
      0x2a, 0x07, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, // field 5, message { field 1: 2^40 }
    ]);
  });
});
