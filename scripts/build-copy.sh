#!/usr/bin/env bash
# Builds the standalone server and copies it to DEST, one build at a time on this machine, so
# several people (or agents) working in one checkout can each test a build of their own.
# Usage: scripts/build-copy.sh DEST   then   BEAMSCOPE_SERVER_JS=DEST/server.js npm run test:e2e
set -euo pipefail
dest=${1:?usage: scripts/build-copy.sh DEST}
cd "$(dirname "$0")/.."
exec 9>/tmp/beamscope-build.lock
flock 9
npx next build >/tmp/beamscope-build.log 2>&1 || { tail -40 /tmp/beamscope-build.log; exit 1; }
node scripts/standalone.mjs
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -r .next/standalone "$dest"
echo "built: $dest/server.js"
