/**
 * A fixed set of slots (a GPU kernel's buffer sets) handed out one at a time: `acquire` resolves
 * with a free slot, or waits for one; `release` hands a slot to the longest waiter, else frees it.
 */
export function createSlotQueue<T>(slots: readonly T[]): { acquire(): Promise<T>; release(slot: T): void } {
  const free = [...slots];
  const waiting: ((slot: T) => void)[] = [];
  return {
    acquire() {
      const slot = free.pop();
      return slot !== undefined ? Promise.resolve(slot) : new Promise((resolve) => waiting.push(resolve));
    },
    release(slot) {
      const next = waiting.shift();
      if (next) next(slot);
      else free.push(slot);
    },
  };
}
