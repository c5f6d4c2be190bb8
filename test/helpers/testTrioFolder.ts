import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { writeTestModel, type TestTensor } from "./writeTestModel.ts";

export type TestTrio = { target: string; plus: string; minus: string };

/**
 * A temporary folder holding target/, plus/ and minus/ test models (tensors of seeds 1, 2 and 3),
 * made before the file's tests and removed after them. Its fields are set once the tests start.
 */
export function testTrioFolder(prefix: string, tensors: (seed: number) => TestTensor[], config: Record<string, unknown>): { root: string; models: TestTrio } {
  const trio = { root: "", models: { target: "", plus: "", minus: "" } };
  beforeAll(async () => {
    trio.root = await mkdtemp(join(tmpdir(), prefix));
    trio.models = { target: join(trio.root, "target"), plus: join(trio.root, "plus"), minus: join(trio.root, "minus") };
    await writeTestModel(trio.models.target, tensors(1), { config });
    await writeTestModel(trio.models.plus, tensors(2), { config });
    await writeTestModel(trio.models.minus, tensors(3), { config });
  });
  afterAll(async () => {
    await rm(trio.root, { recursive: true, force: true });
  });
  return trio;
}
