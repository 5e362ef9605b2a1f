import type { Command } from 'commander';
import { register as copy } from './copy.js';
import { register as del } from './delete.js';
import { register as du } from './du.js';
import { register as gc } from './gc.js';
import { register as inspect } from './inspect.js';
import { register as ls } from './ls.js';
import { register as mv } from './mv.js';
import { register as prune } from './prune.js';
import { register as pull } from './pull.js';
import { register as push } from './push.js';
import { register as sync } from './sync.js';
import { register as tag } from './tag.js';
import { register as verify } from './verify.js';

/** Every command registers itself on the program; order is the order of --help. */
export const COMMANDS: ((program: Command) => void)[] = [push, pull, copy, sync, tag, del, ls, inspect, verify, gc, prune, du, mv];
