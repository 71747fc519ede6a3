/** The restore drill of a Cloud Sync copy: rclone decrypts a sample of the dataset's files from the bucket. */
import { s3Endpoint } from "../../domain/repositories";
import { bucketFields, storeItem } from "../../domain/secrets";
import { DRILL_SAMPLE_FILES } from "../../domain/drillSchedule";
import { cloudSyncDrillScript } from "../../domain/jobs/cloudsyncDrill";
import type { DrillContext, DrillObjects } from "../../domain/drills";
import { drillCronJob, drillSecretName, withNotifications } from "../../domain/drills";
import { JOB_GID, JOB_UID, notifyFor } from "../../domain/jobPods";

export function cloudSyncDrill({ config, item, copy, job }: DrillContext): DrillObjects {
  const credentials = storeItem(config.cluster.name, "truenas");
  const passwords = storeItem(config.cluster.name, item.app);
  const fields = bucketFields({ destination: copy.destination, credential: "truenas" });
  const secret = withNotifications(
    config,
    item,
    drillSecretName(item),
    [
      { variable: "accessKeyId", item: credentials, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: credentials, field: fields.secretAccessKey },
      { variable: "password", item: passwords, field: "cloudsync-password" },
      { variable: "salt", item: passwords, field: "cloudsync-salt" },
    ],
    {
      RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID: "{{ .accessKeyId }}",
      RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
      CLOUDSYNC_ENCRYPTION_PASSWORD: "{{ .password }}",
      CLOUDSYNC_ENCRYPTION_SALT: "{{ .salt }}",
    },
  );
  const endpoint = s3Endpoint(config, copy.destination);
  const settings = {
    RCLONE_CONFIG_OFFSITE_TYPE: "s3",
    RCLONE_CONFIG_OFFSITE_PROVIDER: endpoint.rcloneProvider,
    RCLONE_CONFIG_OFFSITE_ENDPOINT: endpoint.url,
    RCLONE_CONFIG_OFFSITE_REGION: endpoint.region,
    RCLONE_CONFIG_OFFSITE_FORCE_PATH_STYLE: "true",
  };
  return {
    secret,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: JOB_UID,
      gid: JOB_GID,
      secretName: secret.name,
      main: {
        image: config.images.rclone,
        script: cloudSyncDrillScript({ notify: notifyFor(config, item.app, item.name), bucket: copy.location, folder: item.name, sampleFiles: DRILL_SAMPLE_FILES }),
        env: Object.entries(settings).map(([key, value]) => ({ name: key, value })),
        secretEnv: true,
      },
      deadlineSeconds: 4 * 3600,
    }),
  };
}
