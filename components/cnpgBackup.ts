import * as pulumi from "@pulumi/pulumi";
import { PlannedItem } from "../domain/plan";
import { protectionOf } from "../domain/protection";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";

export interface CnpgBackupArgs {
  /** The planned CloudNativePG cluster and its pgBackRest repositories. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/** Backs up one CloudNativePG cluster with the pgBackRest plugin. */
export class CnpgBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.cnpg;

  constructor(name: string, args: CnpgBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.cnpg, name, protectionOf(args.item), opts);
    this.registerOutputs({});
  }
}
