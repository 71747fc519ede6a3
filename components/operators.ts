import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../domain/config/schema";
import { ChartSpec, snapschedulerChart, snapshotControllerChart, volsyncChart } from "../domain/operators";

export interface OperatorsArgs {
  /** The validated stack config (operators section). */
  config: StackConfig;
}

/** Helm releases of the operators the stack manages, pinned; nothing when all are external. */
export class Operators extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:operators:Operators";

  /** Releases other objects must wait for (their CRDs and controllers). */
  readonly releases: k8s.helm.v3.Release[] = [];

  constructor(name: string, args: OperatorsArgs, opts?: pulumi.ComponentResourceOptions) {
    const { operators } = args.config;
    const charts: ChartSpec[] = [
      ...(operators.snapshotController.manage ? [snapshotControllerChart(args.config)] : []),
      ...(operators.volsync.manage ? [volsyncChart(args.config)] : []),
      ...(operators.snapscheduler.manage ? [snapschedulerChart(args.config)] : []),
    ];
    super(Operators.__pulumiType, name, { releases: charts.map((chart) => `${chart.release}@${chart.version}`) }, opts);
    for (const chart of charts) {
      this.releases.push(
        new k8s.helm.v3.Release(
          chart.release,
          {
            name: chart.release,
            chart: chart.chart,
            version: chart.version,
            ...(chart.repository ? { repositoryOpts: { repo: chart.repository } } : {}),
            namespace: chart.namespace,
            createNamespace: true,
            atomic: true,
            values: chart.values,
          },
          // Uninstalling VolSync would take its CRDs, and with them every ReplicationSource.
          { parent: this, retainOnDelete: true },
        ),
      );
    }
    this.registerOutputs({});
  }
}
