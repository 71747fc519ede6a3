/**
 * Canary files for the restore drills of volumes. For every volume with `canary` on (by default
 * every drilled one), a CronJob in the app's namespace writes `.homelab-backups-canary` at the
 * root of the claim daily, CANARY_LEAD_MINUTES before the copy the drill restores from, so each
 * backup of that copy holds a canary at most a day old. The drill restores it and fails when it is
 * missing or stale: a backup whose files all restore can still hold the wrong or an old volume.
 * Pure: components/volumeCanary.ts wires the objects, domain/drills.ts the drills' check.
 */
import { Cron } from "croner";
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem, PlannedSchedule } from "./model";
import { drillCopy } from "./drillSchedule";
import { canaryWriteScript } from "./jobs/canary";
import type { CanaryCheck } from "./jobs/drills";
import { kubeName, LABELS } from "./naming";
import type { SecretRecipe } from "./repositories";
import { describeCron, maxGapHours, weeklyStartMinutes } from "./schedule";
import { claimOf } from "../methods/volsync/manifests";
import { backupCronJob, besideApp, jobLabels, notificationValues, notifyFor, SOURCE_MOUNT } from "./jobPods";

type Manifest = Record<string, unknown>;

/** How often a canary is rewritten. */
export const CANARY_INTERVAL_HOURS = 24;
/** How long before the drilled copy starts the canary job starts: time to schedule its pod, pull the image and write. */
export const CANARY_LEAD_MINUTES = 15;
/** The canary job's deadline: within the lead, so a slow run ends before the backup it precedes starts. */
export const CANARY_DEADLINE_SECONDS = 600;
/** The daylight-saving day's extra hour, and the mover's start-up between reading the volume and the snapshot's time. */
const CANARY_SLACK_HOURS = 2;

export interface PlannedCanary {
  /** The volume the canary is written to. */
  item: PlannedItem;
  /** The copy the canary is written before: the one the volume's drill restores from. */
  copy: PlannedCopy;
  /** Name of the CronJob, in the item's namespace. */
  name: string;
  namespace: string;
  schedule: PlannedSchedule;
  /** Hours the canary may be older than the snapshot a drill restores it from. */
  maxAgeHours: number;
}

/** Whether a volume writes a canary: its `canary` flag, by default when the volume is drilled. */
export function canaryEnabled(config: StackConfig, item: PlannedItem, drilled: boolean): boolean {
  if (item.kind !== "volume") return false;
  return config.apps[item.app].volumes[item.name].canary ?? drilled;
}

export function canaryName(item: PlannedItem): string {
  return kubeName([item.app, item.name, "canary"]);
}

/**
 * How much older than the snapshot holding it a canary may be. A snapshot holds the newest canary
 * written before its mover read the volume: with every run of the canary job on time, that one is
 * at most one canary interval older than the snapshot, and minutes older for the copy it precedes
 * when that copy runs daily. The bound adds one interval of the copy: when a canary run fails or
 * starts late (after its backup; startingDeadlineSeconds allows an hour), the copy's next backup
 * still holds the canary before it, so for copies that run daily or less often (the planner's
 * offsite copies) one lost run does not fail the drill; it alerts on its own (CanaryWriteFailed).
 * Slack covers the daylight-saving day and the mover's start-up. A canary older than that means the
 * snapshot does not hold what is written to the volume now: a source reading a stale or the wrong
 * claim, or backups of a volume the app no longer writes to. A daily copy gives 24 + 24 + 2 = 50 h.
 */
export function canaryMaxAgeHours(copy: PlannedCopy): number {
  return Math.ceil(CANARY_INTERVAL_HOURS + maxGapHours(copy.schedule.cron) + CANARY_SLACK_HOURS);
}

/**
 * A daily cron, local time like `copyCron`, CANARY_LEAD_MINUTES before the copy's first start of
 * the week. VolSync reads crons in UTC and gets the copy's shifted by the zone's standard offset,
 * so in daylight saving time the copy starts an hour later by the wall clock, the canary never.
 */
export function canaryCron(copyCron: string): string {
  const starts = weeklyStartMinutes(copyCron);
  const first = starts.length > 0 ? starts[0] % 1440 : firstRunMinuteOfDay(copyCron);
  const minute = (first - CANARY_LEAD_MINUTES + 1440) % 1440;
  return `${minute % 60} ${Math.floor(minute / 60)} * * *`;
}

/** For crons that do not run every week (monthly, yearly): the time of day of their next run. */
function firstRunMinuteOfDay(cron: string): number {
  const next = new Cron(cron.trim(), { paused: true, timezone: "UTC", mode: "5-part" }).nextRun(new Date(Date.UTC(2026, 0, 1)));
  if (!next) throw new Error(`the cron "${cron}" never runs: no canary can precede it`);
  return next.getUTCHours() * 60 + next.getUTCMinutes();
}

/** The canary of a volume item, or undefined when it has none (not a volume, canary off, no copy). */
export function volumeCanary(config: StackConfig, plan: BackupPlan, item: PlannedItem): PlannedCanary | undefined {
  if (item.kind !== "volume") return undefined;
  const drill = plan.jobs.find((job) => job.kind === "restore-drill" && job.itemId === item.id);
  if (!canaryEnabled(config, item, drill !== undefined)) return undefined;
  // An undrilled volume with `canary: true` writes before the copy a drill would take.
  const copy = item.copies.find((candidate) => candidate.id === drill?.copyId) ?? drillCopy(item.copies);
  if (!copy) return undefined;
  const cron = canaryCron(copy.schedule.cron);
  const timeZone = config.cluster.timezone;
  return {
    item,
    copy,
    name: canaryName(item),
    namespace: item.namespace,
    schedule: { spec: "daily", cron, controllerCron: cron, controllerTimeZone: timeZone, description: describeCron(cron, timeZone) },
    maxAgeHours: canaryMaxAgeHours(copy),
  };
}

export function volumeCanaries(config: StackConfig, plan: BackupPlan): PlannedCanary[] {
  return plan.items.flatMap((item) => volumeCanary(config, plan, item) ?? []);
}

/** What a drill of `copy` requires of the volume's canary; undefined when the volume writes none. */
export function drillCanary(config: StackConfig, item: PlannedItem, copy: PlannedCopy): CanaryCheck | undefined {
  if (!canaryEnabled(config, item, true)) return undefined;
  return { app: item.app, volume: item.name, maxAgeHours: canaryMaxAgeHours(copy) };
}

/** The Secret the canary job reads: its notification values; undefined when there are none. */
export function canarySecretRecipe(config: StackConfig, canary: PlannedCanary): SecretRecipe | undefined {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, canary.item.app, canary.item.name, "canary"]));
  if (Object.keys(template).length === 0) return undefined;
  return { name: kubeName(["hb", canary.name]), namespace: canary.namespace, template, values };
}

/**
 * The canary CronJob: as the volume's owner without an fsGroup (it must not re-own the app's
 * files), beside the app's pods (a ReadWriteOnce claim), in the restic image (busybox sh).
 */
export function canaryCronJob(config: StackConfig, canary: PlannedCanary): Manifest {
  const { item } = canary;
  const volume = config.apps[item.app].volumes[item.name];
  if (volume.uid === 0) {
    throw new Error(
      `${item.configPath}.volumes.${item.name}: the volume is owned by uid 0, and a Pod Security restricted pod cannot run as root to write its canary; set canary: false, or uid and gid to the owner of the volume's files`,
    );
  }
  return backupCronJob({
    name: canary.name,
    namespace: canary.namespace,
    labels: { ...jobLabels(item.app, item.tier, item.id), [LABELS.canary]: "true" },
    schedule: canary.schedule.controllerCron,
    timeZone: canary.schedule.controllerTimeZone,
    image: config.images.restic,
    script: canaryWriteScript({ dir: SOURCE_MOUNT, notify: notifyFor(config, item.app, item.name) }),
    uid: volume.uid,
    gid: volume.gid,
    secretName: canarySecretRecipe(config, canary)?.name,
    sourceClaim: claimOf(item, volume),
    affinity: besideApp(volume.appSelector ?? { "app.kubernetes.io/name": item.app }),
    deadlineSeconds: CANARY_DEADLINE_SECONDS,
  });
}
