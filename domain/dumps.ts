/**
 * Dump CronJobs for data outside CloudNativePG, and the jobs that take an app's dumps offsite.
 * Every job runs a script from domain/jobs/scripts.ts in a pinned image, nothing installed at run
 * time, under Pod Security "restricted": non-root, no privilege escalation, read-only root,
 * every capability dropped. Secrets reach the jobs only through ExternalSecret-built Secrets.
 */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy, PlannedItem } from "./model";
import { kubeName, LABELS, labelValue } from "./naming";
import { knownHostsLine, resticRepository, s3Endpoint, SecretRecipe, sshKeyRef, StoreValue } from "./repositories";
import { bucketFields, storeItem } from "./secrets";
import { nasClaimName } from "./nas";
import { Notify, resticOffsiteScript, rsyncOffsiteScript } from "./jobs/scripts";
import { restrictedContainer } from "./volsync";
import { dataKindOf } from "../methods/registry";
import type { DumpEngine } from "../methods/types";

type Manifest = Record<string, unknown>;

/**
 * Dump and offsite jobs run as "nobody" (it exists in every alpine image: ssh needs a passwd entry).
 * JOB_GID is also the group every job shares on the NAS share: a SQLite dump, which runs as the
 * app volume's own uid/gid, keeps it as a supplementary group (see dumpCronJob).
 */
export const JOB_UID = 65534;
export const JOB_GID = 65534;
export const BACKUP_MOUNT = "/backup";
/** Where a SQLite dump mounts the app's claim. */
export const SOURCE_MOUNT = "/source";

export function dumpDirectory(config: StackConfig, app: string): string {
  return `${BACKUP_MOUNT}/${config.cluster.name}/dumps/${app}`;
}

/** How items of the item's kind are dumped (its data kind's dump engine). */
export function dumpEngineOf(item: Pick<PlannedItem, "kind" | "id">): DumpEngine {
  const engine = dataKindOf(item.kind).dump;
  if (!engine) throw new Error(`${item.id}: items of kind ${item.kind} have no dump engine`);
  return engine;
}

/** The claim on the NAS share the item's dumps land on. */
function nasOf(item: PlannedItem): { claim: string } {
  const dump = item.copies.find((copy) => copy.method === "dump")!;
  return { claim: nasClaimName(dump.destination) };
}

export function jobLabels(app: string, tier: number, data: string, destination?: string): Record<string, string> {
  return {
    [LABELS.managedBy]: "homelab-backups",
    [LABELS.app]: labelValue(app),
    [LABELS.tier]: String(tier),
    [LABELS.data]: labelValue(data),
    ...(destination ? { [LABELS.destination]: labelValue(destination) } : {}),
  };
}

export function splitRef(ref: string): [string, string] {
  const slash = ref.indexOf("/");
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

/** Store values every job may need: the ntfy token and the healthchecks ping URL. */
export function notificationValues(config: StackConfig, slug: string): { values: StoreValue[]; template: Record<string, string> } {
  const values: StoreValue[] = [];
  const template: Record<string, string> = {};
  const notifications = config.notifications;
  if (notifications?.ntfy.tokenRef) {
    const [item, field] = splitRef(notifications.ntfy.tokenRef);
    values.push({ variable: "ntfyToken", item, field });
    template.NTFY_TOKEN = "{{ .ntfyToken }}";
  }
  if (notifications?.healthchecks) {
    const [item, field] = splitRef(notifications.healthchecks.pingKeyRef);
    values.push({ variable: "pingKey", item, field });
    template.HEALTHCHECKS_URL = `${notifications.healthchecks.url.replace(/\/$/, "")}/{{ .pingKey }}/${slug}`;
  }
  return { values, template };
}

export function notifyFor(config: StackConfig, app: string, item: string): Notify {
  return { app, item, ntfyUrl: config.notifications?.ntfy.url };
}

/** The Secret a dump job reads: database credentials from the user's store items, notification secrets. */
export function dumpSecretRecipe(config: StackConfig, item: PlannedItem): SecretRecipe | undefined {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, item.app, item.name, "dump"]));
  const credentials = dumpEngineOf(item).credentials?.(config, item);
  if (credentials) {
    values.push(...credentials.values);
    Object.assign(template, credentials.template);
  }
  if (Object.keys(template).length === 0) return undefined;
  return { name: kubeName(["hb", item.app, item.name, "dump"]), namespace: item.namespace, template, values };
}

/**
 * The pod securityContext of a job running as uid:gid. By default with `fsGroup: gid`, which gives
 * the pod's secret volumes (the rsync job's SSH key, mode 0400) to its group. `fsGroup: false` for
 * pods that mount an app's claim: with an fsGroup, kubelet changes the group of the claim's whole
 * volume (and with OnRootMismatch it does whenever the root directory's group differs), taking the
 * app's files from it; such pods run as the volume's own uid/gid instead and reach other files
 * through `supplementalGroups`.
 */
export function podSecurity(uid: number, gid: number, options: { fsGroup?: boolean; supplementalGroups?: number[] } = {}): Manifest {
  const supplemental = [...new Set(options.supplementalGroups ?? [])].filter((group) => group !== gid);
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    ...(supplemental.length > 0 ? { supplementalGroups: supplemental } : {}),
    ...(options.fsGroup === false ? {} : { fsGroup: gid, fsGroupChangePolicy: "OnRootMismatch" }),
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export const JOB_RESOURCES = { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "1Gi" } };

interface JobSpec {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  schedule: string;
  timeZone: string;
  image: string;
  script: string;
  uid: number;
  gid: number;
  secretName?: string;
  env?: Manifest[];
  extraMounts?: Manifest[];
  extraVolumes?: Manifest[];
  /**
   * The app's claim the job reads, mounted at SOURCE_MOUNT. The pod then sets no fsGroup (it must
   * not re-own the app's volume): uid/gid must be the volume's owner, and with `nas` JOB_GID
   * becomes a supplementary group for the NAS share.
   */
  sourceClaim?: string;
  affinity?: Manifest;
  deadlineSeconds: number;
  /** The NAS share's claim, mounted at BACKUP_MOUNT; none for jobs that only touch the app's claim. */
  nas?: { claim: string; readOnly: boolean };
  /** Directory the job needs on the NAS share, created before it starts. */
  ensureDirectory?: string;
}

/** A CronJob operators can trust: one run at a time, bounded, cleaned up, restricted, with resources. */
export function backupCronJob(spec: JobSpec): Manifest {
  const mounts = [
    ...(spec.nas ? [{ name: "backup", mountPath: BACKUP_MOUNT, readOnly: spec.nas.readOnly }] : []),
    { name: "tmp", mountPath: "/tmp" },
    ...(spec.sourceClaim ? [{ name: "source", mountPath: SOURCE_MOUNT }] : []),
    ...(spec.extraMounts ?? []),
  ];
  const security = spec.sourceClaim
    ? podSecurity(spec.uid, spec.gid, { fsGroup: false, supplementalGroups: spec.nas ? [JOB_GID] : [] })
    : podSecurity(spec.uid, spec.gid);
  const container = (name: string, command: string[], withSecrets: boolean): Manifest => ({
    name,
    image: spec.image,
    command,
    env: [{ name: "HOME", value: "/tmp" }, { name: "TMPDIR", value: "/tmp" }, ...(withSecrets ? (spec.env ?? []) : [])],
    ...(spec.secretName && withSecrets ? { envFrom: [{ secretRef: { name: spec.secretName } }] } : {}),
    resources: JOB_RESOURCES,
    securityContext: restrictedContainer(),
    volumeMounts: mounts,
  });
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: spec.name, namespace: spec.namespace, labels: spec.labels },
    spec: {
      schedule: spec.schedule,
      timeZone: spec.timeZone,
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: spec.labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: spec.deadlineSeconds,
          ttlSecondsAfterFinished: 86400,
          template: {
            metadata: { labels: spec.labels },
            spec: {
              restartPolicy: "Never",
              securityContext: security,
              ...(spec.affinity ? { affinity: spec.affinity } : {}),
              // Group-writable: jobs of one app may run as different uids (a SQLite dump runs as
              // its volume's owner) and share the directory through the share's group (README).
              ...(spec.ensureDirectory
                ? { initContainers: [container("prepare", ["/bin/sh", "-c", `umask 0007 && mkdir -p '${spec.ensureDirectory}'`], false)] }
                : {}),
              containers: [container("backup", ["/bin/sh", "-c", spec.script], true)],
              volumes: [
                ...(spec.nas ? [{ name: "backup", persistentVolumeClaim: { claimName: spec.nas.claim, readOnly: spec.nas.readOnly } }] : []),
                { name: "tmp", emptyDir: { sizeLimit: "4Gi" } },
                ...(spec.sourceClaim ? [{ name: "source", persistentVolumeClaim: { claimName: spec.sourceClaim } }] : []),
                ...(spec.extraVolumes ?? []),
              ],
            },
          },
        },
      },
    },
  };
}

/** The CronJob that dumps one database or file to the NAS share. */
export function dumpCronJob(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Manifest {
  const dir = dumpDirectory(config, item.app);
  const keepLast = copy.retention.kind === "count" ? copy.retention.keepLast : 7;
  const notify = notifyFor(config, item.app, item.name);
  const base = {
    name: kubeName([item.app, item.name, "dump"]),
    namespace: item.namespace,
    labels: jobLabels(item.app, item.tier, item.id, copy.destination),
    schedule: copy.schedule.controllerCron,
    timeZone: copy.schedule.controllerTimeZone,
    secretName: dumpSecretRecipe(config, item)?.name,
    deadlineSeconds: 3 * 3600,
    nas: { ...nasOf(item), readOnly: false },
    ensureDirectory: dir,
  };
  const engine = dumpEngineOf(item);
  return backupCronJob({ ...base, image: engine.image(config), ...engine.job(config, item, { keepLast, dir, notify }) });
}

/** A ReadWriteOnce claim mounts on one node only: a job that mounts an app's claim runs beside the app's pods. */
export function besideApp(selector: Record<string, string>): Manifest {
  return {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" }],
    },
  };
}

/**
 * Who a SQLite dump runs as: the item's uid, else the owner of the app volume on the same claim,
 * else 1000 (the volumes' default); the group is that volume's gid, else 1000.
 */
export function sqliteOwner(config: StackConfig, item: PlannedItem): { uid: number; gid: number } {
  const file = config.apps[item.app].sqlite[item.name];
  const claimVolume = Object.entries(config.apps[item.app].volumes).find(([name, volume]) => (volume.claim ?? name) === file.claim)?.[1];
  const uid = file.uid ?? claimVolume?.uid ?? 1000;
  const gid = claimVolume?.gid ?? 1000;
  if (uid === 0) {
    throw new Error(`${item.configPath}: the claim's volume is owned by uid 0; a restricted pod cannot run as root: set the item's uid to the database file's owner`);
  }
  return { uid, gid };
}

/** The Secret an app's offsite dump job reads for one destination. */
export function offsiteSecretRecipe(config: StackConfig, item: PlannedItem, copy: PlannedCopy): SecretRecipe {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, item.app, "dumps", copy.destination]));
  const target = config.destinations[copy.destination];
  if (target.kind === "ssh") {
    const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
    values.push({ variable: "sshPrivateKey", item: keyItem, field: keyField });
    Object.assign(template, { "ssh-private-key": "{{ .sshPrivateKey }}\n", known_hosts: `${knownHostsLine(target)}\n` });
  } else {
    const ownItem = storeItem(config.cluster.name, item.app);
    const fields = bucketFields({ destination: copy.destination, credential: "dumps" });
    values.push(
      { variable: "resticPassword", item: ownItem, field: "restic-password" },
      { variable: "accessKeyId", item: ownItem, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: ownItem, field: fields.secretAccessKey },
    );
    const { region } = s3Endpoint(config, copy.destination);
    Object.assign(template, {
      RESTIC_REPOSITORY: resticRepository(config, item, copy),
      RESTIC_PASSWORD: "{{ .resticPassword }}",
      AWS_ACCESS_KEY_ID: "{{ .accessKeyId }}",
      AWS_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
      AWS_DEFAULT_REGION: region,
    });
  }
  return { name: kubeName(["hb", item.app, "dumps", copy.destination]), namespace: item.namespace, template, values };
}

/** The CronJob that copies an app's whole dump directory to one offsite destination. */
export function offsiteCronJob(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Manifest {
  const dir = dumpDirectory(config, item.app);
  const notify = notifyFor(config, item.app, "dumps");
  const secret = offsiteSecretRecipe(config, item, copy).name;
  const base = {
    name: kubeName([item.app, "dumps", copy.destination]),
    namespace: item.namespace,
    labels: jobLabels(item.app, item.tier, `${item.app}/dumps`, copy.destination),
    schedule: copy.schedule.controllerCron,
    timeZone: copy.schedule.controllerTimeZone,
    uid: JOB_UID,
    gid: JOB_GID,
    deadlineSeconds: 6 * 3600,
    nas: { ...nasOf(item), readOnly: true },
  };
  const target = config.destinations[copy.destination];
  if (target.kind === "ssh") {
    return backupCronJob({
      ...base,
      image: config.images.rsync,
      script: rsyncOffsiteScript({ sourceDir: dir, user: target.user, host: target.host, port: target.port, path: `${target.path}/${config.cluster.name}/dumps/${item.app}`, notify }),
      env: [
        { name: "SSH_KEY_FILE", value: "/ssh/key" },
        { name: "SSH_KNOWN_HOSTS_FILE", value: "/ssh/known_hosts" },
        // The key stays a file; only the notification values come from the environment.
        ...["NTFY_TOKEN", "HEALTHCHECKS_URL"]
          .filter((key) => key in offsiteSecretRecipe(config, item, copy).template)
          .map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secret, key } } })),
      ],
      extraMounts: [{ name: "ssh", mountPath: "/ssh", readOnly: true }],
      extraVolumes: [
        {
          name: "ssh",
          secret: {
            secretName: secret,
            defaultMode: 0o400,
            items: [
              { key: "ssh-private-key", path: "key" },
              { key: "known_hosts", path: "known_hosts" },
            ],
          },
        },
      ],
    });
  }
  const keep = copy.retention.kind === "gfs" ? (({ kind: _kind, ...buckets }) => buckets)(copy.retention) : { last: 7 };
  return backupCronJob({
    ...base,
    image: config.images.restic,
    script: resticOffsiteScript({ sourceDir: dir, keep, host: config.cluster.name, notify }),
    env: [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }],
    secretName: secret,
  });
}
