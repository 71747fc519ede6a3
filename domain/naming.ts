/** Names for Kubernetes objects and buckets: valid, deterministic and collision-resistant. */
import { createHash } from "node:crypto";

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_LABEL_HELP = "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

export function shortHash(text: string, length = 6): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/**
 * Joins parts into a DNS-1123 label of at most `max` characters. When the joined name is too
 * long it is cut and suffixed with a hash of the full name, so distinct inputs stay distinct.
 */
export function kubeName(parts: readonly string[], max = 63): string {
  const joined = parts
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  if (joined.length <= max) return joined;
  const suffix = shortHash(joined, 8);
  return `${joined.slice(0, max - suffix.length - 1).replace(/-+$/, "")}-${suffix}`;
}

/**
 * Bucket names: B2 names are global across all Backblaze accounts, so the name carries a hash of
 * the account, cluster and destination; R2 names are per account. Both allow 3-63 characters of
 * lowercase letters, digits and '-'; B2 forbids the "b2-" prefix.
 */
export function bucketName(args: { prefix: string; purpose: string; uniqueness: string }): string {
  const suffix = shortHash(args.uniqueness, 6);
  return kubeName([args.prefix, args.purpose, suffix]);
}

/** Labels every leaf resource carries so that policies and people can trace it to its data. */
export const LABEL_PREFIX = "homelab-backups.dev";
export const LABELS = {
  app: `${LABEL_PREFIX}/app`,
  tier: `${LABEL_PREFIX}/tier`,
  data: `${LABEL_PREFIX}/data`,
  destination: `${LABEL_PREFIX}/destination`,
  /** "true" on restore drill CronJobs and their pods. */
  drill: `${LABEL_PREFIX}/restore-drill`,
  /** "true" on repository verification CronJobs and their pods. */
  verify: `${LABEL_PREFIX}/verify`,
  /** "true" on the CronJobs that write a volume's restore-drill canary, and their pods. */
  canary: `${LABEL_PREFIX}/canary`,
  managedBy: "app.kubernetes.io/managed-by",
} as const;

/** Label values are at most 63 characters of [A-Za-z0-9._-]. */
export function labelValue(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, ".").replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  if (cleaned.length <= 63) return cleaned;
  return `${cleaned.slice(0, 54)}.${shortHash(cleaned, 8)}`;
}
