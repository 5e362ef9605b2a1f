import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { addRegistryOptions, addRepoFilterOptions, addSourceOptions, addTagFilterOptions, destChunkSizeOption, noReferrersOption, platformOption } from './options.js';

export function define(program: Command): Command {
  const cmd = program
    .command('push')
    .summary('Import images into the store from a registry, an OCI layout or an archive')
    .description(
      'Import images into the store. The source is oci:<dir>[:<ref>], docker://<host>[:<port>]/<repo>[:<tag>|@<digest>], ' +
        'oci-archive:<file>[:<ref>] or docker-archive:<file>[:<name:tag>|:@<n>]. Without <dest>, every image goes to the ' +
        'repo:tag it is named by (an air-gap bundle made by regbucket pull). With --all-tags, docker://<host>/<repo> (no tag) ' +
        'mirrors every tag of the live repository that the tag filters keep into <dest> (a repository; default: the same name), ' +
        'one push per tag: a tag that fails does not stop the others, the exit status is then 1. Referrers fallback tags ' +
        '(sha256-<hex>) come with their image, not as tags of their own, unless --include-tag names them. docker://<host> with ' +
        "--include-repo <glob> mirrors the repositories of the registry's catalog that the globs keep, each with every tag the " +
        'tag filters keep, under its own name (or under <dest>/ when a <dest> prefix is given). With a docker:// <dest>, ' +
        'the images go into that live registry instead, no store needed: docker://<host>/<repo>[:<tag>] as into a store ' +
        'repository, docker://<host> each image to the repo:tag it is named by (an air-gap bundle, streamed from the archive), ' +
        'docker://<host>/<prefix>/ the same below a prefix.',
    )
    .argument(
      '<source>',
      'oci:<dir>[:<ref>], docker://<host>[:<port>]/<repo>[:<tag>|@<digest>], docker://<host>[:<port>] with --include-repo, oci-archive:<file>[:<ref>] or docker-archive:<file>[:<name:tag>|:@<n>]',
    )
    .argument(
      '[dest]',
      '<repo>[:<tag>] in the store (a repository without a tag takes every named image under its own tag; for a catalog, a prefix put before each repository name); or docker://<host>[/<repo>[:<tag>]|/<prefix>/]',
    )
    .option('--all-tags', 'say that a source holding several images goes in whole (every named image under its own tag); with docker://<host>/<repo>, every tag of the repository the filters keep')
    .addOption(platformOption('push'))
    .addOption(noReferrersOption())
    .option('--repair', 're-hash every blob and manifest of the image the store has already and replace corrupt ones from the source (the repair for digest-mismatch findings of verify)')
    .addOption(destChunkSizeOption());
  addRegistryOptions(addSourceOptions(addRepoFilterOptions(addTagFilterOptions(cmd))), 'dest').action(lazy(() => import('../../commands/push.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket --store /srv/registry push oci:./layout:1.0 app:1.0', what: 'push the image tagged 1.0 in an OCI layout as app:1.0' },
    { cmd: 'regbucket push docker://registry.example.com/team/app:2.1 team/app:2.1', what: 'copy an image from a live registry into the store (REGBUCKET_STORE)' },
    { cmd: 'regbucket push --all-tags bundle.tar', what: 'restore an air-gap bundle: every image to the repo:tag it is named by' },
    { cmd: 'regbucket push --dest-creds ci:$TOKEN oci-archive:bundle.tar docker://registry.example.com/mirror/', what: 'the same into a live registry, no store: every image to mirror/<repo>:<tag>' },
    { cmd: "regbucket push --all-tags --semver '>=1.24 <2' docker://registry.example.com/team/app", what: 'mirror the 1.x tags from 1.24 on into team/app; a second run copies nothing' },
    { cmd: "regbucket push --all-tags --latest-semver 3 --exclude-tag '.*-rc.*' docker://quay.io/org/tool mirror/tool", what: 'the three newest releases, no release candidates, into mirror/tool' },
    {
      cmd: "regbucket push --include-repo 'team/**' --exclude-repo 'team/tmp-*' --semver '>=1' docker://registry.example.com mirror",
      what: 'every team/ repository of the catalog but team/tmp-*, their 1.x and later tags, into mirror/team/...',
    },
    { cmd: "regbucket -q push --all-tags --include-tag 'v?[0-9]+(\\.[0-9]+)*' docker://registry.example.com/base", what: 'every numeric tag; prints repo:tag@digest lines' },
  ]);
}
