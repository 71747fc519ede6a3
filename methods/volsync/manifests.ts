/**
 * VolSync objects for one app volume: a ReplicationSource per copy (restic upstream or the
 * perfectra1n Kopia fork), the restore-once bootstrap (ReplicationDestination + claim populated
 * from it; for tier 1 both wait for a check Job), and Kopia repository maintenance. Every mover
 * snapshots with the volume's own VolumeSnapshotClass. Pure builders; components/volumeBackup.ts
 * wires them (domain/kopiaMirror.ts has the mirrors of NAS Kopia repositories).
 */
import type { StackConfig, VolumeConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem, PlannedJob } from "../../domain/model";
import { kubeName, LABELS, labelValue } from "../../domain/naming";
import { kopiaIdentity, moverSecretRecipe, NAS_MOUNT } from "../../domain/repositories";
import { restoreCheckScript } from "../../domain/jobs/restoreCheck";
import { nasClaimName } from "../../domain/nas";
import { restrictedContainer } from "../../domain/jobPods";

type Manifest = Record<string, unknown>;

export const VOLSYNC_API = "volsync.backube/v1alpha1";

/** The trigger of a bootstrap ReplicationDestination: a constant, so it never re-runs. */
export const RESTORE_ONCE = "restore-once";

export function claimOf(item: PlannedItem, volume: VolumeConfig): string {
  return volume.claim ?? item.name;
}

export function storageClassOf(config: StackConfig, volume: VolumeConfig): string {
  return volume.storageClass ?? config.cluster.storageClass;
}

/**
 * The VolumeSnapshotClass of a volume's copies and CSI snapshots: its own, else the cluster's (the
 * config refuses a claim on another StorageClass without one: a class of another CSI driver
 * cannot snapshot it).
 */
export function volumeSnapshotClassOf(config: StackConfig, volume: VolumeConfig): string {
  return volume.volumeSnapshotClass ?? config.cluster.volumeSnapshotClass;
}

export function dataLabels(item: PlannedItem, destination?: string): Record<string, string> {
  return {
    [LABELS.managedBy]: "homelab-backups",
    [LABELS.app]: labelValue(item.app),
    [LABELS.tier]: String(item.tier),
    [LABELS.data]: labelValue(item.id),
    ...(destination ? { [LABELS.destination]: labelValue(destination) } : {}),
  };
}

/** Movers run as the files' owner, so nothing is chowned and nothing is skipped as unreadable. */
export function moverSecurityContext(volume: VolumeConfig): Manifest {
  return {
    runAsUser: volume.uid,
    runAsGroup: volume.gid,
    fsGroup: volume.gid,
    // Without it kubelet chowns every file of the copy on every run.
    fsGroupChangePolicy: "OnRootMismatch",
    runAsNonRoot: volume.uid !== 0,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export const MOVER_RESOURCES = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "2Gi" } };

function nfsMoverVolumes(config: StackConfig, copy: Pick<PlannedCopy, "destination">): Manifest[] | undefined {
  if (config.destinations[copy.destination].kind !== "nfs") return undefined;
  // Mounted at /mnt/repository; repositories live in <share>/<cluster>/<purpose>/...
  return [{ mountPath: NAS_MOUNT.replace(/^\/mnt\//, ""), volumeSource: { persistentVolumeClaim: { claimName: nasClaimName(copy.destination) } } }];
}

function retainOf(copy: PlannedCopy, mover: "restic" | "kopia"): Manifest {
  const retention = copy.retention;
  if (retention.kind === "count") return mover === "restic" ? { last: String(retention.keepLast) } : { latest: retention.keepLast };
  if (retention.kind !== "gfs") return {};
  const { kind: _kind, withinDays, ...buckets } = retention;
  // restic keeps every snapshot of the last N days as `within` (copies in a bucket locked by age:
  // forget must not try to delete younger files); the Kopia fork's retain has no such field.
  return withinDays && mover === "restic" ? { ...buckets, within: `${withinDays}d` } : buckets;
}

/** Settings shared by the source and the bootstrap destination of one copy. */
function moverCommon(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Manifest {
  const storageClass = storageClassOf(config, volume);
  const common: Manifest = {
    repository: moverSecretRecipe(config, item, copy).name,
    copyMethod: "Snapshot",
    volumeSnapshotClassName: volumeSnapshotClassOf(config, volume),
    storageClassName: storageClass,
    accessModes: ["ReadWriteOnce"],
    // The cache is sized on its own, never after the data: a growing claim must not wedge it.
    cacheCapacity: volume.cacheCapacity,
    moverSecurityContext: moverSecurityContext(volume),
    moverResources: MOVER_RESOURCES,
  };
  if (volume.mover === "restic") {
    common.cacheStorageClassName = storageClass;
    common.cacheAccessModes = ["ReadWriteOnce"];
  } else {
    Object.assign(common, kopiaIdentity(item, claimOf(item, volume)));
  }
  const volumes = nfsMoverVolumes(config, copy);
  if (volumes) common.moverVolumes = volumes;
  return common;
}

export function replicationSourceName(item: PlannedItem, volume: VolumeConfig, copy: Pick<PlannedCopy, "destination">): string {
  return kubeName([claimOf(item, volume), copy.destination]);
}

export function replicationSource(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Manifest {
  const mover = volume.mover;
  const spec: Manifest = { ...moverCommon(config, item, volume, copy), retain: retainOf(copy, mover) };
  if (mover === "restic") spec.pruneIntervalDays = 7;
  else Object.assign(spec, { compression: "zstd-fastest", parallelism: 2 });
  return {
    apiVersion: VOLSYNC_API,
    kind: "ReplicationSource",
    metadata: { name: replicationSourceName(item, volume, copy), namespace: item.namespace, labels: dataLabels(item, copy.destination) },
    spec: { sourcePVC: claimOf(item, volume), trigger: { schedule: copy.schedule.controllerCron }, [mover]: spec },
  };
}

/** The copy a bootstrap restores from: the NAS when there is one (fast), else the first offsite copy. */
export function bootstrapCopy(item: PlannedItem): PlannedCopy | undefined {
  const movers = item.copies.filter((copy) => copy.method === "volsync-restic" || copy.method === "volsync-kopia");
  return movers.find((copy) => copy.destinationKind === "nfs") ?? movers[0];
}

export interface Bootstrap {
  destination: Manifest;
  claim: Manifest;
  /**
   * Tier 1 without allowEmptyRestore: a Job that must succeed before the ReplicationDestination,
   * and so the claim, is created.
   */
  check?: Manifest;
}

/** How long the restore check may run, retries included: its Job's activeDeadlineSeconds. */
export const RESTORE_CHECK_DEADLINE_SECONDS = 900;

/**
 * How long Pulumi waits for the restore check to complete (the Kubernetes provider's default for
 * Jobs is 10 minutes): past the Job's own deadline, so the verdict is always the Job's.
 */
export const RESTORE_CHECK_TIMEOUT = `${RESTORE_CHECK_DEADLINE_SECONDS / 60 + 5}m`;

export function bootstrap(config: StackConfig, item: PlannedItem, volume: VolumeConfig, images: { restic: string; kopia: string }): Bootstrap | undefined {
  const copy = bootstrapCopy(item);
  if (!volume.restoreOnBootstrap || !copy) return undefined;
  const claim = claimOf(item, volume);
  const name = kubeName([claim, "bootstrap"]);
  const labels = dataLabels(item, copy.destination);
  const destination: Manifest = {
    apiVersion: VOLSYNC_API,
    kind: "ReplicationDestination",
    metadata: { name, namespace: item.namespace, labels },
    spec: {
      trigger: { manual: RESTORE_ONCE },
      [volume.mover]: {
        ...moverCommon(config, item, volume, copy),
        capacity: volume.capacity,
        cleanupCachePVC: true,
        cleanupTempPVC: true,
        enableFileDeletion: true,
      },
    },
  };
  const pvc: Manifest = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claim, namespace: item.namespace, labels },
    spec: {
      accessModes: ["ReadWriteOnce"],
      storageClassName: storageClassOf(config, volume),
      resources: { requests: { storage: volume.capacity } },
      dataSourceRef: { apiGroup: "volsync.backube", kind: "ReplicationDestination", name },
    },
  };
  const gated = item.tier === 1 && !volume.allowEmptyRestore;
  return { destination, claim: pvc, check: gated ? restoreCheckJob(config, item, volume, copy, images) : undefined };
}

/**
 * A Job that proves the repository holds a backup of this volume. Pulumi waits for Jobs, and the
 * ReplicationDestination depends on this one (the claim on the ReplicationDestination): if the
 * repository is unreachable, unreadable or empty, `pulumi up` stops before the restore-once
 * restore runs, so no empty snapshot is taken that a later claim would be populated from
 * (backube/volsync#1211). The Job is immutable and kept: a failed check stays failed until it is
 * replaced (`pulumi up --replace <its URN>`), and a passed one is never re-run.
 */
export function restoreCheckJob(
  config: StackConfig,
  item: PlannedItem,
  volume: VolumeConfig,
  copy: PlannedCopy,
  images: { restic: string; kopia: string },
): Manifest {
  const claim = claimOf(item, volume);
  const secret = moverSecretRecipe(config, item, copy).name;
  const identity = kopiaIdentity(item, claim);
  const volumes = nfsMoverVolumes(config, copy);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: kubeName([claim, "restore-check"]), namespace: item.namespace, labels: dataLabels(item, copy.destination) },
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: RESTORE_CHECK_DEADLINE_SECONDS,
      template: {
        metadata: { labels: dataLabels(item, copy.destination) },
        spec: {
          restartPolicy: "Never",
          securityContext: { ...moverSecurityContext(volume), runAsNonRoot: true, runAsUser: volume.uid || 65534 },
          containers: [
            {
              name: "check",
              image: volume.mover === "restic" ? images.restic : images.kopia,
              command: ["/bin/sh", "-c", restoreCheckScript(volume.mover, identity)],
              envFrom: [{ secretRef: { name: secret } }],
              env: [
                { name: "HOME", value: "/tmp" },
                { name: "RESTIC_CACHE_DIR", value: "/tmp/cache" },
              ],
              resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "1Gi" } },
              securityContext: restrictedContainer(),
              volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...(volumes ? [{ name: "repository", mountPath: NAS_MOUNT }] : [])],
            },
          ],
          volumes: [
            { name: "tmp", emptyDir: { sizeLimit: "2Gi" } },
            ...(volumes ? [{ name: "repository", persistentVolumeClaim: { claimName: nasClaimName(copy.destination) } }] : []),
          ],
        },
      },
    },
  };
}

/** One KopiaMaintenance per Kopia repository (per app and destination). */
export function kopiaMaintenance(config: StackConfig, job: PlannedJob, item: PlannedItem, volume: VolumeConfig): Manifest {
  const copy = item.copies.find((c) => c.destination === job.destination && c.method === "volsync-kopia")!;
  const volumes = nfsMoverVolumes(config, copy);
  return {
    apiVersion: VOLSYNC_API,
    kind: "KopiaMaintenance",
    metadata: { name: kubeName([item.app, job.destination, "maintenance"]), namespace: item.namespace, labels: dataLabels(item, job.destination) },
    spec: {
      repository: { repository: moverSecretRecipe(config, item, copy).name },
      trigger: { schedule: job.schedule.controllerCron },
      // The maintenance pod must own the repository files, like the movers that write them.
      podSecurityContext: moverSecurityContext(volume),
      containerSecurityContext: restrictedContainer(),
      resources: MOVER_RESOURCES,
      cacheCapacity: volume.cacheCapacity,
      activeDeadlineSeconds: 10800,
      ...(volumes ? { moverVolumes: volumes } : {}),
    },
  };
}
