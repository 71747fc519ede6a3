/**
 * A capturing mock engine: runs a Pulumi program in-process under `pulumi.runtime.setMocks` and
 * records every RegisterResource request exactly as the SDK sends it to a real engine (inputs,
 * parent, protect, retainOnDelete, ignoreChanges, dependencies), plus the state the mock answers.
 * No CLI, no provider plugins, no network: provider outputs come from `mockState`.
 */
import * as pulumi from "@pulumi/pulumi";
import { mockCall, mockState } from "./mockOutputs";
import { secretValues } from "./wire";

export interface CapturedOptions {
  protect: boolean;
  retainOnDelete: boolean;
  ignoreChanges: string[];
  /** Explicit dependencies: those not implied by an input. */
  dependsOn: string[];
  additionalSecretOutputs: string[];
  deleteBeforeReplace: boolean;
  provider?: string;
}

export interface CapturedResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  /** Inputs in wire form: secrets and unknowns are tagged (see wire.ts). */
  inputs: Record<string, unknown>;
  /** State the (mock) provider returned, or a component's registered outputs, in wire form. */
  outputs: Record<string, unknown>;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  options: CapturedOptions;
}

export interface ProgramRun {
  resources: CapturedResource[];
  stackOutputs: unknown;
  /** Every secret value that appeared anywhere, to prove none leaks into artifacts. */
  secretValues: Set<string>;
}

/** The program threw; `resources` are those it had registered by then. */
export class ProgramRunError extends Error {
  constructor(
    readonly cause: unknown,
    readonly resources: CapturedResource[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "ProgramRunError";
  }
}

export interface RunOptions {
  project: string;
  stack: string;
  /** Full config keys ("project:key") to JSON-encoded or plain string values. */
  config: Record<string, string>;
  secretKeys: string[];
  /**
   * Stack transformations to run on every resource, as a program change would: tests use them to
   * take away what config cannot (a protect flag), and see what the policies say.
   */
  transformations?: pulumi.ResourceTransformation[];
}

// Minimal views of the protobuf request objects; the SDK does not export their types.
interface Urns {
  getUrnsList(): string[];
}
interface RegisterResourceRequest {
  getType(): string;
  getName(): string;
  getCustom(): boolean;
  getParent(): string;
  getProtect(): boolean;
  getRetainondelete(): boolean;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getDependenciesList(): string[];
  getProvider(): string;
  getPropertydependenciesMap(): { toArray(): Array<[string, Urns | string[]]> };
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface RegisterResourceResponse {
  getUrn(): string;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface RegisterResourceOutputsRequest {
  getUrn(): string;
  getOutputs(): { toJavaScript(): Record<string, unknown> } | undefined;
}
type Callback<T> = (error: unknown, response: T) => void;
interface PatchableMockMonitor {
  registerResource(request: RegisterResourceRequest, callback: Callback<RegisterResourceResponse>): Promise<void>;
  registerResourceOutputs(request: RegisterResourceOutputsRequest, callback: Callback<unknown>): void;
  newUrn(parent: string, type: string, name: string): string;
}

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

export async function runProgram(program: () => unknown, options: RunOptions): Promise<ProgramRun> {
  const captured = new Map<string, CapturedResource>();
  const secrets = new Set<string>();
  await pulumi.runtime.setMocks(
    { newResource: (args) => mockState(args), call: (args) => mockCall(args.token, args.inputs) },
    options.project,
    options.stack,
    false,
  );
  pulumi.runtime.setAllConfig(options.config, options.secretKeys);

  // setMocks has no hooks for request options, so the monitor instance is patched: requests are
  // recorded whole, and URNs get the full parent type chain a real engine gives them (the mock
  // keeps only the parent's own type).
  const monitor = pulumi.runtime.getMonitor() as unknown as PatchableMockMonitor;
  monitor.newUrn = (parent, type, name) => {
    const parentType = parent ? parent.split("::")[2] : "";
    const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
    return `urn:pulumi:${options.stack}::${options.project}::${qualified}::${name}`;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) =>
    register(request, (error, response) => {
      if (!error && response) captured.set(response.getUrn(), capture(request, response, secrets));
      callback(error, response);
    });
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (request, callback) => {
    const resource = captured.get(request.getUrn());
    if (resource) {
      resource.outputs = request.getOutputs()?.toJavaScript() ?? {};
      secretValues(resource.outputs, secrets);
    }
    registerOutputs(request, callback);
  };

  // Registrations continue after the program returns; waitForRPCs (internal to the SDK, so not
  // in its typings) resolves once the last one is answered.
  const settled = () => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  let stackOutputs: unknown;
  try {
    stackOutputs = await pulumi.runtime.runInPulumiStack(async () => {
      for (const transformation of options.transformations ?? []) pulumi.runtime.registerStackTransformation(transformation);
      return program();
    });
  } catch (error) {
    await settled();
    throw new ProgramRunError(error, [...captured.values()]);
  }
  await settled();
  return { resources: [...captured.values()], stackOutputs, secretValues: secrets };
}

function capture(request: RegisterResourceRequest, response: RegisterResourceResponse, secrets: Set<string>): CapturedResource {
  const propertyDependencies: Record<string, string[]> = {};
  for (const [key, urns] of request.getPropertydependenciesMap().toArray()) {
    const list = Array.isArray(urns) ? urns.flat() : urns.getUrnsList();
    if (list.length > 0) propertyDependencies[key] = list;
  }
  const implied = new Set(Object.values(propertyDependencies).flat());
  const dependencies = request.getDependenciesList();
  const inputs = request.getObject()?.toJavaScript() ?? {};
  const outputs = response.getObject()?.toJavaScript() ?? {};
  secretValues(inputs, secrets);
  secretValues(outputs, secrets);
  return {
    urn: response.getUrn(),
    type: request.getType(),
    name: request.getName(),
    custom: request.getCustom(),
    parent: request.getParent() || undefined,
    inputs,
    outputs,
    dependencies,
    propertyDependencies,
    options: {
      protect: request.getProtect(),
      retainOnDelete: request.getRetainondelete(),
      ignoreChanges: request.getIgnorechangesList(),
      dependsOn: dependencies.filter((urn) => !implied.has(urn)),
      additionalSecretOutputs: request.getAdditionalsecretoutputsList(),
      deleteBeforeReplace: request.getDeletebeforereplace(),
      provider: request.getProvider() || undefined,
    },
  };
}
