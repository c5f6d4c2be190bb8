import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderGenerationConfig, renderQwen2Config } from "../generateQwen2Model.ts";
import type { Qwen2Shape } from "../qwen2Shape.ts";
import { TOY_TOKEN_IDS, toyTokenizerFiles } from "./toyTokenizer.ts";

/** The toy tokenizer's ids in config.json and generation_config.json: <|endoftext|> for BOS and padding, <|im_end|> ends a turn. */
const TOY_CONFIG_TOKEN_IDS = { bos: TOY_TOKEN_IDS.endOfText, eos: TOY_TOKEN_IDS.imEnd, pad: TOY_TOKEN_IDS.endOfText };

/**
 * Writes the files of a toy model's Hugging Face folder other than its weights, for a model of
 * `shape` stored in F32: config.json and generation_config.json (the toy tokenizer's special ids),
 * tokenizer.json and tokenizer_config.json (the toy tokenizer with its ChatML template). The folder
 * must exist. The trainer's folders and the demo Hub's toy repos both get theirs from here.
 */
export async function writeToyModelFiles(dir: string, shape: Qwen2Shape): Promise<void> {
  const { tokenizerJson, tokenizerConfig } = toyTokenizerFiles();
  await writeFile(join(dir, "config.json"), renderQwen2Config(shape, "F32", TOY_CONFIG_TOKEN_IDS));
  await writeFile(join(dir, "generation_config.json"), renderGenerationConfig(TOY_CONFIG_TOKEN_IDS));
  await writeFile(join(dir, "tokenizer.json"), `${JSON.stringify(tokenizerJson, null, 2)}\n`);
  await writeFile(join(dir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
}
