import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedBucket } from "../../domain/model";
import { b2Capabilities, BucketConsumer } from "../../domain/storage";
import { B2ApplicationKey } from "./b2ApplicationKey";
import { ConsumerCredential } from "./credentials";
import { b2S3Endpoint } from "../../destinations/b2";

type B2Config = Extract<StackConfig["destinations"][string], { kind: "b2" }>;

export interface B2DestinationArgs {
  /** The cluster name, part of every key name. */
  cluster: string;
  /** The destination's config. */
  destination: B2Config;
  /** Buckets the plan puts on this destination. */
  buckets: PlannedBucket[];
  /** Consumers that each get their own bucket-scoped key. */
  consumers: BucketConsumer[];
  /** The key Pulumi uses: may create buckets and keys (secret). */
  credentials: { applicationKeyId: pulumi.Input<string>; applicationKey: pulumi.Input<string> };
}

/**
 * Backblaze B2 through its S3 endpoint: private, SSE-B2-encrypted, versioned buckets with object
 * lock enabled at creation, lifecycle rules that clean up hidden versions after the lock window,
 * and one bucket-scoped key per consumer from the native API.
 */
export class B2Destination extends pulumi.ComponentResource {
  static readonly __pulumiType = "homelab-backups:storage:B2Destination";

  readonly endpoint: string;
  readonly bucketNames: string[];
  /** Per consumer id. */
  readonly credentials: Record<string, ConsumerCredential> = {};

  constructor(name: string, args: B2DestinationArgs, opts?: pulumi.ComponentResourceOptions) {
    const { destination } = args;
    const endpoint = b2S3Endpoint(destination.region);
    super(
      B2Destination.__pulumiType,
      name,
      { kind: "b2", endpoint, buckets: args.buckets.map((bucket) => ({ name: bucket.name, immutable: bucket.immutable, lockDays: destination.lockDays })) },
      opts,
    );
    this.endpoint = endpoint;
    this.bucketNames = args.buckets.map((bucket) => bucket.name);

    // Never the default AWS provider: an explicit one aimed at B2, with the AWS-only checks off.
    const provider = new aws.Provider(
      `${name}-s3`,
      {
        region: destination.region,
        accessKey: args.credentials.applicationKeyId,
        secretKey: pulumi.secret(args.credentials.applicationKey),
        endpoints: [{ s3: endpoint }],
        s3UsePathStyle: true,
        skipCredentialsValidation: true,
        skipRequestingAccountId: true,
        skipMetadataApiCheck: true,
        skipRegionValidation: true,
      },
      { parent: this },
    );

    const bucketResources = new Map<string, aws.s3.Bucket>();
    for (const bucket of args.buckets) {
      const logical = `${name}-${bucket.purpose}`;
      const resource = new aws.s3.Bucket(
        logical,
        // Object lock can only be switched on at creation; it is on for every bucket so that a
        // tier change never means a new bucket. No default retention: the tools prune. No tags:
        // B2's S3 API has no bucket tagging, and the provider would send them with CreateBucket.
        { bucket: bucket.name, objectLockEnabled: true, forceDestroy: false },
        { parent: this, provider, protect: true, retainOnDelete: true },
      );
      bucketResources.set(bucket.name, resource);
      new aws.s3.BucketAcl(`${logical}-acl`, { bucket: resource.bucket, acl: "private" }, { parent: this, provider });
      new aws.s3.BucketServerSideEncryptionConfiguration(
        `${logical}-encryption`,
        { bucket: resource.bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
        { parent: this, provider },
      );
      new aws.s3.BucketLifecycleConfiguration(
        `${logical}-lifecycle`,
        {
          bucket: resource.bucket,
          rules: [
            {
              id: "delete-hidden-versions-after-lock-window",
              status: "Enabled",
              filter: { prefix: "" },
              // Mirror copies keep their history here too, so the longer of the two windows wins.
              noncurrentVersionExpiration: { noncurrentDays: Math.max(bucket.immutable ? destination.lockDays : 1, bucket.hiddenVersionDays ?? 0) },
            },
            { id: "abort-incomplete-uploads", status: "Enabled", filter: { prefix: "" }, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
          ],
        },
        { parent: this, provider },
      );
    }

    for (const consumer of args.consumers) {
      const key = new B2ApplicationKey(
        `${name}-${consumer.id}`,
        {
          authKeyId: args.credentials.applicationKeyId,
          authKey: pulumi.secret(args.credentials.applicationKey),
          bucketName: consumer.bucket,
          // A rotation renames the key, which replaces it: the new key exists before the old goes.
          keyName: `${args.cluster}-${consumer.id}${consumer.rotation > 0 ? `-r${consumer.rotation}` : ""}`.slice(0, 100),
          capabilities: b2Capabilities(consumer),
          namePrefix: consumer.prefix,
          destination: consumer.destination,
        },
        // The key is scoped by bucket id, which exists only once the bucket does.
        { parent: this, dependsOn: [bucketResources.get(consumer.bucket)!] },
      );
      this.credentials[consumer.id] = {
        consumer,
        endpoint,
        region: destination.region,
        accessKeyId: key.applicationKeyId,
        secretAccessKey: pulumi.secret(key.applicationKey),
      };
    }
    this.registerOutputs({ endpoint, buckets: this.bucketNames, consumers: args.consumers.map((consumer) => consumer.id) });
  }
}
