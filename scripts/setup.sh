#!/usr/bin/env bash
# Brings a fresh clone to a runnable state, idempotently: npm packages (which include the Node 22
# runtime as the `node` devDependency), then the Debian packages the sandbox and the tests use.
# Usage: scripts/setup.sh [demo|test]  — `demo` needs less than `test` (no browser, no kubectl).
# Where something is missing and cannot be installed, it stops with one line naming it.
set -euo pipefail

purpose="${1:-test}"
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# --- npm packages -------------------------------------------------------------------------------
# npm ci when node_modules is missing or older than the lock file; otherwise nothing to do.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  command -v npm >/dev/null || die "npm is missing: install Node.js (any version with npm 10+) first"
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# --- Node 22 ------------------------------------------------------------------------------------
# npm scripts put node_modules/.bin first on PATH, so `node` there is the project's Node 22.
node_bin=node_modules/.bin/node
[ -x "$node_bin" ] || die "node_modules/.bin/node is missing: the 'node' devDependency did not install (npm ci)"
"$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)' ||
  die "Node.js 22.19+ is needed; node_modules/.bin/node is $("$node_bin" --version)"

# --- Debian packages ----------------------------------------------------------------------------
# command -> Debian package. Erlang's TLS distribution needs ssl/public_key/crypto/asn1 as well.
declare -A wanted=(
  [erl]=erlang-base [erlc]=erlang-base [epmd]=erlang-base [openssl]=openssl
)
erlang_apps=(erlang-ssl erlang-public-key erlang-crypto erlang-asn1 erlang-inets erlang-dev)
if [ "$purpose" = test ]; then
  wanted[elixir]=elixir
  wanted[chromium]=chromium
  wanted[kubectl]=kubernetes-client
  # The sandbox's netns mode (root): namespaces, veth, bridge, routes (ip) and rate limits (tc).
  wanted[ip]=iproute2
  wanted[tc]=iproute2
fi

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# The Erlang apps have no command of their own: look for their ebin folders.
for app in ssl public_key crypto asn1; do
  compgen -G "/usr/lib/erlang/lib/${app}-*/ebin" >/dev/null || missing+=("${erlang_apps[@]}")
done
# The history store's tests start a real PostgreSQL (test/support/postgres.ts); Debian keeps its
# programs off PATH, under /usr/lib/postgresql/<version>/bin.
if [ "$purpose" = test ]; then
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" "${erlang_apps[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: $packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed; install by hand: $packages"
    # shellcheck disable=SC2086
    apt-get install -y -qq $packages >&2 ||
      die "could not install Debian packages: $packages"
  else
    die "missing, install with apt (as root): $packages"
  fi
fi
