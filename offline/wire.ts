/**
 * The Pulumi wire form of property values (what the language SDK sends the engine): secrets,
 * unknowns and resource references are tagged objects. These helpers turn it into plain JSON.
 */
import * as pulumi from "@pulumi/pulumi";

const SIG = pulumi.runtime.specialSigKey;
const SECRET = pulumi.runtime.specialSecretSig;
const RESOURCE = pulumi.runtime.specialResourceSig;
const UNKNOWN = pulumi.runtime.unknownValue;

export const SECRET_PLACEHOLDER = "[secret]";
export const UNKNOWN_PLACEHOLDER = "[unknown]";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Secrets become "[secret]" and unknowns "[unknown]": safe to print or write to disk. A secret
 * object keeps its keys (names are not secret) with every value masked, so a Secret's
 * `stringData` still reads as a map.
 */
export function redact(value: unknown): Json {
  return convert(value, true);
}

/** Secrets become their values (for policy evaluation in memory only); unknowns "[unknown]". */
export function reveal(value: unknown): Json {
  return convert(value, false);
}

/** Every secret value found in a wire value, for scanning artifacts. */
export function secretValues(value: unknown, found: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) value.forEach((item) => secretValues(item, found));
  else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SIG] === SECRET) collectLeaves(record.value, found);
    else Object.values(record).forEach((item) => secretValues(item, found));
  }
  return found;
}

function collectLeaves(value: unknown, found: Set<string>): void {
  if (typeof value === "string") found.add(value);
  else if (typeof value === "number") found.add(String(value));
  else if (Array.isArray(value)) value.forEach((item) => collectLeaves(item, found));
  else if (value !== null && typeof value === "object") Object.values(value).forEach((item) => collectLeaves(item, found));
}

function mask(value: unknown): Json {
  if (Array.isArray(value)) return value.map(mask);
  if (value !== null && typeof value === "object" && !(SIG in (value as object))) {
    return Object.fromEntries(Object.keys(value as object).sort().map((key) => [key, mask((value as Record<string, unknown>)[key])]));
  }
  return SECRET_PLACEHOLDER;
}

function convert(value: unknown, hideSecrets: boolean): Json {
  if (value === UNKNOWN) return UNKNOWN_PLACEHOLDER;
  if (value === undefined) return null;
  if (value === null || typeof value !== "object") return value as Json;
  if (Array.isArray(value)) return value.map((item) => convert(item, hideSecrets));
  const record = value as Record<string, unknown>;
  if (record[SIG] === SECRET) return hideSecrets ? mask(record.value) : convert(record.value, hideSecrets);
  if (record[SIG] === RESOURCE) return String(record.urn);
  if (SIG in record) return `[${String(record[SIG])}]`;
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(record).sort()) out[key] = convert(record[key], hideSecrets);
  return out;
}
