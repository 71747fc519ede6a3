import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../domain/config/schema";
import { LABELS } from "../domain/naming";
import { planBackups, planSummary } from "../domain/plan";
import type { BackupPlan } from "../domain/model";
import { secretOwners } from "../domain/secrets";
import { bucketConsumers } from "../domain/storage";
import { COMPONENT_TYPES } from "../domain/types";
import { AppBackup } from "./appBackup";
import { BackupAlerts } from "./backupAlerts";
import { BackupContext } from "./context";
import { Operators } from "./operators";
import { SnapshotSchedules } from "./snapshotSchedules";
import { RepositoryVerification } from "./repositoryVerification";
import { verificationName } from "../domain/verification";
import { kopiaMirrors } from "../methods/volsync-kopia/mirror";
import { machineComponent } from "./machines";
import { NasShare } from "./nasShare";
import { nasMounts } from "../domain/nas";
import { CredentialStore } from "./secrets/credentialStore";
import { ConsumerCredential } from "./storage/credentials";
import { StorageComponent, storageComponent } from "./storage/registry";

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
  /** Offsite destinations by name, with their endpoints, buckets and consumers. */
  readonly destinations: Record<string, StorageComponent> = {};

  constructor(name: string, args: BackupPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config } = args;
    const plan = planBackups(config);
    super(COMPONENT_TYPES.platform, name, { cluster: plan.clusterName, timeZone: plan.timeZone }, opts);
    this.plan = plan;

    const kubernetes = new k8s.Provider("kubernetes", { context: config.cluster.kubeContext, enableServerSideApply: true }, { parent: this });
    const labels = { [LABELS.managedBy]: "homelab-backups" };
    this.systemNamespace = new k8s.core.v1.Namespace(
      "system-namespace",
      { metadata: { name: config.cluster.systemNamespace, labels: { ...labels, ...RESTRICTED_POD_SECURITY } } },
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

    const bucketCredentials = this.offsiteStorage(config, plan);
    const store = new CredentialStore(
      "credentials",
      { config, plan, owners: secretOwners(config, plan), bucketCredentials, systemNamespace: this.systemNamespace.metadata.name },
      { parent: this, providers: { kubernetes } },
    );

    const operators = new Operators("operators", { config }, { parent: this, providers: { kubernetes } });
    const mounts = nasMounts(plan);
    for (const destination of [...new Set(mounts.map((mount) => mount.destination))]) {
      new NasShare(
        destination,
        { config, destination, namespaces: mounts.filter((mount) => mount.destination === destination).map((mount) => mount.namespace) },
        { parent: this, providers: { kubernetes } },
      );
    }
    const context: BackupContext = { config, plan, mirrors: kopiaMirrors(config, plan), kubernetes, operators: operators.releases };
    for (const app of plan.apps) {
      this.apps[app.name] = new AppBackup(app.name, { app, context }, { parent: this, providers: { kubernetes } });
    }
    new SnapshotSchedules("snapshots", { config, plan, operators: operators.releases }, { parent: this, providers: { kubernetes } });
    new BackupAlerts("alerts", { config, plan, dependsOn: [this.systemNamespace] }, { parent: this, providers: { kubernetes } });
    this.machines(context, store, bucketCredentials);
    this.registerOutputs({
      destinations: Object.fromEntries(
        Object.entries(this.destinations).map(([destination, component]) => [destination, { endpoint: component.endpoint, buckets: component.bucketNames }]),
      ),
    });
  }

  /** Machine data (TrueNAS datasets, hosts; see components/machines.ts), and the verification of what lives outside any app namespace. */
  private machines(context: BackupContext, store: CredentialStore, bucketCredentials: Record<string, Record<string, ConsumerCredential>>): void {
    const { plan } = context;
    for (const item of plan.items) {
      machineComponent(item.kind)?.({ item, context, store, bucketCredentials, systemNamespace: this.systemNamespace }, { parent: this });
      // Hosts' repositories are verified from the cluster's system namespace, with the store's copy of their keys.
      if (item.namespace === "") {
        for (const job of plan.jobs.filter((j) => j.kind === "verify" && j.itemId === item.id)) {
          new RepositoryVerification(verificationName(job), { job, context }, { parent: this, providers: { kubernetes: context.kubernetes }, dependsOn: [this.systemNamespace] });
        }
      }
    }
  }

  /** Object-storage destinations that hold at least one bucket; returns each consumer's credential. */
  private offsiteStorage(config: StackConfig, plan: BackupPlan): Record<string, Record<string, ConsumerCredential>> {
    const consumers = bucketConsumers(config, plan);
    const credentials: Record<string, Record<string, ConsumerCredential>> = {};
    for (const destination of plan.destinations) {
      if (destination.buckets.length === 0) continue;
      const create = storageComponent(config.destinations[destination.name].kind);
      if (!create) continue;
      const consumersHere = consumers.filter((consumer) => consumer.destination === destination.name);
      const component = create({ config, plan, destination, consumers: consumersHere }, { parent: this });
      this.destinations[destination.name] = component;
      credentials[destination.name] = component.credentials;
    }
    return credentials;
  }
}
