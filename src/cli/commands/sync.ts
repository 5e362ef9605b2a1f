import { Option, type Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { boundedInt } from '../numbers.js';
import { addRegistryOptions, addSourceOptions, destChunkSizeOption, noReferrersOption } from './options.js';

export function define(program: Command): Command {
  const cmd = program
    .command('sync')
    .summary('Mirror a list of images into the store; a second run copies nothing')
    .description(
      'Mirror a list of images into the store, several at once (half of --concurrency). The list is YAML ' +
        '(images: [{source, destination, platforms}]) or lines "source destination[:tag]" with # comments. An entry ' +
        'with tags: {include, exclude, semver, latest} takes every tag of a docker://host/repo the filters keep; one ' +
        'with repos: {include, exclude} (globs) every such repository of the catalog of docker://host. A failed ' +
        'image does not stop the others; the exit status is 1 if any failed. A destination docker://<host>/<repo>[:<tag>] ' +
        '(or docker://<host>[/<prefix>/] for a bundle of named images) is a live registry, written over the Registry API; a ' +
        'list with only such destinations needs no store.',
    )
    .argument('<file>', 'YAML (images: [{source, destination, platforms, tags, repos}]) or lines "source destination[:tag]" (# comments)')
    .addOption(new Option('--jobs <n>', 'images copied at once (old name; use --concurrency)').argParser(boundedInt('--jobs', 1, 256)).hideHelp())
    .addOption(noReferrersOption())
    .option('--repair', 're-hash every blob and manifest of the image the store has already and replace corrupt ones from the source (the repair for digest-mismatch findings of verify)')
    .addOption(destChunkSizeOption());
  addRegistryOptions(addSourceOptions(cmd), 'dest').action(lazy(() => import('../../commands/sync.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket sync mirror.yaml', what: 'copy what mirror.yaml lists; unchanged images cost one manifest read each' },
    { cmd: 'regbucket --progress plain --concurrency 16 sync mirror.txt', what: 'from cron: progress lines in the log, 8 images at once' },
  ]);
}
