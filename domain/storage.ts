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
 *   lock rules: by age on what the tools write once and delete only when old (restic data and
 *   snapshots, Kopia packs, pgBackRest WAL and backup sets), indefinitely on the files that hold
 *   the repository's encrypted master key (restic `config` and `keys/`, Kopia's format blobs) -
 *   never on lock files, indexes or info files the tools rewrite.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, CopyMethod, DestinationKind, PlannedCopy, PlannedItem } from "./model";
import type { Site } from "./tiers";
import { kubeName } from "./naming";
import { compareText } from "./compare";
import { methodOf } from "../methods/registry";
import { destinationPlugin, isObjectStorage } from "../destinations/registry";

/** The resource key that scopes a Cloudflare API token to one R2 bucket. */
export function r2BucketResource(accountId: string, jurisdiction: string, bucket: string): string {
  return `com.cloudflare.edge.r2.bucket.${accountId}_${jurisdiction}_${bucket}`;
}

export const R2_PERMISSION_GROUPS = ["Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"] as const;

/**
 * The id of the permission group named exactly `wanted` among Cloudflare's answer to a lookup by
 * name. Anything else would give consumer tokens permissions nobody chose.
 */
export function permissionGroupId(wanted: string, results: ReadonlyArray<{ id: string; name: string }>): string {
  const found = results.find((result) => result.name === wanted);
  if (found) return found.id;
  const got = results.length > 0 ? `it returned only ${results.map((result) => `"${result.name}"`).join(", ")}` : "it returned none";
  throw new Error(
    `Cloudflare has no API token permission group named "${wanted}" (${got}): check that the token in credentials.<destination>.apiToken may read permission groups, and whether Cloudflare renamed the group (R2_PERMISSION_GROUPS in domain/storage.ts).`,
  );
}

/** What a credential is for; also its name in the store ("<destination>-<credential>-..."). */
export type CredentialKind = "volsync" | "kopia" | "pgbackrest" | "dumps" | "truenas" | "hosts" | "kopia-mirror";

/** One credential: a consumer's access to one bucket. */
export interface BucketConsumer {
  /** Unique within the destination, stable across tier changes: "kopia-immich", "pgbackrest-postgres18-immich". */
  id: string;
  destination: string;
  destinationKind: DestinationKind;
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
  return methodOf(method).storage?.credential;
}

/** Where in the bucket (or on the NAS share) a copy's repository lives. */
export function repositoryPath(config: StackConfig, item: Pick<PlannedItem, "app" | "name" | "kind">, copy: Pick<PlannedCopy, "method">): string {
  return methodOf(copy.method).repositoryPath(config, item);
}

/** The CNPG Cluster name of a cnpg item (its key unless `cluster` is set). */
export function cnpgClusterName(config: Pick<StackConfig, "apps">, item: Pick<PlannedItem, "app" | "name" | "kind">): string {
  if (item.kind !== "cnpg") return item.name;
  const database = config.apps[item.app].databases[item.name];
  return database?.engine === "cnpg" ? (database.cluster ?? item.name) : item.name;
}

/**
 * Where an app's Kopia mirrors live in the Kopia bucket: "<app>.mirror/<nas>/", beside the app's own
 * repository "<app>/" and never under another app's (a '.' is in no app name).
 */
export function kopiaMirrorPrefix(app: string): string {
  return `${app}.mirror/`;
}

/** Every bucket credential the plan needs, one per consumer per bucket, in a stable order. */
export function bucketConsumers(config: StackConfig, plan: BackupPlan): BucketConsumer[] {
  const consumers = new Map<string, BucketConsumer>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (!isObjectStorage(copy.destinationKind)) continue;
      const storage = methodOf(copy.method).storage;
      if (!storage) continue;
      const credential = storage.credential;
      const bucket = plan.destinations.find((d) => d.name === copy.destination)?.buckets.find((b) => b.name === copy.location);
      if (!bucket) throw new Error(`no bucket planned for ${copy.id}`);
      const owner = storage.owner?.(config, item) ?? item.app;
      const id = kubeName([credential, owner], 50);
      const rotationKey = `${storage.rotationOwner?.(owner) ?? owner}/${copy.destination}-${credential}`;
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
        prefix: storage.keyPrefix?.(item),
        immutable: bucket.immutable,
        rotation: config.rotations[rotationKey] ?? 0,
      });
    }
  }
  // Kopia mirrors (apps.<app>.kopiaMirrors): a key of their own, to the Kopia bucket of the app's copies there.
  for (const app of plan.apps) {
    for (const destination of config.apps[app.name].kopiaMirrors ?? []) {
      const copy = app.items.flatMap((item) => item.copies).find((c) => c.method === "volsync-kopia" && c.destination === destination);
      const bucket = plan.destinations.find((d) => d.name === destination)?.buckets.find((b) => b.name === copy?.location);
      if (!copy || !bucket || !isObjectStorage(copy.destinationKind)) continue; // the config check reports it
      // Not "kopia-mirror-<app>": that is the id of the kopia credential of an app named "mirror-<app>".
      const id = kubeName(["kopiamirror", app.name], 50);
      consumers.set(`${destination}/${id}`, {
        id,
        destination,
        destinationKind: copy.destinationKind,
        bucket: bucket.name,
        credential: "kopia-mirror",
        owner: app.name,
        namespace: app.namespace,
        prefix: kopiaMirrorPrefix(app.name),
        immutable: bucket.immutable,
        rotation: config.rotations[`${app.name}/${destination}-kopia-mirror`] ?? 0,
      });
    }
  }
  return [...consumers.values()].sort((a, b) => compareText(`${a.destination}/${a.id}`, `${b.destination}/${b.id}`));
}

/**
 * One R2 bucket lock rule. `age` holds objects for the destination's lockDays after they are
 * written; `indefinite` holds them for good.
 */
export interface R2LockPrefix {
  prefix: string;
  retention: "age" | "indefinite";
}

/**
 * What an R2 bucket lock protects: by age, what the backup tools write once and delete only when
 * it has aged past retention; indefinitely, the written-once files without which no snapshot can
 * be decrypted (an age lock would free them lockDays after `init`, while their repository lives
 * on). Lock files, indexes and info files are rewritten and stay free.
 */
export function r2LockPrefixes(config: StackConfig, plan: BackupPlan, bucketName: string): R2LockPrefix[] {
  const rules = new Map<string, R2LockPrefix["retention"]>();
  const lock = (prefix: string, retention: R2LockPrefix["retention"]) => rules.set(prefix, retention);
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.location !== bucketName) continue;
      for (const { prefix, retention } of methodOf(copy.method).storage?.lockPrefixes(repositoryPath(config, item, copy)) ?? []) lock(prefix, retention);
    }
  }
  return [...rules].map(([prefix, retention]) => ({ prefix, retention })).sort((a, b) => compareText(a.prefix, b.prefix));
}

/**
 * Namespaces whose ExternalSecrets and PushSecrets may use a store this program creates: every
 * namespace the plan puts an app, item or job in, and the system namespace (PushSecrets, and what
 * runs for data outside the cluster).
 */
export function secretStoreNamespaces(config: StackConfig, plan: BackupPlan): string[] {
  const namespaces = new Set([config.cluster.systemNamespace]);
  for (const { namespace } of [...plan.apps, ...plan.items, ...plan.jobs]) if (namespace) namespaces.add(namespace);
  return [...namespaces].sort(compareText);
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
      const endpoint = destinationPlugin(target.kind).describe(target);
      const keyHolders: Record<string, string[]> = {};
      for (const consumer of consumers.filter((c) => c.destination === destination.name)) {
        (keyHolders[consumer.bucket] ??= []).push(consumer.id);
      }
      const summary: DestinationSummary = { kind: destination.kind, site: destination.site, endpoint, buckets: destination.buckets.map((bucket) => bucket.name), keyHolders };
      return [destination.name, summary];
    }),
  );
}
