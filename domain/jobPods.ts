/**
 * What every job pod the program emits shares, whatever the method: the uid/gid jobs run as, the
 * mounts, labels, notification values, Pod Security "restricted" contexts and the CronJob shape.
 */
import type { StackConfig } from "./config/schema";
import { LABELS, labelValue } from "./naming";
import { StoreValue } from "./repositories";
import { Notify } from "./jobs/scripts";

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

export interface JobSpec {
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

/** A ReadWriteOnce claim mounts on one node only: a job that mounts an app's claim runs beside the app's pods. */
export function besideApp(selector: Record<string, string>): Manifest {
  return {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" }],
    },
  };
}

/** The container half of Pod Security "restricted". */
export function restrictedContainer(): Manifest {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } };
}
