import * as ort from "onnxruntime-node";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openDecoderInMemory, type DecoderOpener } from "../src/eval/decoder/openDecoderInMemory.ts";
import { openDecoderFromTempFolder } from "../src/eval/node/openDecoderFromTempFolder.ts";
import { QWEN2_ONNX_FORMATS, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";

/**
 * Peak memory and time of loading a model for evaluation under onnxruntime-node, one way per run
 * (run each in its own process, so that the peak is its own):
 *   npx tsx bench/evalLoadMemory.ts DIR FORMAT in-memory|temp-folder
 * e.g. DIR .bench/hub/bench/eval-1.5b (made by `npx tsx bench/eval.ts --no-browser --shapes 1.5b`).
 * Prints one JSON line: seconds building the weights and opening the session, the process's peak
 * RSS when the session phase began (the build's peak), after the session exists, and after one
 * 8-token forward pass.
 */
const OPENERS: Record<string, DecoderOpener> = { "in-memory": openDecoderInMemory, "temp-folder": openDecoderFromTempFolder() };
const [dir, format, way] = process.argv.slice(2) as [string, Qwen2OnnxFormat, string];
if (!dir || !QWEN2_ONNX_FORMATS.includes(format) || !OPENERS[way]) {
  throw new Error(`usage: npx tsx bench/evalLoadMemory.ts DIR (${QWEN2_ONNX_FORMATS.join("|")}) (${Object.keys(OPENERS).join("|")})`);
}
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const gigabytes = (bytes: number) => Number((bytes / 1e9).toFixed(2));
const source = await openFolderSource(dir);
try {
  const model = await inspectModel(source);
  const started = performance.now();
  let sessionStarted = started;
  let buildPeak = 0;
  const { decoder } = await OPENERS[way]!(ort, model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" }, {}, () => {
    sessionStarted = performance.now();
    buildPeak = peakRss();
  });
  const loadedAt = performance.now();
  const loadedPeak = peakRss();
  try {
    await decoder.forward([1, 2, 3, 4, 5, 6, 7, 8], { lastOnly: true });
  } finally {
    await decoder.release();
  }
  process.stdout.write(
    `${JSON.stringify({
      dir,
      format,
      way,
      buildSeconds: Number(((sessionStarted - started) / 1000).toFixed(1)),
      sessionSeconds: Number(((loadedAt - sessionStarted) / 1000).toFixed(1)),
      buildPeakGB: gigabytes(buildPeak),
      loadedPeakGB: gigabytes(loadedPeak),
      forwardPeakGB: gigabytes(peakRss()),
    })}\n`,
  );
} finally {
  await source.close?.();
}
