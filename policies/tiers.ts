/**
 * Tier rules: what each tier's data must have, with defaults from domain/tiers.ts. They are stack
 * policies because a copy only counts once the resources behind it are followed to where they
 * write (see graph.ts): a declared copy whose resource is missing, or points elsewhere, does not.
 */
import { StackValidationPolicy } from "@pulumi/policy";
import { formatRetention, Retention, retentionCovers, Tier, TIER_DEFINITIONS } from "../domain/tiers";
import { LABELS, labelValue } from "../domain/naming";
import { maxGapHours } from "../domain/schedule";
import { HOST_DRILL_MARKER } from "../domain/machines";
import { isUnder, labelsOf, retentionOf, rpoOf, TYPES, verified } from "./graph";
import { configHint, describeCopy, describeData, forEachData, perTier, perTierProperty, stackFile, tiersConfigSchema, tiersWhere } from "./support";

// `any`: resource outputs are walked by field name.
type Json = Record<string, any>;

const OFFSITE_FIX = "add a b2, r2 or ssh destination to";

export const offsiteCopyRequired: StackValidationPolicy = {
  name: "offsite-copy-required",
  description: "Data of the configured tiers (default: tier 1) has at least one copy that leaves the site, made by a resource that really writes there.",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.offsite === "required"), "must have an offsite copy"),
  validateStack: (args, report) => {
    const { tiers } = args.getConfig<{ tiers: number[] }>();
    forEachData(args, report, tiers, ({ data }, copies, _graph, violation) => {
      if (copies.some((copy) => verified(copy) && copy.site === "offsite")) return;
      const unfollowed = copies.filter((copy) => copy.declared.site === "offsite" && !verified(copy)).map((copy) => ` Its copy to ${describeCopy(copy)} does not count: ${copy.problem}.`);
      const onsite = copies.filter((copy) => copy.declared.independent).map((copy) => copy.declared.destination);
      const skipped = data.skipped.map((skip) => ` ${skip.destination} cannot take it: ${skip.reason}.`).join("");
      violation(
        `${describeData(data)} has no offsite copy` +
          (onsite.length > 0 ? ` (its copies go to ${[...new Set(onsite)].join(", ")} only).` : " (it has no copies at all).") +
          unfollowed.join("") +
          skipped +
          ` In ${stackFile()}, ${OFFSITE_FIX} ${data.configPath}.destinations or tiers.${data.tier}.destinations.`,
      );
    });
  },
};

export const immutableOffsiteRequired: StackValidationPolicy = {
  name: "immutable-offsite-required",
  description: "Data of the configured tiers (default: tier 1) has an offsite copy a compromised cluster cannot delete within the lock window.",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.immutableOffsite), "must have an immutable offsite copy", {
    minLockDays: { type: "number", minimum: 1, default: TIER_DEFINITIONS[1].requirements.minLockDays, description: "Days a written object must survive a delete from the cluster" },
  }),
  validateStack: (args, report) => {
    const { tiers, minLockDays } = args.getConfig<{ tiers: number[]; minLockDays: number }>();
    forEachData(args, report, tiers, ({ data }, copies, graph, violation) => {
      const reasons: string[] = [];
      for (const copy of copies.filter((c) => verified(c) && c.site === "offsite")) {
        if (!copy.bucket) {
          reasons.push(`${describeCopy(copy)} goes to an SSH destination, which cannot be locked`);
          continue;
        }
        const lock = graph.immutability(copy.bucket, copy.pathInBucket ?? "");
        if (lock.immutable && lock.lockDays >= minLockDays) return;
        reasons.push(`${describeCopy(copy)}: ${lock.immutable ? `locked only ${lock.lockDays} days` : lock.reason}`);
      }
      violation(
        `${describeData(data)} has no immutable offsite copy${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}. ` +
          `In ${stackFile()}, send it to a b2 or r2 destination with immutable: true (the default) and lockDays of at least ${minLockDays}.`,
      );
    });
  },
};

export const encryptedOffsiteRequired: StackValidationPolicy = {
  name: "encrypted-offsite-required",
  description: "Every copy of the configured tiers' data (default: tiers 1 and 2) that leaves the site is encrypted by the backup tool.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.encryptedOffsite), "must be encrypted before it leaves the site"),
  validateStack: (args, report) => {
    const { tiers } = args.getConfig<{ tiers: number[] }>();
    forEachData(args, report, tiers, ({ data }, copies, _graph, violation) => {
      for (const copy of copies.filter((c) => verified(c) && c.site === "offsite" && !c.encrypted)) {
        violation(
          `${describeData(data)} leaves the site unencrypted: its copy to ${describeCopy(copy)} stores plain files the provider can read. ` +
            `In ${stackFile()}, send it to a b2 or r2 destination instead (restic, Kopia and pgBackRest encrypt): ${configHint(data, "destinations")}.`,
        );
      }
    });
  },
};

export const threeTwoOneCopies: StackValidationPolicy = {
  name: "three-two-one-copies",
  description: "Data has at least the tier's number of independent copies besides the live data (tier 1: two, the 2 of 3-2-1; tier 2: one). Local snapshots do not count.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.minCopies > 0), "must have enough copies", {
    minCopies: perTierProperty(perTier((r) => r.minCopies), "Independent copies required per tier"),
  }),
  validateStack: (args, report) => {
    const { tiers, minCopies } = args.getConfig<{ tiers: number[]; minCopies: Record<string, number> }>();
    forEachData(args, report, tiers, ({ data }, copies, _graph, violation) => {
      const need = minCopies[String(data.tier)] ?? 0;
      const counted = copies.filter((copy) => verified(copy) && copy.declared.independent);
      const destinations = new Set(counted.map((copy) => copy.declared.destination));
      if (destinations.size >= need) return;
      violation(
        `${describeData(data)} has ${destinations.size} independent ${destinations.size === 1 ? "copy" : "copies"}${destinations.size > 0 ? ` (${[...destinations].join(", ")})` : ""}; tier ${data.tier} needs ${need}. ` +
          `In ${stackFile()}, add destinations to ${configHint(data, "destinations")}.`,
      );
    });
  },
};

export const rpoWithinTarget: StackValidationPolicy = {
  name: "rpo-within-target",
  description: "The newest recovery point of the configured tiers' data (default: tiers 1 and 2) is never older than the tier's RPO (tier 1: 24 h, tier 2: 48 h) or the data's own target.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.maxRpoHours > 0), "must meet an RPO", {
    maxRpoHours: perTierProperty(perTier((r) => r.maxRpoHours), "Worst-case RPO per tier, hours", 0.01),
  }),
  validateStack: (args, report) => {
    const { tiers, maxRpoHours } = args.getConfig<{ tiers: number[]; maxRpoHours: Record<string, number> }>();
    forEachData(args, report, tiers, ({ data }, copies, graph, violation) => {
      const targets = [maxRpoHours[String(data.tier)], data.rpoTargetHours > 0 ? data.rpoTargetHours : undefined].filter((t): t is number => t !== undefined);
      if (targets.length === 0) return;
      const target = Math.min(...targets);
      const rpos = copies.filter((copy) => verified(copy) && copy.declared.independent).map((copy) => rpoOf(graph, copy)).filter((h): h is number => h !== undefined);
      const best = rpos.length > 0 ? Math.min(...rpos) : Infinity;
      if (best <= target) return;
      violation(
        `${describeData(data)} can lose ${Number.isFinite(best) ? `up to ${best} hours` : "everything (no scheduled copy)"} of changes; its target is ${target} hours. ` +
          `In ${stackFile()}, schedule a copy at least that often: ${configHint(data, "schedule")}.`,
      );
    });
  },
};

const TIER1_RETENTION = TIER_DEFINITIONS[1].requirements.minOffsiteRetention;
const retentionSchema = {
  type: "object" as const,
  properties: { daily: { type: "integer" as const, minimum: 0 }, weekly: { type: "integer" as const, minimum: 0 }, monthly: { type: "integer" as const, minimum: 0 } },
  additionalProperties: false,
  default: TIER1_RETENTION,
  description: "Recovery points at least one offsite copy keeps",
};

export const offsiteRetentionMinimum: StackValidationPolicy = {
  name: "offsite-retention-minimum",
  description: "An offsite copy of the configured tiers' data (default: tier 1) keeps at least 7 daily, 4 weekly and 6 monthly recovery points.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: tiersConfigSchema(tiersWhere((r) => Object.keys(r.minOffsiteRetention).length > 0), "must keep offsite history", { minimum: retentionSchema }),
  validateStack: (args, report) => {
    const { tiers, minimum } = args.getConfig<{ tiers: number[]; minimum: Retention }>();
    forEachData(args, report, tiers, ({ data }, copies, graph, violation) => {
      const kept: string[] = [];
      for (const copy of copies.filter((c) => verified(c) && c.site === "offsite")) {
        const retention = retentionOf(graph, copy);
        if (retention && retentionCovers(retention, minimum)) return;
        kept.push(`${describeCopy(copy)} keeps ${retention ? formatRetention(retention) : "an unknown history"}`);
      }
      violation(
        `${describeData(data)} has no offsite copy keeping ${formatRetention(minimum)}${kept.length > 0 ? ` (${kept.join("; ")})` : ""}. ` +
          `In ${stackFile()}, raise ${configHint(data, "retention.offsite")}.`,
      );
    });
  },
};

export const restoreDrillScheduled: StackValidationPolicy = {
  name: "restore-drill-scheduled",
  description: "Data of the configured tiers (default: tier 1) has a scheduled restore drill at least as often as the tier asks (tier 1: every 31 days).",
  enforcementLevel: "mandatory",
  severity: "medium",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.restoreDrillDays > 0), "must be restored in a drill", {
    maxDaysBetween: perTierProperty(perTier((r) => r.restoreDrillDays), "Longest time between two drills per tier, days", 1),
  }),
  validateStack: (args, report) => {
    const { tiers, maxDaysBetween } = args.getConfig<{ tiers: number[]; maxDaysBetween: Record<string, number> }>();
    forEachData(args, report, tiers, (node, _copies, graph, violation) => {
      const { data } = node;
      const limit = maxDaysBetween[String(data.tier)];
      if (limit === undefined) return;
      // In the cluster: a CronJob labelled as this data's drill; on a host: a drill command of its component.
      const schedules: Array<{ name: string; cron?: string }> = [
        ...graph
          .labelled(TYPES.cronJob, LABELS.data, data.dataId)
          .filter((cj) => labelsOf(cj)[LABELS.drill] === labelValue("true") && (cj.props as Json).spec?.suspend !== true)
          .map((cj) => ({ name: String((cj.props as Json).metadata?.name), cron: (cj.props as Json).spec?.schedule as string | undefined })),
        ...(data.kind !== "host" ? [] : graph.of(TYPES.command))
          .filter((command) => isUnder(command, node.resource) && String((command.props as Json).create ?? "").includes(HOST_DRILL_MARKER))
          .map((command) => ({ name: command.name, cron: /^# drill schedule: (.+)$/m.exec(String((command.props as Json).create ?? ""))?.[1] })),
      ];
      const gaps = schedules.map((s) => (s.cron ? maxGapHours(s.cron) / 24 : Infinity));
      const best = gaps.length > 0 ? Math.min(...gaps) : Infinity;
      if (best <= limit) return;
      violation(
        schedules.length === 0
          ? `${describeData(data)} has no scheduled restore drill; tier ${data.tier} needs one at least every ${limit} days. In ${stackFile()}, set tiers.${data.tier}.restoreDrillDays (it must not be 0).`
          : `${describeData(data)} is drilled only every ${Math.ceil(best)} days (${schedules.map((s) => s.name).join(", ")}); tier ${data.tier} needs at least every ${limit} days. In ${stackFile()}, lower tiers.${data.tier}.restoreDrillDays.`,
      );
    });
  },
};

export const tier3OffsiteCost: StackValidationPolicy = {
  name: "tier3-offsite-cost",
  description: "Replaceable data (default: tier 3) sent offsite costs storage every month: an advisory, not an error.",
  enforcementLevel: "advisory",
  severity: "low",
  configSchema: tiersConfigSchema(tiersWhere((r) => r.offsite === "discouraged"), "should stay on site"),
  validateStack: (args, report) => {
    const { tiers } = args.getConfig<{ tiers: number[] }>();
    forEachData(args, report, tiers, ({ data }, copies, _graph, violation) => {
      const offsite = copies.filter((copy) => verified(copy) && copy.site === "offsite");
      if (offsite.length === 0) return;
      violation(
        `${describeData(data)} is replaceable but goes offsite to ${offsite.map(describeCopy).join(", ")}, which is paid storage. ` +
          `If it can be downloaded again, remove the offsite destinations from ${configHint(data, "destinations")}; if not, raise its tier.`,
      );
    });
  },
};

export const tierPolicies = [
  offsiteCopyRequired,
  immutableOffsiteRequired,
  encryptedOffsiteRequired,
  threeTwoOneCopies,
  rpoWithinTarget,
  offsiteRetentionMinimum,
  restoreDrillScheduled,
  tier3OffsiteCost,
];

/** The tiers each tier rule applies to by default, for the README table. */
export const DEFAULT_TIERS: Record<string, Tier[]> = Object.fromEntries(
  tierPolicies.map((policy) => [policy.name, ((policy.configSchema?.properties.tiers?.default as Tier[] | undefined) ?? [])]),
);
