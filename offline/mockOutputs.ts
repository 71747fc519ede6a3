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
  "aws:s3/bucket:Bucket": ({ inputs }) => ({ arn: `arn:aws:s3:::${String(inputs.bucket)}`, bucketDomainName: `${String(inputs.bucket)}.s3.example` }),
  "cloudflare:index/apiToken:ApiToken": ({ name }) => ({ value: pulumi.secret(fakeSecret(`${name}:token`, 40)), status: "active" }),
  // The B2 application key dynamic provider (components/storage/b2ApplicationKey.ts).
  "pulumi-nodejs:dynamic:Resource": ({ name, inputs }) =>
    "keyName" in inputs
      ? { applicationKeyId: `0050${fakeSecret(`${name}:id`, 21)}`, applicationKey: pulumi.secret(`K005${fakeSecret(`${name}:key`, 27)}`), bucketId: fakeSecret(`${name}:bucket`, 24) }
      : {},
};

/** Resource ids: what a provider would return, shaped like the real thing where tests rely on it. */
const IDS: Record<string, StateFactory> = {
  "aws:s3/bucket:Bucket": ({ inputs }) => ({ id: String(inputs.bucket) }),
  "cloudflare:index/apiToken:ApiToken": ({ name }) => ({ id: fakeSecret(`${name}:token-id`, 32) }),
};

export function mockState(args: MockArgs): { id: string | undefined; state: Record<string, unknown> } {
  const computed = COMPUTED[args.type]?.(args) ?? {};
  const id = (IDS[args.type]?.(args).id as string | undefined) ?? args.id ?? `${args.name}-id`;
  return { id, state: { ...args.inputs, ...computed } };
}

/** What the offline engine answers for invokes (data sources). */
export function mockCall(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (token === "cloudflare:index/getApiTokenPermissionGroupsList:getApiTokenPermissionGroupsList") {
    const name = decodeURIComponent(String(inputs.name ?? ""));
    return { results: [{ id: fakeSecret(`permission-group:${name}`, 32), name, category: "developer_platform", scopes: ["com.cloudflare.edge.r2.bucket"] }] };
  }
  return inputs;
}
