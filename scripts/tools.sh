# Sourced by scripts/test (after setup.sh): builds the Go tools the tests run for real, at pinned
# versions, from the Go module proxy into a cache outside the clone, and puts them on PATH ahead
# of the machine's:
#
#   ${HOMELAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/homelab-backups}/tools/<name>-<version>/<name>
#
# A tool whose binary is already there is not built again, so a second run builds nothing. Go's
# own caches (GOMODCACHE, GOCACHE) live under the same root, in go/mod and go/build.
#
# Every scripts/tools.d/*.sh is sourced in name order; each defines a build function and
# registers it with
#
#   build_tool <name> <version> <build-function>
#
# Missing tools are then built HOMELAB_TOOLS_JOBS at a time (default: the number of CPUs, at
# most 4), in registration order, so the longest build is registered first. Concurrent builds
# are safe: the go command locks its module and build caches. The build function is called as
# `<build-function> <out-dir> <version>` in a subshell with `set -euo pipefail`, the Go
# environment below and a scratch working directory of its own; it must leave an executable
# <out-dir>/<name> whose Go build info names <version> (checked with `go version -m`).
# `go_install <out-dir> <package>@<version>` covers plain modules.
#
# A tool that cannot be had (no Go, a failed build) is reported with its name, the reason and the
# end of its build log, and this script then returns 1 with HOMELAB_TOOLS_PROBLEMS (an array of
# "<name> <version>: <reason>" lines) set: a tool is never silently skipped.
#
# Exports, once every tool is there:
#   HOMELAB_TOOLS_BIN        a directory of links to all the tools (first on PATH)
#   HOMELAB_<NAME>           the absolute path of each tool (HOMELAB_RESTIC, HOMELAB_KOPIA,
#                            HOMELAB_MINIO, HOMELAB_MC; a '-' in a name becomes '_')
# shellcheck shell=bash

HOMELAB_CACHE="${HOMELAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/homelab-backups}"
export HOMELAB_CACHE
homelab_tools_root="$HOMELAB_CACHE/tools"
homelab_tools_registered=()
HOMELAB_TOOLS_PROBLEMS=()

go_install() {
  local out=$1 target=$2
  GOBIN="$out" go install "$target"
}

build_tool() {
  homelab_tools_registered+=("$1 $2 $3")
}

# The body of one build, in its own background subshell: <name> <version> <builder> <tmp>.
homelab_tool_build() {
  local name=$1 version=$2 build=$3 tmp=$4
  set -euo pipefail
  export GOCACHE="$HOMELAB_CACHE/go/build" GOMODCACHE="$HOMELAB_CACHE/go/mod"
  # -trimpath and no VCS stamping: the binary depends on the module versions only.
  # -modcacherw: the module cache can be deleted with rm -rf. CGO_ENABLED=0: static binaries,
  # as the tools' own releases are, and no C toolchain needed.
  export GOFLAGS="-trimpath -buildvcs=false -modcacherw" GOWORK=off GO111MODULE=on CGO_ENABLED=0
  mkdir -p "$tmp/work"
  cd "$tmp/work"
  echo "go: $(command -v go) ($(go version))"
  "$build" "$tmp/bin" "$version"
  if [ ! -x "$tmp/bin/$name" ]; then
    echo "the build did not produce $tmp/bin/$name"
    exit 1
  fi
  # The module that holds the main package (its "mod" line, or a "dep" line when a wrapper
  # module built it) must be at the pinned version.
  if ! go version -m "$tmp/bin/$name" | awk -v v="$version" '
    $1 == "path" { path = $2 }
    ($1 == "mod" || $1 == "dep") && $3 == v && (path == $2 || index(path, $2 "/") == 1) { ok = 1 }
    END { exit !ok }'; then
    go version -m "$tmp/bin/$name" | head -n 5
    echo "$tmp/bin/$name: its build info does not put its module at $version"
    exit 1
  fi
}

homelab_tools_main() {
  local jobs entry name version build dir
  jobs=${HOMELAB_TOOLS_JOBS:-$(nproc 2>/dev/null || echo 2)}
  [ "$jobs" -gt 4 ] && jobs=4
  [ "$jobs" -lt 1 ] && jobs=1
  local started=$SECONDS
  local -a queue=() cached=()
  local -A pid_tool=() tool_start=() tool_tmp=()
  local -A tool_path=()

  for entry in "${homelab_tools_registered[@]}"; do
    read -r name version build <<<"$entry"
    dir="$homelab_tools_root/$name-$version"
    tool_path[$name]="$dir/$name"
    if [ -x "$dir/$name" ]; then
      cached+=("$name $version")
    else
      queue+=("$entry")
    fi
  done
  [ "${#cached[@]}" -gt 0 ] && printf 'tools: %s: cached\n' "${cached[@]}" >&2

  if [ "${#queue[@]}" -gt 0 ]; then
    if ! command -v go >/dev/null 2>&1; then
      for entry in "${queue[@]}"; do
        read -r name version build <<<"$entry"
        HOMELAB_TOOLS_PROBLEMS+=("$name $version: cannot be built: 'go' is not on PATH (the tools are built with Go >= 1.25 from the Go module proxy)")
      done
    else
      mkdir -p "$homelab_tools_root"
      echo "tools: building ${#queue[@]} with $(go version | cut -d' ' -f3), $jobs at a time: $(printf '%s\n' "${queue[@]}" | cut -d' ' -f1-2 | paste -sd, | sed 's/,/, /g')" >&2
      local next=0 running=0 finished status tmp log
      while [ "$next" -lt "${#queue[@]}" ] || [ "$running" -gt 0 ]; do
        while [ "$running" -lt "$jobs" ] && [ "$next" -lt "${#queue[@]}" ]; do
          read -r name version build <<<"${queue[$next]}"
          next=$((next + 1))
          rm -rf "${homelab_tools_root:?}/$name-$version" # a partial directory without the binary
          tmp=$(mktemp -d "$homelab_tools_root/.build-$name-$version.XXXXXX")
          homelab_tool_build "$name" "$version" "$build" "$tmp" >"$tmp.log" 2>&1 </dev/null &
          pid_tool[$!]="$name $version"
          tool_start[$name]=$SECONDS
          tool_tmp[$name]=$tmp
          running=$((running + 1))
          echo "tools: $name $version: building (log: $tmp.log)" >&2
        done
        finished=""
        if wait -n -p finished "${!pid_tool[@]}"; then status=0; else status=$?; fi
        [ -n "$finished" ] || continue
        read -r name version <<<"${pid_tool[$finished]}"
        unset "pid_tool[$finished]"
        running=$((running - 1))
        tmp=${tool_tmp[$name]}
        log="$tmp.log"
        dir="$homelab_tools_root/$name-$version"
        if [ "$status" -eq 0 ]; then
          # Another run may have built the same tool meanwhile: keep whichever landed first.
          mv -T "$tmp/bin" "$dir" 2>/dev/null || true
          rm -rf "$tmp" "$log"
          echo "tools: $name $version: built in $((SECONDS - ${tool_start[$name]}))s" >&2
        else
          rm -rf "$tmp"
          local reason
          reason=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
          echo "tools: $name $version: build FAILED after $((SECONDS - ${tool_start[$name]}))s; the end of its log ($log):" >&2
          tail -n 30 "$log" | sed 's/^/  /' >&2
          HOMELAB_TOOLS_PROBLEMS+=("$name $version: the build failed: $reason (log: $log)")
        fi
      done
      echo "tools: built in $((SECONDS - started))s" >&2
    fi
  fi

  if [ "${#HOMELAB_TOOLS_PROBLEMS[@]}" -gt 0 ]; then
    printf 'tools: could not be had: %s\n' "${HOMELAB_TOOLS_PROBLEMS[@]}" >&2
    return 1
  fi

  local var
  for name in "${!tool_path[@]}"; do
    var="HOMELAB_$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')"
    export "$var=${tool_path[$name]}"
  done

  # One directory of links per set of pinned versions, so that clones pinning other versions
  # do not overwrite each other's links.
  local digest links
  digest=$(printf '%s\n' "${homelab_tools_registered[@]}" | sha256sum | cut -c1-12)
  HOMELAB_TOOLS_BIN="$homelab_tools_root/bin-$digest"
  if [ ! -d "$HOMELAB_TOOLS_BIN" ]; then
    links=$(mktemp -d "$HOMELAB_TOOLS_BIN.tmp.XXXXXX")
    for name in "${!tool_path[@]}"; do
      ln -s "${tool_path[$name]}" "$links/$name"
    done
    chmod 755 "$links"
    mv -T "$links" "$HOMELAB_TOOLS_BIN" 2>/dev/null || rm -rf "$links"
  fi
  export HOMELAB_TOOLS_BIN
  export PATH="$HOMELAB_TOOLS_BIN:$PATH"
  echo "tools: ready in $((SECONDS - started))s on PATH from $HOMELAB_TOOLS_BIN" >&2
}

for homelab_tool_file in "$(dirname "${BASH_SOURCE[0]}")"/tools.d/*.sh; do
  # shellcheck source=/dev/null
  source "$homelab_tool_file"
done
unset homelab_tool_file
homelab_tools_main
