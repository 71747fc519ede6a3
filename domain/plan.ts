/**
 * The backup plan: for every piece of data in the stack config, the copies the program makes,
 * where they go, when, how long they are kept, and what that means for recovery points and cost.
 * Pure: components wire resources from it, the offline plan renders it, tests examine it.
 */
import { appDestinations, appNamespace, tierDestinations } from "./config/resolve";
import { StackConfig } from "./config/schema";
import { quantityBytes, TERABYTE } from "./quantity";
import { bucketName, kubeName } from "./naming";
import {
  describeCron,
  describeSpec,
  localCronToUtc,
  maxGapHours,
  parseSchedule,
  ScheduleSpec,
  standardOffsetMinutes,
} from "./schedule";
import { BackupWindow, ScheduleRequest, spreadSchedules } from "./spread";
import { DestinationKind, Retention, Site, siteOf, Tier, TIER_DEFINITIONS } from "./tiers";
import { compareText } from "./compare";
import { DrillCadence, drillCadence, drillCopy, drillCron, drillMaxAgeHours } from "./drillSchedule";

export type DataKind = "volume" | "cnpg" | "postgres" | "sqlite" | "redis" | "dataset" | "host";

export type CopyMethod =
  /** VolSync ReplicationSource with the restic mover. */
  | "volsync-restic"
  /** VolSync ReplicationSource with the Kopia mover of the perfectra1n fork. */
  | "volsync-kopia"
  /** A pgBackRest repository of the CloudNativePG plugin (WAL archived continuously). */
  | "pgbackrest"
  /** A dump CronJob writing files to the NAS share. */
  | "dump"
  /** restic copying the NAS dump directory to object storage. */
  | "dump-restic"
  /** rsync over SSH copying the NAS dump directory to an offsite NAS. */
  | "dump-rsync"
  /** SnapScheduler CSI snapshots of a volume (same storage: rollback, not a copy). */
  | "csi-snapshot"
  /** TrueNAS periodic ZFS snapshots of a dataset (same pool: rollback, not a copy). */
  | "zfs-snapshot"
  /** A TrueNAS Cloud Sync task pushing a dataset to object storage, encrypted. */
  | "truenas-cloudsync"
  /** restic on a host outside the cluster, run by a systemd timer. */
  | "host-restic";

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

interface JobDraft extends Omit<PlannedJob, "schedule"> {
  spec: ScheduleSpec;
  group: string;
  gapMinutes?: number;
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

const METHOD_CONTROLLER: Record<CopyMethod, Controller> = {
  "volsync-restic": "volsync",
  "volsync-kopia": "volsync",
  pgbackrest: "cnpg",
  dump: "cronjob",
  "dump-restic": "cronjob",
  "dump-rsync": "cronjob",
  "csi-snapshot": "snapscheduler",
  "zfs-snapshot": "truenas",
  "truenas-cloudsync": "truenas",
  "host-restic": "systemd",
};

const ENCRYPTING_METHODS: ReadonlySet<CopyMethod> = new Set([
  "volsync-restic",
  "volsync-kopia",
  "pgbackrest",
  "dump-restic",
  "truenas-cloudsync",
  "host-restic",
]);

const SNAPSHOT_METHODS: ReadonlySet<CopyMethod> = new Set(["csi-snapshot", "zfs-snapshot"]);

/** The pseudo-destination of local snapshots. */
export const LOCAL_SNAPSHOTS = "local-snapshots";

/** Snapshot periods a schedule exists for; monthly and yearly snapshots are not taken. */
const SNAPSHOT_PERIODS = { hourly: { kind: "every", hours: 1 }, daily: { kind: "daily" }, weekly: { kind: "weekly" } } as const;

/** CNPG's default archive_timeout: a WAL segment is shipped at least every five minutes. */
export const WAL_ARCHIVE_RPO_HOURS = 5 / 60;


/** What every data owner (an app, a dataset, a host) may say about its copies. */
interface OwnerPolicy {
  tier: Tier;
  schedule?: { onsite?: string; offsite?: string };
  retention?: { onsite?: Retention; offsite?: Retention };
  rpoHours?: number;
}

interface ItemDraft {
  id: string;
  app: string;
  configPath: string;
  kind: DataKind;
  name: string;
  namespace: string;
  expectedBytes: number;
  owner: OwnerPolicy;
  destinations: string[];
  /** Bucket purpose for object-storage copies of this item. */
  purpose: (method: CopyMethod) => string;
  /** The volume's claim or the dataset's name, for local snapshot locations. */
  snapshotSubject?: string;
}

interface CopyDraft {
  item: ItemDraft;
  destination: string;
  kind: DestinationKind;
  method: CopyMethod;
  spec: ScheduleSpec;
  specText: string;
  retention: CopyRetention;
}

export function planBackups(config: StackConfig): BackupPlan {
  const timeZone = config.cluster.timezone;
  const offset = standardOffsetMinutes(timeZone);
  const appNames = Object.keys(config.apps).sort();

  const drafts: ItemDraft[] = [...appNames.flatMap((appName) => itemDrafts(config, appName)), ...machineDrafts(config)];
  const copyDrafts: CopyDraft[] = [];
  const skipped = new Map<string, PlannedItem["skipped"]>();
  for (const item of drafts) {
    const outcome = copiesFor(config, item);
    copyDrafts.push(...outcome.copies, ...snapshotCopies(config, item));
    skipped.set(item.id, outcome.skipped);
  }

  const jobDrafts = jobsFor(copyDrafts);
  const requests = new Map<string, ScheduleRequest>();
  for (const copy of copyDrafts) {
    const key = scheduleKey(copy);
    if (!requests.has(key)) {
      requests.set(key, { id: key, group: scheduleGroup(copy), spec: copy.spec, gapMinutes: copy.method === "pgbackrest" ? PGBACKREST_GAP_MINUTES : undefined });
    }
  }
  for (const job of jobDrafts) requests.set(job.id, { id: job.id, group: job.group, spec: job.spec, gapMinutes: job.gapMinutes });
  const window: BackupWindow = {
    startHour: Number(config.cluster.backupWindow.start.slice(0, 2)),
    hours: config.cluster.backupWindow.hours,
    weeklyDay: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].indexOf(config.cluster.backupWindow.weeklyDay),
  };
  const spread = spreadSchedules([...requests.values()], window);

  const bucketIndex = new Map<string, PlannedBucket>();
  const copiesByItem = new Map<string, PlannedCopy[]>();
  for (const draft of copyDrafts) {
    const cron = spread.crons.get(scheduleKey(draft))!;
    const copy = finishCopy(config, draft, cron, timeZone, offset, bucketIndex);
    copiesByItem.set(draft.item.id, [...(copiesByItem.get(draft.item.id) ?? []), copy]);
  }
  // A bucket is locked when any tier-1 data lands in it, which is known only once all copies are placed.
  const lockedBuckets = new Set([...bucketIndex.values()].filter((bucket) => bucket.immutable).map((bucket) => bucket.name));
  for (const copies of copiesByItem.values()) {
    for (const copy of copies) {
      copy.immutable = lockedBuckets.has(copy.location);
      keepLockedSnapshots(config, copy);
    }
  }

  const prices = destinationPrices(config);
  const items: PlannedItem[] = drafts.map((draft) => {
    const copies = copiesByItem.get(draft.id) ?? [];
    const tier = draft.owner.tier;
    const definition = TIER_DEFINITIONS[tier];
    const storedBytes = draft.expectedBytes * config.pricing.historyOverhead;
    const independent = copies.filter((copy) => copy.independent);
    return {
      id: draft.id,
      app: draft.app,
      configPath: draft.configPath,
      kind: draft.kind,
      name: draft.name,
      namespace: draft.namespace,
      tier,
      expectedBytes: draft.expectedBytes,
      copies,
      skipped: skipped.get(draft.id) ?? [],
      worstCaseRpoHours: minimum(independent.map((copy) => copy.rpoHours)),
      offsiteRpoHours: minimum(independent.filter((copy) => copy.site === "offsite").map((copy) => copy.rpoHours)),
      rpoTargetHours: Math.min(draft.owner.rpoHours ?? Infinity, definition.requirements.maxRpoHours || Infinity),
      restoreDrillDays: config.tiers[String(tier) as "1" | "2" | "3"]?.restoreDrillDays ?? definition.defaults.restoreDrillDays,
      monthlyCost: independent.reduce((sum, copy) => sum + (storedBytes / TERABYTE) * prices[copy.destination], 0),
    };
  });

  const apps: PlannedApp[] = appNames.map((name) => ({
    name,
    namespace: appNamespace(name, config.apps[name]),
    tier: config.apps[name].tier,
    destinations: appDestinations(config, name).names,
    items: items.filter((item) => item.app === name),
  }));

  const destinations: PlannedDestination[] = Object.keys(config.destinations)
    .sort()
    .map((name) => {
      const kind = config.destinations[name].kind;
      const storedBytes = items.reduce(
        (sum, item) => sum + item.copies.filter((copy) => copy.destination === name).length * item.expectedBytes * config.pricing.historyOverhead,
        0,
      );
      return {
        name,
        kind,
        site: siteOf(kind),
        pricePerTbMonth: prices[name],
        storedBytes,
        monthlyCost: (storedBytes / TERABYTE) * prices[name],
        buckets: [...bucketIndex.values()].filter((bucket) => bucket.destination === name),
      };
    });

  return {
    clusterName: config.cluster.name,
    timeZone,
    currency: config.pricing.currency,
    apps,
    items,
    destinations,
    jobs: [
      ...jobDrafts.map(({ spec, group: _group, gapMinutes: _gap, ...job }) => ({
        ...job,
        schedule: controllerSchedule(describeSpec(spec), spread.crons.get(job.id)!, job.controller, timeZone, offset),
      })),
      ...drillJobs(items, window, timeZone, offset),
      ...verifyJobs(config, items, window, timeZone, offset),
    ],
    peakStarts: spread.peakStarts,
    peakMinuteOfWeek: spread.peakMinuteOfWeek,
  };
}

const size = (expected: string | undefined, fallback = "1Gi") => quantityBytes(expected ?? fallback);

/** One restore drill per item whose tier asks for drills, restoring from its drill copy. */
function drillJobs(items: readonly PlannedItem[], window: BackupWindow, timeZone: string, offset: number): PlannedJob[] {
  return items.flatMap((item): PlannedJob[] => {
    const copy = item.restoreDrillDays > 0 ? drillCopy(item.copies) : undefined;
    if (!copy) return [];
    const id = `${item.id}/drill@${copy.destination}`;
    const controller: Controller = item.kind === "host" ? "systemd" : "cronjob";
    const cadence = drillCadence(item.restoreDrillDays);
    // pgBackRest restores a base backup: its age is bounded by the backup schedule, not by WAL.
    const interval = copy.continuous ? maxGapHours(copy.schedule.cron) : copy.rpoHours;
    return [
      {
        id,
        kind: "restore-drill",
        app: item.app,
        itemId: item.id,
        copyId: copy.id,
        namespace: item.namespace,
        destination: copy.destination,
        controller,
        maxAgeHours: drillMaxAgeHours(interval),
        schedule: controllerSchedule(cadence, drillCron(id, item.restoreDrillDays, window), controller, timeZone, offset),
      },
    ];
  });
}

/** Minutes after a frequent backup's start that its repository's verification starts. */
export const VERIFY_AFTER_BACKUP_MINUTES = 15;

/**
 * `restic check` holds the repository's exclusive lock while it reads, and VolSync's mover does
 * not wait for a lock: a check of a repository backed up more often than daily (the NAS copies)
 * starts VERIFY_AFTER_BACKUP_MINUTES after that backup's minute, to be done before the next one.
 * Kopia and pgBackRest checks take no such lock; daily copies run in the backup window, before
 * every verification.
 */
function clearOfBackups(cron: string, copy: PlannedCopy): string {
  if (copy.method !== "volsync-restic" || maxGapHours(copy.schedule.cron) >= 24) return cron;
  const backupMinute = copy.schedule.cron.split(" ")[0];
  if (!/^\d+$/.test(backupMinute)) return cron;
  const [, ...rest] = cron.split(" ");
  return [String((Number(backupMinute) + VERIFY_AFTER_BACKUP_MINUTES) % 60), ...rest].join(" ");
}

/** Every repository's data is read once in this many days, a share per verification run. */
export const READ_ALL_DATA_DAYS = 28;

const CADENCE_DAYS: Record<DrillCadence, number> = { daily: 1, weekly: 7, monthly: 31, quarterly: 92, yearly: 366 };

/**
 * The repository a copy lives in, for verification: restic (volumes, hosts) and pgBackRest keep
 * one per item and destination, Kopia one per app and destination (all its volumes), dump copies
 * one per app and destination. Copies without a tool that can check a repository (rsync,
 * snapshots, Cloud Sync, whose drills decrypt and restore instead) have none.
 */
export function verifiedRepository(item: PlannedItem, copy: PlannedCopy): string | undefined {
  switch (copy.method) {
    case "volsync-restic":
    case "pgbackrest":
    case "host-restic":
      return `${item.id}/verify@${copy.destination}`;
    case "volsync-kopia":
      return `${item.app}/kopia-verify@${copy.destination}`;
    case "dump-restic":
      return `${item.app}/dumps-verify@${copy.destination}`;
    default:
      return undefined;
  }
}

/**
 * One integrity check per repository, as often as its most demanding item's tier asks
 * (tiers.N.verifyDays). restic and Kopia read a share of the data per run, so all of it is read
 * every READ_ALL_DATA_DAYS without paying egress for a full read each time; pgBackRest's verify
 * reads the whole repository, so it runs weekly at most.
 */
function verifyJobs(config: StackConfig, items: readonly PlannedItem[], window: BackupWindow, timeZone: string, offset: number): PlannedJob[] {
  const repositories = new Map<string, { item: PlannedItem; copy: PlannedCopy; days: number }>();
  for (const item of items) {
    const tierKey = String(item.tier) as "1" | "2" | "3";
    const days = config.tiers[tierKey]?.verifyDays ?? TIER_DEFINITIONS[item.tier].defaults.verifyDays;
    if (days === 0) continue;
    for (const copy of item.copies) {
      const id = verifiedRepository(item, copy);
      if (!id) continue;
      const wanted = copy.method === "pgbackrest" ? Math.max(days, 7) : days;
      const known = repositories.get(id);
      if (!known || wanted < known.days) repositories.set(id, { item: known?.item ?? item, copy: known?.copy ?? copy, days: wanted });
    }
  }
  return [...repositories.entries()]
    .sort(([a], [b]) => compareText(a, b))
    .map(([id, { item, copy, days }]): PlannedJob => {
      const cadence = drillCadence(days);
      const intervalDays = CADENCE_DAYS[cadence];
      return {
        id,
        kind: "verify",
        app: item.app,
        itemId: item.id,
        copyId: copy.id,
        // Hosts' repositories are checked from the cluster, beside the TrueNAS drills.
        namespace: item.namespace || config.cluster.systemNamespace,
        destination: copy.destination,
        controller: "cronjob",
        readParts: copy.method === "pgbackrest" ? 1 : Math.max(1, Math.round(READ_ALL_DATA_DAYS / intervalDays)),
        intervalDays,
        schedule: controllerSchedule(cadence, clearOfBackups(drillCron(id, days, window), copy), "cronjob", timeZone, offset),
      };
    });
}

function itemDrafts(config: StackConfig, appName: string): ItemDraft[] {
  const app = config.apps[appName];
  const namespace = appNamespace(appName, app);
  const destinations = appDestinations(config, appName).names;
  const base = (kind: DataKind, name: string) => ({
    id: `${appName}/${kind}/${name}`,
    app: appName,
    configPath: `apps.${appName}`,
    owner: app,
    destinations,
    kind,
    name,
  });
  const drafts: ItemDraft[] = [];
  for (const [name, volume] of sorted(app.volumes)) {
    drafts.push({
      ...base("volume", name),
      namespace,
      expectedBytes: size(volume.expectedSize, volume.capacity),
      purpose: (method) => (method === "volsync-kopia" ? "kopia" : "volsync"),
      snapshotSubject: volume.claim ?? name,
    });
  }
  for (const [name, db] of sorted(app.databases)) {
    if (db.engine === "cnpg") {
      const cluster = db.cluster ?? name;
      drafts.push({
        ...base("cnpg", name),
        namespace: db.namespace ?? namespace,
        expectedBytes: size(db.expectedSize),
        purpose: () => kubeName(["pg", cluster], 40),
      });
    } else {
      drafts.push({ ...base("postgres", name), namespace, expectedBytes: size(db.expectedSize), purpose: () => "dumps" });
    }
  }
  for (const [name, file] of sorted(app.sqlite)) {
    drafts.push({ ...base("sqlite", name), namespace, expectedBytes: size(file.expectedSize, "100Mi"), purpose: () => "dumps" });
  }
  for (const [name, redis] of sorted(app.redis)) {
    drafts.push({ ...base("redis", name), namespace, expectedBytes: size(redis.expectedSize, "100Mi"), purpose: () => "dumps" });
  }
  return drafts;
}

/** TrueNAS datasets and hosts: data outside the cluster, protected by the same tiers. */
function machineDrafts(config: StackConfig): ItemDraft[] {
  const drafts: ItemDraft[] = [];
  for (const [name, dataset] of sorted(config.truenas?.datasets ?? {})) {
    drafts.push({
      id: `truenas/dataset/${name}`,
      app: `truenas-${name}`,
      configPath: `truenas.datasets.${name}`,
      kind: "dataset",
      name,
      namespace: "",
      expectedBytes: size(dataset.expectedSize, "100Gi"),
      owner: dataset,
      destinations: dataset.destinations ?? tierDestinations(config, dataset.tier).names,
      purpose: () => "truenas",
      snapshotSubject: dataset.dataset,
    });
  }
  for (const [name, host] of sorted(config.hosts)) {
    drafts.push({
      id: `hosts/host/${name}`,
      app: `host-${name}`,
      configPath: `hosts.${name}`,
      kind: "host",
      name,
      namespace: "",
      expectedBytes: size(host.expectedSize, "50Gi"),
      owner: host,
      destinations: host.destinations ?? tierDestinations(config, host.tier).names,
      purpose: () => "hosts",
    });
  }
  return drafts;
}

function copiesFor(config: StackConfig, item: ItemDraft): { copies: CopyDraft[]; skipped: PlannedItem["skipped"] } {
  const copies: CopyDraft[] = [];
  const skipped: PlannedItem["skipped"] = [];
  let dumpLanded = false;
  for (const destination of item.destinations) {
    const target = config.destinations[destination];
    if (!target) continue;
    const outcome = methodFor(config, item, target.kind, dumpLanded);
    if ("reason" in outcome) {
      skipped.push({ destination, reason: outcome.reason });
      continue;
    }
    if (outcome.method === "dump") dumpLanded = true;
    const site = siteOf(target.kind);
    const specText = scheduleText(config, item.owner, site);
    const spec = parseSchedule(specText) as ScheduleSpec;
    copies.push({ item, destination, kind: target.kind, method: outcome.method, spec, specText, retention: retentionFor(config, item, outcome.method, site, destination) });
  }
  // pgBackRest writes to its repositories in a fixed order: b2 is repo1, r2 repo2 (then by name).
  if (item.kind === "cnpg") {
    copies.sort((a, b) => compareText(`${a.kind}/${a.destination}`, `${b.kind}/${b.destination}`));
    const override = config.apps[item.app].databases[item.name];
    if (override?.engine === "cnpg" && override.schedule && copies.length > 0) {
      // The override sets repo1's daily backup; the other repositories are spread after it.
      const expression = override.schedule.trim().split(/\s+/).slice(1).join(" ");
      copies[0] = { ...copies[0], spec: { kind: "cron", expression }, specText: override.schedule };
    }
  }
  return { copies, skipped };
}

/** Local snapshots of volumes (SnapScheduler) and datasets (TrueNAS), one schedule per period. */
function snapshotCopies(config: StackConfig, item: ItemDraft): CopyDraft[] {
  if ((item.kind !== "volume" && item.kind !== "dataset") || !item.snapshotSubject) return [];
  const tier = item.owner.tier;
  const keep = config.tiers[String(tier) as "1" | "2" | "3"]?.snapshots ?? TIER_DEFINITIONS[tier].defaults.snapshots;
  return (Object.keys(SNAPSHOT_PERIODS) as Array<keyof typeof SNAPSHOT_PERIODS>)
    .filter((period) => (keep[period] ?? 0) > 0)
    .map((period) => ({
      item,
      destination: LOCAL_SNAPSHOTS,
      kind: "local" as const,
      method: item.kind === "volume" ? ("csi-snapshot" as const) : ("zfs-snapshot" as const),
      spec: SNAPSHOT_PERIODS[period] as ScheduleSpec,
      specText: period,
      retention: { kind: "gfs", [period]: keep[period] },
    }));
}

function methodFor(config: StackConfig, item: ItemDraft, kind: DestinationKind, dumpLanded: boolean): { method: CopyMethod } | { reason: string } {
  switch (item.kind) {
    case "dataset":
      if (kind === "b2" || kind === "r2") return { method: "truenas-cloudsync" };
      return kind === "nfs"
        ? { reason: "the dataset lives on the NAS; its ZFS snapshots are the on-site rollback" }
        : { reason: "TrueNAS pushes datasets offsite with Cloud Sync to object storage; use a b2 or r2 destination" };
    case "host":
      if (kind === "b2" || kind === "r2") return { method: "host-restic" };
      return { reason: "host backups write restic repositories to object storage; use a b2 or r2 destination" };
    case "volume": {
      const mover = config.apps[item.app].volumes[item.name].mover;
      if (kind === "ssh" && mover === "restic") {
        return { reason: "the restic mover cannot reach an SSH destination; use mover: kopia (SFTP) or a b2/r2 destination" };
      }
      return { method: mover === "kopia" ? "volsync-kopia" : "volsync-restic" };
    }
    case "cnpg":
      if (kind === "b2" || kind === "r2") return { method: "pgbackrest" };
      return { reason: "the pgBackRest plugin writes only to object storage; its b2/r2 repositories carry the WAL and backups" };
    case "postgres":
    case "sqlite":
    case "redis":
      if (kind === "nfs") return dumpLanded ? { reason: "dumps land on one NAS share" } : { method: "dump" };
      return { method: kind === "ssh" ? "dump-rsync" : "dump-restic" };
  }
}

function scheduleText(config: StackConfig, owner: OwnerPolicy, site: Site): string {
  const tierOverride = config.tiers[String(owner.tier) as "1" | "2" | "3"]?.schedule;
  return owner.schedule?.[site] ?? tierOverride?.[site] ?? TIER_DEFINITIONS[owner.tier].defaults.schedule[site];
}

/** restic copies that delete snapshots themselves (forget) and so must not touch locked ones. */
const RESTIC_FORGETTING: ReadonlySet<CopyMethod> = new Set(["volsync-restic", "dump-restic", "host-restic"]);

/**
 * An R2 bucket lock forbids deleting a file younger than `lockDays`, and `restic forget` fails on
 * one: a restic copy in a locked R2 bucket keeps every snapshot of the last `lockDays` days, so
 * forget only ever deletes snapshot files older than the lock. (B2 hides deleted files instead of
 * refusing, so it needs nothing.)
 */
function keepLockedSnapshots(config: StackConfig, copy: PlannedCopy): void {
  const target = config.destinations[copy.destination];
  if (!copy.immutable || target.kind !== "r2" || copy.retention.kind !== "gfs" || !RESTIC_FORGETTING.has(copy.method)) return;
  copy.retention = { ...copy.retention, withinDays: Math.max(copy.retention.withinDays ?? 0, target.lockDays) };
}

/** Host backups keep the seed's restic policy unless told otherwise. */
export const HOST_RETENTION: Retention = { daily: 7, weekly: 4, monthly: 6, yearly: 2 };

function retentionFor(config: StackConfig, item: ItemDraft, method: CopyMethod, site: Site, destination: string): CopyRetention {
  const tier = item.owner.tier;
  const tierKey = String(tier) as "1" | "2" | "3";
  const keepLast = config.tiers[tierKey]?.dumpKeep ?? TIER_DEFINITIONS[tier].defaults.dumpKeep;
  if (method === "truenas-cloudsync") {
    // B2 keeps replaced and deleted versions (hidden) as long as the bucket's lifecycle says; R2
    // keeps none, so an R2 mirror is only ever the present state.
    const target = config.destinations[destination];
    const history = config.tiers[tierKey]?.mirrorHistoryDays ?? TIER_DEFINITIONS[tier].defaults.mirrorHistoryDays;
    return { kind: "mirror", historyDays: target.kind === "b2" ? Math.max(target.immutable ? target.lockDays : 0, history) : 0 };
  }
  if (method === "host-restic") return { kind: "gfs", ...(item.owner.retention?.offsite ?? HOST_RETENTION) };
  if (method === "pgbackrest") {
    const database = config.apps[item.app].databases[item.name];
    const override = database?.engine === "cnpg" ? database.retention : undefined;
    return { kind: "pgbackrest", ...TIER_DEFINITIONS[tier].defaults.pgbackrest, ...override };
  }
  if (method === "dump" || method === "dump-rsync") return { kind: "count", keepLast };
  const gfs = item.owner.retention?.[site] ?? config.tiers[tierKey]?.retention?.[site] ?? TIER_DEFINITIONS[tier].defaults.retention[site];
  return { kind: "gfs", ...gfs };
}

/** pgBackRest takes one lock per stanza: two backups of one cluster start at least an hour apart. */
export const PGBACKREST_GAP_MINUTES = 60;

/**
 * Kopia repositories (one per app and destination) get daily maintenance; every pgBackRest
 * repository gets a weekly full backup, which bounds its chain of incrementals.
 */
function jobsFor(copies: readonly CopyDraft[]): JobDraft[] {
  const jobs = new Map<string, JobDraft>();
  const base = (copy: CopyDraft) => ({ app: copy.item.app, namespace: copy.item.namespace, destination: copy.destination });
  for (const copy of copies) {
    if (copy.method === "volsync-kopia") {
      const id = `${copy.item.app}/kopia-maintenance@${copy.destination}`;
      if (!jobs.has(id)) jobs.set(id, { id, kind: "kopia-maintenance", ...base(copy), controller: "volsync", spec: { kind: "daily" }, group: id });
    } else if (copy.method === "pgbackrest") {
      const id = `${copy.item.id}/full@${copy.destination}`;
      jobs.set(id, {
        id,
        kind: "pgbackrest-full",
        ...base(copy),
        itemId: copy.item.id,
        controller: "cnpg",
        spec: { kind: "weekly" },
        group: copy.item.id,
        gapMinutes: PGBACKREST_GAP_MINUTES,
      });
    }
  }
  return [...jobs.values()];
}

/**
 * Copies that share one job share one schedule: an app's dumps go offsite in one run per
 * destination, so two jobs never lock the same restic repository.
 */
function scheduleKey(copy: CopyDraft): string {
  if (copy.method === "dump-restic" || copy.method === "dump-rsync") return `${copy.item.app}/dumps@${copy.destination}`;
  // One SnapshotSchedule per namespace, tier and period serves every volume it selects.
  if (copy.method === "csi-snapshot") return `${copy.item.namespace}/snapshots/t${copy.item.owner.tier}/${copy.specText}`;
  return copyId(copy);
}

/** Jobs of one group keep apart: the copies of one item, or all of one app's dump jobs. */
function scheduleGroup(copy: CopyDraft): string {
  if (copy.method === "csi-snapshot") return scheduleKey(copy);
  return copy.method.startsWith("dump") ? `${copy.item.app}/dumps` : copy.item.id;
}

function copyId(copy: CopyDraft): string {
  return SNAPSHOT_METHODS.has(copy.method) ? `${copy.item.id}@${LOCAL_SNAPSHOTS}/${copy.specText}` : `${copy.item.id}@${copy.destination}`;
}

function finishCopy(
  config: StackConfig,
  draft: CopyDraft,
  cron: string,
  timeZone: string,
  offset: number,
  buckets: Map<string, PlannedBucket>,
): PlannedCopy {
  const controller = METHOD_CONTROLLER[draft.method];
  const site = siteOf(draft.kind);
  const continuous = draft.method === "pgbackrest";
  const location = locationFor(config, draft, buckets);
  return {
    id: copyId(draft),
    destination: draft.destination,
    destinationKind: draft.kind,
    site,
    method: draft.method,
    controller,
    schedule: controllerSchedule(draft.specText, cron, controller, timeZone, offset),
    retention: draft.retention,
    encrypted: ENCRYPTING_METHODS.has(draft.method),
    immutable: false,
    independent: !SNAPSHOT_METHODS.has(draft.method),
    continuous,
    rpoHours: continuous ? WAL_ARCHIVE_RPO_HOURS : maxGapHours(cron),
    location,
  };
}

/** Controllers that read the cluster's time zone; the others get crons shifted to UTC. */
const ZONED_CONTROLLERS: ReadonlySet<Controller> = new Set(["cronjob", "truenas", "systemd"]);

function controllerSchedule(spec: string, cron: string, controller: Controller, timeZone: string, offset: number): PlannedSchedule {
  const description = describeCron(cron, timeZone);
  if (ZONED_CONTROLLERS.has(controller)) return { spec, cron, controllerCron: cron, controllerTimeZone: timeZone, description };
  const shifted = localCronToUtc(cron, offset);
  // Keyword schedules always shift; a hand-written cron that cannot is run as written, in UTC.
  const utc = "cron" in shifted ? shifted.cron : cron;
  return {
    spec,
    cron,
    controllerCron: controller === "cnpg" ? `0 ${utc}` : utc,
    controllerTimeZone: "UTC",
    description: "cron" in shifted ? description : `${describeCron(cron, "UTC")} (cannot be shifted from ${timeZone})`,
  };
}

function locationFor(config: StackConfig, draft: CopyDraft, buckets: Map<string, PlannedBucket>): string {
  if (draft.method === "csi-snapshot") return `${draft.item.namespace}/${draft.item.snapshotSubject}`;
  if (draft.method === "zfs-snapshot") return `${draft.item.snapshotSubject}@auto-${draft.specText}`;
  const target = config.destinations[draft.destination];
  if (target.kind === "nfs" || target.kind === "ssh") {
    return `${target.kind === "ssh" ? `${target.host}:` : `${target.server}:`}${target.path}/${config.cluster.name}/${draft.item.purpose(draft.method)}`;
  }
  const purpose = draft.item.purpose(draft.method);
  const key = `${draft.destination}/${purpose}`;
  let bucket = buckets.get(key);
  if (!bucket) {
    const prefix = target.bucketPrefix ?? config.cluster.name;
    const uniqueness = `${target.kind}:${target.accountId}:${config.cluster.name}:${draft.destination}:${purpose}`;
    bucket = { destination: draft.destination, purpose, name: bucketName({ prefix, purpose, uniqueness }), immutable: false, items: [] };
    buckets.set(key, bucket);
  }
  if (!bucket.items.includes(draft.item.id)) bucket.items.push(draft.item.id);
  if (draft.item.owner.tier === 1 && target.immutable) bucket.immutable = true;
  if (draft.retention.kind === "mirror") bucket.hiddenVersionDays = Math.max(bucket.hiddenVersionDays ?? 0, draft.retention.historyDays);
  return bucket.name;
}

function destinationPrices(config: StackConfig): Record<string, number> {
  const defaults: Record<DestinationKind, number> = {
    b2: config.pricing.b2PerTbMonth,
    r2: config.pricing.r2PerTbMonth,
    ssh: config.pricing.sshPerTbMonth,
    nfs: config.pricing.nfsPerTbMonth,
    local: 0,
  };
  return Object.fromEntries(
    Object.entries(config.destinations).map(([name, destination]) => [name, destination.pricePerTbMonth ?? defaults[destination.kind]]),
  );
}

function minimum(values: number[]): number | undefined {
  return values.length > 0 ? Math.min(...values) : undefined;
}

function sorted<T>(record: Record<string, T>): Array<[string, T]> {
  return Object.entries(record).sort(([a], [b]) => compareText(a, b));
}

/**
 * The plan as people and in-cluster tools read it (the backup-plan ConfigMap): per data item,
 * where each copy goes, when and how long it is kept. Contains no secrets.
 */
export function planSummary(plan: BackupPlan) {
  return {
    cluster: plan.clusterName,
    timeZone: plan.timeZone,
    items: plan.items.map((item) => ({
      id: item.id,
      tier: item.tier,
      namespace: item.namespace,
      worstCaseRpoHours: item.worstCaseRpoHours ?? null,
      offsiteRpoHours: item.offsiteRpoHours ?? null,
      restoreDrillDays: item.restoreDrillDays,
      copies: item.copies.map((copy) => ({
        destination: copy.destination,
        site: copy.site,
        method: copy.method,
        schedule: copy.schedule.description,
        retention: copy.retention,
        location: copy.location,
      })),
    })),
  };
}
