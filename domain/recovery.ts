/**
 * The recovery sheet: for every independent copy, what a person needs to restore it by hand after
 * the cluster is gone: the tool, the repository, and the secret-store fields that open it.
 * Written into BACKUP-PLAN.md so the answer exists before it is needed.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "./model";
import { bucketFields, storeItem } from "./secrets";
import { repositoryPath } from "./storage";
import { copyStoreOwners, methodOf } from "../methods/registry";
import { destinationPlugin } from "../destinations/registry";

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
  const method = methodOf(copy.method);
  const owners = copyStoreOwners(config, item, method);
  const own = storeItem(cluster, owners.passwords);
  const storage = method.storage;
  const credentialOwner = storeItem(cluster, owners.credential);
  const credential =
    storage && destinationPlugin(copy.destinationKind).layout === "bucket"
      ? `${credentialOwner}: ${Object.values(bucketFields({ destination: copy.destination, credential: storage.credential })).join(", ")}`
      : undefined;
  const passwords = method.secrets?.passwords ?? [];
  // On the NAS the in-pod mount path means nothing to a person: name the share instead.
  const onNas = copy.destinationKind === "nfs" ? `${copy.location}/${repositoryPath(config, item, copy)}` : undefined;
  const entry = method.recovery?.({ config, item, copy, onNas }) ?? { tool: copy.method, repository: copy.location, how: "" };
  return {
    data: item.id,
    destination: copy.destination,
    credential,
    tool: entry.tool,
    repository: entry.repository,
    ...(passwords.length > 0 ? { password: `${own}: ${passwords.join(", ")}` } : {}),
    how: entry.how,
  };
}
