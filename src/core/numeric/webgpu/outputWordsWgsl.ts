/**
 * What the merge kernels share beyond float arithmetic: the invocation index of a dispatch laid out
 * in two dimensions, and the store of an invocation's two output elements into packed words. Each
 * kernel declares `WORKGROUP_SIZE`, `params` with `count` and `out_dtype`, and `out_words`.
 */
export const OUTPUT_WORDS_WGSL = /* wgsl */ `
fn invocation_index(id: vec3<u32>, groups: vec3<u32>) -> u32 {
  return id.x + id.y * groups.x * WORKGROUP_SIZE;
}

// Elements 2w and 2w + 1: two words of F32 (the second only inside count), or one word of two halves.
fn store(w: u32, first: u32, second: u32) {
  if (params.out_dtype == F32) {
    out_words[2u * w] = first;
    if (2u * w + 1u < params.count) {
      out_words[2u * w + 1u] = second;
    }
  } else {
    out_words[w] = first | (second << 16u);
  }
}
`;
