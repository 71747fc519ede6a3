/**
 * The backup plan's shapes: what the planner (domain/plan.ts) makes of the stack config, and what
 * every method, destination, component, renderer and policy reads. Types only, plus the few
 * constants they are defined by, so that plugins can import them without importing the planner.
 */
import type { Retention, Site, Tier } from "./tiers";

/** A kind of data, as registered by a plugin (methods/registry.ts): "volume", "cnpg", "sqlite", "host", ... */
export type DataKind = string;

/** A way of making a copy, as registered by a plugin: "volsync-restic", "pgbackrest", "dump", ... */
export type CopyMethod = string;

/** A kind of destination, as registered in destinations/registry.ts ("nfs", "b2", ...), or "local" for snapshots. */
export type DestinationKind = string;

/**
 * Which controller runs a job decides its clock: CronJobs, TrueNAS and systemd read the cluster's
 * time zone (TrueNAS and hosts are assumed to share it), the others run in UTC.
 */
export type Controller = "cronjob" | "volsync" | "cnpg" | "snapscheduler" | "truenas" | "systemd";

export type CopyRetention =
  /** `withinDays`: every snapshot of the last N days is kept too (copies in a bucket locked by age). */
  | ({ kind: "gfs"; withinDays?: number } & Retention)
  | { kind: "count"; keepLast: number }
  | { kind: "pgbackrest"; full: number; diff: number; archive: number; historyDays: number }
  /** A mirror keeps what exists now; replaced or deleted files survive only `historyDays`. */
  | { kind: "mirror"; historyDays: number };

export interface PlannedSchedule {
  /** As written or defaulted in the config. */
  spec: string;
  /** Five-field cron in the cluster time zone. */
  cron: string;
  /** The string the controller gets: shifted to UTC where it has no time zone; six fields for CNPG. */
  controllerCron: string;
  /** The zone `controllerCron` is read in. */
  controllerTimeZone: string;
  description: string;
}

export interface PlannedCopy {
  id: string;
  destination: string;
  destinationKind: DestinationKind;
  site: Site;
  method: CopyMethod;
  controller: Controller;
  schedule: PlannedSchedule;
  retention: CopyRetention;
  /** Encrypted by the backup tool itself, so the storage provider sees only ciphertext. */
  encrypted: boolean;
  /** Stored where a compromised cluster cannot delete it within the lock window. */
  immutable: boolean;
  /** On other media than the live data: counts towards 3-2-1 and recovery points after a disk loss. */
  independent: boolean;
  /** WAL archiving: recovery points are minutes old, not a schedule apart. */
  continuous: boolean;
  /** Worst-case age of the newest recovery point in this copy, hours. */
  rpoHours: number;
  /** Bucket (b2/r2) or directory (nfs/ssh) the copy lives in. */
  location: string;
}

export interface PlannedItem {
  /** "app/kind/name", unique in the stack. */
  id: string;
  /** The app; for machines outside the cluster "truenas-<dataset>" or "host-<name>". */
  app: string;
  /** Where this item is configured, for messages: "apps.immich", "truenas.datasets.images", "hosts.router". */
  configPath: string;
  kind: DataKind;
  name: string;
  /** The item's namespace; "" for data outside the cluster. */
  namespace: string;
  tier: Tier;
  expectedBytes: number;
  copies: PlannedCopy[];
  /** Destinations of the app that this item cannot use, and why. */
  skipped: Array<{ destination: string; reason: string }>;
  /** Newest recovery point's worst-case age over independent copies; undefined when there is none. */
  worstCaseRpoHours?: number;
  /** The same over offsite copies only: what survives losing the site. */
  offsiteRpoHours?: number;
  rpoTargetHours: number;
  restoreDrillDays: number;
  monthlyCost: number;
}

export interface PlannedApp {
  name: string;
  namespace: string;
  tier: Tier;
  destinations: string[];
  items: PlannedItem[];
}

export interface PlannedBucket {
  destination: string;
  /** What the bucket holds: "volsync", "kopia", "dumps", "pg-<cluster>". */
  purpose: string;
  name: string;
  /** Object lock / bucket lock: set when any tier-1 data lands in it. */
  immutable: boolean;
  /** Data ids stored in it. */
  items: string[];
  /** Days replaced or deleted versions are kept for mirror copies' history (B2), when longer than the lock. */
  hiddenVersionDays?: number;
}

export interface PlannedDestination {
  name: string;
  kind: DestinationKind;
  site: Site;
  pricePerTbMonth: number;
  storedBytes: number;
  monthlyCost: number;
  buckets: PlannedBucket[];
}

/** Scheduled work that is not itself a copy: repository care, full backups, restore drills and verifications. */
export type JobKind = "kopia-maintenance" | "pgbackrest-full" | "restore-drill" | "verify";

export interface PlannedJob {
  /** Unique: "<app>/kopia-maintenance@<destination>", "<item id>/full@<destination>". */
  id: string;
  kind: JobKind;
  app: string;
  /** The data item a job belongs to (pgbackrest-full, restore-drill). */
  itemId?: string;
  /** The copy a restore drill restores from. */
  copyId?: string;
  /** Restore drills: the newest backup must be younger than this, or backups have stopped. */
  maxAgeHours?: number;
  /** Verifications: the repository's data is read in this many parts, one per run. */
  readParts?: number;
  /** Verifications: days between two runs (1 daily, 7 weekly, 31 monthly...). */
  intervalDays?: number;
  namespace: string;
  destination: string;
  controller: Controller;
  schedule: PlannedSchedule;
}

export interface BackupPlan {
  clusterName: string;
  timeZone: string;
  currency: string;
  apps: PlannedApp[];
  items: PlannedItem[];
  destinations: PlannedDestination[];
  jobs: PlannedJob[];
  /** The most jobs starting in one minute of the week, and when. */
  peakStarts: number;
  peakMinuteOfWeek: number;
}

/** The pseudo-destination of local snapshots. */
export const LOCAL_SNAPSHOTS = "local-snapshots";

/** CNPG's default archive_timeout: a WAL segment is shipped at least every five minutes. */
export const WAL_ARCHIVE_RPO_HOURS = 5 / 60;
