import * as pulumi from "@pulumi/pulumi";
import { restoreDrill } from "../domain/drills";
import type { PlannedItem, PlannedJob } from "../domain/model";
import { externalSecretManifest } from "../domain/repositories";
import { LABELS } from "../domain/naming";
import { COMPONENT_TYPES } from "../domain/types";
import { dataLabels } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface RestoreDrillArgs {
  /** The drilled data item. */
  item: PlannedItem;
  /** Its planned restore drill: schedule, drilled copy, freshness limit. */
  job: PlannedJob;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * A scheduled restore drill: a CronJob that restores the newest backup of one copy into scratch
 * space, proves it usable and reports how long that took; its credentials come from the store.
 */
export class RestoreDrill extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.drill;

  constructor(name: string, args: RestoreDrillArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item, job } = args;
    super(COMPONENT_TYPES.drill, name, { data: item.id, copy: job.copyId, schedule: job.schedule.description, maxAgeHours: job.maxAgeHours }, opts);
    const { config } = args.context;
    const drill = restoreDrill(config, item, job);
    const dependsOn = drill.secret
      ? [kubernetesObject(`${name}-secret`, externalSecretManifest(drill.secret, { ...config.secretStore }, { ...dataLabels(item, job.destination), [LABELS.drill]: "true" }), { parent: this })]
      : [];
    kubernetesObject(`${name}-job`, drill.cronJob, { parent: this, dependsOn });
    this.registerOutputs({});
  }
}
