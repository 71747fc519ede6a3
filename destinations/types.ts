/**
 * What the program asks of a kind of destination. Free of Pulumi: the planner and the policy pack
 * read these; the destination's component (components/storage) provisions its buckets and keys.
 */
import type { StackConfig } from "../domain/config/schema";
import type { Site } from "../domain/tiers";

export type DestinationConfig = StackConfig["destinations"][string];
export type PricingConfig = StackConfig["pricing"];

export interface DestinationPlugin {
  kind: string;
  site: Site;
  /** Copies live in buckets the stack creates, or in directories under a path the destination names. */
  layout: "bucket" | "directory";
  /** Price per TB-month when the destination names none. */
  defaultPricePerTbMonth(pricing: PricingConfig): number;
  /**
   * How a locked bucket stops a delete: "hide" keeps the deleted file as a hidden version (B2: the
   * consumer's key cannot delete versions), "refuse" rejects deleting a file younger than the lock
   * (R2 bucket locks): tools that delete old snapshots themselves must keep the locked ones.
   */
  lockedDelete?: "hide" | "refuse";
  /** Directory layout: "server:" or "host:" in front of the destination's path. */
  directoryRoot?(target: DestinationConfig): string;
}

/** Snapshots kept on the live data's own storage: not a destination in the config, but a site in the plan. */
export const LOCAL_DESTINATION: DestinationPlugin = {
  kind: "local",
  site: "onsite",
  layout: "directory",
  defaultPricePerTbMonth: () => 0,
};
