import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../domain/config/schema";
import type { BackupPlan } from "../domain/plan";
import { snapshotSchedule, snapshotScheduleGroups } from "../domain/snapshots";
import { kubernetesObject } from "./kubernetes";

export interface SnapshotSchedulesArgs {
  /** The validated stack config (snapshot class). */
  config: StackConfig;
  /** The plan: its csi-snapshot copies decide the schedules. */
  plan: BackupPlan;
  /** Operator releases the schedules wait for. */
  operators: pulumi.Resource[];
}

/** SnapScheduler schedules for every namespace with labelled claims, one per tier and period. */
export class SnapshotSchedules extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:snapshots:SnapshotSchedules";

  constructor(name: string, args: SnapshotSchedulesArgs, opts?: pulumi.ComponentResourceOptions) {
    const groups = snapshotScheduleGroups(args.plan);
    super(SnapshotSchedules.__pulumiType, name, { schedules: groups.map((g) => `${g.namespace}/tier-${g.tier}/${g.period}`) }, opts);
    for (const group of groups) {
      kubernetesObject(`${group.namespace}-tier-${group.tier}-${group.period}`, snapshotSchedule(args.config, group), {
        parent: this,
        dependsOn: args.operators,
      });
    }
    this.registerOutputs({});
  }
}
