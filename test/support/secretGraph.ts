/**
 * Reading the credential graph out of a run: which Secrets consumers reference, which store
 * fields ExternalSecrets read and PushSecrets write, and where secret values sit in wire form.
 */
import type { Json } from "../../offline/wire";
import type { KubernetesObject } from "../../offline/render";

/** pulumi.runtime.specialSigKey and specialSecretSig: how the wire form tags a secret. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_TAG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecret(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] === SECRET_TAG;
}

/** True when every leaf of `value` is inside a secret wrapper (the whole value, or field by field). */
export function everyLeafSecret(value: unknown): boolean {
  if (isSecret(value)) return true;
  if (Array.isArray(value)) return value.length > 0 && value.every(everyLeafSecret);
  if (value !== null && typeof value === "object") {
    const entries = Object.values(value);
    return entries.length > 0 && entries.every(everyLeafSecret);
  }
  return false;
}

/** Every string (and number, as text) of a wire value that is NOT inside a secret wrapper. */
export function plainLeaves(value: unknown, found: string[] = []): string[] {
  if (isSecret(value)) return found;
  if (typeof value === "string") found.push(value);
  else if (typeof value === "number") found.push(String(value));
  else if (Array.isArray(value)) value.forEach((item) => plainLeaves(item, found));
  else if (value !== null && typeof value === "object") Object.values(value).forEach((item) => plainLeaves(item, found));
  return found;
}

/** One place an object names a Secret it reads. */
export interface SecretReference {
  /** "<kind> <namespace>/<name>" of the referencing object. */
  from: string;
  kind: string;
  namespace: string;
  /** JSON-ish path of the reference inside the object. */
  path: string;
  secret: string;
  /** Keys of that Secret the reference reads, when it names them. */
  keys: string[];
}

/** Keys whose string value is the name of a Secret (VolSync movers name their Secret "repository"). */
const NAME_KEYS = /^(repository|rcloneConfig|sshKeys)$|secret(name)?$/i;
/** Ancestor keys under which a {name, key?} object is a reference to a Secret. */
const SECRET_CONTEXT = /secret|pass|credential|token/i;

/**
 * Every Secret reference in the objects, found by shape rather than by kind so that a new consumer
 * kind is covered without touching this walker: string values of keys like `secretName`,
 * `existingSecret` and VolSync's `repository`, and `{name, key?}` objects below a key mentioning
 * secret, pass, credential or token (`secretRef`, `secretKeyRef`, `encryptionPass`, projected
 * `secret`, `imagePullSecrets`). The External Secrets objects themselves, and Secrets, are skipped:
 * they are the source of consumers' Secrets, not consumers.
 */
export function secretReferences(objects: readonly KubernetesObject[]): SecretReference[] {
  const references: SecretReference[] = [];
  for (const object of objects) {
    if (object.apiVersion.startsWith("external-secrets.io/") || object.kind === "Secret") continue;
    const namespace = object.metadata.namespace ?? "";
    const from = `${object.kind} ${namespace}/${object.metadata.name ?? ""}`;
    const add = (path: string, secret: string, keys: string[]) => references.push({ from, kind: object.kind, namespace, path, secret, keys });
    const walk = (value: Json | undefined, path: string, inSecretContext: boolean, parentKey: string): void => {
      if (Array.isArray(value)) {
        value.forEach((item, index) => walk(item, `${path}[${index}]`, inSecretContext, parentKey));
        return;
      }
      if (value === null || typeof value !== "object") return;
      if (inSecretContext && typeof value.name === "string") {
        add(path, value.name, typeof value.key === "string" ? [value.key] : itemKeys(value.items));
        return;
      }
      for (const [key, inner] of Object.entries(value)) {
        if (typeof inner === "string" && NAME_KEYS.test(key) && !/image/i.test(parentKey) && !/key$/i.test(key)) {
          add(`${path}.${key}`, inner, itemKeys(value.items));
        } else {
          walk(inner, `${path}.${key}`, inSecretContext || SECRET_CONTEXT.test(key), key);
        }
      }
    };
    for (const [key, value] of Object.entries(object)) {
      if (key !== "apiVersion" && key !== "kind" && key !== "metadata") walk(value as Json, key, false, key);
    }
  }
  return references;
}

function itemKeys(items: Json | undefined): string[] {
  if (!Array.isArray(items)) return [];
  return items.flatMap((item) => (item !== null && typeof item === "object" && !Array.isArray(item) && typeof item.key === "string" ? [item.key] : []));
}

/** One store field an ExternalSecret reads, in provider-neutral form. */
export interface StoreRef {
  item: string;
  field: string;
  /** The remoteRef as written. */
  remoteRef: { key: string; property?: string };
}

interface RemoteRefEntry {
  secretKey: string;
  remoteRef: { key: string; property?: string };
}

export function externalSecretData(object: KubernetesObject): RemoteRefEntry[] {
  const spec = object.spec as unknown as { data?: RemoteRefEntry[] };
  return spec.data ?? [];
}

/** The store fields an ExternalSecret reads: "<item>/<field>" keys, or key + property. */
export function storeRefs(object: KubernetesObject): StoreRef[] {
  return externalSecretData(object).map(({ remoteRef }) => {
    if (remoteRef.property !== undefined) return { item: remoteRef.key, field: remoteRef.property, remoteRef };
    const slash = remoteRef.key.indexOf("/");
    return { item: remoteRef.key.slice(0, slash), field: remoteRef.key.slice(slash + 1), remoteRef };
  });
}

interface PushData {
  match: { secretKey: string; remoteRef: { remoteKey: string; property?: string } };
}

/** The store fields a PushSecret writes, with the Secret key each comes from. */
export function pushedFields(object: KubernetesObject): Array<{ secretKey: string; item: string; field: string }> {
  const spec = object.spec as unknown as { data: PushData[] };
  return spec.data.map(({ match }) => ({ secretKey: match.secretKey, item: match.remoteRef.remoteKey, field: match.remoteRef.property ?? "" }));
}

export function templateKeys(object: KubernetesObject): string[] {
  const spec = object.spec as unknown as { target: { template?: { data?: Record<string, string> } } };
  return Object.keys(spec.target.template?.data ?? {});
}

export function targetName(object: KubernetesObject): string {
  return (object.spec as unknown as { target: { name: string } }).target.name;
}
