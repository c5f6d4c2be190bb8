import { describe, expect, it } from "vitest";
import { checkConversions, checkEveryDtypeMix, CHECK_ALPHAS } from "../bench/device/checkMergeKernelBits.ts";
import { inThreadComputer, type ChunkComputer } from "../src/core/engine/ChunkComputer.ts";

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
});
