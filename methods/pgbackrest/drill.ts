/** The restore drill of a pgBackRest repository: fetch in the pgBackRest image, restore quietly in the cluster's image, report from busybox. */
import { drillReportScript, pgbackrestFetchScript, pgbackrestVerifyScript } from "../../domain/jobs/drills";
import { CNPG_UID, type DrillContext, drillCronJob, type DrillObjects, drillSecretName, notificationEnv, pgbackrestRepoEnv, withNotifications } from "../../domain/drills";
import { notifyFor } from "../../domain/jobPods";

export function pgbackrestDrill({ config, item, copy, job, maxAgeHours }: DrillContext): DrillObjects {
  const { repo, settings, values, template } = pgbackrestRepoEnv(config, item, copy);
  const secret = withNotifications(config, item, drillSecretName(item), values, template);
  const database = config.apps[item.app].databases[item.name];
  const image = database.engine === "cnpg" ? database.imageName : config.images.postgres;
  return {
    secret,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: CNPG_UID,
      gid: CNPG_UID,
      secretName: secret.name,
      fetch: {
        image: config.images.pgbackrest,
        script: pgbackrestFetchScript({ repo, maxAgeHours }),
        env: Object.entries(settings).map(([key, value]) => ({ name: key, value })),
        secretEnv: true,
      },
      // CNPG images have no wget: the restore runs quietly and a busybox container reports it.
      verify: { image, script: pgbackrestVerifyScript({ report: "status-file" }) },
      main: {
        image: config.images.restic,
        script: drillReportScript({ notify: notifyFor(config, item.app, item.name), what: "pgBackRest restore drill" }),
        env: notificationEnv(secret, secret.name),
      },
      deadlineSeconds: 8 * 3600,
    }),
  };
}
