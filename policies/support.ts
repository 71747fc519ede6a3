/** Helpers shared by the policy modules: reading what our components declare, config schemas, wording. */
import * as pulumi from "@pulumi/pulumi";
import type { PolicyConfigSchema, ReportViolation, StackValidationArgs } from "@pulumi/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import type { ProtectedData } from "../domain/protection";
import { Tier, TIER_DEFINITIONS, TIERS, TierRequirements } from "../domain/tiers";
import { DATA_COMPONENT_TYPES } from "../domain/types";
import { BackupGraph, CopyEvidence, DataNode } from "./graph";

/** The declaration of a data-protecting component, or undefined for any other resource. */
export function protectedData(type: string, props: unknown): ProtectedData | undefined {
  if (!DATA_COMPONENT_TYPES.includes(type) || props === null || typeof props !== "object") return undefined;
  return props as ProtectedData;
}

/** Tiers whose requirement satisfies `predicate`: the default of a rule's `tiers` config. */
export function tiersWhere(predicate: (requirements: TierRequirements) => boolean): Tier[] {
  return TIERS.filter((tier) => predicate(TIER_DEFINITIONS[tier].requirements));
}

/** Per-tier values of a requirement, for tiers where it applies: the default of a rule's per-tier config. */
export function perTier(pick: (requirements: TierRequirements) => number): Partial<Record<`${Tier}`, number>> {
  return Object.fromEntries(TIERS.filter((tier) => pick(TIER_DEFINITIONS[tier].requirements) > 0).map((tier) => [String(tier), pick(TIER_DEFINITIONS[tier].requirements)]));
}

function tiersProperty(defaults: Tier[], what: string): PolicyConfigJSONSchema {
  return { type: "array", items: { type: "integer", enum: [...TIERS] }, default: defaults, description: `Tiers whose data ${what}` };
}

/** The config schema of a rule that applies to a set of tiers, with extra settings. */
export function tiersConfigSchema(defaults: Tier[], what: string, extra: Record<string, PolicyConfigJSONSchema> = {}): PolicyConfigSchema {
  return { properties: { tiers: tiersProperty(defaults, what), ...extra } };
}

/** A per-tier number setting: an object with keys "1", "2", "3". */
export function perTierProperty(defaults: Partial<Record<string, number>>, description: string, minimum = 0): PolicyConfigJSONSchema {
  const number: PolicyConfigJSONSchema = { type: "number", minimum };
  return { type: "object", properties: { "1": number, "2": number, "3": number }, additionalProperties: false, default: defaults, description };
}

/** Set by the offline plan, whose --config file need not be named Pulumi.<stack>.yaml. */
export const STACK_FILE_ENV = "HOMELAB_BACKUPS_STACK_FILE";

/** The stack settings file a user edits to fix a violation. */
export function stackFile(): string {
  return process.env[STACK_FILE_ENV] || `Pulumi.${pulumi.getStack()}.yaml`;
}

export function describeData(data: ProtectedData): string {
  const kind = { volume: "volume", cnpg: "CNPG cluster", postgres: "Postgres database", sqlite: "SQLite file", redis: "Redis", dataset: "TrueNAS dataset", host: "host" }[data.kind];
  return `Tier ${data.tier} ${kind} ${data.dataId} (app ${data.app})`;
}

export function describeCopy(evidence: CopyEvidence): string {
  return `${evidence.declared.destination} (${evidence.declared.method})`;
}

/**
 * Runs `check` on every protected data item of the configured tiers with its followed copies;
 * the stack is not applicable when no such data exists.
 */
export function forEachData(
  args: StackValidationArgs,
  report: ReportViolation,
  tiers: readonly number[],
  check: (node: DataNode, copies: CopyEvidence[], graph: BackupGraph, violation: (message: string) => void) => void,
): void {
  const graph = new BackupGraph(args.resources);
  const nodes = graph.data.filter((node) => tiers.includes(node.data.tier));
  if (nodes.length === 0) args.notApplicable(`no data of tier ${tiers.join(" or ")} in this stack`);
  for (const node of nodes) check(node, graph.copiesOf(node), graph, (message) => report(message, node.resource.urn));
}

/** Where in the stack file a fix goes: the data's own key and the tier's. */
export function configHint(data: ProtectedData, key: string): string {
  return `${data.configPath}.${key} or tiers.${data.tier}.${key}`;
}
