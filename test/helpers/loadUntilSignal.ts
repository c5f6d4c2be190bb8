import * as ort from "onnxruntime-node";
import { openDecoderFromTempFolder } from "../../src/eval/node/openDecoderFromTempFolder.ts";
import { GQA_UNTIED, qwen2ConfigJson, randomQwen2Weights } from "./randomQwen2Weights.ts";

/**
 * Child process of test/eval-node-load.test.ts: loads a tiny model through
 * openDecoderFromTempFolder under the temp root given as argument, writes "writing" once three
 * tensors have been read, and then waits forever on the fourth: the test stops it with a signal.
 */
const tempRoot = process.argv[2]!;
const weights = randomQwen2Weights(GQA_UNTIED, 1);
let reads = 0;
await openDecoderFromTempFolder(tempRoot)(
  ort,
  qwen2ConfigJson(GQA_UNTIED),
  {
    format: "q8",
    loadTensor: async (name) => {
      if (++reads <= 3) return weights.get(name)!;
      process.stdout.write("writing\n");
      setInterval(() => {}, 1000);
      return new Promise<Float32Array>(() => {});
    },
  },
  {},
);
