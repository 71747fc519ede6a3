import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../domain/config/schema";
import { BackupPlan, planBackups } from "../domain/plan";
import { COMPONENT_TYPES } from "../domain/types";
import { AppBackup } from "./appBackup";
import { BackupContext } from "./context";

export interface BackupPlatformArgs {
  /** The validated stack config (see domain/config/schema.ts). */
  config: StackConfig;
}

/** The whole backup system of one homelab, declared from its stack config. */
export class BackupPlatform extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.platform;

  /** The plan every child is wired from. */
  readonly plan: BackupPlan;
  readonly apps: Record<string, AppBackup> = {};

  constructor(name: string, args: BackupPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    const plan = planBackups(args.config);
    super(COMPONENT_TYPES.platform, name, { cluster: plan.clusterName, timeZone: plan.timeZone }, opts);
    this.plan = plan;

    const kubernetes = new k8s.Provider(
      "kubernetes",
      { context: args.config.cluster.kubeContext, enableServerSideApply: true },
      { parent: this },
    );
    const context: BackupContext = { config: args.config, plan, kubernetes };
    for (const app of plan.apps) {
      this.apps[app.name] = new AppBackup(app.name, { app, context }, { parent: this, providers: { kubernetes } });
    }
    this.registerOutputs({});
  }
}
