import * as pulumi from "@pulumi/pulumi";
import { canaryCronJob, canarySecretRecipe, PlannedCanary } from "../domain/canary";
import { LABELS } from "../domain/naming";
import { externalSecretManifest } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { dataLabels } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface VolumeCanaryArgs {
  /** The planned canary: its volume, the copy it precedes, its schedule. */
  canary: PlannedCanary;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * The CronJob that writes a volume's restore-drill canary daily before the drilled backup, and the
 * ExternalSecret of its notification values.
 */
export class VolumeCanary extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.canary;

  constructor(name: string, args: VolumeCanaryArgs, opts?: pulumi.ComponentResourceOptions) {
    const { canary } = args;
    super(COMPONENT_TYPES.canary, name, { data: canary.item.id, before: canary.copy.id, schedule: canary.schedule.description, maxAgeHours: canary.maxAgeHours }, opts);
    const { config } = args.context;
    const recipe = canarySecretRecipe(config, canary);
    const dependsOn = recipe
      ? [kubernetesObject(`${name}-secret`, externalSecretManifest(recipe, { ...config.secretStore }, { ...dataLabels(canary.item), [LABELS.canary]: "true" }), { parent: this })]
      : [];
    kubernetesObject(`${name}-job`, canaryCronJob(config, canary), { parent: this, dependsOn });
    this.registerOutputs({});
  }
}
