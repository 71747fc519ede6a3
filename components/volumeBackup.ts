import * as pulumi from "@pulumi/pulumi";
import { PlannedItem } from "../domain/plan";
import { protectionOf } from "../domain/protection";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";

export interface VolumeBackupArgs {
  /** The planned volume and its copies. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/** Backs up one app volume with VolSync, one ReplicationSource per planned copy. */
export class VolumeBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.volume;

  constructor(name: string, args: VolumeBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.volume, name, protectionOf(args.item), opts);
    this.registerOutputs({});
  }
}
