/**
 * Reads a Pulumi stack settings file (Pulumi.<stack>.yaml) the way the CLI hands it to a program:
 * one config entry per "namespace:key", objects JSON-encoded, keys holding `secure:` values listed
 * as secret. Secure values are never decrypted offline: each becomes a placeholder string that
 * names its key path, so an artifact that leaks one is easy to spot.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { plaintextSecretPaths } from "../domain/config/plaintextSecrets";
import { PROJECT } from "../domain/config/schema";

export interface StackFile {
  /** Full config keys to the string values the Pulumi runtime expects. */
  pulumiConfig: Record<string, string>;
  secretKeys: string[];
  /** The project's own keys, without the namespace, as plain values (for validation). */
  projectConfig: Record<string, unknown>;
  /** The placeholders standing in for secure values. */
  placeholders: string[];
  /** Paths of plaintext values under keys that must hold only secrets (credentials). */
  plaintextSecrets: string[];
}

export class StackFileError extends Error {}

export function readStackFile(path: string): StackFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new StackFileError(`cannot read stack file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseStackFile(text, path);
}

export function parseStackFile(text: string, path = "stack file"): StackFile {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new StackFileError(`${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new StackFileError(`${path} must be a YAML mapping with a "config:" section`);
  }
  const config = (document as Record<string, unknown>).config ?? {};
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new StackFileError(`${path}: "config" must be a mapping of "namespace:key" entries`);
  }

  const pulumiConfig: Record<string, string> = {};
  const secretKeys: string[] = [];
  const projectConfig: Record<string, unknown> = {};
  const placeholders: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const fullKey = key.includes(":") ? key : `${PROJECT}:${key}`;
    let secret = false;
    const plain = replaceSecure(value, fullKey, () => (secret = true), placeholders);
    pulumiConfig[fullKey] = typeof plain === "string" ? plain : JSON.stringify(plain);
    if (secret) secretKeys.push(fullKey);
    if (fullKey.startsWith(`${PROJECT}:`)) {
      projectConfig[fullKey.slice(PROJECT.length + 1)] = plain;
      raw[fullKey.slice(PROJECT.length + 1)] = value;
    }
  }
  return { pulumiConfig, secretKeys, projectConfig, placeholders, plaintextSecrets: plaintextSecretPaths(raw) };
}

function replaceSecure(value: unknown, path: string, markSecret: () => void, placeholders: string[]): unknown {
  if (Array.isArray(value)) return value.map((item, index) => replaceSecure(item, `${path}[${index}]`, markSecret, placeholders));
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === "secure" && typeof record.secure === "string") {
    markSecret();
    const placeholder = `offline-placeholder-for-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
    placeholders.push(placeholder);
    return placeholder;
  }
  return Object.fromEntries(keys.map((key) => [key, replaceSecure(record[key], `${path}.${key}`, markSecret, placeholders)]));
}
