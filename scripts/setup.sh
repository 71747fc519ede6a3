# Sourced by scripts/plan and scripts/test: Node >= 22 on PATH, dependencies from the lockfile.
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=node-env.sh
source scripts/node-env.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # --ignore-scripts: the provider packages' install scripts only try to download plugins,
  # which the offline plan and the tests do not use.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
