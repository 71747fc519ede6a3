/**
 * The shell scripts that the backup CronJobs run: database dumps onto the NAS backup share, and
 * the offsite copies of that share (restic to object storage, rsync over SSH to an offsite NAS).
 *
 * Pure and deterministic: the same options give the same text, and nothing secret is ever part
 * of it. Every connection detail and secret comes from the job's environment at run time:
 *
 * | script        | required                              | optional                            |
 * | ------------- | ------------------------------------- | ----------------------------------- |
 * | postgresDump  | PGHOST, PGUSER                        | PGPORT (5432), PGPASSWORD           |
 * | redisDump     | REDIS_HOST                            | REDIS_PORT (6379), REDISCLI_AUTH    |
 * | sqliteDump    | -                                     | -                                   |
 * | resticOffsite | RESTIC_REPOSITORY, RESTIC_PASSWORD    | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, RESTIC_CACHE_DIR (/tmp/restic-cache) |
 * | rsyncOffsite  | SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE    | -                                   |
 *
 * and every script also reads NTFY_TOKEN (Bearer token for ntfy), HEALTHCHECKS_URL (pinged at
 * `/start`, on success and at `/fail`) and TMPDIR (/tmp), all optional.
 *
 * The scripts are POSIX sh for busybox ash (alpine images) and dash: `set -eu`, no arrays, no
 * pipefail, nothing installed at run time. `SCRIPT_TOOLS` lists every binary each one calls; the
 * tests run each script with a PATH holding only those binaries. Notifications use `wget` with
 * the options every busybox build has (`-q -O --header --post-data`; not `-T`, which some builds
 * leave out) under `timeout`, so a hung ntfy or healthchecks server cannot hold the job; a failed
 * notification is logged and never changes the job's exit status.
 *
 * Dumps: written to a hidden temporary file in the backup directory (`.<item>.partial.XXXXXX`),
 * verified, then renamed to `<item>-<YYYYmmddTHHMMSSZ>.<ext>` (UTC; the rename is atomic, so a
 * file with a final name is always complete and verified), after which all but the newest
 * `keepLast` files of that item and extension are deleted (newest by the timestamp in the name;
 * no other file is touched). A failed run removes its temporary files; a killed run's are removed
 * by the first successful run a day later. Offsite scripts skip `.*.partial.*` files and refuse to
 * run on a missing or empty source directory, so an unmounted NAS share can neither wipe the
 * offsite copy (`rsync --delete`) nor push good snapshots out of the restic retention window.
 *
 * Every run ends with one notification: success (with what was written) or failure (with the
 * failing step, the exit status and the last lines of that step's error output), and exits
 * non-zero on failure. The kind of job, the app and the item are in the message and its title.
 * SIGTERM, SIGINT and SIGHUP end the job as a failure that notifies (once the running tool has
 * returned: sh waits for its foreground child); SIGKILL cannot notify, which is what healthchecks'
 * missing success ping is for. The CronJobs should use `concurrencyPolicy: Forbid`, and need a
 * writable TMPDIR (an emptyDir at /tmp under a read-only root file system).
 *
 * The dump scripts are real shell files, shellcheck-clean (methods/tools/shellScript.test.ts):
 * methods/dump-postgres/dump.sh, methods/dump-sqlite/dump.sh and methods/dump-redis/dump.sh, which
 * include methods/dumps/dump-common.sh (and through it methods/dumps/job-common.sh, the same text
 * as commonPart's default); the functions here validate their options and fill them in with
 * methods/tools/shellScript.ts. The offsite scripts are generated here from the parts below.
 *
 * The restore drills (domain/jobs/drills.ts) are built from the same exported parts: scriptHeader,
 * commonPart (with `kind: "restore drill"`), shq and the check* validators.
 */
import { shellScript } from "../../methods/tools/shellScript";
import { KeepPolicy, keepFlags } from "../retention";

/** Who a job's notifications speak for. */
export interface Notify {
  /** App name, for example "immich": the title reads `<app>/<item> backup succeeded|FAILED`. */
  app: string;
  /** Data item, for example "db". Dump files are named after it: `<item>-<timestamp>.<ext>`. */
  item: string;
  /** ntfy topic URL, or undefined for no ntfy notification (healthchecks still works). */
  ntfyUrl?: string;
}

/** restic retention: each `--keep-*` flag that is set. At least one must be. */
export type ResticKeep = KeepPolicy;

export type ScriptName = "postgresDump" | "sqliteDump" | "redisDump" | "resticOffsite" | "rsyncOffsite";

/** What every script calls: the shell, busybox basics, and wget + timeout for notifications. */
export const COMMON_TOOLS = ["sh", "cat", "cut", "date", "mktemp", "rm", "tail", "timeout", "wget"] as const;
/** Environment every notifying job script may read, and the S3 keys restic and Kopia take. */
export const NOTIFY_ENV = ["NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"] as const;
export const AWS_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"] as const;
/** What a script that opens a VolSync mover's repository reads: the mover Secret's keys. */
export const RESTIC_REPOSITORY_ENV = {
  /** RESTIC_PASSWORD, or instead RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND (hosts). */
  required: ["RESTIC_REPOSITORY", "RESTIC_PASSWORD"],
  optional: ["RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", ...AWS_ENV, ...NOTIFY_ENV],
} as const;
export const KOPIA_REPOSITORY_ENV = {
  required: ["KOPIA_REPOSITORY", "KOPIA_PASSWORD"],
  optional: ["KOPIA_S3_ENDPOINT", "AWS_REGION", ...AWS_ENV, "SFTP_HOST", "SFTP_PORT", "SFTP_USERNAME", "SFTP_PATH", "SFTP_KEY_FILE", "SFTP_KNOWN_HOSTS_DATA", ...NOTIFY_ENV],
} as const;
/** The settings of one pgBackRest repository (`<n>`: its number in the Stanza) a job reads from its environment. */
export const PGBACKREST_REPOSITORY_ENV = [
  "PGBACKREST_REPO<n>_TYPE",
  "PGBACKREST_REPO<n>_PATH",
  "PGBACKREST_REPO<n>_S3_BUCKET",
  "PGBACKREST_REPO<n>_S3_ENDPOINT",
  "PGBACKREST_REPO<n>_S3_REGION",
  "PGBACKREST_REPO<n>_S3_KEY",
  "PGBACKREST_REPO<n>_S3_KEY_SECRET",
  "PGBACKREST_REPO<n>_S3_URI_STYLE",
  "PGBACKREST_REPO<n>_CIPHER_TYPE",
  "PGBACKREST_REPO<n>_CIPHER_PASS",
  "PGBACKREST_LOG_LEVEL_STDERR",
  "PGBACKREST_LOCK_PATH",
] as const;
/** What a dump script calls on top: publishing and pruning files, gzip. */
const DUMP_TOOLS = ["chmod", "find", "gzip", "mv", "wc"] as const;

/**
 * Every binary each script runs (shell builtins such as printf, test and echo aside), to pick the
 * images: postgresDump runs in postgres:18-alpine, redisDump in redis:7.4-alpine, sqliteDump in an
 * alpine image with sqlite3, resticOffsite in restic/restic (alpine-based), rsyncOffsite in an
 * alpine image with rsync and openssh-client. Everything not named after a database or transfer
 * tool is a busybox applet in those images.
 */
export const SCRIPT_TOOLS: Readonly<Record<ScriptName, readonly string[]>> = {
  postgresDump: [...COMMON_TOOLS, ...DUMP_TOOLS, "grep", "pg_dump", "pg_dumpall", "pg_restore"],
  sqliteDump: [...COMMON_TOOLS, ...DUMP_TOOLS, "sqlite3"],
  redisDump: [...COMMON_TOOLS, ...DUMP_TOOLS, "head", "redis-cli"],
  resticOffsite: [...COMMON_TOOLS, "find", "grep", "head", "restic"],
  rsyncOffsite: [...COMMON_TOOLS, "find", "head", "rsync", "ssh"],
};

/** Environment variables each script reads (see the table at the top of this file). */
export const SCRIPT_ENV: Readonly<Record<ScriptName, { required: readonly string[]; optional: readonly string[] }>> = {
  postgresDump: { required: ["PGHOST", "PGUSER"], optional: ["PGPORT", "PGPASSWORD", "NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"] },
  sqliteDump: { required: [], optional: ["NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"] },
  redisDump: { required: ["REDIS_HOST"], optional: ["REDIS_PORT", "REDISCLI_AUTH", "NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"] },
  resticOffsite: {
    required: ["RESTIC_REPOSITORY", "RESTIC_PASSWORD"],
    optional: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RESTIC_CACHE_DIR", "NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"],
  },
  rsyncOffsite: { required: ["SSH_KEY_FILE", "SSH_KNOWN_HOSTS_FILE"], optional: ["NTFY_TOKEN", "HEALTHCHECKS_URL", "TMPDIR"] },
};

/** Tag restic snapshots of dump directories carry; forget only ever considers these. */
export const RESTIC_TAG = "dumps";

// ---------------------------------------------------------------------------------------------
// Generators

/**
 * Dumps one PostgreSQL database with `pg_dump --format=custom` (`<item>-<ts>.dump`, verified by
 * reading it whole with `pg_restore`), or with `database: "all"` the whole cluster with
 * `pg_dumpall | gzip` (`<item>-<ts>.sql.gz`, verified with `gzip -t` and pg_dumpall's closing
 * "cluster dump complete" line; needs a superuser). Restore: `pg_restore -d <fresh db> FILE`, or
 * `gunzip -c FILE | psql -d postgres` on a fresh cluster. The script: methods/dump-postgres/dump.sh.
 */
export function postgresDumpScript(o: { database: string; keepLast: number; dir: string; notify: Notify }): string {
  checkNotify(o.notify);
  checkKeepLast(o.keepLast);
  const dir = checkDir(o.dir, "dir");
  if (!o.database || /[\n\0=]/.test(o.database) || o.database.startsWith("-") || o.database.includes("://")) {
    throw new Error(`database: ${JSON.stringify(o.database)} is not a plain database name`);
  }
  return shellScript("dump-postgres/dump.sh", { ...dumpParameters(o.notify, dir, o.keepLast), DATABASE: o.database });
}

/**
 * Copies a live SQLite database with the online backup API (`sqlite3 DB ".backup COPY"`, never a
 * file copy: consistent with WAL content and concurrent writers), checks the copy with
 * `PRAGMA integrity_check`, and stores it gzip'd as `<item>-<ts>.sqlite.gz`. The database's
 * directory must be writable for a WAL-mode database (SQLite needs its -shm file). Restore:
 * `gunzip -c FILE > app.db` with the app stopped. The script: methods/dump-sqlite/dump.sh.
 */
export function sqliteDumpScript(o: { databasePath: string; keepLast: number; dir: string; notify: Notify }): string {
  checkNotify(o.notify);
  checkKeepLast(o.keepLast);
  const dir = checkDir(o.dir, "dir");
  if (!o.databasePath.startsWith("/") || /[\n\0]/.test(o.databasePath) || o.databasePath.endsWith("/")) {
    throw new Error(`databasePath: ${JSON.stringify(o.databasePath)} must be the absolute path of a file`);
  }
  return shellScript("dump-sqlite/dump.sh", { ...dumpParameters(o.notify, dir, o.keepLast), DB_PATH: o.databasePath });
}

/**
 * Takes an RDB snapshot from a running Redis with `redis-cli --rdb` (the server forks as for a
 * replica; its user needs the SYNC permission), checks the RDB header and stores it gzip'd as
 * `<item>-<ts>.rdb.gz`. Restore: gunzip it as the `dbfilename` of a stopped redis-server. The
 * script: methods/dump-redis/dump.sh.
 */
export function redisDumpScript(o: { keepLast: number; dir: string; notify: Notify }): string {
  checkNotify(o.notify);
  checkKeepLast(o.keepLast);
  const dir = checkDir(o.dir, "dir");
  return shellScript("dump-redis/dump.sh", dumpParameters(o.notify, dir, o.keepLast));
}

/** The parameters of methods/dumps/job-common.sh and dump-common.sh, which every dump script includes. */
function dumpParameters(notify: Notify, dir: string, keepLast: number): Record<string, string> {
  return { APP: notify.app, ITEM: notify.item, NTFY_URL: notify.ntfyUrl ?? "", DIR: dir, KEEP_LAST: String(keepLast) };
}

/**
 * Backs a dump directory up to a restic repository (`RESTIC_REPOSITORY`, encrypted with
 * `RESTIC_PASSWORD`): initialises the repository only when `restic snapshots` says there is none
 * (exit status 10 from restic >= 0.17, or its "Is there a repository at the following location?"
 * message; `restic init` refuses to overwrite an existing repository either way), then
 * `restic backup --host <host> --tag dumps`, `restic forget --prune` of this host's, tag's and
 * path's snapshots with the `--keep-*` flags, and `restic check` (structure only, no pack data).
 * Jobs sharing one repository must not overlap: prune and check take restic's exclusive lock, and
 * `--retry-lock` (restic >= 0.16) is not used because Debian 12's restic 0.14 lacks it.
 */
export function resticOffsiteScript(o: { sourceDir: string; keep: ResticKeep; host: string; notify: Notify; check?: boolean }): string {
  checkNotify(o.notify);
  const source = checkDir(o.sourceDir, "sourceDir");
  checkName(o.host, "host");
  const flags = keepFlags(o.keep).join(" ");
  const check = o.check ?? true;
  return render([
    ...header(`restic backup of ${source} to RESTIC_REPOSITORY, then forget --prune`, "resticOffsite"),
    ...commonPart(o.notify, "restic offsite copy"),
    `SOURCE_DIR=${shq(source)}`,
    `RESTIC_HOST=${shq(o.host)}`,
    `export RESTIC_CACHE_DIR="\${RESTIC_CACHE_DIR:-/tmp/restic-cache}"`,
    "",
    ...sourceCheckPart(),
    "# Initialises the repository only when restic says there is none; any other error stops here.",
    "open_repository() {",
    "  status=0",
    '  restic snapshots --no-lock --latest 1 >/dev/null 2>"$work/snapshots.err" || status=$?',
    '  cat "$work/snapshots.err" >&2',
    '  if [ "$status" -eq 0 ]; then return 0; fi',
    '  if [ "$status" -eq 10 ] || grep -q -e \'Is there a repository at the following location\' -e \'repository does not exist\' "$work/snapshots.err"; then',
    '    echo "no restic repository yet: initialising one" >&2',
    "    restic init",
    "    return 0",
    "  fi",
    '  echo "restic snapshots failed with status $status: not initialising" >&2',
    '  return "$status"',
    "}",
    "",
    "run 'check the environment' require_env RESTIC_REPOSITORY RESTIC_PASSWORD",
    'run "check the source directory $SOURCE_DIR" check_source_dir',
    "run 'open the restic repository' open_repository",
    `run "restic backup of $SOURCE_DIR" restic backup --host "$RESTIC_HOST" --tag ${RESTIC_TAG} --exclude '.*.partial.*' "$SOURCE_DIR"`,
    `run 'restic forget --prune (${flags})' restic forget --host "$RESTIC_HOST" --tag ${RESTIC_TAG} --path "$SOURCE_DIR" ${flags} --prune`,
    ...(check ? ["run 'restic check' restic check"] : []),
    `summary="backed up $SOURCE_DIR to the restic repository (host $RESTIC_HOST, tag ${RESTIC_TAG}); retention ${flags}"`,
  ]);
}

/**
 * Mirrors a dump directory to an offsite NAS with `rsync -a --delete --mkpath` over SSH with the
 * pinned host key in `SSH_KNOWN_HOSTS_FILE` (StrictHostKeyChecking=yes, BatchMode=yes, no other
 * known_hosts or ssh config read): an unknown or changed host key fails the job, never prompts
 * and never learns a key. `--mkpath` needs rsync >= 3.2.3 on both ends. rsync's "some files
 * vanished" (status 24, a dump job pruning meanwhile) counts as success with a warning. ssh needs
 * the job's uid in /etc/passwd and the key file readable by that uid only (mode 0400 or 0600).
 */
export function rsyncOffsiteScript(o: { sourceDir: string; user: string; host: string; port: number; path: string; notify: Notify }): string {
  checkNotify(o.notify);
  const source = checkDir(o.sourceDir, "sourceDir");
  const remotePath = checkSshTarget(o);
  return render([
    ...header(`rsync of ${source} to ${o.user}@${o.host}:${remotePath} over SSH with a pinned host key`, "rsyncOffsite"),
    ...commonPart(o.notify, "rsync offsite copy"),
    `SOURCE_DIR=${shq(source)}`,
    `REMOTE=${shq(`${o.user}@${o.host}:${remotePath}/`)}`,
    `SSH_PORT=${o.port}`,
    "",
    ...sourceCheckPart(),
    ...sshFilesCheckPart(),
    "sync_offsite() {",
    ...sshCommandLines(),
    "  status=0",
    '  rsync -a --delete --mkpath --exclude=\'.*.partial.*\' -e "$ssh_cmd" "$SOURCE_DIR/" "$REMOTE" || status=$?',
    '  if [ "$status" -eq 24 ]; then',
    '    echo "warning: some files vanished during the transfer (pruned meanwhile); everything else was copied" >&2',
    "    vanished=' (some files vanished during the transfer)'",
    "    return 0",
    "  fi",
    '  return "$status"',
    "}",
    "",
    "vanished=''",
    "run 'check the SSH key and known_hosts files' check_ssh_files",
    'run "check the source directory $SOURCE_DIR" check_source_dir',
    'run "rsync to $REMOTE" sync_offsite',
    'summary="mirrored $SOURCE_DIR to $REMOTE$vanished"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Shared parts

/** Quotes a value for sh: single quotes, with embedded single quotes spliced in. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Validates an SSH target (user, host, port, remote path) as rsyncOffsite and the restore drills'
 * rsync fetch use it, and returns the remote path without a trailing '/'.
 */
export function checkSshTarget(o: { user: string; host: string; port: number; path: string }): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(o.user)) throw new Error(`user: ${JSON.stringify(o.user)} is not a user name`);
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(o.host)) throw new Error(`host: ${JSON.stringify(o.host)} is not a hostname or IPv4 address`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new Error(`port: ${o.port} is not a TCP port`);
  if (!/^[A-Za-z0-9._/~+@-]+$/.test(o.path) || o.path.split("/").includes("..")) {
    throw new Error(`path: ${JSON.stringify(o.path)} must be a remote path of letters, digits and ._/~+@- without '..'`);
  }
  return o.path.length > 1 ? o.path.replace(/\/+$/, "") : o.path;
}

/** `check_ssh_files`: SSH_KEY_FILE and SSH_KNOWN_HOSTS_FILE set, of safe characters, readable and not empty. */
export function sshFilesCheckPart(): string[] {
  return [
    "check_ssh_files() {",
    "  require_env SSH_KEY_FILE SSH_KNOWN_HOSTS_FILE",
    '  for f in "$SSH_KEY_FILE" "$SSH_KNOWN_HOSTS_FILE"; do',
    '    case $f in *[!A-Za-z0-9._/@+-]*) echo "unsupported characters in the path $f" >&2; return 1 ;; esac',
    '    if [ ! -r "$f" ] || [ ! -s "$f" ]; then echo "$f is missing, empty or unreadable" >&2; return 1; fi',
    "  done",
    "}",
    "",
  ];
}

/** Sets `ssh_cmd` (inside a function): ssh with the pinned host key only, for `rsync -e`. Needs SSH_PORT. */
export function sshCommandLines(): string[] {
  return [
    "  # -F /dev/null: no ssh_config; only the pinned known_hosts file counts, and it is never written.",
    '  ssh_cmd="ssh -F /dev/null -i $SSH_KEY_FILE -p $SSH_PORT -o IdentitiesOnly=yes -o BatchMode=yes'
      + ' -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$SSH_KNOWN_HOSTS_FILE -o GlobalKnownHostsFile=/dev/null'
      + ' -o UpdateHostKeys=no -o ConnectTimeout=30 -o ServerAliveInterval=30"',
  ];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkName(value: string, what: string): void {
  if (!NAME.test(value)) throw new Error(`${what}: ${JSON.stringify(value)} must be letters, digits and ._- (at most 100), starting with a letter or digit`);
}

export function checkNotify(notify: Notify): void {
  checkName(notify.app, "notify.app");
  checkName(notify.item, "notify.item");
  if (notify.ntfyUrl !== undefined && !/^https?:\/\/[^\s'"\\]+$/.test(notify.ntfyUrl)) {
    throw new Error(`notify.ntfyUrl: ${JSON.stringify(notify.ntfyUrl)} is not an http(s) URL`);
  }
}

function checkKeepLast(keepLast: number): void {
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new Error(`keepLast: expected a positive integer, got ${keepLast}`);
}

/** Absolute directory of safe characters (they end up in sqlite and rsync arguments), no trailing '/'. */
export function checkDir(dir: string, what: string): string {
  if (!/^\/[A-Za-z0-9._/@+-]*$/.test(dir) || dir.split("/").includes("..")) {
    throw new Error(`${what}: ${JSON.stringify(dir)} must be an absolute path of letters, digits and ._/@+- without '..'`);
  }
  const trimmed = dir.replace(/\/+$/, "");
  if (trimmed === "") throw new Error(`${what}: "/" is not a backup directory`);
  return trimmed;
}

function header(what: string, name: ScriptName): string[] {
  return scriptHeader(what, name, SCRIPT_TOOLS[name], SCRIPT_ENV[name]);
}

/** The first lines of every generated script: shebang, what it does, its tools and environment, `set -eu`. */
export function scriptHeader(
  what: string,
  name: string,
  tools: readonly string[],
  env: { required: readonly string[]; optional: readonly string[] },
  generator = "domain/jobs/scripts.ts",
): string[] {
  return [
    "#!/bin/sh",
    `# homelab-backups ${name}: ${what}.`,
    `# Generated by ${generator}; edit the generator, not this text.`,
    `# Needs: ${tools.join(" ")}.`,
    `# Environment: ${env.required.length ? `${env.required.join(", ")} (required); ` : ""}${env.optional.join(", ")} (optional).`,
    "set -eu",
    "",
  ];
}

/** Options of commonPart beyond what the backup jobs use; the defaults give the backup jobs' text. */
export interface CommonPartOptions {
  /** What the notification title calls the job: `<app>/<item> <kind> succeeded|FAILED` ("backup"). */
  kind?: string;
  /** Call the script's own `cleanup` function first thing in the EXIT trap (stop servers, fix modes). */
  cleanup?: boolean;
  /** Record the start time (`started`, epoch seconds) and say in a failure how long the job ran. */
  timed?: boolean;
  /** Send ntfy nothing on success (failures still notify; healthchecks still gets every ping). */
  quietSuccess?: boolean;
}

/** Runs on_exit on every way out: a signal exits with 128+signal, so on_exit sees why. */
export const SIGNAL_TRAPS: readonly string[] = ["trap on_exit EXIT", "trap 'exit 129' HUP", "trap 'exit 130' INT", "trap 'exit 143' TERM"];

/** `require_env NAME...`: fails naming every empty or unset variable at once. */
export const REQUIRE_ENV_FUNCTION: readonly string[] = [
  "require_env() {",
  "  missing=''",
  '  for name in "$@"; do',
  '    eval "value=\\${$name:-}"',
  '    if [ -z "$value" ]; then missing="$missing $name"; fi',
  "  done",
  '  if [ -n "$missing" ]; then echo "missing environment variables:$missing" >&2; return 1; fi',
  "}",
];

/**
 * The sh function `require_restic_env`: RESTIC_REPOSITORY and a password, given as RESTIC_PASSWORD
 * (a mover's or offsite job's Secret) or RESTIC_PASSWORD_FILE / RESTIC_PASSWORD_COMMAND (a host's
 * environment file). The password itself is only tested for being set, and forgotten. Needs
 * REQUIRE_ENV_FUNCTION (commonPart defines it).
 */
export const REQUIRE_RESTIC_ENV_FUNCTION: readonly string[] = [
  "require_restic_env() {",
  "  require_env RESTIC_REPOSITORY",
  "  for name in RESTIC_PASSWORD RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND; do",
  '    eval "value=\\${$name:-}"',
  "    if [ -n \"$value\" ]; then value=''; return 0; fi",
  "  done",
  '  echo "missing environment variables: RESTIC_PASSWORD (or RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND)" >&2',
  "  return 1",
  "}",
  "",
];

/**
 * The sh function `notify ok|failed MESSAGE`: one ntfy message titled `$APP/$ITEM <kind>
 * succeeded|FAILED` (needs APP, ITEM, NTFY_URL and `say`); a failed notification is logged, never fatal.
 */
export function notifyFunction(kind: string): string[] {
  const tag = kind.replace(/ /g, "-");
  return [
    "# notify ok|failed MESSAGE: one ntfy message; a notification failure is logged, never fatal.",
    "notify() {",
    '  if [ -z "$NTFY_URL" ]; then return 0; fi',
    "  message=$2",
    '  if [ "$1" = ok ]; then',
    `    set -- --header "Title: $APP/$ITEM ${kind} succeeded" --header "Priority: default" --header "Tags: white_check_mark,${tag},$APP"`,
    "  else",
    `    set -- --header "Title: $APP/$ITEM ${kind} FAILED" --header "Priority: high" --header "Tags: rotating_light,${tag},$APP"`,
    "  fi",
    '  if [ -n "${NTFY_TOKEN:-}" ]; then set -- "$@" --header "Authorization: Bearer $NTFY_TOKEN"; fi',
    '  timeout 60 wget -q -O /dev/null "$@" --post-data "$message" "$NTFY_URL" || say "warning: the ntfy notification failed"',
    "}",
  ];
}

/**
 * Variables, helpers, the EXIT trap that notifies, and the start ping. `run STEP CMD...` runs a
 * command (or a function, which then runs under `set -e` too) with its stderr kept as the reason
 * a failure notification gives; `summary` is what the success notification says.
 */
export function commonPart(notify: Notify, job: string, options: CommonPartOptions = {}): string[] {
  const kind = options.kind ?? "backup";
  if (!/^[a-z][a-z -]*$/.test(kind)) throw new Error(`kind: ${JSON.stringify(kind)} must be lower-case words`);
  return [
    `APP=${shq(notify.app)}`,
    `ITEM=${shq(notify.item)}`,
    `JOB=${shq(job)}`,
    `NTFY_URL=${shq(notify.ntfyUrl ?? "")}`,
    "",
    "umask 027",
    ...(options.timed ? ["started=$(date -u +%s)"] : []),
    'work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-backup.XXXXXX")',
    'step_log="$work/step.log"',
    ': >"$step_log"',
    "step='start'",
    "summary=''",
    "partials=''",
    "",
    "say() { printf '%s %s\\n' \"$(date -u +%H:%M:%SZ)\" \"$*\"; }",
    "",
    "# run STEP COMMAND...: a failing COMMAND ends the job (set -e); its stderr is the failure's reason.",
    "run() {",
    "  step=$1",
    "  shift",
    '  say "$step"',
    '  "$@" 2>"$step_log"',
    '  cat "$step_log" >&2',
    "}",
    "",
    ...REQUIRE_ENV_FUNCTION,
    "",
    ...notifyFunction(kind),
    "",
    "# hc_ping SUFFIX [BODY]: healthchecks ping (/start, '' for success, /fail), when HEALTHCHECKS_URL is set.",
    "hc_ping() {",
    '  if [ -z "${HEALTHCHECKS_URL:-}" ]; then return 0; fi',
    '  timeout 30 wget -q -O /dev/null --post-data "${2:-}" "${HEALTHCHECKS_URL%/}$1" || say "warning: the healthchecks ping${1:+ ($1)} failed"',
    "}",
    "",
    "on_exit() {",
    "  code=$?",
    "  trap - EXIT",
    "  set +e",
    ...(options.cleanup ? ["  cleanup"] : []),
    '  for f in $partials; do rm -f -- "$f"; done',
    '  if [ "$code" -eq 0 ]; then',
    '    say "done: $summary"',
    ...(options.quietSuccess ? [] : ['    notify ok "$APP/$ITEM: $summary"']),
    '    hc_ping "" "$summary"',
    "  else",
    '    cat "$step_log" >&2',
    '    reason=$(tail -n 12 "$step_log" | cut -c 1-300)',
    ...(options.timed
      ? ['    message="$APP/$ITEM: $JOB FAILED at step: $step (exit status $code) after $(($(date -u +%s) - started)) s']
      : ['    message="$APP/$ITEM: $JOB FAILED at step: $step (exit status $code)']),
    '${reason:-(no error output)}${HOSTNAME:+',
    'pod: $HOSTNAME}"',
    '    say "FAILED at step: $step (exit status $code)" >&2',
    '    notify failed "$message"',
    '    hc_ping /fail "$message"',
    "  fi",
    '  rm -rf -- "$work"',
    '  exit "$code"',
    "}",
    ...SIGNAL_TRAPS,
    "hc_ping /start",
    "",
  ];
}

export const STAMP_GLOB = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z";

function sourceCheckPart(): string[] {
  return [
    "# An unmounted share shows as a missing or empty directory: never copy that offsite.",
    "check_source_dir() {",
    '  if [ ! -d "$SOURCE_DIR" ]; then echo "source directory $SOURCE_DIR does not exist (is the NAS share mounted?)" >&2; return 1; fi',
    "  first=$(find \"$SOURCE_DIR\" -type f ! -name '.*.partial.*' | head -n 1)",
    '  if [ -z "$first" ]; then echo "source directory $SOURCE_DIR holds no files (is the NAS share mounted?): refusing to copy it offsite" >&2; return 1; fi',
    "}",
    "",
  ];
}

export function render(lines: string[]): string {
  return `${lines.join("\n")}\n`;
}
