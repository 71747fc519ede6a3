/**
 * npm run plan -- [--config Pulumi.<stack>.yaml] [--out DIR] [--policy-config FILE]
 * Exit codes: 0 plan written, no mandatory violation; 1 mandatory policy violations;
 * 2 invalid input (stack config, policy config, arguments).
 */
import * as pulumi from "@pulumi/pulumi";
import { parseArgs } from "node:util";
import { ConfigError } from "../domain/config/errors";
import { describeMinuteOfWeek } from "../domain/spread";
import { ProgramRunError } from "../offline/engine";
import { PolicyConfigError } from "../offline/policyHarness";
import { planVerdict, readPolicyConfig, runOfflinePlan, writeArtifacts } from "../offline/plan";
import { StackFileError } from "../offline/stackFile";

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string", default: "Pulumi.homelab.yaml" },
        out: { type: "string", default: "out" },
        "policy-config": { type: "string" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    console.error(`plan: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log("usage: npm run plan -- [--config Pulumi.<stack>.yaml] [--out DIR] [--policy-config policies/config/<stack>.json]");
    return 0;
  }
  try {
    const policyConfig = values["policy-config"] ? readPolicyConfig(values["policy-config"]) : undefined;
    const result = await runOfflinePlan({ configFile: values.config!, policyConfig });
    const written = writeArtifacts(result, values.out!);
    const { plan, report } = result;
    const copies = plan.items.flatMap((item) => item.copies);
    const cost = plan.destinations.reduce((sum, destination) => sum + destination.monthlyCost, 0);
    console.log(`homelab-backups offline plan of stack "${result.stack}" (${values.config})`);
    const independent = copies.filter((copy) => copy.independent);
    console.log(
      `  ${plan.apps.length} apps, ${plan.items.length} data items, ${independent.length} independent copies (and ${copies.length - independent.length} local snapshot schedules) to ${plan.destinations.length} destinations`,
    );
    console.log(`  ${result.resources.length} resources, ${result.objects.length} Kubernetes objects`);
    console.log(`  peak job starts in one minute: ${plan.peakStarts} (first at ${describeMinuteOfWeek(plan.peakMinuteOfWeek)})`);
    console.log(`  estimated storage cost: ${cost.toFixed(2)} ${plan.currency}/month`);
    const runbookCount = written.filter((path) => path.includes("/runbooks/")).length;
    console.log(`  wrote ${written.filter((path) => !path.includes("/runbooks/")).join(", ")} and ${runbookCount} runbooks in ${values.out}/runbooks/`);
    const verdict = planVerdict(report);
    for (const line of verdict.lines) console.log(line);
    return verdict.exitCode;
  } catch (error) {
    const userError =
      error instanceof ConfigError ||
      error instanceof StackFileError ||
      error instanceof PolicyConfigError ||
      (error instanceof ProgramRunError && pulumi.RunError.isInstance(error.cause));
    if (userError) {
      const file = error instanceof PolicyConfigError ? (values["policy-config"] ?? "policy pack config") : values.config;
      console.error(`${file}: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(3);
  },
);
