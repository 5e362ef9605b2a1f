#!/usr/bin/env node
// Launcher only: the CLI lives in dist/cli/main.js (npm run build).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
