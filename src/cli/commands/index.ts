import type { Command } from 'commander';
import { define as completion } from './completion.js';
import { define as copy } from './copy.js';
import { define as del } from './delete.js';
import { define as du } from './du.js';
import { define as gc } from './gc.js';
import { define as inspect } from './inspect.js';
import { define as ls } from './ls.js';
import { define as prune } from './prune.js';
import { define as mv } from './mv.js';
import { define as pull } from './pull.js';
import { define as push } from './push.js';
import { define as sync } from './sync.js';
import { define as tag } from './tag.js';
import { define as verify } from './verify.js';
import { define as version } from './version.js';

/**
 * Every command, in the order of --help. A definition declares arguments, options and examples
 * and loads its module only when it runs; a new command is a file here and a line below.
 */
export const COMMANDS: ((program: Command) => Command)[] = [push, pull, copy, sync, tag, del, ls, inspect, verify, gc, prune, du, mv, completion, version];
