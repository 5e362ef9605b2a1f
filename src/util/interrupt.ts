// What a run must undo when it is interrupted (SIGINT, SIGTERM): its own upload directories, the
// store lock it holds. Code registers an undo step while the thing exists and drops it after;
// the CLI (src/cli/main.ts) runs what is registered before it exits.

const steps = new Set<() => Promise<void>>();

/** Registers `undo` until the returned function is called. */
export function onInterrupt(undo: () => Promise<void>): () => void {
  steps.add(undo);
  return () => {
    steps.delete(undo);
  };
}

/** Runs every registered step (each once, failures ignored: the process is going away). */
export async function runInterruptSteps(): Promise<number> {
  const all = [...steps];
  steps.clear();
  await Promise.all(all.map((s) => s().catch(() => undefined)));
  return all.length;
}
