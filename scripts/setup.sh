# Sourced by scripts/plan and scripts/test: Node 24 on PATH, dependencies from the lockfile.
# Also defines ensure_debian_packages, which only scripts/test calls: the offline plan needs
# neither the Debian packages nor the Go-built tools (scripts/tools.sh).
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/node-env.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # --ignore-scripts: the provider packages' install scripts only try to download plugins,
  # which the offline plan and the tests do not use.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

# Debian packages the tests drive for real (restores are proven against real servers and tools):
# databases and their dump and restore tools, pgBackRest, rclone (TrueNAS Cloud Sync's crypt),
# rsync and sshd (the SSH paths), systemd-analyze (host units), Prometheus's promtool (alert
# rules), wget, curl and jq (what the job scripts and runbooks call), shellcheck, and MariaDB for
# the MySQL/MariaDB dumps. restic is not among them: Debian's 0.14 is far older than the movers'
# restic, which scripts/tools.sh builds with Go.
DEBIAN_PACKAGES=(sqlite3 rsync openssh-server openssh-client redis-server postgresql pgbackrest rclone systemd python3 wget curl jq prometheus shellcheck mariadb-server mariadb-client)

debian_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# Installs the DEBIAN_PACKAGES that are missing (it runs nothing when all are there), as root or
# with passwordless sudo. Package maintainer scripts start no service (a policy-rc.d answers 101
# during the install): the tests start what they need, on loopback. Returns 1, naming each
# package it could not install and apt's reason, when any is still missing afterwards.
ensure_debian_packages() {
  local missing=() package
  for package in "${DEBIAN_PACKAGES[@]}"; do
    debian_installed "$package" || missing+=("$package")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "debian: all ${#DEBIAN_PACKAGES[@]} packages installed" >&2
    return 0
  fi

  local sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo_cmd=(sudo -n)
    else
      echo "debian: the tests need these packages, which are not installed: ${missing[*]}" >&2
      echo "debian: run scripts/test as root or with passwordless sudo, or install them first: sudo apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "debian: the tests need these packages, and this machine has no apt-get to install them: ${missing[*]}" >&2
    return 1
  fi

  echo "debian: installing ${missing[*]}" >&2
  local log own_policy="" status=0 started=$SECONDS
  log=$(mktemp)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    own_policy=1
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
  fi
  local apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends)
  if ! "${sudo_cmd[@]}" apt-get -qq -o DPkg::Lock::Timeout=300 update >"$log" 2>&1; then
    status=1
  elif ! "${apt[@]}" install "${missing[@]}" >>"$log" 2>&1; then
    # One unknown package fails the whole install: install them one by one to name the culprits.
    for package in "${missing[@]}"; do
      debian_installed "$package" || "${apt[@]}" install "$package" >>"$log" 2>&1 || true
    done
  fi
  if [ -n "$own_policy" ]; then "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d; fi

  local failed=()
  for package in "${missing[@]}"; do
    debian_installed "$package" || failed+=("$package")
  done
  if [ "$status" -ne 0 ] || [ "${#failed[@]}" -gt 0 ]; then
    # apt's own reasons ("E: Unable to locate package ..."), or the end of its output.
    if grep -q '^E:' "$log"; then grep '^E:' "$log" | sort -u | sed 's/^/  apt: /' >&2; else tail -n 30 "$log" | sed 's/^/  apt: /' >&2; fi
    if [ "$status" -ne 0 ]; then
      echo "debian: apt-get update failed, so none of these could be installed: ${missing[*]}" >&2
    else
      echo "debian: could not install ${failed[*]} (apt's reasons above)" >&2
    fi
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  echo "debian: installed ${#missing[@]} packages in $((SECONDS - started))s" >&2
}
