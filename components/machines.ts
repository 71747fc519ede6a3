/**
 * The components of data that lives on a machine rather than in an app (TrueNAS datasets,
 * hosts), by data kind: the platform asks this registry and names no kind.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PlannedItem } from "../domain/model";
import { BackupContext } from "./context";
import { DatasetBackup } from "./datasetBackup";
import { HostBackup } from "./hostBackup";
import { RestoreDrill } from "./restoreDrill";
import { CredentialStore } from "./secrets/credentialStore";
import { ConsumerCredential } from "./storage/credentials";

export interface MachineWiring {
  item: PlannedItem;
  context: BackupContext;
  store: CredentialStore;
  /** Each destination's consumer credentials, by destination and consumer id. */
  bucketCredentials: Record<string, Record<string, ConsumerCredential>>;
  /** The cluster's system namespace, where drills of machine data run. */
  systemNamespace: k8s.core.v1.Namespace;
}

type MachineFactory = (wiring: MachineWiring, opts: pulumi.ComponentResourceOptions) => void;

const MACHINE_COMPONENTS: Readonly<Record<string, MachineFactory>> = {
  dataset({ item, context, store, systemNamespace }, opts) {
    const { config, plan } = context;
    const passwords = store.passwords[item.app] ?? {};
    new DatasetBackup(
      `truenas-${item.name}`,
      {
        item,
        context,
        sshPrivateKey: pulumi.secret(config.credentials.truenas?.sshPrivateKey ?? ""),
        cloudsync: { password: passwords["cloudsync-password"], salt: passwords["cloudsync-salt"] },
      },
      opts,
    );
    // The drill runs in the cluster's system namespace: it needs only the bucket and the passwords.
    for (const job of plan.jobs.filter((j) => j.kind === "restore-drill" && j.itemId === item.id)) {
      new RestoreDrill(`truenas-${item.name}-drill`, { item, job, context }, { ...opts, providers: { kubernetes: context.kubernetes }, dependsOn: [systemNamespace] });
    }
  },
  host({ item, context, store, bucketCredentials }, opts) {
    const credentials = Object.fromEntries(
      item.copies.map((copy) => [copy.destination, Object.values(bucketCredentials[copy.destination] ?? {}).find((c) => c.consumer.owner === item.app)]),
    );
    new HostBackup(
      `host-${item.name}`,
      {
        item,
        context,
        sshPrivateKey: pulumi.secret(context.config.credentials[item.name]?.sshPrivateKey ?? ""),
        resticPassword: store.passwords[item.app]?.["restic-password"] ?? "",
        bucketCredentials: credentials,
      },
      opts,
    );
  },
};

/** The components of a machine item of `kind`, or undefined for app data. */
export function machineComponent(kind: string): MachineFactory | undefined {
  return MACHINE_COMPONENTS[kind];
}
