#!/usr/bin/env node
// Kept for scripts that run `node bin/regbucket.js`: the launcher is bin/regbucket.cjs.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./regbucket.cjs');
