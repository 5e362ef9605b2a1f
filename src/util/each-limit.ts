/**
 * Runs `fn` over `items` with at most `limit` calls in flight. Unlike one promise per item, a
 * fixed set of loops pulls from the iterator, so a million items cost no million promises.
 * The first error stops the loops and is thrown once the calls in flight have settled.
 */
export async function eachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failed: { err: unknown } | undefined;
  const loop = async (): Promise<void> => {
    while (!failed) {
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, loop));
  if (failed) throw failed.err;
}
