import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./format.ts";

type CommandOptions = NonNullable<ParseArgsConfig["options"]>;
type ParsedValues<T extends CommandOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>["values"];

/** What a negative number looks like on a command line: "-1", "-0.5", "-.5", "-1e-3". */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * node:util's parseArgs (strict, no positionals), except that the value of a string option may be a
 * negative number as users type it: `--alpha -1`. (parseArgs alone takes an argument starting with
 * "-" for an option and refuses `--alpha -1` as "ambiguous".) A string option followed by another
 * option, or by nothing, is a missing value, and says so.
 */
export function parseCommandArgs<T extends CommandOptions>({ args, options }: { args: readonly string[]; options: T }): { values: ParsedValues<T> } {
  const normalized: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (name === undefined || options[name]?.type !== "string") {
      normalized.push(arg);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (value.startsWith("-") && !NEGATIVE_NUMBER.test(value)) throw new UsageError(`--${name} needs a value, but is followed by the option ${value}`);
    normalized.push(`${arg}=${value}`);
    i++;
  }
  return { values: parseArgs({ args: normalized, options, strict: true, allowPositionals: false }).values };
}

/** A finite number given as the value of `flag`, or a UsageError that quotes what was given. */
export function parseFiniteNumber(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`${flag} must be a finite number, got "${text}"`);
  return value;
}
