/**
 * Numbers in free text, as GSM8K answers and model outputs write them, turned into one canonical
 * decimal form so that two spellings of the same number compare equal as strings:
 * "$1,250.50" -> "1250.5", "18.00" -> "18", "-$5" -> "-5", "50%" -> "50", "0.750" -> "0.75".
 *
 * What counts as a number: an optional minus sign (hyphen or U+2212) and an optional "$" ("\$" in
 * LaTeX), then digits, either plain ("12345") or grouped by commas in threes ("12,345"; LaTeX's
 * "1{,}000" and "1\,000" too), then an optional decimal part; a bare ".5" reads as 0.5. A number
 * is not read where it follows a letter, digit, underscore, "." or a closing bracket, so "10-5"
 * reads as 10 and 5 (a minus after a digit is subtraction), "x-5" as 5 and "v1.2" as nothing.
 * Whatever follows the digits (units, "%", words) is ignored. Exponents ("1e6") and fractions
 * ("3/4", "\frac{3}{4}") are not evaluated: their parts read as separate numbers.
 */

/** A number as it appears in text, and its canonical decimal form. */
export interface FoundNumber {
  /** The characters matched, from the sign or "$" to the last digit, LaTeX separators and "\$" written plainly: "-$1,250.50". */
  text: string;
  /** Canonical decimal: no "+", no leading zeros, no trailing fractional zeros, "0" never negative. */
  value: string;
}

const NUMBER_SOURCE = String.raw`(?<![\w.)\]}])([-\u2212])?\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)`;
const NUMBER_ANYWHERE = new RegExp(NUMBER_SOURCE, "gu");
const NUMBER_ONLY = new RegExp(`^${NUMBER_SOURCE}$`, "u");

/** LaTeX spellings of a thousands separator between digits: "1{,}000", "1\,000", "1\!000". */
const LATEX_DIGIT_SEPARATOR = /(\d)(?:\{,\}|\\[,!] ?)(?=\d{3}(?!\d))/g;

function withoutLatexEscapes(text: string): string {
  return text.replace(LATEX_DIGIT_SEPARATOR, "$1,").replace(/\\\$/g, "$");
}

/** Every number in `text`, in order of appearance. */
export function findNumbers(text: string): FoundNumber[] {
  return [...withoutLatexEscapes(text).matchAll(NUMBER_ANYWHERE)].map((match) => ({
    text: match[0],
    value: canonicalDecimal(match[1] !== undefined, match[2]!),
  }));
}

/** The canonical decimal form of `text` when all of it (trimmed) is one number, else null: "2,125" -> "2125". */
export function parseDecimal(text: string): string | null {
  const match = NUMBER_ONLY.exec(withoutLatexEscapes(text.trim()));
  return match ? canonicalDecimal(match[1] !== undefined, match[2]!) : null;
}

function canonicalDecimal(negative: boolean, digits: string): string {
  const [integerPart = "", fractionPart = ""] = digits.replace(/,/g, "").split(".");
  const integer = integerPart.replace(/^0+/, "") || "0";
  const fraction = fractionPart.replace(/0+$/, "");
  const magnitude = fraction === "" ? integer : `${integer}.${fraction}`;
  return negative && magnitude !== "0" ? `-${magnitude}` : magnitude;
}
