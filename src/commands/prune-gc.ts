import type { Context } from '../cli/context.js';
import type { StorageDriver } from '../drivers/driver.js';
import { buildReport } from '../gc/report.js';
import { collectGc } from '../gc/run.js';

/** `prune --gc` (both forms): gc with its defaults after the prune, its report for the JSON, a line for the log. */
export async function gcAfterPrune(ctx: Context, d: StorageDriver, concurrency: number): Promise<object> {
  const report = buildReport(await collectGc(d, { dryRun: false, deleteUntagged: false, minAgeMs: 3_600_000, uploadsOlderThanMs: 7 * 86_400_000, concurrency }));
  ctx.output.info(`gc: deleted ${report.deleted?.blobs ?? 0} blobs, ${report.deleted?.manifests ?? 0} manifests`);
  return report;
}
