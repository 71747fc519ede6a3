/**
 * When restore drills run and which copy they restore from. A drill restores the newest backup of
 * one copy into scratch space and proves it usable; it prefers an offsite copy, because that is
 * the one a lost site has to come back from. Drills run outside the nightly backup window, on a
 * day derived from the data's id, so a month's drills do not all start together.
 */
import { createHash } from "node:crypto";
import type { PlannedCopy } from "./model";
import { methodOf } from "../methods/registry";

/** Files a volume, dataset or host drill restores: enough to catch a broken restore, small enough for scratch. */
export const DRILL_SAMPLE_FILES = 20;
/** Share of the repository's data a drill reads back and checks. */
export const DRILL_READ_PERCENT = 5;

/** The copy a drill restores from: the first offsite one, else the first on-site one. */
export function drillCopy(copies: readonly PlannedCopy[]): PlannedCopy | undefined {
  const candidates = copies.filter((copy) => copy.independent && methodOf(copy.method).drillable);
  return candidates.find((copy) => copy.site === "offsite") ?? candidates[0];
}

export type DrillCadence = "daily" | "weekly" | "monthly" | "quarterly" | "yearly";

/**
 * The least frequent calendar cadence whose longest gap is still within `days`: weekly below 31
 * days, monthly (gaps up to 31 days) from 31, quarterly (up to 92) from 92, yearly from 366.
 */
export function drillCadence(days: number): DrillCadence {
  if (days >= 366) return "yearly";
  if (days >= 92) return "quarterly";
  if (days >= 31) return "monthly";
  if (days >= 7) return "weekly";
  return "daily";
}

/**
 * A five-field cron (local time) for a drill every `days` days at most: in the six hours after the
 * backup window, minute, weekday and day of month hashed from the id (days 1-28 exist every month).
 */
export function drillCron(id: string, days: number, window: { startHour: number; hours: number }): string {
  const hash = createHash("sha256").update(`drill:${id}`).digest();
  const minute = hash[0] % 60;
  const hour = (window.startHour + window.hours + (hash[1] % 6)) % 24;
  const dayOfMonth = 1 + (hash[2] % 28);
  switch (drillCadence(days)) {
    case "daily":
      return `${minute} ${hour} * * *`;
    case "weekly":
      return `${minute} ${hour} * * ${hash[3] % 7}`;
    case "monthly":
      return `${minute} ${hour} ${dayOfMonth} * *`;
    case "quarterly": {
      const first = 1 + (hash[4] % 3);
      return `${minute} ${hour} ${dayOfMonth} ${[first, first + 3, first + 6, first + 9].join(",")} *`;
    }
    case "yearly":
      return `${minute} ${hour} ${dayOfMonth} ${1 + (hash[4] % 12)} *`;
  }
}

/**
 * How old the newest backup may be when a drill finds it: two intervals between backups (for
 * pgBackRest, between base backups, not WAL) plus two hours of run time. Older means backups stopped, which a drill must report even if the restore works.
 */
export function drillMaxAgeHours(backupIntervalHours: number): number {
  return Math.ceil(backupIntervalHours * 2) + 2;
}
