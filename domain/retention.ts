/** restic's keep policy and its `forget` flags, shared by every job that prunes a repository. */
import type { Retention } from "./tiers";

/** Grandfather-father-son retention plus restic's `last` (the newest N, whatever their age). */
export type KeepPolicy = Retention & { last?: number };

const KEEP_ORDER = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;

/** `restic forget` flags for a keep policy, in a fixed order; zeros are left out. */
export function keepFlags(keep: KeepPolicy): string[] {
  const flags: string[] = [];
  for (const period of KEEP_ORDER) {
    const count = keep[period];
    if (count === undefined || count === 0) continue;
    if (!Number.isInteger(count) || count < 0) throw new Error(`keep.${period}: expected a whole number, got ${count}`);
    flags.push(`--keep-${period}`, String(count));
  }
  if (flags.length === 0) throw new Error("the keep policy keeps nothing: give at least one of last, hourly, daily, weekly, monthly, yearly");
  return flags;
}
