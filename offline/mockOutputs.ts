/**
 * What the offline engine answers for each resource type in place of a provider: the inputs
 * echoed back plus deterministic stand-ins for computed outputs. Generated secrets are derived
 * from the resource name, so every run produces the same (fake, never real) values.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";

export interface MockArgs {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  id?: string;
}

export function fakeSecret(name: string, length = 32): string {
  return createHash("sha256").update(`offline-secret:${name}`).digest("hex").slice(0, length);
}

type StateFactory = (args: MockArgs) => Record<string, unknown>;

const COMPUTED: Record<string, StateFactory> = {
  "random:index/randomPassword:RandomPassword": ({ name, inputs }) => ({
    result: pulumi.secret(fakeSecret(name, Number(inputs.length ?? 32))),
    bcryptHash: pulumi.secret(`$2a$10$${fakeSecret(`${name}:bcrypt`, 53)}`),
  }),
};

export function mockState(args: MockArgs): { id: string | undefined; state: Record<string, unknown> } {
  const computed = COMPUTED[args.type]?.(args) ?? {};
  return { id: args.id ?? `${args.name}-id`, state: { ...args.inputs, ...computed } };
}
