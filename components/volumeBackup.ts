import * as pulumi from "@pulumi/pulumi";
import { PlannedItem } from "../domain/plan";
import { protectionOf } from "../domain/protection";
import { externalSecretManifest, moverSecretRecipe } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { bootstrap, bootstrapCopy, dataLabels, replicationSource } from "../domain/volsync";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface VolumeBackupArgs {
  /** The planned volume and its copies. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * Backs up one app volume with VolSync: per copy, the mover's Secret (from the store, through an
 * ExternalSecret) and a ReplicationSource; optionally the restore-once bootstrap of the claim.
 */
export class VolumeBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.volume;

  constructor(name: string, args: VolumeBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.volume, name, protectionOf(item), opts);
    const { config } = args.context;
    const volume = config.apps[item.app].volumes[item.name];
    const store = { ...config.secretStore };

    const secrets = new Map<string, pulumi.CustomResource>();
    for (const copy of item.copies) {
      const recipe = moverSecretRecipe(config, item, copy);
      const secret = kubernetesObject(`${name}-${copy.destination}-secret`, externalSecretManifest(recipe, store, dataLabels(item, copy.destination)), {
        parent: this,
      });
      secrets.set(copy.destination, secret);
      kubernetesObject(`${name}-${copy.destination}`, replicationSource(config, item, volume, copy), {
        parent: this,
        dependsOn: [secret, ...args.context.operators],
      });
    }

    const restore = bootstrap(config, item, volume, config.images);
    if (restore) {
      const source = secrets.get(bootstrapCopy(item)!.destination)!;
      // Created once: a later change to the spec must never re-arm the restore.
      const destination = kubernetesObject(`${name}-bootstrap`, restore.destination, {
        parent: this,
        dependsOn: [source, ...args.context.operators],
        ignoreChanges: ["spec"],
      });
      const check = restore.check
        ? kubernetesObject(`${name}-restore-check`, restore.check, { parent: this, dependsOn: [source], ignoreChanges: ["spec"] })
        : undefined;
      kubernetesObject(`${name}-claim`, restore.claim, {
        parent: this,
        dependsOn: check ? [destination, check] : [destination],
        // The claim holds the app's data: Pulumi never deletes or replaces it.
        protect: true,
        retainOnDelete: true,
        ignoreChanges: ["spec.dataSourceRef", "spec.dataSource"],
      });
    }
    this.registerOutputs({});
  }
}
