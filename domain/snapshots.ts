/**
 * CSI snapshot schedules with SnapScheduler: one SnapshotSchedule per namespace, tier, period and
 * VolumeSnapshotClass, selecting the claims the program labels with their tier and class (a class
 * belongs to one CSI driver: a claim on another StorageClass needs its own). Retention is both a
 * count and an age (the CRD counts hours: no days). SnapScheduler reads crons in UTC.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "./model";
import { PATCH_ANNOTATION } from "../methods/pgbackrest/cluster";
import { kubeName, LABEL_PREFIX, LABELS, labelValue } from "./naming";
import { volumeSnapshotClassOf } from "../methods/volsync/manifests";

type Manifest = Record<string, unknown>;

/** The label SnapshotSchedules select claims by: "tier-<n>". */
export const SNAPSHOT_LABEL = `${LABEL_PREFIX}/snapshots`;

/** The second label they select by: the claim's VolumeSnapshotClass. */
export const SNAPSHOT_CLASS_LABEL = `${LABEL_PREFIX}/snapshot-class`;

const PERIOD_HOURS = { hourly: 1, daily: 24, weekly: 168 } as const;
type Period = keyof typeof PERIOD_HOURS;

export function snapshotLabelValue(tier: number): string {
  return `tier-${tier}`;
}

/** The labels a snapshotted claim carries: its tier and its VolumeSnapshotClass. */
export function snapshotLabels(item: { tier: number }, snapshotClass: string): Record<string, string> {
  return { [SNAPSHOT_LABEL]: snapshotLabelValue(item.tier), [SNAPSHOT_CLASS_LABEL]: labelValue(snapshotClass) };
}

export interface ScheduleGroup {
  namespace: string;
  tier: number;
  period: Period;
  /** The VolumeSnapshotClass of every claim the schedule selects. */
  snapshotClass: string;
  /** Whether that is cluster.volumeSnapshotClass (its schedules keep their names from before classes). */
  clusterClass: boolean;
  copy: PlannedCopy;
}

/** One schedule per namespace, tier, period and snapshot class, from the csi-snapshot copies of the plan. */
export function snapshotScheduleGroups(config: StackConfig, plan: BackupPlan): ScheduleGroup[] {
  const groups = new Map<string, ScheduleGroup>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.method !== "csi-snapshot") continue;
      const period = copy.schedule.spec as Period;
      const snapshotClass = volumeSnapshotClassOf(config, config.apps[item.app].volumes[item.name]);
      const key = `${item.namespace}/${item.tier}/${period}/${snapshotClass}`;
      if (!groups.has(key)) {
        groups.set(key, { namespace: item.namespace, tier: item.tier, period, snapshotClass, clusterClass: snapshotClass === config.cluster.volumeSnapshotClass, copy });
      }
    }
  }
  return [...groups.values()];
}

/** "hb-tier-1-hourly" for the cluster's class, "hb-tier-1-<class>-hourly" for another; always ends with the period. */
export function snapshotScheduleName(group: Pick<ScheduleGroup, "tier" | "period" | "snapshotClass" | "clusterClass">): string {
  const base = ["hb", `tier-${group.tier}`, ...(group.clusterClass ? [] : [group.snapshotClass])];
  return `${kubeName(base, 62 - group.period.length)}-${group.period}`;
}

export function snapshotSchedule(group: ScheduleGroup): Manifest {
  const count = group.copy.retention.kind === "gfs" ? (group.copy.retention[group.period] ?? 1) : 1;
  const labels = { [LABELS.managedBy]: "homelab-backups", [LABELS.tier]: String(group.tier), [SNAPSHOT_CLASS_LABEL]: labelValue(group.snapshotClass) };
  return {
    apiVersion: "snapscheduler.backube/v1",
    kind: "SnapshotSchedule",
    metadata: { name: snapshotScheduleName(group), namespace: group.namespace, labels },
    spec: {
      schedule: group.copy.schedule.controllerCron,
      claimSelector: { matchLabels: snapshotLabels(group, group.snapshotClass) },
      retention: { maxCount: count, expires: `${count * PERIOD_HOURS[group.period]}h` },
      snapshotTemplate: { snapshotClassName: group.snapshotClass, labels },
    },
  };
}

/** A server-side apply patch that adds the snapshot labels to a claim the user owns. */
export function claimSnapshotLabelPatch(item: PlannedItem, claim: string, snapshotClass: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: claim,
      namespace: item.namespace,
      labels: snapshotLabels(item, snapshotClass),
      annotations: { [PATCH_ANNOTATION]: "true" },
    },
  };
}
