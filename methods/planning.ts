/** Planning helpers every method shares: the tier's settings as the stack config overrides them. */
import type { StackConfig } from "../domain/config/schema";
import { compareText } from "../domain/compare";
import type { CopyRetention } from "../domain/model";
import { quantityBytes } from "../domain/quantity";
import { Site, Tier, TIER_DEFINITIONS } from "../domain/tiers";
import type { ItemDraft } from "./types";

type TierOverrides = NonNullable<StackConfig["tiers"]["1"]>;

/** The stack's overrides of one tier's defaults, if any. */
export function tierOverrides(config: StackConfig, tier: Tier): Partial<TierOverrides> {
  return config.tiers[String(tier) as "1" | "2" | "3"] ?? {};
}

/** Grandfather-father-son retention: the owner's, else the tier's override, else the tier's default. */
export function gfsRetention(config: StackConfig, item: ItemDraft, site: Site): CopyRetention {
  const tier = item.owner.tier;
  const gfs = item.owner.retention?.[site] ?? tierOverrides(config, tier).retention?.[site] ?? TIER_DEFINITIONS[tier].defaults.retention[site];
  return { kind: "gfs", ...gfs };
}

/** How many dumps a dump directory keeps. */
export function dumpRetention(config: StackConfig, item: ItemDraft): CopyRetention {
  const tier = item.owner.tier;
  return { kind: "count", keepLast: tierOverrides(config, tier).dumpKeep ?? TIER_DEFINITIONS[tier].defaults.dumpKeep };
}

/** Expected size in bytes, from a Kubernetes quantity. */
export const expectedBytes = (expected: string | undefined, fallback = "1Gi") => quantityBytes(expected ?? fallback);

export function sortedEntries<T>(record: Record<string, T>): Array<[string, T]> {
  return Object.entries(record).sort(([a], [b]) => compareText(a, b));
}
