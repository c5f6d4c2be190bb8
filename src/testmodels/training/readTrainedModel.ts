import { openFolderSource } from "../../core/node/openFolderSource.ts";
import { basename, dirname } from "node:path";
import { readSafetensorsHeader } from "../../core/safetensors/readSafetensorsHeader.ts";
import type { ModelSource } from "../../core/sources/ModelSource.ts";
import { qwen2Tensors, type Qwen2Shape } from "../qwen2Shape.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";

/**
 * Reads a model.safetensors writeTrainedModel wrote (at any file name) back into float32 parameters
 * of `shape`; any other tensor set, dtype or shape is an error naming it.
 */
export async function readTrainedModel(path: string, shape: Qwen2Shape): Promise<Qwen2Parameters> {
  const source = await openFolderSource(dirname(path));
  try {
    return await readParameters(source, path, shape);
  } finally {
    await source.close?.();
  }
}

async function readParameters(source: ModelSource, path: string, shape: Qwen2Shape): Promise<Qwen2Parameters> {
  const name = basename(path);
  const file = (await source.listFiles()).find((entry) => entry.path === name);
  if (file === undefined) throw new Error(`${path} does not exist`);
  const header = await readSafetensorsHeader(source, file);
  const found = new Map(header.tensors.map((tensor) => [tensor.name, tensor]));
  const tensors = new Map<string, Float32Array>();
  for (const expected of qwen2Tensors(shape)) {
    const tensor = found.get(expected.name);
    if (tensor === undefined) throw new Error(`${path} has no tensor ${expected.name}`);
    if (tensor.dtype !== "F32" || tensor.shape.join(",") !== expected.shape.join(",")) {
      throw new Error(`${path}: ${expected.name} is ${tensor.dtype} [${tensor.shape.join(", ")}], not F32 [${expected.shape.join(", ")}]`);
    }
    const bytes = await source.read(name, tensor.offset, tensor.byteLength);
    tensors.set(expected.name, new Float32Array(bytes.slice().buffer));
  }
  if (found.size !== tensors.size) throw new Error(`${path} holds ${found.size} tensors; a model of this shape has ${tensors.size}`);
  return { shape, tensors };
}
