import { quoteName } from "../messages/safeText.ts";

/** A malformed or inconsistent safetensors file; the message names the file and, where known, the tensor. */
export class SafetensorsError extends Error {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, problem: string, tensor?: string) {
    super(tensor === undefined ? `${file}: ${problem}` : `${file}: tensor ${quoteName(tensor)}: ${problem}`);
    this.name = "SafetensorsError";
    this.file = file;
    this.tensor = tensor;
  }
}
