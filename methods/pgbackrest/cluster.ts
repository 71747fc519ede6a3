/**
 * CloudNativePG backups with the Dalibo pgBackRest plugin: one Stanza per cluster with a repo per
 * offsite destination (b2 is repo1, r2 repo2), each encrypted with the cluster's cipher pass; a
 * PluginConfig for the async WAL spool; the Cluster's plugin entry; daily ScheduledBackups per
 * repository plus a weekly full, with six-field (seconds first) schedules. Pure builders.
 */
import type { StackConfig } from "../../domain/config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName } from "../../domain/naming";
import { pgbackrestSecretRecipe, s3Endpoint } from "../../domain/repositories";
import { cnpgClusterName } from "../../domain/storage";
import { dataLabels } from "../volsync/manifests";

type Manifest = Record<string, unknown>;

export const PGBACKREST_PLUGIN = "pgbackrest.dalibo.com";
export const CNPG_API = "postgresql.cnpg.io/v1";
export const PGBACKREST_API = "pgbackrest.dalibo.com/v1";
/** Marks partial objects applied with server-side apply (the validator then skips `required`). */
export const PATCH_ANNOTATION = "homelab-backups.dev/server-side-apply-patch";

export function pgbackrestCopies(item: PlannedItem): PlannedCopy[] {
  return item.copies.filter((copy) => copy.method === "pgbackrest");
}

export function stanza(config: StackConfig, item: PlannedItem): Manifest {
  const cluster = cnpgClusterName(config, item);
  const secret = pgbackrestSecretRecipe(config, item).name;
  return {
    apiVersion: PGBACKREST_API,
    kind: "Stanza",
    metadata: { name: cluster, namespace: item.namespace, labels: dataLabels(item) },
    spec: {
      stanzaConfiguration: {
        // The stanza name is the directory under repoPath: it must never change.
        name: cluster,
        archive: { async: true, pushQueueMax: "1GiB" },
        processMax: 2,
        compressConfig: { type: "zst" },
        s3Repositories: pgbackrestCopies(item).map((copy) => {
          const endpoint = s3Endpoint(config, copy.destination);
          const retention = copy.retention.kind === "pgbackrest" ? copy.retention : undefined;
          return {
            bucket: copy.location,
            endpoint: endpoint.host,
            region: endpoint.region,
            repoPath: `/${cluster}`,
            uriStyle: "path",
            verifyTLS: true,
            retentionPolicy: retention && {
              full: retention.full,
              fullType: "count",
              diff: retention.diff,
              // pgBackRest keeps WAL for the newest N fulls, counted in backups, not days.
              archive: retention.archive,
              archiveType: "full",
              history: retention.historyDays,
            },
            cipherConfig: { type: "aes-256-cbc", encryptionPass: { name: secret, key: "cipher-pass" } },
            secretRef: {
              accessKeyId: { name: secret, key: `${copy.destination}-access-key-id` },
              secretAccessKey: { name: secret, key: `${copy.destination}-secret-access-key` },
            },
          };
        }),
      },
    },
  };
}

/** Async archiving spools WAL on a volume; without this PluginConfig the plugin crashes. */
export function pluginConfig(config: StackConfig, item: PlannedItem): Manifest {
  return {
    apiVersion: PGBACKREST_API,
    kind: "PluginConfig",
    metadata: { name: cnpgClusterName(config, item), namespace: item.namespace, labels: dataLabels(item) },
    spec: { storageConfig: { storageClass: config.cluster.storageClass, size: "5Gi" } },
  };
}

export function pluginEntry(config: StackConfig, item: PlannedItem): Manifest {
  const cluster = cnpgClusterName(config, item);
  return { name: PGBACKREST_PLUGIN, enabled: true, isWALArchiver: true, parameters: { stanzaRef: cluster, pluginConfigRef: cluster } };
}

/**
 * The plugin entry, applied to a Cluster the user owns with server-side apply. CNPG's
 * `spec.plugins` is an atomic list: this patch owns the whole list, so a Cluster that lists other
 * plugins conflicts (and the apply fails visibly) rather than losing them silently.
 */
export function clusterPatch(config: StackConfig, item: PlannedItem): Manifest {
  return {
    apiVersion: CNPG_API,
    kind: "Cluster",
    metadata: { name: cnpgClusterName(config, item), namespace: item.namespace, annotations: { [PATCH_ANNOTATION]: "true" } },
    spec: { plugins: [pluginEntry(config, item)] },
  };
}

/** The whole Cluster, when the stack owns it (`owned: true`). */
export function ownedCluster(config: StackConfig, item: PlannedItem): Manifest {
  const database = config.apps[item.app].databases[item.name];
  if (database?.engine !== "cnpg" || !database.owned) throw new Error(`${item.id} is not an owned CNPG cluster`);
  return {
    apiVersion: CNPG_API,
    kind: "Cluster",
    metadata: { name: cnpgClusterName(config, item), namespace: item.namespace, labels: dataLabels(item) },
    spec: {
      instances: database.instances,
      imageName: database.imageName,
      storage: { size: database.storage, storageClass: config.cluster.storageClass },
      plugins: [pluginEntry(config, item)],
    },
  };
}

/** Daily backups per repository (incremental; the first one is promoted to full) and a weekly full each. */
export function scheduledBackups(config: StackConfig, plan: BackupPlan, item: PlannedItem): Manifest[] {
  const cluster = cnpgClusterName(config, item);
  const copies = pgbackrestCopies(item);
  return copies.flatMap((copy, index) => {
    const repo = String(index + 1);
    const full = plan.jobs.find((job) => job.kind === "pgbackrest-full" && job.itemId === item.id && job.destination === copy.destination);
    const backup = (name: string, schedule: string, parameters: Record<string, string>, immediate: boolean): Manifest => ({
      apiVersion: CNPG_API,
      kind: "ScheduledBackup",
      metadata: { name, namespace: item.namespace, labels: dataLabels(item, copy.destination) },
      spec: {
        schedule,
        cluster: { name: cluster },
        method: "plugin",
        // pgBackRest backs up from the primary only.
        target: "primary",
        backupOwnerReference: "self",
        immediate,
        pluginConfiguration: { name: PGBACKREST_PLUGIN, parameters },
      },
    });
    const daily = backup(kubeName([cluster, copy.destination]), copy.schedule.controllerCron, { selectedRepository: repo }, index === 0);
    return full ? [daily, backup(kubeName([cluster, copy.destination, "full"]), full.schedule.controllerCron, { selectedRepository: repo, backupType: "full" }, false)] : [daily];
  });
}
