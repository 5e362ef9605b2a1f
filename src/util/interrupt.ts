// What a run must undo when it is interrupted (SIGINT, SIGTERM): its own upload directories, the
// store lock it holds. Code registers an undo step while the thing exists and drops it after;
// the CLI (src/cli/main.ts) runs what is registered before it exits.

const steps = new Set<() => Promise<void>>();
let stopping = false;

/** True once a signal arrived: writers make no new files or directories (drivers check it). */
export function interrupted(): boolean {
  return stopping;
}

/** Registers `undo` until the returned function is called. */
export function onInterrupt(undo: () => Promise<void>): () => void {
  steps.add(undo);
  return () => {
    steps.delete(undo);
  };
}

/** Runs every registered step (each once, failures ignored: the process is going away). */
export async function runInterruptSteps(): Promise<number> {
  stopping = true;
  const all = [...steps];
  steps.clear();
  await Promise.all(all.map((s) => s().catch(() => undefined)));
  // A write already under way when the signal came (a file being created in an upload directory
  // as it was removed) can land after the first pass; new writes are refused, so a second pass
  // after those have settled leaves nothing behind.
  await new Promise((r) => setTimeout(r, 200));
  const again = [...all, ...steps];
  steps.clear();
  await Promise.all(again.map((s) => s().catch(() => undefined)));
  return all.length;
}
