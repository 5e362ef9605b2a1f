import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';

export function define(program: Command): Command {
  const cmd = program
    .command('tag')
    .summary('Point tags at a manifest of the same repository')
    .description("Point tags at a manifest of the same repository, creating or moving them (the registry's manifest PUT by tag).")
    .argument('<source>', '<repo>:<tag> or <repo>@<digest>: the manifest, which must be in the repository')
    .argument('<tags...>', 'tags to point at it (created or moved)')
    .action(lazy(() => import('../../commands/tag.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket tag app:1.0 stable latest', what: 'point app:stable and app:latest at the manifest app:1.0 names' },
    { cmd: 'regbucket tag app@sha256:4f9c... rollback', what: 'tag a manifest by digest' },
  ]);
}
