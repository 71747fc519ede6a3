/**
 * Offsite storage layout: repositories and who writes them, bucket credentials (one per consumer
 * per bucket), endpoints, and what makes a bucket immutable. Pure; components wire it.
 *
 * Immutability, per provider (see README "Immutable offsite copies"):
 * - B2 buckets are always versioned. Writer keys of immutable buckets lack `deleteFiles`, so a
 *   delete by restic prune, Kopia maintenance or pgBackRest expire only hides the object (a
 *   delete marker); the hidden version stays for `lockDays`, then a lifecycle rule removes it.
 *   A compromised cluster can hide data but not destroy it inside the window.
 * - R2 has no versioning and its tokens cannot withhold delete, so immutable buckets get bucket
 *   lock rules on the prefixes the tools write once and delete only when old (restic data and
 *   snapshots, Kopia packs, pgBackRest WAL and backup sets) - never on lock files, indexes or
 *   info files the tools rewrite.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, CopyMethod, PlannedCopy, PlannedItem } from "./plan";
import type { DestinationKind, Site } from "./tiers";
import { kubeName } from "./naming";
import { compareText } from "./compare";

export function b2S3Endpoint(region: string): string {
  return `https://s3.${region}.backblazeb2.com`;
}

export function r2S3Endpoint(accountId: string, jurisdiction: "default" | "eu" | "fedramp"): string {
  const zone = jurisdiction === "default" ? "" : `.${jurisdiction}`;
  return `https://${accountId}${zone}.r2.cloudflarestorage.com`;
}

/** The resource key that scopes a Cloudflare API token to one R2 bucket. */
export function r2BucketResource(accountId: string, jurisdiction: string, bucket: string): string {
  return `com.cloudflare.edge.r2.bucket.${accountId}_${jurisdiction}_${bucket}`;
}

export const R2_PERMISSION_GROUPS = ["Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"] as const;

/** What a credential is for; also its name in the store ("<destination>-<credential>-..."). */
export type CredentialKind = "volsync" | "kopia" | "pgbackrest" | "dumps" | "truenas" | "hosts";

/** One credential: a consumer's access to one bucket. */
export interface BucketConsumer {
  /** Unique within the destination, stable across tier changes: "kopia-immich", "pgbackrest-postgres18-immich". */
  id: string;
  destination: string;
  destinationKind: "b2" | "r2";
  bucket: string;
  credential: CredentialKind;
  /** The app (volsync, dumps) or CNPG cluster (pgbackrest) the credential is for. */
  owner: string;
  /** Namespace the credential is delivered to. */
  namespace: string;
  /** Objects the consumer works under; B2 keys are restricted to it (R2 tokens cannot be). */
  prefix?: string;
  /** Whether the bucket must stay undeletable from the cluster. */
  immutable: boolean;
  /** Rotation counter from the config: raising it replaces just this credential. */
  rotation: number;
}

/** B2 capabilities a consumer gets: read and write its objects; delete only where nothing is locked. */
export function b2Capabilities(consumer: Pick<BucketConsumer, "immutable">): string[] {
  const base = ["listAllBucketNames", "listBuckets", "readBuckets", "listFiles", "readFiles", "writeFiles"];
  return consumer.immutable ? base : [...base, "deleteFiles"];
}

export function credentialKindOf(method: CopyMethod): CredentialKind | undefined {
  switch (method) {
    case "volsync-restic":
      return "volsync";
    case "volsync-kopia":
      return "kopia";
    case "pgbackrest":
      return "pgbackrest";
    case "dump-restic":
      return "dumps";
    case "truenas-cloudsync":
      return "truenas";
    case "host-restic":
      return "hosts";
    default:
      return undefined;
  }
}

/** The first path segment of an item's repositories: the app, or the host's name. */
function repositoryPrefix(item: PlannedItem, copy: Pick<PlannedCopy, "method">): string {
  return copy.method === "host-restic" ? item.name : item.app;
}

/** Where in the bucket (or on the NAS share) a copy's repository lives. */
export function repositoryPath(item: PlannedItem, copy: Pick<PlannedCopy, "method">, cnpgCluster?: string): string {
  switch (copy.method) {
    case "volsync-restic":
      return `${item.app}/${item.name}`;
    case "volsync-kopia":
      return `${item.app}`;
    case "pgbackrest":
      return `${cnpgCluster ?? item.name}`;
    case "dump":
    case "dump-restic":
    case "dump-rsync":
      return `${item.app}`;
    case "truenas-cloudsync":
    case "host-restic":
      return item.name;
    case "csi-snapshot":
    case "zfs-snapshot":
      return "";
  }
}

/** The CNPG Cluster name of a cnpg item (its key unless `cluster` is set). */
export function cnpgClusterName(config: Pick<StackConfig, "apps">, item: Pick<PlannedItem, "app" | "name" | "kind">): string {
  if (item.kind !== "cnpg") return item.name;
  const database = config.apps[item.app].databases[item.name];
  return database?.engine === "cnpg" ? (database.cluster ?? item.name) : item.name;
}

/** Every bucket credential the plan needs, one per consumer per bucket, in a stable order. */
export function bucketConsumers(config: StackConfig, plan: BackupPlan): BucketConsumer[] {
  const consumers = new Map<string, BucketConsumer>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.destinationKind !== "b2" && copy.destinationKind !== "r2") continue;
      const credential = credentialKindOf(copy.method);
      if (!credential) continue;
      const bucket = plan.destinations.find((d) => d.name === copy.destination)?.buckets.find((b) => b.name === copy.location);
      if (!bucket) throw new Error(`no bucket planned for ${copy.id}`);
      // TrueNAS has one cloud credential per destination, shared by every dataset it syncs.
      const owner = credential === "pgbackrest" ? cnpgClusterName(config, item) : credential === "truenas" ? "truenas" : item.app;
      const id = kubeName([credential, owner], 50);
      const rotationKey = `${credential === "pgbackrest" ? kubeName(["pg", owner]) : owner}/${copy.destination}-${credential}`;
      const key = `${copy.destination}/${id}`;
      if (consumers.has(key)) continue;
      consumers.set(key, {
        id,
        destination: copy.destination,
        destinationKind: copy.destinationKind,
        bucket: bucket.name,
        credential,
        owner,
        namespace: item.namespace,
        prefix: credential === "pgbackrest" || credential === "truenas" ? undefined : `${repositoryPrefix(item, copy)}/`,
        immutable: bucket.immutable,
        rotation: config.rotations[rotationKey] ?? 0,
      });
    }
  }
  return [...consumers.values()].sort((a, b) => compareText(`${a.destination}/${a.id}`, `${b.destination}/${b.id}`));
}

/**
 * Object prefixes an R2 bucket lock protects: what the backup tools write once and delete only
 * when it has aged past retention. Lock files, indexes and info files are rewritten and stay free.
 */
export function r2LockPrefixes(config: StackConfig, plan: BackupPlan, bucketName: string): string[] {
  const prefixes = new Set<string>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.location !== bucketName) continue;
      const path = repositoryPath(item, copy, cnpgClusterName(config, item));
      if (copy.method === "volsync-restic" || copy.method === "dump-restic" || copy.method === "host-restic") {
        prefixes.add(`${path}/data/`);
        prefixes.add(`${path}/snapshots/`);
      } else if (copy.method === "volsync-kopia") {
        prefixes.add(`${path}/p`);
        prefixes.add(`${path}/q`);
      } else if (copy.method === "truenas-cloudsync") {
        // Cloud sync copies files without deleting (transfer mode COPY): the folder can be locked whole.
        prefixes.add(`${path}/`);
      } else if (copy.method === "pgbackrest") {
        prefixes.add(`${path}/archive/${path}/`);
        // Backup sets are named by date (20261122-013000F...); backup.info beside them is rewritten.
        prefixes.add(`${path}/backup/${path}/2`);
      }
    }
  }
  return [...prefixes].sort();
}

export interface DestinationSummary {
  kind: DestinationKind;
  site: Site;
  /** The S3 endpoint (b2, r2), the NFS export (nfs) or the SSH target (ssh). */
  endpoint: string;
  buckets: string[];
  /** Consumer credential ids by bucket: who can be revoked without touching the others. */
  keyHolders: Record<string, string[]>;
}

/** What the stack exports per destination; contains no secret. */
export function destinationSummaries(config: StackConfig, plan: BackupPlan): Record<string, DestinationSummary> {
  const consumers = bucketConsumers(config, plan);
  return Object.fromEntries(
    plan.destinations.map((destination) => {
      const target = config.destinations[destination.name];
      const endpoint =
        target.kind === "b2"
          ? b2S3Endpoint(target.region)
          : target.kind === "r2"
            ? r2S3Endpoint(target.accountId, target.jurisdiction)
            : target.kind === "nfs"
              ? `${target.server}:${target.path}`
              : `${target.user}@${target.host}:${target.path}`;
      const keyHolders: Record<string, string[]> = {};
      for (const consumer of consumers.filter((c) => c.destination === destination.name)) {
        (keyHolders[consumer.bucket] ??= []).push(consumer.id);
      }
      const summary: DestinationSummary = { kind: destination.kind, site: destination.site, endpoint, buckets: destination.buckets.map((bucket) => bucket.name), keyHolders };
      return [destination.name, summary];
    }),
  );
}
