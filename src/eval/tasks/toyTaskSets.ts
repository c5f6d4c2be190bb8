/**
 * The toy demo's tasks by name: their held-out sets ship in public/data/toy/NAME.jsonl
 * ({"prompt", "target"} lines, written by scripts/write-toy-task-sets.ts from the trainer's
 * toyTasks.ts, whose names these are; test/toy-task-sets.test.ts checks that this table lists
 * exactly the trainer's tasks that have a file there). The evaluator keeps its own table so that it
 * imports nothing of the trainer.
 */
export const TOY_TASK_SETS = [
  { name: "toy-reasoning", description: "2-digit addition, the reasoning vector's skill" },
  { name: "toy-own", description: "digit-string reversal, the target's own task" },
] as const;

export type ToyTaskSetName = (typeof TOY_TASK_SETS)[number]["name"];

export const TOY_TASK_SET_NAMES: readonly ToyTaskSetName[] = TOY_TASK_SETS.map((set) => set.name);

/** The set's path under the web root (public/), which the report records as the dataset's name. */
export function toyTaskSetPath(name: ToyTaskSetName): string {
  return `data/toy/${name}.jsonl`;
}

/** Lines in each shipped set (the trainer's held-out count). */
export const TOY_TASK_SET_LINES = 500;

/** The toy models answer a few characters and then <|im_end|>: 16 new tokens are room enough. */
export const TOY_TASK_MAX_NEW_TOKENS = 16;
