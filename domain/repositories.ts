/**
 * The repository each copy writes to, and the exact Secret its tool reads: restic and the Kopia
 * fork through VolSync, restic and rsync in dump jobs. Values that are secret come from the store
 * (template variables); everything else is written into the template as plain text.
 */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy, PlannedItem } from "./model";
import { kubeName } from "./naming";
import { bucketFields, cnpgOwner, remoteRef, storeItem, StoreProvider } from "./secrets";
import { cnpgClusterName, repositoryPath } from "./storage";
import type { S3Endpoint } from "../destinations/types";
import { destinationPlugin, isObjectStorage } from "../destinations/registry";

/** Where movers mount the NAS share (VolSync moverVolumes paths live under /mnt). */
export const NAS_MOUNT = "/mnt/repository";

/** One value the ExternalSecret fetches from the store: a template variable bound to an item field. */
export interface StoreValue {
  variable: string;
  item: string;
  field: string;
}

/** What a consumer's Secret must contain: template text per key, and the store values it uses. */
export interface SecretRecipe {
  name: string;
  namespace: string;
  template: Record<string, string>;
  values: StoreValue[];
}

/** The S3 endpoint of an object-storage destination. */
export function s3Endpoint(config: StackConfig, destination: string): S3Endpoint {
  const target = config.destinations[destination];
  const s3 = destinationPlugin(target.kind).s3;
  if (!s3) throw new Error(`${destination} is not object storage`);
  return s3(target);
}

/** The NAS directory of a purpose ("volsync", "kopia", "dumps") below the share, per cluster. */
export function nasDirectory(config: StackConfig, purpose: string): string {
  return `${NAS_MOUNT}/${config.cluster.name}/${purpose}`;
}

/** restic repository URL of a volume or dump copy. */
export function resticRepository(config: StackConfig, item: PlannedItem, copy: PlannedCopy): string {
  const path = repositoryPath(config, item, copy);
  if (copy.destinationKind === "nfs") return `${nasDirectory(config, "volsync")}/${path}`;
  return `s3:${s3Endpoint(config, copy.destination).url}/${copy.location}/${path}`;
}

/** Kopia repository URL of a volume copy (one repository per app and destination). */
export function kopiaRepository(config: StackConfig, item: PlannedItem, copy: PlannedCopy): string {
  const path = repositoryPath(config, item, copy);
  const target = config.destinations[copy.destination];
  if (target.kind === "nfs") return `filesystem://${nasDirectory(config, "kopia")}/${path}`;
  if (target.kind === "ssh") return `sftp://${target.user}@${target.host}:${target.port}${target.path}/${config.cluster.name}/kopia/${path}`;
  return `s3://${copy.location}/${path}/`;
}

/** The Kopia identity of a volume: set explicitly, identically, on every source and destination. */
export function kopiaIdentity(item: PlannedItem, claim: string): { username: string; hostname: string } {
  return { username: kubeName([claim], 63), hostname: kubeName([item.namespace], 63) };
}

/** The Secret a VolSync mover reads for one copy of one volume. */
export function moverSecretRecipe(config: StackConfig, item: PlannedItem, copy: PlannedCopy): SecretRecipe {
  const item_ = storeItem(config.cluster.name, item.app);
  const name = kubeName(["hb", item.app, item.name, copy.destination]);
  const values: StoreValue[] = [];
  const template: Record<string, string> = {};
  const fetch = (variable: string, field: string) => {
    values.push({ variable, item: item_, field });
    return `{{ .${variable} }}`;
  };
  const target = config.destinations[copy.destination];
  if (copy.method === "volsync-restic") {
    template.RESTIC_REPOSITORY = resticRepository(config, item, copy);
    template.RESTIC_PASSWORD = fetch("resticPassword", "restic-password");
  } else {
    template.KOPIA_REPOSITORY = kopiaRepository(config, item, copy);
    template.KOPIA_PASSWORD = fetch("kopiaPassword", "kopia-password");
  }
  if (isObjectStorage(target.kind)) {
    const fields = bucketFields({ destination: copy.destination, credential: copy.method === "volsync-kopia" ? "kopia" : "volsync" });
    const endpoint = s3Endpoint(config, copy.destination);
    template.AWS_ACCESS_KEY_ID = fetch("accessKeyId", fields.accessKeyId);
    template.AWS_SECRET_ACCESS_KEY = fetch("secretAccessKey", fields.secretAccessKey);
    template.AWS_DEFAULT_REGION = endpoint.region;
    if (copy.method === "volsync-kopia") {
      template.AWS_REGION = endpoint.region;
      template.KOPIA_S3_BUCKET = copy.location;
      template.KOPIA_S3_ENDPOINT = endpoint.url.replace(/^https:\/\//, "");
    }
  } else if (target.kind === "ssh") {
    // The Kopia fork reads the key and known_hosts as contents, not paths.
    template.SFTP_HOST = target.host;
    template.SFTP_PORT = String(target.port);
    template.SFTP_USERNAME = target.user;
    template.SFTP_PATH = `${target.path}/${config.cluster.name}/kopia/${repositoryPath(config, item, copy)}`;
    template.SFTP_KNOWN_HOSTS_DATA = knownHostsLine(target);
    const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
    values.push({ variable: "sshPrivateKey", item: keyItem, field: keyField });
    template.SFTP_KEY_FILE = "{{ .sshPrivateKey }}";
  }
  return { name, namespace: item.namespace, template, values };
}

/**
 * Who may read a copy's repository files: on a NAS restic and Kopia write them readable by their
 * writer only, so jobs that open a VolSync copy there (drills, verifications) run as the mover
 * did, the volume's uid/gid (the app's Kopia volumes share one, checked in the config). Object
 * storage does not care: undefined.
 */
export function nasRepositoryOwner(config: StackConfig, item: PlannedItem, copy: PlannedCopy): { uid: number; gid: number } | undefined {
  if (copy.destinationKind !== "nfs" || (copy.method !== "volsync-restic" && copy.method !== "volsync-kopia")) return undefined;
  const volume = config.apps[item.app]?.volumes[item.name];
  return volume ? { uid: volume.uid, gid: volume.gid } : undefined;
}

/** known_hosts line pinning an SSH destination's host key. */
export function knownHostsLine(target: { host: string; port: number; hostKey: string }): string {
  const host = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return `${host} ${target.hostKey}`;
}

/** The store reference of an SSH destination's client key: "<item>/<field>". */
export function sshKeyRef(destination: string, privateKeyRef: string | undefined): [string, string] {
  const ref = privateKeyRef ?? `${destination}/ssh-private-key`;
  const slash = ref.indexOf("/");
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

/** The Secret a CNPG cluster's pgBackRest plugin reads: keys and cipher pass for every repo. */
export function pgbackrestSecretRecipe(config: StackConfig, item: PlannedItem): SecretRecipe {
  const cluster = cnpgClusterName(config, item);
  const owner = cnpgOwner(cluster);
  const item_ = storeItem(config.cluster.name, owner);
  const values: StoreValue[] = [{ variable: "cipherPass", item: item_, field: "cipher-pass" }];
  const template: Record<string, string> = { "cipher-pass": "{{ .cipherPass }}" };
  for (const copy of item.copies.filter((c) => c.method === "pgbackrest")) {
    const fields = bucketFields({ destination: copy.destination, credential: "pgbackrest" });
    const variable = copy.destination.replace(/[^A-Za-z0-9]/g, "_");
    values.push({ variable: `${variable}_id`, item: item_, field: fields.accessKeyId });
    values.push({ variable: `${variable}_secret`, item: item_, field: fields.secretAccessKey });
    template[`${copy.destination}-access-key-id`] = `{{ .${variable}_id }}`;
    template[`${copy.destination}-secret-access-key`] = `{{ .${variable}_secret }}`;
  }
  return { name: kubeName(["hb", owner]), namespace: item.namespace, template, values };
}

/** The ExternalSecret manifest that builds a recipe's Secret from the store. */
export function externalSecretManifest(
  recipe: SecretRecipe,
  store: { kind: string; name: string; provider: StoreProvider; refreshInterval: string },
  labels: Record<string, string>,
): Record<string, unknown> {
  return {
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name: recipe.name, namespace: recipe.namespace, labels },
    spec: {
      refreshInterval: store.refreshInterval,
      secretStoreRef: { kind: store.kind, name: store.name },
      target: {
        name: recipe.name,
        // Owner: the ExternalSecret owns the Secret, so Kubernetes garbage-collects the Secret when
        // the ExternalSecret is deleted. Retain concerns the store side only: when the store items
        // are gone, the Secret keeps its last values instead of being deleted.
        creationPolicy: "Owner",
        deletionPolicy: "Retain",
        template: { engineVersion: "v2", type: "Opaque", metadata: { labels }, data: recipe.template },
      },
      data: recipe.values.map((value) => ({ secretKey: value.variable, remoteRef: remoteRef(store.provider, value.item, value.field) })),
    },
  };
}

/** Where a repository URL (restic or Kopia, as this module writes them) points. */
export type RepositoryLocation =
  | { kind: "s3"; bucket: string; path: string }
  | { kind: "filesystem"; path: string }
  | { kind: "sftp"; host: string; path: string };

/**
 * The inverse of resticRepository / kopiaRepository, for policies that follow a mover's Secret to
 * its bucket: `s3:https://<endpoint>/<bucket>/<path>`, `s3://<bucket>/<path>/`, `filesystem://<path>`,
 * `sftp://<user>@<host>:<port><path>` or a plain absolute path (restic on a mounted share).
 */
export function repositoryLocation(url: string): RepositoryLocation | undefined {
  const resticS3 = /^s3:https?:\/\/[^/]+\/([^/]+)\/?(.*)$/.exec(url);
  if (resticS3) return { kind: "s3", bucket: resticS3[1], path: resticS3[2].replace(/\/$/, "") };
  const kopiaS3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (kopiaS3) return { kind: "s3", bucket: kopiaS3[1], path: kopiaS3[2].replace(/\/$/, "") };
  if (url.startsWith("filesystem://")) return { kind: "filesystem", path: url.slice("filesystem://".length) };
  const sftp = /^sftp:\/\/(?:[^@/]+@)?([^:/]+)(?::\d+)?(\/.*)$/.exec(url);
  if (sftp) return { kind: "sftp", host: sftp[1], path: sftp[2] };
  if (url.startsWith("/")) return { kind: "filesystem", path: url };
  return undefined;
}
