import * as pulumi from "@pulumi/pulumi";
import { alertRules } from "../domain/alerts";
import { StackConfig } from "../domain/config/schema";
import type { BackupPlan } from "../domain/model";
import { COMPONENT_TYPES } from "../domain/types";
import { kubernetesObject } from "./kubernetes";

export interface BackupAlertsArgs {
  /** The validated stack config (alerts.*: on/off, runbook links, rule labels). */
  config: StackConfig;
  /** The plan the alerts watch: every copy, drill and verification. */
  plan: BackupPlan;
  /** Created first: the namespaces the rules live in. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** PrometheusRules for stale, failed and stuck backups, drills and verifications, severity by tier. */
export class BackupAlerts extends pulumi.ComponentResource {
  static readonly __pulumiType = COMPONENT_TYPES.alerts;

  constructor(name: string, args: BackupAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.alerts, name, { enabled: args.config.alerts.enabled }, opts);
    for (const rule of alertRules(args.config, args.plan)) {
      const metadata = rule.metadata as { name: string; namespace: string };
      kubernetesObject(`${metadata.namespace}-${metadata.name}`, rule, { parent: this, dependsOn: args.dependsOn });
    }
    this.registerOutputs({});
  }
}
