import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { addFormatOptions } from '../format.js';

export function define(program: Command): Command {
  const cmd = program
    .command('ls')
    .summary('List repositories, or the tags of repositories')
    .description('List repositories with their tag counts, or the tags of the given repositories (or of all, with --all) with digest, type, platforms and size.')
    .argument('[repos...]', 'list the tags of these repositories (names or globs: * within a component, ** across)')
    .option('-a, --all', 'list the tags of every repository')
    .option('--no-details', 'tags, digests and push times only: read no manifests')
    .option('--created', "also show each image's creation time (reads its config; an index: its newest child's)")
    .option('--sort <key>', 'order tags by tag, pushed or created (newest first)', 'tag')
    .option('--tag <regex>', 'only tags matching this regular expression')
    .option('--omit-digest-tags', 'hide sha256-<hex> tags (cosign signatures, attestations, SBOMs, referrers fallback tags)');
  addFormatOptions(cmd).action(lazy(() => import('../../commands/ls.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket ls', what: 'every repository and its number of tags' },
    { cmd: 'regbucket ls app team/api', what: 'the tags of two repositories' },
    { cmd: 'regbucket ls -q app', what: 'app:<tag> for every tag, one a line' },
    { cmd: 'regbucket ls --format tsv --no-headers app | cut -f1,5', what: 'scripts: tab-separated exact values; here each tag and its size in bytes' },
    { cmd: "regbucket --json ls --all | jq -r '.repositories[].name'", what: 'scripts: the documented JSON (docs/json.md)' },
  ]);
}
