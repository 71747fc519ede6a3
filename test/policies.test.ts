/**
 * The policy pack: the offline harness keeps CrossGuard's semantics, and every rule has a passing
 * case (the example stack), a violating case (a change to the stack config, or to the resources
 * where config cannot express the mistake) and a not-applicable case.
 */
import { strict as assert } from "node:assert";
import { Policies, Policy, StackValidationPolicy } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { evaluatePolicies, PolicyConfigError, PolicyEvaluation, PolicyPackConfig, resolvePolicyConfig } from "../offline/policyHarness";
import { planVerdict, readPolicyConfig, runOfflinePlan } from "../offline/plan";
import { join } from "node:path";
import { PACK_NAME, policies } from "../policies/registry";
import { editedConfig, EXAMPLE_STACK, ExampleConfig, exampleConfig, runExample, writeStackFile } from "./support/stack";

// `any`: captured manifests are edited by path to build the mistakes config cannot express.
type Json = Record<string, any>;

function policy(name: string): Policy {
  const found = policies.find((p) => p.name === name);
  if (!found) throw new Error(`no policy ${name}`);
  return found;
}

async function evaluate(resources: readonly CapturedResource[], name: string, packConfig?: PolicyPackConfig): Promise<PolicyEvaluation> {
  const report = await evaluatePolicies(resources, { pack: PACK_NAME, policies: [policy(name)], config: packConfig });
  return report.evaluations[0];
}

/** A copy of the resources with `change` applied to the inputs and outputs of those `select` picks. */
function edited(resources: readonly CapturedResource[], select: (r: CapturedResource) => boolean, change: (props: Json, r: CapturedResource) => void): CapturedResource[] {
  let hits = 0;
  const result = resources.map((resource) => {
    if (!select(resource)) return resource;
    hits++;
    const copy = structuredClone(resource);
    change(copy.inputs as Json, copy);
    change(copy.outputs as Json, copy);
    return copy;
  });
  assert.ok(hits > 0, "the edit selected no resource");
  return result;
}

const ofKind = (kind: string, name?: string) => (r: CapturedResource) =>
  r.type.endsWith(`:${kind}`) && (name === undefined || (r.inputs.metadata as Json | undefined)?.name === name);

/** Every data item of these tiers moved to `tier`. */
function retiered(from: number[], tier: number): ExampleConfig {
  return editedConfig((c) => {
    for (const app of Object.values(c.apps) as Json[]) if (from.includes(app.tier)) app.tier = tier;
    for (const dataset of Object.values(c.truenas.datasets) as Json[]) if (from.includes(dataset.tier)) dataset.tier = tier;
    for (const host of Object.values(c.hosts) as Json[]) if (from.includes(host.tier)) host.tier = tier;
  });
}

function assertViolation(evaluation: PolicyEvaluation, pattern: RegExp, app?: string): void {
  const hit = evaluation.violations.find((v) => pattern.test(v.message));
  assert.ok(hit, `${evaluation.policy}: no violation matches ${pattern}; got:\n${evaluation.violations.map((v) => v.message).join("\n")}`);
  if (app) assert.ok(evaluation.violations.some((v) => pattern.test(v.message) && (v.app === app || v.message.includes(app))), `names app ${app}`);
}

function assertPasses(evaluation: PolicyEvaluation): void {
  assert.deepEqual(evaluation.violations.map((v) => v.message), [], `${evaluation.policy} passes`);
  assert.ok(evaluation.evaluated > 0, `${evaluation.policy} examined something`);
}

function assertNotApplicable(evaluation: PolicyEvaluation): void {
  assert.equal(evaluation.violations.length, 0);
  assert.ok(evaluation.notApplicable > 0, `${evaluation.policy} says not applicable`);
}

describe("policy pack", function () {
  this.timeout(300_000);
  let example: ProgramRun;
  const runs = new Map<string, Promise<ProgramRun>>();
  /** Runs of edited configs, shared between the rules that use the same one. */
  const runOf = (key: string, config: () => Record<string, unknown>) => {
    if (!runs.has(key)) runs.set(key, runExample(config()));
    return runs.get(key)!;
  };
  before(async () => {
    example = await runExample();
  });

  describe("offline harness (CrossGuard semantics)", () => {
    it("merges configSchema defaults into getConfig and validates the pack config", () => {
      const resolved = resolvePolicyConfig(policies, {});
      assert.deepEqual(resolved.get("offsite-copy-required")!.properties, { tiers: [1] });
      assert.deepEqual(resolved.get("rpo-within-target")!.properties, { tiers: [1, 2], maxRpoHours: { "1": 24, "2": 48 } });
      assert.throws(() => resolvePolicyConfig(policies, { "offsite-copy-required": { tiers: ["one"] } as never }), PolicyConfigError);
      assert.throws(() => resolvePolicyConfig(policies, { "no-such-policy": "mandatory" }), /not a policy of this pack/);
      assert.throws(() => resolvePolicyConfig(policies, { "offsite-copy-required": { colour: "red" } as never }), PolicyConfigError);
    });

    it("turns a touched unknown value into an advisory 'can't run during preview', for resource and stack policies", async () => {
      const unknownSchedule = edited(example.resources, ofKind("ScheduledBackup"), (props) => (props.spec.schedule = pulumi.runtime.unknownValue));
      const resourceLevel = await evaluate(unknownSchedule, "cnpg-schedule-six-fields");
      assert.equal(resourceLevel.violations.filter((v) => v.enforcementLevel === "mandatory").length, 0);
      assert.match(resourceLevel.violations[0].message, /can't run policy 'cnpg-schedule-six-fields' during preview/);

      const unknownTemplate = edited(example.resources, ofKind("ExternalSecret"), (props) => (props.spec.target.template.data = pulumi.runtime.unknownValue));
      const stackLevel = await evaluate(unknownTemplate, "offsite-copy-required");
      assert.deepEqual(stackLevel.violations.map((v) => v.enforcementLevel), ["advisory"]);
      assert.match(stackLevel.violations[0].message, /can't run policy 'offsite-copy-required' during preview/);
    });

    it("lets the pack config lower, raise or disable a rule", async () => {
      const run = await runOf("immich-onsite", () => editedConfig((c) => (c.apps.immich.destinations = ["nas"])));
      const lowered = await evaluatePolicies(run.resources, { pack: PACK_NAME, policies, config: { "offsite-copy-required": "advisory" } });
      assert.ok(lowered.violations.some((v) => v.policy === "offsite-copy-required" && v.enforcementLevel === "advisory"));
      assert.ok(!lowered.violations.some((v) => v.policy === "offsite-copy-required" && v.enforcementLevel === "mandatory"));
      const disabled = await evaluatePolicies(run.resources, { pack: PACK_NAME, policies, config: { all: "disabled" } });
      assert.equal(disabled.violations.length, 0);
    });

    it("gives stack policies outputs linked to their parents and dependencies", async () => {
      const seen: string[] = [];
      const probe: StackValidationPolicy = {
        name: "probe",
        description: "records the links it sees",
        validateStack: (args) => {
          for (const r of args.resources) if (r.type.endsWith("VolumeBackup") && r.parent?.type.endsWith("AppBackup")) seen.push(r.name);
        },
      };
      await evaluatePolicies(example.resources, { pack: PACK_NAME, policies: [probe] });
      assert.ok(seen.includes("immich-volume-library"));
    });

    it("registers every rule once, kebab-case, with a description and a level", () => {
      const names = policies.map((p) => p.name);
      assert.equal(new Set(names).size, names.length);
      for (const p of policies as Policies) {
        assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
        assert.ok(p.description.length > 20 && p.enforcementLevel, p.name);
      }
    });

    it("ships a pack config (policies/config/homelab.json) that the schemas accept and the example passes", async () => {
      const config = readPolicyConfig(join(__dirname, "..", "policies", "config", "homelab.json"));
      resolvePolicyConfig(policies, config);
      const report = await evaluatePolicies(example.resources, { pack: PACK_NAME, policies, config });
      assert.equal(report.violations.length, 0);
    });

    it("passes the example stack with no violation at all", async () => {
      const report = await evaluatePolicies(example.resources, { pack: PACK_NAME, policies });
      assert.deepEqual(report.violations.map((v) => `${v.policy}: ${v.message}`), []);
    });
  });

  describe("tier rules", () => {
    describe("offsite-copy-required", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "offsite-copy-required")));

      it("refuses tier 1 data that stays on site, naming the app and the fix", async () => {
        const evaluation = await evaluate((await runOf("immich-onsite", () => editedConfig((c) => (c.apps.immich.destinations = ["nas"])))).resources, "offsite-copy-required");
        assert.equal(evaluation.violations.length, 2, "the photo library and the Immich database");
        assertViolation(evaluation, /Tier 1 volume immich\/volume\/library \(app immich\) has no offsite copy/, "immich");
        assertViolation(evaluation, /add a b2, r2 or ssh destination to apps\.immich\.destinations/);
      });

      it("does not count a declared copy whose resources are gone (follows the real links)", async () => {
        const withoutSources = example.resources.filter((r) => !(ofKind("ReplicationSource")(r) && (r.inputs.metadata as Json).labels["homelab-backups.dev/data"] === "vaultwarden.volume.data"));
        const evaluation = await evaluate(withoutSources, "offsite-copy-required");
        assertViolation(evaluation, /vaultwarden\/volume\/data .* does not count: no ReplicationSource for b2/, "vaultwarden");
      });

      it("does not count a ReplicationSource whose Secret leads to no bucket of this stack", async () => {
        const elsewhere = edited(
          example.resources,
          (r) => ofKind("ExternalSecret")(r) && String((r.inputs as Json).spec.target.template.data.KOPIA_S3_BUCKET ?? "").length > 0 && (r.inputs.metadata as Json).namespace === "immich",
          (props) => (props.spec.target.template.data.KOPIA_S3_BUCKET = "someone-elses-bucket"),
        );
        assertViolation(await evaluate(elsewhere, "offsite-copy-required"), /bucket someone-elses-bucket is not managed by this stack/, "immich");
      });

      it("is not applicable without tier 1 data", async () => {
        assertNotApplicable(await evaluate((await runOf("no-tier-1", () => retiered([1], 2))).resources, "offsite-copy-required"));
      });
    });

    describe("immutable-offsite-required", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "immutable-offsite-required")));

      it("refuses tier 1 data when the offsite destinations are not locked", async () => {
        const run = await runOf("unlocked", () =>
          editedConfig((c) => {
            c.destinations.b2.immutable = false;
            c.destinations.r2.immutable = false;
          }),
        );
        const evaluation = await evaluate(run.resources, "immutable-offsite-required");
        assertViolation(evaluation, /immich\/volume\/library .* has no immutable offsite copy \(b2 \(volsync-kopia\): key .* may delete files/, "immich");
        assertViolation(evaluation, /r2 \(volsync-kopia\): no bucket lock rule/);
      });

      it("refuses a lock window shorter than the configured minimum", async () => {
        const run = await runOf("short-lock", () =>
          editedConfig((c) => {
            c.destinations.b2.lockDays = 3;
            c.destinations.r2.lockDays = 3;
          }),
        );
        assertViolation(await evaluate(run.resources, "immutable-offsite-required"), /locked only 3 days/, "vaultwarden");
        assertPasses(await evaluate(run.resources, "immutable-offsite-required", { "immutable-offsite-required": { minLockDays: 3 } }));
      });

      it("is not applicable without tier 1 data", async () => {
        assertNotApplicable(await evaluate((await runOf("no-tier-1", () => retiered([1], 2))).resources, "immutable-offsite-required"));
      });
    });

    describe("encrypted-offsite-required", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "encrypted-offsite-required")));

      it("refuses tier 1 dumps copied offsite as plain files over rsync", async () => {
        const run = await runOf("paperless-rsync", () => editedConfig((c) => (c.apps.paperless.destinations = ["nas", "b2", "offsite-nas"])));
        assertViolation(await evaluate(run.resources, "encrypted-offsite-required"), /paperless\/postgres\/paperless .* leaves the site unencrypted: its copy to offsite-nas \(dump-rsync\)/, "paperless");
      });

      it("refuses a Cloud Sync task whose payload turns encryption off", async () => {
        const plain = edited(
          example.resources,
          (r) => r.type === "command:local:Command" && r.name.includes("cloudsync-b2"),
          (props) => {
            if (typeof props.create === "string") props.create = props.create.replace('"encryption":true', '"encryption":false');
          },
        );
        assertViolation(await evaluate(plain, "encrypted-offsite-required"), /truenas\/dataset\/images .* b2 \(truenas-cloudsync\)/, "truenas-images");
      });

      it("is not applicable when all data is tier 3", async () => {
        assertNotApplicable(await evaluate((await runOf("all-tier-3", () => retiered([1, 2], 3))).resources, "encrypted-offsite-required"));
      });
    });

    describe("three-two-one-copies", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "three-two-one-copies")));

      it("refuses tier 1 data with a single copy", async () => {
        const run = await runOf("immich-b2-only", () => editedConfig((c) => (c.apps.immich.destinations = ["b2"])));
        assertViolation(await evaluate(run.resources, "three-two-one-copies"), /immich\/volume\/library .* has 1 independent copy \(b2\); tier 1 needs 2/, "immich");
      });

      it("does not count local snapshots as copies", async () => {
        const run = await runOf("immich-b2-only", () => editedConfig((c) => (c.apps.immich.destinations = ["b2"])));
        const evaluation = await evaluate(run.resources, "three-two-one-copies");
        assert.ok(!evaluation.violations.some((v) => v.message.includes("local-snapshots")));
      });

      it("is not applicable when all data is tier 3", async () => {
        assertNotApplicable(await evaluate((await runOf("all-tier-3", () => retiered([1, 2], 3))).resources, "three-two-one-copies"));
      });
    });

    describe("rpo-within-target", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "rpo-within-target")));

      it("refuses tier 1 data backed up only weekly", async () => {
        const run = await runOf("immich-weekly", () => editedConfig((c) => (c.apps.immich.schedule = { onsite: "weekly", offsite: "weekly" })));
        const evaluation = await evaluate(run.resources, "rpo-within-target");
        assertViolation(evaluation, /immich\/volume\/library .* can lose up to 168 hours of changes; its target is 24 hours/, "immich");
        assert.ok(!evaluation.violations.some((v) => v.message.includes("immich/cnpg")), "WAL archiving keeps the database within minutes");
      });

      it("reads the schedule from the resource, not the declaration", async () => {
        const slowed = edited(
          example.resources,
          (r) => ofKind("ReplicationSource")(r) && (r.inputs.metadata as Json).labels["homelab-backups.dev/data"] === "vaultwarden.volume.data",
          (props) => (props.spec.trigger.schedule = "0 3 1 * *"),
        );
        assertViolation(await evaluate(slowed, "rpo-within-target"), /vaultwarden\/volume\/data .* can lose up to \d+ hours/, "vaultwarden");
      });

      it("is not applicable when all data is tier 3", async () => {
        assertNotApplicable(await evaluate((await runOf("all-tier-3", () => retiered([1, 2], 3))).resources, "rpo-within-target"));
      });
    });

    describe("offsite-retention-minimum", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "offsite-retention-minimum")));

      it("refuses tier 1 offsite copies that keep only a week", async () => {
        const run = await runOf("short-retention", () => editedConfig((c) => (c.tiers["1"] = { ...c.tiers["1"], retention: { offsite: { daily: 7 } } })));
        assertViolation(await evaluate(run.resources, "offsite-retention-minimum"), /vaultwarden\/volume\/data .* has no offsite copy keeping 7 daily, 4 weekly, 6 monthly \(b2 \(volsync-restic\) keeps 7 daily/, "vaultwarden");
      });

      it("is not applicable without tier 1 data", async () => {
        assertNotApplicable(await evaluate((await runOf("no-tier-1", () => retiered([1], 2))).resources, "offsite-retention-minimum"));
      });
    });

    describe("restore-drill-scheduled", () => {
      it("passes the example stack: every tier 1 item has a drill", async () => assertPasses(await evaluate(example.resources, "restore-drill-scheduled")));

      it("refuses tier 1 data without drills", async () => {
        const run = await runOf("no-drills", () => editedConfig((c) => (c.tiers["1"] = { ...c.tiers["1"], restoreDrillDays: 0 })));
        assertViolation(await evaluate(run.resources, "restore-drill-scheduled"), /vaultwarden\/sqlite\/db .* has no scheduled restore drill/, "vaultwarden");
      });

      it("refuses drills further apart than the pack allows", async () => {
        const run = await runOf("quarterly-drills", () => editedConfig((c) => (c.tiers["1"] = { ...c.tiers["1"], restoreDrillDays: 92 })));
        assertViolation(await evaluate(run.resources, "restore-drill-scheduled"), /is drilled only every 9\d days .* needs at least every 31 days/, "immich");
      });

      it("does not count a suspended drill", async () => {
        const suspended = edited(example.resources, (r) => ofKind("CronJob")(r) && (r.inputs.metadata as Json).labels["homelab-backups.dev/restore-drill"] === "true", (props) => (props.spec.suspend = true));
        assertViolation(await evaluate(suspended, "restore-drill-scheduled"), /has no scheduled restore drill/);
      });

      it("is not applicable without tier 1 data", async () => {
        assertNotApplicable(await evaluate((await runOf("no-tier-1", () => retiered([1], 2))).resources, "restore-drill-scheduled"));
      });
    });

    describe("tier3-offsite-cost", () => {
      it("passes the example stack (its tier 3 data stays home)", async () => assertPasses(await evaluate(example.resources, "tier3-offsite-cost")));

      it("advises against tier 3 data sent offsite", async () => {
        const run = await runOf("media-offsite", () => editedConfig((c) => (c.apps.media.destinations = ["nas", "b2"])));
        const evaluation = await evaluate(run.resources, "tier3-offsite-cost");
        assertViolation(evaluation, /media\/volume\/library .* is replaceable but goes offsite to b2/, "media");
        assert.deepEqual([...new Set(evaluation.violations.map((v) => v.enforcementLevel))], ["advisory"]);
      });

      it("is not applicable without tier 3 data", async () => {
        assertNotApplicable(await evaluate((await runOf("no-tier-3", () => retiered([3], 2))).resources, "tier3-offsite-cost"));
      });
    });
  });

  describe("safety rules", () => {
    const tier3Nas = () =>
      editedConfig((c) => {
        for (const app of Object.values(c.apps) as Json[]) {
          app.tier = 3;
          app.destinations = ["nas"];
        }
        delete c.truenas;
        c.hosts = {};
        c.credentials = {};
        delete c.destinations.b2;
        delete c.destinations.r2;
      });

    describe("backup-storage-protected", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "backup-storage-protected")));

      it("refuses an unprotected bucket lock, naming whose backups it guards", async () => {
        const unprotected = edited(example.resources, (r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock", (_props, r) => (r.options.protect = false));
        assertViolation(await evaluate(unprotected, "backup-storage-protected"), /R2 bucket lock .* is not protected and holds backups of .*vaultwarden/);
      });

      it("is not applicable to a stack without offsite buckets", async () => {
        assertNotApplicable(await evaluate((await runOf("tier-3-nas", tier3Nas)).resources, "backup-storage-protected"));
      });
    });

    describe("buckets-private", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "buckets-private")));

      it("refuses a public ACL and a published R2 bucket", async () => {
        const publicAcl = edited(example.resources, (r) => r.type === "aws:s3/bucketAcl:BucketAcl", (props) => (props.acl = "public-read"));
        assertViolation(await evaluate(publicAcl, "buckets-private"), /has ACL public-read; backups need acl: private/);
        const bucket = example.resources.find((r) => r.type === "cloudflare:index/r2Bucket:R2Bucket")!;
        const domain: CapturedResource = {
          ...structuredClone(bucket),
          urn: `${bucket.urn}-domain`,
          type: "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
          name: "public",
          inputs: { bucketName: bucket.inputs.name, enabled: true },
          outputs: { bucketName: bucket.inputs.name, enabled: true },
        };
        assertViolation(await evaluate([...example.resources, domain], "buckets-private"), /is published through its r2\.dev domain/);
      });

      it("is not applicable to a stack without offsite buckets", async () => {
        assertNotApplicable(await evaluate((await runOf("tier-3-nas", tier3Nas)).resources, "buckets-private"));
      });
    });

    describe("credential-single-bucket", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "credential-single-bucket")));

      it("refuses an R2 token for two buckets and a B2 key for every bucket", async () => {
        const wide = edited(
          example.resources,
          (r) => r.type === "cloudflare:index/apiToken:ApiToken",
          (props) => {
            const resources = JSON.parse(props.policies[0].resources);
            props.policies[0].resources = JSON.stringify({ ...resources, "com.cloudflare.edge.r2.bucket.0f1e2d3c4b5a69788796a5b4c3d2e1f0_default_other": "*" });
          },
        );
        assertViolation(await evaluate(wide, "credential-single-bucket"), /API token .* reaches .*, .*; a backup credential must name exactly one R2 bucket/);
        const unscoped = edited(example.resources, (r) => r.type === "pulumi-nodejs:dynamic:Resource" && "keyName" in r.inputs, (props) => delete props.bucketName);
        assertViolation(await evaluate(unscoped, "credential-single-bucket"), /B2 application key .* is not restricted to a bucket/);
      });

      it("is not applicable to resources that are not credentials", async () => {
        const evaluation = await evaluate(example.resources, "credential-single-bucket");
        assert.ok(evaluation.notApplicable > 100);
      });
    });

    describe("secrets-from-external-secrets", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "secrets-from-external-secrets")));

      it("refuses a literal Secret in an app namespace", async () => {
        const source = example.resources.find((r) => ofKind("Secret")(r) && String((r.inputs.metadata as Json).name).startsWith("hb-"))!;
        const leaked: CapturedResource = structuredClone(source);
        leaked.urn = `${source.urn}-leaked`;
        (leaked.inputs.metadata as Json).namespace = "immich";
        (leaked.outputs.metadata as Json).namespace = "immich";
        assertViolation(await evaluate([...example.resources, leaked], "secrets-from-external-secrets"), /Secret immich\/hb-.* holds literal data outside backup-system/);
      });

      it("refuses a mover Secret that no ExternalSecret builds", async () => {
        const withoutEs = example.resources.filter((r) => !(ofKind("ExternalSecret")(r) && (r.inputs.metadata as Json).name === "hb-vaultwarden-data-b2"));
        assertViolation(await evaluate(withoutEs, "secrets-from-external-secrets"), /ReplicationSource vaultwarden\/.* reads Secret hb-vaultwarden-data-b2, which no ExternalSecret in vaultwarden builds/);
      });

      it("is not applicable to a stack without Secrets or readers of one", async () => {
        assertNotApplicable(await evaluate(example.resources.filter((r) => !r.type.startsWith("kubernetes:")), "secrets-from-external-secrets"));
      });
    });

    describe("cnpg-schedule-six-fields", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "cnpg-schedule-six-fields")));

      it("refuses a five-field schedule, which CNPG would run hourly", async () => {
        const fiveFields = edited(example.resources, ofKind("ScheduledBackup"), (props) => (props.spec.schedule = "0 3 * * *"));
        assertViolation(await evaluate(fiveFields, "cnpg-schedule-six-fields"), /schedule "0 3 \* \* \*" has five fields, .* would run every hour at minute 3/, "immich");
      });

      it("is not applicable to other resources", async () => {
        assert.ok((await evaluate(example.resources, "cnpg-schedule-six-fields")).notApplicable > 100);
      });
    });

    describe("cron-schedules-valid", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "cron-schedules-valid")));

      it("refuses an impossible cron and an unknown time zone", async () => {
        const broken = edited(example.resources, ofKind("CronJob"), (props) => {
          props.spec.schedule = "61 * * * *";
          props.spec.timeZone = "Mars/Olympus_Mons";
        });
        const evaluation = await evaluate(broken, "cron-schedules-valid");
        assertViolation(evaluation, /schedule "61 \* \* \* \*"/);
        assertViolation(evaluation, /timeZone "Mars\/Olympus_Mons" is not an IANA time zone/);
      });

      it("is not applicable to resources without schedules", async () => {
        assert.ok((await evaluate(example.resources, "cron-schedules-valid")).notApplicable > 100);
      });
    });

    describe("mover-storage-class-allowed", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "mover-storage-class-allowed")));

      it("refuses a mover on CephFS and one that leaves its class unset", async () => {
        const cephfs = edited(example.resources, ofKind("ReplicationSource"), (props) => {
          const mover = props.spec.restic ?? props.spec.kopia;
          mover.cacheStorageClassName = "ceph-filesystem";
          delete mover.storageClassName;
        });
        const evaluation = await evaluate(cephfs, "mover-storage-class-allowed");
        assertViolation(evaluation, /cacheStorageClassName ceph-filesystem is denylisted/);
        assertViolation(evaluation, /leaves storageClassName unset/);
      });

      it("is not applicable to resources that are not movers", async () => {
        assert.ok((await evaluate(example.resources, "mover-storage-class-allowed")).notApplicable > 100);
      });
    });

    describe("restic-repository-unique", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "restic-repository-unique")));

      it("refuses two volumes writing one restic repository", async () => {
        const sources = example.resources.filter((r) => ofKind("ReplicationSource")(r) && (r.inputs as Json).spec.restic && (r.inputs.metadata as Json).namespace === "paperless");
        const secretOf = (rs: CapturedResource) => (rs.inputs as Json).spec.restic.repository as string;
        const esOf = (name: string) => example.resources.find((r) => ofKind("ExternalSecret", name)(r))!;
        const shared = (esOf(secretOf(sources[0])).inputs as Json).spec.target.template.data.RESTIC_REPOSITORY;
        const other = sources.find((rs) => (rs.inputs as Json).spec.sourcePVC !== (sources[0].inputs as Json).spec.sourcePVC)!;
        const collided = edited(example.resources, (r) => r.urn === esOf(secretOf(other)).urn, (props) => (props.spec.target.template.data.RESTIC_REPOSITORY = shared));
        assertViolation(await evaluate(collided, "restic-repository-unique"), /restic repository .* is written by paperless\/.* and paperless\//);
      });

      it("is not applicable when every volume uses Kopia", async () => {
        const run = await runOf("all-kopia", () =>
          editedConfig((c) => {
            for (const app of Object.values(c.apps) as Json[]) for (const volume of Object.values(app.volumes ?? {}) as Json[]) volume.mover = "kopia";
          }),
        );
        assertNotApplicable(await evaluate(run.resources, "restic-repository-unique"));
      });
    });

    describe("kopia-identity-match", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "kopia-identity-match")));

      it("refuses two volumes sharing an identity in one repository", async () => {
        const arr = example.resources.filter((r) => ofKind("ReplicationSource")(r) && (r.inputs.metadata as Json).namespace === "downloads" && (r.inputs.metadata as Json).labels["homelab-backups.dev/destination"] === "nas");
        assert.ok(arr.length >= 2, "the arr volumes share one Kopia repository on the NAS");
        const first = (arr[0].inputs as Json).spec.kopia;
        const twin = edited(example.resources, (r) => r.urn === arr[1].urn, (props) => {
          props.spec.kopia.username = first.username;
          props.spec.kopia.hostname = first.hostname;
        });
        assertViolation(await evaluate(twin, "kopia-identity-match"), /share the Kopia identity .* in filesystem:\/\//);
      });

      it("refuses a source that leaves its identity to the mover", async () => {
        const anonymous = edited(example.resources, (r) => ofKind("ReplicationSource")(r) && Boolean((r.inputs as Json).spec.kopia), (props) => delete props.spec.kopia.hostname);
        assertViolation(await evaluate(anonymous, "kopia-identity-match"), /leaves the Kopia hostname to the mover's default/);
      });

      it("is not applicable when every volume uses restic", async () => {
        const run = await runOf("all-restic", () =>
          editedConfig((c) => {
            for (const app of Object.values(c.apps) as Json[]) {
              for (const volume of Object.values(app.volumes ?? {}) as Json[]) volume.mover = "restic";
              if (app.destinations) app.destinations = app.destinations.filter((d: string) => d !== "offsite-nas");
            }
          }),
        );
        assertNotApplicable(await evaluate(run.resources, "kopia-identity-match"));
      });
    });

    describe("backup-job-hygiene", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "backup-job-hygiene")));

      it("refuses overlapping runs, missing deadlines and resources, and root", async () => {
        const sloppy = edited(example.resources, ofKind("CronJob"), (props) => {
          props.spec.concurrencyPolicy = "Allow";
          delete props.spec.jobTemplate.spec.activeDeadlineSeconds;
          const pod = props.spec.jobTemplate.spec.template.spec;
          pod.securityContext.runAsUser = 0;
          delete pod.containers[0].resources;
        });
        const evaluation = await evaluate(sloppy, "backup-job-hygiene");
        assertViolation(evaluation, /concurrencyPolicy is Allow, not Forbid/);
        assertViolation(evaluation, /activeDeadlineSeconds is unset/);
        assertViolation(evaluation, /not Pod Security restricted: .*runAsUser 0/);
        assertViolation(evaluation, /lacks resource requests or a memory limit/);
      });

      it("is not applicable to jobs this program did not make", async () => {
        const foreign = edited(example.resources, ofKind("CronJob"), (props) => delete props.metadata.labels["app.kubernetes.io/managed-by"]);
        const evaluation = await evaluate(foreign, "backup-job-hygiene");
        assert.equal(evaluation.violations.length, 0);
        assert.ok(evaluation.notApplicable > (await evaluate(example.resources, "backup-job-hygiene")).notApplicable);
      });
    });

    describe("job-start-spread", () => {
      it("passes the example stack", async () => assertPasses(await evaluate(example.resources, "job-start-spread")));

      it("advises when hand-written crons pile up in one minute", async () => {
        const piled = edited(example.resources, ofKind("ReplicationSource"), (props) => (props.spec.trigger.schedule = "0 3 * * *"));
        const evaluation = await evaluate(piled, "job-start-spread");
        assertViolation(evaluation, /\d+ backup jobs start at \w+ 03:00 UTC .*; the limit is 8/);
        assert.equal(evaluation.violations[0].enforcementLevel, "advisory");
      });

      it("is not applicable to a stack without scheduled jobs", async () => {
        assertNotApplicable(await evaluate(example.resources.filter((r) => !r.type.startsWith("kubernetes:")), "job-start-spread"));
      });
    });
  });

  describe("npm run plan refuses what the pack refuses", () => {
    const planOf = async (config: Record<string, unknown>, transformations?: pulumi.ResourceTransformation[]) => {
      const result = await runOfflinePlan({ configFile: writeStackFile(config, "homelab"), transformations });
      return planVerdict(result.report);
    };

    it("exits 0 on the example stack", async () => {
      const verdict = planVerdict((await runOfflinePlan({ configFile: EXAMPLE_STACK })).report);
      assert.equal(verdict.exitCode, 0, verdict.lines.join("\n"));
    });

    it("exits 1 naming the rule and the app when offsite destinations are taken away", async () => {
      const verdict = await planOf(editedConfig((c) => (c.apps.vaultwarden.destinations = ["nas"])));
      assert.equal(verdict.exitCode, 1);
      assert.ok(verdict.lines.some((line) => /\[mandatory\] offsite-copy-required \(app vaultwarden\)/.test(line)));
    });

    it("exits 1 naming the rule and the app when locks are taken away", async () => {
      const verdict = await planOf(
        editedConfig((c) => {
          c.destinations.b2.immutable = false;
          c.destinations.r2.immutable = false;
        }),
      );
      assert.equal(verdict.exitCode, 1);
      assert.ok(verdict.lines.some((line) => /\[mandatory\] immutable-offsite-required \(app immich\)/.test(line)));
    });

    it("exits 1 naming the rule and the apps when protect flags are taken away", async () => {
      const unprotect: pulumi.ResourceTransformation = (args) => ({ props: args.props, opts: { ...args.opts, protect: false } });
      const verdict = await planOf(exampleConfig(), [unprotect]);
      assert.equal(verdict.exitCode, 1);
      assert.ok(verdict.lines.some((line) => /\[mandatory\] backup-storage-protected: B2 bucket .* holds backups of .*immich/.test(line)));
    });

    it("refuses a five-field CNPG schedule in the config, naming the rule and the app", async () => {
      const config = editedConfig((c) => (c.apps.immich.databases.immich.schedule = "0 3 * * *"));
      await assert.rejects(runOfflinePlan({ configFile: writeStackFile(config, "homelab") }), (error: Error) => {
        assert.match(error.message, /apps\.immich\.databases\.immich\.schedule: has five fields, .* \(policy cnpg-schedule-six-fields\)/);
        return true;
      });
    });
  });
});
