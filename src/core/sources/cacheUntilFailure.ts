/** Shares one load per key between callers, and forgets a load that failed so that the next call tries again. */
export function cacheUntilFailure<K, V>(load: (key: K) => Promise<V>): { get(key: K): Promise<V>; clear(): void } {
  const loads = new Map<K, Promise<V>>();
  return {
    get(key) {
      let loading = loads.get(key);
      if (!loading) {
        const started = load(key);
        loads.set(key, started);
        started.catch(() => {
          if (loads.get(key) === started) loads.delete(key);
        });
        loading = started;
      }
      return loading;
    },
    clear: () => loads.clear(),
  };
}
