import { listModels } from "@huggingface/hub";
import type { Role } from "./recipeLink.ts";

const CANDIDATES_PER_ROLE = 50;

/** The paper's pattern: an Instruct target, a GRPO model as plus, the SFT model it started from as minus. */
const ROLE_KEYWORDS: Record<Role, string> = { target: "Instruct", plus: "GRPO", minus: "SFT" };

/**
 * Searches the Hub for each keyword and returns the trio whose names share the longest prefix
 * (the same family and size, e.g. Qwen2.5-1.5B-…), the most downloaded among equals.
 */
export async function findPaperTrio(hubUrl: string, accessToken: string | undefined): Promise<Record<Role, string>> {
  const search = async (role: Role) => {
    const found: { name: string; downloads: number }[] = [];
    const entries = listModels({
      search: { query: ROLE_KEYWORDS[role] },
      hubUrl,
      limit: CANDIDATES_PER_ROLE,
      sort: "downloads",
      ...(accessToken ? { accessToken } : {}),
    });
    for await (const entry of entries) found.push({ name: entry.name, downloads: entry.downloads });
    if (found.length === 0) throw new Error(`No model with “${ROLE_KEYWORDS[role]}” in its name on ${hubUrl}.`);
    return found;
  };
  let targets, pluses, minuses;
  try {
    [targets, pluses, minuses] = await Promise.all([search("target"), search("plus"), search("minus")]);
  } catch (error) {
    if (error instanceof TypeError) throw new Error(`Could not reach the Hub at ${hubUrl} (${error.message}).`);
    throw error;
  }
  let best: { trio: Record<Role, string>; shared: number; downloads: number } | undefined;
  for (const plus of pluses) {
    for (const target of targets) {
      for (const minus of minuses) {
        const shared = Math.min(sharedPrefix(plus.name, target.name), sharedPrefix(plus.name, minus.name));
        const downloads = plus.downloads + target.downloads + minus.downloads;
        if (!best || shared > best.shared || (shared === best.shared && downloads > best.downloads)) {
          best = { trio: { target: target.name, plus: plus.name, minus: minus.name }, shared, downloads };
        }
      }
    }
  }
  return best!.trio;
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i]!.toLowerCase() === b[i]!.toLowerCase()) i++;
  return i;
}
