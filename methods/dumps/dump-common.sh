# shellcheck shell=sh source-path=SCRIPTDIR
# What every dump job shares (included by methods/dump-*/dump.sh): the job machinery of
# job-common.sh, then the backup directory, the final name, temporary files, publishing and
# count-based pruning, and finish_dump, the last steps of every dump.
# Set before this part: JOB (what the failure message calls the job) and EXT, the dump files'
# extension (`<item>-<YYYYmmddTHHMMSSZ>.<ext>`).

# The job machinery. ../dumps/ is the same folder seen from here and from a method folder, and
# so the path works both for the fill and for shellcheck (which resolves it from the checked script).
. ../dumps/job-common.sh

# >>> parameters: methods/tools/shellScript.ts replaces each NAME='' with NAME=<shell-quoted value>.
DIR=''
KEEP_LAST=''
# <<< parameters

stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$DIR/$ITEM-$stamp.$EXT"

check_dir() {
  if [ ! -d "$DIR" ]; then echo "backup directory $DIR does not exist (is the NAS share mounted?)" >&2; return 1; fi
  if [ ! -w "$DIR" ]; then echo "backup directory $DIR is not writable" >&2; return 1; fi
}

# A hidden temporary file in the backup directory: the final rename stays on one file system.
new_partial() {
  partial=$(mktemp "$DIR/.$ITEM.partial.XXXXXX")
  partials="$partials $partial"
}

publish() {
  chmod 640 "$1"
  mv -f -- "$1" "$final"
}

# gzip a raw copy into the partial file, test it, drop the raw copy.
compress() {
  gzip -c "$1" >"$2"
  gzip -t "$2"
  rm -f -- "$1"
}

# Deletes all but the newest KEEP_LAST files named <item>-<timestamp>.<ext> (oldest sort first).
# The timestamp glob is STAMP_GLOB of domain/jobs/scripts.ts.
prune() {
  count=0
  for f in "$DIR/$ITEM"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z."$EXT"; do
    if [ -f "$f" ]; then count=$((count + 1)); fi
  done
  excess=$((count - KEEP_LAST))
  for f in "$DIR/$ITEM"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z."$EXT"; do
    if [ "$excess" -le 0 ]; then break; fi
    if [ -f "$f" ]; then
      rm -f -- "$f"
      echo "removed $f"
      excess=$((excess - 1))
    fi
  done
  # Temporary files of this item that a killed run (SIGKILL, node loss) left behind a day ago.
  find "$DIR" -maxdepth 1 -type f -name ".$ITEM.partial.*" -mmin +1440 -print -exec rm -f {} +
}

# finish_dump: publish the verified dump in $partial under its final name, prune, and say so.
finish_dump() {
  run "store it as $final" publish "$partial"
  run "keep the newest $KEEP_LAST dumps of $ITEM" prune
  size=$(($(wc -c <"$final")))
  summary="wrote ${final##*/} ($size bytes) to $DIR; keeping the newest $KEEP_LAST"
}
