/** The restore drill of a VolSync copy, restic or Kopia: it runs in the mover's image with the mover's own Secret. */
import { kopiaIdentity, moverSecretRecipe, nasRepositoryOwner } from "../../domain/repositories";
import { DRILL_READ_PERCENT, DRILL_SAMPLE_FILES } from "../../domain/drillSchedule";
import { kopiaVolumeDrillScript, resticVolumeDrillScript } from "../../domain/jobs/drills";
import { drillCanary } from "../../domain/canary";
import type { DrillContext, DrillObjects } from "../../domain/drills";
import { drillCronJob, drillSecretName, nasRepositoryVolume, withNotifications } from "../../domain/drills";
import { JOB_GID, JOB_UID, notifyFor } from "../../domain/jobPods";

/** A VolSync copy's drill: the mover's own Secret and image, reading the repository as the mover does. */
export function volumeDrill({ config, item, copy, job, maxAgeHours }: DrillContext): DrillObjects {
  const notify = notifyFor(config, item.app, item.name);
  const name = drillSecretName(item);
  const base = { job, item, config, uid: JOB_UID, gid: JOB_GID };
  const mover = moverSecretRecipe(config, item, copy);
  const secret = withNotifications(config, item, name, mover.values, mover.template);
  const nas = nasRepositoryVolume(copy);
  const volume = config.apps[item.app].volumes[item.name];
  const canary = drillCanary(config, item, copy);
  const script =
    copy.method === "volsync-restic"
      ? resticVolumeDrillScript({ notify, maxAgeHours, sampleFiles: DRILL_SAMPLE_FILES, readDataSubset: `${DRILL_READ_PERCENT}%`, canary })
      : kopiaVolumeDrillScript({ notify, maxAgeHours, sampleFiles: DRILL_SAMPLE_FILES, verifyPercent: DRILL_READ_PERCENT, identity: kopiaIdentity(item, volume.claim ?? item.name), canary });
  return {
    secret,
    cronJob: drillCronJob({
      ...base,
      ...nasRepositoryOwner(config, item, copy),
      secretName: name,
      main: {
        image: copy.method === "volsync-restic" ? config.images.restic : config.images.kopia,
        script,
        env: copy.method === "volsync-restic" ? [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }] : [],
        secretEnv: true,
        mounts: nas.mounts,
      },
      volumes: nas.volumes,
      deadlineSeconds: 6 * 3600,
    }),
  };
}
