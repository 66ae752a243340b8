#!/usr/bin/env bash
# Validates tally's OpenAPI document with Redocly's linter, generates a TypeScript client
# from it (openapi-typescript-codegen), compiles it with checkout.ts and checks out with it.
#   client_check.sh --base http://127.0.0.1:PORT --token JWT --work DIR
# The npm packages are pinned (package.json, package-lock.json) and installed once per
# work directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="" token="" work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --token) token="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$base" ] && [ -n "$token" ] && [ -n "$work" ] || { echo "usage: $0 --base URL --token JWT --work DIR" >&2; exit 2; }
command -v npm >/dev/null || { echo "npm is missing (tools/lib.sh installs it)" >&2; exit 2; }
mkdir -p "$work" && cd "$work"
if ! cmp -s "$here/package-lock.json" package-lock.json || [ ! -d node_modules ]; then
  cp "$here/package.json" "$here/package-lock.json" .
  npm ci --no-audit --no-fund --loglevel=error
fi
# No telemetry or update check from the linter: CI talks to nobody but npm's registry.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
curl -fsS "$base/openapi.json" -o openapi.json
npx --no-install redocly lint --config "$here/redocly.yaml" openapi.json
rm -rf gen build
node node_modules/openapi-typescript-codegen/bin/index.js --input openapi.json --output gen --client fetch --useOptions
cp "$here/checkout.ts" .
npx --no-install tsc --strict --target es2022 --module commonjs --lib es2022,dom --outDir build checkout.ts
node build/checkout.js "$base" "$token"
