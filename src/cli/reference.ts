// Reference text generated from the command definitions: the SYNOPSIS, OPTIONS and EXAMPLES
// blocks of docs/commands/<cmd>.md (between `<!-- generated:NAME -->` and `<!-- end -->`
// markers; the rest of a page is written by hand), checked for drift by test/cli/docs.test.ts
// and rewritten by `npm run docs`.
import type { Argument, Command, Option } from 'commander';
import { examplesOf } from './define.js';

export function visibleOptions(cmd: Command): Option[] {
  return cmd.options.filter((o) => !o.hidden);
}

function argText(a: Argument): string {
  const name = `${a.name()}${a.variadic ? '...' : ''}`;
  return a.required ? `<${name}>` : `[${name}]`;
}

function optionLine(o: Option): string {
  const extra: string[] = [];
  if (o.argChoices) extra.push(`one of: ${o.argChoices.join(', ')}`);
  if (o.defaultValue !== undefined && o.defaultValue !== false && !o.negate) extra.push(`default: ${typeof o.defaultValue === 'string' ? o.defaultValue : JSON.stringify(o.defaultValue)}`);
  if (o.envVar) extra.push(`env: ${o.envVar}`);
  return `- \`${o.flags}\`: ${o.description}${extra.length ? ` (${extra.join('; ')})` : ''}`;
}

export function synopsis(cmd: Command): string {
  if (!cmd.parent) return '```\nregbucket [global options] <command> [options] [arguments]\n```';
  const usage = cmd.usage().replace(/^\[options\]\s*/, '');
  const args = usage || cmd.registeredArguments.map(argText).join(' ');
  return `\`\`\`\nregbucket [global options] ${cmd.name()}${visibleOptions(cmd).length ? ' [options]' : ''}${args ? ` ${args}` : ''}\n\`\`\``;
}

export function optionsBlock(cmd: Command): string {
  const args = cmd.registeredArguments.map((a) => `- \`${argText(a)}\`: ${a.description}`);
  const opts = visibleOptions(cmd).map(optionLine);
  const parts: string[] = [];
  if (args.length) parts.push(`Arguments:\n\n${args.join('\n')}`);
  parts.push(opts.length ? `Options:\n\n${opts.join('\n')}` : 'Options: none of its own.');
  if (cmd.parent) parts.push('The global options (`--store`, `--json`, `-q`, `--progress`, `--concurrency`, ...) apply too: see [regbucket(1)](regbucket.md).');
  return parts.join('\n\n');
}

export function examplesBlock(cmd: Command): string {
  const ex = examplesOf(cmd);
  if (!ex.length) return 'None.';
  return ex.map((e) => `${e.what[0]!.toUpperCase()}${e.what.slice(1)}:\n\n\`\`\`sh\n${e.cmd}\n\`\`\``).join('\n\n');
}

export function globalOptionsBlock(program: Command): string {
  return visibleOptions(program).map(optionLine).join('\n');
}

export function commandListBlock(program: Command): string {
  return program.commands.map((c) => `- [\`${c.name()}\`](${c.name()}.md): ${c.summary() || c.description()}`).join('\n');
}

/** The generated blocks of a page, by marker name. */
export function generatedBlocks(program: Command, cmd: Command): Record<string, string> {
  if (cmd === program) return { synopsis: synopsis(cmd), 'global-options': globalOptionsBlock(program), commands: commandListBlock(program) };
  return { synopsis: synopsis(cmd), options: optionsBlock(cmd), examples: examplesBlock(cmd) };
}

const BLOCK_RE = /<!-- generated:([a-z-]+) -->\n[\s\S]*?<!-- end -->/g;

/** The page with every generated block replaced by what the definitions say now. */
export function refreshPage(page: string, blocks: Record<string, string>): string {
  return page.replace(BLOCK_RE, (whole, name: string) => (name in blocks ? `<!-- generated:${name} -->\n${blocks[name]}\n<!-- end -->` : whole));
}

/** Names of the generated blocks a page has. */
export function blockNames(page: string): string[] {
  return [...page.matchAll(BLOCK_RE)].map((m) => m[1]!);
}

/** A new page for a command that has none yet: the man-page sections, generated blocks filled in. */
export function newPage(program: Command, cmd: Command): string {
  const name = cmd.name();
  const gen = (k: string): string => `<!-- generated:${k} -->\n<!-- end -->`;
  const page = `# regbucket-${name}(1)

## NAME

regbucket ${name} - ${cmd.summary() || cmd.description()}

## SYNOPSIS

${gen('synopsis')}

## DESCRIPTION

${cmd.description()}

## OPTIONS

${gen('options')}

## EXAMPLES

${gen('examples')}

## EXIT STATUS

0 success; 1 failure; 2 bad usage or input; 3 integrity problems found. See [regbucket(1)](regbucket.md).

## SEE ALSO

[regbucket(1)](regbucket.md)
`;
  return refreshPage(page, generatedBlocks(program, cmd));
}
