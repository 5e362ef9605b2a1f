// Options several commands share: declared once here, added by each command's definition.
import { Option, type Command } from 'commander';
import { bool, collect } from '../define.js';

export function platformOption(verb: string, extra = ''): Option {
  return new Option('--platform <os/arch[/variant]>', `${verb} only this platform of a multi-arch image (repeatable${extra})`).argParser(collect);
}

export function noReferrersOption(): Option {
  return new Option('--no-referrers', 'do not copy signatures, SBOMs and other referrers');
}

/** Options of commands that read from a live registry (docker://). */
export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--src-creds <user:password>', 'credentials for a docker:// source (else REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json with its credsStore/credHelpers)')
    .option('--src-tls-verify [bool]', 'verify TLS of a docker:// source; false also allows plain http', bool, true);
}
