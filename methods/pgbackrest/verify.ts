/** The scheduled check of a pgBackRest repository. */
import { CNPG_UID, drillCronJob, DrillObjects, pgbackrestRepoEnv } from "../../domain/drills";
import { pgbackrestRepoVerifyScript } from "../../domain/jobs/verify";
import type { VerificationContext } from "../../domain/verification";

/** A pgBackRest repository's check, with the Stanza's settings as pgBackRest's environment. */
export function pgbackrestRepositoryVerification({ config, item, copy, notify, pod, recipe }: VerificationContext): DrillObjects {
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
