// Options several commands share: declared once here, added by each command's definition.
import { Option, type Command } from 'commander';
import { bool, collect } from '../define.js';
import { boundedInt } from '../numbers.js';

export function platformOption(verb: string, extra = ''): Option {
  return new Option('--platform <os/arch[/variant]>', `${verb} only this platform of a multi-arch image (repeatable${extra})`).argParser(collect);
}

export function noReferrersOption(): Option {
  return new Option('--no-referrers', 'do not copy signatures, SBOMs and other referrers');
}

/** Options of commands that read from (`src`) or write to (`dest`) a live registry (docker://). */
export function addRegistryOptions(cmd: Command, side: 'src' | 'dest' = 'src'): Command {
  const what = side === 'src' ? 'a docker:// source' : 'a docker:// destination';
  return cmd
    .option(`--${side}-creds <user:password>`, `credentials for ${what} (else REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json with its credsStore/credHelpers)`)
    .option(`--${side}-tls-verify [bool]`, `verify TLS of ${what}; false also allows plain http`, bool, true);
}

/** Into a docker:// destination: the size above which blobs go up in PATCH chunks. */
export function destChunkSizeOption(): Option {
  return new Option('--dest-chunk-size <bytes>', 'into a registry: blobs bigger than this are uploaded in chunks of this size (the memory one upload holds)')
    .default(16 * 1024 * 1024)
    .argParser(boundedInt('--dest-chunk-size', 1024, 512 * 1024 * 1024));
}

export function addSourceOptions(cmd: Command): Command {
  return addRegistryOptions(cmd, 'src');
}

/** Tag filters of a repository mirrored whole (push --all-tags docker://host/repo). */
export function addTagFilterOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--include-tag <regex>', 'with --all-tags or a catalog from docker://: only tags the whole of which this regex matches (repeatable: any of them)').argParser(collect))
    .addOption(new Option('--exclude-tag <regex>', 'with --all-tags or a catalog from docker://: leave out tags the whole of which this regex matches (repeatable)').argParser(collect))
    .option('--semver <range>', 'with --all-tags or a catalog from docker://: only tags that are semver versions (an optional leading v) in this range, as npm writes ranges (">=1.2 <2", "^1.4")')
    .addOption(
      new Option('--latest-semver <n>', 'with --all-tags or a catalog from docker://: only the n highest semver tags (after the other filters)').argParser(boundedInt('--latest-semver', 1, 1_000_000)),
    )
    .addOption(
      new Option('--page-size <n>', 'with --all-tags or a catalog from docker://: names asked for per page of the tag list and the catalog (n); the registry may give fewer').argParser(
        boundedInt('--page-size', 1, 100_000),
      ),
    );
}

/** Repository globs of a catalog mirror (push docker://host --include-repo ...), prune's syntax. */
export function addRepoFilterOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--include-repo <glob>',
        "with docker://<host>: mirror the repositories of the catalog this glob matches (* within a name component, ** across, ?; repeatable; '**' for all)",
      ).argParser(collect),
    )
    .addOption(new Option('--exclude-repo <glob>', 'with docker://<host>: leave out the repositories this glob matches (repeatable)').argParser(collect));
}
