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
  /** Where the destination is, for people: its S3 endpoint, "server:/path", "user@host:/path". */
  describe(target: DestinationConfig): string;
  /** Directory layout: "server:" or "host:" in front of the destination's path. */
  directoryRoot?(target: DestinationConfig): string;
  /** Overwritten and deleted objects stay behind as old versions until the bucket's lifecycle expires them. */
  keepsOldVersions?: boolean;
  /** The user's own secret in the store a restore from this destination needs (an SSH key), for the lost-cluster list. */
  userSecret?(name: string, target: DestinationConfig): string;
  /** Bucket layout: the S3 endpoint every tool talks to. */
  s3?(target: DestinationConfig): S3Endpoint;
}

/** How a tool reaches a destination's S3 API. */
export interface S3Endpoint {
  /** https://host, as restic, Kopia mirrors and rclone take it. */
  url: string;
  /** The host alone, as pgBackRest and Kopia take it. */
  host: string;
  /** The region the signatures name ("auto" where the service has none). */
  region: string;
  /** rclone's `provider` for the service. */
  rcloneProvider: string;
}

export function s3Endpoint(url: string, region: string, rcloneProvider: string): S3Endpoint {
  return { url, host: url.replace(/^https:\/\//, ""), region, rcloneProvider };
}

/** The destination's config, narrowed to the plugin's own kind. */
export function ownConfig<K extends DestinationConfig["kind"]>(kind: K, target: DestinationConfig): Extract<DestinationConfig, { kind: K }> {
  if (target.kind !== kind) throw new Error(`a ${kind} destination was given a ${target.kind} destination's config`);
  return target as Extract<DestinationConfig, { kind: K }>;
}

/** Snapshots kept on the live data's own storage: not a destination in the config, but a site in the plan. */
export const LOCAL_DESTINATION: DestinationPlugin = {
  kind: "local",
  site: "onsite",
  layout: "directory",
  defaultPricePerTbMonth: () => 0,
  describe: () => "the live data's own storage",
};
