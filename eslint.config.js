import js from "@eslint/js";
import globals from "globals";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "dist-cli", "node_modules", "test-results", "playwright-report", "demo-hub", ".bench", ".device"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 2023, globals: { ...globals.browser, ...globals.node } },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  // The layering of the design brief: ui -> browser -> eval -> core, cli -> eval -> core, workers -> browser/eval/core;
  // and nothing the app ships imports from the tests (e2e/, test/). Later zones replace the rule of earlier ones for
  // their files, so each zone names the test folders again.
  ...[
    { files: ["src/**", "workers/**"], layers: [] },
    { files: ["src/core/**"], layers: ["eval", "browser", "ui", "cli", "hub-server", "testmodels"] },
    { files: ["src/eval/**"], layers: ["browser", "ui", "cli"] },
    { files: ["src/browser/**"], layers: ["ui", "cli"] },
    { files: ["workers/**"], layers: ["ui", "cli"] },
  ].map(({ files, layers }) => ({
    files,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/e2e/**", "**/test/**"], message: "test code stays out of the app: src/ and workers/ import nothing from e2e/ or test/" },
            ...(layers.length > 0 ? [{ group: layers.map((layer) => `**/${layer}/**`), message: "against the layering (design brief, \"Layout to aim for\")" }] : []),
          ],
        },
      ],
    },
  })),
);
