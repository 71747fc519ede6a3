/**
 * Prometheus alerts for the backup plan, as prometheus-operator PrometheusRules: one per app (in
 * the app's namespace, "<app>-backups", a group per data item) and one platform rule
 * ("homelab-backups" in the system namespace) for conditions every app depends on. Pure: a
 * function of the stack config and the plan; components wire the manifests.
 *
 * What the alerts read, and what the cluster must therefore provide:
 * - kube-state-metrics, scraped with `honorLabels: true` (kube-prometheus-stack's default), so that
 *   `namespace` is the object's namespace: `kube_cronjob_status_last_successful_time`,
 *   `kube_cronjob_created`, `kube_job_failed`, `kube_job_owner`, `kube_job_status_failed`.
 * - VolSync's controller metrics (`volsync_volume_out_of_sync`, `volsync_missed_intervals_total`,
 *   `volsync_sync_duration_seconds`; labels `obj_namespace`, `obj_name`, `role`, `method`).
 * - CloudNativePG instance metrics (a PodMonitor per Cluster: `spec.monitoring.enablePodMonitor`
 *   or one of your own), including the metrics the Dalibo pgBackRest plugin exports through the
 *   instance manager (`pgbackrest_dalibo_com_*`).
 * - A Prometheus whose ruleSelector matches `alerts.ruleLabels`, and without
 *   `enforcedNamespaceLabel`: an app's rule may watch its CNPG cluster in another namespace.
 *
 * Not watched, because nothing this Prometheus scrapes can see them:
 * - local snapshots (SnapScheduler CSI snapshots, TrueNAS ZFS snapshots): rollbacks, not copies;
 * - TrueNAS Cloud Sync tasks (controller "truenas") and host backups run by systemd timers
 *   (controller "systemd"), and host restore drills: they run outside the cluster and report
 *   through ntfy/healthchecks instead;
 * - Kopia repository maintenance (the fork's KopiaMaintenance exports no metrics) and the weekly
 *   pgBackRest fulls (covered by the base-backup age of their cluster).
 * TrueNAS datasets' restore drills do run as CronJobs in the system namespace, so the platform
 * rule watches them.
 */
import type { StackConfig, VolumeConfig } from "./config/schema";
import type { BackupPlan, PlannedApp, PlannedCopy, PlannedItem, PlannedJob } from "./model";
import { LABELS, labelValue } from "./naming";
import { Tier, TIER_DEFINITIONS } from "./tiers";
import { MIRROR_ANCHOR, PLATFORM_ANCHORS, PLATFORM_PAGE, runbookUrl } from "./runbookLinks";
import { drillName, drillNamespace } from "./drills";
import { verificationName } from "./verification";
import { maxGapHours } from "./schedule";
import { kopiaMirrorCronJob, kopiaMirrors, PlannedKopiaMirror } from "../methods/volsync-kopia/mirror";
import { compareText } from "./compare";
import { CANARY_FILE } from "./jobs/canary";
import { PlannedCanary, volumeCanary } from "./canary";
import { dataKindOf, methodOf } from "../methods/registry";

type Manifest = Record<string, unknown>;

export const PROMETHEUS_RULE_API = "monitoring.coreos.com/v1";
/** Name of the platform rule, the same as the runbook page its alerts link to. */
export const PLATFORM_RULE = PLATFORM_PAGE;

export type Severity = (typeof TIER_DEFINITIONS)[Tier]["alertSeverity"];

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: Severity; app: string; tier: string } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface AlertGroup {
  name: string;
  rules: AlertRule[];
}

/** Every metric an alert reads; the README's monitoring section and the tests hold this list too. */
export const ALERT_METRICS = [
  "kube_cronjob_status_last_successful_time",
  "kube_cronjob_created",
  "kube_job_failed",
  "kube_job_owner",
  "kube_job_status_failed",
  "volsync_volume_out_of_sync",
  "volsync_missed_intervals_total",
  "volsync_sync_duration_seconds_count",
  "cnpg_collector_pg_wal_archive_status",
  "cnpg_pg_stat_archiver_last_failed_time",
  "cnpg_pg_stat_archiver_last_archived_time",
  "pgbackrest_dalibo_com_last_available_backup_timestamp",
] as const;

const MIN_SLACK_HOURS = 10 / 60;
const MAX_SLACK_HOURS = 6;

/**
 * How old the newest successful run of something scheduled may get before it counts as stale, in
 * hours. `intervalHours` is its longest gap between two scheduled runs: a copy's
 * `PlannedCopy.rpoHours` (five minutes for WAL archiving), a drill's or verification's cron gap.
 * The slack on top is one more interval, at least ten minutes and at most six hours:
 * - a single late or failed run of an hourly job does not page (2h), a missed daily run pages
 *   the same morning (30h), WAL that has not reached the repositories for 15 minutes pages;
 * - six hours is also the longest deadline of a backup Job (the offsite dump copies), so a run
 *   that is still allowed to finish is never reported as missing.
 * Thresholds therefore follow each copy's schedule; nothing is set per app.
 */
export function staleAfterHours(intervalHours: number): number {
  return intervalHours + Math.min(Math.max(intervalHours, MIN_SLACK_HOURS), MAX_SLACK_HOURS);
}

/** Restores are stuck after an hour (seed 004's VolsyncRestoreStuck), plus an hour per 100 GiB expected. */
export function restoreStuckAfterHours(expectedBytes: number): number {
  return 1 + Math.ceil(expectedBytes / (100 * 1024 ** 3));
}

/** A Prometheus duration ("15m", "2h", "1h30m", "750h") for a number of hours, rounded to minutes. */
export function promDuration(hours: number): string {
  const minutes = Math.max(1, Math.round(hours * 60));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}`;
}

/** The rule's name for an app. */
export function appRuleName(app: string): string {
  return `${app}-backups`;
}

/** PromQL string literal: the Go-style escapes Prometheus reads in "...". */
function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Regular expression for a literal name (RE2), before quoting. */
function literalRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A vector selector: `metric{a="b", c=~"d"}`; matchers whose value is a RegExp-like `{ re }` use =~. */
export function selector(metric: string, matchers: Record<string, string | { re: string }>): string {
  const parts = Object.entries(matchers).map(([label, value]) => (typeof value === "string" ? `${label}=${quote(value)}` : `${label}=~${quote(value.re)}`));
  return `${metric}{${parts.join(", ")}}`;
}

export const hoursToSeconds = (hours: number) => Math.round(hours * 3600);

/** "Newest success older than `hours`", for a CronJob; a CronJob that never succeeded counts from its creation. */
export function cronJobStaleExpr(namespace: string, cronJob: string, hours: number): string {
  const matchers = { namespace, cronjob: cronJob };
  const last = selector("kube_cronjob_status_last_successful_time", matchers);
  return [
    `(time() - ${last}) > ${hoursToSeconds(hours)}`,
    `or`,
    `((time() - ${selector("kube_cronjob_created", matchers)}) > ${hoursToSeconds(hours)} unless on(namespace, cronjob) ${last})`,
  ].join("\n");
}

/**
 * "A Job of this CronJob failed as a whole" (retries exhausted or deadline exceeded), found through
 * kube_job_owner rather than by matching "<cronjob>-<digits>" job names: it also catches runs
 * started by hand with `kubectl create job --from=cronjob/...`, whatever their names, and a
 * single failed pod that a retry made good (kube_job_status_failed > 0) does not count.
 */
export function cronJobFailedExpr(namespace: string, cronJob: string): string {
  return [
    `${selector("kube_job_failed", { namespace, condition: "true" })} == 1`,
    `and on(namespace, job_name)`,
    selector("kube_job_owner", { namespace, owner_kind: "CronJob", owner_name: cronJob }),
  ].join("\n");
}

/** A CNPG cluster's instance pods: "<cluster>-<serial>". CNPG's PodMonitor adds no cluster label, pod names are always there. */
export function cnpgPods(namespace: string, cluster: string): Record<string, string | { re: string }> {
  return { namespace, pod: { re: `${literalRegex(cluster)}-[0-9]+` } };
}

/** "OffsiteNas" for "offsite-nas": destination names are DNS labels, so this is a valid alert-name part. */
export function pascal(name: string): string {
  return name
    .split("-")
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join("");
}

/** What every alert builder reads. */
export interface AlertContext {
  config: StackConfig;
  plan: BackupPlan;
  mirrors: PlannedKopiaMirror[];
}

/** Labels and runbook link every alert about one data item carries. */
export function itemAlert(ctx: AlertContext, item: PlannedItem, rule: Omit<AlertRule, "labels" | "annotations"> & { summary: string; description: string; destination?: string }): AlertRule {
  const { summary, description, destination, ...rest } = rule;
  return {
    ...rest,
    labels: {
      severity: TIER_DEFINITIONS[item.tier].alertSeverity,
      app: item.app,
      tier: String(item.tier),
      data: item.id,
      ...(destination ? { destination } : {}),
    },
    annotations: { summary, description, runbook_url: runbookUrl(ctx.config, item.app, item) },
  };
}

export function volumeOf(ctx: AlertContext, item: PlannedItem): VolumeConfig {
  return ctx.config.apps[item.app].volumes[item.name];
}

/** The platform alerts a copy relies on follow from who runs it. */
const isVolsync = (copy: PlannedCopy) => methodOf(copy.method).controller === "volsync";
const isCronJobCopy = (copy: PlannedCopy) => methodOf(copy.method).controller === "cronjob";

interface ScheduledCheck {
  kind: "restore-drill" | "verify";
  name: string;
  namespace: string;
  job: PlannedJob;
}

/** The CronJob of a drill or verification that the cluster runs (host drills run under systemd). */
function scheduledCheck(ctx: AlertContext, job: PlannedJob): ScheduledCheck | undefined {
  if (job.controller !== "cronjob") return undefined;
  const item = ctx.plan.items.find((candidate) => candidate.id === job.itemId);
  if (job.kind === "restore-drill" && item) return { kind: job.kind, name: drillName(item), namespace: drillNamespace(ctx.config, item), job };
  if (job.kind === "verify") return { kind: job.kind, name: verificationName(job), namespace: job.namespace, job };
  return undefined;
}

function checkRules(ctx: AlertContext, item: PlannedItem, check: ScheduledCheck): AlertRule[] {
  const interval = maxGapHours(check.job.schedule.cron);
  const stale = staleAfterHours(interval);
  const drill = check.kind === "restore-drill";
  const suffix = drill ? "" : pascal(check.job.destination);
  const what = drill ? `restore drill of ${item.id} from ${check.job.destination}` : `verification of the repository ${check.job.id.split("@")[0]} in ${check.job.destination}`;
  const meaning = drill
    ? `Nobody has proven for that long that ${item.id} can be restored from ${check.job.destination}, or that its newest backup there is recent.`
    : `Nobody has checked for that long that the backups in ${check.job.destination} can be read back; damage there would surface only at a restore.`;
  return [
    itemAlert(ctx, item, {
      alert: drill ? "RestoreDrillNotSucceeding" : `VerificationNotSucceeding${suffix}`,
      expr: cronJobStaleExpr(check.namespace, check.name, stale),
      for: "10m",
      destination: check.job.destination,
      summary: `${item.id}: the ${drill ? "restore drill" : `verification of ${check.job.destination}`} has not succeeded for {{ $value | humanizeDuration }}`,
      description:
        `CronJob ${check.namespace}/${check.name} (${what}) last succeeded {{ $value | humanizeDuration }} ago (or was created that long ago and never succeeded); it runs ${check.job.schedule.description} and must succeed at least every ${promDuration(stale)}. ` +
        `${meaning} ` +
        `First check: the logs of the newest Job of ${check.name} (kubectl -n ${check.namespace} get jobs --sort-by=.metadata.creationTimestamp).`,
    }),
    itemAlert(ctx, item, {
      alert: drill ? "RestoreDrillFailed" : `VerificationFailed${suffix}`,
      expr: cronJobFailedExpr(check.namespace, check.name),
      destination: check.job.destination,
      summary: `${item.id}: ${drill ? "restore drill" : `verification of ${check.job.destination}`} {{ $labels.job_name }} failed`,
      description:
        `Job ${check.namespace}/{{ $labels.job_name }} of CronJob ${check.name} (${what}) failed. ` +
        (drill
          ? `The drill could not restore ${item.id}, found its newest backup too old, or the restored data did not check out: treat the copy in ${check.job.destination} as unproven until it passes. `
          : `The repository reported errors or could not be read: treat the backups in ${check.job.destination} as damaged until it passes. `) +
        `First check: kubectl -n ${check.namespace} logs job/{{ $labels.job_name }}. The alert clears when the failed Job is deleted or expires.`,
    }),
  ];
}

/** A failed run of a volume's canary job: the backups that follow hold an older canary. */
function canaryRules(ctx: AlertContext, item: PlannedItem, canary: PlannedCanary): AlertRule[] {
  const { namespace, name } = canary;
  return [
    itemAlert(ctx, item, {
      alert: "CanaryWriteFailed",
      expr: cronJobFailedExpr(namespace, name),
      summary: `${item.id}: canary Job {{ $labels.job_name }} failed`,
      description:
        `Job ${namespace}/{{ $labels.job_name }} of CronJob ${name} could not write ${CANARY_FILE} to the root of the volume's claim (it runs ${canary.schedule.description}, before the backup to ${canary.copy.destination}). ` +
        `The backups keep the older canary, and the restore drill of ${item.id} fails once the canary in its snapshot is more than ${canary.maxAgeHours} h older than the snapshot. ` +
        `First check: kubectl -n ${namespace} logs job/{{ $labels.job_name }} (the claim's root not writable by the volume's uid and gid), or a Pending pod: the job runs beside the app's pods (apps.${item.app}.volumes.${item.name}.appSelector). The alert clears when the failed Job is deleted or expires.`,
    }),
  ];
}

/** All alerts about one data item, copies first, then its restore, drills and verifications. */
function itemGroup(ctx: AlertContext, item: PlannedItem, checks: ScheduledCheck[]): AlertGroup | undefined {
  const rules: AlertRule[] = [];
  for (const copy of item.copies) rules.push(...(methodOf(copy.method).alerts?.copy?.(ctx, item, copy) ?? []));
  for (const method of new Set(item.copies.map((copy) => copy.method))) {
    const copies = item.copies.filter((copy) => copy.method === method);
    rules.push(...(methodOf(method).alerts?.item?.(ctx, item, copies) ?? []));
  }
  rules.push(...(dataKindOf(item.kind).alerts?.(ctx, item) ?? []));
  for (const check of checks.filter((candidate) => candidate.job.itemId === item.id)) rules.push(...checkRules(ctx, item, check));
  const canary = volumeCanary(ctx.config, ctx.plan, item);
  if (canary) rules.push(...canaryRules(ctx, item, canary));
  if (rules.length === 0) return undefined;
  const names = new Set<string>();
  for (const rule of rules) {
    if (names.has(rule.alert)) throw new Error(`alert ${rule.alert} appears twice in the group of ${item.id}`);
    names.add(rule.alert);
  }
  return { name: item.id, rules };
}

function prometheusRule(config: StackConfig, name: string, namespace: string, labels: Record<string, string>, groups: AlertGroup[]): Manifest {
  return {
    apiVersion: PROMETHEUS_RULE_API,
    kind: "PrometheusRule",
    metadata: { name, namespace, labels: { ...config.alerts.ruleLabels, ...labels } },
    spec: { groups },
  };
}

/**
 * A Kopia mirror's CronJob (apps.<app>.kopiaMirrors): stale when no run succeeded for a day and
 * a half (daily runs with a 6-hour deadline), failed when a run failed. Labelled with the data id
 * "<app>/kopia-mirror" and linked to the runbook's mirror section.
 */
function mirrorGroup(ctx: AlertContext, app: PlannedApp, mirrors: PlannedKopiaMirror[]): AlertGroup | undefined {
  const mine = mirrors.filter((mirror) => mirror.app === app.name);
  if (mine.length === 0) return undefined;
  const tier = app.tier as Tier;
  const rules = mine.flatMap((mirror): AlertRule[] => {
    const job = kopiaMirrorCronJob(ctx.config, mirror).metadata as { name: string; namespace: string };
    const stale = staleAfterHours(24);
    const labels = { severity: TIER_DEFINITIONS[tier].alertSeverity, app: app.name, tier: String(tier), data: `${app.name}/kopia-mirror`, destination: mirror.destination };
    const runbook_url = `${runbookUrl(ctx.config, app.name)}#${MIRROR_ANCHOR}`;
    const what = `the mirror of the NAS Kopia repository ${mirror.sourceLocation} to ${mirror.destination} (${mirror.bucket}/${mirror.prefix})`;
    return [
      {
        alert: `KopiaMirrorStale${pascal(mirror.destination)}`,
        expr: cronJobStaleExpr(job.namespace, job.name, stale),
        for: "10m",
        labels,
        annotations: {
          summary: `${app.name}: the Kopia mirror to ${mirror.destination} has not succeeded for {{ $value | humanizeDuration }}`,
          description:
            `CronJob ${job.namespace}/${job.name} (${what}) last succeeded {{ $value | humanizeDuration }} ago; it runs ${mirror.schedule.description} and must succeed at least every ${promDuration(stale)}. ` +
            `The mirror falls behind the NAS repository: after losing the NAS it would restore older data. First check: the logs of the newest Job of ${job.name}.`,
          runbook_url,
        },
      },
      {
        alert: `KopiaMirrorFailed${pascal(mirror.destination)}`,
        expr: cronJobFailedExpr(job.namespace, job.name),
        labels,
        annotations: {
          summary: `${app.name}: Kopia mirror Job {{ $labels.job_name }} to ${mirror.destination} failed`,
          description: `Job ${job.namespace}/{{ $labels.job_name }} of CronJob ${job.name} (${what}) failed: a missing or re-created NAS repository, an unmounted share, or the bucket key. First check: kubectl -n ${job.namespace} logs job/{{ $labels.job_name }}.`,
          runbook_url,
        },
      },
    ];
  });
  return { name: `${app.name}/kopia-mirror`, rules };
}

function appRule(ctx: AlertContext, app: PlannedApp, checks: ScheduledCheck[]): Manifest | undefined {
  const mirror = mirrorGroup(ctx, app, ctx.mirrors);
  const groups = [...app.items.map((item) => itemGroup(ctx, item, checks)), mirror].filter((group): group is AlertGroup => group !== undefined);
  if (groups.length === 0) return undefined;
  const labels = { [LABELS.managedBy]: "homelab-backups", [LABELS.app]: labelValue(app.name), [LABELS.tier]: String(app.tier) };
  return prometheusRule(ctx.config, appRuleName(app.name), app.namespace, labels, groups);
}

/** Severity and tier of an alert many items depend on: the most important of them decides. */
function dependents(items: PlannedItem[]): { severity: Severity; tier: string; ids: string[] } {
  const tier = Math.min(...items.map((item) => item.tier)) as Tier;
  return { severity: TIER_DEFINITIONS[tier].alertSeverity, tier: String(tier), ids: items.map((item) => item.id) };
}

function platformAlert(config: StackConfig, anchor: string, items: PlannedItem[], rule: Omit<AlertRule, "labels" | "annotations"> & { summary: string; description: string }): AlertRule {
  const { summary, description, ...rest } = rule;
  const { severity, tier } = dependents(items);
  return { ...rest, labels: { severity, app: PLATFORM_RULE, tier }, annotations: { summary, description, runbook_url: `${runbookUrl(config, PLATFORM_RULE)}#${anchor}` } };
}

function listed(ids: string[]): string {
  return ids.length <= 6 ? ids.join(", ") : `${ids.slice(0, 6).join(", ")} and ${ids.length - 6} more`;
}

function platformRule(ctx: AlertContext, checks: ScheduledCheck[]): Manifest | undefined {
  const { config, plan } = ctx;
  const inCluster = plan.items.filter((item) => item.namespace !== "");
  const onVolsync = inCluster.filter((item) => item.copies.some(isVolsync));
  const cronJobBacked = plan.items.filter(
    (item) => item.copies.some(isCronJobCopy) || checks.some((check) => check.job.itemId === item.id) || volumeCanary(config, plan, item) !== undefined,
  );
  const rules: AlertRule[] = [];
  if (onVolsync.length > 0) {
    const { ids } = dependents(onVolsync);
    rules.push(
      platformAlert(config, PLATFORM_ANCHORS.volsync, onVolsync, {
        alert: "VolSyncMetricsAbsent",
        // Not absent(up{job="..."}): the job label depends on how VolSync is scraped, the metric
        // name does not. VolSync keeps this gauge for every ReplicationSource and Destination, and
        // the plan has sources, so its absence means the controller is down or not scraped.
        expr: "absent(volsync_volume_out_of_sync)",
        for: "15m",
        summary: "No VolSync metrics in Prometheus",
        description:
          `Prometheus has had no VolSync metrics for 15 minutes: the VolSync controller is down or its metrics are not scraped. ` +
          `If it is down, no volume is backed up; either way no VolSync alert can fire. Volumes depending on it: ${listed(ids)}. ` +
          `First check: the VolSync controller's pods (kubectl get pods -A -l app.kubernetes.io/name=volsync) and the ServiceMonitor of its metrics endpoint.`,
      }),
    );
  }
  if (cronJobBacked.length > 0) {
    const { ids } = dependents(cronJobBacked);
    rules.push(
      platformAlert(config, PLATFORM_ANCHORS.kubeStateMetrics, cronJobBacked, {
        alert: "BackupJobMetricsAbsent",
        expr: "absent(kube_cronjob_created)",
        for: "15m",
        summary: "No kube-state-metrics CronJob metrics in Prometheus",
        description:
          `Prometheus has had no kube_cronjob_* metrics for 15 minutes: kube-state-metrics is down or not scraped. ` +
          `Stale dumps, failed backup Jobs, drills and verifications cannot alert meanwhile (${listed(ids)}). ` +
          `First check: the kube-state-metrics pod and its ServiceMonitor (scraped with honorLabels: true).`,
      }),
    );
  }
  const groups: AlertGroup[] = rules.length > 0 ? [{ name: "homelab-backups/platform", rules }] : [];
  // Data outside the cluster whose drills run here (TrueNAS datasets): a group per item.
  for (const item of plan.items.filter((candidate) => candidate.namespace === "")) {
    const itemChecks = checks.filter((check) => check.job.itemId === item.id);
    const group = itemGroup(ctx, item, itemChecks);
    if (group) groups.push(group);
  }
  if (groups.length === 0) return undefined;
  return prometheusRule(config, PLATFORM_RULE, config.cluster.systemNamespace, { [LABELS.managedBy]: "homelab-backups" }, groups);
}

/**
 * PrometheusRules for the plan: one per app with anything the cluster can watch, and the platform
 * rule. Empty when `alerts.enabled` is false.
 */
export function alertRules(config: StackConfig, plan: BackupPlan): Manifest[] {
  if (!config.alerts.enabled) return [];
  const ctx: AlertContext = { config, plan, mirrors: kopiaMirrors(config, plan) };
  const checks = plan.jobs
    .map((job) => scheduledCheck(ctx, job))
    .filter((check): check is ScheduledCheck => check !== undefined)
    .sort((a, b) => compareText(a.job.id, b.job.id));
  const rules = plan.apps.map((app) => appRule(ctx, app, checks)).filter((rule): rule is Manifest => rule !== undefined);
  const platform = platformRule(ctx, checks);
  return platform ? [...rules, platform] : rules;
}
