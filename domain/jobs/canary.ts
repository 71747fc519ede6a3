/**
 * The script of a volume's canary CronJob: it writes a small file at the root of the app's claim,
 * `.homelab-backups-canary`, naming the app and volume and the time of the write. The restore
 * drills of the volume (domain/jobs/drills.ts) restore it from the newest snapshot and fail when
 * it is missing, names another volume, or is much older than the snapshot: then the backups do not
 * hold what is written to the volume now, however well their files restore.
 *
 * File format, three lines:
 *
 *     homelab-backups canary <app>/<volume>
 *     epoch=<UTC seconds since 1970>
 *     time=<YYYY-MM-DDTHH:MM:SSZ>
 *
 * The file is written to a temporary name next to it and renamed over the old one, so a backup
 * never reads a half-written canary. Same conventions as domain/jobs/scripts.ts (commonPart):
 * POSIX sh for busybox, a failure notifies (ntfy, healthchecks) with the step and its error; a
 * success pings healthchecks only, since a daily "canary written" message per volume is noise.
 * Reads NTFY_TOKEN, HEALTHCHECKS_URL and TMPDIR, all optional.
 */
import { checkDir, checkNotify, COMMON_TOOLS, commonPart, Notify, NOTIFY_ENV, render, scriptHeader, shq } from "./scripts";

/** The canary's name at the root of the claim. */
export const CANARY_FILE = ".homelab-backups-canary";
/** The first words of the canary's first line; the app and volume follow. */
export const CANARY_PREFIX = "homelab-backups canary";

/** Every binary the canary script runs: busybox applets of the restic image. */
export const CANARY_TOOLS: readonly string[] = [...COMMON_TOOLS, "chmod", "mv"];
export const CANARY_ENV = { required: [] as readonly string[], optional: NOTIFY_ENV };

/** The first line of the canary of one volume. */
export function canaryLine(app: string, volume: string): string {
  return `${CANARY_PREFIX} ${app}/${volume}`;
}

/** Writes the canary of `notify.app`/`notify.item` (the volume's key) into `dir`, the claim's mount. */
export function canaryWriteScript(o: { dir: string; notify: Notify }): string {
  checkNotify(o.notify);
  const dir = checkDir(o.dir, "dir");
  const owner = `apps.${o.notify.app}.volumes.${o.notify.item}`;
  return render([
    ...scriptHeader(`writes the restore drills' canary file ${CANARY_FILE} at the root of a volume`, "canaryWrite", CANARY_TOOLS, CANARY_ENV, "domain/jobs/canary.ts"),
    ...commonPart(o.notify, "canary write", { kind: "canary", quietSuccess: true }),
    `DIR=${shq(dir)}`,
    `CANARY="$DIR/${CANARY_FILE}"`,
    `LINE=${shq(canaryLine(o.notify.app, o.notify.item))}`,
    "",
    "check_dir() {",
    '  if [ ! -d "$DIR" ]; then echo "the volume\'s directory $DIR does not exist (is the claim mounted?)" >&2; return 1; fi',
    `  if [ ! -w "$DIR" ]; then echo "$DIR, the root of the claim, is not writable by this job: it runs as ${owner}.uid and .gid, which must be the owner of the volume's files" >&2; return 1; fi`,
    "}",
    "",
    "# A killed run's temporary file (runs never overlap: concurrencyPolicy Forbid).",
    "remove_leftovers() {",
    '  for f in "$CANARY".??????; do',
    '    if [ -f "$f" ]; then rm -f -- "$f"; fi',
    "  done",
    "}",
    "",
    "# One date call: the epoch and the readable time are the same second.",
    "write_canary() {",
    "  stamp=$(date -u '+%s %Y-%m-%dT%H:%M:%SZ')",
    "  epoch=${stamp%% *}",
    "  written=${stamp#* }",
    '  partial=$(mktemp "$CANARY.XXXXXX")',
    '  partials="$partials $partial"',
    "  printf '%s\\nepoch=%s\\ntime=%s\\n' \"$LINE\" \"$epoch\" \"$written\" >\"$partial\"",
    '  chmod 644 "$partial"',
    '  mv -f -- "$partial" "$CANARY"',
    "}",
    "",
    "read_back() {",
    '  got=$(cat "$CANARY")',
    "  expected=$(printf '%s\\nepoch=%s\\ntime=%s' \"$LINE\" \"$epoch\" \"$written\")",
    '  if [ "$got" != "$expected" ]; then echo "$CANARY does not read back as written" >&2; return 1; fi',
    "}",
    "",
    'run "check the volume\'s directory $DIR" check_dir',
    "run 'remove temporary files of earlier runs' remove_leftovers",
    'run "write $CANARY" write_canary',
    "run 'read the canary back' read_back",
    'summary="wrote $CANARY ($LINE, $written)"',
  ]);
}
