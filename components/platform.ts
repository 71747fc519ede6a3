import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../domain/config/schema";
import { LABELS } from "../domain/naming";
import { BackupPlan, planBackups, planSummary } from "../domain/plan";
import { COMPONENT_TYPES } from "../domain/types";
import { AppBackup } from "./appBackup";
import { BackupContext } from "./context";

/** Pod Security Admission: the namespace admits only pods that pass the "restricted" profile. */
const RESTRICTED_POD_SECURITY = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/warn": "restricted",
};

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
  /** Locked-down namespace for generated credentials and shared backup jobs. */
  readonly systemNamespace: k8s.core.v1.Namespace;

  constructor(name: string, args: BackupPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    const plan = planBackups(args.config);
    super(COMPONENT_TYPES.platform, name, { cluster: plan.clusterName, timeZone: plan.timeZone }, opts);
    this.plan = plan;

    const kubernetes = new k8s.Provider(
      "kubernetes",
      { context: args.config.cluster.kubeContext, enableServerSideApply: true },
      { parent: this },
    );
    const labels = { [LABELS.managedBy]: "homelab-backups" };
    this.systemNamespace = new k8s.core.v1.Namespace(
      "system-namespace",
      {
        metadata: {
          name: args.config.cluster.systemNamespace,
          labels: { ...labels, ...RESTRICTED_POD_SECURITY },
        },
      },
      // Deleting the namespace would delete every credential in it; a stack teardown leaves it.
      { parent: this, provider: kubernetes, retainOnDelete: true },
    );
    new k8s.core.v1.ConfigMap(
      "backup-plan",
      {
        metadata: { name: "backup-plan", namespace: this.systemNamespace.metadata.name, labels },
        data: { "plan.json": JSON.stringify(planSummary(plan), null, 2) },
      },
      { parent: this, provider: kubernetes },
    );

    const context: BackupContext = { config: args.config, plan, kubernetes };
    for (const app of plan.apps) {
      this.apps[app.name] = new AppBackup(app.name, { app, context }, { parent: this, providers: { kubernetes } });
    }
    this.registerOutputs({});
  }
}
