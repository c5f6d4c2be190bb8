import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SINGLE_FILE_NAME } from "../../core/safetensors/planShards.ts";
import { writeSafetensorsHeader } from "../../core/safetensors/writeSafetensorsHeader.ts";
import { renderGenerationConfig, renderQwen2Config } from "../generateQwen2Model.ts";
import { qwen2Tensors } from "../qwen2Shape.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";
import { TOY_TOKEN_IDS, toyTokenizerFiles } from "./toyTokenizer.ts";

/** The toy tokenizer's ids in config.json and generation_config.json: <|endoftext|> for BOS and padding, <|im_end|> ends a turn. */
const TOY_CONFIG_TOKEN_IDS = { bos: TOY_TOKEN_IDS.endOfText, eos: TOY_TOKEN_IDS.imEnd, pad: TOY_TOKEN_IDS.endOfText };

/**
 * Writes trained toy parameters as a Hugging Face model folder the evaluator and the merge engine
 * load unchanged: model.safetensors (F32, tensors in state-dict order, as generateQwen2Model writes
 * them), config.json and generation_config.json (the toy tokenizer's special ids), tokenizer.json and
 * tokenizer_config.json. Float64 parameters are rounded to float32.
 */
export async function writeTrainedModel(dir: string, parameters: Qwen2Parameters): Promise<void> {
  const tensors = qwen2Tensors(parameters.shape).map((tensor) => ({ ...tensor, dtype: "F32" as const }));
  const header = writeSafetensorsHeader(tensors);
  const data = tensors.map((tensor) => {
    const values = parameters.tensors.get(tensor.name);
    const expected = tensor.shape.reduce((product, dim) => product * dim, 1);
    if (values === undefined || values.length !== expected) {
      throw new Error(`cannot write ${dir}: tensor ${tensor.name} has ${values?.length ?? "no"} values, its shape [${tensor.shape.join(", ")}] needs ${expected}`);
    }
    const float32 = values instanceof Float32Array ? values : Float32Array.from(values);
    return new Uint8Array(float32.buffer, float32.byteOffset, float32.byteLength);
  });
  const { tokenizerJson, tokenizerConfig } = toyTokenizerFiles();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SINGLE_FILE_NAME), Buffer.concat([header, ...data]));
  await writeFile(join(dir, "config.json"), renderQwen2Config(parameters.shape, "F32", TOY_CONFIG_TOKEN_IDS));
  await writeFile(join(dir, "generation_config.json"), renderGenerationConfig(TOY_CONFIG_TOKEN_IDS));
  await writeFile(join(dir, "tokenizer.json"), `${JSON.stringify(tokenizerJson, null, 2)}\n`);
  await writeFile(join(dir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
}
