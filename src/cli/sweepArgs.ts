import type { EvalControl } from "../eval/report/EvalReport.ts";
import { parseAlphaList } from "../eval/sweep/parseAlphaList.ts";
import { UsageError } from "./format.ts";
import { parseFiniteNumber } from "./parseCommandArgs.ts";

/** The options of an alpha sweep and its controls (merge-studio eval). */
export const SWEEP_ARG_OPTIONS = {
  alphas: { type: "string" },
  control: { type: "string" },
  "control-alpha": { type: "string" },
  "control-seed": { type: "string" },
} as const;

const CONTROLS: readonly EvalControl[] = ["reversed", "random-sign"];

export interface SweepArgs {
  /** --alphas as evaluated (sorted, each once; maybe empty); undefined without --alphas. */
  alphas: number[] | undefined;
  controls: EvalControl[];
  /** --control-alpha; undefined: the caller's default (the sweep's largest alpha, or 1). */
  controlAlpha: number | undefined;
  controlSeed: number;
}

type SweepValues = { [K in keyof typeof SWEEP_ARG_OPTIONS]?: string } & { model?: string; alpha?: string };

/**
 * Reads --alphas LIST (a comma list or FROM:TO:STEP, see parseAlphaList), --control
 * reversed|random-sign (a comma list), --control-alpha A and --control-seed N (default 0). A sweep
 * or a control needs a recipe (not --model); --alphas replaces --alpha; the control options need
 * --control (the seed: random-sign). Every mistake is a UsageError of one line.
 */
export function parseSweepArgs(values: SweepValues): SweepArgs {
  if (values.alphas !== undefined) {
    if (values.model !== undefined) throw new UsageError("--alphas sweeps a recipe's alpha: give --config or --target/--plus/--minus, not --model");
    if (values.alpha !== undefined) throw new UsageError("--alphas and --alpha both choose alpha: give one of them (--alphas 0.5 is a sweep of one)");
  }
  let alphas: number[] | undefined;
  try {
    alphas = values.alphas === undefined ? undefined : parseAlphaList(values.alphas);
  } catch (error) {
    throw new UsageError(`--alphas: ${(error as Error).message}`);
  }
  const controls = values.control === undefined ? [] : values.control.split(",").map((part) => part.trim());
  const unknown = controls.find((control) => !(CONTROLS as readonly string[]).includes(control));
  if (unknown !== undefined) throw new UsageError(`--control takes ${CONTROLS.join(", ")} (a comma list), not "${unknown}"`);
  if (new Set(controls).size !== controls.length) throw new UsageError(`--control names each control once, got "${values.control}"`);
  if (controls.length > 0 && values.model !== undefined) throw new UsageError("--control is made from a recipe: give --config or --target/--plus/--minus, not --model");
  if (values["control-alpha"] !== undefined && controls.length === 0) throw new UsageError("--control-alpha sets the controls' alpha: give --control too");
  if (values["control-seed"] !== undefined && !controls.includes("random-sign")) throw new UsageError("--control-seed is the random-sign control's seed: give --control random-sign too");
  const seedText = values["control-seed"] ?? "0";
  if (!/^\d+$/.test(seedText.trim()) || Number(seedText) > 0xffffffff) throw new UsageError(`--control-seed must be an integer from 0 to 4294967295, got "${seedText}"`);
  return {
    alphas,
    controls: controls as EvalControl[],
    controlAlpha: values["control-alpha"] === undefined ? undefined : parseFiniteNumber(values["control-alpha"], "--control-alpha"),
    controlSeed: Number(seedText),
  };
}
