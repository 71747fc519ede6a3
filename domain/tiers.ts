/**
 * The one tier definition. The program's defaults (what gets scheduled and kept) and the policy
 * pack's requirements (what a plan must satisfy) both read from here; nothing else restates them.
 */

export const TIERS = [1, 2, 3] as const;
export type Tier = (typeof TIERS)[number];

/** Grandfather-father-son retention, as restic/Kopia/VolSync count it. */
export interface Retention {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface PgbackrestRetention {
  full: number;
  diff: number;
  archive: number;
  historyDays: number;
}

/** What a plan must satisfy for data of a tier. The policy pack enforces these. */
export interface TierRequirements {
  /** Whether at least one copy must leave the site. */
  offsite: "required" | "optional" | "discouraged";
  /** At least one offsite copy must sit on storage a compromised cluster cannot delete. */
  immutableOffsite: boolean;
  /** Every copy that leaves the site must be encrypted by the backup tool itself. */
  encryptedOffsite: boolean;
  /** Copies besides the live data (3-2-1 means two). */
  minCopies: number;
  /** Worst-case recovery point objective, in hours. */
  maxRpoHours: number;
  /** Minimum retention of the offsite copy. */
  minOffsiteRetention: Retention;
  /** A scheduled restore drill at least this often, in days (0: not required). */
  restoreDrillDays: number;
  /** Days an immutable offsite copy must survive a delete from the cluster. */
  minLockDays: number;
}

/** What the program generates for a tier unless the stack config says otherwise. */
export interface TierDefaults {
  /** Destination kinds a tier's data goes to when the config names none. */
  destinationKinds: ReadonlyArray<"nfs" | "b2" | "r2" | "ssh">;
  schedule: { onsite: string; offsite: string };
  retention: { onsite: Retention; offsite: Retention };
  /** Dump files kept on the NAS share (count-based). */
  dumpKeep: number;
  /** Days B2 keeps replaced and deleted files of a mirror (TrueNAS Cloud Sync) copy. */
  mirrorHistoryDays: number;
  /** pgBackRest repository retention: fulls by count (weekly), diffs, WAL of the newest N fulls, history days. */
  pgbackrest: PgbackrestRetention;
  /** Local snapshots (CSI snapshots of volumes, ZFS snapshots of datasets), per period: fast rollback, not a copy. */
  snapshots: Retention;
  /** Days between automatic restore drills (0: none). */
  restoreDrillDays: number;
  /** Days between integrity checks of each repository holding the tier's data (0: none). */
  verifyDays: number;
}

export interface TierDefinition {
  tier: Tier;
  label: string;
  meaning: string;
  /** Prometheus severity of the tier's backup alerts. */
  alertSeverity: "critical" | "warning" | "info";
  requirements: TierRequirements;
  defaults: TierDefaults;
}

export const TIER_DEFINITIONS: Readonly<Record<Tier, TierDefinition>> = {
  1: {
    tier: 1,
    label: "irreplaceable",
    meaning: "Photos, documents, the password vault: losing it is permanent.",
    alertSeverity: "critical",
    requirements: {
      offsite: "required",
      immutableOffsite: true,
      encryptedOffsite: true,
      minCopies: 2,
      maxRpoHours: 24,
      minOffsiteRetention: { daily: 7, weekly: 4, monthly: 6 },
      restoreDrillDays: 31,
      minLockDays: 7,
    },
    defaults: {
      destinationKinds: ["nfs", "b2", "r2"],
      schedule: { onsite: "hourly", offsite: "daily" },
      retention: { onsite: { hourly: 24, daily: 7 }, offsite: { daily: 14, weekly: 4, monthly: 6 } },
      dumpKeep: 14,
      // Six months of point-in-time history, matching the tier's six monthly recovery points.
      mirrorHistoryDays: 190,
      // The seed's 14 fulls by count cover 14 weeks of weekly fulls; tier 1 keeps 26 so that six
      // monthly recovery points exist, and history to match.
      pgbackrest: { full: 26, diff: 30, archive: 7, historyDays: 190 },
      // Seed 003: critical datasets every 1-4 h, hourly kept 24-72 h, daily 14-30 days.
      snapshots: { hourly: 48, daily: 14 },
      // Seeds 002 and 003: monthly restore drills.
      restoreDrillDays: 31,
      // Seed 004's daily verifier.
      verifyDays: 1,
    },
  },
  2: {
    tier: 2,
    label: "important",
    meaning: "Configuration and dashboards that can be rebuilt, at a cost in time.",
    alertSeverity: "warning",
    requirements: {
      offsite: "optional",
      immutableOffsite: false,
      encryptedOffsite: true,
      minCopies: 1,
      maxRpoHours: 48,
      minOffsiteRetention: {},
      restoreDrillDays: 0,
      minLockDays: 0,
    },
    defaults: {
      destinationKinds: ["nfs"],
      schedule: { onsite: "every 6h", offsite: "daily" },
      retention: { onsite: { hourly: 24, daily: 7 }, offsite: { daily: 14 } },
      dumpKeep: 7,
      mirrorHistoryDays: 30,
      pgbackrest: { full: 14, diff: 30, archive: 7, historyDays: 30 },
      snapshots: { daily: 7 },
      restoreDrillDays: 92,
      verifyDays: 7,
    },
  },
  3: {
    tier: 3,
    label: "replaceable",
    meaning: "Media and caches that can be downloaded again.",
    alertSeverity: "info",
    requirements: {
      offsite: "discouraged",
      immutableOffsite: false,
      encryptedOffsite: false,
      minCopies: 0,
      maxRpoHours: 0,
      minOffsiteRetention: {},
      restoreDrillDays: 0,
      minLockDays: 0,
    },
    defaults: {
      destinationKinds: [],
      schedule: { onsite: "daily", offsite: "weekly" },
      retention: { onsite: { daily: 7 }, offsite: { weekly: 4 } },
      dumpKeep: 3,
      mirrorHistoryDays: 7,
      pgbackrest: { full: 14, diff: 30, archive: 7, historyDays: 30 },
      snapshots: { daily: 3 },
      restoreDrillDays: 0,
      verifyDays: 28,
    },
  },
};

export function tierDefinition(tier: Tier): TierDefinition {
  return TIER_DEFINITIONS[tier];
}

/**
 * Destination kinds and the site they sit on. "local" is not configurable: it stands for
 * snapshots kept beside the data itself (CSI and ZFS snapshots), which roll back mistakes but do
 * not survive the loss of the disks.
 */
/** Copies kept at home (the NAS, local snapshots) and copies kept elsewhere. */
export type Site = "onsite" | "offsite";

/** True when `have` keeps at least as much as `need` in every GFS bucket `need` names. */
export function retentionCovers(have: Retention, need: Retention): boolean {
  return (Object.keys(need) as Array<keyof Retention>).every((bucket) => (have[bucket] ?? 0) >= (need[bucket] ?? 0));
}

export function formatRetention(retention: Retention): string {
  const parts = (["hourly", "daily", "weekly", "monthly", "yearly"] as const)
    .filter((bucket) => (retention[bucket] ?? 0) > 0)
    .map((bucket) => `${retention[bucket]} ${bucket}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

/**
 * The recovery points a pgBackRest repository keeps, as GFS buckets, given one full backup a week
 * and an incremental every day: every day of the retained weeks stays restorable (WAL included
 * for the newest `archive` fulls), one point per week, and a month per four-and-a-bit weeks.
 */
export function mirrorCoverage(historyDays: number): Retention {
  return { daily: historyDays, weekly: Math.floor(historyDays / 7), monthly: Math.floor(historyDays / 30.5) };
}

export function pgbackrestCoverage(retention: PgbackrestRetention): Retention {
  const weeks = retention.full;
  return { daily: weeks * 7, weekly: weeks, monthly: Math.floor((weeks * 7) / 30) };
}
