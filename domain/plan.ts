/**
 * The backup plan: for every piece of data in the stack config, the copies the program makes,
 * where they go, when, how long they are kept, and what that means for recovery points and cost.
 * Pure: components wire resources from it, the offline plan renders it, tests examine it.
 */
import { appDestinations, appNamespace } from "./config/resolve";
import { StackConfig } from "./config/schema";
import { TERABYTE } from "./quantity";
import { bucketName } from "./naming";
import { describeCron, describeSpec, localCronToUtc, maxGapHours, parseSchedule, ScheduleSpec, standardOffsetMinutes } from "./schedule";
import { BackupWindow, ScheduleRequest, spreadSchedules } from "./spread";
import { Site, TIER_DEFINITIONS } from "./tiers";
import { compareText } from "./compare";
import { DrillCadence, drillCadence, drillCopy, drillCron, drillMaxAgeHours } from "./drillSchedule";
import type { BackupPlan, Controller, PlannedApp, PlannedBucket, PlannedCopy, PlannedDestination, PlannedItem, PlannedJob, PlannedSchedule } from "./model";
import { LOCAL_SNAPSHOTS, WAL_ARCHIVE_RPO_HOURS } from "./model";
import { DATA_KINDS, dataKindOf, methodOf } from "../methods/registry";
import type { AppItemBase, CopyDraft, ItemDraft, JobDraft, OwnerPolicy } from "../methods/types";
import { tierOverrides } from "../methods/planning";
import { destinationPlugin } from "../destinations/registry";

/** Snapshot periods a schedule exists for; monthly and yearly snapshots are not taken. */
const SNAPSHOT_PERIODS = { hourly: { kind: "every", hours: 1 }, daily: { kind: "daily" }, weekly: { kind: "weekly" } } as const;

export function planBackups(config: StackConfig): BackupPlan {
  const timeZone = config.cluster.timezone;
  const offset = standardOffsetMinutes(timeZone);
  const appNames = Object.keys(config.apps).sort();

  const drafts: ItemDraft[] = [...appNames.flatMap((appName) => appItemDrafts(config, appName)), ...DATA_KINDS.flatMap((kind) => kind.machineItems?.(config) ?? [])];
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
      requests.set(key, { id: key, group: scheduleGroup(copy), spec: copy.spec, gapMinutes: methodOf(copy.method).gapMinutes });
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
        site: destinationPlugin(kind).site,
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

/** One restore drill per item whose tier asks for drills, restoring from its drill copy. */
function drillJobs(items: readonly PlannedItem[], window: BackupWindow, timeZone: string, offset: number): PlannedJob[] {
  return items.flatMap((item): PlannedJob[] => {
    const copy = item.restoreDrillDays > 0 ? drillCopy(item.copies) : undefined;
    if (!copy) return [];
    const id = `${item.id}/drill@${copy.destination}`;
    const controller = dataKindOf(item.kind).drillController;
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
  if (!methodOf(copy.method).verification?.locksRepository || maxGapHours(copy.schedule.cron) >= 24) return cron;
  const backupMinute = copy.schedule.cron.split(" ")[0];
  if (!/^\d+$/.test(backupMinute)) return cron;
  const [, ...rest] = cron.split(" ");
  return [String((Number(backupMinute) + VERIFY_AFTER_BACKUP_MINUTES) % 60), ...rest].join(" ");
}

/** Every repository's data is read once in this many days, a share per verification run. */
export const READ_ALL_DATA_DAYS = 28;

const CADENCE_DAYS: Record<DrillCadence, number> = { daily: 1, weekly: 7, monthly: 31, quarterly: 92, yearly: 366 };

/**
 * The repository a copy lives in, for verification, as its method says; copies without a tool
 * that can check a repository (rsync, snapshots, Cloud Sync, whose drills decrypt and restore
 * instead) have none.
 */
export function verifiedRepository(item: PlannedItem, copy: PlannedCopy): string | undefined {
  return methodOf(copy.method).verification?.repository(item, copy);
}

/**
 * One integrity check per repository, as often as its most demanding item's tier asks
 * (tiers.N.verifyDays). restic and Kopia read a share of the data per run, so all of it is read
 * every READ_ALL_DATA_DAYS without paying egress for a full read each time; a method whose check
 * reads the whole repository sets its own least interval (pgBackRest: weekly).
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
      const wanted = Math.max(days, methodOf(copy.method).verification?.minIntervalDays ?? 0);
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
        readParts: methodOf(copy.method).verification?.readsWholeRepository ? 1 : Math.max(1, Math.round(READ_ALL_DATA_DAYS / intervalDays)),
        intervalDays,
        schedule: controllerSchedule(cadence, clearOfBackups(drillCron(id, days, window), copy), "cronjob", timeZone, offset),
      };
    });
}

/** An app's items, section by section in registry order, by name within a section. */
function appItemDrafts(config: StackConfig, appName: string): ItemDraft[] {
  const app = config.apps[appName];
  const base: AppItemBase = {
    app: appName,
    configPath: `apps.${appName}`,
    namespace: appNamespace(appName, app),
    owner: app,
    destinations: appDestinations(config, appName).names,
  };
  const sections = [...new Set(DATA_KINDS.map((kind) => kind.configSection))];
  const sectionOf = (item: ItemDraft) => sections.indexOf(dataKindOf(item.kind).configSection);
  return DATA_KINDS.flatMap((kind) => kind.appItems?.(config, appName, base) ?? []).sort(
    (a, b) => sectionOf(a) - sectionOf(b) || compareText(a.name, b.name),
  );
}

function copiesFor(config: StackConfig, item: ItemDraft): { copies: CopyDraft[]; skipped: PlannedItem["skipped"] } {
  const copies: CopyDraft[] = [];
  const skipped: PlannedItem["skipped"] = [];
  const dataKind = dataKindOf(item.kind);
  for (const destination of item.destinations) {
    const target = config.destinations[destination];
    if (!target) continue;
    const outcome = dataKind.methodFor(config, item, target.kind, copies.map((copy) => copy.method));
    if ("reason" in outcome) {
      skipped.push({ destination, reason: outcome.reason });
      continue;
    }
    const site = destinationPlugin(target.kind).site;
    const specText = scheduleText(config, item.owner, site);
    const spec = parseSchedule(specText) as ScheduleSpec;
    const retention = methodOf(outcome.method).retention({ config, item, site, destination });
    copies.push({ item, destination, kind: target.kind, method: outcome.method, spec, specText, retention });
  }
  return { copies: dataKind.arrangeCopies?.(config, item, copies) ?? copies, skipped };
}

/** Local snapshots (of volumes, datasets), one schedule per period the tier keeps. */
function snapshotCopies(config: StackConfig, item: ItemDraft): CopyDraft[] {
  const method = dataKindOf(item.kind).snapshotMethod;
  if (!method || !item.snapshotSubject) return [];
  const tier = item.owner.tier;
  const keep = tierOverrides(config, tier).snapshots ?? TIER_DEFINITIONS[tier].defaults.snapshots;
  return (Object.keys(SNAPSHOT_PERIODS) as Array<keyof typeof SNAPSHOT_PERIODS>)
    .filter((period) => (keep[period] ?? 0) > 0)
    .map((period) => ({
      item,
      destination: LOCAL_SNAPSHOTS,
      kind: "local",
      method,
      spec: SNAPSHOT_PERIODS[period] as ScheduleSpec,
      specText: period,
      retention: { kind: "gfs", [period]: keep[period] },
    }));
}

function scheduleText(config: StackConfig, owner: OwnerPolicy, site: Site): string {
  const tierOverride = config.tiers[String(owner.tier) as "1" | "2" | "3"]?.schedule;
  return owner.schedule?.[site] ?? tierOverride?.[site] ?? TIER_DEFINITIONS[owner.tier].defaults.schedule[site];
}

/**
 * A lock that refuses deleting young files (R2) makes a tool that forgets old snapshots fail on
 * one: such a copy in a locked bucket keeps every snapshot of the last `lockDays` days, so forget
 * only ever deletes snapshot files older than the lock. (A lock that hides deleted files, B2's,
 * needs nothing.)
 */
function keepLockedSnapshots(config: StackConfig, copy: PlannedCopy): void {
  const target = config.destinations[copy.destination];
  if (!copy.immutable || copy.retention.kind !== "gfs" || !methodOf(copy.method).forgetsSnapshots) return;
  if (destinationPlugin(target.kind).lockedDelete !== "refuse" || !("lockDays" in target)) return;
  copy.retention = { ...copy.retention, withinDays: Math.max(copy.retention.withinDays ?? 0, target.lockDays) };
}

/** Scheduled work besides the copies, as each method asks (Kopia maintenance, pgBackRest fulls). */
function jobsFor(copies: readonly CopyDraft[]): JobDraft[] {
  const jobs = new Map<string, JobDraft>();
  for (const copy of copies) {
    for (const job of methodOf(copy.method).jobs?.(copy) ?? []) if (!jobs.has(job.id)) jobs.set(job.id, job);
  }
  return [...jobs.values()];
}

/** Copies with one key share one scheduled run. */
function scheduleKey(copy: CopyDraft): string {
  return methodOf(copy.method).scheduleKey?.(copy, copyId(copy)) ?? copyId(copy);
}

/** Runs of one group keep apart: by default the copies of one item. */
function scheduleGroup(copy: CopyDraft): string {
  return methodOf(copy.method).scheduleGroup?.(copy) ?? copy.item.id;
}

function copyId(copy: CopyDraft): string {
  return methodOf(copy.method).snapshot ? `${copy.item.id}@${LOCAL_SNAPSHOTS}/${copy.specText}` : `${copy.item.id}@${copy.destination}`;
}

function finishCopy(
  config: StackConfig,
  draft: CopyDraft,
  cron: string,
  timeZone: string,
  offset: number,
  buckets: Map<string, PlannedBucket>,
): PlannedCopy {
  const method = methodOf(draft.method);
  const continuous = method.continuous ?? false;
  return {
    id: copyId(draft),
    destination: draft.destination,
    destinationKind: draft.kind,
    site: destinationPlugin(draft.kind).site,
    method: draft.method,
    controller: method.controller,
    schedule: controllerSchedule(draft.specText, cron, method.controller, timeZone, offset),
    retention: draft.retention,
    encrypted: method.encrypted,
    immutable: false,
    independent: !method.snapshot,
    continuous,
    rpoHours: continuous ? WAL_ARCHIVE_RPO_HOURS : maxGapHours(cron),
    location: locationFor(config, draft, buckets),
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
  const method = methodOf(draft.method);
  if (method.location) return method.location(draft);
  const target = config.destinations[draft.destination];
  const destination = destinationPlugin(target.kind);
  const purpose = method.bucketPurpose(config, draft.item);
  if (destination.layout === "directory") {
    return `${destination.directoryRoot?.(target) ?? ""}${"path" in target ? target.path : ""}/${config.cluster.name}/${purpose}`;
  }
  const key = `${draft.destination}/${purpose}`;
  let bucket = buckets.get(key);
  if (!bucket) {
    const prefix = ("bucketPrefix" in target ? target.bucketPrefix : undefined) ?? config.cluster.name;
    const uniqueness = `${target.kind}:${"accountId" in target ? target.accountId : undefined}:${config.cluster.name}:${draft.destination}:${purpose}`;
    bucket = { destination: draft.destination, purpose, name: bucketName({ prefix, purpose, uniqueness }), immutable: false, items: [] };
    buckets.set(key, bucket);
  }
  if (!bucket.items.includes(draft.item.id)) bucket.items.push(draft.item.id);
  if (draft.item.owner.tier === 1 && "immutable" in target && target.immutable) bucket.immutable = true;
  if (draft.retention.kind === "mirror") bucket.hiddenVersionDays = Math.max(bucket.hiddenVersionDays ?? 0, draft.retention.historyDays);
  return bucket.name;
}

function destinationPrices(config: StackConfig): Record<string, number> {
  return Object.fromEntries(
    Object.entries(config.destinations).map(([name, destination]) => [
      name,
      destination.pricePerTbMonth ?? destinationPlugin(destination.kind).defaultPricePerTbMonth(config.pricing),
    ]),
  );
}

function minimum(values: number[]): number | undefined {
  return values.length > 0 ? Math.min(...values) : undefined;
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
