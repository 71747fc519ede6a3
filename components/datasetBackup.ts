import * as pulumi from "@pulumi/pulumi";
import { datasetTasks, truenasTarget } from "../domain/machines";
import type { PlannedItem } from "../domain/model";
import { protectionOf } from "../domain/protection";
import { CLOUDSYNC_SECRET_ENV } from "../domain/truenas";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";
import { machineCommand } from "./machineCommand";

export interface DatasetBackupArgs {
  /** The planned TrueNAS dataset: its snapshot periods and cloud sync copies. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
  /** Pulumi's SSH key for the TrueNAS box (secret). */
  sshPrivateKey: pulumi.Input<string>;
  /** The cloud sync encryption password and salt (secret), kept in the secret store too. */
  cloudsync: { password?: pulumi.Input<string>; salt?: pulumi.Input<string> };
}

/** A TrueNAS dataset's periodic snapshot tasks and encrypted cloud sync tasks, managed over SSH. */
export class DatasetBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.dataset;

  constructor(name: string, args: DatasetBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.dataset, name, protectionOf(item), opts);
    const { config } = args.context;
    const target = truenasTarget(config);
    for (const task of datasetTasks(config, item)) {
      const environment: Record<string, pulumi.Input<string>> = { SSH_PRIVATE_KEY: args.sshPrivateKey };
      if (task.forward.includes(CLOUDSYNC_SECRET_ENV.password)) {
        environment[CLOUDSYNC_SECRET_ENV.password] = args.cloudsync.password ?? "";
        environment[CLOUDSYNC_SECRET_ENV.salt] = args.cloudsync.salt ?? "";
      }
      machineCommand(`${name}-${task.name}`, target, task, environment, { parent: this });
    }
    // Stack policies read the declaration from the outputs (resource policies from the inputs).
    this.registerOutputs(protectionOf(item));
  }
}
