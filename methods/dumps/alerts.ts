/** Alerts of CronJob-driven dump copies: stale and failed runs. */
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { dumpCronJob, offsiteCronJob } from "./manifests";
import type { AlertContext, AlertRule } from "../../domain/alerts";
import { cronJobFailedExpr, cronJobStaleExpr, itemAlert, pascal, promDuration, staleAfterHours } from "../../domain/alerts";

/** Alerts for one CronJob-driven copy: a dump to the NAS share or an app's dumps taken offsite. */
/** How alerts name where a dump copy is. */
const COPY_TEXT: Record<string, string> = {
  dump: "dump to the NAS share",
  "dump-restic": "restic copy of the app's dumps",
  "dump-rsync": "rsync copy of the app's dumps",
};

export function cronJobCopyRules(ctx: AlertContext, item: PlannedItem, copy: PlannedCopy): AlertRule[] {
  const job = copy.method === "dump" ? dumpCronJob(ctx.config, item, copy) : offsiteCronJob(ctx.config, item, copy);
  const metadata = job.metadata as { name: string; namespace: string };
  const suffix = pascal(copy.destination);
  const stale = staleAfterHours(copy.rpoHours);
  const shared = copy.method === "dump" ? "" : ` The job copies all of ${item.app}'s dumps, so every dumped item of ${item.app} shows this alert.`;
  const where = `${copy.destination} (${COPY_TEXT[copy.method]}, ${copy.location})`;
  return [
    itemAlert(ctx, item, {
      alert: `BackupStale${suffix}`,
      expr: cronJobStaleExpr(metadata.namespace, metadata.name, stale),
      for: "10m",
      destination: copy.destination,
      summary: `${item.id}: no successful backup to ${copy.destination} for {{ $value | humanizeDuration }}`,
      description:
        `CronJob ${metadata.namespace}/${metadata.name} last succeeded {{ $value | humanizeDuration }} ago (or was created that long ago and never succeeded); it runs ${copy.schedule.description} and must succeed at least every ${promDuration(stale)}. ` +
        `The newest copy of ${item.id} in ${where} is that old.${shared} ` +
        `First check: kubectl -n ${metadata.namespace} get jobs --sort-by=.metadata.creationTimestamp, then the logs of the newest Job of ${metadata.name}.`,
    }),
    itemAlert(ctx, item, {
      alert: `BackupJobFailed${suffix}`,
      expr: cronJobFailedExpr(metadata.namespace, metadata.name),
      destination: copy.destination,
      summary: `${item.id}: backup Job {{ $labels.job_name }} to ${copy.destination} failed`,
      description:
        `Job ${metadata.namespace}/{{ $labels.job_name }} of CronJob ${metadata.name} failed (retries exhausted or deadline exceeded): this run's copy of ${item.id} to ${where} was not made.${shared} ` +
        `First check: kubectl -n ${metadata.namespace} logs job/{{ $labels.job_name }}. The alert clears when the failed Job is deleted or expires.`,
    }),
  ];
}
