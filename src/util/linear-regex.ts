// Regular expressions the user gives (prune --protect/--match, policy files, ls --tag) are run
// against names read from the store, which anyone able to push controls. A backtracking
// expression such as `^(a|aa)+$` on a 50-character tag never finishes, and with the event loop
// blocked not even SIGINT ends the run. V8's linear-time engine (flag `l`) matches in time
// proportional to the input, like Go's RE2; it refuses backreferences and lookarounds, which RE2
// does not have either.
import { setFlagsFromString } from 'node:v8';
import { UsageError } from '../errors.js';

// Read when a RegExp is parsed, so it takes effect for every expression compiled after this.
setFlagsFromString('--enable-experimental-regexp-engine');

/** `source` compiled for linear-time matching; a one-line usage error naming `where` otherwise. */
export function linearRegExp(source: string, where: string): RegExp {
  try {
    // eslint-disable-next-line no-invalid-regexp -- 'l' exists once the flag above is set
    return new RegExp(source, 'l');
  } catch (err) {
    const message = (err as Error).message;
    const why = /linear time/.test(message) ? 'backreferences, lookarounds and huge repetition counts are not supported (matching must take linear time, as in RE2)' : message;
    throw new UsageError(`${where}: ${JSON.stringify(source)} is not a usable regular expression (${why})`);
  }
}
