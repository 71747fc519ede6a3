/** Safety rules for offsite storage: buckets and locks survive Pulumi, stay private, and every key reaches one bucket. */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { BackupGraph, TYPES } from "./graph";

// `any`: resource inputs and outputs are walked by field name.
type Json = Record<string, any>;

const PROTECTED_TYPES: ReadonlyMap<string, string> = new Map([
  [TYPES.b2Bucket, "B2 bucket"],
  [TYPES.r2Bucket, "R2 bucket"],
  [TYPES.r2Lock, "R2 bucket lock"],
]);

export const backupStorageProtected: StackValidationPolicy = {
  name: "backup-storage-protected",
  description: "Buckets that hold backups, and their locks, are protected: Pulumi refuses to delete or replace them.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, report) => {
    const graph = new BackupGraph(args.resources);
    const storage = [...PROTECTED_TYPES.keys()].flatMap((type) => graph.of(type));
    if (storage.length === 0) args.notApplicable("no buckets or bucket locks in this stack");
    for (const resource of storage.filter((r) => !r.opts.protect)) {
      const props = resource.props as Json;
      const name = props.bucket ?? props.name ?? props.bucketName;
      // Whose backups are at stake: the data whose declared copies live in this bucket.
      const apps = [...new Set(graph.data.filter(({ data }) => data.copies.some((copy) => copy.location === name)).map(({ data }) => data.app))];
      report(
        `${PROTECTED_TYPES.get(resource.type)} ${name} is not protected${apps.length > 0 ? ` and holds backups of ${apps.join(", ")}` : ""}: a rename, a removed destination or \`pulumi destroy\` would delete it. ` +
          "Declare it with `protect: true` (and `retainOnDelete: true`); the components in components/storage/ do.",
        resource.urn,
      );
    }
  },
};

export const bucketsPrivate: StackValidationPolicy = {
  name: "buckets-private",
  description: "Backup buckets are private: B2 buckets carry a private ACL and no bucket policy; R2 buckets have no public r2.dev or custom domain.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, report) => {
    const graph = new BackupGraph(args.resources);
    if (graph.buckets.size === 0) args.notApplicable("no buckets in this stack");
    for (const bucket of graph.buckets.values()) {
      if (bucket.provider === "b2") {
        const acl = graph.of(TYPES.b2Acl).find((resource) => (resource.props as Json).bucket === bucket.name);
        if ((acl?.props as Json | undefined)?.acl !== "private") {
          report(`B2 bucket ${bucket.name} has ${acl ? `ACL ${(acl.props as Json).acl}` : "no BucketAcl"}; backups need acl: private.`, bucket.resource.urn);
        }
        for (const policy of graph.of(TYPES.b2Policy).filter((resource) => (resource.props as Json).bucket === bucket.name)) {
          report(`B2 bucket ${bucket.name} has a bucket policy (${policy.name}); backup buckets grant access only through scoped keys.`, policy.urn);
        }
      } else {
        for (const type of [TYPES.r2ManagedDomain, TYPES.r2CustomDomain]) {
          for (const domain of graph.of(type).filter((resource) => (resource.props as Json).bucketName === bucket.name)) {
            if (type === TYPES.r2ManagedDomain && (domain.props as Json).enabled === false) continue;
            report(`R2 bucket ${bucket.name} is published through ${type === TYPES.r2ManagedDomain ? "its r2.dev domain" : "a custom domain"} (${domain.name}); remove it.`, domain.urn);
          }
        }
      }
    }
  },
};

const R2_BUCKET_RESOURCE = /^com\.cloudflare\.edge\.r2\.bucket\.[0-9a-f]{32}_[a-z]+_(.+)$/;

export const credentialSingleBucket: ResourceValidationPolicy = {
  name: "credential-single-bucket",
  description: "Every bucket credential the program mints reaches exactly one bucket: B2 keys are bucket-restricted, R2 tokens name one bucket.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    const props = args.props as Json;
    if (args.type === TYPES.apiToken) {
      const policies = (props.policies ?? []) as Json[];
      const resources = policies.flatMap((policy) => Object.keys(typeof policy.resources === "string" ? JSON.parse(policy.resources) : (policy.resources ?? {})));
      const buckets = resources.map((key) => R2_BUCKET_RESOURCE.exec(key)?.[1]);
      if (resources.length === 1 && buckets[0]) return;
      reportViolation(
        `Cloudflare API token ${props.name} reaches ${resources.length === 0 ? "no declared resource" : resources.join(", ")}; a backup credential must name exactly one R2 bucket ("com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>").`,
      );
      return;
    }
    if (args.type === TYPES.dynamic && Array.isArray(props.capabilities) && "keyName" in props) {
      if (typeof props.bucketName === "string" && props.bucketName.length > 0) return;
      reportViolation(`B2 application key ${props.keyName} is not restricted to a bucket: it can read and write every bucket of the account.`);
      return;
    }
    args.notApplicable("not a bucket credential");
  },
};

export const storagePolicies = [backupStorageProtected, bucketsPrivate, credentialSingleBucket];
