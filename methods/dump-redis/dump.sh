#!/bin/sh
# shellcheck shell=sh source-path=SCRIPTDIR
# homelab-backups redisDump: RDB snapshot of a Redis server (redis-cli --rdb), gzip'd, to the backup directory.
# Filled from methods/dump-redis/dump.sh by redisDumpScript (domain/jobs/scripts.ts); edit that file, not this text.
# Needs: sh cat cut date mktemp rm tail timeout wget chmod find gzip mv wc head redis-cli.
# Environment: REDIS_HOST (required); REDIS_PORT, REDISCLI_AUTH, NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR (optional).
set -eu

JOB='Redis snapshot'
EXT=rdb.gz

. ../dumps/dump-common.sh

check_rdb() {
  if [ ! -s "$1" ]; then echo "the RDB file is empty" >&2; return 1; fi
  magic=$(head -c 5 "$1")
  if [ "$magic" != REDIS ]; then echo "the file redis-cli wrote is not an RDB snapshot" >&2; return 1; fi
}

run 'check the environment' require_env REDIS_HOST
run "check the backup directory $DIR" check_dir
run "create a temporary file in $DIR" new_partial
rdb=$partial
run "create a temporary file in $DIR" new_partial
run "redis-cli --rdb from $REDIS_HOST:${REDIS_PORT:-6379}" redis-cli -h "$REDIS_HOST" -p "${REDIS_PORT:-6379}" --rdb "$rdb"
run 'check the RDB header' check_rdb "$rdb"
run 'gzip the snapshot and test it' compress "$rdb" "$partial"
finish_dump
