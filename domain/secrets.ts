/**
 * Where every generated credential lives and who receives it.
 *
 * Source of truth outside the cluster: one secret-store item per owner (an app, or a CNPG
 * cluster), named `homelab-backups-<cluster>-<owner>`, with one field per credential. Pulumi
 * generates the values, writes them to a Secret in the locked-down system namespace, and a
 * PushSecret copies them into the store. Consumers receive them only through ExternalSecrets
 * that read the store by these deterministic names, so a rebuilt cluster finds the same values.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan } from "./plan";
import { kubeName } from "./naming";
import { BucketConsumer, bucketConsumers, cnpgClusterName } from "./storage";
import { compareText } from "./compare";

export type PasswordName = "restic-password" | "kopia-password" | "cipher-pass";

export interface SecretOwner {
  /** The app name, or "pg-<cluster>" for a CloudNativePG cluster. */
  id: string;
  /** Secret-store item holding the owner's credentials. */
  item: string;
  /** Namespace its consumers run in. */
  namespace: string;
  passwords: PasswordName[];
  bucketCredentials: BucketConsumer[];
}

export function storeItem(cluster: string, owner: string): string {
  return `homelab-backups-${cluster}-${owner}`;
}

export function cnpgOwner(cluster: string): string {
  return kubeName(["pg", cluster]);
}

/** Store fields of one bucket credential: "<destination>-<credential>-access-key-id" and "...-secret-access-key". */
export function bucketFields(consumer: Pick<BucketConsumer, "destination" | "credential">): { accessKeyId: string; secretAccessKey: string } {
  const base = `${consumer.destination}-${consumer.credential}`;
  return { accessKeyId: `${base}-access-key-id`, secretAccessKey: `${base}-secret-access-key` };
}

/** Rotation id of a bucket credential ("<owner>/<destination>-<credential>") or password ("<owner>/<password>"). */
export function rotationId(owner: string, credential: string): string {
  return `${owner}/${credential}`;
}

export type StoreProvider = StackConfig["secretStore"]["provider"];

/** How an ExternalSecret or PushSecret addresses one field of an item, per store provider. */
export function remoteRef(provider: StoreProvider, item: string, field: string): { key: string; property?: string } {
  // 1Password SDK keys are "<item>/<field>"; the kubernetes provider reads key=<Secret>, property=<key>.
  return provider === "onepassword-sdk" ? { key: `${item}/${field}` } : { key: item, property: field };
}

/** Every owner of generated credentials, in a stable order. */
export function secretOwners(config: StackConfig, plan: BackupPlan): SecretOwner[] {
  const owners = new Map<string, SecretOwner>();
  const ownerFor = (id: string, namespace: string) => {
    let owner = owners.get(id);
    if (!owner) owners.set(id, (owner = { id, item: storeItem(config.cluster.name, id), namespace, passwords: [], bucketCredentials: [] }));
    return owner;
  };
  const addPassword = (owner: SecretOwner, password: PasswordName) => {
    if (!owner.passwords.includes(password)) owner.passwords.push(password);
  };
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.method === "pgbackrest") addPassword(ownerFor(cnpgOwner(cnpgClusterName(config, item)), item.namespace), "cipher-pass");
      else if (copy.method === "volsync-kopia") addPassword(ownerFor(item.app, item.namespace), "kopia-password");
      else if (copy.method === "volsync-restic" || copy.method === "dump-restic") addPassword(ownerFor(item.app, item.namespace), "restic-password");
    }
  }
  for (const consumer of bucketConsumers(config, plan)) {
    const id = consumer.credential === "pgbackrest" ? cnpgOwner(consumer.owner) : consumer.owner;
    ownerFor(id, consumer.namespace).bucketCredentials.push(consumer);
  }
  for (const owner of owners.values()) owner.passwords.sort();
  return [...owners.values()].sort((a, b) => compareText(a.id, b.id));
}

/** The rotation ids a stack has, for validating `rotations` and for the docs. */
export function rotationIds(owners: readonly SecretOwner[]): string[] {
  return owners.flatMap((owner) => [
    ...owner.passwords.map((password) => rotationId(owner.id, password)),
    ...owner.bucketCredentials.map((consumer) => rotationId(owner.id, `${consumer.destination}-${consumer.credential}`)),
  ]);
}
