/**
 * 4-bit block quantisation of a linear layer's weight in the layout of onnxruntime's
 * com.microsoft MatMulNBits (bits = 4), which computes Y = A x dequant(B)^T:
 *
 * - the weight is W [N, K] (transformers' [out_features, in_features]), quantised along K in blocks
 *   of Q4_BLOCK_SIZE; the last block of a row is padded when K is not a multiple of it;
 * - B: uint8 [N, blocks, Q4_BLOCK_SIZE / 2], two codes per byte, element 2j in the low nibble;
 * - scales: float32 [N * blocks]; zero_points: uint8 [N * ceil(blocks / 2)], two per byte, low first;
 * - dequant(B)[n, k] = (code - zero_point) * scale.
 *
 * Scheme: asymmetric min/max per block with zero inside the range, so every code 0..15 is used and
 * zero is exact: lo = min(0, min w), hi = max(0, max w), scale = fl32((hi - lo) / 15),
 * zero_point = round(-lo / scale), code = clamp(round(w / scale) + zero_point, 0, 15). Padding
 * codes equal the zero point (they dequantise to 0). Written here because no JavaScript package
 * produces this layout.
 */
export const Q4_BLOCK_SIZE = 32;

/** Byte sizes of the three tensors for a [rows, columns] weight. */
export function matMulNBitsSizes(rows: number, columns: number): { blocksPerRow: number; codeBytes: number; scaleCount: number; zeroPointBytes: number } {
  const blocksPerRow = Math.ceil(columns / Q4_BLOCK_SIZE);
  return {
    blocksPerRow,
    codeBytes: rows * blocksPerRow * (Q4_BLOCK_SIZE / 2),
    scaleCount: rows * blocksPerRow,
    zeroPointBytes: rows * Math.ceil(blocksPerRow / 2),
  };
}

/**
 * Quantises W [rows, columns] (row-major float32) into the given outputs (sized by matMulNBitsSizes);
 * `rowOffset` places these rows after others already written, so fused weights (q, k and v) are
 * written one source tensor at a time.
 */
export function quantizeMatMulNBits(
  weight: Float32Array,
  rows: number,
  columns: number,
  out: { codes: Uint8Array; scales: Float32Array; zeroPoints: Uint8Array },
  rowOffset = 0,
): void {
  const { blocksPerRow } = matMulNBitsSizes(rows, columns);
  const halfBlock = Q4_BLOCK_SIZE / 2;
  const zeroPointBytesPerRow = Math.ceil(blocksPerRow / 2);
  const { codes, scales, zeroPoints } = out;
  for (let row = 0; row < rows; row++) {
    const outRow = rowOffset + row;
    for (let block = 0; block < blocksPerRow; block++) {
      const start = row * columns + block * Q4_BLOCK_SIZE;
      const end = row * columns + Math.min(columns, (block + 1) * Q4_BLOCK_SIZE);
      let lo = 0;
      let hi = 0;
      for (let i = start; i < end; i++) {
        const value = weight[i]!;
        if (value < lo) lo = value;
        if (value > hi) hi = value;
      }
      const scale = Math.fround((hi - lo) / 15);
      const zeroPoint = scale === 0 ? 0 : Math.min(15, Math.max(0, Math.round(-lo / scale)));
      // code = clamp(round(w / scale) + zeroPoint): adding zeroPoint + 0.5 and truncating rounds to nearest
      // (halves up) for every value that is not clamped to 0 anyway.
      const inverse = scale === 0 ? 0 : 1 / scale;
      const offset = zeroPoint + 0.5;
      const blockIndex = outRow * blocksPerRow + block;
      scales[blockIndex] = scale;
      const zeroPointByte = outRow * zeroPointBytesPerRow + (block >> 1);
      zeroPoints[zeroPointByte] = (block & 1) === 0 ? zeroPoint : zeroPoints[zeroPointByte]! | (zeroPoint << 4);
      const codeBase = blockIndex * halfBlock;
      for (let pair = 0; pair < halfBlock; pair++) {
        const first = start + 2 * pair;
        let low = first < end ? Math.trunc(weight[first]! * inverse + offset) : zeroPoint;
        let high = first + 1 < end ? Math.trunc(weight[first + 1]! * inverse + offset) : zeroPoint;
        low = low < 0 ? 0 : low > 15 ? 15 : low;
        high = high < 0 ? 0 : high > 15 ? 15 : high;
        codes[codeBase + pair] = low | (high << 4);
      }
    }
  }
}
