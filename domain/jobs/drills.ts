/**
 * The shell scripts that the restore-drill CronJobs run: each restores the newest backup of one
 * tier-1 item from one backup copy into scratch space, proves the result is usable, and notifies
 * (ntfy, healthchecks) on success and on failure, with the time the restore took.
 *
 * Same conventions as domain/jobs/scripts.ts (whose helpers these reuse): POSIX sh for busybox ash
 * and dash, `set -eu`, nothing secret in the text (every secret and connection detail comes from
 * the environment), `DRILL_TOOLS` lists every binary a script calls, `DRILL_ENV` the variables it
 * reads, deterministic text, one notification per run titled `<app>/<item> restore drill
 * succeeded|FAILED` (a failure names the step, the exit status, the tail of its error output and
 * how long the drill ran), notifications never change the exit status, SIGTERM/SIGINT/SIGHUP end
 * the drill as a notified failure.
 *
 * Volume drills (resticVolumeDrill, kopiaVolumeDrill) run in one container with the VolSync
 * mover's Secret as environment and need only a writable TMPDIR: open the repository, find the
 * newest snapshot (none, or one older than `maxAgeHours`, fails: a drill must also catch backups
 * that silently stopped), check the integrity of a data subset, restore up to `sampleFiles`
 * non-empty regular files (every k-th of the snapshot's listing, so they spread over the tree)
 * and compare each one's size with the listing. Every restic call uses `--no-cache`, so nothing
 * is read from a cache instead of the repository. `restic check` takes restic's exclusive lock:
 * schedule the drill away from the volume's backups and prunes. With a `canary` option they also
 * restore the canary file the volume's canary CronJob writes (domain/jobs/canary.ts) and fail when
 * the snapshot holds none, a malformed one, another volume's, or one much older than the snapshot.
 *
 * Dump and pgBackRest drills run in two containers sharing an emptyDir at `DRILL_SCRATCH`
 * (`SCRATCH` in the environment overrides it, for tests). The init container fetches the newest
 * backup into it and ALWAYS exits 0, writing `$SCRATCH/fetch.status` ("ok", or the step that
 * failed, its exit status and error output), `$SCRATCH/fetch.info` (key=value lines about what it
 * fetched) and `$SCRATCH/fetch.log` (everything it printed): a failing init container would keep
 * the main container, which notifies, from ever running. The main container, in the database's
 * own image, reads fetch.status first (and fails with its reason), then proves the backup
 * restores: a throwaway PostgreSQL server on a unix socket in scratch space (never a TCP port),
 * `sqlite3 PRAGMA integrity_check`, `redis-check-rdb`. The freshness of a dump (the timestamp in
 * its name) is checked by the fetch step, against `maxAgeHours`. A fetch refuses to run over an
 * existing `$SCRATCH/dump` or `$SCRATCH/pgdata`: it never deletes anything it did not create.
 *
 * Where the database's image has no wget (CloudNativePG's images: debian-slim + PostgreSQL), the
 * verify step runs as a second init container that notifies nobody either
 * (`pgbackrestVerifyScript({ report: "status-file" })`): it ALWAYS exits 0, after stopping its
 * throwaway server, writing `$SCRATCH/verify.status` ("ok", or the failure exactly as its
 * notification would have worded it after `<app>/<item>: `) and `$SCRATCH/verify.summary` (the
 * success message's text). The pod's main container then runs drillReportScript in any busybox
 * image with wget (restic/restic): it reads fetch.status, verify.status and verify.summary, sends
 * the one notification, and exits 0 or 1, so the Job's status is the drill's verdict. A missing
 * status (an init container that never ran or was killed) is a failure that says so. An init
 * container that itself fails (SIGKILL, out of memory) under `restartPolicy: Never` keeps the
 * report container from ever running: only healthchecks' missing ping tells then.
 *
 * | script            | required                                 | optional                              |
 * | ----------------- | ---------------------------------------- | ------------------------------------- |
 * | resticVolumeDrill | RESTIC_REPOSITORY, RESTIC_PASSWORD       | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION |
 * | kopiaVolumeDrill  | KOPIA_REPOSITORY, KOPIA_PASSWORD         | KOPIA_S3_ENDPOINT, AWS_*, SFTP_*      |
 * | resticDumpFetch   | RESTIC_REPOSITORY, RESTIC_PASSWORD       | AWS_*, SCRATCH                        |
 * | rsyncDumpFetch    | SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE       | SCRATCH                               |
 * | nasDumpFetch      | -                                        | SCRATCH                               |
 * | dumpVerify        | -                                        | SCRATCH                               |
 * | pgbackrestFetch   | PGBACKREST_STANZA (+ PGBACKREST_REPO<n>_*) | SCRATCH, other PGBACKREST_*         |
 * | pgbackrestVerify  | -                                        | SCRATCH                               |
 * | drillReport       | -                                        | SCRATCH                               |
 *
 * The scripts that notify (volume drills, dumpVerify, pgbackrestVerify in its default "notify"
 * mode, drillReport) also read NTFY_TOKEN and HEALTHCHECKS_URL; every script but drillReport
 * reads TMPDIR (/tmp).
 */
import { CANARY_FILE, CANARY_PREFIX, canaryLine } from "./canary";
import { kopiaConnectFunction } from "./restoreCheck";
import {
  checkDir,
  checkName,
  checkNotify,
  checkSshTarget,
  COMMON_TOOLS,
  commonPart,
  notifyFunction,
  REQUIRE_ENV_FUNCTION,
  PGBACKREST_REPOSITORY_ENV,
  REQUIRE_RESTIC_ENV_FUNCTION,
  SIGNAL_TRAPS,
  Notify,
  render,
  RESTIC_TAG,
  scriptHeader,
  shq,
  sshCommandLines,
  sshFilesCheckPart,
  STAMP_GLOB,
  AWS_ENV,
  KOPIA_REPOSITORY_ENV,
  NOTIFY_ENV,
  RESTIC_REPOSITORY_ENV,
} from "./scripts";

export type DrillScriptName =
  | "resticVolumeDrill"
  | "kopiaVolumeDrill"
  | "resticDumpFetch"
  | "rsyncDumpFetch"
  | "nasDumpFetch"
  | "dumpVerify"
  | "pgbackrestFetch"
  | "pgbackrestVerify"
  | "drillReport";

export type DumpEngine = "postgres" | "postgres-all" | "sqlite" | "redis";

/**
 * How a verify step reports its result. "notify": it notifies (ntfy, healthchecks) itself and
 * exits non-zero on failure, so it must be the pod's main container and its image needs wget.
 * "status-file": it notifies nobody and ALWAYS exits 0 (an init container), leaving
 * `$SCRATCH/verify.status` and `$SCRATCH/verify.summary` for drillReportScript's container.
 */
export type VerifyReport = "notify" | "status-file";

/** Where fetch steps leave files and their status for the verify step (an emptyDir shared by init and main container). */
export const DRILL_SCRATCH = "/scratch";

/** The file extension each engine's dumps carry (see domain/jobs/scripts.ts). */
export const DUMP_EXTENSIONS: Readonly<Record<DumpEngine, string>> = {
  postgres: "dump",
  "postgres-all": "sql.gz",
  sqlite: "sqlite.gz",
  redis: "rdb.gz",
};

/** What a fetch step calls: no notifications (the verify step sends them), so neither wget nor timeout. */
const FETCH_TOOLS = ["sh", "cat", "cut", "date", "mkdir", "mktemp", "mv", "rm", "tail"] as const;

/**
 * What dumpVerify calls for each engine: postgres and postgres-all in the postgres (alpine) image,
 * sqlite in an alpine image with sqlite3, redis in the redis (alpine) image. `initdb` and
 * `pg_ctl` start `postgres` from their own directory.
 */
export const DUMP_VERIFY_TOOLS: Readonly<Record<DumpEngine, readonly string[]>> = {
  postgres: [...COMMON_TOOLS, "mkdir", "sleep", "initdb", "pg_ctl", "postgres", "pg_restore", "psql"],
  "postgres-all": [...COMMON_TOOLS, "mkdir", "sleep", "grep", "gzip", "initdb", "pg_ctl", "postgres", "psql"],
  sqlite: [...COMMON_TOOLS, "gzip", "sqlite3"],
  redis: [...COMMON_TOOLS, "gzip", "sed", "redis-check-rdb"],
};

/**
 * What pgbackrestVerify calls in each `report` mode (see VerifyReport): "notify" needs wget and
 * timeout for its notifications; "status-file" needs neither, so it runs in CloudNativePG's
 * images, which hold neither wget nor curl.
 */
export const PGBACKREST_VERIFY_TOOLS: Readonly<Record<VerifyReport, readonly string[]>> = {
  notify: [...COMMON_TOOLS, "chmod", "cp", "mkdir", "sleep", "pg_ctl", "postgres", "psql"],
  "status-file": [...COMMON_TOOLS.filter((tool) => tool !== "timeout" && tool !== "wget"), "chmod", "cp", "mkdir", "sleep", "pg_ctl", "postgres", "psql"],
};

/**
 * Every binary each script runs (shell builtins aside). dumpVerify's and pgbackrestVerify's
 * entries are the unions over their variants; DUMP_VERIFY_TOOLS (per engine) and
 * PGBACKREST_VERIFY_TOOLS (per report mode) have each variant's own list (a script's `# Needs:`
 * line names its own). pgbackrestFetch runs in the pgBackRest plugin's sidecar image (Debian
 * slim: coreutils, grep, sed, pgbackrest), pgbackrestVerify in the cluster's own CloudNativePG
 * image (Debian slim with the PostgreSQL server, neither wget nor curl: use its "status-file"
 * mode there), drillReport in any busybox image with wget and timeout (alpine, restic/restic).
 */
export const DRILL_TOOLS: Readonly<Record<DrillScriptName, readonly string[]>> = {
  resticVolumeDrill: [...COMMON_TOOLS, "awk", "chmod", "grep", "head", "sed", "wc", "restic"],
  kopiaVolumeDrill: [...COMMON_TOOLS, "chmod", "grep", "head", "mkdir", "sed", "tr", "wc", "awk", "kopia"],
  resticDumpFetch: [...FETCH_TOOLS, "grep", "sed", "wc", "restic"],
  rsyncDumpFetch: [...FETCH_TOOLS, "sed", "wc", "rsync", "ssh"],
  nasDumpFetch: [...FETCH_TOOLS, "cp", "wc"],
  dumpVerify: [...new Set(Object.values(DUMP_VERIFY_TOOLS).flat())],
  pgbackrestFetch: [...FETCH_TOOLS, "grep", "head", "sed", "tr", "pgbackrest"],
  pgbackrestVerify: [...new Set(Object.values(PGBACKREST_VERIFY_TOOLS).flat())],
  drillReport: ["sh", "cat", "date", "timeout", "wget"],
};


/** Environment variables each script reads (see the table at the top of this file). */
export const DRILL_ENV: Readonly<Record<DrillScriptName, { required: readonly string[]; optional: readonly string[] }>> = {
  resticVolumeDrill: RESTIC_REPOSITORY_ENV,
  kopiaVolumeDrill: KOPIA_REPOSITORY_ENV,
  resticDumpFetch: { required: ["RESTIC_REPOSITORY", "RESTIC_PASSWORD"], optional: ["RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", ...AWS_ENV, "SCRATCH", "TMPDIR"] },
  rsyncDumpFetch: { required: ["SSH_KEY_FILE", "SSH_KNOWN_HOSTS_FILE"], optional: ["SCRATCH", "TMPDIR"] },
  nasDumpFetch: { required: [], optional: ["SCRATCH", "TMPDIR"] },
  dumpVerify: { required: [], optional: ["SCRATCH", ...NOTIFY_ENV] },
  /** `<n>` stands for the repository number given to pgbackrestFetchScript. */
  pgbackrestFetch: {
    required: ["PGBACKREST_STANZA"],
    optional: [
      ...PGBACKREST_REPOSITORY_ENV,
      "SCRATCH",
      "TMPDIR",
    ],
  },
  /** The "notify" mode's; PGBACKREST_VERIFY_ENV has each mode's own. */
  pgbackrestVerify: { required: [], optional: ["SCRATCH", ...NOTIFY_ENV] },
  drillReport: { required: [], optional: ["SCRATCH", "NTFY_TOKEN", "HEALTHCHECKS_URL"] },
};

/** Environment variables pgbackrestVerify reads in each `report` mode. */
export const PGBACKREST_VERIFY_ENV: Readonly<Record<VerifyReport, { required: readonly string[]; optional: readonly string[] }>> = {
  notify: DRILL_ENV.pgbackrestVerify,
  "status-file": { required: [], optional: ["SCRATCH", "TMPDIR"] },
};

const GENERATOR = "domain/jobs/drills.ts";
const KIND = "restore drill";

function header(what: string, name: DrillScriptName, tools: readonly string[] = DRILL_TOOLS[name], env = DRILL_ENV[name]): string[] {
  return scriptHeader(what, name, tools, env, GENERATOR);
}

function checkHours(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 24 * 366) throw new Error(`${what}: expected whole hours between 1 and 8784, got ${value}`);
}

function checkQueryText(query: string | undefined, what = "checkQuery"): void {
  if (query === undefined) return;
  if (!query.trim() || /[\0]/.test(query) || query.length > 2000) throw new Error(`${what}: must be one SQL query of at most 2000 characters`);
}

function checkDatabaseName(name: string, what: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/.test(name)) throw new Error(`${what}: ${JSON.stringify(name)} is not a plain database name`);
}

// ---------------------------------------------------------------------------------------------
// Shared sh parts

/**
 * Time arithmetic without `date -d` (busybox and GNU differ): `civil_epoch Y M D h m s` (UTC),
 * `rfc3339_epoch 2024-06-01T12:00:00.5+02:00`, `stamp_epoch 20240601T120000Z`, and `now`.
 */
function timePart(): string[] {
  const nineteen = "?".repeat(19);
  return [
    "# civil_epoch Y M D h m s: seconds since 1970 of a UTC date and time (days from civil, H. Hinnant).",
    "civil_epoch() {",
    "  ce_y=$1 ce_m=${2#0} ce_d=${3#0} ce_h=${4#0} ce_mi=${5#0} ce_s=${6#0}",
    '  if [ "$ce_m" -le 2 ]; then ce_y=$((ce_y - 1)); ce_m=$((ce_m + 9)); else ce_m=$((ce_m - 3)); fi',
    "  ce_era=$((ce_y / 400))",
    "  ce_yoe=$((ce_y - ce_era * 400))",
    "  ce_doe=$((ce_yoe * 365 + ce_yoe / 4 - ce_yoe / 100 + (153 * ce_m + 2) / 5 + ce_d - 1))",
    "  echo $(((ce_era * 146097 + ce_doe - 719468) * 86400 + ce_h * 3600 + ce_mi * 60 + ce_s))",
    "}",
    "",
    "# rfc3339_epoch TIME: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) in epoch seconds.",
    "rfc3339_epoch() {",
    "  case $1 in",
    "    [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*) ;;",
    '    *) echo "cannot read the time \'$1\'" >&2; return 1 ;;',
    "  esac",
    `  re_rest=\${1#${nineteen}}`,
    '  re_main=${1%"$re_rest"}',
    "  case $re_rest in",
    "    *Z) re_off=0 ;;",
    "    *[+-][0-9][0-9]:[0-9][0-9])",
    '      re_zone=${re_rest#"${re_rest%??????}"}',
    "      re_zh=${re_zone#?}",
    "      re_zm=${re_zh#*:}",
    "      re_zh=${re_zh%:*}",
    "      re_off=$(((${re_zh#0} * 60 + ${re_zm#0}) * 60))",
    '      case $re_zone in -*) re_off=$((0 - re_off)) ;; esac ;;',
    '    *) echo "cannot read the time zone of \'$1\'" >&2; return 1 ;;',
    "  esac",
    "  re_ifs=$IFS",
    "  IFS='-T:'",
    "  # shellcheck disable=SC2086",
    "  set -- $re_main",
    "  IFS=$re_ifs",
    '  re_epoch=$(civil_epoch "$1" "$2" "$3" "$4" "$5" "$6")',
    "  echo $((re_epoch - re_off))",
    "}",
    "",
    "# stamp_epoch YYYYmmddTHHMMSSZ: the timestamp in a dump's name in epoch seconds.",
    "stamp_epoch() {",
    "  se_r=${1#????}",
    "  se_y=${1%\"$se_r\"}",
    "  se_mo=${se_r%??????????}",
    "  se_r=${se_r#??}",
    "  se_d=${se_r%????????}",
    "  se_r=${se_r#???}",
    "  se_h=${se_r%?????}",
    "  se_r=${se_r#??}",
    "  se_mi=${se_r%???}",
    "  se_r=${se_r#??}",
    '  civil_epoch "$se_y" "$se_mo" "$se_d" "$se_h" "$se_mi" "${se_r%Z}"',
    "}",
    "",
    "# hours_old SECONDS: '5 h 3 min' for messages.",
    "hours_old() {",
    "  echo \"$(($1 / 3600)) h $(($1 % 3600 / 60)) min\"",
    "}",
    "",
    "now=$(date -u +%s)",
    "",
  ];
}

/** Checks the scratch directory: set, of safe characters (it ends up in PostgreSQL settings), writable. */
function scratchPart(): string[] {
  return [
    `SCRATCH="\${SCRATCH:-${DRILL_SCRATCH}}"`,
    "",
    "check_scratch() {",
    '  case $SCRATCH in /*) ;; *) echo "SCRATCH=$SCRATCH is not an absolute path" >&2; return 1 ;; esac',
    '  case $SCRATCH in *[!A-Za-z0-9._/-]*) echo "unsupported characters in SCRATCH=$SCRATCH" >&2; return 1 ;; esac',
    '  if [ ! -d "$SCRATCH" ] || [ ! -w "$SCRATCH" ]; then echo "the scratch directory $SCRATCH is missing or not writable (is the emptyDir mounted?)" >&2; return 1; fi',
    "}",
    "",
  ];
}

/**
 * The frame of a fetch step (an init container): no notification, no healthchecks ping; always
 * exits 0 after writing fetch.status ("ok" or the reason), fetch.info (`info KEY VALUE` lines)
 * and fetch.log. `run STEP CMD...` as in scripts.ts.
 */
function fetchPart(what: string): string[] {
  return [
    ...scratchPart(),
    `WHAT=${shq(what)}`,
    "umask 027",
    "started=$(date -u +%s)",
    'work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-drill.XXXXXX")',
    'step_log="$work/step.log"',
    ': >"$step_log"',
    ': >"$work/info"',
    "step='start'",
    "summary=''",
    "LOG=''",
    "",
    "say() {",
    "  line=\"$(date -u +%H:%M:%SZ) $*\"",
    "  printf '%s\\n' \"$line\"",
    '  if [ -n "$LOG" ]; then printf \'%s\\n\' "$line" >>"$LOG"; fi',
    "}",
    "",
    "# run STEP COMMAND...: a failing COMMAND ends the fetch (set -e); its stderr is the reason.",
    "run() {",
    "  step=$1",
    "  shift",
    '  say "$step"',
    '  "$@" 2>"$step_log"',
    '  cat "$step_log" >&2',
    '  if [ -n "$LOG" ]; then cat "$step_log" >>"$LOG"; fi',
    "}",
    "",
    ...REQUIRE_ENV_FUNCTION,
    "",
    "# info KEY VALUE: one line of fetch.info for the verify step.",
    "info() {",
    "  printf '%s=%s\\n' \"$1\" \"$2\" >>\"$work/info\"",
    "}",
    "",
    "# Always exits 0: the verify container must run, read fetch.status and notify.",
    "on_exit() {",
    "  code=$?",
    "  trap - EXIT",
    "  set +e",
    '  if [ -n "$LOG" ]; then',
    '    if [ "$code" -eq 0 ]; then',
    '      info seconds "$(($(date -u +%s) - started))"',
    '      mv -f "$work/info" "$SCRATCH/fetch.info"',
    "      printf 'ok\\n' >\"$SCRATCH/fetch.status.tmp\"",
    '      say "done: $summary"',
    "    else",
    '      cat "$step_log" >&2',
    '      cat "$step_log" >>"$LOG"',
    "      # At most 10 lines, so that the verify step's 12-line reason keeps the first line (the step).",
    '      reason=$(tail -n 10 "$step_log" | cut -c 1-300)',
    "      printf '%s FAILED at step: %s (exit status %s) after %s s\\n%s\\n' \"$WHAT\" \"$step\" \"$code\" \"$(($(date -u +%s) - started))\" \"${reason:-(no error output)}\" >\"$SCRATCH/fetch.status.tmp\"",
    '      say "FAILED at step: $step (exit status $code); the verify step reports it" >&2',
    "    fi",
    '    mv -f "$SCRATCH/fetch.status.tmp" "$SCRATCH/fetch.status"',
    '    rm -rf -- "$work"',
    "    exit 0",
    "  fi",
    "  # The scratch directory is unusable: no status can reach the verify step, so fail loudly.",
    '  cat "$step_log" >&2',
    '  say "FAILED at step: $step (exit status $code): no status could be written to $SCRATCH" >&2',
    '  rm -rf -- "$work"',
    '  exit "$code"',
    "}",
    ...SIGNAL_TRAPS,
    "",
    "open_log() {",
    '  rm -f -- "$SCRATCH/fetch.status" "$SCRATCH/fetch.status.tmp" "$SCRATCH/fetch.info"',
    '  : >"$SCRATCH/fetch.log"',
    '  LOG="$SCRATCH/fetch.log"',
    "}",
    "",
    "run 'check the scratch directory' check_scratch",
    "open_log",
    "",
  ];
}

/** Reads fetch.status and fetch.info in a verify step; fails with the fetch's reason. */
function fetchStatusPart(): string[] {
  return [
    "# read_fetch: fetch.status must say ok; fetch.info's lines become fetch_<key> variables.",
    "read_fetch() {",
    '  if [ ! -f "$SCRATCH/fetch.status" ]; then',
    '    echo "the fetch step (init container) left no status in $SCRATCH: did it run, with this scratch volume?" >&2',
    "    return 1",
    "  fi",
    '  fetch_status=$(cat "$SCRATCH/fetch.status")',
    '  if [ "$fetch_status" != ok ]; then',
    "    printf '%s\\n' \"$fetch_status\" >&2",
    "    return 1",
    "  fi",
    '  while IFS="=" read -r key value; do',
    '    case $key in',
    "      file) fetch_file=$value ;;",
    "      age) fetch_age=$value ;;",
    "      size) fetch_size=$value ;;",
    "      from) fetch_from=$value ;;",
    "      seconds) fetch_seconds=$value ;;",
    "      label) fetch_label=$value ;;",
    "      stop) fetch_stop=$value ;;",
    "      wal) fetch_wal=$value ;;",
    "    esac",
    '  done <"$SCRATCH/fetch.info"',
    "}",
    "fetch_file='' fetch_age=0 fetch_size=0 fetch_from='' fetch_seconds=0 fetch_label='' fetch_stop='' fetch_wal=''",
    "",
  ];
}

/**
 * The frame of a verify step in "status-file" mode (an init container before drillReportScript's):
 * the helpers of commonPart (`run STEP CMD...`, `say`, `require_env`, `summary`, the script's own
 * `cleanup` first thing in the EXIT trap) without notifications, so neither wget nor timeout.
 * `open_status` (once the scratch directory checks out) removes an earlier run's verify.status and
 * verify.summary; from then on the EXIT trap (SIGTERM, SIGINT, SIGHUP included) writes
 * verify.summary (the success message's text) and then verify.status: "ok", or what the failure
 * notification would have said after `<app>/<item>: ` (`JOB FAILED at step: STEP (exit status N)
 * after S s` and the last 12 lines of the step's error output). It exits 0 then; only when the
 * scratch directory is unusable, so that no status can be left, does it fail loudly.
 */
function verifyStatusPart(job: string): string[] {
  return [
    `JOB=${shq(job)}`,
    "",
    "umask 027",
    "started=$(date -u +%s)",
    'work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-drill.XXXXXX")',
    'step_log="$work/step.log"',
    ': >"$step_log"',
    "step='start'",
    "summary=''",
    "status_open=''",
    "",
    "say() { printf '%s %s\\n' \"$(date -u +%H:%M:%SZ)\" \"$*\"; }",
    "",
    "# run STEP COMMAND...: a failing COMMAND ends the drill (set -e); its stderr is the failure's reason.",
    "run() {",
    "  step=$1",
    "  shift",
    '  say "$step"',
    '  "$@" 2>"$step_log"',
    '  cat "$step_log" >&2',
    "}",
    "",
    "# Always exits 0 once the status can be written: the report container reads it and notifies.",
    "on_exit() {",
    "  code=$?",
    "  trap - EXIT",
    "  # Not even an unset variable may keep the status from being written.",
    "  set +eu",
    "  cleanup",
    '  if [ -n "$status_open" ]; then',
    '    if [ "$code" -eq 0 ]; then',
    "      printf '%s\\n' \"$summary\" >\"$SCRATCH/verify.summary\"",
    "      printf 'ok\\n' >\"$SCRATCH/verify.status\"",
    '      say "done: $summary"',
    "    else",
    '      cat "$step_log" >&2',
    '      reason=$(tail -n 12 "$step_log" | cut -c 1-300)',
    "      printf '%s FAILED at step: %s (exit status %s) after %s s\\n%s\\n' \"$JOB\" \"$step\" \"$code\" \"$(($(date -u +%s) - started))\" \"${reason:-(no error output)}\" >\"$SCRATCH/verify.status\"",
    '      say "FAILED at step: $step (exit status $code); the report step notifies" >&2',
    "    fi",
    '    rm -rf -- "$work"',
    "    exit 0",
    "  fi",
    "  # The scratch directory is unusable: no status can reach the report step, so fail loudly.",
    '  cat "$step_log" >&2',
    '  say "FAILED at step: $step (exit status $code): no status could be written to $SCRATCH" >&2',
    '  rm -rf -- "$work"',
    '  exit "$code"',
    "}",
    ...SIGNAL_TRAPS,
    "",
    "# An earlier run's status (a restarted container) must not be reported for this one.",
    "open_status() {",
    '  rm -f -- "$SCRATCH/verify.status" "$SCRATCH/verify.summary"',
    "  status_open=yes",
    "}",
    "",
  ];
}

// ---------------------------------------------------------------------------------------------
// Volume drills

/**
 * Restore drill of a VolSync restic repository (RESTIC_REPOSITORY, RESTIC_PASSWORD and AWS_* from
 * the mover's Secret). `readDataSubset` is restic's `--read-data-subset` ("n/t", "x%" or a size
 * such as "500M"). Files whose names restic escapes in JSON or that hold glob characters
 * (`*?[\`) are not sampled (restic --include takes patterns). With `canary`, the canary at the
 * volume's root is restored with the samples and checked (see canaryCheckPart).
 */
export function resticVolumeDrillScript(o: { notify: Notify; maxAgeHours: number; sampleFiles: number; readDataSubset: string; canary?: CanaryCheck }): string {
  checkNotify(o.notify);
  checkHours(o.maxAgeHours, "maxAgeHours");
  checkSample(o.sampleFiles);
  checkCanary(o.canary);
  if (!/^(\d+\/\d+|\d+(\.\d+)?%|\d+[kKmMgGtT]?)$/.test(o.readDataSubset)) {
    throw new Error(`readDataSubset: ${JSON.stringify(o.readDataSubset)} must be 'n/t', 'x%' or a size such as '500M'`);
  }
  return render([
    ...header("restore drill of the newest snapshot in a restic repository (check a data subset, restore sample files)", "resticVolumeDrill"),
    ...commonPart(o.notify, "restic volume restore drill", { kind: KIND, cleanup: true, timed: true }),
    `MAX_AGE_HOURS=${o.maxAgeHours}`,
    `SAMPLE_FILES=${o.sampleFiles}`,
    `READ_DATA_SUBSET=${shq(o.readDataSubset)}`,
    "",
    ...timePart(),
    "# Restored directories may be read-only: make them removable before the EXIT trap removes $work.",
    "cleanup() {",
    '  if [ -d "$work/restore" ]; then chmod -R u+rwx "$work/restore" 2>/dev/null; fi',
    "}",
    "",
    ...REQUIRE_RESTIC_ENV_FUNCTION,
    ...resticNewestPart("the repository"),
    "check_age() {",
    "  age=$((now - snap_epoch))",
    '  if [ "$age" -gt $((MAX_AGE_HOURS * 3600)) ]; then',
    '    echo "the newest snapshot ($snap_short, $snap_time) is $(hours_old "$age") old, more than $MAX_AGE_HOURS h: backups of this volume have stopped" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "# Non-empty regular files of the snapshot, '<size> <path>' in listing order (sorted per directory).",
    "list_files() {",
    '  restic --no-cache ls --json --no-lock "$snap_id" >"$work/ls.json"',
    `  sed -n '/"type":"file"/s/.*"path":"\\([^"\\\\]*\\)".*"size":\\([1-9][0-9]*\\).*/\\2 \\1/p' "$work/ls.json" >"$work/files.all"`,
    "  grep -v '[*?[]' \"$work/files.all\" >\"$work/files\" || true",
    '  rm -f -- "$work/ls.json" "$work/files.all"',
    '  total_files=$(($(wc -l <"$work/files")))',
    '  if [ "$total_files" -eq 0 ]; then echo "the newest snapshot ($snap_short) holds no non-empty regular file to restore" >&2; return 1; fi',
    "}",
    "",
    "# Every k-th file, starting half a stride in: SAMPLE_FILES files spread over the whole listing.",
    "pick_sample() {",
    "  stride=$(((total_files + SAMPLE_FILES - 1) / SAMPLE_FILES))",
    "  offset=$(((stride + 1) / 2 % stride))",
    '  awk -v k="$stride" -v o="$offset" \'NR % k == o\' "$work/files" | head -n "$SAMPLE_FILES" >"$work/sample"',
    '  sampled=$(($(wc -l <"$work/sample")))',
    "  sed 's/^[0-9]* /  /' \"$work/sample\"",
    "}",
    "",
    ...(o.canary
      ? [
          "# VolSync's restic mover backs up the volume's root as the snapshot's root (restic backup . in",
          "# /data); a backup of the directory /data itself keeps it under /data.",
          "find_canary() {",
          "  canary_path=''",
          `  if grep -q ${canaryListed("/")} "$work/files"; then canary_path=/${CANARY_FILE}`,
          `  elif grep -q ${canaryListed("/data/")} "$work/files"; then canary_path=/data/${CANARY_FILE}; fi`,
          "}",
          "",
          ...canaryCheckPart(o.canary),
        ]
      : []),
    "restore_sample() {",
    "  set --",
    "  while IFS= read -r line; do",
    '    set -- "$@" --include "${line#* }"',
    '  done <"$work/sample"',
    ...(o.canary ? ['  if [ -n "$canary_path" ]; then set -- "$@" --include "$canary_path"; fi'] : []),
    '  restore_started=$(date -u +%s)',
    '  restic --no-cache restore "$snap_id" --target "$work/restore" "$@"',
    "  restore_seconds=$(($(date -u +%s) - restore_started))",
    "}",
    "",
    "compare_sizes() {",
    "  checked=0",
    "  bytes=0",
    "  bad=0",
    "  while IFS= read -r line; do",
    "    size=${line%% *}",
    "    path=${line#* }",
    '    if [ ! -f "$work/restore$path" ]; then echo "not restored: $path" >&2; bad=$((bad + 1)); continue; fi',
    '    got=$(($(wc -c <"$work/restore$path")))',
    '    if [ "$got" -ne "$size" ]; then echo "$path: restored $got bytes, the snapshot lists $size" >&2; bad=$((bad + 1)); continue; fi',
    "    checked=$((checked + 1))",
    "    bytes=$((bytes + size))",
    '  done <"$work/sample"',
    '  if [ "$bad" -gt 0 ]; then echo "$bad of $sampled sampled files did not restore intact" >&2; return 1; fi',
    "}",
    "",
    "run 'check the environment' require_restic_env",
    "run 'open the restic repository and find the newest snapshot' find_newest",
    'run "check the age of snapshot $snap_short ($snap_time)" check_age',
    'run "restic check --read-data-subset=$READ_DATA_SUBSET" restic --no-cache check --read-data-subset="$READ_DATA_SUBSET"',
    'run "list the files of snapshot $snap_short" list_files',
    "run 'pick the sample files' pick_sample",
    ...(o.canary
      ? [
          `run 'find the canary ${CANARY_FILE}' find_canary`,
          'run "restore $sampled sample files and the canary of snapshot $snap_short" restore_sample',
        ]
      : ['run "restore $sampled sample files of snapshot $snap_short" restore_sample']),
    "run 'compare the restored files with the listing' compare_sizes",
    ...(o.canary ? [`run 'check the canary ${CANARY_FILE}' check_canary "\${canary_path:+$work/restore$canary_path}"`] : []),
    `summary="restored $checked of $total_files files ($bytes bytes) from snapshot $snap_short of $snap_time ($(hours_old "$age") old, $snapshot_count snapshots), sizes match${o.canary ? "$canary_note" : ""};`
      + ' restic check --read-data-subset=$READ_DATA_SUBSET passed; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"',
  ]);
}

function checkSample(sampleFiles: number): void {
  if (!Number.isInteger(sampleFiles) || sampleFiles < 1 || sampleFiles > 1000) throw new Error(`sampleFiles: expected 1 to 1000, got ${sampleFiles}`);
}

/** What a volume drill checks of the canary its canary CronJob writes (domain/jobs/canary.ts). */
export interface CanaryCheck {
  /** The app and volume key the canary must name. */
  app: string;
  volume: string;
  /** Hours the canary may be older than the snapshot it is restored from (domain/canary.ts). */
  maxAgeHours: number;
}

function checkCanary(canary: CanaryCheck | undefined): void {
  if (!canary) return;
  checkName(canary.app, "canary.app");
  checkName(canary.volume, "canary.volume");
  checkHours(canary.maxAgeHours, "canary.maxAgeHours");
}

/** `grep` pattern of a listing line ('<size> <path>') of the canary at `prefix`. */
function canaryListed(prefix: string): string {
  return shq(`^[0-9][0-9]* ${prefix}${CANARY_FILE.replace(/\./g, "\\.")}$`);
}

/**
 * `check_canary FILE`: the restored canary (FILE empty when the snapshot lists none) names this
 * volume, and was written at most CANARY_MAX_AGE_HOURS before the snapshot (snap_epoch); sets
 * canary_note for the summary. Needs timePart's hours_old.
 */
function canaryCheckPart(canary: CanaryCheck): string[] {
  return [
    `CANARY_LINE=${shq(canaryLine(canary.app, canary.volume))}`,
    `CANARY_WORDS=${shq(`${CANARY_PREFIX} `)}`,
    `CANARY_MAX_AGE_HOURS=${canary.maxAgeHours}`,
    "canary_note=''",
    "",
    "check_canary() {",
    '  if [ -z "$1" ] || [ ! -f "$1" ] || [ ! -s "$1" ]; then',
    `    echo "the newest snapshot ($snap_short) holds no canary file ${CANARY_FILE}: the backup does not contain what the canary job wrote to the volume" >&2`,
    "    return 1",
    "  fi",
    "  canary_name='' canary_epoch='' canary_time='' second='' third=''",
    '  { IFS= read -r canary_name || true; IFS= read -r second || true; IFS= read -r third || true; } <"$1"',
    "  case $second in epoch=*) canary_epoch=${second#epoch=} ;; esac",
    "  case $third in time=*) canary_time=${third#time=} ;; esac",
    "  case $canary_name in",
    '    "$CANARY_WORDS"*) ;;',
    `    *) echo "the canary file ${CANARY_FILE} of snapshot $snap_short is malformed: its first line is not '${CANARY_PREFIX} <app>/<volume>'" >&2; return 1 ;;`,
    "  esac",
    "  # At most 12 digits: no overflow in $((...)), and no year beyond 33658.",
    "  case $canary_epoch in",
    `    ''|*[!0-9]*|?????????????*) echo "the canary file ${CANARY_FILE} of snapshot $snap_short is malformed: no 'epoch=<seconds>' second line" >&2; return 1 ;;`,
    "  esac",
    "  case $canary_time in",
    `    ''|*[!0-9TZ:-]*) echo "the canary file ${CANARY_FILE} of snapshot $snap_short is malformed: no 'time=<UTC time>' third line" >&2; return 1 ;;`,
    "  esac",
    '  if [ "$canary_name" != "$CANARY_LINE" ]; then',
    '    other=${canary_name#"$CANARY_WORDS"}',
    `    echo "the canary of snapshot $snap_short names $other, not ${canary.app}/${canary.volume}: the backup holds another volume's files (a ReplicationSource of the wrong claim, or one repository written for two volumes)" >&2`,
    "    return 1",
    "  fi",
    "  canary_age=$((snap_epoch - canary_epoch))",
    "  # Written before the mover read the volume, so never after the snapshot but for clock skew.",
    '  if [ "$canary_age" -lt -3600 ]; then',
    '    echo "the canary ($canary_time) is $(hours_old $((0 - canary_age))) newer than snapshot $snap_short ($snap_time): the clocks of the canary job and of the mover disagree, or the canary is garbled" >&2',
    "    return 1",
    "  fi",
    '  if [ "$canary_age" -lt 0 ]; then canary_age=0; fi',
    '  if [ "$canary_age" -gt $((CANARY_MAX_AGE_HOURS * 3600)) ]; then',
    '    echo "the canary (written $canary_time) is $(hours_old "$canary_age") older than snapshot $snap_short ($snap_time), more than $CANARY_MAX_AGE_HOURS h: the snapshot does not hold recent writes to the volume, or the canary job has stopped writing" >&2',
    "    return 1",
    "  fi",
    '  canary_note="; canary of $canary_time found, $(hours_old "$canary_age") older than the snapshot"',
    "}",
    "",
  ];
}

/**
 * `find_newest [restic snapshot flags...]`: opens the repository (one restic call less than a
 * separate `restic cat config`: each call derives the key anew) and sets snap_id, snap_short,
 * snap_time, snap_epoch and snapshot_count from `restic snapshots --json` (newest by time).
 */
function resticNewestPart(where: string): string[] {
  return [
    "find_newest() {",
    '  if ! restic --no-cache snapshots --json --no-lock "$@" >"$work/snapshots.json"; then',
    '    echo "cannot open the restic repository: unreachable, missing, or the wrong password (see above)" >&2',
    "    return 1",
    "  fi",
    "  # One -E pattern: busybox grep -o reports only the last of several -e patterns.",
    '  grep -o -E \'"(time|id)":"[^"]*"\' "$work/snapshots.json" >"$work/fields" || true',
    "  snapshot_count=0",
    "  snap_epoch=''",
    "  ft=''",
    "  fid=''",
    "  while IFS= read -r field; do",
    "    case $field in",
    "      '\"time\":\"'*) ft=${field#'\"time\":\"'}; ft=${ft%'\"'} ;;",
    "      '\"id\":\"'*) fid=${field#'\"id\":\"'}; fid=${fid%'\"'} ;;",
    "    esac",
    '    if [ -n "$ft" ] && [ -n "$fid" ]; then',
    '      fe=$(rfc3339_epoch "$ft")',
    "      snapshot_count=$((snapshot_count + 1))",
    '      if [ -z "$snap_epoch" ] || [ "$fe" -gt "$snap_epoch" ]; then snap_epoch=$fe; snap_id=$fid; snap_time=$ft; fi',
    "      ft=''",
    "      fid=''",
    "    fi",
    '  done <"$work/fields"',
    '  rm -f -- "$work/snapshots.json" "$work/fields"',
    '  if [ "$snapshot_count" -eq 0 ]; then',
    `    echo "${where} holds no snapshot: nothing was ever backed up to it, or everything was pruned" >&2`,
    "    return 1",
    "  fi",
    "  snap_short=$(printf '%s' \"$snap_id\" | cut -c 1-8)",
    "}",
    "",
  ];
}

/**
 * Restore drill of a VolSync Kopia repository (KOPIA_REPOSITORY, KOPIA_PASSWORD and the S3 or
 * SFTP variables of the mover's Secret, connected as domain/jobs/restoreCheck.ts does), for the
 * snapshots of `identity`. UNTESTED against a real Kopia repository (kopia is not installed where
 * the tests run): it parses `kopia snapshot list --json` and `kopia ls -l -r`, whose formats are
 * taken from Kopia's source, not from a run. With `canary`, the canary at the root of the
 * snapshot (the mover's /data) is restored after the samples and checked (see canaryCheckPart).
 */
export function kopiaVolumeDrillScript(o: {
  notify: Notify;
  maxAgeHours: number;
  sampleFiles: number;
  verifyPercent: number;
  identity: { username: string; hostname: string };
  canary?: CanaryCheck;
}): string {
  checkNotify(o.notify);
  checkHours(o.maxAgeHours, "maxAgeHours");
  checkSample(o.sampleFiles);
  checkCanary(o.canary);
  if (!Number.isInteger(o.verifyPercent) || o.verifyPercent < 0 || o.verifyPercent > 100) throw new Error(`verifyPercent: expected 0 to 100, got ${o.verifyPercent}`);
  checkName(o.identity.username, "identity.username");
  checkName(o.identity.hostname, "identity.hostname");
  return render([
    ...header("restore drill of the newest snapshot in a Kopia repository (verify a data subset, restore sample files)", "kopiaVolumeDrill"),
    ...commonPart(o.notify, "kopia volume restore drill", { kind: KIND, cleanup: true, timed: true }),
    `MAX_AGE_HOURS=${o.maxAgeHours}`,
    `SAMPLE_FILES=${o.sampleFiles}`,
    `VERIFY_PERCENT=${o.verifyPercent}`,
    `KOPIA_USER=${shq(o.identity.username)}`,
    `KOPIA_HOST=${shq(o.identity.hostname)}`,
    'config="$work/kopia/repository.config"',
    'export KOPIA_CACHE_DIRECTORY="$work/kopia/cache"',
    'export KOPIA_LOG_DIR="$work/kopia/logs"',
    "export KOPIA_CHECK_FOR_UPDATES=false",
    "",
    ...timePart(),
    "cleanup() {",
    '  if [ -d "$work/restore" ]; then chmod -R u+rwx "$work/restore" 2>/dev/null; fi',
    "}",
    "",
    kopiaConnectFunction('"$work/kopia"', "restore drill", { keysFromEnvironment: true }),
    "",
    "open_repository() {",
    '  mkdir -p "$work/kopia"',
    "  if ! connect; then",
    '    echo "cannot open the Kopia repository: unreachable, missing, or the wrong password (see above)" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "# Newest snapshot of KOPIA_USER@KOPIA_HOST: snap_id, snap_time, snap_epoch, snap_root (root object).",
    "find_newest() {",
    '  kopia --config-file="$config" snapshot list --all --json >"$work/snapshots.json"',
    "  tr -d ' \\n\\t\\r' <\"$work/snapshots.json\" | grep -o -E '\"(id|host|userName|startTime|obj)\":\"[^\"]*\"' >\"$work/fields\" || true",
    "  snapshot_count=0",
    "  snap_epoch=''",
    "  fid='' fhost='' fuser='' ftime='' fobj=''",
    "  while IFS= read -r field; do",
    "    value=${field#*:\\\"}",
    "    value=${value%\\\"}",
    "    case $field in",
    "      '\"id\":'*) fid=$value fhost='' fuser='' ftime='' fobj='' ;;",
    "      '\"host\":'*) fhost=$value ;;",
    "      '\"userName\":'*) fuser=$value ;;",
    "      '\"startTime\":'*) ftime=$value ;;",
    "      '\"obj\":'*) fobj=$value ;;",
    "    esac",
    '    if [ -n "$fid" ] && [ -n "$ftime" ] && [ -n "$fobj" ]; then',
    '      if [ "$fhost" = "$KOPIA_HOST" ] && [ "$fuser" = "$KOPIA_USER" ]; then',
    '        fe=$(rfc3339_epoch "$ftime")',
    "        snapshot_count=$((snapshot_count + 1))",
    '        if [ -z "$snap_epoch" ] || [ "$fe" -gt "$snap_epoch" ]; then snap_epoch=$fe; snap_id=$fid; snap_time=$ftime; snap_root=$fobj; fi',
    "      fi",
    "      fid=''",
    "      fobj=''",
    "    fi",
    '  done <"$work/fields"',
    '  if [ "$snapshot_count" -eq 0 ]; then',
    '    echo "the repository holds no snapshot of $KOPIA_USER@$KOPIA_HOST: nothing was ever backed up, or everything expired" >&2',
    "    return 1",
    "  fi",
    "  snap_short=$(printf '%s' \"$snap_id\" | cut -c 1-8)",
    "}",
    "",
    "check_age() {",
    "  age=$((now - snap_epoch))",
    '  if [ "$age" -gt $((MAX_AGE_HOURS * 3600)) ]; then',
    '    echo "the newest snapshot ($snap_short, $snap_time) is $(hours_old "$age") old, more than $MAX_AGE_HOURS h: backups of this volume have stopped" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "# `kopia ls -l -r`: '<mode> <size> <date> <time> <zone> <object id> <path>'; regular files start with '-'.",
    "list_files() {",
    '  kopia --config-file="$config" ls -l -r "$snap_root" >"$work/ls.txt"',
    "  sed -n 's/^-[^ ]* *\\([1-9][0-9]*\\) .* I*[g-z]\\{0,1\\}[0-9a-f]\\{32,\\}  *\\(.*\\)$/\\1 \\2/p' \"$work/ls.txt\" >\"$work/files\"",
    '  rm -f -- "$work/ls.txt"',
    '  total_files=$(($(wc -l <"$work/files")))',
    '  if [ "$total_files" -eq 0 ]; then echo "the newest snapshot ($snap_short) holds no non-empty regular file to restore" >&2; return 1; fi',
    "}",
    "",
    "pick_sample() {",
    "  stride=$(((total_files + SAMPLE_FILES - 1) / SAMPLE_FILES))",
    "  offset=$(((stride + 1) / 2 % stride))",
    '  awk -v k="$stride" -v o="$offset" \'NR % k == o\' "$work/files" | head -n "$SAMPLE_FILES" >"$work/sample"',
    '  sampled=$(($(wc -l <"$work/sample")))',
    "}",
    "",
    ...(o.canary
      ? [
          "# `kopia ls -r` lists paths relative to the snapshot's root, the volume's root.",
          "restore_canary() {",
          "  canary_file=''",
          `  if grep -q ${canaryListed("")} "$work/files"; then`,
          `    kopia --config-file="$config" restore "$snap_root/${CANARY_FILE}" "$work/canary"`,
          '    canary_file="$work/canary"',
          "  fi",
          "}",
          "",
          ...canaryCheckPart(o.canary),
        ]
      : []),
    "# Single-file restores: kopia restore <root object>/<path> <file>.",
    "restore_sample() {",
    '  mkdir -p "$work/restore"',
    "  n=0",
    '  restore_started=$(date -u +%s)',
    "  while IFS= read -r line; do",
    "    n=$((n + 1))",
    '    kopia --config-file="$config" restore "$snap_root/${line#* }" "$work/restore/$n"',
    '  done <"$work/sample"',
    "  restore_seconds=$(($(date -u +%s) - restore_started))",
    "}",
    "",
    "compare_sizes() {",
    "  checked=0",
    "  bytes=0",
    "  bad=0",
    "  n=0",
    "  while IFS= read -r line; do",
    "    n=$((n + 1))",
    "    size=${line%% *}",
    "    path=${line#* }",
    '    if [ ! -f "$work/restore/$n" ]; then echo "not restored: $path" >&2; bad=$((bad + 1)); continue; fi',
    '    got=$(($(wc -c <"$work/restore/$n")))',
    '    if [ "$got" -ne "$size" ]; then echo "$path: restored $got bytes, the snapshot lists $size" >&2; bad=$((bad + 1)); continue; fi',
    "    checked=$((checked + 1))",
    "    bytes=$((bytes + size))",
    '  done <"$work/sample"',
    '  if [ "$bad" -gt 0 ]; then echo "$bad of $sampled sampled files did not restore intact" >&2; return 1; fi',
    "}",
    "",
    "run 'check the environment' require_env KOPIA_REPOSITORY KOPIA_PASSWORD",
    "run 'open the Kopia repository' open_repository",
    'run "find the newest snapshot of $KOPIA_USER@$KOPIA_HOST" find_newest',
    'run "check the age of snapshot $snap_short ($snap_time)" check_age',
    'run "kopia snapshot verify --verify-files-percent=$VERIFY_PERCENT" kopia --config-file="$config" snapshot verify --verify-files-percent="$VERIFY_PERCENT" --directory-id="$snap_root"',
    'run "list the files of snapshot $snap_short" list_files',
    "run 'pick the sample files' pick_sample",
    'run "restore $sampled sample files of snapshot $snap_short" restore_sample',
    "run 'compare the restored files with the listing' compare_sizes",
    ...(o.canary
      ? [
          `run "restore the canary ${CANARY_FILE} of snapshot $snap_short" restore_canary`,
          `run 'check the canary ${CANARY_FILE}' check_canary "$canary_file"`,
        ]
      : []),
    `summary="restored $checked of $total_files files ($bytes bytes) from snapshot $snap_short of $snap_time ($(hours_old "$age") old, $snapshot_count snapshots), sizes match${o.canary ? "$canary_note" : ""};`
      + ' kopia snapshot verify ($VERIFY_PERCENT% of files read) passed; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Dump drills: fetch (init container)

function checkExt(ext: string | undefined): string {
  if (ext === undefined) return "*";
  if (!Object.values(DUMP_EXTENSIONS).includes(ext)) throw new Error(`ext: ${JSON.stringify(ext)} is not one of ${Object.values(DUMP_EXTENSIONS).join(", ")}`);
  return ext;
}

/**
 * `pick_newest LIST`: of the names in LIST (one per line, maybe with a directory), the newest
 * `<item>-<timestamp>.<ext>` by the timestamp (never by mtime); sets newest (the line), newest_name,
 * newest_stamp, and checks its age against MAX_AGE_HOURS.
 */
function newestDumpPart(): string[] {
  return [
    "# pick_newest FILE: the newest '<item>-<timestamp>.<ext>' named in FILE (one name or path a line).",
    "pick_newest() {",
    "  newest='' newest_name='' newest_stamp='' newest_n=0",
    "  candidates=0",
    "  while IFS= read -r entry; do",
    "    name=${entry##*/}",
    '    case $name in',
    `      "$ITEM"-${STAMP_GLOB}.*) ;;`,
    "      *) continue ;;",
    "    esac",
    '    ext=${name#"$ITEM"-????????T??????Z.}',
    '    if [ "$EXT" != "*" ] && [ "$ext" != "$EXT" ]; then continue; fi',
    '    case $ext in dump | sql.gz | sqlite.gz | rdb.gz) ;; *) continue ;; esac',
    "    stamp=${name#\"$ITEM\"-}",
    "    stamp=${stamp%%.*}",
    "    # YYYYmmddHHMMSS as a number: later is larger.",
    "    stamp_n=${stamp%T*}${stamp#*T}",
    "    stamp_n=${stamp_n%Z}",
    "    candidates=$((candidates + 1))",
    '    if [ -z "$newest_stamp" ] || [ "$stamp_n" -gt "$newest_n" ]; then newest=$entry; newest_name=$name; newest_stamp=$stamp; newest_n=$stamp_n; fi',
    '  done <"$1"',
    '  if [ "$candidates" -eq 0 ]; then',
    '    echo "no dump of $ITEM (${ITEM}-<timestamp>.$EXT) in $FROM" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "check_dump_age() {",
    '  dump_epoch=$(stamp_epoch "$newest_stamp")',
    "  age=$((now - dump_epoch))",
    '  if [ "$age" -gt $((MAX_AGE_HOURS * 3600)) ]; then',
    '    echo "the newest dump of $ITEM in $FROM, $newest_name, is $(hours_old "$age") old, more than $MAX_AGE_HOURS h: the dumps or their copies have stopped" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "new_dump_dir() {",
    '  if [ -e "$SCRATCH/dump" ]; then echo "$SCRATCH/dump already exists: the scratch directory must be empty" >&2; return 1; fi',
    '  mkdir "$SCRATCH/dump"',
    "}",
    "",
    "record_dump() {",
    '  if [ ! -s "$SCRATCH/dump/$newest_name" ]; then echo "the fetched $newest_name is missing or empty" >&2; return 1; fi',
    '  size=$(($(wc -c <"$SCRATCH/dump/$newest_name")))',
    '  info file "$newest_name"',
    '  info age "$age"',
    '  info size "$size"',
    '  info from "$FROM"',
    "}",
    "",
  ];
}

function fetchVars(item: string, maxAgeHours: number, ext: string | undefined): string[] {
  checkName(item, "item");
  checkHours(maxAgeHours, "maxAgeHours");
  return [`ITEM=${shq(item)}`, `EXT=${shq(checkExt(ext))}`, `MAX_AGE_HOURS=${maxAgeHours}`];
}

/**
 * Fetch step: copies the newest `<item>-<YYYYmmddTHHMMSSZ>.<ext>` from the NAS backup directory
 * (the dump jobs' directory, mounted read-only) into `$SCRATCH/dump/`. `ext` narrows the search
 * to one kind of dump (default: any of dump, sql.gz, sqlite.gz, rdb.gz).
 */
export function nasDumpFetchScript(o: { dir: string; item: string; maxAgeHours: number; ext?: string }): string {
  const dir = checkDir(o.dir, "dir");
  return render([
    ...header("fetch the newest dump of an item from the NAS backup directory for a restore drill", "nasDumpFetch"),
    ...fetchVars(o.item, o.maxAgeHours, o.ext),
    `DIR=${shq(dir)}`,
    'FROM="the NAS directory $DIR"',
    "",
    ...fetchPart("fetch of the newest dump from the NAS"),
    ...timePart(),
    ...newestDumpPart(),
    "list_dir() {",
    '  if [ ! -d "$DIR" ]; then echo "the backup directory $DIR does not exist (is the NAS share mounted?)" >&2; return 1; fi',
    '  : >"$work/names"',
    `  for f in "$DIR/$ITEM"-${STAMP_GLOB}.*; do`,
    "    if [ -f \"$f\" ]; then printf '%s\\n' \"$f\" >>\"$work/names\"; fi",
    "  done",
    "}",
    "",
    'run "list the dumps of $ITEM in $DIR" list_dir',
    'run "find the newest dump of $ITEM" pick_newest "$work/names"',
    'run "check the age of $newest_name" check_dump_age',
    "run 'create the dump directory in scratch' new_dump_dir",
    'run "copy $newest_name from the NAS" cp "$newest" "$SCRATCH/dump/$newest_name"',
    'run "record $newest_name for the verify step" record_dump',
    'summary="fetched $newest_name ($size bytes, $(hours_old "$age") old) from $FROM"',
  ]);
}

/**
 * Fetch step: restores the newest dump of the item from the offsite restic repository that
 * scripts.ts's resticOffsite writes: snapshots tagged `dumps` of the path `dir` (the dump
 * directory, backed up under its absolute path), optionally of one `host` (resticOffsite's host,
 * the cluster name). The newest snapshot is searched; the dump's age is that of its name's
 * timestamp, so a stopped offsite copy shows as a stale dump.
 */
export function resticDumpFetchScript(o: { item: string; dir: string; maxAgeHours: number; host?: string; ext?: string }): string {
  const dir = checkDir(o.dir, "dir");
  if (o.host !== undefined) checkName(o.host, "host");
  const hostFlag = o.host !== undefined ? ` --host ${shq(o.host)}` : "";
  return render([
    ...header("fetch the newest dump of an item from the offsite restic repository for a restore drill", "resticDumpFetch"),
    ...fetchVars(o.item, o.maxAgeHours, o.ext),
    `DIR=${shq(dir)}`,
    'FROM="the newest restic snapshot of $DIR"',
    "",
    ...fetchPart("fetch of the newest dump from restic"),
    ...timePart(),
    ...newestDumpPart(),
    ...REQUIRE_RESTIC_ENV_FUNCTION,
    ...resticNewestPart(`the repository (tag ${RESTIC_TAG}, path $DIR)`),
    "list_snapshot() {",
    '  restic --no-cache ls --json --no-lock "$snap_id" >"$work/ls.json"',
    `  sed -n '/"type":"file"/s/.*"path":"\\([^"\\\\]*\\)".*/\\1/p' "$work/ls.json" >"$work/paths"`,
    "  # Only the files directly in DIR: the app's dump directory.",
    '  while IFS= read -r p; do',
    "    if [ \"${p%/*}\" = \"$DIR\" ]; then printf '%s\\n' \"$p\"; fi",
    '  done <"$work/paths" >"$work/names"',
    '  rm -f -- "$work/ls.json" "$work/paths"',
    "}",
    "",
    "restore_dump() {",
    '  restic --no-cache restore "$snap_id" --target "$work/restore" --include "$newest"',
    '  mv -f -- "$work/restore$newest" "$SCRATCH/dump/$newest_name"',
    "}",
    "",
    "run 'check the environment' require_restic_env",
    `run "open the restic repository and find the newest snapshot of $DIR" find_newest --tag ${RESTIC_TAG} --path "$DIR"${hostFlag}`,
    'FROM="restic snapshot $snap_short of $snap_time"',
    'run "list snapshot $snap_short" list_snapshot',
    'run "find the newest dump of $ITEM" pick_newest "$work/names"',
    'run "check the age of $newest_name" check_dump_age',
    "run 'create the dump directory in scratch' new_dump_dir",
    'run "restore $newest_name from snapshot $snap_short" restore_dump',
    'run "record $newest_name for the verify step" record_dump',
    'summary="fetched $newest_name ($size bytes, $(hours_old "$age") old) from $FROM"',
  ]);
}

/**
 * Fetch step: pulls the newest dump of the item from the offsite NAS over SSH, the way
 * rsyncOffsite pushes (same SSH_KEY_FILE, SSH_KNOWN_HOSTS_FILE, pinned host key, no ssh config):
 * `rsync --list-only` of `remoteDir`, then `rsync` of that one file. `user`, `host` and `port`
 * are the offsite target's, as given to rsyncOffsite; `remoteDir` is the directory rsyncOffsite
 * mirrors the app's dumps to (`<path>/<cluster>/dumps/<app>`).
 */
export function rsyncDumpFetchScript(o: { item: string; remoteDir: string; maxAgeHours: number; user: string; host: string; port: number; ext?: string }): string {
  const remoteDir = checkSshTarget({ user: o.user, host: o.host, port: o.port, path: o.remoteDir });
  return render([
    ...header(`fetch the newest dump of an item from ${o.user}@${o.host}:${remoteDir} over SSH for a restore drill`, "rsyncDumpFetch"),
    ...fetchVars(o.item, o.maxAgeHours, o.ext),
    `REMOTE=${shq(`${o.user}@${o.host}:${remoteDir}`)}`,
    `SSH_PORT=${o.port}`,
    'FROM="$REMOTE"',
    "",
    ...fetchPart("fetch of the newest dump over SSH"),
    ...timePart(),
    ...newestDumpPart(),
    ...sshFilesCheckPart(),
    "list_remote() {",
    ...sshCommandLines(),
    '  rsync --list-only -e "$ssh_cmd" "$REMOTE/" >"$work/listing"',
    "  # '<mode> <size> <date> <time> <name>': names of dumps hold no spaces.",
    "  sed -n 's/^-.* \\([^ ]*\\)$/\\1/p' \"$work/listing\" >\"$work/names\"",
    "}",
    "",
    "pull_dump() {",
    ...sshCommandLines(),
    '  rsync -t -e "$ssh_cmd" "$REMOTE/$newest_name" "$SCRATCH/dump/$newest_name"',
    "}",
    "",
    "run 'check the SSH key and known_hosts files' check_ssh_files",
    'run "list $REMOTE" list_remote',
    'run "find the newest dump of $ITEM" pick_newest "$work/names"',
    'run "check the age of $newest_name" check_dump_age',
    "run 'create the dump directory in scratch' new_dump_dir",
    'run "rsync $newest_name from $REMOTE" pull_dump',
    'run "record $newest_name for the verify step" record_dump',
    'summary="fetched $newest_name ($size bytes, $(hours_old "$age") old) from $FROM"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Dump drills: verify (main container)

/** The PostgreSQL bootstrap superuser of throwaway servers: not a role any dump creates. */
const DRILL_SUPERUSER = "homelab_drill";

/**
 * A throwaway PostgreSQL server in "$PG_ROOT" (data and socket), listening on nothing but a
 * unix socket: `start_server` (initdb first unless told not to), `stop_server`, `psql_at DB SQL`.
 */
function throwawayServerPart(): string[] {
  return [
    "PG_DATA=''",
    "PG_LOG=''",
    "",
    "# psql_at DATABASE SQL: one query, unaligned, tuples only, stopping at the first error.",
    "psql_at() {",
    '  psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"',
    "}",
    "",
    "# Stops the throwaway server if it runs (the EXIT trap calls this too).",
    "stop_server() {",
    '  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then',
    '    pg_ctl -D "$PG_DATA" -m "${1:-fast}" -w -t 120 stop >/dev/null',
    "  fi",
    "}",
    "",
    "# start_server DATA SOCKET_DIR: pg_ctl start, waiting until it accepts connections; the log's tail on failure.",
    "start_server() {",
    '  PG_DATA=$1',
    '  PG_LOG="$work/server.log"',
    '  mkdir -p "$2"',
    '  export PGHOST="$2" PGPORT=5432',
    "  unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGDATABASE PGPASSWORD PGPASSFILE PGSSLMODE",
    '  if ! pg_ctl -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start >/dev/null; then',
    '    echo "the server did not start; the end of its log:" >&2',
    '    tail -n 15 "$PG_LOG" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "# count_tables: databases and user tables of the running server (sets databases, tables).",
    "count_tables() {",
    "  databases=0",
    "  tables=0",
    "  psql_at postgres \"SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1\" >\"$work/databases\"",
    "  while IFS= read -r db; do",
    "    n=$(psql_at \"$db\" \"SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')\")",
    "    databases=$((databases + 1))",
    "    tables=$((tables + n))",
    '  done <"$work/databases"',
    "}",
    "",
  ];
}

/**
 * Verify step: proves the fetched dump restores. postgres: a throwaway server (initdb into
 * TMPDIR, a unix socket only), `pg_restore --exit-on-error --no-owner --no-privileges` into a
 * fresh database, at least one user table, and `checkQuery` (run in that database) must return a
 * row. postgres-all: `gzip -t`, pg_dumpall's closing line, `psql -v ON_ERROR_STOP=1` into a
 * throwaway server whose bootstrap superuser is not `postgres` (so the dump's CREATE ROLE
 * postgres succeeds), at least one user table in some database, and `checkQuery` in
 * `checkDatabase` (default postgres). sqlite: `PRAGMA integrity_check` says ok, at least one
 * table, `checkQuery`. redis: `redis-check-rdb` passes (keys are counted, not required).
 * initdb needs the container's uid in /etc/passwd (the postgres images have postgres and nobody).
 */
export function dumpVerifyScript(o: { engine: DumpEngine; item: string; notify: Notify; checkQuery?: string; checkDatabase?: string; startTimeoutSeconds?: number }): string {
  checkNotify(o.notify);
  checkName(o.item, "item");
  checkQueryText(o.checkQuery);
  if (o.engine === "redis" && o.checkQuery !== undefined) throw new Error("checkQuery: a Redis dump has no query to run");
  if (o.checkDatabase !== undefined) {
    if (o.engine !== "postgres-all") throw new Error("checkDatabase: only postgres-all restores more than one database");
    checkDatabaseName(o.checkDatabase, "checkDatabase");
  }
  const timeout = o.startTimeoutSeconds ?? 300;
  if (!Number.isInteger(timeout) || timeout < 10) throw new Error(`startTimeoutSeconds: expected at least 10, got ${timeout}`);
  const ext = DUMP_EXTENSIONS[o.engine];
  const tools = DUMP_VERIFY_TOOLS[o.engine];
  const lines = [
    ...header(`restore drill: prove the fetched ${o.engine} dump restores`, "dumpVerify", tools),
    ...commonPart(o.notify, `${o.engine} dump restore drill`, { kind: KIND, cleanup: true, timed: true }),
    `DUMP_ITEM=${shq(o.item)}`,
    `EXT=${shq(ext)}`,
    `CHECK_QUERY=${shq(o.checkQuery ?? "")}`,
    `START_TIMEOUT=${timeout}`,
    "",
    ...scratchPart(),
    ...fetchStatusPart(),
    "check_dump() {",
    '  case $fetch_file in',
    '    "$DUMP_ITEM"-*."$EXT") ;;',
    '    *) echo "the fetch step fetched \'$fetch_file\', not a $EXT dump of $DUMP_ITEM" >&2; return 1 ;;',
    "  esac",
    '  dump="$SCRATCH/dump/$fetch_file"',
    '  if [ ! -r "$dump" ]; then echo "$dump is missing or unreadable" >&2; return 1; fi',
    "}",
    "",
    "checked=''",
    "",
  ];
  const steps = [
    "run 'check the scratch directory' check_scratch",
    "run 'fetch the newest dump (init container)' read_fetch",
    'run "check the fetched dump $fetch_file" check_dump',
    "restore_started=$(date -u +%s)",
  ];
  const what = `$fetch_file ($fetch_size bytes, $(hours_old "$fetch_age") old, from $fetch_from, fetched in $fetch_seconds s)`;
  if (o.engine === "postgres" || o.engine === "postgres-all") {
    lines.push(
      ...timePart(),
      ...throwawayServerPart(),
      "cleanup() {",
      "  stop_server immediate",
      "}",
      "",
      `DRILL_USER=${DRILL_SUPERUSER}`,
      "",
      "# check_query_pg DATABASE: CHECK_QUERY, when set, must return a row.",
      "check_query_pg() {",
      '  if [ -z "$CHECK_QUERY" ]; then return 0; fi',
      '  result=$(psql_at "$1" "$CHECK_QUERY")',
      '  if [ -z "$result" ]; then echo "the check query returned no row in $1: $CHECK_QUERY" >&2; return 1; fi',
      "  checked=', check query returned a row'",
      "}",
      "",
      "new_cluster() {",
      '  case $work in *[!A-Za-z0-9._/-]*) echo "unsupported characters in TMPDIR: $work" >&2; return 1 ;; esac',
      '  initdb -D "$work/pg/data" -U "$DRILL_USER" --auth=trust --no-sync -E UTF8 --locale=C >/dev/null',
      "  # Only a unix socket: nothing else in the pod, or the network, can reach the restored data.",
      "  printf \"listen_addresses = ''\\nunix_socket_directories = '%s'\\nfsync = off\\nsynchronous_commit = off\\nfull_page_writes = off\\nshared_buffers = 64MB\\nmax_wal_size = 1GB\\n\" \"$work/pg/run\" >>\"$work/pg/data/postgresql.conf\"",
      "}",
      "",
    );
    steps.push(
      "run 'create a throwaway PostgreSQL cluster (initdb)' new_cluster",
      'run \'start the throwaway server\' start_server "$work/pg/data" "$work/pg/run"',
      'export PGUSER="$DRILL_USER"',
    );
    if (o.engine === "postgres") {
      lines.push(
        "restore_dump() {",
        "  psql_at postgres 'CREATE DATABASE drill_restore'",
        '  pg_restore --exit-on-error --no-owner --no-privileges -d drill_restore "$dump"',
        "}",
        "",
        "sanity() {",
        "  tables=$(psql_at drill_restore \"SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')\")",
        '  if [ "$tables" -eq 0 ]; then echo "the restored database has no tables" >&2; return 1; fi',
        "  check_query_pg drill_restore",
        "}",
        "",
      );
      steps.push(
        'run "pg_restore --exit-on-error of $fetch_file into a fresh database" restore_dump',
        "run 'sanity query: user tables exist' sanity",
        "restore_seconds=$(($(date -u +%s) - restore_started))",
        "run 'stop the throwaway server' stop_server",
        `summary="restored ${what}: $tables tables$checked; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"`,
      );
    } else {
      const database = o.checkDatabase ?? "postgres";
      lines.push(
        `CHECK_DATABASE=${shq(database)}`,
        "",
        "test_dump() {",
        '  gzip -t "$dump"',
        "  if ! gzip -dc \"$dump\" | tail -n 20 | grep -q 'PostgreSQL database cluster dump complete'; then",
        "    echo \"the dump lacks pg_dumpall's closing 'cluster dump complete' line: it is truncated\" >&2",
        "    return 1",
        "  fi",
        "}",
        "",
        "# gunzip | psql without pipefail: gzip's status goes through a file.",
        "restore_dump() {",
        '  { status=0; gzip -dc "$dump" || status=$?; echo "$status" >"$work/gzip.status"; } | psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null',
        '  status=$(cat "$work/gzip.status")',
        '  if [ "$status" -ne 0 ]; then echo "gzip -dc exited with status $status" >&2; return 1; fi',
        "}",
        "",
        "sanity() {",
        "  count_tables",
        '  if [ "$tables" -eq 0 ]; then echo "the restored cluster has no user tables in any of its $databases databases" >&2; return 1; fi',
        '  check_query_pg "$CHECK_DATABASE"',
        "}",
        "",
      );
      steps.splice(3, 0, "run \"test $fetch_file (gzip -t, closing line)\" test_dump");
      steps.push(
        'run "psql -v ON_ERROR_STOP=1 of $fetch_file into the throwaway server" restore_dump',
        "run 'sanity query: user tables exist' sanity",
        "restore_seconds=$(($(date -u +%s) - restore_started))",
        "run 'stop the throwaway server' stop_server",
        `summary="restored ${what}: $databases databases, $tables tables$checked; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"`,
      );
    }
  } else if (o.engine === "sqlite") {
    lines.push(
      ...timePart(),
      "cleanup() { :; }",
      "",
      "restore_db() {",
      '  gzip -dc "$dump" >"$work/restored.db"',
      "}",
      "",
      "sanity() {",
      "  result=$(sqlite3 -bail \"$work/restored.db\" 'PRAGMA integrity_check;')",
      '  if [ "$result" != ok ]; then printf \'integrity_check: %s\\n\' "$result" >&2; return 1; fi',
      "  tables=$(sqlite3 -bail \"$work/restored.db\" \"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';\")",
      '  if [ "$tables" -eq 0 ]; then echo "the restored database has no tables" >&2; return 1; fi',
      '  if [ -n "$CHECK_QUERY" ]; then',
      '    result=$(sqlite3 -bail "$work/restored.db" "$CHECK_QUERY")',
      '    if [ -z "$result" ]; then echo "the check query returned no row: $CHECK_QUERY" >&2; return 1; fi',
      "    checked=', check query returned a row'",
      "  fi",
      "}",
      "",
    );
    steps.push(
      'run "gunzip $fetch_file" restore_db',
      "run 'PRAGMA integrity_check and tables' sanity",
      "restore_seconds=$(($(date -u +%s) - restore_started))",
      `summary="restored ${what}: integrity_check ok, $tables tables$checked; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"`,
    );
  } else {
    lines.push(
      ...timePart(),
      "cleanup() { :; }",
      "",
      "restore_rdb() {",
      '  gzip -dc "$dump" >"$work/restored.rdb"',
      "}",
      "",
      "check_rdb() {",
      '  if ! redis-check-rdb "$work/restored.rdb" >"$work/check.out" 2>&1; then',
      '    tail -n 12 "$work/check.out" >&2',
      "    return 1",
      "  fi",
      "  keys=$(sed -n 's/^\\[info\\] \\([0-9][0-9]*\\) keys read.*/\\1/p' \"$work/check.out\")",
      "}",
      "",
    );
    steps.push(
      'run "gunzip $fetch_file" restore_rdb',
      "run 'redis-check-rdb' check_rdb",
      "restore_seconds=$(($(date -u +%s) - restore_started))",
      `summary="restored ${what}: redis-check-rdb ok, \${keys:-0} keys; restore took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"`,
    );
  }
  return render([...lines, ...steps]);
}

// ---------------------------------------------------------------------------------------------
// CloudNativePG with pgBackRest

/** Options of pgbackrestVerifyScript: `notify` is required in "notify" mode and refused in "status-file" mode. */
export type PgbackrestVerifyOptions = {
  checkQuery?: string;
  checkDatabase?: string;
  superuser?: string;
  startTimeoutSeconds?: number;
} & ({ report?: "notify"; notify: Notify } | { report: "status-file"; notify?: undefined });

/**
 * Fetch step (an image with pgbackrest): `pgbackrest info --repo=<n> --output=json` for the stanza
 * in PGBACKREST_STANZA (every setting from PGBACKREST_* variables; no config file is written), the
 * newest backup (none, or one that ended more than maxAgeHours ago, fails), `pgbackrest restore
 * --set=<label> --type=immediate --target-action=promote --archive-mode=off` into
 * `$SCRATCH/pgdata` (tablespaces under `$SCRATCH/tablespaces`), then `pgbackrest archive-get` of
 * every WAL segment from the backup's archive start to its archive stop (16 MiB segments) into
 * `$SCRATCH/wal`, because the verify container has no pgbackrest. Runs as the uid the verify
 * container runs PostgreSQL as (the restored files must be that user's).
 */
export function pgbackrestFetchScript(o: { repo: number; maxAgeHours: number }): string {
  if (!Number.isInteger(o.repo) || o.repo < 1 || o.repo > 256) throw new Error(`repo: expected a pgBackRest repository number 1-256, got ${o.repo}`);
  checkHours(o.maxAgeHours, "maxAgeHours");
  return render([
    ...header("restore the newest pgBackRest backup and its WAL into scratch space for a restore drill", "pgbackrestFetch"),
    `REPO=${o.repo}`,
    `MAX_AGE_HOURS=${o.maxAgeHours}`,
    "# pgBackRest writes no log file and reports errors on stderr; its lock files go to TMPDIR.",
    'export PGBACKREST_LOG_LEVEL_FILE="${PGBACKREST_LOG_LEVEL_FILE:-off}"',
    'export PGBACKREST_LOG_LEVEL_CONSOLE="${PGBACKREST_LOG_LEVEL_CONSOLE:-off}"',
    'export PGBACKREST_LOG_LEVEL_STDERR="${PGBACKREST_LOG_LEVEL_STDERR:-warn}"',
    "",
    ...fetchPart("fetch of the newest pgBackRest backup"),
    'export PGBACKREST_LOCK_PATH="${PGBACKREST_LOCK_PATH:-$work/lock}"',
    ...timePart(),
    "# The newest backup of the stanza in repo REPO: label, WAL range, end time, size.",
    "find_newest() {",
    '  pgbackrest info --repo="$REPO" --output=json >"$work/info.json"',
    "  # The backup list comes in time order: the last {\"archive\":{... object is the newest backup.",
    "  sed -n 's/.*\\({\"archive\":{\"start\":\\)/\\1/p' \"$work/info.json\" >\"$work/newest.json\"",
    '  label=$(grep -o \'"label":"[^"]*"\' "$work/newest.json" | head -n 1 | cut -d \'"\' -f 4)',
    '  if [ -z "$label" ]; then',
    "    # The repository's own status message (it may hold escaped quotes and binary junk: kept whole, cleaned).",
    "    reason=$(LC_ALL=C sed -n 's/.*\"repo\":\\[{.*\"status\":{\"code\":[0-9]*,\"message\":\"\\(.*\\)\"}}\\],\"status\":{\"code\".*/\\1/p' \"$work/info.json\" | head -n 1 | tr -d '\\000-\\037\\177-\\377' | cut -c 1-400)",
    '    echo "repo $REPO holds no backup of stanza $PGBACKREST_STANZA: ${reason:-no backup}" >&2',
    "    return 1",
    "  fi",
    "  range=$(grep -o '\"archive\":{\"start\":\"[0-9A-F]\\{24\\}\",\"stop\":\"[0-9A-F]\\{24\\}\"}' \"$work/newest.json\" | head -n 1)",
    '  if [ -z "$range" ]; then echo "backup $label has no WAL range in pgbackrest info (taken with archive-check off?): it cannot be made consistent" >&2; return 1; fi',
    "  wal_start=$(printf '%s' \"$range\" | cut -d '\"' -f 6)",
    "  wal_stop=$(printf '%s' \"$range\" | cut -d '\"' -f 10)",
    "  stop_epoch=$(sed -n 's/.*\"timestamp\":{\"start\":[0-9]*,\"stop\":\\([0-9]*\\)}.*/\\1/p' \"$work/newest.json\")",
    "  size=$(sed -n 's/.*\"size\":\\([0-9]*\\)},\"label\".*/\\1/p' \"$work/newest.json\")",
    '  if [ -z "$stop_epoch" ]; then echo "cannot read the end time of backup $label from pgbackrest info" >&2; return 1; fi',
    '  rm -f -- "$work/info.json" "$work/newest.json"',
    "}",
    "",
    "check_age() {",
    "  age=$((now - stop_epoch))",
    '  if [ "$age" -gt $((MAX_AGE_HOURS * 3600)) ]; then',
    '    echo "the newest backup in repo $REPO, $label, ended $(hours_old "$age") ago, more than $MAX_AGE_HOURS h: backups of this cluster have stopped" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "new_dirs() {",
    '  for d in pgdata wal tablespaces; do',
    '    if [ -e "$SCRATCH/$d" ]; then echo "$SCRATCH/$d already exists: the scratch directory must be empty" >&2; return 1; fi',
    "  done",
    '  mkdir "$SCRATCH/wal" "$SCRATCH/tablespaces"',
    "}",
    "",
    "restore_backup() {",
    '  pgbackrest restore --repo="$REPO" --set="$label" --pg1-path="$SCRATCH/pgdata" --tablespace-map-all="$SCRATCH/tablespaces" \\',
    "    --type=immediate --target-action=promote --archive-mode=off",
    "}",
    "",
    "# Every segment name from wal_start to wal_stop: TTTTTTTTLLLLLLLLSSSSSSSS, 256 segments of 16 MiB a log.",
    "fetch_wal() {",
    "  tli=$(printf '%s' \"$wal_start\" | cut -c 1-8)",
    "  log=$((0x$(printf '%s' \"$wal_start\" | cut -c 9-16)))",
    "  seg=$((0x$(printf '%s' \"$wal_start\" | cut -c 17-24)))",
    "  last=$(printf '%s' \"$wal_stop\" | cut -c 9-24)",
    "  segments=0",
    "  while :; do",
    "    name=$(printf '%s%08X%08X' \"$tli\" \"$log\" \"$seg\")",
    '    pgbackrest archive-get --repo="$REPO" --pg1-path="$SCRATCH/pgdata" "$name" "$SCRATCH/wal/$name"',
    "    segments=$((segments + 1))",
    "    if [ \"${name#????????}\" = \"$last\" ]; then break; fi",
    '    if [ "$segments" -gt 65536 ]; then echo "more than 65536 WAL segments between $wal_start and $wal_stop: not a 16 MiB segment size?" >&2; return 1; fi',
    "    seg=$((seg + 1))",
    '    if [ "$seg" -gt 255 ]; then seg=0; log=$((log + 1)); fi',
    "  done",
    "  # A timeline after the first needs its history file to start recovery.",
    '  if [ "$tli" != 00000001 ]; then pgbackrest archive-get --repo="$REPO" --pg1-path="$SCRATCH/pgdata" "$tli.history" "$SCRATCH/wal/$tli.history"; fi',
    "}",
    "",
    "record_backup() {",
    '  info label "$label"',
    '  info age "$age"',
    '  info stop "$stop_epoch"',
    '  info size "${size:-0}"',
    '  info wal "$wal_start..$wal_stop ($segments segments)"',
    '  info from "pgBackRest repo $REPO of stanza $PGBACKREST_STANZA"',
    "}",
    "",
    "run 'check the environment' require_env PGBACKREST_STANZA",
    'run "find the newest backup of stanza $PGBACKREST_STANZA in repo $REPO" find_newest',
    'run "check the age of backup $label" check_age',
    "run 'create the restore directories in scratch' new_dirs",
    'run "pgbackrest restore of $label into $SCRATCH/pgdata" restore_backup',
    'run "pgbackrest archive-get of WAL $wal_start to $wal_stop" fetch_wal',
    'run "record $label for the verify step" record_backup',
    'summary="restored backup $label ($(hours_old "$age") old) of stanza $PGBACKREST_STANZA from repo $REPO with $segments WAL segments"',
  ]);
}

/**
 * Verify step (the cluster's own CloudNativePG image: PostgreSQL server binaries and sh, no
 * pgbackrest): appends to the restored postgresql.auto.conf (read last, so it wins) what a drill
 * pod needs: no TCP, a unix socket in scratch, ssl and the logging collector off (their files
 * live under /controller in the cluster), no archiving, `restore_command = 'cp $SCRATCH/wal/%f
 * %p'`, recovery_target immediate + promote, a trust pg_hba for local connections in scratch,
 * hot_standby off (so lower max_connections cannot stop recovery), small shared_buffers, no
 * synchronous standbys. Starts the server, waits until it is out of recovery, counts user tables
 * in every database (at least one), runs `checkQuery` in `checkDatabase` (default postgres) as
 * `superuser` (default postgres, CloudNativePG's), stops it.
 * `restore_command` runs `cp` with the server's PATH (this script's).
 *
 * `report` (see VerifyReport): "notify" (the default) notifies itself and is the pod's main
 * container; the CloudNativePG images (debian-slim + PostgreSQL) have no wget, so there use
 * "status-file": no `notify` option, no wget or timeout (PGBACKREST_VERIFY_TOOLS and
 * PGBACKREST_VERIFY_ENV give each mode's tools and environment), always exit 0, and leave
 * `$SCRATCH/verify.status` and `$SCRATCH/verify.summary` for drillReportScript, the main
 * container after it. Either way the EXIT trap stops the throwaway server first.
 */
export function pgbackrestVerifyScript(o: PgbackrestVerifyOptions): string {
  const report: VerifyReport = o.report ?? "notify";
  if (report === "notify") {
    if (!o.notify) throw new Error('notify: required unless report is "status-file"');
    checkNotify(o.notify);
  } else if (report === "status-file") {
    if (o.notify !== undefined) throw new Error('notify: a verify step with report "status-file" notifies nobody; give notify to drillReportScript');
  } else {
    throw new Error(`report: ${JSON.stringify(report)} is not "notify" or "status-file"`);
  }
  checkQueryText(o.checkQuery);
  const database = o.checkDatabase ?? "postgres";
  checkDatabaseName(database, "checkDatabase");
  const superuser = o.superuser ?? "postgres";
  checkDatabaseName(superuser, "superuser");
  const timeout = o.startTimeoutSeconds ?? 1800;
  if (!Number.isInteger(timeout) || timeout < 10) throw new Error(`startTimeoutSeconds: expected at least 10, got ${timeout}`);
  const job = "pgBackRest restore drill";
  return render([
    ...(report === "notify"
      ? [
          ...header("restore drill: start the restored pgBackRest backup and query it", "pgbackrestVerify", PGBACKREST_VERIFY_TOOLS.notify),
          ...commonPart(o.notify!, job, { kind: KIND, cleanup: true, timed: true }),
        ]
      : [
          ...header(
            "restore drill: start the restored pgBackRest backup and query it, leaving the result in verify.status for the report step",
            "pgbackrestVerify",
            PGBACKREST_VERIFY_TOOLS["status-file"],
            PGBACKREST_VERIFY_ENV["status-file"],
          ),
          ...verifyStatusPart(job),
        ]),
    `CHECK_QUERY=${shq(o.checkQuery ?? "")}`,
    `CHECK_DATABASE=${shq(database)}`,
    `START_TIMEOUT=${timeout}`,
    "",
    ...scratchPart(),
    ...fetchStatusPart(),
    ...timePart(),
    ...throwawayServerPart(),
    "cleanup() {",
    "  stop_server immediate",
    "}",
    "",
    "check_restore() {",
    '  if [ ! -f "$SCRATCH/pgdata/PG_VERSION" ]; then echo "$SCRATCH/pgdata holds no restored data directory" >&2; return 1; fi',
    '  chmod 700 "$SCRATCH/pgdata"',
    "}",
    "",
    "# Settings of the live cluster that cannot work in the drill pod, overridden (postgresql.auto.conf is read last).",
    "configure() {",
    "  printf 'local all all trust\\n' >\"$SCRATCH/drill_hba.conf\"",
    '  : >"$SCRATCH/drill_ident.conf"',
    '  cat >>"$SCRATCH/pgdata/postgresql.auto.conf" <<EOF',
    "",
    "# homelab-backups restore drill: run the restored copy alone, on a unix socket in scratch space.",
    "listen_addresses = ''",
    "port = 5432",
    "unix_socket_directories = '$SCRATCH/run'",
    "ssl = off",
    "logging_collector = off",
    "log_destination = 'stderr'",
    "archive_mode = off",
    "archive_command = ''",
    "restore_command = 'cp $SCRATCH/wal/%f %p'",
    "recovery_target = 'immediate'",
    "recovery_target_action = 'promote'",
    "recovery_target_timeline = 'current'",
    "primary_conninfo = ''",
    "primary_slot_name = ''",
    "hot_standby = off",
    "synchronous_standby_names = ''",
    "hba_file = '$SCRATCH/drill_hba.conf'",
    "ident_file = '$SCRATCH/drill_ident.conf'",
    "shared_buffers = '128MB'",
    "huge_pages = off",
    "EOF",
    "}",
    "",
    "# pg_ctl -w returns once the server accepts connections; recovery and promotion may still run.",
    "wait_promoted() {",
    "  tries=0",
    "  while :; do",
    "    in_recovery=$(psql_at postgres 'SELECT pg_is_in_recovery()' 2>/dev/null || echo t)",
    '    if [ "$in_recovery" = f ]; then return 0; fi',
    "    tries=$((tries + 1))",
    '    if [ "$tries" -ge "$START_TIMEOUT" ]; then echo "still in recovery after $START_TIMEOUT s; the end of the server log:" >&2; tail -n 15 "$PG_LOG" >&2; return 1; fi',
    "    sleep 1",
    "  done",
    "}",
    "",
    "sanity() {",
    "  count_tables",
    '  if [ "$tables" -eq 0 ]; then echo "the restored cluster has no user tables in any of its $databases databases" >&2; return 1; fi',
    '  if [ -n "$CHECK_QUERY" ]; then',
    '    result=$(psql_at "$CHECK_DATABASE" "$CHECK_QUERY")',
    '    if [ -z "$result" ]; then echo "the check query returned no row in $CHECK_DATABASE: $CHECK_QUERY" >&2; return 1; fi',
    "    checked=', check query returned a row'",
    "  fi",
    "}",
    "checked=''",
    "",
    "run 'check the scratch directory' check_scratch",
    ...(report === "status-file" ? ["open_status"] : []),
    "run 'fetch the newest backup (init container)' read_fetch",
    'run "check the restored data directory of $fetch_label" check_restore',
    "run 'configure the restored cluster for the drill pod' configure",
    "restore_started=$(date -u +%s)",
    `export PGUSER=${shq(superuser)}`,
    'run "start PostgreSQL on the restored $fetch_label (recovery to the end of the backup)" start_server "$SCRATCH/pgdata" "$SCRATCH/run"',
    "run 'wait until recovery ends and the server is promoted' wait_promoted",
    "run 'sanity query: user tables exist' sanity",
    "restore_seconds=$(($(date -u +%s) - restore_started))",
    "run 'stop the restored server' stop_server",
    'summary="restored backup $fetch_label ($(hours_old "$fetch_age") old, $fetch_size bytes, WAL $fetch_wal, from $fetch_from, fetched in $fetch_seconds s):'
      + ' recovered and promoted, $databases databases, $tables tables$checked; start and recovery took $restore_seconds s, the drill $(($(date -u +%s) - started)) s"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Reporting from a container of its own

/**
 * Report step: the main container of a drill pod whose fetch and verify steps are both init
 * containers that notify nobody (a fetch step, then a verify step in "status-file" mode, such as
 * `pgbackrestVerifyScript({ report: "status-file" })`), in any busybox image with wget and timeout
 * (alpine, restic/restic), run as the init containers' user (their files are 0640). Reads
 * `$SCRATCH/verify.status` (and verify.summary), `$SCRATCH/fetch.status` and fetch.info, and sends
 * exactly one notification titled `<app>/<item> restore drill succeeded|FAILED`:
 * - verify.status "ok" (and fetch.status "ok"): success, `<app>/<item>: <verify.summary>` (which
 *   gives the backup, the restore and drill seconds and the check), exit 0;
 * - verify.status a failure: `<app>/<item>: <verify.status>` (word for word what the verify step
 *   would have notified: failing step, exit status, seconds, error tail), exit 1;
 * - no verify.status (the verify container never ran, or was killed: out of memory, evicted):
 *   failure naming what is missing and what the fetch step left (its failure, or the backup it
 *   fetched); no fetch.status either: failure saying neither init container left a status; an
 *   unreadable or garbled status file, or no scratch directory: failure saying so; exit 1.
 * Every failure message ends with `pod: $HOSTNAME`. Healthchecks gets the success ping or `/fail`
 * (no `/start`: this container runs for a second, after the drill). The exit status is the Job's
 * verdict; a failed notification is logged and changes nothing. `what` names the drill in the
 * report's own failure messages, for example "pgBackRest restore drill".
 */
export function drillReportScript(o: { notify: Notify; what: string }): string {
  checkNotify(o.notify);
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._()/-]{0,99}$/.test(o.what)) throw new Error(`what: ${JSON.stringify(o.what)} must be at most 100 letters, digits, spaces and ._()/-`);
  return render([
    ...header(`report the result of a ${o.what}: read the status its init containers left in scratch space and notify once`, "drillReport"),
    `APP=${shq(o.notify.app)}`,
    `ITEM=${shq(o.notify.item)}`,
    `JOB=${shq(o.what)}`,
    `NTFY_URL=${shq(o.notify.ntfyUrl ?? "")}`,
    `SCRATCH="\${SCRATCH:-${DRILL_SCRATCH}}"`,
    "",
    "step='start'",
    "reason=''",
    "passed_on=''",
    "summary=''",
    "",
    "say() { printf '%s %s\\n' \"$(date -u +%H:%M:%SZ)\" \"$*\"; }",
    "",
    ...notifyFunction(KIND),
    "",
    "# hc_ping SUFFIX [BODY]: healthchecks ping ('' for success, /fail), when HEALTHCHECKS_URL is set.",
    "hc_ping() {",
    '  if [ -z "${HEALTHCHECKS_URL:-}" ]; then return 0; fi',
    '  timeout 30 wget -q -O /dev/null --post-data "${2:-}" "${HEALTHCHECKS_URL%/}$1" || say "warning: the healthchecks ping${1:+ ($1)} failed"',
    "}",
    "",
    "# The one notification; the exit status is the drill's verdict (SIGTERM and errors are failures too).",
    "on_exit() {",
    "  code=$?",
    "  trap - EXIT",
    "  set +eu",
    '  if [ "$code" -eq 0 ]; then',
    '    say "done: $summary"',
    '    notify ok "$APP/$ITEM: $summary"',
    '    hc_ping "" "$summary"',
    "    exit 0",
    "  fi",
    '  if [ -n "$passed_on" ]; then',
    '    message="$APP/$ITEM: $passed_on"',
    "  else",
    '    message="$APP/$ITEM: $JOB FAILED at step: $step (exit status $code)',
    '${reason:-(no error output: see the log of this container)}"',
    "  fi",
    '  message="$message${HOSTNAME:+',
    'pod: $HOSTNAME}"',
    "  printf '%s\\n' \"$message\" >&2",
    '  notify failed "$message"',
    '  hc_ping /fail "$message"',
    '  exit "$code"',
    "}",
    ...SIGNAL_TRAPS,
    "",
    "# fail STEP REASON: ends the report as a failure for that reason.",
    "fail() {",
    "  step=$1",
    "  reason=$2",
    "  exit 1",
    "}",
    "",
    "# read_status FILE: its text in `status`; `present` is empty when the file does not exist.",
    "read_status() {",
    "  status=''",
    "  present=''",
    '  if [ ! -e "$SCRATCH/$1" ]; then return 0; fi',
    "  present=yes",
    '  if [ ! -r "$SCRATCH/$1" ]; then fail "read $1" "$SCRATCH/$1 exists but this container cannot read it: run it as the user of the init containers"; fi',
    '  status=$(cat "$SCRATCH/$1")',
    "}",
    "",
    '# What the fetch step fetched (fetch.info: label=<pgBackRest backup> or file=<dump>) and in how many seconds.',
    "read_fetch_info() {",
    "  fetched='' fetch_seconds='?'",
    '  if [ ! -r "$SCRATCH/fetch.info" ]; then return 0; fi',
    '  while IFS="=" read -r key value; do',
    "    case $key in",
    "      label) fetched=\"backup $value\" ;;",
    "      file) fetched=$value ;;",
    "      seconds) fetch_seconds=$value ;;",
    "    esac",
    '  done <"$SCRATCH/fetch.info"',
    "}",
    "",
    "step='check the scratch directory'",
    'case $SCRATCH in /*) ;; *) fail "$step" "SCRATCH=$SCRATCH is not an absolute path" ;; esac',
    'if [ ! -d "$SCRATCH" ]; then fail "$step" "the scratch directory $SCRATCH is missing (is the emptyDir mounted?)"; fi',
    "",
    "step='read the status of the fetch step'",
    "read_status fetch.status",
    "fetch_present=$present",
    "fetch_status=$status",
    "step='read the status of the verify step'",
    "read_status verify.status",
    "",
    'if [ -n "$present" ]; then',
    '  if [ "$status" = ok ]; then',
    '    if [ "$fetch_status" != ok ]; then fail "$step" "verify.status says ok, but fetch.status does not: ${fetch_status:-(no fetch.status)}"; fi',
    '    if [ ! -r "$SCRATCH/verify.summary" ]; then fail "$step" "verify.status says ok, but $SCRATCH/verify.summary is missing or unreadable"; fi',
    '    IFS= read -r summary <"$SCRATCH/verify.summary" || true',
    '    if [ -z "$summary" ]; then fail "$step" "verify.status says ok, but $SCRATCH/verify.summary is empty"; fi',
    "    exit 0",
    "  fi",
    "  case $status in",
    "    *' FAILED at step: '*) passed_on=$status; exit 1 ;;",
    "  esac",
    '  fail "$step" "$SCRATCH/verify.status is neither ok nor a failure (the verify step was killed while writing it?): ${status:-(empty)}"',
    "fi",
    "",
    "# No verify.status: the verify container never ran, or was killed before it could write one.",
    'if [ -z "$fetch_present" ]; then',
    '  fail "$step" "neither init container left a status in $SCRATCH: the fetch step never ran or was killed before it finished (out of memory? evicted? see kubectl describe pod), and the verify step did not finish either"',
    "fi",
    'if [ "$fetch_status" != ok ]; then',
    "  fail \"$step\" \"the verify step (init container) left no status in $SCRATCH, and the fetch step had failed:",
    '$fetch_status"',
    "fi",
    "read_fetch_info",
    'fail "$step" "the verify step (init container) left no status in $SCRATCH: it never ran, or was killed before it finished (out of memory? evicted? see kubectl describe pod); the fetch step had fetched ${fetched:-the newest backup} in $fetch_seconds s"',
  ]);
}
