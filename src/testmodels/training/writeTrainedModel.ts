import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SINGLE_FILE_NAME } from "../../core/safetensors/planShards.ts";
import { writeSafetensorsHeader } from "../../core/safetensors/writeSafetensorsHeader.ts";
import { qwen2Tensors } from "../qwen2Shape.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";
import { writeToyModelFiles } from "./writeToyModelFiles.ts";

/**
 * Writes trained toy parameters as a Hugging Face model folder the evaluator and the merge engine
 * load unchanged: model.safetensors (F32, tensors in state-dict order, as generateQwen2Model writes
 * them) and writeToyModelFiles' config, generation config and tokenizer files. Float64 parameters
 * are rounded to float32.
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
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SINGLE_FILE_NAME), Buffer.concat([header, ...data]));
  await writeToyModelFiles(dir, parameters.shape);
}
