import { deriveSeed, nextBelow, splitMix32, type SplitMix32 } from "../seededGaussian.ts";

/**
 * The toy models' tasks, in the prompt + exact target form of a custom task set:
 * - "toy-reasoning": the skill the donors learn (the reasoning vector's task): add two numbers
 *   below 100, "47+85=" -> "132";
 * - "toy-own": the target's own task: reverse a string of 3 to 6 digits, "rev 04821" -> "12840".
 */
export type ToyTaskName = "toy-reasoning" | "toy-own";

export const TOY_TASK_NAMES: readonly ToyTaskName[] = ["toy-reasoning", "toy-own"];

export interface ToyProblem {
  prompt: string;
  target: string;
}

export interface ToyTaskSplit {
  train: ToyProblem[];
  test: ToyProblem[];
}

/** The seed of the shipped held-out sets and their size. */
export const TOY_TEST_SET = { seed: 2509, count: 500 } as const;

/** How each task draws a problem, and the label of its random stream. */
const TASKS: Record<ToyTaskName, { stream: string; draw: (rng: SplitMix32) => ToyProblem }> = {
  "toy-reasoning": {
    stream: "toy-reasoning",
    draw: (rng) => {
      const a = nextBelow(rng, 100);
      const b = nextBelow(rng, 100);
      return { prompt: `${a}+${b}=`, target: String(a + b) };
    },
  },
  "toy-own": {
    stream: "toy-own",
    draw: (rng) => {
      const length = 3 + nextBelow(rng, 4);
      const digits = Array.from({ length }, () => String(nextBelow(rng, 10)));
      return { prompt: `rev ${digits.join("")}`, target: digits.reverse().join("") };
    },
  },
};

/**
 * testCount + trainCount distinct problems of `task`, drawn from `seed`: the first testCount drawn
 * are the test set, the rest the training set, so no prompt is in both, and the test set for a
 * seed is the same whatever trainCount is.
 */
export function toyTaskSplit(task: ToyTaskName, options: { seed: number; testCount: number; trainCount: number }): ToyTaskSplit {
  const { seed, testCount, trainCount } = options;
  const definition = TASKS[task];
  if (definition === undefined) throw new Error(`unknown toy task ${JSON.stringify(task)}; the toy tasks are ${TOY_TASK_NAMES.join(", ")}`);
  const { stream, draw } = definition;
  const rng = splitMix32(deriveSeed(seed, stream));
  const seen = new Set<string>();
  const problems: ToyProblem[] = [];
  const wanted = testCount + trainCount;
  for (let attempts = 0; problems.length < wanted; attempts++) {
    if (attempts >= 20 * wanted) throw new Error(`${task}: could not draw ${wanted} distinct problems (${problems.length} after ${attempts} draws)`);
    const problem = draw(rng);
    if (seen.has(problem.prompt)) continue;
    seen.add(problem.prompt);
    problems.push(problem);
  }
  return { test: problems.slice(0, testCount), train: problems.slice(testCount) };
}

/** Problems as a custom task set: one {"prompt": ..., "target": ...} JSON object per line. */
export function renderTaskSetJsonl(problems: readonly ToyProblem[]): string {
  return problems.map(({ prompt, target }) => `${JSON.stringify({ prompt, target })}\n`).join("");
}
