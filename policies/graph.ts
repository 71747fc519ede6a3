/**
 * The backup graph a stack policy sees: every protected data item with the resources that really
 * make its copies, found by following references rather than trusting declarations.
 *
 * - Each method's `evidence.ts` says how its copies are followed: a ReplicationSource by its data
 *   and destination labels, then its repository Secret's ExternalSecret template to the bucket;
 *   a Stanza's repositories to their buckets; a CronJob's Secret or known_hosts; a TrueNAS or
 *   host command's payload or repository URL. This file holds what they share.
 * - A bucket is immutable when its resources say so: for B2, no key that can write it may delete
 *   (deletes only hide) and hidden versions are kept for the lock window; for R2, a bucket lock
 *   holds the copy's objects for the lock window.
 *
 * Works on what a stack policy gets: outputs, wrapped in unknownCheckingProxy. Reading an
 * unknown value throws, which the analyzer reports as "can't run during preview".
 */
import type { PolicyResource } from "@pulumi/policy";
import type { DeclaredCopy, ProtectedData } from "../domain/protection";
import { labelValue } from "../domain/naming";
import { repositoryLocation } from "../domain/repositories";
import { cnpgScheduleError, cronError, maxGapHours } from "../domain/schedule";
import { Retention, Site } from "../domain/tiers";
import { DATA_COMPONENT_TYPES } from "../domain/types";
import { methodOf } from "../methods/registry";

// `any`: resource outputs are walked by field name, as the API server and providers define them.
export type GraphJson = Record<string, any>;

export const TYPES = {
  replicationSource: "kubernetes:volsync.backube/v1alpha1:ReplicationSource",
  replicationDestination: "kubernetes:volsync.backube/v1alpha1:ReplicationDestination",
  externalSecret: "kubernetes:external-secrets.io/v1:ExternalSecret",
  secret: "kubernetes:core/v1:Secret",
  cronJob: "kubernetes:batch/v1:CronJob",
  job: "kubernetes:batch/v1:Job",
  stanza: "kubernetes:pgbackrest.dalibo.com/v1:Stanza",
  cluster: "kubernetes:postgresql.cnpg.io/v1:Cluster",
  clusterPatch: "kubernetes:postgresql.cnpg.io/v1:ClusterPatch",
  scheduledBackup: "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup",
  snapshotSchedule: "kubernetes:snapscheduler.backube/v1:SnapshotSchedule",
  kopiaMaintenance: "kubernetes:volsync.backube/v1alpha1:KopiaMaintenance",
  command: "command:local:Command",
  b2Bucket: "aws:s3/bucket:Bucket",
  b2Acl: "aws:s3/bucketAcl:BucketAcl",
  b2Lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  b2Policy: "aws:s3/bucketPolicy:BucketPolicy",
  b2PublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  dynamic: "pulumi-nodejs:dynamic:Resource",
  r2Bucket: "cloudflare:index/r2Bucket:R2Bucket",
  r2Lock: "cloudflare:index/r2BucketLock:R2BucketLock",
  r2ManagedDomain: "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
  r2CustomDomain: "cloudflare:index/r2CustomDomain:R2CustomDomain",
  apiToken: "cloudflare:index/apiToken:ApiToken",
} as const;

export interface DataNode {
  resource: PolicyResource;
  data: ProtectedData;
}

export interface BucketNode {
  resource: PolicyResource;
  name: string;
  provider: "b2" | "r2";
}

/** A declared copy and what the resources say about it. */
export interface CopyEvidence {
  declared: DeclaredCopy;
  /** The resource that makes the copy; undefined when none could be found. */
  implementedBy?: PolicyResource;
  /** Where the resource really writes; undefined when it could not be followed. */
  site?: Site;
  bucket?: BucketNode;
  /** The copy's objects inside the bucket ("" for the whole bucket). */
  pathInBucket?: string;
  /** The tool encrypts before the data leaves (restic, Kopia, pgBackRest cipher, Cloud Sync encryption). */
  encrypted: boolean;
  /** Why the copy could not be followed to its target, for messages. */
  problem?: string;
}

export interface Immutability {
  immutable: boolean;
  /** Days a written object survives a delete from the cluster (0: none). */
  lockDays: number;
  reason: string;
}

export function labelsOf(resource: PolicyResource): Record<string, string> {
  return ((resource.props as GraphJson).metadata?.labels ?? {}) as Record<string, string>;
}

export function namespaceOf(resource: PolicyResource): string | undefined {
  return (resource.props as GraphJson).metadata?.namespace;
}

export function nameOf(resource: PolicyResource): string | undefined {
  return (resource.props as GraphJson).metadata?.name;
}

function isData(resource: PolicyResource): boolean {
  return DATA_COMPONENT_TYPES.includes(resource.type);
}

/** True when `resource` is `ancestor` or below it. */
export function isUnder(resource: PolicyResource, ancestor: PolicyResource): boolean {
  for (let current: PolicyResource | undefined = resource; current; current = current.parent) if (current.urn === ancestor.urn) return true;
  return false;
}

export class BackupGraph {
  readonly data: DataNode[];
  readonly buckets = new Map<string, BucketNode>();
  private readonly byType = new Map<string, PolicyResource[]>();

  constructor(readonly resources: readonly PolicyResource[]) {
    for (const resource of resources) {
      const list = this.byType.get(resource.type) ?? [];
      list.push(resource);
      this.byType.set(resource.type, list);
    }
    this.data = resources.filter(isData).map((resource) => ({ resource, data: resource.props as unknown as ProtectedData }));
    for (const bucket of this.of(TYPES.b2Bucket)) this.buckets.set((bucket.props as GraphJson).bucket, { resource: bucket, name: (bucket.props as GraphJson).bucket, provider: "b2" });
    for (const bucket of this.of(TYPES.r2Bucket)) this.buckets.set((bucket.props as GraphJson).name, { resource: bucket, name: (bucket.props as GraphJson).name, provider: "r2" });
  }

  of(type: string): PolicyResource[] {
    return this.byType.get(type) ?? [];
  }

  // Indexes built on first use: policies look up thousands of items in stacks of thousands of objects.
  private readonly labelIndex = new Map<string, Map<string, PolicyResource[]>>();
  private secretIndex?: Map<string, PolicyResource>;

  /** Kubernetes objects of a type that carry a label value. */
  labelled(type: string, key: string, value: string): PolicyResource[] {
    let index = this.labelIndex.get(`${type}|${key}`);
    if (!index) {
      index = new Map();
      for (const resource of this.of(type)) {
        const label = labelsOf(resource)[key];
        if (label !== undefined) index.set(label, [...(index.get(label) ?? []), resource]);
      }
      this.labelIndex.set(`${type}|${key}`, index);
    }
    return index.get(labelValue(value)) ?? [];
  }

  /** The ExternalSecret that builds Secret `name` in `namespace`. */
  externalSecretFor(namespace: string | undefined, name: string): PolicyResource | undefined {
    if (!this.secretIndex) {
      this.secretIndex = new Map();
      for (const es of this.of(TYPES.externalSecret)) {
        const props = es.props as GraphJson;
        this.secretIndex.set(`${props.metadata?.namespace}/${props.spec?.target?.name ?? props.metadata?.name}`, es);
      }
    }
    return this.secretIndex.get(`${namespace}/${name}`);
  }

  /** The template values the ExternalSecret behind Secret `name` renders. */
  secretTemplate(namespace: string | undefined, name: string): Record<string, string> | undefined {
    const es = this.externalSecretFor(namespace, name);
    return es ? (((es.props as GraphJson).spec?.target?.template?.data ?? {}) as Record<string, string>) : undefined;
  }

  /** B2 application keys (our dynamic provider) that can reach a bucket. */
  b2Keys(bucket: string): PolicyResource[] {
    return this.of(TYPES.dynamic).filter((resource) => {
      const props = resource.props as GraphJson;
      return Array.isArray(props.capabilities) && props.bucketName === bucket;
    });
  }

  /** Every B2 application key our dynamic provider manages. */
  allB2Keys(): PolicyResource[] {
    return this.of(TYPES.dynamic).filter((resource) => Array.isArray((resource.props as GraphJson).capabilities) && "keyName" in (resource.props as GraphJson));
  }

  /** Whether a copy's objects in a bucket survive a delete from the cluster, per the bucket's resources. */
  immutability(bucket: BucketNode, pathInBucket: string): Immutability {
    if (bucket.provider === "b2") {
      const keys = this.b2Keys(bucket.name);
      // A key limited to another prefix cannot delete this copy's files.
      const reaches = (key: PolicyResource) => {
        const prefix = String((key.props as GraphJson).namePrefix ?? "");
        const path = pathInBucket === "" ? "" : `${pathInBucket.replace(/\/+$/, "")}/`;
        return prefix === "" || path === "" || path.startsWith(prefix) || prefix.startsWith(path);
      };
      const deleting = keys.filter((key) => ((key.props as GraphJson).capabilities as string[]).includes("deleteFiles") && reaches(key));
      if (deleting.length > 0) {
        return { immutable: false, lockDays: 0, reason: `key ${(deleting[0].props as GraphJson).keyName} may delete files in ${bucket.name}` };
      }
      const lifecycle = this.of(TYPES.b2Lifecycle).find((l) => (l.props as GraphJson).bucket === bucket.name);
      const hidden = ((lifecycle?.props as GraphJson | undefined)?.rules ?? [])
        .filter((rule: GraphJson) => rule.status === "Enabled" && rule.noncurrentVersionExpiration)
        .map((rule: GraphJson) => Number(rule.noncurrentVersionExpiration.noncurrentDays));
      // Without a lifecycle rule B2 keeps hidden versions forever: immutable, at a cost.
      const lockDays = hidden.length > 0 ? Math.min(...hidden) : Infinity;
      return { immutable: true, lockDays, reason: `keys may only hide files in ${bucket.name}; hidden versions stay ${lockDays} days` };
    }
    const locks = this.of(TYPES.r2Lock).filter((l) => (l.props as GraphJson).bucketName === bucket.name);
    // A rule covers the copy when it holds the whole bucket or objects under the copy's path.
    const covers = (rule: GraphJson) => rule.enabled !== false && (!rule.prefix || (pathInBucket !== "" && String(rule.prefix).startsWith(`${pathInBucket}/`)));
    const covering = locks
      .flatMap((lock) => ((lock.props as GraphJson).rules ?? []) as GraphJson[])
      .filter(covers)
      .map((rule) => (rule.condition?.type === "Indefinite" ? Infinity : Number(rule.condition?.maxAgeSeconds ?? 0) / 86400));
    if (covering.length === 0) return { immutable: false, lockDays: 0, reason: `no bucket lock rule of ${bucket.name} covers ${pathInBucket || "its objects"}` };
    const lockDays = Math.min(...covering);
    return { immutable: lockDays > 0, lockDays, reason: `bucket lock on ${bucket.name}/${pathInBucket} for ${lockDays} days` };
  }

  /** Follows each declared copy of a data item to the resources that make it. */
  copiesOf(node: DataNode): CopyEvidence[] {
    return node.data.copies.map((declared) => this.follow(node, declared));
  }

  private follow(node: DataNode, declared: DeclaredCopy): CopyEvidence {
    const evidence = methodOf(declared.method).evidence;
    return evidence ? evidence.follow(this, node, declared) : missing(declared, `no evidence is known for copies made by ${declared.method}`);
  }

  /** The TrueNAS and host commands under a data item's component. */
  commandsUnder(node: DataNode): PolicyResource[] {
    return this.of(TYPES.command).filter((command) => isUnder(command, node.resource));
  }

  /** Where a repository URL writes: onsite for a path, offsite for SFTP, or a bucket of this stack (Kopia names its bucket apart). */
  atRepository(declared: DeclaredCopy, url: string | undefined, kopiaBucket?: string): CopyEvidence {
    const location = url ? repositoryLocation(url) : undefined;
    if (!location) return { declared, encrypted: false, problem: `repository ${url ?? "(none)"} cannot be followed` };
    if (location.kind === "filesystem") return { declared, site: "onsite", encrypted: false };
    if (location.kind === "sftp") return { declared, site: "offsite", encrypted: false };
    const name = kopiaBucket ?? location.bucket;
    const bucket = this.buckets.get(name);
    return { declared, site: "offsite", bucket, pathInBucket: location.path, encrypted: false, problem: bucket ? undefined : `bucket ${name} is not managed by this stack` };
  }
}

/** Snapshots share the disks of the live data: never a copy for 3-2-1 or the site. */
export const localSnapshotEvidence = {
  follow: (_graph: BackupGraph, _node: DataNode, declared: DeclaredCopy): CopyEvidence => ({ declared, site: "onsite", encrypted: false, problem: "a local snapshot" }),
};

/** A declared copy no resource could be found for. */
export function missing(declared: DeclaredCopy, problem: string): CopyEvidence {
  return { declared, encrypted: false, problem };
}

/** A copy that counts: made by a resource that was followed to where it really writes. */
export function verified(evidence: CopyEvidence): boolean {
  return evidence.implementedBy !== undefined && evidence.site !== undefined && evidence.problem === undefined;
}

/** The GFS recovery points a copy keeps, read from the resource that makes it; undefined when unknown. */
export function retentionOf(graph: BackupGraph, evidence: CopyEvidence): Retention | undefined {
  const resource = evidence.implementedBy;
  if (!resource) return undefined;
  const retention = methodOf(evidence.declared.method).evidence?.retention;
  return retention ? retention(graph, evidence, resource) : {};
}

/**
 * Worst-case age of a copy's newest recovery point, from the schedule of the resource that makes
 * it; undefined when the resource has no schedule a policy can read.
 */
export function rpoOf(graph: BackupGraph, evidence: CopyEvidence): number | undefined {
  const resource = evidence.implementedBy;
  if (!resource) return undefined;
  return methodOf(evidence.declared.method).evidence?.rpoHours?.(graph, evidence, resource);
}

/** The longest gap between two runs of a cron a resource carries; undefined when it is not a valid cron. */
export function cronGapHours(cron: unknown): number | undefined {
  return typeof cron === "string" && scheduleError(cron) === undefined ? maxGapHours(cron) : undefined;
}

/** A five-field cron, or a six-field one with seconds first (CloudNativePG): why it is invalid, or undefined. */
export function scheduleError(cron: string): string | undefined {
  return cron.trim().split(/\s+/).length === 6 ? cnpgScheduleError(cron) : cronError(cron);
}
