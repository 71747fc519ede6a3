/**
 * The recovery sheet: for every independent copy, what a person needs to restore it by hand after
 * the cluster is gone: the tool, the repository, and the secret-store fields that open it.
 * Written into BACKUP-PLAN.md so the answer exists before it is needed.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "./model";
import { kopiaIdentity, kopiaRepository, resticRepository } from "./repositories";
import { bucketFields, cnpgOwner, storeItem } from "./secrets";
import { b2S3Endpoint, cnpgClusterName, credentialKindOf, r2S3Endpoint, repositoryPath } from "./storage";
import { dumpDirectory } from "./dumps";

export interface RecoveryRow {
  data: string;
  destination: string;
  tool: string;
  /** Repository, bucket path or directory to restore from. */
  repository: string;
  /** Store item and field of the password or key that decrypts it, when encrypted. */
  password?: string;
  /** Store fields of the bucket credential, when object storage. */
  credential?: string;
  /** One hint on the restore command. */
  how: string;
}

export function recoverySheet(config: StackConfig, plan: BackupPlan): RecoveryRow[] {
  return plan.items.flatMap((item) => item.copies.filter((copy) => copy.independent).map((copy) => row(config, item, copy)));
}

function row(config: StackConfig, item: PlannedItem, copy: PlannedCopy): RecoveryRow {
  const cluster = config.cluster.name;
  const owner = copy.method === "pgbackrest" ? cnpgOwner(cnpgClusterName(config, item)) : item.app;
  const own = storeItem(cluster, owner);
  const kind = credentialKindOf(copy.method);
  const credentialOwner = copy.method === "truenas-cloudsync" ? storeItem(cluster, "truenas") : own;
  const credential = kind && (copy.destinationKind === "b2" || copy.destinationKind === "r2") ? `${credentialOwner}: ${Object.values(bucketFields({ destination: copy.destination, credential: kind })).join(", ")}` : undefined;
  const base = { data: item.id, destination: copy.destination, credential };
  // On the NAS the in-pod mount path means nothing to a person: name the share instead.
  const onNas = copy.destinationKind === "nfs" ? `${copy.location}/${repositoryPath(config, item, copy)}` : undefined;
  switch (copy.method) {
    case "volsync-restic":
      return { ...base, tool: "restic", repository: onNas ?? resticRepository(config, item, copy), password: `${own}: restic-password`, how: "restic restore latest --target <dir>" };
    case "volsync-kopia": {
      const claim = config.apps[item.app].volumes[item.name].claim ?? item.name;
      const identity = kopiaIdentity(item, claim);
      const target = config.destinations[copy.destination];
      const endpoint = target.kind === "b2" ? ` at ${b2S3Endpoint(target.region)}` : target.kind === "r2" ? ` at ${r2S3Endpoint(target.accountId, target.jurisdiction)}` : "";
      return {
        ...base,
        tool: "kopia",
        repository: onNas ?? `${kopiaRepository(config, item, copy)}${endpoint}`,
        password: `${own}: kopia-password`,
        how: `kopia snapshot list ${identity.username}@${identity.hostname}, then kopia restore <id> <dir>`,
      };
    }
    case "pgbackrest": {
      const stanza = cnpgClusterName(config, item);
      return { ...base, tool: "pgBackRest", repository: `${copy.location}/${stanza} (stanza ${stanza})`, password: `${own}: cipher-pass`, how: "a new CNPG Cluster bootstrapped from the plugin's repository, or pgbackrest restore" };
    }
    case "dump":
      return { ...base, tool: "files", repository: `${copy.location}/${item.app}`, how: `newest ${item.name}-<UTC time> file: pg_restore, psql, sqlite3 or redis` };
    case "dump-restic":
      return { ...base, tool: "restic", repository: resticRepository(config, item, copy), password: `${own}: restic-password`, how: `restic restore latest --tag dumps --include ${dumpDirectory(config, item.app)} --target <dir>` };
    case "dump-rsync":
      return { ...base, tool: "files", repository: `${copy.location}/${repositoryPath(config, item, copy)}`, how: "rsync the newest dump back" };
    case "truenas-cloudsync":
      return { ...base, tool: "rclone crypt", repository: `${copy.location}/${item.name}`, password: `${own}: cloudsync-password, cloudsync-salt`, how: "a TrueNAS Cloud Sync PULL task with the same password and salt, or rclone with a crypt remote" };
    case "host-restic":
      return { ...base, tool: "restic", repository: resticRepository(config, item, copy), password: `${own}: restic-password`, how: `restic restore latest --host ${item.name} --target <dir>` };
    default:
      return { ...base, tool: copy.method, repository: copy.location, how: "" };
  }
}
