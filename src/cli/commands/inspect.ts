import type { Command } from 'commander';
import { lazy, withExamples } from '../define.js';
import { addFormatOptions } from '../format.js';

export function define(program: Command): Command {
  const cmd = program
    .command('inspect')
    .summary('Show a manifest: digest, type, config, layers, platforms')
    .description('Show a manifest: digest, media type, config, layers, platforms, annotations and subject. A repository without a tag means latest.')
    .argument('<ref>', '<repo>[:<tag>|@<digest>] (default tag latest)')
    .option('--raw', 'print the exact stored manifest bytes and nothing else');
  addFormatOptions(cmd).action(lazy(() => import('../../commands/inspect.js')));
  return withExamples(cmd, [
    { cmd: 'regbucket inspect app:1.0', what: 'the manifest app:1.0 points at' },
    { cmd: 'regbucket inspect -q app:1.0', what: 'app@sha256:...: the reference by digest, for pinning' },
    { cmd: 'regbucket inspect --format tsv app:1.0', what: 'field<TAB>value lines; a layer per line (digest, bytes, media type)' },
    { cmd: 'regbucket inspect --raw app@sha256:4f9c... | sha256sum', what: 'the stored bytes, which hash to the digest' },
  ]);
}
