import * as pulumi from "@pulumi/pulumi";
import { dumpCronJob, dumpSecretRecipe } from "../methods/dumps/manifests";
import type { PlannedItem } from "../domain/model";
import { protectionOf } from "../domain/protection";
import { externalSecretManifest } from "../domain/repositories";
import { COMPONENT_TYPES } from "../domain/types";
import { dataLabels } from "../methods/volsync/manifests";
import { BackupContext } from "./context";
import { kubernetesObject } from "./kubernetes";

export interface DumpBackupArgs {
  /** The planned Postgres, SQLite or Redis dump and where it goes. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/**
 * Dumps one database to the NAS share on a schedule (the app's offsite jobs, in DumpOffsite,
 * take the dump directory further).
 */
export class DumpBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.dump;

  constructor(name: string, args: DumpBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.dump, name, protectionOf(item), opts);
    const { config } = args.context;
    const dump = item.copies.find((copy) => copy.method === "dump");
    if (dump) {
      const recipe = dumpSecretRecipe(config, item);
      const secret = recipe
        ? kubernetesObject(`${name}-secret`, externalSecretManifest(recipe, { ...config.secretStore }, dataLabels(item)), { parent: this })
        : undefined;
      kubernetesObject(`${name}-dump`, dumpCronJob(config, item, dump), { parent: this, dependsOn: secret ? [secret] : [] });
    }
    // Stack policies read the declaration from the outputs (resource policies from the inputs).
    this.registerOutputs(protectionOf(item));
  }
}
