import { expect, test, type Page } from "@playwright/test";
import {
  dareCases,
  dtypeMixCases,
  everyMethodCases,
  farElementCases,
  NORMALIZE_WEIGHT_SETS,
  nineTermCases,
  normalizeCases,
  randomChunkCases,
} from "./recipeKernelCases.ts";
import { openBundledPage, type BundledPage } from "./openBundledPage.ts";
import type { RecipeKernelCase, RecipeKernelReport } from "./webgpu-recipe-kernel-page.ts";

/**
 * The WebGPU recipe kernel (createWebGpuRecipeKernel) against mergeRecipeChunk, the JavaScript
 * reference, byte for byte, in headless Chromium on SwiftShader. The page (webgpu-recipe-kernel-page.ts)
 * is bundled by openBundledPage and served by route under PREFIX, apart from the app; one page
 * serves every test. The cases (inputs, recipes, magnitude statistics) come from recipeKernelCases.ts.
 */
const PREFIX = "/__webgpu-recipe-kernel/";

let opened: BundledPage;
let page: Page;

test.describe.configure({ mode: "serial", timeout: 60_000 });

test.beforeAll(async ({ browser }) => {
  opened = await openBundledPage(browser, "e2e/webgpu-recipe-kernel-page.ts", PREFIX, "__webGpuRecipeKernel");
  page = opened.page;
});

test.afterAll(async () => {
  await opened?.close();
});

async function compare(cases: RecipeKernelCase[], maxElementsPerDispatch?: number): Promise<RecipeKernelReport> {
  return page.evaluate(({ cases, maxElementsPerDispatch }) => window.__webGpuRecipeKernel.compare(cases, maxElementsPerDispatch), { cases, maxElementsPerDispatch });
}

test("every method with 1 to 3 terms equals mergeRecipeChunk: NaN, -0, Inf, subnormals, equal magnitudes, density 1 / 0.5 / tiny, gamma edges, the control, normalize on and off", async () => {
  const cases = await everyMethodCases();
  const report = await compare(cases);
  console.log(`WebGPU adapter: ${report.adapter}; ${report.compared} recipe cases compared`);
  expect(report.compared).toBe(6 * 3 * 3 * 4);
  expect(report.mismatches).toEqual([]);
});

test("DARE with fixed seeds, with and without rescale: the keep bound at the element whose draw equals fl32(rho) exactly", async () => {
  const cases = await dareCases();
  const report = await compare(cases);
  expect(report.compared).toBe(3 * 7 * 4);
  expect(report.mismatches).toEqual([]);
});

test("nine terms, every method, in one dispatch and split at odd element boundaries", async () => {
  const cases = await nineTermCases();
  const whole = await compare(cases);
  expect(whole.mismatches).toEqual([]);
  // 255 elements per dispatch: pieces start at odd elements, in the middle of packed 16-bit words.
  const split = await compare(cases, 255);
  expect(split.compared).toBe(12);
  expect(split.mismatches).toEqual([]);
});

test("element indices at and above 2^32: the hash's high word, and magnitude cuts whose last tie lies past 2^32", async () => {
  const cases = await farElementCases();
  const report = await compare(cases);
  expect(report.compared).toBe(15);
  expect(report.mismatches).toEqual([]);
});

test("normalize: D = 0, divisions that round, subnormal quotients and overflow", async () => {
  const cases = await normalizeCases();
  const report = await compare(cases);
  expect(report.compared).toBe(NORMALIZE_WEIGHT_SETS.length * 4 * 2);
  expect(report.mismatches).toEqual([]);
});

test("every mix of input and output dtypes, and a tensor with no term left", async () => {
  const cases = await dtypeMixCases();
  const report = await compare(cases);
  expect(report.compared).toBe(81 + 9);
  expect(report.mismatches).toEqual([]);
});

test("random chunks of 1e5 elements, every method", async () => {
  const cases = await randomChunkCases();
  const report = await compare(cases);
  expect(report.compared).toBe(6);
  expect(report.mismatches).toEqual([]);
});
