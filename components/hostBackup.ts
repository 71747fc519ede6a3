import * as pulumi from "@pulumi/pulumi";
import { hostTarget, hostTask } from "../domain/machines";
import { PlannedItem } from "../domain/plan";
import { protectionOf } from "../domain/protection";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";
import { machineCommand } from "./machineCommand";
import type { ConsumerCredential } from "./storage/credentials";

export interface HostBackupArgs {
  /** The planned host and its restic copies. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
  /** Pulumi's SSH key for the host (secret). */
  sshPrivateKey: pulumi.Input<string>;
  /** The host's restic repository password (secret), kept in the secret store too. */
  resticPassword: pulumi.Input<string>;
  /** The host's bucket credential per destination. */
  bucketCredentials: Record<string, ConsumerCredential | undefined>;
}

/** A host's restic backups: script, systemd service and timer per destination, installed over SSH. */
export class HostBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.host;

  constructor(name: string, args: HostBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.host, name, protectionOf(item), opts);
    const { config } = args.context;
    const target = hostTarget(config, item);
    for (const copy of item.copies.filter((c) => c.method === "host-restic")) {
      const credential = args.bucketCredentials[copy.destination];
      if (!credential) throw new Error(`no bucket credential for ${item.id} on ${copy.destination}`);
      const task = hostTask(config, item, copy);
      machineCommand(
        `${name}-${copy.destination}`,
        target,
        task,
        {
          SSH_PRIVATE_KEY: args.sshPrivateKey,
          RESTIC_PASSWORD: args.resticPassword,
          AWS_ACCESS_KEY_ID: credential.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credential.secretAccessKey,
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
