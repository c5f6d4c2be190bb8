import { GSM8K_TRAIN_SET_PATH, parseGsm8k, type Gsm8kProblem } from "../../eval/gsm8k/parseGsm8k.ts";

let trainSet: Promise<Gsm8kProblem[]> | undefined;

/** The GSM8K train split served with the app (public/data/gsm8k/), fetched once per page, when lm-eval gsm8k first runs. */
export function loadGsm8kTrainSet(): Promise<Gsm8kProblem[]> {
  trainSet ??= fetch(`${import.meta.env.BASE_URL}${GSM8K_TRAIN_SET_PATH}`).then(async (response) => {
    if (!response.ok) throw new Error(`the GSM8K train split could not be loaded (HTTP ${response.status} for ${GSM8K_TRAIN_SET_PATH})`);
    return parseGsm8k(await response.text());
  });
  trainSet.catch(() => (trainSet = undefined));
  return trainSet;
}
