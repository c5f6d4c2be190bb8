import { describe, expect, it } from "vitest";
import { buildQwen2Onnx } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { ProtobufWriter } from "../src/eval/onnx/ProtobufWriter.ts";
import { readQwen2Config, UnsupportedModelError } from "../src/eval/onnx/readQwen2Config.ts";

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
