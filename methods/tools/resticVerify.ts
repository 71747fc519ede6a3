/** The scheduled check of a restic repository that a job outside VolSync writes (dumps, hosts). */
import { drillCronJob, DrillObjects, storeResticEnv } from "../../domain/drills";
import { resticVerifyScript } from "../../domain/jobs/verify";
import type { VerificationContext } from "../../domain/verification";

/** A restic repository written outside VolSync (an app's dumps, a host), read with its writer's keys. */
export function resticRepositoryVerification({ config, item, copy, notify, parts, intervalDays, pod, recipe }: VerificationContext): DrillObjects {
  const env = storeResticEnv(config, item, copy);
  return {
    secret: recipe(env.values, env.template),
    cronJob: drillCronJob({ ...pod, main: { image: config.images.restic, script: resticVerifyScript({ notify, parts, intervalDays }), secretEnv: true } }),
  };
}
