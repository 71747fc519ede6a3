import * as pulumi from "@pulumi/pulumi";
/**
 * The offline plan: runs the real program (index.ts) on a stack file under the capturing mock
 * engine, evaluates the policy pack on what it registered, and renders the artifacts.
 */
import { machineTasks } from "../domain/machines";
import { kopiaMirrorPlanSection, kopiaMirrors } from "../methods/volsync-kopia/mirror";
import { recoverySheet } from "../domain/recovery";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ConfigError } from "../domain/config/errors";
import { parseStackConfig } from "../domain/config/parse";
import { plaintextSecretProblem } from "../domain/config/plaintextSecrets";
import { PROJECT, StackConfig } from "../domain/config/schema";
import { planBackups } from "../domain/plan";
import type { BackupPlan } from "../domain/model";
import { RUNBOOK_DIR } from "../domain/runbookLinks";
import { runbooks } from "../domain/runbooks";
import { PACK_NAME, policies } from "../policies/registry";
import { STACK_FILE_ENV } from "../policies/support";
import { runProgram, CapturedResource } from "./engine";
import { evaluatePolicies, PolicyConfigError, PolicyPackConfig, PolicyReport } from "./policyHarness";
import { kubernetesObjects, KubernetesObject, renderBackupPlan, renderManifests, resourceRecords, ResourceRecord } from "./render";
import { readStackFile } from "./stackFile";
import program = require("..");

export interface PlanOptions {
  /** Path of a Pulumi.<stack>.yaml file. */
  configFile: string;
  /** Pack config (the --policy-pack-config file's content). */
  policyConfig?: PolicyPackConfig;
  /** Stack transformations, standing in for a change to the program (tests only). */
  transformations?: pulumi.ResourceTransformation[];
}

export const CORE_ARTIFACTS = ["manifests.yaml", "resources.json", "BACKUP-PLAN.md", "policy-report.json"] as const;
type CoreArtifact = (typeof CORE_ARTIFACTS)[number];

/** The generated runbooks, by path relative to a plan's output directory ("runbooks/<app>.md"). */
export function runbookArtifacts(config: StackConfig, plan: BackupPlan): Record<string, string> {
  return Object.fromEntries(Object.entries(runbooks(config, plan)).map(([path, text]) => [`runbooks/${path.slice(RUNBOOK_DIR.length + 1)}`, text]));
}

export interface PlanResult {
  stack: string;
  plan: BackupPlan;
  resources: CapturedResource[];
  objects: KubernetesObject[];
  records: ResourceRecord[];
  report: PolicyReport;
  /** Every secret value the run produced or received, for leak checks. */
  secretValues: Set<string>;
  /** Files by path relative to the output directory: the four plan artifacts and `runbooks/<app>.md`. */
  artifacts: Record<CoreArtifact, string> & Record<string, string>;
  /** Wall time of the program run (resource registration) and of the policy evaluation, in ms. */
  timings: { programMs: number; policyMs: number };
}

/** "Pulumi.homelab.yaml" -> "homelab"; any other file name gives "offline". */
export function stackNameOf(configFile: string): string {
  return /^Pulumi\.(.+)\.ya?ml$/.exec(basename(configFile))?.[1] ?? "offline";
}

export async function runOfflinePlan(options: PlanOptions): Promise<PlanResult> {
  const stackFile = readStackFile(options.configFile);
  // Validate first, so a typo is reported as such and not as a failed program run.
  if (stackFile.plaintextSecrets.length > 0) throw new ConfigError(stackFile.plaintextSecrets.map(plaintextSecretProblem));
  const config = parseStackConfig(stackFile.projectConfig);
  const stack = stackNameOf(options.configFile);
  const programStarted = performance.now();
  const run = await runProgram(program, {
    project: PROJECT,
    stack,
    config: stackFile.pulumiConfig,
    secretKeys: stackFile.secretKeys,
    transformations: options.transformations,
  });
  const programMs = performance.now() - programStarted;
  const plan = planBackups(config);
  const policyStarted = performance.now();
  process.env[STACK_FILE_ENV] = basename(options.configFile);
  const report = await evaluatePolicies(run.resources, { pack: PACK_NAME, policies, config: options.policyConfig, packEnforcementLevel: "advisory" });
  const policyMs = performance.now() - policyStarted;
  const objects = kubernetesObjects(run.resources);
  const records = resourceRecords(run.resources);
  const secretValues = new Set([...run.secretValues, ...stackFile.placeholders]);
  return {
    stack,
    plan,
    resources: run.resources,
    objects,
    records,
    report,
    secretValues,
    artifacts: {
      "manifests.yaml": renderManifests(objects),
      "resources.json": `${JSON.stringify(records, null, 2)}\n`,
      "BACKUP-PLAN.md": renderBackupPlan(plan, report, {
        stackFile: basename(options.configFile),
        resourceCount: run.resources.length,
        objectCount: objects.length,
        machineTasks: machineTasks(config, plan),
        kopiaMirrors: kopiaMirrorPlanSection(config, kopiaMirrors(config, plan)),
        recovery: recoverySheet(config, plan),
        store:
          config.secretStore.provider === "onepassword-sdk"
            ? `the 1Password vault "${config.secretStore.vault}"`
            : `the Secrets of namespace ${config.cluster.systemNamespace}-vault (kubernetes provider: lost with the cluster)`,
      }),
      "policy-report.json": `${JSON.stringify(report, null, 2)}\n`,
      ...runbookArtifacts(config, plan),
    },
    timings: { programMs, policyMs },
  };
}

/** What `npm run plan` prints after the artifacts, and its exit code (1 on a mandatory violation). */
export function planVerdict(report: PolicyReport): { lines: string[]; exitCode: 0 | 1 } {
  const lines = [`policy pack: ${report.evaluations.length} policies, ${report.mandatory} mandatory and ${report.advisory} advisory violations`];
  for (const violation of report.violations) {
    lines.push(`  [${violation.enforcementLevel}] ${violation.policy}${violation.app ? ` (app ${violation.app})` : ""}: ${violation.message}`);
  }
  return { lines, exitCode: report.mandatory > 0 ? 1 : 0 };
}

/** Writes every artifact under `outDir`; runbooks/ is rewritten whole, so a removed app's page goes too. */
export function writeArtifacts(result: PlanResult, outDir: string): string[] {
  rmSync(join(outDir, "runbooks"), { recursive: true, force: true });
  return Object.entries(result.artifacts).map(([file, content]) => {
    const path = join(outDir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    return path;
  });
}

/** Reads a --policy-pack-config file; an unreadable or malformed file is a PolicyConfigError naming it. */
export function readPolicyConfig(path: string): PolicyPackConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new PolicyConfigError(`cannot read the policy pack config: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PolicyConfigError(`the policy pack config is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PolicyConfigError('the policy pack config must be a JSON object of policy names, e.g. {"tier3-offsite-cost": "disabled"}');
  }
  return parsed as PolicyPackConfig;
}
