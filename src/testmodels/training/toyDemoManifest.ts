import type { Qwen2Shape } from "../qwen2Shape.ts";

/**
 * The toy demo's trained models, committed under models/toy/ by `npm run train:demo`: one F32
 * model.safetensors per model (named NAME.safetensors there) and this manifest, toy-demo.json,
 * which records each file's SHA-256 so a copy can be checked and anyone can regenerate them.
 */
export const TOY_DEMO_MANIFEST_FILE = "toy-demo.json";

export const TOY_DEMO_MODEL_NAMES = ["Toy-Base", "Toy-Instruct", "Toy-SFT", "Toy-GRPO"] as const;

export type ToyDemoModelName = (typeof TOY_DEMO_MODEL_NAMES)[number];

export interface ToyDemoModel {
  name: ToyDemoModelName;
  /** The safetensors file's name in the manifest's folder. */
  file: string;
  /** Lowercase hex SHA-256 of that file. */
  sha256: string;
  /** One line on its part in the demo, for its README. */
  role: string;
  /** One line on how it was trained, for its README. */
  training: string;
}

export interface ToyDemoManifest {
  schema: "merge-studio-toy-demo/1";
  /** The command that regenerates the files. */
  command: string;
  shape: Qwen2Shape;
  models: ToyDemoModel[];
}

const SHAPE_KEYS: (keyof Qwen2Shape)[] = ["hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "vocabSize", "tieWordEmbeddings", "ropeTheta", "rmsNormEps", "maxPositionEmbeddings"];

/** Reads toy-demo.json's text; `source` names it in errors. Fields beyond the ones above are kept as they are. */
export function parseToyDemoManifest(text: string, source: string): ToyDemoManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message})`);
  }
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}; regenerate it with \`npm run train:demo\``);
  };
  if (typeof value !== "object" || value === null) return fail("not a JSON object");
  const manifest = value as Record<string, unknown>;
  if (manifest.schema !== "merge-studio-toy-demo/1") fail(`schema is ${JSON.stringify(manifest.schema)}, not "merge-studio-toy-demo/1"`);
  if (typeof manifest.command !== "string") fail('"command" is missing');
  const shape = manifest.shape as Record<string, unknown> | undefined;
  if (typeof shape !== "object" || shape === null) return fail('"shape" is missing');
  for (const key of SHAPE_KEYS) {
    const expected = key === "tieWordEmbeddings" ? "boolean" : "number";
    if (typeof shape[key] !== expected) fail(`shape.${key} is ${JSON.stringify(shape[key])}, not a ${expected}`);
  }
  if (!Array.isArray(manifest.models)) return fail('"models" is not a list');
  const names = manifest.models.map((model: unknown, index) => {
    const entry = model as Record<string, unknown>;
    if (!TOY_DEMO_MODEL_NAMES.includes(entry.name as ToyDemoModelName)) fail(`models[${index}].name is ${JSON.stringify(entry.name)}, not one of ${TOY_DEMO_MODEL_NAMES.join(", ")}`);
    if (typeof entry.file !== "string" || !/^[\w.-]+\.safetensors$/u.test(entry.file)) fail(`models[${index}].file is ${JSON.stringify(entry.file)}, not a NAME.safetensors file name`);
    if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/u.test(entry.sha256)) fail(`models[${index}].sha256 is ${JSON.stringify(entry.sha256)}, not 64 lowercase hex digits`);
    for (const key of ["role", "training"]) if (typeof entry[key] !== "string") fail(`models[${index}].${key} is missing`);
    return entry.name;
  });
  for (const name of TOY_DEMO_MODEL_NAMES) if (names.filter((entry) => entry === name).length !== 1) fail(`models must list ${name} once`);
  return manifest as unknown as ToyDemoManifest;
}
