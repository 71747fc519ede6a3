# Sourced by scripts/setup.sh: puts Node.js 24 on PATH.
# Uses the machine's node when it is already Node 24; otherwise (no node, or another major: the
# package.json engines allow >= 22, the tests and @types/node are written for 24) installs the
# pinned NODE_VERSION from the npm registry (the `node` package ships the binary) into a cache
# outside the clone, $HOMELAB_CACHE/node-<version> (default HOMELAB_CACHE:
# ${XDG_CACHE_HOME:-$HOME/.cache}/homelab-backups), once per machine.
# shellcheck shell=bash
NODE_VERSION=24.21.0
HOMELAB_CACHE="${HOMELAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/homelab-backups}"
export HOMELAB_CACHE

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" != "${NODE_VERSION%%.*}" ]; then
  node_dir="$HOMELAB_CACHE/node-$NODE_VERSION"
  node_bin="$node_dir/node_modules/node/bin"
  if [ "$("$node_bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "Node $NODE_VERSION is needed and npm is not on PATH to install it: install Debian's nodejs and npm (or any Node >= 18 with npm)" >&2
      return 1
    fi
    echo "node $(node --version 2>/dev/null || echo missing) is not Node ${NODE_VERSION%%.*}: installing node@$NODE_VERSION from the npm registry into $node_dir" >&2
    rm -rf "$node_dir" # a broken or partial install
    mkdir -p "$HOMELAB_CACHE"
    node_tmp=$(mktemp -d "$HOMELAB_CACHE/node-$NODE_VERSION.tmp.XXXXXX")
    if ! npm install --prefix "$node_tmp" --no-save --no-audit --no-fund --loglevel=error --ignore-scripts=false "node@$NODE_VERSION" >&2 ||
      [ "$("$node_tmp/node_modules/node/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
      rm -rf "$node_tmp"
      echo "could not install node@$NODE_VERSION from the npm registry (npm's output above)" >&2
      return 1
    fi
    # Another run may have finished the same install meanwhile: keep whichever landed first.
    mv -T "$node_tmp" "$node_dir" 2>/dev/null || rm -rf "$node_tmp"
  fi
  export PATH="$node_bin:$PATH"
  unset node_dir node_bin node_tmp
fi
echo "using node $(node --version) at $(command -v node)" >&2
