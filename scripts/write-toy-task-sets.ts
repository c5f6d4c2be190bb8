import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { renderTaskSetJsonl, TOY_TASK_NAMES, TOY_TEST_SET, toyTaskSplit } from "../src/testmodels/training/toyTasks.ts";

/** Writes the toy tasks' held-out test sets (public/data/toy/TASK.jsonl) from their fixed seed; test/toy-tasks.test.ts checks the committed files against them. */
const folder = fileURLToPath(new URL("../public/data/toy", import.meta.url));
await mkdir(folder, { recursive: true });
for (const task of TOY_TASK_NAMES) {
  const { test } = toyTaskSplit(task, { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: 0 });
  const path = join(folder, `${task}.jsonl`);
  await writeFile(path, renderTaskSetJsonl(test));
  console.log(`${path}: ${test.length} problems`);
}
