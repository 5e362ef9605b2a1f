#!/usr/bin/env node
// Launcher only. The CLI is dist/bundle/, CommonJS bundles of src/ (npm run build): a
// CommonJS entry never starts Node's ES module loader, which costs start-up time on Node 20.
'use strict';
if (process.env.REGBUCKET_DEBUG) process.setSourceMapsEnabled(true);
require('../dist/bundle/regbucket.cjs')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
