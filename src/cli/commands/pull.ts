import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { noReferrersOption, platformOption } from './options.js';

export function define(program: Command): Command {
  const cmd = program
    .command('pull')
    .summary('Export images from the store into an OCI layout or archive')
    .description(
      'Export images from the store. The destination is oci:<dir>[:<ref>], oci-archive:<file>[:<ref>] or ' +
        'docker-archive:<file>[:<name:tag>]. Several images go into one layout or archive, each blob once, each image ' +
        'named by its repo:tag (an air-gap bundle that push puts back). A repository without a tag means latest.',
    )
    .usage('[options] <ref>... <dest>')
    .argument('<ref-and-dest...>', '<repo>[:<tag>|@<digest>] in the store (one or more), then the destination')
    .addOption(platformOption('pull', '; a docker-archive takes one platform'))
    .addOption(noReferrersOption())
    .option('--repair', 'into an existing OCI layout: re-hash the blobs it has already and replace corrupt ones (blobs of the wrong size are always replaced)')
    .action(lazy(() => import('../../commands/pull.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket pull app:1.0 oci:./out:1.0', what: 'export app:1.0 into an OCI layout' },
    { cmd: 'regbucket pull app:1.0 docker-archive:app.tar', what: 'export for docker load' },
    { cmd: 'regbucket pull app:1.0 db:16 oci-archive:bundle.tar', what: 'an air-gap bundle of two images, each blob once' },
  ]);
}
