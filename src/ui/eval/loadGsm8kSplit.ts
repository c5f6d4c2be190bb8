import { GSM8K_TEST_SET_PATH, GSM8K_TRAIN_SET_PATH, parseGsm8k, type Gsm8kProblem } from "../../eval/gsm8k/parseGsm8k.ts";

const PATHS = { test: GSM8K_TEST_SET_PATH, train: GSM8K_TRAIN_SET_PATH } as const;
const loaded = new Map<keyof typeof PATHS, Promise<Gsm8kProblem[]>>();

/**
 * A GSM8K split served with the app (public/data/gsm8k/), fetched once per page: the test set for
 * every run, the train split only when lm-eval's gsm8k (whose examples come from it) first runs.
 * A failed fetch is forgotten, so the next run tries again.
 */
export function loadGsm8kSplit(split: keyof typeof PATHS): Promise<Gsm8kProblem[]> {
  let problems = loaded.get(split);
  if (!problems) {
    const path = PATHS[split];
    problems = fetch(`${import.meta.env.BASE_URL}${path}`).then(async (response) => {
      if (!response.ok) throw new Error(`the GSM8K ${split} split could not be loaded (HTTP ${response.status} for ${path})`);
      return parseGsm8k(await response.text());
    });
    problems.catch(() => loaded.delete(split));
    loaded.set(split, problems);
  }
  return problems;
}
