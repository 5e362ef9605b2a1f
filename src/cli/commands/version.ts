import type { Command } from 'commander';
import { action } from '../action.js';
import { withExamples } from '../define.js';
import { packageVersion } from '../version.js';

export function define(program: Command): Command {
  const cmd = program
    .command('version')
    .summary("Print regbucket's version")
    .description("Print regbucket's version (from its own package.json) and Node's.")
    .action(
      action(async (ctx) => {
        const version = packageVersion();
        ctx.output.result({ version, node: process.versions.node }, () => `regbucket ${version}`);
      }),
    );
  return withExamples(cmd, [{ cmd: 'regbucket --json version', what: '{"schemaVersion":1,"version":"...","node":"..."}' }]);
}
