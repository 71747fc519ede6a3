/**
 * Dump CronJobs for data outside CloudNativePG, and the jobs that take an app's dumps offsite.
 * Every job runs a script from domain/jobs/scripts.ts in a pinned image, nothing installed at run
 * time, under Pod Security "restricted": non-root, no privilege escalation, read-only root,
 * every capability dropped. Secrets reach the jobs only through ExternalSecret-built Secrets.
 */
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName } from "../../domain/naming";
import { knownHostsLine, resticRepository, s3Endpoint, SecretRecipe, sshKeyRef } from "../../domain/repositories";
import { bucketFields, storeItem } from "../../domain/secrets";
import { nasClaimName } from "../../domain/nas";
import { resticOffsiteScript, rsyncOffsiteScript } from "../../domain/jobs/scripts";
import { dataKindOf } from "../registry";
import type { DumpEngine } from "../types";
import { JOB_UID, JOB_GID, BACKUP_MOUNT, jobLabels, notificationValues, notifyFor, backupCronJob } from "../../domain/jobPods";

type Manifest = Record<string, unknown>;

export function dumpDirectory(config: StackConfig, app: string): string {
  return `${BACKUP_MOUNT}/${config.cluster.name}/dumps/${app}`;
}

/** How items of the item's kind are dumped (its data kind's dump engine). */
export function dumpEngineOf(item: Pick<PlannedItem, "kind" | "id">): DumpEngine {
  const engine = dataKindOf(item.kind).dump;
  if (!engine) throw new Error(`${item.id}: items of kind ${item.kind} have no dump engine`);
  return engine;
}

/** The claim on the NAS share the item's dumps land on. */
function nasOf(item: PlannedItem): { claim: string } {
  const dump = item.copies.find((copy) => copy.method === "dump")!;
  return { claim: nasClaimName(dump.destination) };
}

/** The Secret a dump job reads: database credentials from the user's store items, notification secrets. */
export function dumpSecretRecipe(config: StackConfig, item: PlannedItem): SecretRecipe | undefined {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, item.app, item.name, "dump"]));
  const credentials = dumpEngineOf(item).credentials?.(config, item);
  if (credentials) {
    values.push(...credentials.values);
    Object.assign(template, credentials.template);
  }
  if (Object.keys(template).length === 0) return undefined;
  return { name: kubeName(["hb", item.app, item.name, "dump"]), namespace: item.namespace, template, values };
}

/** The CronJob that dumps one database or file to the NAS share. */
export function dumpCronJob(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Manifest {
  const dir = dumpDirectory(config, item.app);
  const keepLast = copy.retention.kind === "count" ? copy.retention.keepLast : 7;
  const notify = notifyFor(config, item.app, item.name);
  const base = {
    name: kubeName([item.app, item.name, "dump"]),
    namespace: item.namespace,
    labels: jobLabels(item.app, item.tier, item.id, copy.destination),
    schedule: copy.schedule.controllerCron,
    timeZone: copy.schedule.controllerTimeZone,
    secretName: dumpSecretRecipe(config, item)?.name,
    deadlineSeconds: 3 * 3600,
    nas: { ...nasOf(item), readOnly: false },
    ensureDirectory: dir,
  };
  const engine = dumpEngineOf(item);
  return backupCronJob({ ...base, image: engine.image(config), ...engine.job(config, item, { keepLast, dir, notify }) });
}

/**
 * Who a SQLite dump runs as: the item's uid, else the owner of the app volume on the same claim,
 * else 1000 (the volumes' default); the group is that volume's gid, else 1000.
 */
export function sqliteOwner(config: StackConfig, item: PlannedItem): { uid: number; gid: number } {
  const file = config.apps[item.app].sqlite[item.name];
  const claimVolume = Object.entries(config.apps[item.app].volumes).find(([name, volume]) => (volume.claim ?? name) === file.claim)?.[1];
  const uid = file.uid ?? claimVolume?.uid ?? 1000;
  const gid = claimVolume?.gid ?? 1000;
  if (uid === 0) {
    throw new Error(`${item.configPath}: the claim's volume is owned by uid 0; a restricted pod cannot run as root: set the item's uid to the database file's owner`);
  }
  return { uid, gid };
}

/** The Secret an app's offsite dump job reads for one destination. */
export function offsiteSecretRecipe(config: StackConfig, item: PlannedItem, copy: PlannedCopy): SecretRecipe {
  const { values, template } = notificationValues(config, kubeName([config.cluster.name, item.app, "dumps", copy.destination]));
  const target = config.destinations[copy.destination];
  if (target.kind === "ssh") {
    const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
    values.push({ variable: "sshPrivateKey", item: keyItem, field: keyField });
    Object.assign(template, { "ssh-private-key": "{{ .sshPrivateKey }}\n", known_hosts: `${knownHostsLine(target)}\n` });
  } else {
    const ownItem = storeItem(config.cluster.name, item.app);
    const fields = bucketFields({ destination: copy.destination, credential: "dumps" });
    values.push(
      { variable: "resticPassword", item: ownItem, field: "restic-password" },
      { variable: "accessKeyId", item: ownItem, field: fields.accessKeyId },
      { variable: "secretAccessKey", item: ownItem, field: fields.secretAccessKey },
    );
    const { region } = s3Endpoint(config, copy.destination);
    Object.assign(template, {
      RESTIC_REPOSITORY: resticRepository(config, item, copy),
      RESTIC_PASSWORD: "{{ .resticPassword }}",
      AWS_ACCESS_KEY_ID: "{{ .accessKeyId }}",
      AWS_SECRET_ACCESS_KEY: "{{ .secretAccessKey }}",
      AWS_DEFAULT_REGION: region,
    });
  }
  return { name: kubeName(["hb", item.app, "dumps", copy.destination]), namespace: item.namespace, template, values };
}

/** The CronJob that copies an app's whole dump directory to one offsite destination. */
export function offsiteCronJob(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Manifest {
  const dir = dumpDirectory(config, item.app);
  const notify = notifyFor(config, item.app, "dumps");
  const secret = offsiteSecretRecipe(config, item, copy).name;
  const base = {
    name: kubeName([item.app, "dumps", copy.destination]),
    namespace: item.namespace,
    labels: jobLabels(item.app, item.tier, `${item.app}/dumps`, copy.destination),
    schedule: copy.schedule.controllerCron,
    timeZone: copy.schedule.controllerTimeZone,
    uid: JOB_UID,
    gid: JOB_GID,
    deadlineSeconds: 6 * 3600,
    nas: { ...nasOf(item), readOnly: true },
  };
  const target = config.destinations[copy.destination];
  if (target.kind === "ssh") {
    return backupCronJob({
      ...base,
      image: config.images.rsync,
      script: rsyncOffsiteScript({ sourceDir: dir, user: target.user, host: target.host, port: target.port, path: `${target.path}/${config.cluster.name}/dumps/${item.app}`, notify }),
      env: [
        { name: "SSH_KEY_FILE", value: "/ssh/key" },
        { name: "SSH_KNOWN_HOSTS_FILE", value: "/ssh/known_hosts" },
        // The key stays a file; only the notification values come from the environment.
        ...["NTFY_TOKEN", "HEALTHCHECKS_URL"]
          .filter((key) => key in offsiteSecretRecipe(config, item, copy).template)
          .map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secret, key } } })),
      ],
      extraMounts: [{ name: "ssh", mountPath: "/ssh", readOnly: true }],
      extraVolumes: [
        {
          name: "ssh",
          secret: {
            secretName: secret,
            defaultMode: 0o400,
            items: [
              { key: "ssh-private-key", path: "key" },
              { key: "known_hosts", path: "known_hosts" },
            ],
          },
        },
      ],
    });
  }
  const keep = copy.retention.kind === "gfs" ? (({ kind: _kind, ...buckets }) => buckets)(copy.retention) : { last: 7 };
  return backupCronJob({
    ...base,
    image: config.images.restic,
    script: resticOffsiteScript({ sourceDir: dir, keep, host: config.cluster.name, notify }),
    env: [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }],
    secretName: secret,
  });
}
