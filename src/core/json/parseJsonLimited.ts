import { oneLineMessage } from "../messages/safeText.ts";

/**
 * JSON.parse with a nesting limit. V8's parser recurses per level, so a file nested a few hundred
 * thousand levels deep fails with "Maximum call stack size exceeded" (or, later, code that walks
 * the value does); every JSON file a model holds is a few levels deep. The limit is checked by one
 * pass over the text before parsing.
 */

/** Deepest nesting accepted: tokenizer.json, the deepest file a model holds, stays under 10. */
export const MAX_JSON_DEPTH = 64;

/** Parses `text`; throws an Error whose message says what is wrong (the caller adds which file). */
export function parseJsonLimited(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > maxDepth) throw new Error(`not accepted: nested more than ${maxDepth} levels deep (at character ${i})`);
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the error, newlines and all: keep only where it is.
    const located = /^(.{1,100}?) in JSON at position (\d+)/.exec((error as Error).message);
    throw new Error(located ? `not valid JSON: ${oneLineMessage(located[1]!)} at character ${located[2]}` : "not valid JSON: unexpected text");
  }
}
