#!/bin/sh
# shellcheck shell=sh source-path=SCRIPTDIR
# homelab-backups postgresDump: pg_dump (custom format) of PostgreSQL database DATABASE, or with DATABASE=all pg_dumpall of the cluster gzip'd, to the backup directory.
# Filled from methods/dump-postgres/dump.sh by postgresDumpScript (domain/jobs/scripts.ts); edit that file, not this text.
# Needs: sh cat cut date mktemp rm tail timeout wget chmod find gzip mv wc grep pg_dump pg_dumpall pg_restore.
# Environment: PGHOST, PGUSER (required); PGPORT, PGPASSWORD, NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR (optional).
set -eu

# >>> parameters: methods/tools/shellScript.ts replaces each NAME='' with NAME=<shell-quoted value>.
DATABASE=''
# <<< parameters

# One database: pg_dump's custom format, <item>-<ts>.dump, verified by reading it whole with
# pg_restore. DATABASE=all: pg_dumpall | gzip of the whole cluster (needs a superuser),
# <item>-<ts>.sql.gz, verified with gzip -t and pg_dumpall's closing line.
if [ "$DATABASE" = all ]; then
  JOB=pg_dumpall
  EXT=sql.gz
else
  JOB=pg_dump
  EXT=dump
fi

. ../dumps/dump-common.sh

# pg_dumpall | gzip without pipefail: pg_dumpall's status goes through a file.
dump_cluster() {
  { status=0; pg_dumpall --no-password || status=$?; echo "$status" >"$work/pg_dumpall.status"; } | gzip -c >"$1"
  status=$(cat "$work/pg_dumpall.status")
  if [ "$status" -ne 0 ]; then echo "pg_dumpall exited with status $status" >&2; return 1; fi
}

verify_cluster_dump() {
  if [ ! -s "$1" ]; then echo "the dump is empty" >&2; return 1; fi
  gzip -t "$1"
  if ! gzip -dc "$1" | tail -n 20 | grep -q 'PostgreSQL database cluster dump complete'; then
    echo "the dump lacks pg_dumpall's closing 'cluster dump complete' line: it is truncated" >&2
    return 1
  fi
}

verify_database_dump() {
  if [ ! -s "$1" ]; then echo "the dump is empty" >&2; return 1; fi
  # Reads the whole archive, every table's data included.
  pg_restore --file=/dev/null "$1"
}

run 'check the environment' require_env PGHOST PGUSER
run "check the backup directory $DIR" check_dir
run "create a temporary file in $DIR" new_partial
if [ "$DATABASE" = all ]; then
  run "pg_dumpall of the cluster at $PGHOST" dump_cluster "$partial"
  run 'verify the dump (gzip -t, closing line)' verify_cluster_dump "$partial"
else
  run "pg_dump of database $DATABASE at $PGHOST" pg_dump --no-password --format=custom --file="$partial" "$DATABASE"
  run 'verify the dump (pg_restore reads it whole)' verify_database_dump "$partial"
fi
finish_dump
