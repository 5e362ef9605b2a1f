#!/usr/bin/env bash
# The whole suite: installs what the tests need (Debian packages, npm modules), builds, runs
# every test. `.ci/run` calls exactly this (npm test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run build
npx vitest run "$@"
