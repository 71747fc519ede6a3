/**
 * Restore drills as Kubernetes objects: per drilled item, a Secret recipe (built by an
 * ExternalSecret from the store, like every other consumer's) and a CronJob that restores the
 * newest backup of one copy into scratch space and proves it usable. Each method's drill.ts builds
 * its drill from the pieces here (domain/jobs/drills.ts and domain/jobs/cloudsyncDrill.ts hold the
 * scripts). Drills use the same credentials a real restore would, so a drill also proves that the
 * store still holds working ones.
 *
 * Dump and pgBackRest drills fetch in an init container and verify in the database's own image.
 * The fetch step always exits 0 and leaves its status in the scratch volume, so a failed fetch
 * still reaches the container that notifies: the verify container for dumps (alpine images have
 * wget), a small report container for pgBackRest (CNPG images have no wget), after a quiet verify
 * init container that also always exits 0.
 */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy, PlannedItem, PlannedJob } from "./model";
import { cnpgClusterName, credentialKindOf } from "./storage";
import { kubeName, LABELS } from "./naming";
import { NAS_MOUNT, resticRepository, s3Endpoint, SecretRecipe, StoreValue } from "./repositories";
import { nasClaimName } from "./nas";
import { bucketFields, cnpgOwner, storeItem } from "./secrets";
import { DRILL_SCRATCH } from "./jobs/drills";
import { methodOf } from "../methods/registry";
import { destinationPlugin } from "../destinations/registry";
import { JOB_RESOURCES, jobLabels, notificationValues, podSecurity } from "./jobPods";
import { restrictedContainer } from "./jobPods";

type Manifest = Record<string, unknown>;

/** The CNPG PostgreSQL images run as this user. */
export const CNPG_UID = 26;
/** What a method's drill builder is given. */
export interface DrillContext {
  config: StackConfig;
  item: PlannedItem;
  copy: PlannedCopy;
  job: PlannedJob;
  /** A drill fails when the newest backup is older than this. */
  maxAgeHours: number;
}

export interface DrillObjects {
  /** The Secret the drill reads, built by an ExternalSecret; undefined when it needs none. */
  secret?: SecretRecipe;
  cronJob: Manifest;
}

/** Where an item's drill runs: its namespace, or the system namespace for data outside the cluster. */
export function drillNamespace(config: StackConfig, item: PlannedItem): string {
  return item.namespace || config.cluster.systemNamespace;
}

export function drillName(item: PlannedItem): string {
  return kubeName([item.app, item.kind === "dataset" || item.kind === "host" ? "" : item.name, "drill"].filter(Boolean));
}

export interface Step {
  image: string;
  script: string;
  env?: Manifest[];
  /** Read the drill Secret as environment. */
  secretEnv?: boolean;
  mounts?: Manifest[];
  uid?: number;
}

export interface DrillPod {
  job: PlannedJob;
  /** CronJob name (default: drillName of the item). */
  name?: string;
  /** The label that says what the CronJob is (default: the restore-drill label). */
  marker?: Record<string, string>;
  item: PlannedItem;
  config: StackConfig;
  secretName?: string;
  uid: number;
  gid: number;
  /** Init containers, in order: fetch the backup, then (pgBackRest) restore and query it. */
  fetch?: Step;
  verify?: Step;
  main: Step;
  volumes?: Manifest[];
  deadlineSeconds: number;
}

/** A CronJob whose pod runs init steps and a main step that notifies: drills and verifications. */
export function drillCronJob(pod: DrillPod): Manifest {
  const labels = { ...jobLabels(pod.item.app, pod.item.tier, pod.item.id, pod.job.destination), ...(pod.marker ?? { [LABELS.drill]: "true" }) };
  const container = (name: string, step: Step): Manifest => ({
    name,
    image: step.image,
    command: ["/bin/sh", "-c", step.script],
    env: [{ name: "HOME", value: "/tmp" }, { name: "TMPDIR", value: "/tmp" }, ...(step.env ?? [])],
    ...(step.secretEnv && pod.secretName ? { envFrom: [{ secretRef: { name: pod.secretName } }] } : {}),
    resources: JOB_RESOURCES,
    securityContext: { ...restrictedContainer(), ...(step.uid !== undefined ? { runAsUser: step.uid } : {}) },
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, { name: "scratch", mountPath: DRILL_SCRATCH }, ...(step.mounts ?? [])],
  });
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: pod.name ?? drillName(pod.item), namespace: drillNamespace(pod.config, pod.item), labels },
    spec: {
      schedule: pod.job.schedule.controllerCron,
      timeZone: pod.job.schedule.controllerTimeZone,
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          // A drill that fails is a finding, not a flake to retry.
          backoffLimit: 0,
          activeDeadlineSeconds: pod.deadlineSeconds,
          ttlSecondsAfterFinished: 7 * 86400,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              securityContext: podSecurity(pod.uid, pod.gid),
              ...(pod.fetch ? { initContainers: [container("fetch", pod.fetch), ...(pod.verify ? [container("verify", pod.verify)] : [])] } : {}),
              containers: [container("drill", pod.main)],
              volumes: [
                { name: "tmp", emptyDir: { sizeLimit: "2Gi" } },
                // Sampled files and restored databases; the pod is evicted rather than fill the node.
                { name: "scratch", emptyDir: { sizeLimit: "20Gi" } },
                ...(pod.volumes ?? []),
              ],
            },
          },
        },
      },
    },
  };
}

/** A recipe's values and template with the job's own notification values added (healthchecks check `slug`). */
export function withNotifications(
  config: StackConfig,
  item: PlannedItem,
  name: string,
  values: StoreValue[],
  template: Record<string, string>,
  slug = kubeName([config.cluster.name, item.app, item.name, "drill"]),
): SecretRecipe {
  const notifications = notificationValues(config, slug);
  return {
    name,
    namespace: drillNamespace(config, item),
    values: [...values, ...notifications.values],
    template: { ...template, ...notifications.template },
  };
}

export function drillSecretName(item: PlannedItem): string {
  return kubeName(["hb", drillName(item)]);
}

export function nasRepositoryVolume(copy: PlannedCopy): { mounts: Manifest[]; volumes: Manifest[] } {
  if (copy.destinationKind !== "nfs") return { mounts: [], volumes: [] };
  return {
    mounts: [{ name: "repository", mountPath: NAS_MOUNT }],
    volumes: [{ name: "repository", persistentVolumeClaim: { claimName: nasClaimName(copy.destination) } }],
  };
}

/** The drill of one item: its Secret recipe and CronJob (for items inside the cluster and TrueNAS datasets). */
export function restoreDrill(config: StackConfig, item: PlannedItem, job: PlannedJob): DrillObjects {
  const copy = item.copies.find((c) => c.id === job.copyId);
  if (!copy) throw new Error(`${job.id}: the drilled copy ${job.copyId} is not in the plan`);
  const maxAgeHours = job.maxAgeHours ?? 50;

  const drill = methodOf(copy.method).drill;
  if (!drill) throw new Error(`${job.id}: ${copy.method} copies are not drilled in the cluster`);
  return drill({ config, item, copy, job, maxAgeHours });
}

/**
 * What reading a restic repository on B2/R2 that a job outside VolSync writes (an app's offsite
 * dumps, a host's backups) takes: its URL, and the password and bucket keys of its owner's store
 * item, the writer's own.
 */
export function storeResticEnv(config: StackConfig, item: PlannedItem, copy: PlannedCopy): { values: StoreValue[]; template: Record<string, string> } {
  const credential = credentialKindOf(copy.method);
  if (!credential) throw new Error(`${copy.id}: not a copy in object storage`);
  const own = storeItem(config.cluster.name, item.app);
  const fields = bucketFields({ destination: copy.destination, credential });
  return {
    values: [
      { variable: "resticPassword", item: own, field: "restic-password" },
      { variable: "accessKeyId", item: own, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: own, field: fields.secretAccessKey },
    ],
    template: {
      RESTIC_REPOSITORY: resticRepository(config, item, copy),
      RESTIC_PASSWORD: "{{ .resticPassword }}",
      AWS_ACCESS_KEY_ID: "{{ .accessKeyId }}",
      AWS_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
      AWS_DEFAULT_REGION: s3Endpoint(config, copy.destination).region,
    },
  };
}

/** The notification variables of a drill Secret, as env entries (for containers that get nothing else). */
export function notificationEnv(secret: SecretRecipe, name: string): Manifest[] {
  return ["NTFY_TOKEN", "HEALTHCHECKS_URL"]
    .filter((key) => key in secret.template)
    .map((key) => ({ name: key, valueFrom: { secretKeyRef: { name, key } } }));
}

/**
 * What reading one pgBackRest repository of a CNPG cluster takes: its number in the Stanza, the
 * Stanza's settings as pgBackRest's own environment variables, and the store values (cipher pass,
 * bucket keys) for a Secret.
 */
export function pgbackrestRepoEnv(
  config: StackConfig,
  item: PlannedItem,
  copy: PlannedCopy,
): { repo: number; settings: Record<string, string>; values: StoreValue[]; template: Record<string, string> } {
  const cluster = cnpgClusterName(config, item);
  const repo = item.copies.filter((c) => c.method === "pgbackrest").findIndex((c) => c.id === copy.id) + 1;
  const target = config.destinations[copy.destination];
  const endpoint = destinationPlugin(target.kind).s3?.(target);
  if (!endpoint || repo === 0) throw new Error(`${copy.id}: pgBackRest repositories are object storage copies of the item`);
  const own = storeItem(config.cluster.name, cnpgOwner(cluster));
  const fields = bucketFields({ destination: copy.destination, credential: "pgbackrest" });
  const prefix = `PGBACKREST_REPO${repo}`;
  return {
    repo,
    settings: {
      PGBACKREST_STANZA: cluster,
      [`${prefix}_TYPE`]: "s3",
      [`${prefix}_PATH`]: `/${cluster}`,
      [`${prefix}_S3_BUCKET`]: copy.location,
      [`${prefix}_S3_ENDPOINT`]: endpoint.host,
      [`${prefix}_S3_REGION`]: endpoint.region,
      [`${prefix}_S3_URI_STYLE`]: "path",
      [`${prefix}_CIPHER_TYPE`]: "aes-256-cbc",
    },
    values: [
      { variable: "cipherPass", item: own, field: "cipher-pass" },
      { variable: "accessKeyId", item: own, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: own, field: fields.secretAccessKey },
    ],
    template: { [`${prefix}_CIPHER_PASS`]: "{{ .cipherPass }}", [`${prefix}_S3_KEY`]: "{{ .accessKeyId }}", [`${prefix}_S3_KEY_SECRET`]: "{{ .secretAccessKey }}" },
  };
}
