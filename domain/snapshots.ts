/**
 * CSI snapshot schedules with SnapScheduler: one SnapshotSchedule per namespace, tier and period,
 * selecting the claims the program labels with their tier. Retention is both a count and an age
 * (the CRD counts hours: no days). SnapScheduler reads crons in UTC.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "./plan";
import { PATCH_ANNOTATION } from "./cnpg";
import { kubeName, LABELS, LABEL_PREFIX } from "./naming";

type Manifest = Record<string, unknown>;

/** The label SnapshotSchedules select claims by: "tier-<n>". */
export const SNAPSHOT_LABEL = `${LABEL_PREFIX}/snapshots`;

const PERIOD_HOURS = { hourly: 1, daily: 24, weekly: 168 } as const;
type Period = keyof typeof PERIOD_HOURS;

export function snapshotLabelValue(tier: number): string {
  return `tier-${tier}`;
}

interface ScheduleGroup {
  namespace: string;
  tier: number;
  period: Period;
  copy: PlannedCopy;
}

/** One schedule per namespace, tier and period, from the csi-snapshot copies of the plan. */
export function snapshotScheduleGroups(plan: BackupPlan): ScheduleGroup[] {
  const groups = new Map<string, ScheduleGroup>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.method !== "csi-snapshot") continue;
      const period = copy.schedule.spec as Period;
      const key = `${item.namespace}/${item.tier}/${period}`;
      if (!groups.has(key)) groups.set(key, { namespace: item.namespace, tier: item.tier, period, copy });
    }
  }
  return [...groups.values()];
}

export function snapshotSchedule(config: StackConfig, group: ScheduleGroup): Manifest {
  const count = group.copy.retention.kind === "gfs" ? (group.copy.retention[group.period] ?? 1) : 1;
  return {
    apiVersion: "snapscheduler.backube/v1",
    kind: "SnapshotSchedule",
    metadata: {
      name: kubeName(["hb", `tier-${group.tier}`, group.period]),
      namespace: group.namespace,
      labels: { [LABELS.managedBy]: "homelab-backups", [LABELS.tier]: String(group.tier) },
    },
    spec: {
      schedule: group.copy.schedule.controllerCron,
      claimSelector: { matchLabels: { [SNAPSHOT_LABEL]: snapshotLabelValue(group.tier) } },
      retention: { maxCount: count, expires: `${count * PERIOD_HOURS[group.period]}h` },
      snapshotTemplate: {
        snapshotClassName: config.cluster.volumeSnapshotClass,
        labels: { [LABELS.managedBy]: "homelab-backups", [LABELS.tier]: String(group.tier) },
      },
    },
  };
}

/** A server-side apply patch that adds the snapshot label to a claim the user owns. */
export function claimSnapshotLabelPatch(item: PlannedItem, claim: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: claim,
      namespace: item.namespace,
      labels: { [SNAPSHOT_LABEL]: snapshotLabelValue(item.tier) },
      annotations: { [PATCH_ANNOTATION]: "true" },
    },
  };
}
