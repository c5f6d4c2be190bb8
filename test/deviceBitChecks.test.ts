import { describe, expect, it } from "vitest";
import { checkConversions, checkEveryDtypeMix, CHECK_ALPHAS } from "../bench/device/checkMergeKernelBits.ts";
import { checkRecipeKernelBits, type RecipeBitCheck } from "../bench/device/checkRecipeKernel.ts";
import { inThreadComputer, type ChunkComputer } from "../src/core/engine/ChunkComputer.ts";
import { createWasmRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";

/** A computer that returns the WebAssembly kernel's bytes with the lowest bit of element `element` flipped. */
function corruptingComputer(element: number): ChunkComputer {
  return {
    async compute(task) {
      const bytes = await inThreadComputer.compute(task);
      const width = task.outDtype === "F32" ? 4 : 2;
      if (bytes.byteLength > element * width) bytes[element * width]! ^= 1;
      return bytes;
    },
  };
}

describe("the device harness's bit checks", () => {
  it("pass a computer that equals the reference: the WebAssembly kernel, every dtype mix and alpha", async () => {
    const group = await checkEveryDtypeMix(inThreadComputer, 37);
    expect(group.cases).toBe(27 * 3 * CHECK_ALPHAS.length);
    expect(group.elements).toBe(group.cases * 37);
    expect(group.mismatchedElements).toBe(0);
    expect(group.mismatches).toEqual([]);
  });

  it("count every differing element and name the first of each case", async () => {
    const group = await checkEveryDtypeMix(corruptingComputer(5), 37);
    expect(group.mismatchedElements).toBe(group.cases);
    expect(group.mismatches).toHaveLength(20);
    expect(group.mismatches[0]).toMatch(/^BF16 \+ 0 \* \(BF16 - BF16\) -> BF16: element 5 of \(0x[0-9a-f]{4}, 0x[0-9a-f]{4}, 0x[0-9a-f]{4}\) gave 0x[0-9a-f]{4}, expected 0x[0-9a-f]{4} \(1 elements differ\)$/);
  });

  it("check conversions of every 16-bit pattern, and catch a wrong one", async () => {
    expect(await checkConversions(inThreadComputer, 1000)).toMatchObject({ cases: 9, elements: 6 * 65536 + 3 * 1000, mismatchedElements: 0 });
    const corrupted = await checkConversions(corruptingComputer(65535), 1000);
    expect(corrupted.mismatchedElements).toBe(6);
    expect(corrupted.mismatches[0]).toMatch(/^convert BF16 -> BF16: element 65535 of 0xffff gave/);
  });

  it("pass the recipe kernel's cases through a kernel that equals mergeRecipeChunk (the wasm one), and name a case it gets wrong", async () => {
    const wasm = createWasmRecipeKernel();
    const exact = { mergeRecipeChunk: async (...args: Parameters<typeof wasm.mergeRecipeChunk>) => wasm.mergeRecipeChunk(...args) };
    const reported: RecipeBitCheck[] = [];
    const checks = await checkRecipeKernelBits(exact, exact, (check) => reported.push(check));
    expect(reported).toEqual(checks);
    expect(checks.map((check) => check.name)).toContain("nineTermCases (and split in dispatches of 255)");
    expect(checks.every((check) => check.cases > 0 && check.mismatchedCases === 0)).toBe(true);

    // Only the split kernel wrong, in the last byte of a chunk: the nine-term group alone fails, each of its cases named.
    const lastByteFlipped = {
      mergeRecipeChunk: async (...args: Parameters<typeof wasm.mergeRecipeChunk>) => {
        const bytes = wasm.mergeRecipeChunk(...args);
        bytes[bytes.length - 1]! ^= 1;
        return bytes;
      },
    };
    const failed = await checkRecipeKernelBits(exact, lastByteFlipped, () => undefined);
    const nineTerms = failed.find((check) => check.name.startsWith("nineTermCases"))!;
    expect(nineTerms.mismatchedCases).toBe(nineTerms.cases / 2);
    expect(nineTerms.mismatches[0]).toMatch(/: first differing byte \d+$/);
    expect(failed.filter((check) => check !== nineTerms).every((check) => check.mismatchedCases === 0)).toBe(true);
  });
});
