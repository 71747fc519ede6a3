#!/bin/sh
# shellcheck shell=sh source-path=SCRIPTDIR
# homelab-backups sqliteDump: online backup of a SQLite database (sqlite3 .backup), gzip'd, to the backup directory.
# Filled from methods/dump-sqlite/dump.sh by sqliteDumpScript (domain/jobs/scripts.ts); edit that file, not this text.
# Needs: sh cat cut date mktemp rm tail timeout wget chmod find gzip mv wc sqlite3.
# Environment: NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR (optional).
set -eu

# >>> parameters: methods/tools/shellScript.ts replaces each NAME='' with NAME=<shell-quoted value>.
DB_PATH=''
# <<< parameters

JOB='SQLite backup'
EXT=sqlite.gz

. ../dumps/dump-common.sh

check_source() {
  if [ ! -f "$DB_PATH" ]; then echo "no SQLite database at $DB_PATH (is the volume mounted?)" >&2; return 1; fi
  if [ ! -s "$DB_PATH" ]; then echo "$DB_PATH is empty" >&2; return 1; fi
  # The job runs as the volume's owner (never with an fsGroup that would re-own the app's files).
  if [ ! -r "$DB_PATH" ]; then echo "$DB_PATH is not readable by this job: does it run as the file's owner (the sqlite item's uid)?" >&2; return 1; fi
}

# The online backup API: a consistent snapshot even with writers and un-checkpointed WAL.
backup_db() {
  sqlite3 -bail "$DB_PATH" ".timeout 60000" ".backup '$1'"
}

check_copy() {
  if [ ! -s "$1" ]; then echo "the copy is empty" >&2; return 1; fi
  result=$(sqlite3 -bail "$1" 'PRAGMA integrity_check;')
  if [ "$result" != ok ]; then printf 'integrity_check of the copy: %s\n' "$result" >&2; return 1; fi
}

run "check the database file $DB_PATH" check_source
run "check the backup directory $DIR" check_dir
run "create a temporary file in $DIR" new_partial
copy=$partial
partials="$partials $copy-wal $copy-shm $copy-journal"
run "create a temporary file in $DIR" new_partial
run "online backup of $DB_PATH (sqlite3 .backup)" backup_db "$copy"
run 'PRAGMA integrity_check on the copy' check_copy "$copy"
run 'gzip the copy and test it' compress "$copy" "$partial"
finish_dump
