/**
 * Scheduled integrity checks of backup repositories as Kubernetes objects: per planned "verify"
 * job, a Secret recipe (an ExternalSecret from the store, like every consumer's) and a CronJob
 * that checks the repository with its own tool and notifies on success and failure
 * (domain/jobs/verify.ts holds the scripts).
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem, PlannedJob } from "./model";
import { kubeName, LABELS } from "./naming";
import { DrillObjects, type DrillPod, withNotifications } from "./drills";
import { type SecretRecipe, StoreValue } from "./repositories";
import type { Notify } from "./jobs/scripts";
import { methodOf } from "../methods/registry";
import { JOB_GID, JOB_UID, notifyFor } from "./jobPods";

/**
 * The CronJob of a verification: "<app>-<item>-verify-<destination>" for restic and pgBackRest
 * repositories (one per item; "host-<name>-verify-<destination>" for hosts), "<app>-kopia-verify-<destination>" and
 * "<app>-dumps-verify-<destination>" for repositories an app's items share.
 */
export function verificationName(job: Pick<PlannedJob, "id" | "app" | "destination">): string {
  const parts = job.id.split("@")[0].split("/");
  const subject = parts.length === 4 ? parts[2] : parts[1].replace(/-verify$/, "");
  // A host's app is "host-<name>": "host-router-verify-b2", not "host-router-router-verify-b2".
  return kubeName([job.app, job.app.endsWith(`-${subject}`) ? "" : subject, "verify", job.destination].filter(Boolean));
}

/** What a method's verification builder is given: the pod every verification shares, and its Secret recipe. */
export interface VerificationContext {
  config: StackConfig;
  item: PlannedItem;
  copy: PlannedCopy;
  notify: Notify;
  /** The repository is read in this many parts, one per run. */
  parts: number;
  intervalDays: number;
  pod: Omit<DrillPod, "main">;
  recipe(values: StoreValue[], template: Record<string, string>): SecretRecipe;
}

/** The verification of one repository: its Secret recipe and CronJob. */
export function verification(config: StackConfig, plan: BackupPlan, job: PlannedJob): DrillObjects {
  const item = plan.items.find((i) => i.id === job.itemId);
  const copy = item?.copies.find((c) => c.id === job.copyId);
  if (!item || !copy) throw new Error(`${job.id}: the verified copy ${job.copyId} is not in the plan`);
  const name = verificationName(job);
  const secretName = kubeName(["hb", name]);
  const subject = name.slice(item.app.length + 1, name.length - `-verify-${job.destination}`.length) || item.name;
  const notify = notifyFor(config, item.app, subject);
  const parts = job.readParts ?? 1;
  const intervalDays = job.intervalDays ?? 1;
  const pod: Omit<DrillPod, "main"> = {
    job,
    item,
    config,
    name,
    marker: { [LABELS.verify]: "true" },
    uid: JOB_UID,
    gid: JOB_GID,
    secretName,
    // A full read of a large repository over the internet takes hours; a share of it much less.
    deadlineSeconds: parts === 1 ? 12 * 3600 : 4 * 3600,
  };
  const recipe = (values: StoreValue[], template: Record<string, string>) => withNotifications(config, item, secretName, values, template, kubeName([config.cluster.name, name]));

  const build = methodOf(copy.method).verification?.job;
  if (!build) throw new Error(`${job.id}: ${copy.method} repositories have no verification`);
  return build({ config, item, copy, notify, parts, intervalDays, pod, recipe });
}
