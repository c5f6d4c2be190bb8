import { MAX_SWEEP_ALPHAS, normalizeSweepAlphas } from "./sweepEvalModels.ts";

/** Decimal digits kept of a range's points, so that -1 + 3 * 0.1 reads 0.3 and not 0.30000000000000004. */
const RANGE_DIGITS = 12;

function finiteNumber(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new RangeError(`${what} must be a finite number, got "${text}"`);
  return value;
}

/**
 * The alphas a user types: a comma list ("-1,0,0.5,1") or a range FROM:TO:STEP ("-1:1.5:0.5":
 * FROM, FROM + STEP, ... up to TO included when it falls on a step; STEP positive, or negative
 * with FROM above TO). Negative numbers as typed; "" is the empty list. The result is sorted and
 * deduplicated (normalizeSweepAlphas); NaN, Infinity, an empty list item, a malformed range and
 * more than MAX_SWEEP_ALPHAS alphas are errors with the reason.
 */
export function parseAlphaList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  if (trimmed.includes(":")) {
    const parts = trimmed.split(":");
    if (parts.length !== 3) throw new RangeError(`a range of alphas is FROM:TO:STEP (e.g. -1:1.5:0.5), got "${text}"`);
    const [from, to, step] = [finiteNumber(parts[0]!, "the range's FROM"), finiteNumber(parts[1]!, "the range's TO"), finiteNumber(parts[2]!, "the range's STEP")];
    if (step === 0 || (to - from) * step < 0) throw new RangeError(`the range ${text} never reaches ${to} from ${from} in steps of ${step}: the step must be nonzero and go from FROM towards TO`);
    // A small tolerance lets 0:1:0.1 end at 1 despite binary fractions.
    const count = Math.floor((to - from) / step + 1e-9) + 1;
    if (count > MAX_SWEEP_ALPHAS) throw new RangeError(`the range ${text} has ${count} alphas; a sweep evaluates at most ${MAX_SWEEP_ALPHAS} (each a whole model run)`);
    return normalizeSweepAlphas(Array.from({ length: count }, (_, i) => Number((from + i * step).toPrecision(RANGE_DIGITS))));
  }
  return normalizeSweepAlphas(trimmed.split(",").map((part, index) => finiteNumber(part.trim(), `alpha ${index + 1} of "${text}"`)));
}
