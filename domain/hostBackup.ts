/**
 * Host backups with restic, run by a systemd service and timer: the router, the storage server
 * and other hosts outside the cluster. Pure: this module renders the backup script, the unit files
 * and the shell text that installs and removes them; the Pulumi side copies the files
 * (`remote.CopyToRemote`) and runs the commands (`remote.Command`).
 *
 * Order on a host: `prepareCommands` (directories), copy the script, the two units and the
 * environment file, then `installCommands`; `uninstallCommands` on delete, which removes the
 * environment file too once no other install that reads it (the host's restore drill) is left.
 *
 * One host backs up to each destination through its own service and timer, and the timers' random
 * delays can start two at once. Their scripts share one lock file per host (`hostLockFile`, under
 * /run/lock): a run takes it before anything else and holds it until its post hook has run, so the
 * hooks and backups of one host never overlap (one run's cleanup cannot delete the dump another is
 * backing up); the second run waits.
 *
 * Secrets never pass through here. The repository, its password and the S3 keys live in the
 * root-only environment file the units name with `EnvironmentFile=` (RESTIC_REPOSITORY,
 * RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * optionally NTFY_TOKEN); the script, the units and the commands only name that file.
 *
 * Targets hosts with systemd, bash >= 4, restic, flock (util-linux, on every Debian), and curl when
 * notifications are on (`HOST_BACKUP_TOOLS`). Not NixOS, whose /etc/systemd/system is read-only
 * (use its services.restic module there).
 */
import { z } from "zod";
import { CRON_FIELDS, cronFieldValues, parseCronFields, shellQuote } from "./truenas";
import { keepFlags, KeepPolicy } from "./retention";

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

/** The seed's prune options: --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --keep-yearly 2. */
export const DEFAULT_KEEP: Readonly<KeepPolicy> = { daily: 7, weekly: 4, monthly: 6, yearly: 2 };

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Absolute paths systemd and the scripts take unquoted: no spaces, quotes or specifiers. */
const UNIT_PATH = /^\/[A-Za-z0-9._/+@-]*$/;

/**
 * What the backup script calls: always bash, restic and flock; curl when notifications are on,
 * mountpoint (util-linux too) with `requireMountpoint`. Hooks call whatever they call.
 */
export const HOST_BACKUP_TOOLS = { required: ["bash", "restic", "flock"], optional: ["curl", "mountpoint"] } as const;

/**
 * Why a path cannot be one of a unit's ReadWritePaths=, or undefined: it must be absolute, of
 * letters, digits and . _ / + @ - (systemd takes it unquoted), without . or .. components, and
 * not / itself (which would undo ProtectSystem=strict).
 */
export function readWritePathError(path: string): string | undefined {
  if (!UNIT_PATH.test(path)) return "must be an absolute path of letters, digits and . _ / + @ -";
  if (path.split("/").some((part) => part === "." || part === "..")) return "must not contain . or .. components";
  if (path.replace(/\/+$/, "") === "") return "must not be / (the whole file system would be writable)";
  return undefined;
}

/** The lock file every backup of one host takes (one per host, shared by its destinations). */
export function hostLockFile(host: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) throw new Error(`invalid host name "${host}"`);
  return `/run/lock/homelab-backups-${host}.lock`;
}

const noControl = (what: string) => z.string().refine((value) => !/[\0\n\r]/.test(value), { error: `${what} must be one line` });
const absolute = (what: string) => noControl(what).refine((value) => value.startsWith("/"), { error: `${what} must be an absolute path` });
const unitPath = (what: string) => z.string().regex(UNIT_PATH, { error: `${what} must be an absolute path of letters, digits and . _ / + @ -` });
const count = () => z.int().min(0);

export const keepPolicySchema = z.strictObject({
  last: count().optional(),
  hourly: count().optional(),
  daily: count().optional(),
  weekly: count().optional(),
  monthly: count().optional(),
  yearly: count().optional(),
  withinDays: count().optional(),
});

export const hostBackupOptionsSchema = z
  .strictObject({
    /** restic's --host: the snapshots' host name, and the scope of retention. */
    host: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, { error: "must be a host name" }),
    paths: z.array(absolute("each path")).min(1, { error: "must name at least one path" }),
    /** restic --exclude patterns ("*.tmp", ".cache", "/var/lib/containers/storage/overlay"). */
    excludes: z.array(noControl("each exclude").pipe(z.string().min(1))).default([]),
    /** bash run before the backup (errexit, pipefail); failing aborts the backup. */
    preHook: z.string().optional(),
    /** bash run after every attempt, failed or not, with BACKUP_STATUS and BACKUP_STAGE set. */
    postHook: z.string().optional(),
    keep: keepPolicySchema.default({ ...DEFAULT_KEEP }),
    /** Prune after forget (default). Off when another job prunes the shared repository. */
    prune: z.boolean().default(true),
    /** Snapshot tag; retention only ever touches snapshots of this host with this tag. */
    tag: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).default("homelab-backups"),
    /** Read when the script runs by hand without RESTIC_REPOSITORY in its environment. */
    environmentFile: unitPath("environmentFile").optional(),
    /** Initialise the repository when it does not exist yet (default). */
    initIfMissing: z.boolean().default(true),
    /** Refuse to run unless this is a mount point (a local repository on an NFS/USB mount). */
    requireMountpoint: absolute("requireMountpoint").optional(),
    /** The host's lock file (default `hostLockFile(host)`): one run of the host's backups at a time. */
    lockFile: unitPath("lockFile").optional(),
    /** How long a run waits for another backup of the host before it fails (default 24 h). */
    lockWaitSeconds: z.int().min(0).default(86_400),
    notify: z
      .strictObject({
        ntfyUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL of an ntfy topic" }),
        onSuccess: z.boolean().default(true),
      })
      .optional(),
  })
  .superRefine((options, ctx) => {
    try {
      keepFlags(options.keep);
    } catch (error) {
      ctx.addIssue({ code: "custom", path: ["keep"], message: (error as Error).message });
    }
  });

export type HostBackupInput = z.input<typeof hostBackupOptionsSchema>;
export type HostBackupOptions = z.output<typeof hostBackupOptionsSchema>;

function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.length === 0 ? "(options)" : issue.path.map(String).join(".")}: ${issue.message}`);
  throw new Error(`invalid ${what}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}

// ---------------------------------------------------------------------------------------------
// The backup script
// ---------------------------------------------------------------------------------------------

/** Exit codes the script uses besides restic's own (sysexits.h). */
export const BACKUP_EXIT = { config: 78, notMounted: 75, busy: 69, cannotLock: 73, noRestic: 127, noFlock: 127 } as const;

/**
 * The bash script that backs a host up: take the host's lock (waiting for another run of the
 * host's backups to finish), check the environment, open (or initialise) the repository, run the
 * pre hook, `restic backup`, `restic forget --prune`; the post hook runs on every exit once the
 * lock is held (EXIT trap), then the ntfy notification. The exit code is the first failure's.
 * Hooks run without the lock's file descriptor, so a daemon a hook starts cannot keep the lock.
 */
export function hostBackupScript(input: HostBackupInput): string {
  const o = parseOrThrow(hostBackupOptionsSchema, input, "host backup options");
  const q = shellQuote;
  const continued = (words: string[]) => words.join(" \\\n  ");
  const backup = continued([
    `restic backup --host "$BACKUP_HOST" --tag "$BACKUP_TAG" --exclude-caches`,
    ...o.excludes.map((pattern) => `--exclude ${q(pattern)}`),
    `-- ${o.paths.map(q).join(" ")}`,
  ]);
  const forget = continued([
    `restic forget --host "$BACKUP_HOST" --tag "$BACKUP_TAG" --group-by host,tags${o.prune ? " --prune" : ""}`,
    keepFlags(o.keep).join(" "),
  ]);
  const notifyOnSuccess = o.notify?.onSuccess ?? false;
  const lockFile = o.lockFile ?? hostLockFile(o.host);

  return `#!/usr/bin/env bash
# homelab-backups: restic backup of host ${o.host} (tag ${o.tag}).
# Generated by homelab-backups: changes made here are overwritten on the next deploy.
# Needs: bash, restic, flock (util-linux); curl for notifications; mountpoint (util-linux) with a required mount point.
#
# The repository and its credentials come from the environment, never from this file:
# RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD_COMMAND), AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, NTFY_TOKEN, set by the systemd unit's EnvironmentFile=.
set -uo pipefail
umask 077

BACKUP_HOST=${q(o.host)}
BACKUP_TAG=${q(o.tag)}
ENVIRONMENT_FILE=${q(o.environmentFile ?? "")}
REQUIRE_MOUNTPOINT=${q(o.requireMountpoint ?? "")}
INIT_IF_MISSING=${o.initIfMissing ? 1 : 0}
NTFY_URL=${q(o.notify?.ntfyUrl ?? "")}
NOTIFY_ON_SUCCESS=${notifyOnSuccess ? 1 : 0}
PRE_HOOK=${q(o.preHook ?? "")}
POST_HOOK=${q(o.postHook ?? "")}
LOCK_FILE=${q(lockFile)}
LOCK_WAIT_SECONDS=${o.lockWaitSeconds}

stage=start
started=$SECONDS
locked=0

log() { printf 'homelab-backups: %s\\n' "$*" >&2; }

# notify TITLE PRIORITY TAGS MESSAGE: best effort, never changes the exit code. The token goes to
# curl on stdin (--config -), not on its command line.
notify() {
  [ -n "$NTFY_URL" ] || return 0
  if ! command -v curl >/dev/null 2>&1; then log "curl is missing: no notification sent"; return 0; fi
  if ! {
    if [ -n "\${NTFY_TOKEN:-}" ]; then printf 'header = "Authorization: Bearer %s"\\n' "$NTFY_TOKEN"; fi
  } | curl --config - --silent --show-error --fail --max-time 20 --retry 2 \\
    --header "Title: $1" --header "Priority: $2" --header "Tags: $3" \\
    --data-binary "$4" --output /dev/null "$NTFY_URL"; then
    log "could not send the ntfy notification (ignored)"
  fi
  return 0
}

# Runs on every exit: the post hook (only under the lock: without it, the post hook's cleanup could
# hit another run's files), then the notification; exits with the first failure's code.
finish() {
  local status=$?
  trap - EXIT
  if [ -n "$POST_HOOK" ] && [ "$locked" -ne 1 ]; then
    log "not running the post hook: this run never held $LOCK_FILE"
  elif [ -n "$POST_HOOK" ]; then
    log "running the post hook"
    BACKUP_STATUS=$status BACKUP_STAGE=$stage bash -euo pipefail -c "$POST_HOOK" 9>&-
    local hook_status=$?
    if [ "$hook_status" -ne 0 ]; then
      log "the post hook failed (exit $hook_status)"
      if [ "$status" -eq 0 ]; then
        status=$hook_status
        stage=post-hook
      fi
    fi
  fi
  local took=$((SECONDS - started))
  if [ "$status" -eq 0 ]; then
    log "backup of $BACKUP_HOST finished in \${took}s"
    if [ "$NOTIFY_ON_SUCCESS" -eq 1 ]; then
      notify "Backup of $BACKUP_HOST succeeded" default white_check_mark "restic backup of $BACKUP_HOST ($BACKUP_TAG) finished in \${took}s."
    fi
  else
    log "backup of $BACKUP_HOST FAILED at stage $stage (exit $status)"
    notify "Backup of $BACKUP_HOST FAILED" high rotating_light "restic backup of $BACKUP_HOST ($BACKUP_TAG) failed at stage $stage with exit code $status after \${took}s. Logs: journalctl -u 'homelab-backup-*' on $BACKUP_HOST."
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

stage=lock
# One run of this host's backups at a time: the lock is held on fd 9 until the script exits.
if ! command -v flock >/dev/null 2>&1; then
  log "flock is not installed (Debian: util-linux): cannot keep the backups of $BACKUP_HOST apart"
  exit ${BACKUP_EXIT.noFlock}
fi
if ! exec 9>>"$LOCK_FILE"; then
  log "cannot open the lock file $LOCK_FILE (is its directory writable? the unit's ReadWritePaths= must list it)"
  exit ${BACKUP_EXIT.cannotLock}
fi
if ! flock --nonblock 9; then
  log "another backup of $BACKUP_HOST holds $LOCK_FILE: waiting up to \${LOCK_WAIT_SECONDS}s for it to finish"
  if ! flock --wait "$LOCK_WAIT_SECONDS" 9; then
    log "another backup of $BACKUP_HOST still holds $LOCK_FILE after \${LOCK_WAIT_SECONDS}s: giving up"
    exit ${BACKUP_EXIT.busy}
  fi
  log "the other backup of $BACKUP_HOST finished: going on"
fi
locked=1

stage=environment
if [ -z "\${RESTIC_REPOSITORY:-}" ] && [ -n "$ENVIRONMENT_FILE" ] && [ -r "$ENVIRONMENT_FILE" ]; then
  set -a
  . "$ENVIRONMENT_FILE"
  set +a
fi
if [ -z "\${RESTIC_REPOSITORY:-}" ]; then
  log "RESTIC_REPOSITORY is not set: the unit's EnvironmentFile= must set it"
  exit ${BACKUP_EXIT.config}
fi
if [ -z "\${RESTIC_PASSWORD_FILE:-}\${RESTIC_PASSWORD_COMMAND:-}\${RESTIC_PASSWORD:-}" ]; then
  log "no repository password: set RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD_COMMAND) in the EnvironmentFile"
  exit ${BACKUP_EXIT.config}
fi
if [ -n "\${RESTIC_PASSWORD_FILE:-}" ] && [ ! -r "$RESTIC_PASSWORD_FILE" ]; then
  log "cannot read RESTIC_PASSWORD_FILE $RESTIC_PASSWORD_FILE"
  exit ${BACKUP_EXIT.config}
fi
if ! command -v restic >/dev/null 2>&1; then
  log "restic is not installed"
  exit ${BACKUP_EXIT.noRestic}
fi
if [ -n "$REQUIRE_MOUNTPOINT" ] && ! mountpoint -q "$REQUIRE_MOUNTPOINT"; then
  log "$REQUIRE_MOUNTPOINT is not mounted: not backing up (a repository there would land on the disk underneath)"
  exit ${BACKUP_EXIT.notMounted}
fi

stage=repository
# Initialise only when restic says there is no repository (exit 10 from restic 0.17; the
# "Is there a repository" hint before). A wrong password or an unreachable server fails here.
error=$(restic cat config 2>&1 >/dev/null)
code=$?
if [ "$code" -ne 0 ]; then
  if [ "$code" -eq 10 ] || [[ "$error" == *"Is there a repository at the following location?"* ]]; then
    if [ "$INIT_IF_MISSING" -ne 1 ]; then
      log "there is no restic repository at RESTIC_REPOSITORY and initialising is off"
      exit 1
    fi
    log "no restic repository yet: initialising it"
    restic init || exit $?
  else
    printf '%s\\n' "$error" >&2
    log "cannot open the restic repository (exit $code)"
    exit "$code"
  fi
fi
# Stale locks (a crashed or killed run) would block every later run; live locks are kept.
restic unlock || log "restic unlock failed (continuing)"

stage=pre-hook
if [ -n "$PRE_HOOK" ]; then
  log "running the pre hook"
  bash -euo pipefail -c "$PRE_HOOK" 9>&-
  code=$?
  if [ "$code" -ne 0 ]; then
    log "the pre hook failed (exit $code): not backing up"
    exit "$code"
  fi
fi

stage=backup
${backup}
code=$?
if [ "$code" -eq 3 ]; then
  log "restic could not read some files: the snapshot is incomplete; not applying retention"
  exit 3
elif [ "$code" -ne 0 ]; then
  log "restic backup failed (exit $code)"
  exit "$code"
fi

stage=forget
${forget}
code=$?
if [ "$code" -ne 0 ]; then
  log "restic forget failed (exit $code)"
  exit "$code"
fi

stage=done
exit 0
`;
}

// ---------------------------------------------------------------------------------------------
// Cron → systemd OnCalendar
// ---------------------------------------------------------------------------------------------

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function values(field: string, index: number): number[] {
  const spec = CRON_FIELDS[index];
  const result = cronFieldValues(field, spec.min, spec.max);
  if (!Array.isArray(result)) throw new Error(`${spec.name} ${result.error}`);
  return result;
}

/** Compresses values into a systemd calendar component: "*", "0/15", "01..05,10". */
function calendarComponent(list: number[], min: number, max: number, pad: number): string {
  const text = (value: number) => String(value).padStart(pad, "0");
  if (list.length === max - min + 1) return "*";
  if (list.length >= 2) {
    const step = list[1] - list[0];
    const progression = list.every((value, i) => value === list[0] + i * step);
    if (progression && step > 1 && list[list.length - 1] + step > max) return `${text(list[0])}/${step}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
    if (j - i >= 2) parts.push(`${text(list[i])}..${text(list[j])}`);
    else for (let k = i; k <= j; k++) parts.push(text(list[k]));
    i = j + 1;
  }
  return parts.join(",");
}

function weekdayComponent(days: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < days.length; ) {
    let j = i;
    while (j + 1 < days.length && days[j + 1] === days[j] + 1) j++;
    if (j - i >= 2) parts.push(`${WEEKDAYS[days[i]]}..${WEEKDAYS[days[j]]}`);
    else for (let k = i; k <= j; k++) parts.push(WEEKDAYS[days[k]]);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * A five-field cron string ("m h dom mon dow", or "@daily") as systemd OnCalendar= values. Usually
 * one; two when both day-of-month and day-of-week are restricted, because cron runs when EITHER
 * matches while one systemd expression needs both (a timer takes several OnCalendar= lines).
 * Times are the host's local time, like cron's.
 */
export function cronToOnCalendar(cron: string): string[] {
  let fields: ReturnType<typeof parseCronFields>;
  let minute: number[], hour: number[], dom: number[], month: number[], dowRaw: number[];
  try {
    fields = parseCronFields(cron);
    [minute, hour, dom, month, dowRaw] = [fields.minute, fields.hour, fields.dom, fields.month, fields.dow].map(values);
  } catch (error) {
    throw new Error(`cannot convert cron "${cron}" to OnCalendar: ${(error as Error).message}`);
  }
  const dow = [...new Set(dowRaw.map((day) => day % 7))].sort((a, b) => a - b);
  const time = `${calendarComponent(hour, 0, 23, 2)}:${calendarComponent(minute, 0, 59, 2)}:00`;
  const monthText = calendarComponent(month, 1, 12, 2);
  const date = (days: number[]) => `*-${monthText}-${calendarComponent(days, 1, 31, 2)}`;
  const everyDom = dom.length === 31;
  const everyDow = dow.length === 7;
  // Vixie cron: a field written starting with "*" counts as unrestricted for the OR rule.
  const domRestricted = !fields.dom.startsWith("*");
  const dowRestricted = !fields.dow.startsWith("*");
  const withWeekdays = (days: number[]) => (days.length === 7 ? "" : `${weekdayComponent(days)} `);
  if (domRestricted && dowRestricted) {
    return [`${date(dom)} ${time}`, `${withWeekdays(dow)}${date(Array.from({ length: 31 }, (_, i) => i + 1))} ${time}`];
  }
  return [`${everyDow ? "" : withWeekdays(dow)}${date(everyDom ? Array.from({ length: 31 }, (_, i) => i + 1) : dom)} ${time}`];
}

// ---------------------------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------------------------

const TIMESPAN = /^(\d+(\.\d+)?\s*(us|usec|ms|msec|s|sec|seconds?|m|min|minutes?|h|hr|hours?|d|days?|w|weeks?)?\s*)+$/;

export const systemdUnitsOptionsSchema = z.strictObject({
  /** Unit base name: homelab-backup-<name>.service / .timer. */
  name: z.string().regex(NAME, { error: "must be lowercase letters, digits, '-' and '_' (at most 63)" }),
  description: noControl("description").optional(),
  /** OnCalendar= value(s): "daily", "weekly", "*-*-* 02:30:00" (see cronToOnCalendar). */
  schedule: z.union([noControl("schedule").pipe(z.string().min(1)), z.array(noControl("schedule").pipe(z.string().min(1))).min(1)]),
  /** Spreads the start so hosts do not hit the repository at once: seconds or a systemd time span. */
  randomizedDelaySec: z.union([z.int().min(0), z.string().regex(TIMESPAN, { error: 'must be a systemd time span such as "30m"' })]).default(1800),
  environmentFile: unitPath("environmentFile"),
  scriptPath: unitPath("scriptPath"),
  /**
   * Paths the backup may write besides its cache (CacheDirectory=, writable anyway): a local
   * repository, the hooks' dump directory, the lock file's directory. Each must exist (a missing
   * one is skipped: `ReadWritePaths=-`, and a write there fails as on a read-only file system).
   */
  readWritePaths: z
    .array(
      z.string().superRefine((path, ctx) => {
        const error = readWritePathError(path);
        if (error) ctx.addIssue({ code: "custom", message: `each readWritePath ${error}`, input: path });
      }),
    )
    .default([]),
  nice: z.int().min(-20).max(19).default(19),
  /** "idle" yields all disk time to other work (CFQ/BFQ only); "best-effort" if backups starve. */
  ioSchedulingClass: z.enum(["idle", "best-effort"]).default("idle"),
  /** Kills a hung run after this time span (default: no limit, like every oneshot service). */
  timeoutStartSec: z.string().regex(TIMESPAN).optional(),
});

export type SystemdUnitsInput = z.input<typeof systemdUnitsOptionsSchema>;

export function unitNames(name: string): { service: string; timer: string } {
  if (!NAME.test(name)) throw new Error(`invalid backup name "${name}"`);
  return { service: `homelab-backup-${name}.service`, timer: `homelab-backup-${name}.timer` };
}

/**
 * The oneshot service and its timer. Hardening keeps what a backup needs (root reads every file,
 * hooks reach systemctl, databases and /dev/zfs, restic reaches the network) and removes the rest.
 * Left out on purpose: User=/DynamicUser= (root must read every file), ProtectHome= (hides or
 * blocks /home), PrivateDevices=/ProtectClock=/DevicePolicy= (a device allow-list blocks /dev/zfs
 * and LVM for snapshot hooks), ProtectKernelModules= (makes /usr/lib/modules unreadable, so a
 * backup of / would end incomplete), PrivateNetwork= (S3 repositories), MemoryDenyWriteExecute=
 * and CapabilityBoundingSet= (hooks run arbitrary tools: JITs, runuser, systemctl).
 */
export function systemdUnits(input: SystemdUnitsInput): { service: string; timer: string } {
  const o = parseOrThrow(systemdUnitsOptionsSchema, input, "systemd unit options");
  const names = unitNames(o.name);
  const schedules = typeof o.schedule === "string" ? [o.schedule] : o.schedule;
  const description = o.description ?? `homelab-backups: restic backup (${o.name})`;
  const cache = `homelab-backups/${o.name}`;
  const lines = (entries: Array<string | false | undefined>) => entries.filter((line): line is string => typeof line === "string").join("\n");
  const readWritePaths = [...new Set(o.readWritePaths.map((path) => path.replace(/\/+$/, "")))];

  const service = lines([
    "# Generated by homelab-backups.",
    "[Unit]",
    `Description=${description}`,
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=oneshot",
    `ExecStart=${o.scriptPath}`,
    "# Repository, password file and S3 keys: root-only, never in this unit.",
    `EnvironmentFile=${o.environmentFile}`,
    `CacheDirectory=${cache}`,
    "CacheDirectoryMode=0700",
    `Environment=RESTIC_CACHE_DIR=%C/${cache}`,
    o.timeoutStartSec !== undefined && `TimeoutStartSec=${o.timeoutStartSec}`,
    "# Backups yield CPU and disk to everything else.",
    `Nice=${o.nice}`,
    "CPUSchedulingPolicy=batch",
    `IOSchedulingClass=${o.ioSchedulingClass}`,
    "# Read-only view of the system except the restic cache (CacheDirectory=) and the paths below;",
    "# runs as root so every file stays readable.",
    "ProtectSystem=strict",
    ...readWritePaths.map((path) => `ReadWritePaths=-${path}`),
    "PrivateTmp=yes",
    "NoNewPrivileges=yes",
    "UMask=0077",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "ProtectHostname=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "",
  ]);

  const timer = lines([
    "# Generated by homelab-backups.",
    "[Unit]",
    `Description=Schedule of ${names.service}`,
    "",
    "[Timer]",
    ...schedules.map((schedule) => `OnCalendar=${schedule}`),
    "# Runs a missed backup at boot (the host was off at the scheduled time).",
    "Persistent=true",
    `RandomizedDelaySec=${o.randomizedDelaySec}`,
    `Unit=${names.service}`,
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ]);
  return { service, timer };
}

// ---------------------------------------------------------------------------------------------
// Install / uninstall
// ---------------------------------------------------------------------------------------------

/** Where the files of one host backup live. Overridable (tests install into a temp dir). */
export interface HostBackupPaths {
  name: string;
  script: string;
  service: string;
  timer: string;
  environmentFile: string;
  cacheDir: string;
}

export function hostBackupPaths(name: string): HostBackupPaths {
  const units = unitNames(name);
  return {
    name,
    script: `/usr/local/lib/homelab-backups/${name}.sh`,
    service: `/etc/systemd/system/${units.service}`,
    timer: `/etc/systemd/system/${units.timer}`,
    environmentFile: `/etc/homelab-backups/${name}.env`,
    cacheDir: `/var/cache/homelab-backups/${name}`,
  };
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function checkedPaths(paths: HostBackupPaths): HostBackupPaths {
  unitNames(paths.name);
  for (const key of ["script", "service", "timer", "environmentFile", "cacheDir"] as const) {
    if (!UNIT_PATH.test(paths[key])) throw new Error(`paths.${key} "${paths[key]}" must be an absolute path of letters, digits and . _ / + @ -`);
  }
  return paths;
}

/** Creates the directories the copied files go to (CopyToRemote does not create parents). */
export function prepareCommands(paths: HostBackupPaths): string {
  const p = checkedPaths(paths);
  return [
    "set -eu",
    `install -d -m 0755 -o root -g root ${shellQuote(dirname(p.script))} ${shellQuote(dirname(p.service))}`,
    `install -d -m 0700 -o root -g root ${shellQuote(dirname(p.environmentFile))}`,
    "",
  ].join("\n");
}

/**
 * After the files are copied: root-owned script (0700) and units (0644), a root-only
 * environment file (refuses otherwise), `systemd-analyze verify`, daemon-reload, enable and
 * (re)start the timer so a new schedule takes effect. Idempotent; never starts a backup itself.
 */
export function installCommands(paths: HostBackupPaths): string {
  const p = checkedPaths(paths);
  const units = unitNames(p.name);
  return `set -eu
script=${shellQuote(p.script)}
service_file=${shellQuote(p.service)}
timer_file=${shellQuote(p.timer)}
env_file=${shellQuote(p.environmentFile)}
timer=${shellQuote(units.timer)}
for file in "$script" "$service_file" "$timer_file"; do
  if [ ! -f "$file" ]; then echo "homelab-backups: $file is missing: copy it before installing" >&2; exit 1; fi
done
if [ ! -f "$env_file" ]; then echo "homelab-backups: the environment file $env_file is missing" >&2; exit 1; fi
if [ "$(stat -c %u "$env_file")" != 0 ] || ! stat -c %a "$env_file" | grep -Eq '^[0-7]00$'; then
  echo "homelab-backups: $env_file holds secrets: it must be owned by root and readable by root only (chmod 600)" >&2
  exit 1
fi
chown root:root "$script" "$service_file" "$timer_file"
chmod 0700 "$script"
chmod 0644 "$service_file" "$timer_file"
if command -v systemd-analyze >/dev/null 2>&1; then systemd-analyze verify "$service_file" "$timer_file"; fi
systemctl daemon-reload
systemctl enable "$timer"
systemctl restart "$timer"
echo "homelab-backups: $timer enabled and started"
`;
}

export interface UninstallOptions {
  /**
   * Unit files of other installs that read the same environment file (a backup and its restore
   * drill share one): while any of them is still there, the environment file stays.
   */
  environmentFileSharedWith?: string[];
}

/**
 * On delete: stop and disable the timer, stop a running backup, remove the units, the script and
 * the restic cache, daemon-reload; then the environment file (the secrets the same install wrote),
 * unless another install in `environmentFileSharedWith` still reads it: whichever of them goes
 * last removes it. Keeps, of course, the repository, and the lock file (in /run/lock, gone at the
 * next boot). Idempotent: succeeds when everything is already gone.
 */
export function uninstallCommands(paths: HostBackupPaths, options: UninstallOptions = {}): string {
  const p = checkedPaths(paths);
  const units = unitNames(p.name);
  const shared = options.environmentFileSharedWith ?? [];
  for (const file of shared) {
    if (!UNIT_PATH.test(file)) throw new Error(`environmentFileSharedWith "${file}" must be an absolute path of letters, digits and . _ / + @ -`);
  }
  return `set -eu
script=${shellQuote(p.script)}
service_file=${shellQuote(p.service)}
timer_file=${shellQuote(p.timer)}
cache_dir=${shellQuote(p.cacheDir)}
env_file=${shellQuote(p.environmentFile)}
service=${shellQuote(units.service)}
timer=${shellQuote(units.timer)}
if [ -f "$timer_file" ]; then systemctl disable --now "$timer"; fi
if [ -f "$service_file" ]; then systemctl stop "$service"; fi
rm -f "$timer_file" "$service_file" "$script"
rmdir "$(dirname "$script")" 2>/dev/null || true
rm -rf "$cache_dir"
systemctl daemon-reload
systemctl reset-failed "$service" "$timer" 2>/dev/null || true
echo "homelab-backups: $timer and $service removed"
# The environment file holds the repository password and S3 keys: it goes with its last reader.
reader=''
for other in ${shared.length > 0 ? shared.map(shellQuote).join(" ") : "''"}; do
  if [ -n "$other" ] && [ -e "$other" ]; then reader=$other; fi
done
if [ -n "$reader" ]; then
  echo "homelab-backups: keeping $env_file: $reader still reads it"
else
  rm -f "$env_file"
  rmdir "$(dirname "$env_file")" 2>/dev/null || true
  echo "homelab-backups: $env_file removed"
fi
`;
}
