/**
 * 8-bit per-channel quantisation of a linear layer's weight for ONNX MatMulInteger (int8 B, no
 * zero point), which multiplies A [.., K] by B [K, N]:
 *
 * - the weight is W [N, K] (transformers' [out_features, in_features]); each output channel (row
 *   of W) has its own scale: scale = fl32(max |w| / 127), code = round(w / scale) (halves away from
 *   zero), in -127..127, so zero is exact and the codes are symmetric;
 * - B is written transposed, int8 [K, N] (code of W[n, k] at B[k, n]); scales float32 [N];
 * - dequant(W)[n, k] = code * scale[n].
 *
 * MatMulInteger cannot scale by block (scales apply to its int32 result, one per column), hence per
 * channel; 8-bit MatMulNBits, which can, decodes about 25x slower on onnxruntime-web's wasm build
 * (measured, see buildQwen2Onnx's q8 format). A row of zeros gets scale 0 and codes 0.
 */
export const Q8_MAX_CODE = 127;

/** Edge of the square tiles written at a time, so reads and writes both stay in cache. */
const TILE = 64;

/**
 * Quantises W [rows, columns] (row-major float32) into `out`: codes int8 [columns, outRows]
 * (transposed) at columns rowOffset.. of each row, scales at rowOffset..; so fused weights (q, k
 * and v) are written one source tensor at a time.
 */
export function quantizeInt8PerChannel(
  weight: Float32Array,
  rows: number,
  columns: number,
  out: { codes: Int8Array; scales: Float32Array; outRows: number },
  rowOffset = 0,
): void {
  const inverses = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    let largest = 0;
    for (let i = row * columns; i < (row + 1) * columns; i++) largest = Math.max(largest, Math.abs(weight[i]!));
    const scale = Math.fround(largest / Q8_MAX_CODE);
    out.scales[rowOffset + row] = scale;
    inverses[row] = scale === 0 ? 0 : 1 / scale;
  }
  const { codes, outRows } = out;
  for (let rowTile = 0; rowTile < rows; rowTile += TILE) {
    const rowEnd = Math.min(rows, rowTile + TILE);
    for (let columnTile = 0; columnTile < columns; columnTile += TILE) {
      const columnEnd = Math.min(columns, columnTile + TILE);
      for (let row = rowTile; row < rowEnd; row++) {
        const inverse = inverses[row]!;
        for (let column = columnTile; column < columnEnd; column++) {
          const scaled = weight[row * columns + column]! * inverse;
          // Rounding can pass 127 by a hair (w / fl32(max / 127)); clamp.
          const code = Math.round(Math.abs(scaled));
          codes[column * outRows + rowOffset + row] = Math.sign(scaled) * Math.min(Q8_MAX_CODE, code);
        }
      }
    }
  }
}
