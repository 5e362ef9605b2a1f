#!/usr/bin/env bash
# Sets up regbucket and runs its main job on the embedded default, a filesystem store:
# generate an example image, push it into ./example/store, list what the store holds, pull it back.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
npx tsx scripts/make-example.ts example/image
export REGBUCKET_STORE="$PWD/example/store"
set -x
node bin/regbucket.cjs push oci:example/image:1.0 demo/hello:1.0
node bin/regbucket.cjs push oci:example/image:tools demo/tools
node bin/regbucket.cjs ls
node bin/regbucket.cjs ls demo/hello
node bin/regbucket.cjs pull demo/hello:1.0 oci:example/pulled:1.0
node bin/regbucket.cjs verify
