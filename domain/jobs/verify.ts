/**
 * The shell scripts that the verification CronJobs run: each checks the integrity of one backup
 * repository with its own tool, reading (a rotating share of) the stored data, and notifies (ntfy,
 * healthchecks) on success and on failure.
 *
 * Same conventions as domain/jobs/scripts.ts and domain/jobs/drills.ts (whose helpers these reuse):
 * POSIX sh for busybox ash and dash, `set -eu`, nothing secret in the text (every secret and
 * connection detail comes from the environment), `VERIFY_TOOLS` lists every binary a script
 * calls, `VERIFY_ENV` the variables it reads, deterministic text, one notification per run titled
 * `<app>/<item> repository verification succeeded|FAILED` (a failure names the step, the exit
 * status, the tail of its error output and how long the run took), notifications never change
 * the exit status, SIGTERM/SIGINT/SIGHUP end the run as a notified failure (once the running tool
 * has returned). A repository without a snapshot or backup fails: it is not a verified backup.
 * Nothing is verified from a cache: restic runs with `--no-cache`, Kopia with a cache under the
 * run's temporary directory, which the EXIT trap removes.
 *
 * resticVerify: `restic check` reading part K of `parts` of the pack data, K = ((epoch seconds /
 * 86400 / intervalDays) mod parts) + 1 from `date -u +%s`, so runs `intervalDays` apart read
 * consecutive parts and all of the data is read every `parts * intervalDays` days (`--read-data`
 * with parts = 1). `restic check` takes restic's exclusive lock, and the NAS repositories of hourly
 * backups are never idle for long: with a restic that has `--retry-lock` (0.16+, the job image's
 * 0.18) the check waits up to an hour for a running backup instead of failing on its lock.
 * kopiaVerify: `kopia snapshot verify` of every snapshot (no source given: all of them),
 * reading back `verifyPercent`% of the files.
 *
 * pgbackrestRepoVerify: `pgbackrest verify`, which in pgBackRest 2.45 exits 0 even when it finds
 * files with invalid checksums or sizes, missing files, undecryptable WAL, or no stanza at all:
 * only its report (`--output=text --verbose`) says `status: error`. The script reads that report
 * and fails on anything but `status: ok`, naming the files its workers logged. verify also says ok
 * when WAL a backup needs is missing, so the script checks from verify's WAL ranges that each
 * backup's WAL (start to stop, from `pgbackrest info`) is there, and that no segment is missing
 * after the newest backup's start (gaps before it are left alone: archive retention makes them).
 *
 * | script               | required                                   | optional                         |
 * | -------------------- | ------------------------------------------ | -------------------------------- |
 * | resticVerify         | RESTIC_REPOSITORY, RESTIC_PASSWORD         | RESTIC_PASSWORD_FILE, RESTIC_PASSWORD_COMMAND, AWS_* |
 * | kopiaVerify          | KOPIA_REPOSITORY, KOPIA_PASSWORD           | KOPIA_S3_ENDPOINT, AWS_*, SFTP_* |
 * | pgbackrestRepoVerify | PGBACKREST_STANZA (+ PGBACKREST_REPO<n>_*) | other PGBACKREST_*               |
 *
 * and every script also reads NTFY_TOKEN, HEALTHCHECKS_URL and TMPDIR (/tmp), all optional.
 */
import { kopiaConnectFunction } from "./restoreCheck";
import { checkNotify, COMMON_TOOLS, commonPart, KOPIA_REPOSITORY_ENV, Notify, NOTIFY_ENV, PGBACKREST_REPOSITORY_ENV, render, REQUIRE_RESTIC_ENV_FUNCTION, RESTIC_REPOSITORY_ENV, scriptHeader } from "./scripts";

export type VerifyScriptName = "resticVerify" | "kopiaVerify" | "pgbackrestRepoVerify";

/**
 * Every binary each script runs (shell builtins aside): resticVerify in restic/restic
 * (alpine-based), kopiaVerify in kopia/kopia, pgbackrestRepoVerify in an image with pgbackrest,
 * wget and timeout (everything else is a busybox applet or coreutils).
 */
export const VERIFY_TOOLS: Readonly<Record<VerifyScriptName, readonly string[]>> = {
  resticVerify: [...COMMON_TOOLS, "grep", "wc", "restic"],
  kopiaVerify: [...COMMON_TOOLS, "chmod", "grep", "mkdir", "tr", "wc", "kopia"],
  pgbackrestRepoVerify: [...COMMON_TOOLS, "grep", "head", "sed", "tr", "wc", "pgbackrest"],
};


/** Environment variables each script reads (see the table at the top of this file). */
export const VERIFY_ENV: Readonly<Record<VerifyScriptName, { required: readonly string[]; optional: readonly string[] }>> = {
  resticVerify: RESTIC_REPOSITORY_ENV,
  kopiaVerify: KOPIA_REPOSITORY_ENV,
  /** `<n>` stands for the repository number given to pgbackrestRepoVerifyScript. */
  pgbackrestRepoVerify: {
    required: ["PGBACKREST_STANZA"],
    optional: [
      ...PGBACKREST_REPOSITORY_ENV,
      "PGBACKREST_PROCESS_MAX",
      ...NOTIFY_ENV,
    ],
  },
};

const GENERATOR = "domain/jobs/verify.ts";
const KIND = "repository verification";

function header(what: string, name: VerifyScriptName): string[] {
  return scriptHeader(what, name, VERIFY_TOOLS[name], VERIFY_ENV[name], GENERATOR);
}

function checkWhole(value: number, what: string, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${what}: expected a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, got ${value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// restic

/**
 * Verifies a restic repository (RESTIC_REPOSITORY, RESTIC_PASSWORD or RESTIC_PASSWORD_FILE /
 * RESTIC_PASSWORD_COMMAND, AWS_* for S3): `restic cat config` (unreachable, missing or wrong
 * password fail here, saying so), `restic snapshots` (none fails), then `restic check` with
 * `--read-data-subset=K/parts` (K rotating with the day, see the top of this file) or, with
 * parts = 1, `--read-data`. The success message gives the snapshot count, the part read and the
 * time taken.
 */
export function resticVerifyScript(o: { notify: Notify; parts: number; intervalDays: number }): string {
  checkNotify(o.notify);
  checkWhole(o.parts, "parts", 1, 1000);
  checkWhole(o.intervalDays, "intervalDays", 1, Number.MAX_SAFE_INTEGER);
  const full = o.parts === 1;
  return render([
    ...header(
      full
        ? "check a restic repository, reading all of its data (restic check --read-data)"
        : `check a restic repository, reading part K of ${o.parts} of its data (K rotates every ${o.intervalDays} days)`,
      "resticVerify",
    ),
    ...commonPart(o.notify, "restic repository verification", { kind: KIND, timed: true }),
    `PARTS=${o.parts}`,
    `INTERVAL_DAYS=${o.intervalDays}`,
    "",
    ...REQUIRE_RESTIC_ENV_FUNCTION,
    "# Wait for a backup's lock instead of failing on it, where restic can (0.16+).",
    "retry_lock=''",
    "if restic --help 2>/dev/null | grep -q -- '--retry-lock'; then retry_lock='--retry-lock=1h'; fi",
    "",
    "# Every restic call uses --no-cache: nothing is verified from a cache instead of the repository.",
    "open_repository() {",
    "  if ! restic --no-cache cat config --no-lock >/dev/null; then",
    '    echo "cannot open the restic repository: unreachable, missing, or the wrong password (see above)" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "count_snapshots() {",
    '  restic --no-cache snapshots --json --no-lock >"$work/snapshots.json"',
    "  snapshots=$(($(grep -o '\"short_id\":\"[0-9a-f]*\"' \"$work/snapshots.json\" | wc -l)))",
    '  rm -f -- "$work/snapshots.json"',
    '  if [ "$snapshots" -eq 0 ]; then',
    '    echo "the repository holds no snapshot: nothing was ever backed up to it, or everything was pruned (an empty repository is no verified backup)" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    ...(full
      ? []
      : [
          "# Part K of PARTS: runs INTERVAL_DAYS apart read consecutive parts; all data every PARTS * INTERVAL_DAYS days.",
          "pick_part() {",
          "  now=$(date -u +%s)",
          "  case $now in '' | *[!0-9]*) echo \"date -u +%s printed '$now', not seconds since 1970\" >&2; return 1 ;; esac",
          "  part=$((now / 86400 / INTERVAL_DAYS % PARTS + 1))",
          "}",
          "",
        ]),
    "run 'check the environment' require_restic_env",
    "run 'open the restic repository (restic cat config)' open_repository",
    "run 'list the snapshots' count_snapshots",
    ...(full
      ? [
          "run 'restic check --read-data (all data)' restic --no-cache $retry_lock check --read-data",
          'summary="restic check read all of the data (--read-data) and found no errors; $snapshots snapshots; took $(($(date -u +%s) - started)) s"',
        ]
      : [
          "run 'pick the part of the data to read' pick_part",
          'run "restic check --read-data-subset=$part/$PARTS" restic --no-cache $retry_lock check --read-data-subset="$part/$PARTS"',
          'summary="restic check read part $part of $PARTS of the data (--read-data-subset=$part/$PARTS; all of it every $((PARTS * INTERVAL_DAYS)) days) and found no errors;'
            + ' $snapshots snapshots; took $(($(date -u +%s) - started)) s"',
        ]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Kopia

/**
 * Verifies a Kopia repository (KOPIA_REPOSITORY, KOPIA_PASSWORD and the S3 or SFTP variables of a
 * VolSync mover Secret, connected as domain/jobs/restoreCheck.ts does, S3 keys from AWS_* in
 * Kopia's own environment): connect, `kopia snapshot list --all` (none fails), then
 * `kopia snapshot verify --verify-files-percent=<P>` with no source, which in Kopia 0.17+ verifies
 * every snapshot of every source. UNTESTED against real Kopia (not installed where the tests run).
 */
export function kopiaVerifyScript(o: { notify: Notify; verifyPercent: number }): string {
  checkNotify(o.notify);
  const percent = String(o.verifyPercent);
  if (!Number.isFinite(o.verifyPercent) || o.verifyPercent < 0 || o.verifyPercent > 100 || !/^\d+(\.\d+)?$/.test(percent)) {
    throw new Error(`verifyPercent: expected a percentage from 0 to 100, got ${o.verifyPercent}`);
  }
  return render([
    ...header(`verify every snapshot in a Kopia repository, reading back ${percent}% of the files`, "kopiaVerify"),
    ...commonPart(o.notify, "Kopia repository verification", { kind: KIND, timed: true }),
    `VERIFY_PERCENT=${percent}`,
    'config="$work/kopia/repository.config"',
    "# Client config, cache and logs under $work, which the EXIT trap removes: nothing verified from a stale cache.",
    'export KOPIA_CACHE_DIRECTORY="$work/kopia/cache"',
    'export KOPIA_LOG_DIR="$work/kopia/logs"',
    "export KOPIA_CHECK_FOR_UPDATES=false",
    "",
    kopiaConnectFunction('"$work/kopia"', "verify", { keysFromEnvironment: true }),
    "",
    "open_repository() {",
    '  mkdir -p "$work/kopia"',
    "  if ! connect; then",
    '    echo "cannot open the Kopia repository: unreachable, missing, or the wrong password (see above)" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "count_snapshots() {",
    '  kopia --config-file="$config" snapshot list --all --json >"$work/snapshots.json"',
    "  snapshots=$(($(tr -d ' \\n\\t\\r' <\"$work/snapshots.json\" | grep -o '\"startTime\":\"' | wc -l)))",
    '  rm -f -- "$work/snapshots.json"',
    '  if [ "$snapshots" -eq 0 ]; then',
    '    echo "the repository holds no snapshot: nothing was ever backed up to it, or everything expired (an empty repository is no verified backup)" >&2',
    "    return 1",
    "  fi",
    "}",
    "",
    "run 'check the environment' require_env KOPIA_REPOSITORY KOPIA_PASSWORD",
    "run 'open the Kopia repository' open_repository",
    "run 'list the snapshots' count_snapshots",
    'run "kopia snapshot verify --verify-files-percent=$VERIFY_PERCENT (all $snapshots snapshots)" kopia --config-file="$config" snapshot verify --verify-files-percent="$VERIFY_PERCENT"',
    'summary="kopia snapshot verify checked all $snapshots snapshots, reading back $VERIFY_PERCENT% of the files, and found no errors; took $(($(date -u +%s) - started)) s"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// pgBackRest

/**
 * Verifies pgBackRest repository `repo` of the stanza in PGBACKREST_STANZA, every setting from
 * PGBACKREST_* variables (no config file, no PostgreSQL server or data directory):
 * `pgbackrest info` (no backup, a wrong cipher pass or a missing stanza fail here with
 * pgBackRest's own reason), `pgbackrest verify` judged by its report (see the top of this file),
 * then the WAL check. Lock files go to TMPDIR.
 */
export function pgbackrestRepoVerifyScript(o: { notify: Notify; repo: number }): string {
  checkNotify(o.notify);
  checkWhole(o.repo, "repo", 1, 256);
  const seg = "????????";
  return render([
    ...header("pgbackrest verify of one repository of a stanza: every backup file and WAL segment, and the WAL each backup needs", "pgbackrestRepoVerify"),
    ...commonPart(o.notify, "pgBackRest repository verification", { kind: KIND, timed: true }),
    `REPO=${o.repo}`,
    "# pgBackRest writes no log file and reports errors on stderr; its lock files go to TMPDIR.",
    'export PGBACKREST_LOG_LEVEL_FILE="${PGBACKREST_LOG_LEVEL_FILE:-off}"',
    'export PGBACKREST_LOG_LEVEL_CONSOLE="${PGBACKREST_LOG_LEVEL_CONSOLE:-off}"',
    'export PGBACKREST_LOG_LEVEL_STDERR="${PGBACKREST_LOG_LEVEL_STDERR:-warn}"',
    'export PGBACKREST_LOCK_PATH="${PGBACKREST_LOCK_PATH:-$work/lock}"',
    "",
    "# wal_n SEGMENT: the log and segment numbers of a WAL segment name (TTTTTTTTLLLLLLLLSSSSSSSS) as one number.",
    "wal_n() {",
    `  wn_r=\${1#${seg}}`,
    `  echo $((0x\${wn_r%${seg}} * 4294967296 + 0x\${wn_r#${seg}}))`,
    "}",
    "",
    "# The backups in repo REPO, oldest first, as '<label> <db id> <WAL start> <WAL stop>' lines in $work/backups.",
    "find_backups() {",
    '  pgbackrest info --repo="$REPO" --output=json >"$work/info.json"',
    "  # One -E pattern: busybox grep -o reports only the last of several -e patterns.",
    "  grep -o -E '\"archive\":\\{\"start\":(\"[0-9A-F]{24}\"|null),\"stop\":(\"[0-9A-F]{24}\"|null)\\}|\"database\":\\{\"id\":[0-9]+|\"label\":\"[^\"]*\"' \"$work/info.json\" >\"$work/fields\" || true",
    "  backups=0 newest='' pending='' b_db='' b_start='' b_stop=''",
    '  : >"$work/backups"',
    "  while IFS= read -r field; do",
    "    case $field in",
    "      '\"archive\":'*null*) pending=yes b_start=none b_stop=none ;;",
    "      '\"archive\":'*)",
    "        pending=yes",
    "        b_start=${field#*'\"start\":\"'}",
    "        b_start=${b_start%%'\"'*}",
    "        b_stop=${field#*'\"stop\":\"'}",
    "        b_stop=${b_stop%%'\"'*} ;;",
    "      '\"database\":'*) if [ -n \"$pending\" ]; then b_db=${field##*:}; fi ;;",
    "      '\"label\":'*)",
    '        if [ -n "$pending" ]; then',
    "          newest=${field#'\"label\":\"'}",
    "          newest=${newest%'\"'}",
    "          printf '%s %s %s %s\\n' \"$newest\" \"$b_db\" \"$b_start\" \"$b_stop\" >>\"$work/backups\"",
    "          backups=$((backups + 1))",
    "          pending=''",
    "        fi ;;",
    "    esac",
    '  done <"$work/fields"',
    '  if [ "$backups" -eq 0 ]; then',
    "    # The repository's own status message (it may hold escaped quotes and binary junk: kept whole, cleaned).",
    "    reason=$(LC_ALL=C sed -n 's/.*\"repo\":\\[{.*\"status\":{\"code\":[0-9]*,\"message\":\"\\(.*\\)\"}}\\],\"status\":{\"code\".*/\\1/p' \"$work/info.json\" | head -n 1 | tr -d '\\000-\\037\\177-\\377' | cut -c 1-400)",
    '    echo "repo $REPO holds no backup of stanza $PGBACKREST_STANZA: ${reason:-no backup} (an empty repository is no verified backup)" >&2',
    "    return 1",
    "  fi",
    '  rm -f -- "$work/info.json" "$work/fields"',
    "}",
    "",
    "# pgBackRest 2.45's verify exits 0 even when it finds damage: its report's 'status:' line is the verdict.",
    "verify_repo() {",
    "  status=0",
    '  pgbackrest --repo="$REPO" --output=text --verbose --log-level-console=detail --log-level-stderr=warn verify >"$work/verify.out" || status=$?',
    "  # The report, without the log lines around it, for the job's log.",
    "  sed -e '/^[0-9]/d' -e '/^     /d' \"$work/verify.out\"",
    "  # What its worker processes found, file by file: \"invalid checksum '<file>'\", \"file missing '<file>'\", \"invalid result <file>: ...\".",
    "  sed -n 's/^[0-9][0-9-]* [0-9:.]* P0*[1-9][0-9]* *[A-Z]*: //p' \"$work/verify.out\" >\"$work/found\"",
    "  verdict=$(sed -n 's/^status: //p' \"$work/verify.out\" | head -n 1)",
    '  if [ "$status" -ne 0 ] || [ "$verdict" != ok ]; then',
    '    head -n 5 "$work/found" >&2',
    '    found=$(($(wc -l <"$work/found")))',
    '    if [ "$found" -gt 5 ]; then echo "... and $((found - 5)) more" >&2; fi',
    "    # The report's lines about what is not valid (valid backups, complete archives and all-zero counts left out).",
    "    grep -E '^ {2,4}[^ ]' \"$work/verify.out\" | sed -e '/status: valid,/d' -e '/total WAL checked: \\([0-9]*\\), total valid WAL: \\1$/d' \\",
    "      -e '/^ *missing: 0, checksum invalid: 0, size invalid: 0, other: 0$/d' | head -n 4 >&2",
    '    if [ "$status" -ne 0 ]; then echo "pgbackrest verify of repo $REPO failed with exit status $status" >&2; return "$status"; fi',
    '    echo "pgbackrest verify of repo $REPO found damage: its report says status: ${verdict:-(none)} (pgBackRest exits 0 even then)" >&2',
    "    return 1",
    "  fi",
    "  files=0",
    "  for n in $(sed -n 's/^  backup: .*, total files checked: \\([0-9]*\\),.*/\\1/p' \"$work/verify.out\"); do files=$((files + n)); done",
    "  segments=0",
    "  for n in $(sed -n 's/^  archiveId: .*, total WAL checked: \\([0-9]*\\),.*/\\1/p' \"$work/verify.out\"); do segments=$((segments + n)); done",
    "  # The contiguous WAL ranges verify found: '<archive id> <first segment> <last segment>'.",
    "  sed -n 's/.* P00 *DETAIL: archiveId: \\([^,]*\\), wal start: \\([0-9A-F]\\{24\\}\\), wal stop: \\([0-9A-F]\\{24\\}\\)$/\\1 \\2 \\3/p' \"$work/verify.out\" >\"$work/ranges\"",
    "}",
    "",
    "# find_range DB START STOP: the contiguous WAL range of database DB's archive that holds START to STOP (r_id, r_start, r_stop).",
    "find_range() {",
    "  fr_first=$(wal_n \"$2\")",
    "  fr_last=$(wal_n \"$3\")",
    "  while read -r r_id r_start r_stop; do",
    '    case $r_id in *-"$1") ;; *) continue ;; esac',
    `    if [ "\${r_start%${seg}${seg}}" != "\${2%${seg}${seg}}" ] || [ "\${r_stop%${seg}${seg}}" != "\${3%${seg}${seg}}" ]; then continue; fi`,
    '    if [ "$(wal_n "$r_start")" -le "$fr_first" ] && [ "$fr_last" -le "$(wal_n "$r_stop")" ]; then return 0; fi',
    '  done <"$work/ranges"',
    "  return 1",
    "}",
    "",
    "# verify 2.45 checks the WAL it finds, not the WAL that is missing: each backup needs its own range, and",
    "# point-in-time recovery past the newest backup needs every segment after it (gaps before it are archive retention's).",
    "check_wal() {",
    "  bad=0",
    "  while read -r b_label b_db b_start b_stop; do",
    '    if [ "$b_start" = none ]; then',
    '      echo "backup $b_label has no WAL range in pgbackrest info (taken with archive-check off?): it cannot be made consistent" >&2',
    "      bad=$((bad + 1))",
    '    elif ! find_range "$b_db" "$b_start" "$b_stop"; then',
    '      echo "backup $b_label needs WAL $b_start to $b_stop, but the archive lacks some of it: the backup cannot be restored" >&2',
    "      bad=$((bad + 1))",
    '    elif [ "$b_label" = "$newest" ]; then',
    "      n_id=$r_id n_stop=$r_stop",
    '      n_last=$(wal_n "$r_stop")',
    `      n_tli=\${r_stop%${seg}${seg}}`,
    "      while read -r r_id r_start r_stop; do",
    `        if [ "$r_id" = "$n_id" ] && [ "\${r_start%${seg}${seg}}" = "$n_tli" ] && [ "$(wal_n "$r_start")" -gt "$n_last" ]; then`,
    '          echo "WAL is missing after $n_stop, up to $r_start, after the newest backup $newest: point-in-time recovery cannot go past $n_stop" >&2',
    "          bad=$((bad + 1))",
    "          break",
    "        fi",
    '      done <"$work/ranges"',
    "    fi",
    '  done <"$work/backups"',
    '  if [ "$bad" -gt 0 ]; then return 1; fi',
    "}",
    "",
    "run 'check the environment' require_env PGBACKREST_STANZA",
    'run "find the backups of stanza $PGBACKREST_STANZA in repo $REPO (pgbackrest info)" find_backups',
    'run "pgbackrest verify of repo $REPO (every backup file and WAL segment)" verify_repo',
    "run 'check that every backup has its WAL' check_wal",
    'summary="pgbackrest verify of repo $REPO of stanza $PGBACKREST_STANZA found every file valid: $backups backups (newest $newest), $files backup files and $segments WAL segments;'
      + ' each backup has its WAL, none missing after the newest; took $(($(date -u +%s) - started)) s"',
  ]);
}
