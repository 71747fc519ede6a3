/** Alerts of a CloudNativePG cluster's pgBackRest repositories, from the plugin's per-stanza metrics. */
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { cnpgClusterName } from "../../domain/storage";
import { maxGapHours } from "../../domain/schedule";
import type { AlertContext, AlertRule } from "../../domain/alerts";
import { cnpgPods, itemAlert, promDuration, hoursToSeconds, selector, staleAfterHours } from "../../domain/alerts";

/** Alerts for a CloudNativePG cluster backed up by pgBackRest (every repository at once: the metrics are per stanza). */
export function pgbackrestRules(ctx: AlertContext, item: PlannedItem, copies: PlannedCopy[]): AlertRule[] {
  const namespace = item.namespace;
  const cluster = cnpgClusterName(ctx.config, item);
  const pods = cnpgPods(namespace, cluster);
  const repositories = copies.map((copy) => copy.destination).join(", ");
  // Base backups: the most frequent repository bounds the age of the newest one.
  const baseInterval = Math.min(...copies.map((copy) => maxGapHours(copy.schedule.cron)));
  const baseStale = staleAfterHours(baseInterval);
  const walStale = staleAfterHours(Math.min(...copies.map((copy) => copy.rpoHours)));
  const backupMetric = selector("pgbackrest_dalibo_com_last_available_backup_timestamp", pods);
  return [
    itemAlert(ctx, item, {
      alert: "PostgresBackupStale",
      // The plugin's own metric: CNPG's cnpg_collector_last_available_backup_timestamp is deprecated
      // and stays 0 with plugin backups (cloudnative-pg#7812). Only the primary reports a real value.
      expr: `time() - max by (namespace) (${backupMetric}) > ${hoursToSeconds(baseStale)}`,
      for: "10m",
      summary: `${item.id}: newest base backup of ${cluster} is {{ $value | humanizeDuration }} old`,
      description:
        `pgBackRest's newest base backup of CNPG cluster ${namespace}/${cluster}, in any of its repositories (${repositories}), finished {{ $value | humanizeDuration }} ago; backups run daily per repository and one must land every ${promDuration(baseStale)}. ` +
        `Point-in-time recovery still replays WAL from the older backup, but restores get slower and a damaged WAL segment loses everything after it. ` +
        `First check: kubectl -n ${namespace} get backups.postgresql.cnpg.io (a failed or missing Backup), then the logs of the pgbackrest-plugin container on the primary.`,
    }),
    itemAlert(ctx, item, {
      alert: "PostgresWalArchiveStale",
      // Not seconds_since_last_archival: a quiet database archives nothing for hours, correctly.
      // Segments marked .ready are finished WAL the repositories do not have yet.
      expr: `max by (namespace) (${selector("cnpg_collector_pg_wal_archive_status", { ...pods, value: "ready" })}) > 0`,
      for: promDuration(walStale),
      summary: `${item.id}: WAL of ${cluster} has not reached the repositories for ${promDuration(walStale)}`,
      description:
        `{{ $value | humanize }} WAL segments of CNPG cluster ${namespace}/${cluster} have been waiting to be archived for more than ${promDuration(walStale)} (WAL is archived to ${repositories} within five minutes normally). ` +
        `The newest point-in-time recovery point falls behind with every minute, and the waiting segments fill the cluster's volume. ` +
        `First check: the logs of the pgbackrest-plugin container on the primary (repository credentials, bucket reachable, async queue full).`,
    }),
    itemAlert(ctx, item, {
      alert: "PostgresWalArchivingFailing",
      expr: `${selector("cnpg_pg_stat_archiver_last_failed_time", pods)} > ${selector("cnpg_pg_stat_archiver_last_archived_time", pods)}`,
      for: promDuration(walStale),
      summary: `${item.id}: WAL archiving of ${cluster} is failing`,
      description:
        `On {{ $labels.pod }}, archive_command failed more recently than it succeeded, for ${promDuration(walStale)}. ` +
        `WAL is not reaching ${repositories}: recovery points stop advancing, and PostgreSQL keeps the segments until the volume fills. ` +
        `First check: kubectl -n ${namespace} logs {{ $labels.pod }} -c plugin-pgbackrest (or the pgbackrest-plugin container), and the Stanza's status.`,
    }),
    itemAlert(ctx, item, {
      alert: "PostgresBackupMetricsAbsent",
      expr: `absent(${backupMetric})`,
      for: "1h",
      summary: `${item.id}: no backup metrics of ${cluster} in Prometheus`,
      description:
        `Prometheus has no pgBackRest metrics from the instances of CNPG cluster ${namespace}/${cluster} (pods ${cluster}-N), so the other alerts of ${item.id} cannot fire. ` +
        `Backups may be fine; nobody can tell. ` +
        `First check: a PodMonitor selects the cluster (spec.monitoring.enablePodMonitor: true, or your own), then that the pgBackRest plugin is a version exporting pgbackrest_dalibo_com_* metrics (kubectl -n ${namespace} port-forward pod/${cluster}-1 9187 and read /metrics).`,
    }),
  ];
}
