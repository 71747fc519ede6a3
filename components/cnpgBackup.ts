import * as pulumi from "@pulumi/pulumi";
import { clusterPatch, ownedCluster, pluginConfig, scheduledBackups, stanza } from "../methods/pgbackrest/cluster";
import type { PlannedItem } from "../domain/model";
import { protectionOf } from "../domain/protection";
import { externalSecretManifest, pgbackrestSecretRecipe } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { dataLabels } from "../methods/volsync/manifests";
import * as k8s from "@pulumi/kubernetes";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface CnpgBackupArgs {
  /** The planned CloudNativePG cluster and its pgBackRest repositories. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * Backs up one CloudNativePG cluster with the pgBackRest plugin: its credentials Secret (from the
 * store), Stanza, PluginConfig, the Cluster's plugin entry and the ScheduledBackups.
 */
export class CnpgBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.cnpg;

  constructor(name: string, args: CnpgBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.cnpg, name, protectionOf(item), opts);
    const { config, plan, operators } = args.context;
    if (item.copies.length === 0) {
      this.registerOutputs(protectionOf(item));
      return;
    }
    const secret = kubernetesObject(
      `${name}-secret`,
      externalSecretManifest(pgbackrestSecretRecipe(config, item), { ...config.secretStore }, dataLabels(item)),
      { parent: this },
    );
    const after = { parent: this, dependsOn: [secret, ...operators] };
    const stanzaResource = kubernetesObject(`${name}-stanza`, stanza(config, item), after);
    const plugin = kubernetesObject(`${name}-plugin-config`, pluginConfig(config, item), after);
    const database = config.apps[item.app].databases[item.name];
    const cluster =
      database?.engine === "cnpg" && database.owned
        ? // The program owns the Cluster and its data: never deleted or replaced by Pulumi.
          kubernetesObject(`${name}-cluster`, ownedCluster(config, item), { ...after, dependsOn: [stanzaResource, plugin], protect: true, retainOnDelete: true })
        : new k8s.apiextensions.CustomResourcePatch(`${name}-cluster-plugin`, clusterPatch(config, item) as k8s.apiextensions.CustomResourcePatchArgs, {
            parent: this,
            dependsOn: [stanzaResource, plugin],
          });
    for (const backup of scheduledBackups(config, plan, item)) {
      const backupName = (backup.metadata as { name: string }).name;
      kubernetesObject(`${name}-${backupName}`, backup, { parent: this, dependsOn: [cluster] });
    }
    // Stack policies read the declaration from the outputs (resource policies from the inputs).
    this.registerOutputs(protectionOf(item));
  }
}
