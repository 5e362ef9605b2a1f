import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { addRegistryOptions, destChunkSizeOption, noReferrersOption, platformOption } from './options.js';

export function define(program: Command): Command {
  const cmd = program
    .command('pull')
    .summary('Export images from the store into an OCI layout, an archive or a live registry')
    .description(
      'Export images from the store. The destination is oci:<dir>[:<ref>], oci-archive:<file>[:<ref>], ' +
        'docker-archive:<file>[:<name:tag>] or docker://<host>/<repo>[:<tag>]. Several images go into one layout or archive, each blob once, each image ' +
        'named by its repo:tag (an air-gap bundle that push puts back); into a registry repository, each under its own tag. ' +
        'A repository without a tag means latest. Into a registry, blobs it has are not sent, blobs a repository of the ' +
        'same name as the source has there are mounted, and manifests keep their bytes and digests.',
    )
    .usage('[options] <ref>... <dest>')
    .argument('<ref-and-dest...>', '<repo>[:<tag>|@<digest>] in the store (one or more), then the destination')
    .addOption(platformOption('pull', '; a docker-archive takes one platform'))
    .addOption(noReferrersOption())
    .option('--repair', 'into an existing OCI layout: re-hash the blobs it has already and replace corrupt ones (blobs of the wrong size are always replaced)')
    .addOption(destChunkSizeOption());
  addRegistryOptions(cmd, 'dest').action(lazy(() => import('../../commands/pull.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket pull app:1.0 oci:./out:1.0', what: 'export app:1.0 into an OCI layout' },
    { cmd: 'regbucket pull app:1.0 docker-archive:app.tar', what: 'export for docker load' },
    { cmd: 'regbucket pull app:1.0 db:16 oci-archive:bundle.tar', what: 'an air-gap bundle of two images, each blob once' },
    { cmd: 'regbucket pull --dest-creds ci:$TOKEN app:1.0 docker://registry.example.com/team/app', what: 'push app:1.0 into a live registry (as team/app:1.0), referrers too' },
    { cmd: 'regbucket pull --dest-tls-verify=false app:1.0 app:1.1 docker://127.0.0.1:5000/app', what: 'two tags into a plain-http registry' },
  ]);
}
