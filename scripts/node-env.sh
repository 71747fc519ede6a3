# Sourced by the setup scripts: puts a Node.js >= 22 on PATH.
# Uses the machine's node when it is new enough; otherwise installs Node 24 LTS
# from the npm registry (the `node` package ships the binary) into .tools/node24.
# shellcheck shell=bash
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 22 ]; then
  tools="$repo_root/.tools/node24"
  if [ ! -x "$tools/node_modules/node/bin/node" ]; then
    echo "node $(node --version 2>/dev/null || echo missing) is older than 22: installing Node 24 from the npm registry into .tools/node24" >&2
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
  fi
  export PATH="$tools/node_modules/node/bin:$PATH"
fi
echo "using node $(node --version) at $(command -v node)" >&2
