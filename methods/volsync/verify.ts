/** The scheduled check of a VolSync repository, restic or Kopia. */
import { drillCronJob, DrillObjects, nasRepositoryVolume } from "../../domain/drills";
import { moverSecretRecipe, nasRepositoryOwner } from "../../domain/repositories";
import { kopiaVerifyScript, resticVerifyScript } from "../../domain/jobs/verify";
import type { VerificationContext } from "../../domain/verification";

/** A VolSync repository's check, in the mover's image with the mover's own Secret. */
export function moverRepositoryVerification({ config, item, copy, notify, parts, intervalDays, pod, recipe }: VerificationContext): DrillObjects {
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
