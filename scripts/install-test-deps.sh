#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with Node 20: the real
# registry, skopeo and umoci, OpenStack Swift (the S3 endpoint the tests start), memcached, and
# the npm modules. Idempotent: a machine that has them all does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker-registry skopeo umoci groff-base bsdutils swift-proxy swift-account swift-container swift-object memcached)
TOOLS=(docker-registry skopeo umoci groff script swift-proxy-server swift-account-server swift-container-server swift-object-server swift-ring-builder memcached)

missing=0
for t in "${TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  echo "install-test-deps: installing ${PACKAGES[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The packages start their own services on install; the tests run their own instances on free
  # ports, so policy-rc.d keeps the packaged ones from starting (no port 5000 or 8080 taken).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
