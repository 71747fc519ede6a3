/**
 * Restore drills as Kubernetes objects: per drilled item, a Secret recipe (built by an
 * ExternalSecret from the store, like every other consumer's) and a CronJob that restores the
 * newest backup of one copy into scratch space and proves it usable (domain/jobs/drills.ts and
 * domain/jobs/cloudsyncDrill.ts hold the scripts). Drills use the same credentials a real restore
 * would, so a drill also proves that the store still holds working ones.
 *
 * Dump and pgBackRest drills fetch in an init container and verify in the database's own image.
 * The fetch step always exits 0 and leaves its status in the scratch volume, so a failed fetch
 * still reaches the container that notifies: the verify container for dumps (alpine images have
 * wget), a small report container for pgBackRest (CNPG images have no wget), after a quiet verify
 * init container that also always exits 0.
 */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy, PlannedItem, PlannedJob } from "./model";
import { cnpgClusterName } from "./storage";
import { kubeName, LABELS } from "./naming";
import { BACKUP_MOUNT, dumpDirectory, JOB_GID, JOB_RESOURCES, JOB_UID, jobLabels, notificationValues, notifyFor, podSecurity } from "./dumps";
import { knownHostsLine, kopiaIdentity, moverSecretRecipe, NAS_MOUNT, nasRepositoryOwner, resticRepository, s3Endpoint, SecretRecipe, sshKeyRef, StoreValue } from "./repositories";
import { nasClaimName } from "./nas";
import { bucketFields, cnpgOwner, storeItem } from "./secrets";
import { credentialKindOf } from "./storage";
import { restrictedContainer } from "./volsync";
import { DRILL_READ_PERCENT, DRILL_SAMPLE_FILES } from "./drillSchedule";
import {
  DRILL_SCRATCH,
  drillReportScript,
  dumpVerifyScript,
  kopiaVolumeDrillScript,
  nasDumpFetchScript,
  pgbackrestFetchScript,
  pgbackrestVerifyScript,
  resticDumpFetchScript,
  resticVolumeDrillScript,
  rsyncDumpFetchScript,
} from "./jobs/drills";
import { cloudSyncDrillScript } from "./jobs/cloudsyncDrill";
import { drillCanary } from "./canary";
import { destinationPlugin } from "../destinations/registry";

type Manifest = Record<string, unknown>;

/** The CNPG PostgreSQL images run as this user. */
export const CNPG_UID = 26;
/** The alpine postgres image's postgres user: initdb refuses root and wants a real account. */
const ALPINE_POSTGRES_UID = 70;

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

function secretName(item: PlannedItem): string {
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
  const notify = notifyFor(config, item.app, item.name);
  const name = secretName(item);
  const base = { job, item, config, uid: JOB_UID, gid: JOB_GID };

  switch (copy.method) {
    case "volsync-restic":
    case "volsync-kopia": {
      const mover = moverSecretRecipe(config, item, copy);
      const secret = withNotifications(config, item, name, mover.values, mover.template);
      const nas = nasRepositoryVolume(copy);
      const volume = config.apps[item.app].volumes[item.name];
      const canary = drillCanary(config, item, copy);
      const script =
        copy.method === "volsync-restic"
          ? resticVolumeDrillScript({ notify, maxAgeHours, sampleFiles: DRILL_SAMPLE_FILES, readDataSubset: `${DRILL_READ_PERCENT}%`, canary })
          : kopiaVolumeDrillScript({ notify, maxAgeHours, sampleFiles: DRILL_SAMPLE_FILES, verifyPercent: DRILL_READ_PERCENT, identity: kopiaIdentity(item, volume.claim ?? item.name), canary });
      return {
        secret,
        cronJob: drillCronJob({
          ...base,
          ...nasRepositoryOwner(config, item, copy),
          secretName: name,
          main: {
            image: copy.method === "volsync-restic" ? config.images.restic : config.images.kopia,
            script,
            env: copy.method === "volsync-restic" ? [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }] : [],
            secretEnv: true,
            mounts: nas.mounts,
          },
          volumes: nas.volumes,
          deadlineSeconds: 6 * 3600,
        }),
      };
    }
    case "dump":
    case "dump-restic":
    case "dump-rsync":
      return dumpDrill(config, item, copy, job, maxAgeHours);
    case "pgbackrest":
      return pgbackrestDrill(config, item, copy, job, maxAgeHours);
    case "truenas-cloudsync":
      return cloudSyncDrill(config, item, copy, job);
    default:
      throw new Error(`${job.id}: ${copy.method} copies are not drilled in the cluster`);
  }
}

function dumpDrill(config: StackConfig, item: PlannedItem, copy: PlannedCopy, job: PlannedJob, maxAgeHours: number): DrillObjects {
  const notify = notifyFor(config, item.app, item.name);
  const app = config.apps[item.app];
  const dir = dumpDirectory(config, item.app);
  const name = secretName(item);
  const values: StoreValue[] = [];
  const template: Record<string, string> = {};
  const mounts: Manifest[] = [];
  const volumes: Manifest[] = [];
  let fetch: Step;

  if (copy.method === "dump") {
    mounts.push({ name: "backup", mountPath: BACKUP_MOUNT, readOnly: true });
    volumes.push({ name: "backup", persistentVolumeClaim: { claimName: nasClaimName(copy.destination), readOnly: true } });
    fetch = { image: verifyImage(config, item), script: nasDumpFetchScript({ dir, item: item.name, maxAgeHours }), mounts };
  } else if (copy.method === "dump-restic") {
    const env = storeResticEnv(config, item, copy);
    values.push(...env.values);
    Object.assign(template, env.template);
    fetch = {
      image: config.images.restic,
      script: resticDumpFetchScript({ item: item.name, dir, maxAgeHours }),
      env: [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }],
      secretEnv: true,
    };
  } else {
    const target = config.destinations[copy.destination];
    if (target.kind !== "ssh") throw new Error(`${copy.id}: rsync copies go to ssh destinations`);
    const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
    values.push({ variable: "sshPrivateKey", item: keyItem, field: keyField });
    Object.assign(template, { "ssh-private-key": "{{ .sshPrivateKey }}\n", known_hosts: `${knownHostsLine(target)}\n` });
    volumes.push({
      name: "ssh",
      secret: { secretName: name, defaultMode: 0o400, items: [{ key: "ssh-private-key", path: "key" }, { key: "known_hosts", path: "known_hosts" }] },
    });
    fetch = {
      image: config.images.rsync,
      script: rsyncDumpFetchScript({
        item: item.name,
        user: target.user,
        host: target.host,
        port: target.port,
        remoteDir: `${target.path}/${config.cluster.name}/dumps/${item.app}`,
        maxAgeHours,
      }),
      env: [
        { name: "SSH_KEY_FILE", value: "/ssh/key" },
        { name: "SSH_KNOWN_HOSTS_FILE", value: "/ssh/known_hosts" },
      ],
      mounts: [{ name: "ssh", mountPath: "/ssh", readOnly: true }],
    };
  }

  const secret = withNotifications(config, item, name, values, template);
  const hasSecret = Object.keys(secret.template).length > 0;
  const engine = dumpEngine(config, item);
  const database = item.kind === "postgres" ? app.databases[item.name] : undefined;
  return {
    secret: hasSecret ? secret : undefined,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: JOB_UID,
      gid: JOB_GID,
      secretName: hasSecret ? name : undefined,
      fetch,
      main: {
        image: verifyImage(config, item),
        script: dumpVerifyScript({ engine, item: item.name, notify }),
        // Only notification values: the fetch step's credentials never reach the database image.
        env: notificationEnv(secret, name),
        uid: engine.startsWith("postgres") ? ALPINE_POSTGRES_UID : undefined,
      },
      volumes,
      deadlineSeconds: database ? 6 * 3600 : 2 * 3600,
    }),
  };
}

/**
 * What reading a restic repository on B2/R2 that a job outside VolSync writes (an app's offsite
 * dumps, a host's backups) takes: its URL, and the password and bucket keys of its owner's store
 * item, the writer's own.
 */
export function storeResticEnv(config: StackConfig, item: PlannedItem, copy: PlannedCopy): { values: StoreValue[]; template: Record<string, string> } {
  const credential = credentialKindOf(copy.method);
  if (!credential || (copy.method !== "dump-restic" && copy.method !== "host-restic")) throw new Error(`${copy.id}: not a restic copy in object storage`);
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

function dumpEngine(config: StackConfig, item: PlannedItem): "postgres" | "postgres-all" | "sqlite" | "redis" {
  if (item.kind === "sqlite") return "sqlite";
  if (item.kind === "redis") return "redis";
  const db = config.apps[item.app].databases[item.name];
  return db.engine === "postgres" && db.database === "all" ? "postgres-all" : "postgres";
}

function verifyImage(config: StackConfig, item: PlannedItem): string {
  if (item.kind === "sqlite") return config.images.sqlite;
  if (item.kind === "redis") return config.images.redis;
  return config.images.postgres;
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

function pgbackrestDrill(config: StackConfig, item: PlannedItem, copy: PlannedCopy, job: PlannedJob, maxAgeHours: number): DrillObjects {
  const { repo, settings, values, template } = pgbackrestRepoEnv(config, item, copy);
  const secret = withNotifications(config, item, secretName(item), values, template);
  const database = config.apps[item.app].databases[item.name];
  const image = database.engine === "cnpg" ? database.imageName : config.images.postgres;
  return {
    secret,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: CNPG_UID,
      gid: CNPG_UID,
      secretName: secret.name,
      fetch: {
        image: config.images.pgbackrest,
        script: pgbackrestFetchScript({ repo, maxAgeHours }),
        env: Object.entries(settings).map(([key, value]) => ({ name: key, value })),
        secretEnv: true,
      },
      // CNPG images have no wget: the restore runs quietly and a busybox container reports it.
      verify: { image, script: pgbackrestVerifyScript({ report: "status-file" }) },
      main: {
        image: config.images.restic,
        script: drillReportScript({ notify: notifyFor(config, item.app, item.name), what: "pgBackRest restore drill" }),
        env: notificationEnv(secret, secret.name),
      },
      deadlineSeconds: 8 * 3600,
    }),
  };
}

function cloudSyncDrill(config: StackConfig, item: PlannedItem, copy: PlannedCopy, job: PlannedJob): DrillObjects {
  const credentials = storeItem(config.cluster.name, "truenas");
  const passwords = storeItem(config.cluster.name, item.app);
  const fields = bucketFields({ destination: copy.destination, credential: "truenas" });
  const secret = withNotifications(
    config,
    item,
    secretName(item),
    [
      { variable: "accessKeyId", item: credentials, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: credentials, field: fields.secretAccessKey },
      { variable: "password", item: passwords, field: "cloudsync-password" },
      { variable: "salt", item: passwords, field: "cloudsync-salt" },
    ],
    {
      RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID: "{{ .accessKeyId }}",
      RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
      CLOUDSYNC_ENCRYPTION_PASSWORD: "{{ .password }}",
      CLOUDSYNC_ENCRYPTION_SALT: "{{ .salt }}",
    },
  );
  const endpoint = s3Endpoint(config, copy.destination);
  const settings = {
    RCLONE_CONFIG_OFFSITE_TYPE: "s3",
    RCLONE_CONFIG_OFFSITE_PROVIDER: endpoint.rcloneProvider,
    RCLONE_CONFIG_OFFSITE_ENDPOINT: endpoint.url,
    RCLONE_CONFIG_OFFSITE_REGION: endpoint.region,
    RCLONE_CONFIG_OFFSITE_FORCE_PATH_STYLE: "true",
  };
  return {
    secret,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: JOB_UID,
      gid: JOB_GID,
      secretName: secret.name,
      main: {
        image: config.images.rclone,
        script: cloudSyncDrillScript({ notify: notifyFor(config, item.app, item.name), bucket: copy.location, folder: item.name, sampleFiles: DRILL_SAMPLE_FILES }),
        env: Object.entries(settings).map(([key, value]) => ({ name: key, value })),
        secretEnv: true,
      },
      deadlineSeconds: 4 * 3600,
    }),
  };
}
