/** Alerts of VolSync copies (stale, out of sync, overrunning, failing mover) and of a volume's restore-once bootstrap. */
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { bootstrap, replicationSourceName } from "./manifests";
import type { AlertContext, AlertRule } from "../../domain/alerts";
import { itemAlert, pascal, promDuration, restoreStuckAfterHours, selector, staleAfterHours, volumeOf } from "../../domain/alerts";
import { methodOf } from "../registry";

/** Alerts for one VolSync ReplicationSource (one copy of a volume). */
export function volsyncCopyRules(ctx: AlertContext, item: PlannedItem, copy: PlannedCopy): AlertRule[] {
  const namespace = item.namespace;
  const source = replicationSourceName(item, volumeOf(ctx, item), copy);
  const object = { obj_namespace: namespace, obj_name: source, role: "source" };
  const suffix = pascal(copy.destination);
  const stale = staleAfterHours(copy.rpoHours);
  const slack = stale - copy.rpoHours;
  const where = `${copy.destination} (${methodOf(copy.method).label}, ${copy.location})`;
  const rules: AlertRule[] = [
    itemAlert(ctx, item, {
      alert: `VolSyncBackupStale${suffix}`,
      // No VolSync metric holds lastSyncTime; the summary's count goes up once per completed sync.
      expr: `increase(${selector("volsync_sync_duration_seconds_count", object)}[${promDuration(stale)}]) == 0`,
      for: "10m",
      destination: copy.destination,
      summary: `${item.id}: no backup to ${copy.destination} completed in ${promDuration(stale)}`,
      description:
        `ReplicationSource ${namespace}/${source} has not completed a sync in ${promDuration(stale)}; it runs ${copy.schedule.description} (UTC cron "${copy.schedule.controllerCron}"). ` +
        `The newest copy of ${item.id} in ${where} is older than that, so a restore from it would lose everything written since. ` +
        `First check: kubectl -n ${namespace} describe replicationsource ${source} (conditions, lastSyncTime), then the logs of Job volsync-src-${source}.`,
    }),
    itemAlert(ctx, item, {
      alert: `VolSyncOutOfSync${suffix}`,
      // VolSync sets it when a scheduled sync has not finished before the following one was due (or
      // no sync ever finished); `for` lets one more interval (at most 6h) pass for a long sync.
      expr: `${selector("volsync_volume_out_of_sync", object)} == 1`,
      for: promDuration(slack),
      destination: copy.destination,
      summary: `${item.id}: VolSync reports ${source} out of sync`,
      description:
        `VolSync has reported ReplicationSource ${namespace}/${source} out of sync for ${promDuration(slack)}: a backup to ${copy.destination} due ${copy.schedule.description} did not finish before the next one was due, or the first backup has not finished yet. ` +
        `Recovery points of ${item.id} in ${where} are now more than one interval apart. ` +
        `First check: kubectl -n ${namespace} get replicationsource ${source} -o yaml (status.conditions, lastSyncDuration) and the mover Job volsync-src-${source}.`,
    }),
    itemAlert(ctx, item, {
      alert: `VolSyncMissedIntervals${suffix}`,
      // Two misses, not one: increase() extrapolates, so a single miss can read as slightly above 1.
      expr: `increase(${selector("volsync_missed_intervals_total", object)}[${promDuration(copy.rpoHours * 6)}]) >= 2`,
      destination: copy.destination,
      summary: `${item.id}: backups to ${copy.destination} keep overrunning their schedule`,
      description:
        `Syncs of ${namespace}/${source} finished after their next scheduled start {{ $value | humanize }} times in the last ${promDuration(copy.rpoHours * 6)}. ` +
        `The copy cannot keep up with its schedule (${copy.schedule.description}), so recovery points of ${item.id} in ${copy.destination} are further apart than the plan says. ` +
        `First check: lastSyncDuration in the ReplicationSource's status against the interval; a slow destination, a cold cache or a grown volume are the usual causes.`,
    }),
  ];
  const moverJob = `volsync-src-${source}`;
  // Job names longer than a label value cannot exist under this name; the staleness alerts still cover them.
  if (moverJob.length <= 63) {
    rules.push(
      itemAlert(ctx, item, {
        alert: `VolSyncMoverFailing${suffix}`,
        expr: `${selector("kube_job_status_failed", { namespace, job_name: moverJob })} > 0`,
        for: "30m",
        destination: copy.destination,
        summary: `${item.id}: the VolSync mover for ${copy.destination} keeps failing`,
        description:
          `The mover Job ${namespace}/${moverJob} has had failed pods for 30 minutes. VolSync retries it, but no backup of ${item.id} reaches ${where} while it fails. ` +
          `First check: kubectl -n ${namespace} logs job/${moverJob} (repository password or credentials, an unreachable destination, a stale repository lock).`,
      }),
    );
  }
  return rules;
}

/** The restore-once bootstrap of a volume: stuck when its ReplicationDestination has not finished. */
export function restoreRules(ctx: AlertContext, item: PlannedItem): AlertRule[] {
  const volume = volumeOf(ctx, item);
  const objects = bootstrap(ctx.config, item, volume, { restic: ctx.config.images.restic, kopia: ctx.config.images.kopia });
  if (!objects) return [];
  const name = String((objects.destination.metadata as { name: string }).name);
  const claim = String((objects.claim.metadata as { name: string }).name);
  const after = restoreStuckAfterHours(item.expectedBytes);
  return [
    itemAlert(ctx, item, {
      alert: "VolSyncRestoreStuck",
      // Until its first (and only) sync finishes, VolSync reports a destination out of sync.
      expr: `${selector("volsync_volume_out_of_sync", { obj_namespace: item.namespace, obj_name: name, role: "destination" })} == 1`,
      for: promDuration(after),
      summary: `${item.id}: the restore-once bootstrap has not finished in ${promDuration(after)}`,
      description:
        `ReplicationDestination ${item.namespace}/${name} has been restoring ${item.id} for more than ${promDuration(after)}. ` +
        `Claim ${claim} stays Pending until it finishes, so ${item.app} cannot start; nothing is lost yet, the backup is still in the repository. ` +
        `First check: kubectl -n ${item.namespace} describe replicationdestination ${name} and the logs of Job volsync-dst-${name} (repository reachable, credentials present, enough capacity).`,
    }),
  ];
}
