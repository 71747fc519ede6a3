/**
 * Validates Kubernetes objects against their real schemas: custom resources against the CRDs in
 * ../shared/crds (HOMELAB_CRDS_DIR overrides the path), core kinds against the Kubernetes
 * OpenAPI schema bundled in kubernetes-models, PrometheusRules against the prometheus-operator
 * schema bundled in @kubernetes-models/prometheus-operator. CRD schemas are made strict the way the API
 * server's strict field validation is: an unknown field is an error unless the schema preserves
 * unknown fields.
 */
import Ajv, { ValidateFunction } from "ajv";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export const CRDS_DIR = resolve(process.env.HOMELAB_CRDS_DIR ?? join(__dirname, "..", "..", "..", "shared", "crds"));

interface CrdSchema {
  /** Folder the CRD came from, e.g. "volsync" or "volsync-kopia". */
  source: string;
  validate: ValidateFunction;
  /** The same schema without `required`: for partial objects applied as server-side apply patches. */
  validatePatch: ValidateFunction;
}

/** Objects carrying this annotation are server-side apply patches (see domain/cnpg.ts). */
const PATCH_ANNOTATION = "homelab-backups.dev/server-side-apply-patch";

type JsonObject = Record<string, unknown>;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** API groups whose models live outside kubernetes-models (CRDs of operators not in ../shared/crds). */
const MODEL_PACKAGES: Record<string, string> = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator" };

let crdIndex: Map<string, CrdSchema[]> | undefined;

/** "group/version/Kind" -> schemas, one per CRD source folder that defines it. */
export function crdSchemas(): Map<string, CrdSchema[]> {
  if (crdIndex) return crdIndex;
  if (!existsSync(CRDS_DIR)) throw new Error(`CRD schemas not found at ${CRDS_DIR}; set HOMELAB_CRDS_DIR`);
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  crdIndex = new Map();
  for (const source of readdirSync(CRDS_DIR, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
    for (const file of readdirSync(join(CRDS_DIR, source.name)).filter((name) => name.endsWith(".yaml"))) {
      for (const document of parseAllDocuments(readFileSync(join(CRDS_DIR, source.name, file), "utf8"))) {
        const crd = document.toJS() as { kind?: string; spec?: { group: string; names: { kind: string }; versions: Array<{ name: string; schema?: { openAPIV3Schema: JsonObject } }> } };
        if (crd?.kind !== "CustomResourceDefinition" || !crd.spec) continue;
        for (const version of crd.spec.versions) {
          if (!version.schema) continue;
          const key = `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`;
          const schema = strict(structuredClone(version.schema.openAPIV3Schema));
          const list = crdIndex.get(key) ?? [];
          list.push({ source: source.name, validate: ajv.compile(schema), validatePatch: ajv.compile(withoutRequired(structuredClone(schema))) });
          crdIndex.set(key, list);
        }
      }
    }
  }
  return crdIndex;
}

function withoutRequired(schema: JsonObject): JsonObject {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    delete (node as JsonObject).required;
    Object.values(node as JsonObject).forEach(visit);
  };
  visit(schema);
  return schema;
}

/** Unknown fields are errors unless the schema says to keep them, as with strict field validation. */
function strict(schema: JsonObject): JsonObject {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    const object = node as JsonObject;
    const preserves = object["x-kubernetes-preserve-unknown-fields"] === true;
    if (object.properties && object.additionalProperties === undefined && !preserves) object.additionalProperties = false;
    for (const [key, value] of Object.entries(object)) {
      // metadata is validated separately; CRDs leave it open.
      if (key === "properties" && value && typeof value === "object") {
        for (const [name, property] of Object.entries(value as JsonObject)) if (name !== "metadata") visit(property);
      } else if (key !== "properties") visit(value);
    }
  };
  visit(schema);
  return schema;
}

/**
 * Which CRD source an object must satisfy: VolSync objects using Kopia need the fork's CRDs,
 * everything else the upstream ones. Both define volsync.backube/v1alpha1.
 */
function preferredSource(object: JsonObject, candidates: CrdSchema[]): CrdSchema {
  const spec = (object.spec ?? {}) as JsonObject;
  const wantsFork = "kopia" in spec || object.kind === "KopiaMaintenance";
  const match = candidates.find((candidate) => (wantsFork ? candidate.source.endsWith("kopia") : !candidate.source.endsWith("kopia")));
  return match ?? candidates[0];
}

export interface SchemaResult {
  object: string;
  schema: string;
  errors: string[];
}

export async function validateObject(object: JsonObject): Promise<SchemaResult> {
  const apiVersion = String(object.apiVersion);
  const kind = String(object.kind);
  const metadata = (object.metadata ?? {}) as JsonObject;
  const label = `${apiVersion} ${kind} ${metadata.namespace ? `${metadata.namespace}/` : ""}${metadata.name}`;
  const errors = metadataErrors(metadata);
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const candidates = crdSchemas().get(`${group}/${version}/${kind}`);
  if (candidates) {
    const chosen = preferredSource(object, candidates);
    const patch = ((metadata.annotations ?? {}) as JsonObject)[PATCH_ANNOTATION] === "true";
    const validate = patch ? chosen.validatePatch : chosen.validate;
    if (!validate(object)) errors.push(...(validate.errors ?? []).map((error) => `${error.instancePath || "/"} ${error.message}${error.params && "additionalProperty" in error.params ? ` "${String(error.params.additionalProperty)}"` : ""}`));
    return { object: label, schema: `CRD from ${chosen.source}${patch ? " (as a patch)" : ""}`, errors };
  }
  const modulePath = group === "" ? `kubernetes-models/${version}` : `${MODEL_PACKAGES[group] ?? "kubernetes-models"}/${group}/${version}`;
  let models: Record<string, new (data: JsonObject) => { validate(): void }>;
  try {
    models = await import(modulePath);
  } catch {
    return { object: label, schema: "none", errors: [`no schema known for ${apiVersion} ${kind}`] };
  }
  const Model = models[kind];
  if (!Model) return { object: label, schema: "none", errors: [`no schema known for ${apiVersion} ${kind}`] };
  try {
    new Model(object).validate();
  } catch (error) {
    errors.push((error as Error).message);
  }
  return { object: label, schema: `Kubernetes OpenAPI (${modulePath})`, errors };
}

function metadataErrors(metadata: JsonObject): string[] {
  const errors: string[] = [];
  const name = metadata.name;
  if (typeof name !== "string" || name.length > 253 || !DNS_SUBDOMAIN.test(name)) errors.push(`metadata.name ${JSON.stringify(name)} is not a DNS subdomain`);
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(metadata.namespace) || metadata.namespace.length > 63)) {
    errors.push(`metadata.namespace ${JSON.stringify(metadata.namespace)} is not a DNS label`);
  }
  for (const [key, value] of Object.entries((metadata.labels ?? {}) as JsonObject)) {
    if (!LABEL_KEY.test(key) || key.split("/").pop()!.length > 63) errors.push(`label key ${JSON.stringify(key)} is not valid`);
    if (typeof value !== "string" || value.length > 63 || !LABEL_VALUE.test(value)) errors.push(`label ${key} value ${JSON.stringify(value)} is not valid`);
  }
  return errors;
}
