/**
 * The backup graph a stack policy sees: every protected data item with the resources that really
 * make its copies, found by following references rather than trusting declarations.
 *
 * - A ReplicationSource is found by its data and destination labels; its repository Secret is
 *   the target of an ExternalSecret in the same namespace, whose template holds the repository
 *   URL, which names the bucket.
 * - A Stanza's repositories name their buckets; a ScheduledBackup names its cluster and repo.
 * - A dump CronJob writes to the NAS claim it mounts; an offsite dump CronJob reads its Secret
 *   (ExternalSecret → RESTIC_REPOSITORY → bucket) or its SSH known_hosts (→ the offsite NAS).
 * - TrueNAS and host tasks are commands under their component; the payload or repository URL in
 *   the command names the bucket.
 * - A bucket is immutable when its resources say so: for B2, no key that can write it may delete
 *   (deletes only hide) and hidden versions are kept for the lock window; for R2, a bucket lock
 *   holds the copy's objects for the lock window.
 *
 * Works on what a stack policy gets: outputs, wrapped in unknownCheckingProxy. Reading an
 * unknown value throws, which the analyzer reports as "can't run during preview".
 */
import type { PolicyResource } from "@pulumi/policy";
import type { DeclaredCopy, ProtectedData } from "../domain/protection";
import { LABELS, labelValue } from "../domain/naming";
import { repositoryLocation } from "../domain/repositories";
import { cnpgScheduleError, cronError, maxGapHours } from "../domain/schedule";
import { mirrorCoverage, pgbackrestCoverage, Retention, Site } from "../domain/tiers";
import { DATA_COMPONENT_TYPES } from "../domain/types";

// `any`: resource outputs are walked by field name, as the API server and providers define them.
type Json = Record<string, any>;

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
  return ((resource.props as Json).metadata?.labels ?? {}) as Record<string, string>;
}

export function namespaceOf(resource: PolicyResource): string | undefined {
  return (resource.props as Json).metadata?.namespace;
}

export function nameOf(resource: PolicyResource): string | undefined {
  return (resource.props as Json).metadata?.name;
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
    for (const bucket of this.of(TYPES.b2Bucket)) this.buckets.set((bucket.props as Json).bucket, { resource: bucket, name: (bucket.props as Json).bucket, provider: "b2" });
    for (const bucket of this.of(TYPES.r2Bucket)) this.buckets.set((bucket.props as Json).name, { resource: bucket, name: (bucket.props as Json).name, provider: "r2" });
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
        const props = es.props as Json;
        this.secretIndex.set(`${props.metadata?.namespace}/${props.spec?.target?.name ?? props.metadata?.name}`, es);
      }
    }
    return this.secretIndex.get(`${namespace}/${name}`);
  }

  /** The template values the ExternalSecret behind Secret `name` renders. */
  secretTemplate(namespace: string | undefined, name: string): Record<string, string> | undefined {
    const es = this.externalSecretFor(namespace, name);
    return es ? (((es.props as Json).spec?.target?.template?.data ?? {}) as Record<string, string>) : undefined;
  }

  /** B2 application keys (our dynamic provider) that can reach a bucket. */
  b2Keys(bucket: string): PolicyResource[] {
    return this.of(TYPES.dynamic).filter((resource) => {
      const props = resource.props as Json;
      return Array.isArray(props.capabilities) && props.bucketName === bucket;
    });
  }

  /** Every B2 application key our dynamic provider manages. */
  allB2Keys(): PolicyResource[] {
    return this.of(TYPES.dynamic).filter((resource) => Array.isArray((resource.props as Json).capabilities) && "keyName" in (resource.props as Json));
  }

  /** Whether a copy's objects in a bucket survive a delete from the cluster, per the bucket's resources. */
  immutability(bucket: BucketNode, pathInBucket: string): Immutability {
    if (bucket.provider === "b2") {
      const keys = this.b2Keys(bucket.name);
      // A key limited to another prefix cannot delete this copy's files.
      const reaches = (key: PolicyResource) => {
        const prefix = String((key.props as Json).namePrefix ?? "");
        const path = pathInBucket === "" ? "" : `${pathInBucket.replace(/\/+$/, "")}/`;
        return prefix === "" || path === "" || path.startsWith(prefix) || prefix.startsWith(path);
      };
      const deleting = keys.filter((key) => ((key.props as Json).capabilities as string[]).includes("deleteFiles") && reaches(key));
      if (deleting.length > 0) {
        return { immutable: false, lockDays: 0, reason: `key ${(deleting[0].props as Json).keyName} may delete files in ${bucket.name}` };
      }
      const lifecycle = this.of(TYPES.b2Lifecycle).find((l) => (l.props as Json).bucket === bucket.name);
      const hidden = ((lifecycle?.props as Json | undefined)?.rules ?? [])
        .filter((rule: Json) => rule.status === "Enabled" && rule.noncurrentVersionExpiration)
        .map((rule: Json) => Number(rule.noncurrentVersionExpiration.noncurrentDays));
      // Without a lifecycle rule B2 keeps hidden versions forever: immutable, at a cost.
      const lockDays = hidden.length > 0 ? Math.min(...hidden) : Infinity;
      return { immutable: true, lockDays, reason: `keys may only hide files in ${bucket.name}; hidden versions stay ${lockDays} days` };
    }
    const locks = this.of(TYPES.r2Lock).filter((l) => (l.props as Json).bucketName === bucket.name);
    // A rule covers the copy when it holds the whole bucket or objects under the copy's path.
    const covers = (rule: Json) => rule.enabled !== false && (!rule.prefix || (pathInBucket !== "" && String(rule.prefix).startsWith(`${pathInBucket}/`)));
    const covering = locks
      .flatMap((lock) => ((lock.props as Json).rules ?? []) as Json[])
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
    const none = (problem: string): CopyEvidence => ({ declared, encrypted: false, problem });
    const { data } = node;
    switch (declared.method) {
      case "volsync-restic":
      case "volsync-kopia": {
        const source = this.labelled(TYPES.replicationSource, LABELS.data, data.dataId).find(
          (rs) => namespaceOf(rs) === data.namespace && labelsOf(rs)[LABELS.destination] === labelValue(declared.destination),
        );
        if (!source) return none(`no ReplicationSource for ${declared.destination}`);
        const mover = declared.method === "volsync-restic" ? "restic" : "kopia";
        const secretName = (source.props as Json).spec?.[mover]?.repository;
        const template = typeof secretName === "string" ? this.secretTemplate(data.namespace, secretName) : undefined;
        if (!template) return { ...none(`the repository Secret ${secretName} of ReplicationSource ${nameOf(source)} is not built by an ExternalSecret`), implementedBy: source };
        const url = template[mover === "restic" ? "RESTIC_REPOSITORY" : "KOPIA_REPOSITORY"];
        const password = template[mover === "restic" ? "RESTIC_PASSWORD" : "KOPIA_PASSWORD"];
        return { ...this.atRepository(declared, url, mover === "kopia" ? template.KOPIA_S3_BUCKET : undefined), implementedBy: source, encrypted: Boolean(password) };
      }
      case "pgbackrest": {
        const stanza = this.labelled(TYPES.stanza, LABELS.data, data.dataId).find((s) => namespaceOf(s) === data.namespace);
        if (!stanza) return none("no pgBackRest Stanza");
        const repos = ((stanza.props as Json).spec?.stanzaConfiguration?.s3Repositories ?? []) as Json[];
        const repo = repos.find((r) => r.bucket === declared.location);
        if (!repo) return { ...none(`Stanza ${nameOf(stanza)} has no repository in ${declared.location}`), implementedBy: stanza };
        const bucket = this.buckets.get(repo.bucket);
        const encrypted = Boolean(repo.cipherConfig?.encryptionPass) && (repo.cipherConfig?.type ?? "none") !== "none";
        const path = String(repo.repoPath ?? "").replace(/^\//, "");
        return { declared, implementedBy: stanza, site: "offsite", bucket, pathInBucket: path, encrypted, problem: bucket ? undefined : `bucket ${repo.bucket} is not managed by this stack` };
      }
      case "dump": {
        const job = this.labelled(TYPES.cronJob, LABELS.data, data.dataId).find(
          (cj) => namespaceOf(cj) === data.namespace && labelsOf(cj)[LABELS.destination] === labelValue(declared.destination) && labelsOf(cj)[LABELS.drill] === undefined,
        );
        return job ? { declared, implementedBy: job, site: "onsite", encrypted: false } : none(`no dump CronJob for ${declared.destination}`);
      }
      case "dump-restic":
      case "dump-rsync": {
        const job = this.labelled(TYPES.cronJob, LABELS.data, `${data.app}/dumps`).find(
          (cj) => namespaceOf(cj) === data.namespace && labelsOf(cj)[LABELS.destination] === labelValue(declared.destination),
        );
        if (!job) return none(`no CronJob takes ${data.app}'s dumps to ${declared.destination}`);
        const pod = (job.props as Json).spec?.jobTemplate?.spec?.template?.spec ?? {};
        if (declared.method === "dump-rsync") {
          const secret = ((pod.volumes ?? []) as Json[]).find((v) => v.secret)?.secret?.secretName;
          const template = secret ? this.secretTemplate(data.namespace, secret) : undefined;
          if (!template?.known_hosts) return { ...none(`the SSH Secret of CronJob ${nameOf(job)} is not built by an ExternalSecret`), implementedBy: job };
          return { declared, implementedBy: job, site: "offsite", encrypted: false };
        }
        const secret = ((pod.containers ?? []) as Json[]).flatMap((c) => (c.envFrom ?? []) as Json[]).find((e) => e.secretRef)?.secretRef?.name;
        const template = secret ? this.secretTemplate(data.namespace, secret) : undefined;
        if (!template) return { ...none(`the repository Secret of CronJob ${nameOf(job)} is not built by an ExternalSecret`), implementedBy: job };
        return { ...this.atRepository(declared, template.RESTIC_REPOSITORY), implementedBy: job, encrypted: Boolean(template.RESTIC_PASSWORD) };
      }
      case "truenas-cloudsync": {
        const command = this.commandsUnder(node).find((c) => {
          const payload = cloudSyncPayload(c);
          return payload?.attributes?.bucket === declared.location;
        });
        if (!command) return none(`no TrueNAS Cloud Sync task writes to ${declared.location}`);
        const payload = cloudSyncPayload(command)!;
        const bucket = this.buckets.get(declared.location);
        return {
          declared,
          implementedBy: command,
          site: "offsite",
          bucket,
          pathInBucket: String(payload.attributes?.folder ?? "").replace(/^\/|\/$/g, ""),
          encrypted: payload.encryption === true,
          problem: bucket ? undefined : `bucket ${declared.location} is not managed by this stack`,
        };
      }
      case "host-restic": {
        for (const command of this.commandsUnder(node)) {
          const url = /printf 'RESTIC_REPOSITORY=%s\\n' '([^']+)'/.exec(String((command.props as Json).create ?? ""))?.[1];
          const location = url ? repositoryLocation(url) : undefined;
          if (location?.kind === "s3" && location.bucket === declared.location) {
            return { ...this.atRepository(declared, url!), implementedBy: command, encrypted: true };
          }
        }
        return none(`no host task writes to ${declared.location}`);
      }
      case "csi-snapshot":
      case "zfs-snapshot":
        // Snapshots share the disks of the live data: never a copy for 3-2-1 or the site.
        return { declared, site: "onsite", encrypted: false, problem: "a local snapshot" };
      default:
        return none(`no evidence is known for copies made by ${declared.method}`);
    }
  }

  private commandsUnder(node: DataNode): PolicyResource[] {
    return this.of(TYPES.command).filter((command) => isUnder(command, node.resource));
  }

  private atRepository(declared: DeclaredCopy, url: string | undefined, kopiaBucket?: string): CopyEvidence {
    const location = url ? repositoryLocation(url) : undefined;
    if (!location) return { declared, encrypted: false, problem: `repository ${url ?? "(none)"} cannot be followed` };
    if (location.kind === "filesystem") return { declared, site: "onsite", encrypted: false };
    if (location.kind === "sftp") return { declared, site: "offsite", encrypted: false };
    const name = kopiaBucket ?? location.bucket;
    const bucket = this.buckets.get(name);
    return { declared, site: "offsite", bucket, pathInBucket: location.path, encrypted: false, problem: bucket ? undefined : `bucket ${name} is not managed by this stack` };
  }
}

/** The middleware payload a TrueNAS Cloud Sync command sends (HB_TASK_PAYLOAD='...'). */
export function cloudSyncPayload(command: PolicyResource): Json | undefined {
  const text = String((command.props as Json).create ?? "");
  if (!/HB_TASK_KIND='cloudsync'/.test(text)) return undefined;
  const quoted = /HB_TASK_PAYLOAD='((?:[^']|'\\'')*)'/.exec(text)?.[1];
  if (quoted === undefined) return undefined;
  try {
    return JSON.parse(quoted.replace(/'\\''/g, "'")) as Json;
  } catch {
    return undefined;
  }
}

/** A copy that counts: made by a resource that was followed to where it really writes. */
export function verified(evidence: CopyEvidence): boolean {
  return evidence.implementedBy !== undefined && evidence.site !== undefined && evidence.problem === undefined;
}

/** The GFS recovery points a copy keeps, read from the resource that makes it; undefined when unknown. */
export function retentionOf(graph: BackupGraph, evidence: CopyEvidence): Retention | undefined {
  const resource = evidence.implementedBy;
  if (!resource) return undefined;
  const props = resource.props as Json;
  switch (evidence.declared.method) {
    case "volsync-restic":
    case "volsync-kopia": {
      const retain = (props.spec?.restic ?? props.spec?.kopia)?.retain ?? {};
      return pickRetention(retain);
    }
    case "pgbackrest": {
      const repo = ((props.spec?.stanzaConfiguration?.s3Repositories ?? []) as Json[]).find((r) => r.bucket === evidence.declared.location);
      const policy = repo?.retentionPolicy;
      if (!policy || policy.fullType !== "count") return undefined;
      return pgbackrestCoverage({ full: Number(policy.full), diff: Number(policy.diff ?? 0), archive: Number(policy.archive ?? 0), historyDays: Number(policy.history ?? 0) });
    }
    case "dump-restic": {
      const script = ((props.spec?.jobTemplate?.spec?.template?.spec?.containers ?? []) as Json[]).map((c) => (c.command ?? []).join(" ")).join("\n");
      return keepFlagsIn(script);
    }
    case "host-restic":
      return keepFlagsIn(String(props.create ?? ""));
    case "truenas-cloudsync": {
      const payload = cloudSyncPayload(resource);
      // SYNC deletes offsite what was deleted on the NAS; only COPY keeps a history at all.
      if (payload?.transfer_mode !== "COPY" || !evidence.bucket || evidence.bucket.provider !== "b2") return {};
      const lifecycle = graph.of(TYPES.b2Lifecycle).find((l) => (l.props as Json).bucket === evidence.bucket!.name);
      const days = ((lifecycle?.props as Json | undefined)?.rules ?? [])
        .filter((rule: Json) => rule.status === "Enabled" && rule.noncurrentVersionExpiration)
        .map((rule: Json) => Number(rule.noncurrentVersionExpiration.noncurrentDays));
      return mirrorCoverage(days.length > 0 ? Math.min(...days) : 3650);
    }
    default:
      return {};
  }
}

function pickRetention(source: Json): Retention {
  const retention: Retention = {};
  for (const bucket of ["hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    if (source[bucket] !== undefined) retention[bucket] = Number(source[bucket]);
  }
  return retention;
}

/** restic `--keep-<bucket> N` flags in a script. */
function keepFlagsIn(text: string): Retention {
  const retention: Record<string, number> = {};
  for (const match of text.matchAll(/--keep-(hourly|daily|weekly|monthly|yearly)[ =](\d+)/g)) retention[match[1]] = Math.max(retention[match[1]] ?? 0, Number(match[2]));
  return retention as Retention;
}

/** CloudNativePG archives WAL at least every five minutes (archive_timeout). */
const WAL_RPO_HOURS = 5 / 60;

/**
 * Worst-case age of a copy's newest recovery point, from the schedule of the resource that makes
 * it (WAL archiving for a CNPG cluster whose plugin entry archives to this stanza); undefined when
 * the resource has no schedule a policy can read.
 */
export function rpoOf(graph: BackupGraph, evidence: CopyEvidence): number | undefined {
  const resource = evidence.implementedBy;
  if (!resource) return undefined;
  const props = resource.props as Json;
  const gap = (cron: unknown) => (typeof cron === "string" && scheduleError(cron) === undefined ? maxGapHours(cron) : undefined);
  switch (resource.type) {
    case TYPES.replicationSource:
      return gap(props.spec?.trigger?.schedule);
    case TYPES.cronJob:
      return gap(props.spec?.schedule);
    case TYPES.stanza: {
      const stanza = nameOf(resource);
      const archiving = [...graph.of(TYPES.cluster), ...graph.of(TYPES.clusterPatch)].some(
        (cluster) =>
          namespaceOf(cluster) === namespaceOf(resource) &&
          (((cluster.props as Json).spec?.plugins ?? []) as Json[]).some((plugin) => plugin.isWALArchiver === true && plugin.parameters?.stanzaRef === stanza),
      );
      if (archiving) return WAL_RPO_HOURS;
      const repos = ((props.spec?.stanzaConfiguration?.s3Repositories ?? []) as Json[]).map((r) => r.bucket);
      const repo = String(repos.indexOf(evidence.declared.location) + 1);
      const gaps = graph
        .of(TYPES.scheduledBackup)
        .filter((sb) => namespaceOf(sb) === namespaceOf(resource) && (sb.props as Json).spec?.pluginConfiguration?.parameters?.selectedRepository === repo)
        .map((sb) => gap((sb.props as Json).spec?.schedule))
        .filter((hours): hours is number => hours !== undefined);
      return gaps.length > 0 ? Math.min(...gaps) : undefined;
    }
    case TYPES.command: {
      const schedule = cloudSyncPayload(resource)?.schedule;
      if (schedule) return gap(`${schedule.minute} ${schedule.hour} ${schedule.dom} ${schedule.month} ${schedule.dow}`);
      // Host timers: OnCalendar is the declared cron, rendered by the same function that wrote it.
      return evidence.declared.rpoHours;
    }
    default:
      return undefined;
  }
}

/** A five-field cron, or a six-field one with seconds first (CloudNativePG): why it is invalid, or undefined. */
export function scheduleError(cron: string): string | undefined {
  return cron.trim().split(/\s+/).length === 6 ? cnpgScheduleError(cron) : cronError(cron);
}
