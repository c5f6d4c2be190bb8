/**
 * CPython's `random.Random(seed).sample(population, k)`, call after call from one generator, as
 * lm-evaluation-harness draws few-shot examples with its default sampler. The generator is MT19937
 * seeded as CPython seeds it from a non-negative integer (init_by_array over the integer's 32-bit
 * words, least significant first); `sample` follows CPython 3.11+ (Lib/random.py): for
 * small populations a partial shuffle of a copy, otherwise repeated `_randbelow(n)` draws that
 * skip indices already chosen; `_randbelow(n)` takes `n.bit_length()` bits of the next 32-bit
 * output and retries while the result is not below n.
 */
export class PythonRandom {
  private readonly state = new Uint32Array(624);
  private position = 624;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`the seed ${seed} must be a non-negative safe integer`);
    const key: number[] = [];
    for (let rest = seed; rest > 0; rest = Math.floor(rest / 2 ** 32)) key.push(rest % 2 ** 32);
    this.initByArray(key.length > 0 ? key : [0]);
  }

  /** `sample(population, k)`: k distinct elements in the order drawn. */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`cannot sample ${k} of ${n} elements`);
    const setSize = 21 + (k > 5 ? 4 ** Math.ceil(Math.log(k * 3) / Math.log(4)) : 0);
    const result: T[] = [];
    if (n <= setSize) {
      const pool = [...population];
      for (let i = 0; i < k; i++) {
        const j = this.randBelow(n - i);
        result.push(pool[j]!);
        pool[j] = pool[n - i - 1]!;
      }
      return result;
    }
    const selected = new Set<number>();
    for (let i = 0; i < k; i++) {
      let j = this.randBelow(n);
      while (selected.has(j)) j = this.randBelow(n);
      selected.add(j);
      result.push(population[j]!);
    }
    return result;
  }

  /** The next 32-bit output of MT19937 (CPython's genrand_uint32). */
  nextUint32(): number {
    if (this.position >= 624) this.twist();
    let y = this.state[this.position++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private randBelow(n: number): number {
    const bits = 32 - Math.clz32(n);
    let r = this.nextUint32() >>> (32 - bits);
    while (r >= n) r = this.nextUint32() >>> (32 - bits);
    return r;
  }

  private initByLinear(seed: number): void {
    const mt = this.state;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const previous = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = Math.imul(1812433253, previous) + i;
    }
    this.position = 624;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.state;
    this.initByLinear(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(624, key.length); k > 0; k--) {
      const previous = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (mt[i]! ^ Math.imul(previous, 1664525)) + key[j]! + j;
      i++;
      j++;
      if (i >= 624) {
        mt[0] = mt[623]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = 623; k > 0; k--) {
      const previous = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (mt[i]! ^ Math.imul(previous, 1566083941)) - i;
      i++;
      if (i >= 624) {
        mt[0] = mt[623]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.state;
    for (let k = 0; k < 624; k++) {
      const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
      mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.position = 0;
  }
}
