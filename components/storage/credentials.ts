import type * as pulumi from "@pulumi/pulumi";
import type { BucketConsumer } from "../../domain/storage";

/** S3 credentials of one consumer for one bucket, as the consumer's tools need them. */
export interface ConsumerCredential {
  consumer: BucketConsumer;
  endpoint: string;
  region: string;
  accessKeyId: pulumi.Output<string>;
  /** Always a Pulumi secret. */
  secretAccessKey: pulumi.Output<string>;
}
