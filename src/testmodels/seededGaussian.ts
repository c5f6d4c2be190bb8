/**
 * Seeded pseudo-random normal numbers for generated test models. Math.random cannot be seeded, and
 * the models must be reproducible byte for byte: the same seeds give the same files on every run
 * and machine, and plus, minus and target share one initialisation.
 */

/** murmur3's 32-bit finaliser: a bijective mix of all 32 bits. */
function fmix32(value: number): number {
  let z = value;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit seed for one stream, from a uint32 seed and a label (e.g. a tensor name), with FNV-1a over the label. */
export function deriveSeed(seed: number, label: string): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`seed ${seed} must be an integer in [0, 2^32)`);
  let hash = fmix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193);
  return fmix32(hash);
}

/** splitmix32: a Weyl sequence through fmix32. One draw gives two 16-bit halves. */
export interface SplitMix32 {
  state: number;
}

export function splitMix32(seed: number): SplitMix32 {
  return { state: seed | 0 };
}

/** 2^16 evenly spaced quantiles of the standard normal: a 16-bit uniform indexes one normal sample. */
const NORMAL_QUANTILES: Float64Array = (() => {
  const count = 2 ** 16;
  const table = new Float64Array(count);
  const density = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  // Integrate the density (trapezoid rule on a fine grid) and invert the running CDF linearly.
  const step = 2 ** -10;
  let x = -8;
  let cdf = 0;
  let index = 0;
  while (index < count && x < 8) {
    const next = cdf + (step * (density(x) + density(x + step))) / 2;
    while (index < count && (index + 0.5) / count <= next) {
      table[index] = x + (step * ((index + 0.5) / count - cdf)) / (next - cdf);
      index++;
    }
    cdf = next;
    x += step;
  }
  return table;
})();

/** Adds std * N(0, 1) to out[0 .. count), drawing from `rng` (two samples per draw). */
export function addGaussian(out: Float32Array, count: number, rng: SplitMix32, std: number): void {
  const quantiles = NORMAL_QUANTILES;
  let state = rng.state;
  for (let i = 0; i < count; i += 2) {
    state = (state + 0x9e3779b9) | 0;
    const z = fmix32(state);
    out[i] = out[i]! + std * quantiles[z & 0xffff]!;
    if (i + 1 < count) out[i + 1] = out[i + 1]! + std * quantiles[z >>> 16]!;
  }
  rng.state = state;
}

/** The next draw of `rng` as an unsigned 32-bit integer (the same stream addGaussian draws from). */
function nextUint32(rng: SplitMix32): number {
  rng.state = (rng.state + 0x9e3779b9) | 0;
  return fmix32(rng.state);
}

/** A uniform number in [0, 1) with 32 random bits. */
export function nextUniform(rng: SplitMix32): number {
  return nextUint32(rng) / 2 ** 32;
}

/** A uniform integer in [0, count), count at most 2^32 (by multiply-shift: bias below 2^-32 * count). */
export function nextBelow(rng: SplitMix32, count: number): number {
  if (!Number.isInteger(count) || count <= 0 || count > 2 ** 32) throw new RangeError(`nextBelow: count ${count} must be an integer in [1, 2^32]`);
  return Math.floor(nextUniform(rng) * count);
}
