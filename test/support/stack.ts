/** Test fixtures: the example stack, mutable copies of it, and runs of the program on them. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { parseStackConfig } from "../../domain/config/parse";
import { PROJECT, StackConfig } from "../../domain/config/schema";
import { runProgram, ProgramRun } from "../../offline/engine";
import { readStackFile } from "../../offline/stackFile";
import program = require("../..");

export const EXAMPLE_STACK = join(__dirname, "..", "..", "Pulumi.homelab.yaml");

/** The example stack's project config (secure values replaced by placeholders), a fresh copy each call. */
export function exampleConfig(): Record<string, unknown> {
  return structuredClone(readStackFile(EXAMPLE_STACK).projectConfig) as Record<string, unknown>;
}

export function exampleStackConfig(): StackConfig {
  return parseStackConfig(exampleConfig());
}

/** Applies `edit` to a copy of the example config. */
export function editedConfig(edit: (config: ExampleConfig) => void): Record<string, unknown> {
  const config = exampleConfig() as ExampleConfig;
  edit(config);
  return config;
}

// The example config as loosely typed JSON that tests may edit freely.
// `any` on purpose: tests edit arbitrary paths of the YAML to build broken configs.
export type ExampleConfig = Record<string, any>;

/**
 * Writes a project config as a Pulumi stack file and returns its path. Credentials are written as
 * `secure:` values (opaque ciphertext stand-ins; the offline plan never decrypts) unless
 * `secure: false`.
 */
export function writeStackFile(config: Record<string, unknown>, stack = "test", options = { secure: true }): string {
  const dir = mkdtempSync(join(tmpdir(), "homelab-backups-"));
  const path = join(dir, `Pulumi.${stack}.yaml`);
  const entries = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [`${PROJECT}:${key}`, key === "credentials" && options.secure ? secureLeaves(value) : value]),
  );
  writeFileSync(path, stringify({ config: entries }));
  return path;
}

function secureLeaves(value: unknown): unknown {
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, secureLeaves(inner)]));
  }
  return { secure: `v1:dGVzdA==:${Buffer.from(String(value)).toString("base64")}` };
}

/** Runs index.ts under the capturing mock engine with the given project config. */
export async function runExample(config: Record<string, unknown> = exampleConfig(), stack = "homelab"): Promise<ProgramRun> {
  const pulumiConfig: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    pulumiConfig[`${PROJECT}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return runProgram(program, { project: PROJECT, stack, config: pulumiConfig, secretKeys: [`${PROJECT}:credentials`] });
}
