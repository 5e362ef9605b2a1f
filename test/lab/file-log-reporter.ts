// One line when each test file starts and ends, and a failing test's errors as soon as its file
// ends. CI keeps only the tail of a long log and the default reporter prints failure details at
// the very end: a run that hangs or is cut off would otherwise show neither where it stood nor
// why earlier files failed.
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

const clock = (): string => new Date().toISOString().slice(11, 19);

export default class FileLogReporter implements Reporter {
  private name(m: TestModule): string {
    return relative(process.cwd(), m.moduleId);
  }

  onTestModuleStart(m: TestModule): void {
    process.stdout.write(`[suite ${clock()}] start ${this.name(m)}\n`);
  }

  onTestModuleEnd(m: TestModule): void {
    const secs = (m.diagnostic().duration / 1000).toFixed(1);
    process.stdout.write(`[suite ${clock()}] end ${this.name(m)} ${m.state()} ${secs}s\n`);
    for (const t of m.children.allTests()) {
      const r = t.result();
      if (r.state !== 'failed') continue;
      process.stdout.write(`[suite] FAILED ${this.name(m)} > ${t.fullName}\n`);
      for (const e of r.errors ?? []) process.stdout.write(`${(e.stack ?? e.message ?? JSON.stringify(e)).split('\n').slice(0, 12).join('\n')}\n`);
    }
  }
}
