/** Helpers shared by the policy modules: reading what our components declare, and wording. */
import * as pulumi from "@pulumi/pulumi";
import type { PolicyConfigSchema } from "@pulumi/policy";
import type { ProtectedData } from "../domain/protection";
import { Tier, TIER_DEFINITIONS, TIERS, TierRequirements } from "../domain/tiers";
import { DATA_COMPONENT_TYPES } from "../domain/types";

/** The declaration of a data-protecting component, or undefined for any other resource. */
export function protectedData(type: string, props: unknown): ProtectedData | undefined {
  if (!DATA_COMPONENT_TYPES.includes(type) || props === null || typeof props !== "object") return undefined;
  return props as ProtectedData;
}

/** Tiers whose requirement satisfies `predicate`: the default of a rule's `tiers` config. */
export function tiersWhere(predicate: (requirements: TierRequirements) => boolean): Tier[] {
  return TIERS.filter((tier) => predicate(TIER_DEFINITIONS[tier].requirements));
}

/** The config schema of a rule that applies to a set of tiers. */
export function tiersConfigSchema(defaults: Tier[], what: string): PolicyConfigSchema {
  return {
    properties: {
      tiers: {
        type: "array",
        items: { type: "integer", enum: [...TIERS] },
        default: defaults,
        description: `Tiers whose data ${what}`,
      },
    },
  };
}

export function stackFile(): string {
  return `Pulumi.${pulumi.getStack()}.yaml`;
}

export function describeData(data: ProtectedData): string {
  const kind = { volume: "volume", cnpg: "CNPG cluster", postgres: "Postgres database", sqlite: "SQLite file", redis: "Redis", dataset: "TrueNAS dataset", host: "host" }[data.kind];
  return `Tier ${data.tier} ${kind} ${data.dataId} (app ${data.app})`;
}
