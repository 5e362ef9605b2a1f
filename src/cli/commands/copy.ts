import { Option, type Command } from 'commander';
import { collect, lazy, withExamples } from '../define.js';
import { noReferrersOption, platformOption } from './options.js';

export function define(program: Command): Command {
  const cmd = program
    .command('copy')
    .summary('Copy images from the store to another store, moving only the blobs it lacks')
    .description(
      'Copy images from the store (--store) to another store, moving only the blobs it lacks. SRC is <repo>[:<tag>|@<digest>] ' +
        '(a repository alone means latest; --all-tags copies every tag). DST is a store URL (a directory, file://dir or ' +
        's3://bucket[/prefix]) optionally followed by //<repo>[:<tag>]: /data/mirror, s3://bkt/prefix//team/app:2.0. ' +
        'A DST that is a plain repository name needs --to for the store. A store URL is always a path or a URL, a ' +
        'repository never contains // or a scheme, so the two cannot be confused. --all-repositories copies the whole store ' +
        '(every repository, tag and referrer; blobs once) into the store DST names, and a second run moves only what is missing.',
    )
    .argument('[src]', '<repo>[:<tag>|@<digest>] in the store; with --all-repositories, the destination store')
    .argument('[dst]', '<store-url>[//<repo>[:<tag>]], or <repo>[:<tag>] with --to (default: the same repository and tag)')
    .option('--all-tags', 'copy every tag of the repository (the sha256-<hex> referrers tags come along)')
    .option('--all-repositories', 'copy every repository of the store, with every tag (resumable: what the destination has is not moved again)')
    .addOption(new Option('--include-repo <glob>', 'with --all-repositories: only repositories this glob matches (* within a name component, ** across, ?; repeatable)').argParser(collect))
    .addOption(new Option('--exclude-repo <glob>', 'with --all-repositories: leave out repositories this glob matches (repeatable)').argParser(collect))
    .option('--verify', 'with --all-repositories: re-hash every blob and manifest written to the destination after the copy (exit 3 if one does not match)')
    .addOption(new Option('--to <store-url>', 'the destination store, when DST is only a repository or is left out'))
    .addOption(platformOption('copy'))
    .addOption(noReferrersOption())
    .option('--repair', 're-hash every blob and manifest of the image the destination has already and replace corrupt ones')
    .action(lazy(() => import('../../commands/copy.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket --store /srv/registry copy app:1.0 s3://backup-bucket/registry', what: 'copy one image to a bucket, same name' },
    { cmd: 'regbucket copy --all-tags app /mnt/mirror//mirror/app', what: 'copy every tag of app to mirror/app in another directory store' },
    { cmd: 'regbucket copy app:1.0 app:stable --to /mnt/mirror', what: 'the older form: destination store given by --to' },
    { cmd: 'regbucket --store /srv/registry copy --all-repositories s3://registry-bucket/prefix', what: 'migrate the whole store to a bucket; run it again to move only what is missing' },
    {
      cmd: "regbucket --store s3://old/registry copy --all-repositories --include-repo 'team/**' --exclude-repo 'team/tmp-*' --verify s3://new/registry",
      what: 'copy some repositories between buckets and re-hash what arrived',
    },
  ]);
}
