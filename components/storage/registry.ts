/**
 * How each kind of object-storage destination is wired: one line per component. The platform
 * asks this registry for a destination's component and names no provider. (Pure planning facts
 * of a kind live in destinations/<kind>; this is the Pulumi side.)
 */
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../domain/config/schema";
import type { BackupPlan, PlannedDestination } from "../../domain/model";
import { BucketConsumer, r2LockPrefixes } from "../../domain/storage";
import { B2Destination } from "./b2Destination";
import { ConsumerCredential } from "./credentials";
import { R2Destination } from "./r2Destination";

/** What the platform reads back from a destination's component. */
export interface StorageComponent {
  readonly endpoint: string;
  readonly bucketNames: string[];
  /** Each consumer's credential, by consumer id. */
  readonly credentials: Record<string, ConsumerCredential>;
}

export interface StorageWiring {
  config: StackConfig;
  plan: BackupPlan;
  destination: PlannedDestination;
  /** The consumers of this destination's buckets. */
  consumers: BucketConsumer[];
}

type StorageFactory = (wiring: StorageWiring, opts: pulumi.ComponentResourceOptions) => StorageComponent;

const STORAGE_COMPONENTS: Readonly<Record<string, StorageFactory>> = {
  b2({ config, destination, consumers }, opts) {
    const target = config.destinations[destination.name];
    if (target.kind !== "b2") throw new Error(`destinations.${destination.name} is not a b2 destination`);
    const secrets = config.credentials[destination.name] ?? {};
    return new B2Destination(
      destination.name,
      {
        cluster: config.cluster.name,
        destination: target,
        buckets: destination.buckets,
        consumers,
        credentials: { applicationKeyId: pulumi.secret(secrets.applicationKeyId!), applicationKey: pulumi.secret(secrets.applicationKey!) },
      },
      opts,
    );
  },
  r2({ config, plan, destination, consumers }, opts) {
    const target = config.destinations[destination.name];
    if (target.kind !== "r2") throw new Error(`destinations.${destination.name} is not an r2 destination`);
    const secrets = config.credentials[destination.name] ?? {};
    return new R2Destination(
      destination.name,
      {
        cluster: config.cluster.name,
        destination: target,
        buckets: destination.buckets.map((bucket) => ({ ...bucket, lockPrefixes: r2LockPrefixes(config, plan, bucket.name) })),
        consumers,
        apiToken: pulumi.secret(secrets.apiToken!),
      },
      opts,
    );
  },
};

/** The component of a destination of `kind` that holds buckets, or undefined for kinds without buckets. */
export function storageComponent(kind: string): StorageFactory | undefined {
  return STORAGE_COMPONENTS[kind];
}
