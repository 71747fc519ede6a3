import * as pulumi from "@pulumi/pulumi";
import { hostDrillTask, hostTarget, hostTask } from "../domain/machines";
import type { PlannedItem } from "../domain/model";
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

/** A host's restic backups and restore drill: script, systemd service and timer each, installed over SSH. */
export class HostBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.host;

  constructor(name: string, args: HostBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    const { item } = args;
    super(COMPONENT_TYPES.host, name, protectionOf(item), opts);
    const { config } = args.context;
    const target = hostTarget(config, item);
    const installed = new Map<string, pulumi.Resource>();
    for (const copy of item.copies.filter((c) => c.method === "host-restic")) {
      const credential = args.bucketCredentials[copy.destination];
      if (!credential) throw new Error(`no bucket credential for ${item.id} on ${copy.destination}`);
      const task = hostTask(config, item, copy);
      const command = machineCommand(
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
      installed.set(copy.id, command);
    }
    // The drill reads the backup's environment file, so it is installed after the backup (and
    // deleted before it); whichever of the two goes last removes the file (domain/machines.ts).
    for (const job of args.context.plan.jobs.filter((j) => j.kind === "restore-drill" && j.itemId === item.id)) {
      const backup = installed.get(job.copyId ?? "");
      machineCommand(`${name}-drill`, target, hostDrillTask(config, item, job), { SSH_PRIVATE_KEY: args.sshPrivateKey }, { parent: this, dependsOn: backup ? [backup] : [] });
    }
    // Stack policies read the declaration from the outputs (resource policies from the inputs).
    this.registerOutputs(protectionOf(item));
  }
}
