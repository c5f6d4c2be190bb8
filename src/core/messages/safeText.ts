/**
 * Text from model files (tensor names, file names, JSON values) goes into error messages that a
 * terminal or a page shows. These helpers keep such text on one line and short, and make control
 * characters visible, so a hostile name can neither forge a second message line nor move the
 * cursor (ANSI/OSC escapes) nor bury the message under megabytes.
 */

/** Longest name shown whole; longer names are cut with an ellipsis and their length. */
export const MAX_NAME_CHARS = 120;
/** Longest message printed; past this it is cut with an ellipsis. */
export const MAX_MESSAGE_CHARS = 2000;

/** A high surrogate without its low half, or a low one without its high half. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** C0 and C1 controls, DEL, line/paragraph separators, bidirectional overrides and isolates, lone surrogates. */
const UNSAFE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]|${LONE_SURROGATE.source}`, "g");
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE, (char) => {
    const short = SHORT_ESCAPES[char];
    if (short) return short;
    const code = char.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** The first `max` UTF-16 units of `text`, not splitting a surrogate pair. */
function cut(text: string, max: number): string {
  const end = /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return text.slice(0, end);
}

/** A name from a file, quoted for a message: `"model.embed\ntokens"` → `"model.embed\\ntokens"`. */
export function quoteName(name: string, maxChars = MAX_NAME_CHARS): string {
  const shown = name.length > maxChars ? `${cut(name, maxChars)}…` : name;
  const escaped = escapeUnsafe(shown.replace(/\\/g, "\\\\").replace(/"/g, '\\"'));
  return name.length > maxChars ? `"${escaped}" (${name.length} characters)` : `"${escaped}"`;
}

/** A whole message as one printable line of at most MAX_MESSAGE_CHARS characters (before escaping). */
export function oneLineMessage(message: string, maxChars = MAX_MESSAGE_CHARS): string {
  return escapeUnsafe(message.length > maxChars ? `${cut(message, maxChars)}…` : message);
}

/** A JSON value read from a file, shown in a message: numbers and strings as JSON, anything else by kind and short. */
export function describeJsonValue(value: unknown): string {
  if (value === undefined) return "(absent)";
  if (typeof value === "string") return quoteName(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return "an object";
}

/** Whether `text` is well-formed Unicode (no lone surrogates), as a name in a file written by other tools must be. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
