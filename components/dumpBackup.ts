import * as pulumi from "@pulumi/pulumi";
import { PlannedItem } from "../domain/plan";
import { protectionOf } from "../domain/protection";
import { COMPONENT_TYPES } from "../domain/types";
import { BackupContext } from "./context";

export interface DumpBackupArgs {
  /** The planned Postgres, SQLite or Redis dump and where it goes. */
  item: PlannedItem;
  /** Config, plan and providers shared by all components. */
  context: BackupContext;
}

/** Dumps one database to the NAS share on a schedule, then copies the dumps offsite. */
export class DumpBackup extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.dump;

  constructor(name: string, args: DumpBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.dump, name, protectionOf(args.item), opts);
    this.registerOutputs({});
  }
}
