/**
 * Runs the policy pack's policy objects in-process on captured resources, with the semantics of
 * the CrossGuard analyzer (@pulumi/policy server.js):
 * - enforcement level: pack config for the policy, else "all", else the policy's, else the pack's;
 *   "remediate" is reported as "mandatory"; "disabled" skips;
 * - getConfig(): the policy's config with its configSchema defaults merged in and validated, as
 *   the CLI does before the pack ever sees it;
 * - resource policies see inputs, stack policies see outputs with parent and dependency links,
 *   both wrapped in unknownCheckingProxy: touching an unknown value turns into an advisory
 *   "can't run policy during preview" instead of a verdict;
 * - notApplicable() ends a validation without a verdict.
 */
import Ajv from "ajv";
import {
  EnforcementLevel,
  Policies,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
  unknownCheckingProxy,
  UnknownValueError,
} from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { LABELS } from "../domain/naming";
import { didYouMean } from "../domain/config/errors";
import { CapturedResource } from "./engine";

export type ReportedLevel = "advisory" | "mandatory";

export interface PolicyVerdict {
  policy: string;
  enforcementLevel: ReportedLevel;
  message: string;
  urn?: string;
  resourceType?: string;
  /** The app the resource belongs to, when it declares one. */
  app?: string;
}

export interface PolicyEvaluation {
  policy: string;
  description: string;
  enforcementLevel: EnforcementLevel;
  /** Resources (or stacks) the policy examined and had an opinion on. */
  evaluated: number;
  notApplicable: number;
  violations: PolicyVerdict[];
}

export interface PolicyReport {
  pack: string;
  evaluations: PolicyEvaluation[];
  violations: PolicyVerdict[];
  mandatory: number;
  advisory: number;
}

/** The pack config file shape: policy name (or "all") to a level or an object with one. */
export type PolicyPackConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

export class PolicyConfigError extends Error {}

interface ResolvedConfig {
  level?: EnforcementLevel;
  properties: Record<string, unknown>;
}

class NotApplicable extends Error {}

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/** Validates a pack config against each policy's configSchema and merges in the defaults. */
export function resolvePolicyConfig(policies: Policies, config: PolicyPackConfig = {}): Map<string, ResolvedConfig> {
  const names = new Set(policies.map((policy) => policy.name));
  const problems: string[] = [];
  for (const key of Object.keys(config)) {
    if (key !== "all" && !names.has(key)) {
      const suggestion = didYouMean(key, [...names]);
      problems.push(`"${key}" is not a policy of this pack${suggestion ? `; did you mean "${suggestion}"?` : ""}`);
    }
  }
  const all = config.all;
  if (all !== undefined && (typeof all !== "string" || !LEVELS.includes(all))) {
    problems.push(`"all" must be one of ${LEVELS.join(", ")}`);
  }
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  const resolved = new Map<string, ResolvedConfig>();
  for (const policy of policies) {
    const entry = config[policy.name];
    const { enforcementLevel, ...properties } = typeof entry === "string" ? { enforcementLevel: entry } : (entry ?? {});
    if (enforcementLevel !== undefined && !LEVELS.includes(enforcementLevel)) {
      problems.push(`${policy.name}.enforcementLevel must be one of ${LEVELS.join(", ")}`);
    }
    if (policy.configSchema) {
      const validate = ajv.compile({ type: "object", additionalProperties: false, ...policy.configSchema });
      if (!validate(properties)) {
        for (const error of validate.errors ?? []) problems.push(`${policy.name}${error.instancePath.replace(/\//g, ".")}: ${error.message}`);
      }
    } else if (Object.keys(properties).length > 0) {
      problems.push(`${policy.name} takes no configuration besides enforcementLevel`);
    }
    resolved.set(policy.name, { level: enforcementLevel ?? (typeof all === "string" ? all : undefined), properties });
  }
  if (problems.length > 0) throw new PolicyConfigError(`invalid policy pack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return resolved;
}

export interface EvaluateOptions {
  pack: string;
  policies: Policies;
  config?: PolicyPackConfig;
  packEnforcementLevel?: EnforcementLevel;
}

export async function evaluatePolicies(resources: readonly CapturedResource[], options: EvaluateOptions): Promise<PolicyReport> {
  const config = resolvePolicyConfig(options.policies, options.config);
  const evaluations: PolicyEvaluation[] = [];
  const stackResources = buildStackResources(resources);
  for (const policy of options.policies) {
    const { level: configured, properties } = config.get(policy.name)!;
    const level = configured ?? policy.enforcementLevel ?? options.packEnforcementLevel ?? "advisory";
    const evaluation: PolicyEvaluation = {
      policy: policy.name,
      description: policy.description,
      enforcementLevel: level,
      evaluated: 0,
      notApplicable: 0,
      violations: [],
    };
    evaluations.push(evaluation);
    if (level === "disabled") continue;
    const reported: ReportedLevel = level === "advisory" ? "advisory" : "mandatory";
    const record = (verdict: Omit<PolicyVerdict, "policy">) => evaluation.violations.push({ policy: policy.name, ...verdict });
    const getConfig = <T extends object>() => structuredClone(properties) as T;

    if ("validateResource" in policy && policy.validateResource) {
      for (const resource of resources) {
        await runResourcePolicy(policy, resource, reported, getConfig, evaluation, record);
      }
    }
    if ("validateStack" in policy) {
      await runStackPolicy(policy, stackResources, reported, getConfig, evaluation, record, resources);
    }
  }
  const violations = evaluations.flatMap((evaluation) => evaluation.violations);
  return {
    pack: options.pack,
    evaluations,
    violations,
    mandatory: violations.filter((violation) => violation.enforcementLevel === "mandatory").length,
    advisory: violations.filter((violation) => violation.enforcementLevel === "advisory").length,
  };
}

async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  resource: CapturedResource,
  level: ReportedLevel,
  getConfig: <T extends object>() => T,
  evaluation: PolicyEvaluation,
  record: (verdict: Omit<PolicyVerdict, "policy">) => void,
): Promise<void> {
  const props = unknownCheckingProxy(forPolicy(resource.inputs) as Record<string, unknown>);
  const app = appOf(resource);
  const args: ResourceValidationArgs = {
    type: resource.type,
    props,
    urn: resource.urn,
    name: resource.name,
    opts: {
      protect: resource.options.protect,
      ignoreChanges: resource.options.ignoreChanges,
      deleteBeforeReplace: resource.options.deleteBeforeReplace,
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: resource.options.additionalSecretOutputs,
      parent: resource.parent,
    },
    stackTags: new Map(),
    isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
    asType: (resourceClass) => (isTypeOf(resource.type, resourceClass) ? (props as never) : undefined),
    getConfig,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
  const report: ReportViolation = (message, urn) =>
    record({ enforcementLevel: level, message, urn: urn ?? resource.urn, resourceType: resource.type, app });
  const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
  for (const validation of validations) {
    try {
      await validation(args, report);
      evaluation.evaluated++;
    } catch (error) {
      if (!handled(error, policy.name, evaluation, record)) throw error;
    }
  }
}

async function runStackPolicy(
  policy: StackValidationPolicy,
  stack: PolicyResource[],
  level: ReportedLevel,
  getConfig: <T extends object>() => T,
  evaluation: PolicyEvaluation,
  record: (verdict: Omit<PolicyVerdict, "policy">) => void,
  captured: readonly CapturedResource[],
): Promise<void> {
  const byUrn = new Map(captured.map((resource) => [resource.urn, resource]));
  const args: StackValidationArgs = {
    resources: stack,
    stackTags: new Map(),
    getConfig,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
  const report: ReportViolation = (message, urn) => {
    const resource = urn ? byUrn.get(urn) : undefined;
    record({ enforcementLevel: level, message, urn, resourceType: resource?.type, app: resource ? appOf(resource) : undefined });
  };
  try {
    await policy.validateStack(args, report);
    evaluation.evaluated++;
  } catch (error) {
    if (!handled(error, policy.name, evaluation, record)) throw error;
  }
}

function handled(
  error: unknown,
  policyName: string,
  evaluation: PolicyEvaluation,
  record: (verdict: Omit<PolicyVerdict, "policy">) => void,
): boolean {
  if (error instanceof NotApplicable) {
    evaluation.notApplicable++;
    return true;
  }
  if (error instanceof UnknownValueError) {
    record({ enforcementLevel: "advisory", message: `can't run policy '${policyName}' during preview: ${(error as Error).message}` });
    return true;
  }
  return false;
}

/** Stack policies see outputs, and each resource links to its parent and dependencies. */
function buildStackResources(resources: readonly CapturedResource[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  for (const resource of resources) {
    const props = unknownCheckingProxy(forPolicy(resource.outputs) as Record<string, unknown>);
    byUrn.set(resource.urn, {
      type: resource.type,
      props,
      urn: resource.urn,
      name: resource.name,
      opts: {
        protect: resource.options.protect,
        ignoreChanges: resource.options.ignoreChanges,
        deleteBeforeReplace: resource.options.deleteBeforeReplace,
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: resource.options.additionalSecretOutputs,
        parent: resource.parent,
      },
      dependencies: [],
      propertyDependencies: {},
      isType: (resourceClass) => isTypeOf(resource.type, resourceClass),
      asType: (resourceClass) => (isTypeOf(resource.type, resourceClass) ? (props as never) : undefined),
    });
  }
  for (const resource of resources) {
    const target = byUrn.get(resource.urn)!;
    const lookup = (urns: readonly string[]) => urns.map((urn) => byUrn.get(urn)).filter((found): found is PolicyResource => !!found);
    if (resource.parent) target.parent = byUrn.get(resource.parent);
    target.dependencies = lookup(resource.dependencies);
    target.propertyDependencies = Object.fromEntries(
      Object.entries(resource.propertyDependencies).map(([key, urns]) => [key, lookup(urns)]),
    );
  }
  return [...byUrn.values()];
}

/** Wire values as the analyzer deserializes them: secrets unwrapped, unknowns left as the sentinel. */
function forPolicy(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(forPolicy);
  const record = value as Record<string, unknown>;
  if (record[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return forPolicy(record.value);
  if (record[pulumi.runtime.specialSigKey] === pulumi.runtime.specialResourceSig) return record.urn;
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, forPolicy(item)]));
}

function isTypeOf(type: string, resourceClass: unknown): boolean {
  const candidate = resourceClass as { __pulumiType?: unknown; isInstance?: (value: unknown) => boolean };
  if (typeof candidate.__pulumiType === "string" && candidate.__pulumiType.length > 0) return candidate.__pulumiType === type;
  return typeof candidate.isInstance === "function" && candidate.isInstance({ __pulumiType: type }) === true;
}

function appOf(resource: CapturedResource): string | undefined {
  const app = resource.inputs.app;
  if (typeof app === "string") return app;
  const labels = (resource.inputs.metadata as { labels?: Record<string, unknown> } | undefined)?.labels;
  const label = labels?.[LABELS.app];
  return typeof label === "string" ? label : undefined;
}
