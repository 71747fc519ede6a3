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
import type { BackupPlan } from "./model";
import { kubeName } from "./naming";
import { BucketConsumer, bucketConsumers } from "./storage";
import { compareText } from "./compare";
import { methodOf, methodStorage } from "../methods/registry";

export type PasswordName = "restic-password" | "kopia-password" | "cipher-pass" | "cloudsync-password" | "cloudsync-salt";

/**
 * Passwords that encrypt data at rest with no way to re-key it: a new value needs a new
 * repository (pgBackRest stanza, rclone crypt remote), so rotating one is refused.
 */
export const UNROTATABLE_PASSWORDS: readonly PasswordName[] = ["cipher-pass", "cloudsync-password", "cloudsync-salt"];

/** One generation of a generated password: the resource that holds it and the store field it fills. */
export interface PasswordGeneration {
  /** Pulumi resource name; generation 0 keeps the original name so a first rotation replaces nothing. */
  resourceName: string;
  /** The rotation counter it was generated for. */
  generation: number;
  /** Store field: the password's name for the active generation, "<name>-previous" for the one before. */
  field: string;
}

/**
 * The generations of a repository password to keep for a rotation counter: the active one and,
 * after a rotation, the one before it, so the repository stays readable until the tool's own
 * key change (`restic key add`, `kopia repository change-password`) has been run.
 */
export function passwordGenerations(owner: string, password: PasswordName, rotation: number): PasswordGeneration[] {
  const resourceName = (generation: number) => `${owner}-${password}${generation > 0 ? `-r${generation}` : ""}`;
  const active = { resourceName: resourceName(rotation), generation: rotation, field: password };
  if (rotation === 0) return [active];
  return [active, { resourceName: resourceName(rotation - 1), generation: rotation - 1, field: `${password}-previous` }];
}

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
  const ownerFor = (id: string, itemNamespace: string) => {
    // Data outside the cluster (datasets, hosts) has no namespace: its credentials belong to the system namespace.
    const namespace = itemNamespace || config.cluster.systemNamespace;
    let owner = owners.get(id);
    if (!owner) owners.set(id, (owner = { id, item: storeItem(config.cluster.name, id), namespace, passwords: [], bucketCredentials: [] }));
    return owner;
  };
  const addPassword = (owner: SecretOwner, password: PasswordName) => {
    if (!owner.passwords.includes(password)) owner.passwords.push(password);
  };
  for (const item of plan.items) {
    for (const copy of item.copies) {
      const secrets = methodOf(copy.method).secrets;
      if (!secrets) continue;
      const owner = ownerFor(secrets.owner?.(config, item) ?? item.app, item.namespace);
      for (const password of secrets.passwords) addPassword(owner, password);
    }
  }
  for (const consumer of bucketConsumers(config, plan)) {
    const id = methodStorage(consumer.credential)?.secretOwner?.(consumer.owner) ?? consumer.owner;
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
