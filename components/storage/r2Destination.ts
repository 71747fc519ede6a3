import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedBucket } from "../../domain/model";
import { BucketConsumer, permissionGroupId, R2_PERMISSION_GROUPS, r2BucketResource, R2LockPrefix } from "../../domain/storage";
import { ConsumerCredential } from "./credentials";
import { r2S3Endpoint } from "../../destinations/r2";

type R2Config = Extract<StackConfig["destinations"][string], { kind: "r2" }>;

export interface R2DestinationArgs {
  /** The cluster name, part of every token name. */
  cluster: string;
  /** The destination's config. */
  destination: R2Config;
  /** Buckets the plan puts on this destination, with the prefixes to lock in immutable ones. */
  buckets: Array<PlannedBucket & { lockPrefixes: R2LockPrefix[] }>;
  /** Consumers that each get their own bucket-scoped token. */
  consumers: BucketConsumer[];
  /** The API token Pulumi uses (secret). */
  apiToken: pulumi.Input<string>;
}

/**
 * Cloudflare R2: buckets with a location hint and jurisdiction, bucket locks in tier-1 buckets
 * (see r2LockPrefixes), a lifecycle that aborts stale multipart uploads, and one API token per
 * consumer scoped to exactly one bucket, turned into S3 credentials.
 */
export class R2Destination extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:storage:R2Destination";

  readonly endpoint: string;
  readonly bucketNames: string[];
  /** Per consumer id. */
  readonly credentials: Record<string, ConsumerCredential> = {};

  constructor(name: string, args: R2DestinationArgs, opts?: pulumi.ComponentResourceOptions) {
    const { destination } = args;
    const endpoint = r2S3Endpoint(destination.accountId, destination.jurisdiction);
    super(
      R2Destination.__pulumiType,
      name,
      { kind: "r2", endpoint, buckets: args.buckets.map((bucket) => ({ name: bucket.name, immutable: bucket.immutable, lockDays: destination.lockDays })) },
      opts,
    );
    this.endpoint = endpoint;
    this.bucketNames = args.buckets.map((bucket) => bucket.name);

    const provider = new cloudflare.Provider(`${name}-api`, { apiToken: pulumi.secret(args.apiToken) }, { parent: this });
    // Permission groups are looked up by name: Cloudflare has changed their ids before.
    const groupIds = R2_PERMISSION_GROUPS.map((group) =>
      cloudflare
        .getApiTokenPermissionGroupsListOutput({ name: encodeURIComponent(group) }, { parent: this, provider })
        .apply((list) => permissionGroupId(group, list.results)),
    );

    const common = { accountId: destination.accountId, jurisdiction: destination.jurisdiction };
    for (const bucket of args.buckets) {
      const logical = `${name}-${bucket.purpose}`;
      const resource = new cloudflare.R2Bucket(
        logical,
        { ...common, name: bucket.name, location: destination.location },
        { parent: this, provider, protect: true, retainOnDelete: true },
      );
      new cloudflare.R2BucketLifecycle(
        `${logical}-lifecycle`,
        {
          ...common,
          bucketName: resource.name,
          rules: [
            {
              id: "abort-incomplete-uploads",
              enabled: true,
              conditions: { prefix: "" },
              abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: 7 * 86400 } },
            },
          ],
        },
        { parent: this, provider },
      );
      if (bucket.immutable && bucket.lockPrefixes.length > 0) {
        new cloudflare.R2BucketLock(
          `${logical}-lock`,
          {
            ...common,
            bucketName: resource.name,
            rules: [
              ...bucket.lockPrefixes
                .filter((rule) => rule.retention === "age")
                .map(({ prefix }, index) => ({ id: `written-once-${index}`, enabled: true, prefix, condition: { type: "Age", maxAgeSeconds: destination.lockDays * 86400 } })),
              ...bucket.lockPrefixes
                .filter((rule) => rule.retention === "indefinite")
                .map(({ prefix }, index) => ({ id: `repository-keys-${index}`, enabled: true, prefix, condition: { type: "Indefinite" } })),
            ],
          },
          { parent: this, provider, protect: true, retainOnDelete: true },
        );
      }
    }

    for (const consumer of args.consumers) {
      const token = new cloudflare.ApiToken(
        `${name}-${consumer.id}`,
        {
          name: `${args.cluster}-${name}-${consumer.id}${consumer.rotation > 0 ? `-r${consumer.rotation}` : ""}`,
          policies: [
            {
              effect: "allow",
              permissionGroups: groupIds.map((id) => ({ id })),
              resources: JSON.stringify({ [r2BucketResource(destination.accountId, destination.jurisdiction, consumer.bucket)]: "*" }),
            },
          ],
        },
        // A rotation renames the token; replacing it (new before old) yields a new value.
        { parent: this, provider, additionalSecretOutputs: ["value"], replaceOnChanges: ["name"] },
      );
      this.credentials[consumer.id] = {
        consumer,
        endpoint,
        region: "auto",
        // R2's S3 credentials derive from the token: the id, and the SHA-256 of the value.
        accessKeyId: pulumi.secret(token.id),
        secretAccessKey: pulumi.secret(token.value.apply((value) => createHash("sha256").update(value).digest("hex"))),
      };
    }
    this.registerOutputs({ endpoint, buckets: this.bucketNames, consumers: args.consumers.map((consumer) => consumer.id) });
  }
}
