/**
 * TrueNAS SCALE tasks managed over SSH with the middleware client (`midclt`): periodic snapshot
 * tasks (`pool.snapshottask.*`) and cloud sync tasks (`cloudsync.*`). Pure: this module builds
 * validated payloads and the shell text a `remote.Command` runs on the NAS; it imports no Pulumi.
 *
 * How the commands fit a `remote.Command` (create / update / delete):
 * - create prints exactly one line, `{"id": N}`, on stdout: the task it created or adopted. That
 *   stdout is the resource's output, and the command provider hands it back to update and delete
 *   in `PULUMI_COMMAND_STDOUT`.
 * - update and delete act on that id only. Delete never looks a task up by dataset or path, so a
 *   task made by hand for the same data is never removed.
 * - Everything but the `{"id": N}` line goes to stderr.
 *
 * Requirements on the NAS side (they are not visible from here):
 * - The provider passes `PULUMI_COMMAND_STDOUT` and `environment` (the cloud sync encryption
 *   secrets) with SSH `setenv`, which sshd drops unless it accepts them. On TrueNAS add
 *   `AcceptEnv PULUMI_COMMAND_STDOUT PULUMI_COMMAND_STDERR CLOUDSYNC_ENCRYPTION_PASSWORD CLOUDSYNC_ENCRYPTION_SALT`
 *   to System → Services → SSH → Auxiliary Parameters. Without it the provider only warns; these
 *   scripts then fail with a message naming AcceptEnv instead of guessing an id.
 * - The connection must pin the NAS's SSH host key (the Pulumi side passes it to the connection),
 *   since the commands run as a user that can change every task.
 * - The scripts use only `midclt` and `python3`, both on every SCALE release; not `jq`. The shell
 *   part is plain POSIX sh (also valid zsh, the default root shell on SCALE).
 *
 * Known limits:
 * - The secrets reach the NAS through the environment and leave the script as `midclt` arguments,
 *   so root on the NAS can see them in the process list for the moment the call runs; they never
 *   appear in the command text, in Pulumi's state or in the scripts' output.
 * - TrueNAS keeps tasks in SQLite tables without AUTOINCREMENT: when the newest task is deleted by
 *   hand, the next task made gets its id again. Delete therefore checks that the task with the
 *   recorded id still belongs to the same dataset (snapshot) or path (cloud sync) and leaves it
 *   alone otherwise. Update cannot make that check (the dataset may be what is changing).
 */
import { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Cron strings
// ---------------------------------------------------------------------------------------------

/** The five cron fields with their ranges; day-of-week 7 is Sunday like 0. */
export const CRON_FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "dom", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "dow", min: 0, max: 7 },
] as const;

export type CronFieldName = (typeof CRON_FIELDS)[number]["name"];

const CRON_NICKNAMES: Readonly<Record<string, string>> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

const CRON_ITEM = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/;

/**
 * The values one cron field matches, or an error. Grammar: comma lists of `*`, `N`, `N-M`, each
 * optionally with a `/step` (`*\/15`, `0-30/10`). Names (`MON`, `JAN`) and `L`/`W`/`#` are refused:
 * not every consumer (TrueNAS, systemd conversion, Kubernetes controllers) reads them alike.
 */
export function cronFieldValues(field: string, min: number, max: number): number[] | { error: string } {
  if (field === "") return { error: "is empty" };
  const values = new Set<number>();
  for (const item of field.split(",")) {
    const match = CRON_ITEM.exec(item);
    if (!match) return { error: `"${item}" is not *, a number, a range or a step` };
    const step = match[4] === undefined ? 1 : Number(match[4]);
    if (step < 1) return { error: `"${item}" has a step of 0` };
    let from = min;
    let to = max;
    if (match[1] !== "*") {
      from = Number(match[2]);
      to = match[3] === undefined ? (match[4] === undefined ? from : max) : Number(match[3]);
    }
    if (from < min || to > max) return { error: `"${item}" is outside ${min}-${max}` };
    if (from > to) return { error: `"${item}" is a backwards range` };
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}

/** A five-field cron string split into its fields, nicknames resolved. */
export type CronFields = Record<CronFieldName, string>;

/** Splits and validates "m h dom mon dow" (or a nickname such as "@daily"); throws on errors. */
export function parseCronFields(cron: string): CronFields {
  const trimmed = cron.trim();
  const expanded = CRON_NICKNAMES[trimmed] ?? trimmed;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(`cron "${cron}" has ${parts.length} fields; expected five (minute hour day-of-month month day-of-week)`);
  }
  const fields = {} as CronFields;
  CRON_FIELDS.forEach((spec, index) => {
    const result = cronFieldValues(parts[index], spec.min, spec.max);
    if (!Array.isArray(result)) throw new Error(`cron "${cron}": ${spec.name} ${result.error}`);
    fields[spec.name] = parts[index];
  });
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Schemas (mirroring the SCALE 24.x / 25.x middleware fields)
// ---------------------------------------------------------------------------------------------

const cronField = (name: CronFieldName) => {
  const spec = CRON_FIELDS.find((field) => field.name === name)!;
  return z.string().superRefine((value, ctx) => {
    const result = cronFieldValues(value, spec.min, spec.max);
    if (!Array.isArray(result)) ctx.addIssue({ code: "custom", message: `not a cron ${name} field: ${result.error}` });
  });
};

const clockTime = () => z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time "HH:MM" (00:00-23:59)' });

export const truenasCronScheduleSchema = z.strictObject({
  minute: cronField("minute"),
  hour: cronField("hour"),
  dom: cronField("dom"),
  month: cronField("month"),
  dow: cronField("dow"),
});

/** Snapshot task schedules also carry the window (`begin`-`end`) in which runs may start. */
export const truenasSnapshotScheduleSchema = truenasCronScheduleSchema.extend({
  begin: clockTime().default("00:00"),
  end: clockTime().default("23:59"),
});

export const LIFETIME_UNITS = ["HOUR", "DAY", "WEEK", "MONTH", "YEAR"] as const;
export type LifetimeUnit = (typeof LIFETIME_UNITS)[number];

/** strftime tokens a naming schema must contain (TrueNAS parses snapshot times back from names). */
export const NAMING_SCHEMA_TOKENS = ["%Y", "%m", "%d", "%H", "%M"] as const;

const datasetName = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-][A-Za-z0-9_.: -]*)*$/, {
      error: 'must be a ZFS dataset name such as "tank/apps/immich" (no leading "/", no "@")',
    });

export const snapshotTaskSchema = z
  .strictObject({
    dataset: datasetName(),
    recursive: z.boolean().default(false),
    exclude: z.array(datasetName()).default([]),
    lifetime_value: z.int({ error: "must be a whole number" }).min(1, { error: "must be at least 1" }),
    lifetime_unit: z.enum(LIFETIME_UNITS),
    naming_schema: z
      .string()
      .min(1)
      .superRefine((value, ctx) => {
        const missing = NAMING_SCHEMA_TOKENS.filter((token) => !value.includes(token));
        if (missing.length > 0) {
          ctx.addIssue({ code: "custom", message: `must contain ${NAMING_SCHEMA_TOKENS.join(" ")}; missing ${missing.join(" ")}` });
        }
        if (/[/@\s]/.test(value)) ctx.addIssue({ code: "custom", message: 'must not contain "/", "@" or whitespace' });
      }),
    schedule: truenasSnapshotScheduleSchema,
    allow_empty: z.boolean().default(true),
    enabled: z.boolean().default(true),
  })
  .superRefine((task, ctx) => {
    if (task.exclude.length > 0 && !task.recursive) {
      ctx.addIssue({ code: "custom", path: ["exclude"], message: "only recursive tasks can exclude child datasets" });
    }
    task.exclude.forEach((child, index) => {
      if (!child.startsWith(`${task.dataset}/`)) {
        ctx.addIssue({ code: "custom", path: ["exclude", index], message: `"${child}" is not a child dataset of "${task.dataset}"` });
      }
    });
  });

/** What callers write: omitted fields take the defaults shown in the schema. */
export type SnapshotTaskInput = z.input<typeof snapshotTaskSchema>;
/** The complete payload sent to `pool.snapshottask.create/update`. */
export type SnapshotTaskPayload = z.output<typeof snapshotTaskSchema>;

const mntPath = () =>
  z
    .string()
    .regex(/^\/mnt\/[^\0\n]+$/, { error: 'must be a path under /mnt, e.g. "/mnt/storage0/images"' })
    .refine((value) => !value.split("/").includes(".."), { error: 'must not contain ".."' });

const bwlimitSchema = z.strictObject({
  time: clockTime(),
  bandwidth: z.int().min(1).nullable(),
});

/** Every documented cloud sync field except the two encryption secrets. */
const cloudSyncFields = {
  description: z.string().min(1, { error: "must not be empty" }),
  path: mntPath(),
  credentials: z.int({ error: "must be the numeric id of a cloud credential" }).min(1),
  attributes: z.strictObject({
    bucket: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{1,61}[A-Za-z0-9]$/, { error: "must be a bucket name (3-63 letters, digits, '.', '-')" }),
    folder: z.string().regex(/^[^\0\n]*$/).default(""),
  }),
  direction: z.literal("PUSH", { error: 'must be "PUSH" (these tasks send data offsite)' }).default("PUSH"),
  transfer_mode: z.enum(["SYNC", "COPY"]),
  schedule: truenasCronScheduleSchema,
  encryption: z.boolean().default(true),
  snapshot: z.boolean().default(true),
  enabled: z.boolean().default(true),
  bwlimit: z.array(bwlimitSchema).default([]),
  exclude: z.array(z.string().min(1)).default([]),
  pre_script: z.string().default(""),
  post_script: z.string().default(""),
  transfers: z.int().min(1).max(64).default(4),
};

/**
 * The full middleware payload, secrets included: what the script on the NAS sends after merging
 * the secrets from its environment. TypeScript code never builds one of these with real secrets.
 */
export const cloudSyncTaskSchema = z
  .strictObject({
    ...cloudSyncFields,
    encryption_password: z.string().optional(),
    encryption_salt: z.string().optional(),
  })
  .superRefine((task, ctx) => {
    if (task.encryption && !task.encryption_password) {
      ctx.addIssue({ code: "custom", path: ["encryption_password"], message: "is required when encryption is on" });
    }
  });

/**
 * What the Pulumi side passes: the payload without `encryption_password` / `encryption_salt`.
 * Those keys are refused here, so a secret cannot end up inlined in a command string.
 */
export const cloudSyncTaskSpecSchema = z.strictObject(cloudSyncFields);

export type CloudSyncTaskInput = z.input<typeof cloudSyncTaskSpecSchema>;
export type CloudSyncTaskSpec = z.output<typeof cloudSyncTaskSpecSchema>;
export type CloudSyncTaskPayload = z.output<typeof cloudSyncTaskSchema>;

/** Environment variables the cloud sync scripts read the encryption secrets from. */
export const CLOUDSYNC_SECRET_ENV = {
  password: "CLOUDSYNC_ENCRYPTION_PASSWORD",
  salt: "CLOUDSYNC_ENCRYPTION_SALT",
} as const;

export class TruenasPayloadError extends Error {
  constructor(
    readonly what: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid ${what} (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "TruenasPayloadError";
  }
}

function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new TruenasPayloadError(
    what,
    result.error.issues.map((issue) => `${issue.path.length === 0 ? "(payload)" : issue.path.map(String).join(".")}: ${issue.message}`),
  );
}

/** Validates a snapshot task and fills the defaults; throws TruenasPayloadError. */
export function snapshotTaskPayload(input: SnapshotTaskInput): SnapshotTaskPayload {
  return parseOrThrow(snapshotTaskSchema, input, "TrueNAS snapshot task");
}

/** Validates a cloud sync task (no secrets) and fills the defaults; throws TruenasPayloadError. */
export function cloudSyncTaskSpec(input: CloudSyncTaskInput): CloudSyncTaskSpec {
  return parseOrThrow(cloudSyncTaskSpecSchema, input, "TrueNAS cloud sync task");
}

// ---------------------------------------------------------------------------------------------
// Intent → TrueNAS values
// ---------------------------------------------------------------------------------------------

export interface TruenasLifetime {
  lifetime_value: number;
  lifetime_unit: LifetimeUnit;
}

/**
 * A retention in hours as a TrueNAS lifetime, in the largest unit that states it exactly: 168 →
 * 1 WEEK, 48 → 2 DAY, 36 → 36 HOUR. Never MONTH or YEAR: TrueNAS counts those in calendar months
 * and years, which no number of hours equals.
 */
export function lifetimeFromHours(hours: number): TruenasLifetime {
  if (!Number.isInteger(hours) || hours < 1) throw new Error(`retention of ${hours} hours: expected a whole number of hours, at least 1`);
  if (hours % 168 === 0) return { lifetime_value: hours / 168, lifetime_unit: "WEEK" };
  if (hours % 24 === 0) return { lifetime_value: hours / 24, lifetime_unit: "DAY" };
  return { lifetime_value: hours, lifetime_unit: "HOUR" };
}

const PERIOD_UNITS: Readonly<Record<RetentionPeriod, LifetimeUnit>> = {
  hourly: "HOUR",
  daily: "DAY",
  weekly: "WEEK",
  monthly: "MONTH",
  yearly: "YEAR",
};
export type RetentionPeriod = "hourly" | "daily" | "weekly" | "monthly" | "yearly";

/**
 * Keeping `count` recovery points of a task that runs once per `period` ("7 daily") as a
 * lifetime: 7 DAY. TrueNAS keeps snapshots by age, so this keeps `count` snapshots only when the
 * task runs exactly once per period.
 */
export function lifetimeForRetention(period: RetentionPeriod, count: number): TruenasLifetime {
  if (!Number.isInteger(count) || count < 1) throw new Error(`${count} ${period}: expected a whole number, at least 1`);
  return { lifetime_value: count, lifetime_unit: PERIOD_UNITS[period] };
}

export type TruenasCronSchedule = z.output<typeof truenasCronScheduleSchema>;
export type TruenasSnapshotSchedule = z.output<typeof truenasSnapshotScheduleSchema>;

/** "m h dom mon dow" (or "@daily") as a cloud sync schedule object; throws on invalid cron. */
export function cronToTruenasSchedule(cron: string): TruenasCronSchedule {
  const { minute, hour, dom, month, dow } = parseCronFields(cron);
  return { minute, hour, dom, month, dow };
}

/** The same for snapshot tasks, with the run window (default: the whole day). */
export function cronToTruenasSnapshotSchedule(cron: string, window: { begin: string; end: string } = { begin: "00:00", end: "23:59" }): TruenasSnapshotSchedule {
  return parseOrThrow(truenasSnapshotScheduleSchema, { ...cronToTruenasSchedule(cron), ...window }, "TrueNAS snapshot schedule");
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/** Quotes a string for POSIX sh (and bash, zsh): single quotes, with ' written as '\''. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

type TaskKind = "snapshot" | "cloudsync";
type TaskAction = "create" | "update" | "delete";

/**
 * The program every script runs, the same text for every task: the payload, the action and the
 * identity come in as environment variables set on the python3 command line. It reads its
 * program from a quoted heredoc, so nothing in it is expanded by the shell.
 */
export const TRUENAS_TASK_PROGRAM = String.raw`import json, os, subprocess, sys

KINDS = {
    "snapshot": {"ns": "pool.snapshottask", "label": "periodic snapshot task", "key": "dataset"},
    "cloudsync": {"ns": "cloudsync", "label": "cloud sync task", "key": "path"},
}
SECRET_ENV = {"encryption_password": "CLOUDSYNC_ENCRYPTION_PASSWORD", "encryption_salt": "CLOUDSYNC_ENCRYPTION_SALT"}
SECRETS = []


class Failure(Exception):
    pass


def log(message):
    sys.stderr.write("homelab-backups: " + redact(message) + "\n")


def redact(text):
    for secret in SECRETS:
        text = text.replace(secret, "[secret]")
    return text


def midclt(method, *args):
    argv = ["midclt", "call", method] + [a if isinstance(a, str) else json.dumps(a) for a in args]
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except FileNotFoundError:
        raise Failure("midclt not found: these commands run on TrueNAS SCALE")
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()
        raise Failure("midclt call %s failed (exit %d): %s" % (method, done.returncode, redact(detail[-1] if detail else "no message")))
    out = done.stdout.strip()
    if not out:
        return None
    try:
        return json.loads(out)
    except ValueError:
        raise Failure("midclt call %s printed something that is not JSON" % method)


def task_id(task):
    value = task.get("id") if isinstance(task, dict) else None
    if type(value) is not int or value < 1:
        raise Failure("the middleware returned a task without a numeric id")
    return value


def get_task(kind, tid):
    found = midclt(KINDS[kind]["ns"] + ".query", [["id", "=", tid]])
    return found[0] if found else None


def recorded_id():
    raw = os.environ.get("PULUMI_COMMAND_STDOUT", "")
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        raise Failure(
            "PULUMI_COMMAND_STDOUT is empty, so the id of the task to act on is unknown. The command "
            "provider passes it over SSH setenv: add 'AcceptEnv PULUMI_COMMAND_STDOUT PULUMI_COMMAND_STDERR' "
            "to the TrueNAS SSH service's auxiliary parameters. Nothing was changed."
        )
    try:
        value = json.loads(lines[-1])
    except ValueError:
        value = None
    if not isinstance(value, dict) or type(value.get("id")) is not int or value["id"] < 1:
        raise Failure('the previous output does not end with a {"id": N} line; nothing was changed')
    return value["id"]


def norm_path(path):
    return (path or "").rstrip("/")


def norm_folder(folder):
    return (folder or "").strip("/")


def norm_time(value):
    text = str(value or "")
    return text.zfill(5) if ":" in text else text


def schedule_key(schedule, with_window):
    schedule = schedule or {}
    key = tuple(str(schedule.get(field, "")).strip() for field in ("minute", "hour", "dom", "month", "dow"))
    if with_window:
        key += (norm_time(schedule.get("begin", "00:00")), norm_time(schedule.get("end", "23:59")))
    return key


def candidates(kind, want):
    if kind == "snapshot":
        found = midclt("pool.snapshottask.query", [["dataset", "=", want["dataset"]]]) or []
        return [t for t in found if t.get("dataset") == want["dataset"]
                and t.get("naming_schema") == want["naming_schema"]
                and schedule_key(t.get("schedule"), True) == schedule_key(want["schedule"], True)]
    # All tasks, not a path filter: a task made in the UI may spell the path with a trailing "/".
    found = midclt("cloudsync.query", []) or []
    attrs = want["attributes"]
    return [t for t in found if norm_path(t.get("path")) == norm_path(want["path"])
            and t.get("direction") == want["direction"]
            and (t.get("attributes") or {}).get("bucket") == attrs["bucket"]
            and norm_folder((t.get("attributes") or {}).get("folder")) == norm_folder(attrs.get("folder"))]


def describe(kind, want):
    if kind == "snapshot":
        return want["dataset"]
    return "%s -> %s/%s" % (want["path"], want["attributes"]["bucket"], norm_folder(want["attributes"].get("folder")))


def check_adoptable(kind, task, want):
    """Adopting a cloud sync task must not change the key its remote copy is encrypted with."""
    if kind != "cloudsync":
        return
    tid = task_id(task)
    has, wants = bool(task.get("encryption")), bool(want["encryption"])
    if has != wants:
        raise Failure(
            "cloud sync task %d already pushes %s %s encryption; adopting it would mix %s files into that "
            "folder. Delete or repoint task %d by hand, or choose another folder. Nothing was changed."
            % (tid, describe(kind, want), "with" if has else "without", "plain" if has else "encrypted", tid))
    if has and (task.get("encryption_password") != want.get("encryption_password")
                or (task.get("encryption_salt") or "") != (want.get("encryption_salt") or "")):
        raise Failure(
            "cloud sync task %d already pushes %s with a different encryption password or salt; adopting it "
            "would re-key the remote copy. Fix task %d by hand or choose another folder. Nothing was changed."
            % (tid, describe(kind, want), tid))


def adopt_or_create(kind, want):
    spec = KINDS[kind]
    matches = sorted(candidates(kind, want), key=task_id)
    if matches:
        task = matches[0]
        tid = task_id(task)
        if len(matches) > 1:
            log("%d %ss match %s (ids %s); adopting the lowest and leaving the others alone"
                % (len(matches), spec["label"], describe(kind, want), ", ".join(str(task_id(t)) for t in matches)))
        check_adoptable(kind, task, want)
        midclt(spec["ns"] + ".update", tid, want)
        log("adopted existing %s %d for %s" % (spec["label"], tid, describe(kind, want)))
        return tid
    created = midclt(spec["ns"] + ".create", want)
    tid = task_id(created)
    log("created %s %d for %s" % (spec["label"], tid, describe(kind, want)))
    return tid


def with_secrets(kind, payload):
    if kind != "cloudsync" or not payload.get("encryption"):
        return payload
    merged = dict(payload)
    for field, env in sorted(SECRET_ENV.items()):
        value = os.environ.get(env, "")
        if not value:
            raise Failure(
                "%s is not set: encryption is on, so the remote command must set it in its environment "
                "(and the TrueNAS SSH service must AcceptEnv it). Nothing was changed." % env)
        SECRETS.append(value)
        merged[field] = value
    return merged


def main():
    kind, action = os.environ["HB_TASK_KIND"], os.environ["HB_TASK_ACTION"]
    spec = KINDS[kind]
    if action == "delete":
        identity = json.loads(os.environ["HB_TASK_IDENTITY"])
        tid = recorded_id()
        task = get_task(kind, tid)
        if task is None:
            log("%s %d is already gone; nothing to delete" % (spec["label"], tid))
            return 0
        key = spec["key"]
        if norm_path(task.get(key)) != norm_path(identity[key]):
            log("%s %d now belongs to %s %r, not %r: it is not the task this resource made (its id was "
                "reused, or it was repointed by hand). Leaving it alone."
                % (spec["label"], tid, key, task.get(key), identity[key]))
            return 0
        try:
            midclt(spec["ns"] + ".delete", tid)
        except Failure:
            if get_task(kind, tid) is None:
                log("%s %d disappeared while deleting it" % (spec["label"], tid))
                return 0
            raise
        log("deleted %s %d" % (spec["label"], tid))
        return 0

    want = with_secrets(kind, json.loads(os.environ["HB_TASK_PAYLOAD"]))
    if action == "create":
        tid = adopt_or_create(kind, want)
    else:
        tid = recorded_id()
        if get_task(kind, tid) is None:
            log("%s %d recorded by the last run no longer exists; making it again" % (spec["label"], tid))
            tid = adopt_or_create(kind, want)
        else:
            midclt(spec["ns"] + ".update", tid, want)
            log("updated %s %d" % (spec["label"], tid))
    sys.stdout.write(json.dumps({"id": tid}) + "\n")
    return 0


try:
    sys.exit(main())
except Failure as failure:
    log("error: " + str(failure))
    sys.exit(1)
except Exception as error:  # never print a traceback: its values could include the payload
    log("error: unexpected %s: %s" % (type(error).__name__, error))
    sys.exit(1)
`;

const HEREDOC = "HOMELAB_BACKUPS_TASK_PY";

function taskScript(kind: TaskKind, action: TaskAction, env: Record<string, string>, comment: string): string {
  if (TRUENAS_TASK_PROGRAM.split("\n").includes(HEREDOC)) throw new Error("heredoc delimiter occurs in the program");
  const assignments = Object.entries({ HB_TASK_KIND: kind, HB_TASK_ACTION: action, ...env })
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(" \\\n  ");
  return `# homelab-backups: ${comment}\n${assignments} \\\n  python3 - <<'${HEREDOC}'\n${TRUENAS_TASK_PROGRAM}${HEREDOC}\n`;
}

/** The create/update/delete command strings for one `remote.Command`. */
export interface TaskCommands {
  create: string;
  update: string;
  delete: string;
}

/**
 * Create: adopts a task on the same dataset with the same schedule and naming schema (updating it
 * to the payload), else creates one; prints `{"id": N}`.
 */
export function snapshotTaskCreateCommand(input: SnapshotTaskInput): string {
  const payload = snapshotTaskPayload(input);
  return taskScript("snapshot", "create", { HB_TASK_PAYLOAD: JSON.stringify(payload) }, `create or adopt the periodic snapshot task of ${payload.dataset}`);
}

/** Update: updates the task whose id is in PULUMI_COMMAND_STDOUT; recreates it if it is gone. */
export function snapshotTaskUpdateCommand(input: SnapshotTaskInput): string {
  const payload = snapshotTaskPayload(input);
  return taskScript("snapshot", "update", { HB_TASK_PAYLOAD: JSON.stringify(payload) }, `update the periodic snapshot task of ${payload.dataset}`);
}

/**
 * Delete: deletes the task whose id is in PULUMI_COMMAND_STDOUT, if it still exists and still
 * snapshots `dataset`; succeeds when it is gone.
 */
export function snapshotTaskDeleteCommand(identity: { dataset: string }): string {
  const dataset = parseOrThrow(datasetName(), identity.dataset, "dataset");
  return taskScript("snapshot", "delete", { HB_TASK_IDENTITY: JSON.stringify({ dataset }) }, `delete the periodic snapshot task of ${dataset} (by recorded id)`);
}

export function snapshotTaskCommands(input: SnapshotTaskInput): TaskCommands & { payload: SnapshotTaskPayload } {
  const payload = snapshotTaskPayload(input);
  return {
    payload,
    create: snapshotTaskCreateCommand(payload),
    update: snapshotTaskUpdateCommand(payload),
    delete: snapshotTaskDeleteCommand(payload),
  };
}

/**
 * Create: adopts a PUSH task with the same path, bucket and folder (updating it to the payload),
 * else creates one; prints `{"id": N}`. With encryption on, reads the password and salt from
 * CLOUDSYNC_ENCRYPTION_PASSWORD / CLOUDSYNC_ENCRYPTION_SALT, and refuses to adopt a task whose
 * encryption differs (that would re-key or mix the remote copy).
 */
export function cloudSyncTaskCreateCommand(input: CloudSyncTaskInput): string {
  const spec = cloudSyncTaskSpec(input);
  return taskScript("cloudsync", "create", { HB_TASK_PAYLOAD: JSON.stringify(spec) }, `create or adopt the cloud sync task ${spec.path} -> ${spec.attributes.bucket}`);
}

export function cloudSyncTaskUpdateCommand(input: CloudSyncTaskInput): string {
  const spec = cloudSyncTaskSpec(input);
  return taskScript("cloudsync", "update", { HB_TASK_PAYLOAD: JSON.stringify(spec) }, `update the cloud sync task ${spec.path} -> ${spec.attributes.bucket}`);
}

export function cloudSyncTaskDeleteCommand(identity: { path: string }): string {
  const path = parseOrThrow(mntPath(), identity.path, "path");
  return taskScript("cloudsync", "delete", { HB_TASK_IDENTITY: JSON.stringify({ path }) }, `delete the cloud sync task of ${path} (by recorded id)`);
}

export function cloudSyncTaskCommands(input: CloudSyncTaskInput): TaskCommands & { spec: CloudSyncTaskSpec; secretEnv: typeof CLOUDSYNC_SECRET_ENV } {
  const spec = cloudSyncTaskSpec(input);
  return {
    spec,
    secretEnv: CLOUDSYNC_SECRET_ENV,
    create: cloudSyncTaskCreateCommand(spec),
    update: cloudSyncTaskUpdateCommand(spec),
    delete: cloudSyncTaskDeleteCommand(spec),
  };
}
