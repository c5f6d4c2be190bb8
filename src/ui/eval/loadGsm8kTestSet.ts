import { GSM8K_TEST_SET_PATH, parseGsm8k, type Gsm8kProblem } from "../../eval/gsm8k/parseGsm8k.ts";

let testSet: Promise<Gsm8kProblem[]> | undefined;

/** The GSM8K test set served with the app (public/data/gsm8k/), fetched once per page. */
export function loadGsm8kTestSet(): Promise<Gsm8kProblem[]> {
  testSet ??= fetch(`${import.meta.env.BASE_URL}${GSM8K_TEST_SET_PATH}`).then(async (response) => {
    if (!response.ok) throw new Error(`the GSM8K test set could not be loaded (HTTP ${response.status} for ${GSM8K_TEST_SET_PATH})`);
    return parseGsm8k(await response.text());
  });
  testSet.catch(() => (testSet = undefined));
  return testSet;
}
