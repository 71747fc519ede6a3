import * as pulumi from "@pulumi/pulumi";
import { offsiteCronJob, offsiteSecretRecipe } from "../methods/dumps/manifests";
import type { PlannedCopy, PlannedItem } from "../domain/model";
import { externalSecretManifest } from "../domain/repositories";
import { dataLabels } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface DumpOffsiteArgs {
  /** A dump item of the app (its copy to this destination carries the shared schedule). */
  item: PlannedItem;
  /** That item's copy to the offsite destination (method dump-restic or dump-rsync). */
  copy: PlannedCopy;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * Takes one app's whole dump directory to one offsite destination: restic to B2/R2 or rsync over
 * SSH with a pinned host key. One job per app and destination, so no two lock one repository.
 */
export class DumpOffsite extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:databases:DumpOffsite";

  constructor(name: string, args: DumpOffsiteArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item, copy } = args;
    super(DumpOffsite.__pulumiType, name, { app: item.app, destination: copy.destination, method: copy.method, schedule: copy.schedule.controllerCron }, opts);
    const { config } = args.context;
    const recipe = offsiteSecretRecipe(config, item, copy);
    const secret = kubernetesObject(`${name}-secret`, externalSecretManifest(recipe, { ...config.secretStore }, dataLabels(item, copy.destination)), { parent: this });
    kubernetesObject(`${name}-job`, offsiteCronJob(config, item, copy), { parent: this, dependsOn: [secret] });
    this.registerOutputs({});
  }
}
