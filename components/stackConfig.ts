/** Reads the `homelab-backups:*` stack config from the Pulumi runtime and validates it. */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../domain/config/errors";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { parseStackConfig } from "../domain/config/parse";
import { plaintextSecretPaths, plaintextSecretProblem } from "../domain/config/plaintextSecrets";
import { PROJECT, SECRET_KEYS, StackConfig } from "../domain/config/schema";

/**
 * Returns the validated config, or throws a RunError (which the CLI prints without a stack trace)
 * naming every bad key path. Runs before any resource is registered.
 */
export function loadStackConfig(): StackConfig {
  const prefix = `${PROJECT}:`;
  const raw: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!key.startsWith(prefix)) continue;
    raw[key.slice(prefix.length)] = parseConfigValue(text);
  }
  const problems: string[] = [];
  for (const key of SECRET_KEYS) {
    if (raw[key] !== undefined && !isSecretConfigKey(`${prefix}${key}`)) {
      problems.push(`${key}: holds plaintext in the stack file; set each value with \`pulumi config set --secret --path '${key}.<destination>.<field>' <value>\``);
    }
  }
  // One secure leaf makes the whole key secret to the runtime: the stack file shows the others.
  if (problems.length === 0) problems.push(...plaintextInStackFile().map(plaintextSecretProblem));
  try {
    if (problems.length > 0) throw new ConfigError(problems);
    return parseStackConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

/** Plaintext leaves under the secret keys of Pulumi.<stack>.yaml, when the program runs beside it. */
function plaintextInStackFile(): string[] {
  const file = join(process.cwd(), `Pulumi.${pulumi.getStack()}.yaml`);
  if (!existsSync(file)) return [];
  let document: unknown;
  try {
    document = parse(readFileSync(file, "utf8"));
  } catch {
    return []; // the CLI has read this file already; if it cannot be parsed here, it was not ours to check
  }
  const config = ((document ?? {}) as { config?: Record<string, unknown> }).config ?? {};
  const project = Object.fromEntries(
    Object.entries(config).flatMap(([key, value]) => (key.startsWith(`${PROJECT}:`) ? [[key.slice(PROJECT.length + 1), value]] : key.includes(":") ? [] : [[key, value]])),
  );
  return plaintextSecretPaths(project);
}

/** Object values arrive JSON-encoded; plain strings arrive as they are. */
function parseConfigValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The SDK's isConfigSecret is exported at runtime but not declared in its typings; without it
 * (an older SDK) the plaintext check is skipped rather than guessed.
 */
function isSecretConfigKey(key: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
  return runtime.isConfigSecret ? runtime.isConfigSecret(key) : true;
}
