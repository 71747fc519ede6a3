/**
 * The restore drill of a dump copy: an init container fetches the newest dump (from the NAS share,
 * the restic repository or over rsync) and the database's own image proves it restores.
 */
import { dumpDirectory, dumpEngineOf } from "./manifests";
import { knownHostsLine, sshKeyRef, StoreValue } from "../../domain/repositories";
import { nasClaimName } from "../../domain/nas";
import { dumpVerifyScript, nasDumpFetchScript, resticDumpFetchScript, rsyncDumpFetchScript } from "../../domain/jobs/drills";
import type { DrillContext, DrillObjects, Step } from "../../domain/drills";
import { drillCronJob, drillSecretName, notificationEnv, storeResticEnv, withNotifications } from "../../domain/drills";
import { BACKUP_MOUNT, JOB_GID, JOB_UID, notifyFor } from "../../domain/jobPods";

type Manifest = Record<string, unknown>;

export function dumpDrill({ config, item, copy, job, maxAgeHours }: DrillContext): DrillObjects {
  const notify = notifyFor(config, item.app, item.name);
  const dir = dumpDirectory(config, item.app);
  const name = drillSecretName(item);
  const values: StoreValue[] = [];
  const template: Record<string, string> = {};
  const mounts: Manifest[] = [];
  const volumes: Manifest[] = [];
  let fetch: Step;

  if (copy.method === "dump") {
    mounts.push({ name: "backup", mountPath: BACKUP_MOUNT, readOnly: true });
    volumes.push({ name: "backup", persistentVolumeClaim: { claimName: nasClaimName(copy.destination), readOnly: true } });
    fetch = { image: dumpEngineOf(item).image(config), script: nasDumpFetchScript({ dir, item: item.name, maxAgeHours }), mounts };
  } else if (copy.method === "dump-restic") {
    const env = storeResticEnv(config, item, copy);
    values.push(...env.values);
    Object.assign(template, env.template);
    fetch = {
      image: config.images.restic,
      script: resticDumpFetchScript({ item: item.name, dir, maxAgeHours }),
      env: [{ name: "RESTIC_CACHE_DIR", value: "/tmp/restic-cache" }],
      secretEnv: true,
    };
  } else {
    const target = config.destinations[copy.destination];
    if (target.kind !== "ssh") throw new Error(`${copy.id}: rsync copies go to ssh destinations`);
    const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
    values.push({ variable: "sshPrivateKey", item: keyItem, field: keyField });
    Object.assign(template, { "ssh-private-key": "{{ .sshPrivateKey }}\n", known_hosts: `${knownHostsLine(target)}\n` });
    volumes.push({
      name: "ssh",
      secret: { secretName: name, defaultMode: 0o400, items: [{ key: "ssh-private-key", path: "key" }, { key: "known_hosts", path: "known_hosts" }] },
    });
    fetch = {
      image: config.images.rsync,
      script: rsyncDumpFetchScript({
        item: item.name,
        user: target.user,
        host: target.host,
        port: target.port,
        remoteDir: `${target.path}/${config.cluster.name}/dumps/${item.app}`,
        maxAgeHours,
      }),
      env: [
        { name: "SSH_KEY_FILE", value: "/ssh/key" },
        { name: "SSH_KNOWN_HOSTS_FILE", value: "/ssh/known_hosts" },
      ],
      mounts: [{ name: "ssh", mountPath: "/ssh", readOnly: true }],
    };
  }

  const secret = withNotifications(config, item, name, values, template);
  const hasSecret = Object.keys(secret.template).length > 0;
  const engine = dumpEngineOf(item);
  const load = engine.drill(config, item);
  return {
    secret: hasSecret ? secret : undefined,
    cronJob: drillCronJob({
      job,
      item,
      config,
      uid: JOB_UID,
      gid: JOB_GID,
      secretName: hasSecret ? name : undefined,
      fetch,
      main: {
        image: engine.image(config),
        script: dumpVerifyScript({ engine: load.engine, item: item.name, notify }),
        // Only notification values: the fetch step's credentials never reach the database image.
        env: notificationEnv(secret, name),
        uid: load.uid,
      },
      volumes,
      deadlineSeconds: load.deadlineSeconds,
    }),
  };
}
