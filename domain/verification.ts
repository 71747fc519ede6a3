/**
 * Scheduled integrity checks of backup repositories as Kubernetes objects: per planned "verify"
 * job, a Secret recipe (an ExternalSecret from the store, like every consumer's) and a CronJob
 * that checks the repository with its own tool and notifies on success and failure
 * (domain/jobs/verify.ts holds the scripts).
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedJob } from "./model";
import { kubeName, LABELS } from "./naming";
import { CNPG_UID, DrillObjects, drillCronJob, storeResticEnv, nasRepositoryVolume, pgbackrestRepoEnv, withNotifications } from "./drills";
import { JOB_GID, JOB_UID, notifyFor } from "./dumps";
import { moverSecretRecipe, nasRepositoryOwner, StoreValue } from "./repositories";
import { kopiaVerifyScript, pgbackrestRepoVerifyScript, resticVerifyScript } from "./jobs/verify";

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
  const pod = {
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

  switch (copy.method) {
    case "volsync-restic":
    case "volsync-kopia": {
      const mover = moverSecretRecipe(config, item, copy);
      const nas = nasRepositoryVolume(copy);
      const restic = copy.method === "volsync-restic";
      return {
        secret: recipe(mover.values, mover.template),
        cronJob: drillCronJob({
          ...pod,
          ...nasRepositoryOwner(config, item, copy),
          main: {
            image: restic ? config.images.restic : config.images.kopia,
            script: restic ? resticVerifyScript({ notify, parts, intervalDays }) : kopiaVerifyScript({ notify, verifyPercent: Math.ceil(100 / parts) }),
            secretEnv: true,
            mounts: nas.mounts,
          },
          volumes: nas.volumes,
        }),
      };
    }
    case "dump-restic":
    case "host-restic": {
      const env = storeResticEnv(config, item, copy);
      return {
        secret: recipe(env.values, env.template),
        cronJob: drillCronJob({ ...pod, main: { image: config.images.restic, script: resticVerifyScript({ notify, parts, intervalDays }), secretEnv: true } }),
      };
    }
    case "pgbackrest": {
      const env = pgbackrestRepoEnv(config, item, copy);
      const secret = recipe(env.values, env.template);
      return {
        secret,
        cronJob: drillCronJob({
          ...pod,
          uid: CNPG_UID,
          gid: CNPG_UID,
          main: {
            image: config.images.pgbackrest,
            script: pgbackrestRepoVerifyScript({ notify, repo: env.repo }),
            env: Object.entries(env.settings).map(([key, value]) => ({ name: key, value })),
            secretEnv: true,
          },
        }),
      };
    }
    default:
      throw new Error(`${job.id}: ${copy.method} repositories have no verification`);
  }
}
