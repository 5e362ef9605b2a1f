import { Argument, type Command } from 'commander';
import { action } from '../action.js';
import { withExamples } from '../define.js';

const SHELLS = ['bash', 'zsh', 'fish'];

export function define(program: Command): Command {
  const cmd = program
    .command('completion')
    .summary('Print a shell completion script (bash, zsh or fish)')
    .description('Print a completion script for the shell: subcommands, their options and the global options complete. Generated from the command definitions, so it always matches this version.')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action(
      action(async (ctx, shell: string) => {
        const c = await import('../completion.js');
        const script = shell === 'bash' ? c.bashCompletion(program) : shell === 'zsh' ? c.zshCompletion(program) : c.fishCompletion(program);
        ctx.output.raw(script);
      }),
    );
  return withExamples(cmd, [
    { cmd: 'regbucket completion bash > /etc/bash_completion.d/regbucket', what: 'bash, for every user' },
    { cmd: 'regbucket completion zsh > "${fpath[1]}/_regbucket"', what: 'zsh' },
    { cmd: 'regbucket completion fish > ~/.config/fish/completions/regbucket.fish', what: 'fish' },
  ]);
}
