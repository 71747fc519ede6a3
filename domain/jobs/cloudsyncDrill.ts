/**
 * The monthly restore drill of a TrueNAS Cloud Sync copy: proves that what TrueNAS pushed offsite
 * (domain/truenas.ts: transfer_mode COPY, `encryption: true`, to a bucket and folder on B2 or R2
 * through their S3 APIs) can be listed, decrypted and restored with the password and salt the
 * secret store holds. Runs in an image with rclone (docker.io/rclone/rclone, alpine-based: the
 * other tools are busybox applets).
 *
 * How TrueNAS configures rclone, read in truenas/middleware
 * (src/middlewared/middlewared/plugins/cloud_sync/rclone.py, class RcloneConfig, and the older
 * src/middlewared/middlewared/plugins/cloud_sync.py, which writes the same section):
 *
 *     [encrypted]
 *     type = crypt
 *     remote = remote:<bucket>/<folder>
 *     filename_encryption = standard | off        (the task's filename_encryption: true | false)
 *     password = rclone_encrypt_password(encryption_password)
 *     password2 = rclone_encrypt_password(encryption_salt)   (only when the salt is not empty)
 *
 * and syncs to `encrypted:/`. `rclone_encrypt_password` is AES-256-CTR under rclone's published
 * obscure key with a random IV, base64url without padding: exactly `rclone obscure`. Nothing else
 * is set, so directory_name_encryption (true), filename_encoding (base32) and no_data_encryption
 * (false) are rclone's defaults; this drill pins those defaults explicitly so that a stray
 * RCLONE_CRYPT_* variable cannot change them. The remote path comes from
 * plugins/cloud/path.py get_remote_path: the folder with trailing '/' removed, then
 * `<bucket>/<folder without leading '/'>` (older releases only stripped trailing whitespace).
 * The middleware API defaults filename_encryption to false (api models: `filename_encryption:
 * bool = False`; the old schema `Bool("filename_encryption", default=False)`), and
 * domain/truenas.ts leaves it at that default: file names stay readable with a `.bin` suffix and
 * only the contents are encrypted. Pass `filenameEncryption: true` for a task that sets it.
 *
 * Environment (no secret is ever part of the script text):
 *
 * | required                                          | optional                                  |
 * | ------------------------------------------------- | ----------------------------------------- |
 * | RCLONE_CONFIG_OFFSITE_TYPE (s3; local in tests)   | CLOUDSYNC_ENCRYPTION_SALT (empty: no password2, as TrueNAS) |
 * | CLOUDSYNC_ENCRYPTION_PASSWORD                     | RCLONE_CONFIG_OFFSITE_PROVIDER, _ENDPOINT, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION and any other RCLONE_CONFIG_OFFSITE_* option |
 * |                                                   | NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR (/tmp) |
 *
 * The underlying remote is named "offsite" and defined only by rclone's own environment variables
 * (RCLONE_CONFIG=/dev/null: no config file is read); the crypt remote "encrypted" is defined the
 * same way by the script, with the password and salt passed through `rclone obscure -` on stdin
 * (never on a command line) and then unset.
 *
 * Steps: list the encrypted objects under offsite:<bucket>/<folder> (none: fail); list them
 * through the crypt remote (a wrong password or salt with filename encryption, or a wrong
 * filename encryption setting, decrypts no names: rclone skips those silently with status 0, so
 * fewer decrypted files than encrypted objects fails); sort the decrypted listing by path
 * (bytewise) and restore every k-th file (k = ceil(files / sampleFiles), starting with the first)
 * one by one with `rclone copyto` into a scratch directory under TMPDIR, checking each restored
 * size against the listing and deleting it again (scratch space: the largest sampled file).
 * rclone crypt authenticates every 64 KiB block, so a wrong password or salt (which only changes
 * the content key when names are not encrypted) and a corrupted object fail at their restore.
 * Not detectable here: an object truncated at a block boundary (rclone crypt has no whole-file
 * MAC and the listed size derives from the object's size) and files that never reached the
 * bucket; file names holding a line break are not supported (listings are line-based).
 *
 * Built from ./scripts.ts's shared parts, like the drills in ./drills.ts: scriptHeader, commonPart
 * (`kind: "restore drill"`, a `cleanup` hook, the elapsed time in a failure), checkNotify, shq,
 * render. So: POSIX sh for busybox ash and dash under `set -eu`; every binary called is in
 * CLOUDSYNC_DRILL_TOOLS; one notification per run to ntfy (optional NTFY_TOKEN bearer) and
 * healthchecks (`/start`, success, `/fail`) with `wget` under `timeout`, never changing the exit
 * status; title `<app>/<item> restore drill succeeded|FAILED`; failures give the step, the exit
 * status, how long the drill ran and the tail of the step's stderr. What is the drill's own: rclone
 * runs in the background and is waited for, so SIGTERM (and SIGINT, SIGHUP) ends the job at once,
 * stopping rclone, as a notified failure whose reason names the signal (see `cleanup` and the
 * traps after commonPart in the script).
 */
import { checkNotify, COMMON_TOOLS, commonPart, Notify, render, scriptHeader, shq } from "./scripts";

/**
 * Every binary the drill runs (shell builtins such as printf, kill, wait and test aside): what
 * commonPart calls, and rclone, awk, sort, wc. In docker.io/rclone/rclone everything but rclone is
 * a busybox applet.
 */
export const CLOUDSYNC_DRILL_TOOLS: readonly string[] = [...COMMON_TOOLS, "awk", "rclone", "sort", "wc"];

/** Environment variables the drill reads (see the table at the top of this file). */
export const CLOUDSYNC_DRILL_ENV: { required: readonly string[]; optional: readonly string[] } = {
  required: ["RCLONE_CONFIG_OFFSITE_TYPE", "CLOUDSYNC_ENCRYPTION_PASSWORD"],
  optional: [
    "CLOUDSYNC_ENCRYPTION_SALT",
    "RCLONE_CONFIG_OFFSITE_PROVIDER",
    "RCLONE_CONFIG_OFFSITE_ENDPOINT",
    "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID",
    "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY",
    "RCLONE_CONFIG_OFFSITE_REGION",
    "NTFY_TOKEN",
    "HEALTHCHECKS_URL",
    "TMPDIR",
  ],
};

/** Bucket names domain/truenas.ts accepts for a cloud sync task. */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9.-]{1,61}[A-Za-z0-9]$/;
const GENERATOR = "domain/jobs/cloudsyncDrill.ts";

/**
 * The remote path TrueNAS syncs to (plugins/cloud/path.py get_remote_path for a bucket
 * provider): `<bucket>/<folder>` with the folder's trailing and leading '/' removed; the bucket
 * alone for an empty folder (rclone reads `bucket/` and `bucket` alike).
 */
export function cloudSyncRemotePath(bucket: string, folder: string): string {
  if (!BUCKET.test(bucket)) throw new Error(`bucket: ${JSON.stringify(bucket)} must be a bucket name (3-63 letters, digits, '.', '-')`);
  if (/[\0\n\r]/.test(folder)) throw new Error(`folder: ${JSON.stringify(folder)} must not contain NUL or line breaks`);
  const trimmed = folder.replace(/\/+$/, "").replace(/^\/+/, "");
  if (trimmed.split("/").some((part) => part === "..")) throw new Error(`folder: ${JSON.stringify(folder)} must not contain ".."`);
  return trimmed === "" ? bucket : `${bucket}/${trimmed}`;
}

/**
 * Environment: the underlying remote is named "offsite" and configured entirely by rclone's own
 * environment variables (RCLONE_CONFIG_OFFSITE_TYPE=s3, RCLONE_CONFIG_OFFSITE_PROVIDER, _ENDPOINT,
 * _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION ... set by the CronJob; tests use TYPE=local),
 * CLOUDSYNC_ENCRYPTION_PASSWORD and CLOUDSYNC_ENCRYPTION_SALT hold the plain secrets.
 */
export function cloudSyncDrillScript(o: { notify: Notify; bucket: string; folder: string; sampleFiles: number; filenameEncryption?: boolean }): string {
  checkNotify(o.notify);
  const remotePath = cloudSyncRemotePath(o.bucket, o.folder);
  if (!Number.isInteger(o.sampleFiles) || o.sampleFiles < 1 || o.sampleFiles > 10_000) {
    throw new Error(`sampleFiles: expected an integer from 1 to 10000, got ${o.sampleFiles}`);
  }
  const filenameEncryption = o.filenameEncryption ? "standard" : "off";
  return render([
    ...scriptHeader(
      `restore drill of the TrueNAS Cloud Sync copy at offsite:${remotePath.replace(/[^\x20-\x7e]/g, "?")} (rclone crypt, filename encryption ${filenameEncryption})`,
      "cloudSyncDrill",
      CLOUDSYNC_DRILL_TOOLS,
      CLOUDSYNC_DRILL_ENV,
      GENERATOR,
    ),
    ...commonPart(o.notify, "restore drill", { kind: "restore drill", cleanup: true, timed: true }),
    `REMOTE_PATH=${shq(remotePath)}`,
    `FILENAME_ENCRYPTION=${filenameEncryption}`,
    `SAMPLE_FILES=${o.sampleFiles}`,
    "",
    "# Decrypted files are restored under $work: owner-only, stricter than commonPart's umask 027.",
    "umask 077",
    "export LC_ALL=C",
    "# No rclone config file: both remotes are defined by RCLONE_CONFIG_<NAME>_* variables only.",
    "export RCLONE_CONFIG=/dev/null",
    'scratch="$work/restore"',
    "child=''",
    "stopped_by=''",
    "",
    "# rc ARGS...: rclone in the background, waited for: a signal's trap then runs at once and stops it.",
    "rc() {",
    '  rclone "$@" </dev/null &',
    "  child=$!",
    "  status=0",
    '  wait "$child" || status=$?',
    "  child=''",
    '  return "$status"',
    "}",
    "",
    "# commonPart's EXIT trap calls this first. It has no notion of a background child or of which",
    "# signal ended the job, so: stop a running rclone, and put the signal at the head of the failure's",
    "# reason (the trap's reason is the last 12 lines of $step_log: this line, then the step's last 11).",
    "cleanup() {",
    '  if [ -n "${child:-}" ]; then',
    '    kill "$child" 2>/dev/null',
    '    wait "$child" 2>/dev/null',
    "  fi",
    '  if [ -n "${stopped_by:-}" ]; then',
    '    { echo "stopped by $stopped_by (the job\'s deadline, or the pod was evicted or deleted)"; tail -n 11 "$step_log"; } >"$work/stopped.log"',
    '    step_log="$work/stopped.log"',
    "  fi",
    "}",
    "# commonPart's signal traps, with the same exit statuses, also recording the signal for cleanup.",
    "trap 'stopped_by=SIGHUP; exit 129' HUP",
    "trap 'stopped_by=SIGINT; exit 130' INT",
    "trap 'stopped_by=SIGTERM; exit 143' TERM",
    "",
    "# The crypt remote exactly as TrueNAS writes it (plugins/cloud_sync/rclone.py RcloneConfig), with",
    "# rclone's defaults for what TrueNAS leaves unset pinned; the secrets go through rclone obscure on stdin.",
    "configure_crypt() {",
    "  nl='",
    "'",
    "  cr=$(printf '\\r')",
    "  case $CLOUDSYNC_ENCRYPTION_PASSWORD${CLOUDSYNC_ENCRYPTION_SALT:-} in",
    '    *"$nl"* | *"$cr"*) echo "CLOUDSYNC_ENCRYPTION_PASSWORD or CLOUDSYNC_ENCRYPTION_SALT holds a line break: rclone obscure - cannot read that" >&2; return 1 ;;',
    "  esac",
    "  export RCLONE_CONFIG_ENCRYPTED_TYPE=crypt",
    '  export RCLONE_CONFIG_ENCRYPTED_REMOTE="offsite:$REMOTE_PATH"',
    '  export RCLONE_CONFIG_ENCRYPTED_FILENAME_ENCRYPTION="$FILENAME_ENCRYPTION"',
    "  export RCLONE_CONFIG_ENCRYPTED_DIRECTORY_NAME_ENCRYPTION=true",
    "  export RCLONE_CONFIG_ENCRYPTED_FILENAME_ENCODING=base32",
    "  export RCLONE_CONFIG_ENCRYPTED_NO_DATA_ENCRYPTION=false",
    "  obscured=$(printf '%s\\n' \"$CLOUDSYNC_ENCRYPTION_PASSWORD\" | rclone obscure -)",
    '  if [ -z "$obscured" ]; then echo "rclone obscure of the password printed nothing" >&2; return 1; fi',
    '  export RCLONE_CONFIG_ENCRYPTED_PASSWORD="$obscured"',
    '  if [ -n "${CLOUDSYNC_ENCRYPTION_SALT:-}" ]; then',
    "    obscured=$(printf '%s\\n' \"$CLOUDSYNC_ENCRYPTION_SALT\" | rclone obscure -)",
    '    if [ -z "$obscured" ]; then echo "rclone obscure of the salt printed nothing" >&2; return 1; fi',
    '    export RCLONE_CONFIG_ENCRYPTED_PASSWORD2="$obscured"',
    "  else",
    "    # TrueNAS writes no password2 for an empty salt: rclone's built-in salt applies.",
    "    unset RCLONE_CONFIG_ENCRYPTED_PASSWORD2",
    "  fi",
    "  obscured=''",
    "  unset CLOUDSYNC_ENCRYPTION_PASSWORD CLOUDSYNC_ENCRYPTION_SALT",
    "}",
    "",
    "list_encrypted() {",
    '  rc lsf -R --files-only --fast-list "offsite:$REMOTE_PATH" >"$work/objects"',
    '  objects=$(($(wc -l <"$work/objects")))',
    '  if [ "$objects" -eq 0 ]; then',
    '    echo "offsite:$REMOTE_PATH holds no files: nothing to restore (wrong bucket or folder, or the Cloud Sync task never ran)" >&2',
    "    return 1",
    "  fi",
    '  echo "offsite:$REMOTE_PATH holds $objects encrypted objects" >&2',
    "}",
    "",
    "# The decrypted listing, as '<size> <path>' lines sorted bytewise by path.",
    "list_decrypted() {",
    "  rc lsf -R --files-only --fast-list --format sp --separator ' ' encrypted: >\"$work/listing\"",
    "  sort -t ' ' -k 2 \"$work/listing\" >\"$work/files\"",
    '  files=$(($(wc -l <"$work/files")))',
    '  if [ "$files" -eq 0 ]; then',
    '    echo "none of the $objects objects under offsite:$REMOTE_PATH decrypts (filename encryption $FILENAME_ENCRYPTION): wrong CLOUDSYNC_ENCRYPTION_PASSWORD or CLOUDSYNC_ENCRYPTION_SALT, or the task\'s filename encryption differs" >&2',
    "    return 1",
    "  fi",
    '  if [ "$files" -ne "$objects" ]; then',
    '    echo "only $files of the $objects objects under offsite:$REMOTE_PATH decrypt (filename encryption $FILENAME_ENCRYPTION): a wrong password or salt, or objects that are not part of this encrypted copy" >&2',
    "    return 1",
    "  fi",
    '  echo "$files files decrypt" >&2',
    "}",
    "",
    "# Every k-th file of the sorted listing, from the first: at most SAMPLE_FILES, spread over the tree.",
    "pick_sample() {",
    "  k=$(((files + SAMPLE_FILES - 1) / SAMPLE_FILES))",
    "  awk -v k=\"$k\" '(NR - 1) % k == 0' \"$work/files\" >\"$work/sample\"",
    '  picked=$(($(wc -l <"$work/sample")))',
    '  if [ "$picked" -eq 0 ]; then echo "the sample is empty" >&2; return 1; fi',
    '  echo "restoring $picked of $files files (every k-th of the sorted listing, k = $k)" >&2',
    "}",
    "",
    "# restore_one PATH SIZE: restores one file, checks its size against the listing, deletes it again.",
    "restore_one() {",
    '  case /$1/ in',
    '    */../* | */./* | *//*) echo "refusing to restore $1: not a plain relative path (an object name made to escape the scratch directory?)" >&2; return 1 ;;',
    "  esac",
    '  target="$scratch/$1"',
    "  status=0",
    '  rc copyto "encrypted:$1" "$target" || status=$?',
    '  if [ "$status" -ne 0 ]; then',
    '    echo "could not restore $1 (rclone exit status $status): a wrong password or salt fails here (unexpected EOF, failed to authenticate decrypted block), as does a corrupted object" >&2',
    '    return "$status"',
    "  fi",
    '  if [ ! -f "$target" ]; then echo "rclone reported success but $1 was not restored" >&2; return 1; fi',
    '  got=$(($(wc -c <"$target")))',
    '  if [ "$got" -ne "$2" ]; then echo "$1: restored $got bytes, the listing says $2" >&2; return 1; fi',
    "  bytes=$((bytes + got))",
    '  rm -f -- "$target"',
    "}",
    "",
    "run 'check the environment' require_env RCLONE_CONFIG_OFFSITE_TYPE CLOUDSYNC_ENCRYPTION_PASSWORD",
    "run 'configure the crypt remote as TrueNAS does' configure_crypt",
    'run "list the encrypted objects under offsite:$REMOTE_PATH" list_encrypted',
    "run 'list and decrypt the file names' list_decrypted",
    'run "pick up to $SAMPLE_FILES files" pick_sample',
    "bytes=0",
    "i=0",
    'while IFS= read -r line; do',
    "  i=$((i + 1))",
    '  run "restore $i/$picked: ${line#* }" restore_one "${line#* }" "${line%% *}"',
    'done <"$work/sample"',
    "step='report'",
    "elapsed=$(($(date -u +%s) - started))",
    'summary="restored $picked of $files files ($bytes bytes) from offsite:$REMOTE_PATH, all sizes match the listing (rclone crypt, filename encryption $FILENAME_ENCRYPTION); took $elapsed s"',
  ]);
}
