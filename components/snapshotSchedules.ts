import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../domain/config/schema";
import type { BackupPlan } from "../domain/model";
import { snapshotSchedule, snapshotScheduleGroups } from "../domain/snapshots";
import { kubernetesObject } from "./kubernetes";

export interface SnapshotSchedulesArgs {
  /** The validated stack config (the volumes' and the cluster's snapshot classes). */
  config: StackConfig;
  /** The plan: its csi-snapshot copies decide the schedules. */
  plan: BackupPlan;
  /** Operator releases the schedules wait for. */
  operators: pulumi.Resource[];
}

/** SnapScheduler schedules for every namespace with labelled claims, one per tier, period and snapshot class. */
export class SnapshotSchedules extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:snapshots:SnapshotSchedules";

  constructor(name: string, args: SnapshotSchedulesArgs, opts?: pulumi.ComponentResourceOptions) {
    const groups = snapshotScheduleGroups(args.config, args.plan);
    const id = (group: (typeof groups)[number]) => [group.namespace, `tier-${group.tier}`, ...(group.clusterClass ? [] : [group.snapshotClass]), group.period];
    super(SnapshotSchedules.__pulumiType, name, { schedules: groups.map((group) => id(group).join("/")) }, opts);
    for (const group of groups) {
      // The cluster class's schedules keep their names (and URNs) from before per-volume classes.
      kubernetesObject(id(group).join("-"), snapshotSchedule(group), { parent: this, dependsOn: args.operators });
    }
    this.registerOutputs({});
  }
}
