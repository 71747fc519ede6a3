/** restic's keep policy and its `forget` flags, shared by every job that prunes a repository. */
import type { CopyRetention } from "./model";
import { formatRetention, Retention } from "./tiers";

/**
 * Grandfather-father-son retention plus restic's `last` (the newest N, whatever their age) and
 * `withinDays` (every snapshot of the last N days: copies in a bucket whose lock forbids deleting
 * younger files must never try).
 */
export type KeepPolicy = Retention & { last?: number; withinDays?: number };

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
  if (keep.withinDays !== undefined && keep.withinDays > 0) {
    if (!Number.isInteger(keep.withinDays)) throw new Error(`keep.withinDays: expected a whole number, got ${keep.withinDays}`);
    flags.push("--keep-within", `${keep.withinDays}d`);
  }
  return flags;
}

/** A copy's retention in words, for the backup plan and the runbooks. */
export function describeCopyRetention(retention: CopyRetention): string {
  switch (retention.kind) {
    case "gfs":
      return `${formatRetention(retention)}${retention.withinDays ? `, and every snapshot of the last ${retention.withinDays} days (bucket lock)` : ""}`;
    case "count":
      return `the newest ${retention.keepLast}`;
    case "pgbackrest":
      return `${retention.full} full, ${retention.diff} diff, WAL of the ${retention.archive} newest fulls, ${retention.historyDays} days of history`;
    case "mirror":
      return retention.historyDays > 0 ? `mirror; replaced or deleted files kept ${retention.historyDays} days` : "mirror of the present state";
  }
}
