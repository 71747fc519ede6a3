import * as pulumi from "@pulumi/pulumi";
import type { PlannedItem } from "../domain/model";
import { protectionOf } from "../domain/protection";
import { externalSecretManifest, moverSecretRecipe } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { bootstrap, bootstrapCopy, claimOf, dataLabels, replicationSource, RESTORE_CHECK_TIMEOUT, volumeSnapshotClassOf } from "../methods/volsync/manifests";
import { claimSnapshotLabelPatch, snapshotLabels } from "../domain/snapshots";
import * as k8s from "@pulumi/kubernetes";
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
 * ExternalSecret) and a ReplicationSource; optionally the restore-once bootstrap of the claim,
 * for tier 1 behind a restore check.
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
    for (const copy of item.copies.filter((c) => c.method === "volsync-restic" || c.method === "volsync-kopia")) {
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
    const snapshotted = item.copies.some((copy) => copy.method === "csi-snapshot");
    const snapshotClass = volumeSnapshotClassOf(config, volume);
    if (snapshotted && !restore) {
      // The claim is the user's: only the labels SnapScheduler selects it by are applied.
      new k8s.core.v1.PersistentVolumeClaimPatch(
        `${name}-snapshot-label`,
        claimSnapshotLabelPatch(item, claimOf(item, volume), snapshotClass) as k8s.core.v1.PersistentVolumeClaimPatchArgs,
        { parent: this },
      );
    }
    if (restore) {
      const source = secrets.get(bootstrapCopy(item)!.destination)!;
      // Tier 1: check Job -> restore -> claim. The check must pass before the restore-once
      // ReplicationDestination exists: a restore from an unreachable repository "succeeds" with an
      // empty snapshot, and the claim would be populated from it once the check passed later.
      // Kept and never re-run once passed; a failed check blocks both until it is replaced.
      const check = restore.check
        ? kubernetesObject(`${name}-restore-check`, restore.check, {
            parent: this,
            dependsOn: [source],
            ignoreChanges: ["spec"],
            // The Job has a fixed name: a replacement (to re-run a failed check) deletes it first.
            deleteBeforeReplace: true,
            customTimeouts: { create: RESTORE_CHECK_TIMEOUT, update: RESTORE_CHECK_TIMEOUT },
          })
        : undefined;
      // Created once: a later change to the spec must never re-arm the restore.
      const destination = kubernetesObject(`${name}-bootstrap`, restore.destination, {
        parent: this,
        dependsOn: [source, ...args.context.operators, ...(check ? [check] : [])],
        ignoreChanges: ["spec"],
      });
      if (snapshotted) {
        const metadata = restore.claim.metadata as { labels: Record<string, string> };
        metadata.labels = { ...metadata.labels, ...snapshotLabels(item, snapshotClass) };
      }
      kubernetesObject(`${name}-claim`, restore.claim, {
        parent: this,
        dependsOn: check ? [destination, check] : [destination],
        // The claim holds the app's data: Pulumi never deletes or replaces it.
        protect: true,
        retainOnDelete: true,
        ignoreChanges: ["spec.dataSourceRef", "spec.dataSource"],
      });
    }
    // Stack policies read the declaration from the outputs (resource policies from the inputs).
    this.registerOutputs(protectionOf(item));
  }
}
