import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { startSha256Worker } from "../src/core/node/startSha256Worker.ts";
import { randomWords } from "./helpers/writeTestModel.ts";

const worker = startSha256Worker();
afterAll(() => worker.close());

const bytesOf = (seed: number, length: number, shared: boolean) => {
  const words = randomWords(seed, Math.ceil(length / 4));
  const out = new Uint8Array(shared ? new SharedArrayBuffer(length) : new ArrayBuffer(length));
  out.set(new Uint8Array(words.buffer, 0, length));
  return out;
};
const sha256 = (...parts: Uint8Array[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
};

describe("startSha256Worker", () => {
  it("hashes shared and unshared views, offsets included, as node:crypto does in one thread", async () => {
    const parts = [bytesOf(1, 1000, true).subarray(3, 997), bytesOf(2, 3 * 2 ** 20 + 5, false), bytesOf(3, 0, true), bytesOf(4, 64, true)];
    const hash = worker.create();
    for (const part of parts) await hash.update(part);
    expect(await hash.digest()).toBe(sha256(...parts));
  });
  it("snapshots the digest so far and goes on", async () => {
    const [a, b] = [bytesOf(5, 4096, true), bytesOf(6, 777, false)];
    const hash = worker.create();
    await hash.update(a);
    expect(await hash.snapshot()).toBe(sha256(a));
    await hash.update(b);
    expect(await hash.digest()).toBe(sha256(a, b));
  });
  it("keeps concurrent hashes apart, in the order of each one's updates", async () => {
    const inputs = Array.from({ length: 4 }, (_, i) => [bytesOf(10 + i, 5000, true), bytesOf(20 + i, 3000, false)]);
    const hashes = inputs.map(() => worker.create());
    await Promise.all(hashes.flatMap((hash, i) => inputs[i]!.map((part) => hash.update(part))));
    expect(await Promise.all(hashes.map((hash) => hash.digest()))).toEqual(inputs.map((parts) => sha256(...parts)));
  });
  it("leaves the bytes it was given untouched", async () => {
    const bytes = bytesOf(30, 1024, false);
    const before = Buffer.from(bytes);
    await worker.create().update(bytes);
    expect(Buffer.from(bytes).equals(before)).toBe(true);
  });
});
