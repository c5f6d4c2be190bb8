import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

/**
 * The import rules of eslint.config.js, on code linted as if it lay at a given path: the layering of
 * the design brief, and no test code (e2e/, test/) in what the app ships (src/, workers/).
 */
const eslint = new ESLint();

async function importErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((message) => message.ruleId === "no-restricted-imports").map((message) => message.message);
}

const TEST_CODE = /test code stays out of the app/;
const LAYERING = /against the layering/;

describe("eslint.config.js import rules", () => {
  it("refuses imports of e2e/ and test/ anywhere in src/ and workers/", async () => {
    const cases: [string, string][] = [
      ["src/core/engine/x.ts", 'import { STUDIO_PORT } from "../../../e2e/ports.ts";\nexport const x = STUDIO_PORT;\n'],
      ["src/ui/merge/x.ts", 'import { helper } from "../../../test/helpers/helper.ts";\nexport const x = helper;\n'],
      ["src/main.tsx", 'import "../e2e/merge-api-page.ts";\n'],
      ["workers/x.ts", 'import { STUDIO_PORT } from "../e2e/ports.ts";\nexport const x = STUDIO_PORT;\n'],
    ];
    for (const [filePath, code] of cases) {
      const errors = await importErrors(filePath, code);
      expect(errors, filePath).toHaveLength(1);
      expect(errors[0], filePath).toMatch(TEST_CODE);
    }
  });

  it("keeps the layering zones beside the test-code rule", async () => {
    expect(await importErrors("src/core/x.ts", 'import { App } from "../ui/App.tsx";\nexport const x = App;\n')).toEqual([expect.stringMatching(LAYERING)]);
    expect(await importErrors("workers/x.ts", 'import { App } from "../src/ui/App.tsx";\nexport const x = App;\n')).toEqual([expect.stringMatching(LAYERING)]);
    expect(await importErrors("src/eval/x.ts", 'import { STUDIO_PORT } from "../../e2e/ports.ts";\nimport { App } from "../ui/App.tsx";\nexport const x = [STUDIO_PORT, App];\n')).toEqual([
      expect.stringMatching(TEST_CODE),
      expect.stringMatching(LAYERING),
    ]);
  });

  it("lets the tests, the test pages and the benchmarks import what they need", async () => {
    expect(await importErrors("e2e/x.spec.ts", 'import { helper } from "../test/helpers/helper.ts";\nimport { App } from "../src/ui/App.tsx";\nexport const x = [helper, App];\n')).toEqual([]);
    expect(await importErrors("bench/x.ts", 'import { serveMergeApiPage } from "../e2e/mergeApiPage.ts";\nexport const x = serveMergeApiPage;\n')).toEqual([]);
    expect(await importErrors("src/ui/x.ts", 'import { parseHubSpec } from "../core/sources/parseHubSpec.ts";\nexport const x = parseHubSpec;\n')).toEqual([]);
  });
});
