import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileSystemError } from "../../core/node/fileSystemError.ts";
import { OnnxCausalDecoder } from "../decoder/OnnxCausalDecoder.ts";
import { releaseIfAborted, type DecoderOpener } from "../decoder/openDecoderInMemory.ts";
import { buildQwen2OnnxInto } from "../onnx/buildQwen2Onnx.ts";
import { OnnxFolderWriter } from "./OnnxFolderWriter.ts";

/** Prefix of the private folders (mkdtemp: mode 0700, a random suffix) under the temp root. */
export const TEMP_FOLDER_PREFIX = "merge-studio-onnx-";
const MODEL_FILE = "model.onnx";

/**
 * A DecoderOpener for onnxruntime-node that never holds the weights twice: the model and its
 * external data files are written to a private temporary folder (each weight group streamed to disk
 * as it is produced, never the whole set in memory), the session is created from the model's path
 * (onnxruntime reads the files itself, memory-mapping those whose offsets allow it), and the folder
 * is removed as soon as the session exists, and also when building, writing or creating the session
 * fails, when `build.signal` aborts, and when the process exits or is stopped by SIGINT / SIGTERM
 * meanwhile. Removing files onnxruntime has mapped is safe on Linux and macOS (the mapping keeps
 * them until the session is released); where it is not (Windows), a warning says so and the folder
 * is removed when the process exits. `tempRoot` defaults to the system's (os.tmpdir(), TMPDIR):
 * it needs free space for the weights in the chosen format.
 */
export function openDecoderFromTempFolder(tempRoot = tmpdir()): DecoderOpener {
  return async (ort, configJson, build, decoderOptions, onSession) => {
    const dir = await mkdtemp(join(tempRoot, TEMP_FOLDER_PREFIX)).catch((error: unknown) => {
      throw fileSystemError(error, tempRoot, "create a temporary folder for the ONNX model in");
    });
    const stopGuard = removeOnExit(dir);
    try {
      const writer = new OnnxFolderWriter(dir);
      let built: Awaited<ReturnType<typeof buildQwen2OnnxInto>>;
      try {
        built = await buildQwen2OnnxInto(configJson, build, writer);
      } finally {
        await writer.close();
      }
      const modelPath = join(dir, MODEL_FILE);
      await writeFile(modelPath, built.model).catch((error: unknown) => {
        throw fileSystemError(error, modelPath, "write");
      });
      build.signal?.throwIfAborted();
      onSession?.();
      const decoder = await OnnxCausalDecoder.create(ort, { model: modelPath, config: built.config, format: built.format }, decoderOptions);
      await releaseIfAborted(decoder, build.signal);
      return { decoder, config: built.config, weightBytes: writer.totalBytes };
    } finally {
      try {
        await rm(dir, { recursive: true, force: true });
        stopGuard();
      } catch (error) {
        // Windows keeps files that onnxruntime has mapped: the exit guard removes the folder later.
        process.emitWarning(`${fileSystemError(error, dir, "remove the temporary folder").message}; it is removed when the process exits`);
      }
    }
  };
}

/**
 * Removes `dir` if the process exits (process.exit, the end of the event loop) or is stopped by
 * SIGINT or SIGTERM before the returned function is called; a signal is then raised again, so the
 * process stops as it would have. Signals are only watched when nothing else handles them.
 */
function removeOnExit(dir: string): () => void {
  const remove = () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      process.stderr.write(`warning: ${fileSystemError(error, dir, "remove the temporary folder").message}\n`);
    }
  };
  const signals = (["SIGINT", "SIGTERM"] as const).filter((signal) => process.listenerCount(signal) === 0);
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    remove();
    process.kill(process.pid, signal);
  };
  const stop = () => {
    process.off("exit", remove);
    for (const signal of signals) process.off(signal, onSignal);
  };
  process.on("exit", remove);
  for (const signal of signals) process.on(signal, onSignal);
  return stop;
}
