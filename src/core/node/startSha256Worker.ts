import { Worker } from "node:worker_threads";

/** SHA-256 of a stream of bytes, computed on the worker thread. */
export interface IncrementalSha256 {
  /** Hashes `bytes` next; the promise settles once they are hashed, so their buffer can be reused. */
  update(bytes: Uint8Array): Promise<void>;
  /** The digest (lower-case hex) of everything hashed so far; hashing may go on. */
  snapshot(): Promise<string>;
  /** The final digest (lower-case hex); the hash is done. */
  digest(): Promise<string>;
}

export interface Sha256Worker {
  create(): IncrementalSha256;
  close(): Promise<void>;
}

/**
 * The worker's code, CommonJS evaluated as a string: a separate module file would need the same
 * TypeScript loader as the CLI inside the worker. Node's crypto, so SHA-NI where the CPU has it.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", ({ op, id, seq, buffer, offset, length }) => {
  try {
    let hash = hashes.get(id);
    if (!hash) hashes.set(id, (hash = createHash("sha256")));
    if (op === "update") {
      hash.update(new Uint8Array(buffer, offset, length));
      parentPort.postMessage({ seq });
    } else if (op === "snapshot") {
      parentPort.postMessage({ seq, hex: hash.copy().digest("hex") });
    } else {
      hashes.delete(id);
      parentPort.postMessage({ seq, hex: hash.digest("hex") });
    }
  } catch (error) {
    parentPort.postMessage({ seq, error: String(error && error.message || error) });
  }
});`;

/**
 * A thread that computes SHA-256 while the merge's main thread computes and writes: hashing a GB of
 * output takes about 0.6 s of one core (SHA-NI), which on the merge's critical path made it the
 * largest cost after the I/O itself. Bytes in a SharedArrayBuffer (the merge's chunk pool in Node)
 * are hashed where they lie; other bytes are copied into one first. The worker does not keep the
 * process alive.
 */
export function startSha256Worker(): Sha256Worker {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  worker.unref();
  const waiting = new Map<number, { resolve: (hex: string | undefined) => void; reject: (error: Error) => void }>();
  let nextSeq = 0;
  let nextId = 0;
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure = error;
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  worker.on("message", (message: { seq: number; hex?: string; error?: string }) => {
    const entry = waiting.get(message.seq);
    waiting.delete(message.seq);
    if (message.error !== undefined) entry?.reject(new Error(`SHA-256 worker: ${message.error}`));
    else entry?.resolve(message.hex);
  });
  worker.on("error", (error) => failAll(new Error(`SHA-256 worker failed: ${error.message}`)));
  worker.on("exit", () => failAll(failure ?? new Error("SHA-256 worker stopped")));

  const send = (message: Record<string, unknown>, transfer?: ArrayBuffer[]): Promise<string | undefined> => {
    if (failure) return Promise.reject(failure);
    const seq = nextSeq++;
    return new Promise((resolve, reject) => {
      waiting.set(seq, { resolve, reject });
      worker.postMessage({ ...message, seq }, transfer);
    });
  };

  return {
    create() {
      const id = nextId++;
      return {
        async update(bytes) {
          if (bytes.byteLength === 0) return;
          if (bytes.buffer instanceof SharedArrayBuffer) {
            await send({ op: "update", id, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength });
            return;
          }
          const copy = bytes.slice();
          await send({ op: "update", id, buffer: copy.buffer, offset: 0, length: copy.byteLength }, [copy.buffer]);
        },
        snapshot: async () => (await send({ op: "snapshot", id }))!,
        digest: async () => (await send({ op: "digest", id }))!,
      };
    },
    async close() {
      failure ??= new Error("SHA-256 worker closed");
      await worker.terminate();
    },
  };
}
