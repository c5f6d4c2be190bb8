import { mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * The I/O floor of a merge: reads the target's, plus's and minus's safetensors files chunk by chunk,
 * as the merge does, and writes an output file of the target's size, with no arithmetic. A merge
 * cannot be faster than this on the same disk and page cache.
 *
 * Plain JavaScript, run by node alone, so that its start-up is node's, as the built CLI's is.
 *
 * usage: node bench/ioFloor.js TARGET_DIR PLUS_DIR MINUS_DIR OUT_DIR CHUNK_BYTES
 */
const [targetDir, plusDir, minusDir, outDir, chunkText] = process.argv.slice(2);
if (!targetDir || !plusDir || !minusDir || !outDir || !chunkText) {
  throw new Error("usage: node bench/ioFloor.js TARGET_DIR PLUS_DIR MINUS_DIR OUT_DIR CHUNK_BYTES");
}
const chunkBytes = Number(chunkText);

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
const files = (await readdir(targetDir)).filter((name) => name.endsWith(".safetensors")).sort();
const buffers = [0, 1, 2].map(() => new Uint8Array(chunkBytes));

for (const name of files) {
  const inputs = await Promise.all([targetDir, plusDir, minusDir].map((dir) => open(join(dir, name), "r")));
  const out = await open(join(outDir, name), "w");
  try {
    const size = (await stat(join(targetDir, name))).size;
    for (let offset = 0; offset < size; offset += chunkBytes) {
      const length = Math.min(chunkBytes, size - offset);
      await Promise.all(inputs.map((input, i) => readFully(input, buffers[i], length, offset)));
      await writeFully(out, buffers[0].subarray(0, length));
    }
  } finally {
    await Promise.all([...inputs, out].map((handle) => handle.close()));
  }
}

/**
 * @param {import("node:fs/promises").FileHandle} handle
 * @param {Uint8Array} buffer
 * @param {number} length
 * @param {number} position
 */
async function readFully(handle, buffer, length, position) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`file ends at byte ${position + done}, before ${position + length}`);
    done += bytesRead;
  }
}

/**
 * @param {import("node:fs/promises").FileHandle} handle
 * @param {Uint8Array} bytes
 */
async function writeFully(handle, bytes) {
  let done = 0;
  while (done < bytes.byteLength) done += (await handle.write(bytes, done, bytes.byteLength - done)).bytesWritten;
}
