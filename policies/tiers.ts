/** Tier rules: what each tier's data must have, with defaults from domain/tiers.ts. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { describeData, protectedData, stackFile, tiersConfigSchema, tiersWhere } from "./support";

export const offsiteCopyRequired: ResourceValidationPolicy = {
  name: "offsite-copy-required",
  description: "Data of the configured tiers (default: tier 1) has at least one copy that leaves the site.",
  enforcementLevel: "mandatory",
  severity: "critical",
  configSchema: tiersConfigSchema(
    tiersWhere((requirements) => requirements.offsite === "required"),
    "must have an offsite copy",
  ),
  validateResource: (args, reportViolation) => {
    const data = protectedData(args.type, args.props);
    if (!data) return args.notApplicable("not a data-protecting component");
    const { tiers } = args.getConfig<{ tiers: number[] }>();
    if (!tiers.includes(data.tier)) return args.notApplicable(`tier ${data.tier} is not required to go offsite`);
    if (data.copies.some((copy) => copy.site === "offsite")) return;
    const onsite = data.copies.filter((copy) => copy.independent).map((copy) => copy.destination);
    const skipped = data.skipped.map((skip) => ` ${skip.destination} cannot take it: ${skip.reason}.`).join("");
    reportViolation(
      `${describeData(data)} has no offsite copy` +
        (onsite.length > 0 ? ` (its copies go to ${onsite.join(", ")} only).` : " (it has no copies at all).") +
        skipped +
        ` In ${stackFile()}, add a b2, r2 or ssh destination to ${data.configPath}.destinations or tiers.${data.tier}.destinations.`,
    );
  },
};

export const tierPolicies = [offsiteCopyRequired];
