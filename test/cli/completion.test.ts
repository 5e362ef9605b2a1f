// `regbucket completion bash` driven as bash does: the script is sourced, COMP_WORDS/COMP_CWORD
// set for a command line, the completion function called, COMPREPLY read back.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { regbucketOk } from '../lab/cli.js';
import { run } from '../lab/exec.js';
import { tempDir } from '../lab/tools.js';

let script: string;

beforeAll(async () => {
  script = join(tempDir('regbucket-completion-'), 'regbucket.bash');
  writeFileSync(script, (await regbucketOk(['completion', 'bash'])).stdout);
});

/** What bash offers after typing `line` (a trailing space: a new word). */
async function complete(line: string): Promise<string[]> {
  const words = line.split(' ');
  const body = `source ${JSON.stringify(script)}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})
COMP_CWORD=${words.length - 1}
_regbucket
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await run('bash', ['--norc', '--noprofile', '-c', body]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('bash completion', () => {
  it('registers itself for regbucket', async () => {
    const r = await run('bash', ['--norc', '--noprofile', '-c', `source ${JSON.stringify(script)} && complete -p regbucket`]);
    expect(r.stdout).toContain('-F _regbucket regbucket');
  });

  it('subcommands', async () => {
    const all = await complete('regbucket ');
    for (const c of ['push', 'pull', 'copy', 'sync', 'tag', 'delete', 'ls', 'inspect', 'verify', 'gc', 'prune', 'completion', 'version']) expect(all).toContain(c);
    expect(await complete('regbucket pu')).toEqual(['push', 'pull']);
  });

  it("a command's own flags and the global ones, hidden aliases left out", async () => {
    expect((await complete('regbucket gc --d')).sort()).toEqual(['--delete-untagged', '--dry-run']);
    expect(await complete('regbucket gc --st')).toEqual(['--store']);
    expect((await complete('regbucket --store /x copy --all')).sort()).toEqual(['--all-repositories', '--all-tags']);
    expect(await complete('regbucket verify --wor')).toEqual([]);
    expect((await complete('regbucket ls --no-')).sort()).toEqual(['--no-details', '--no-headers']);
  });

  it("an option's choices", async () => {
    expect(await complete('regbucket --progress ')).toEqual(['auto', 'plain', 'none']);
    expect(await complete('regbucket completion ')).toEqual(expect.arrayContaining([]));
  });

  it('zsh and fish scripts name every command', async () => {
    for (const shell of ['zsh', 'fish']) {
      const out = (await regbucketOk(['completion', shell])).stdout;
      for (const c of ['push', 'gc', 'verify', 'prune']) expect(out).toContain(c);
      expect(out).toContain(shell === 'fish' ? '-l dry-run' : '--dry-run');
    }
  });
});
