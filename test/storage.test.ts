import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { planBackups } from "../domain/plan";
import { b2Capabilities, bucketConsumers, r2LockPrefixes } from "../domain/storage";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { reveal } from "../offline/wire";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";

type Inputs = Record<string, unknown>;
const inputsOf = (resource: CapturedResource) => reveal(resource.inputs) as Inputs;
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isSecret = (value: unknown) => typeof value === "object" && value !== null && SECRET_SIG in value;

describe("offsite storage", () => {
  describe("layout (pure)", () => {
    const config = exampleStackConfig();
    const plan = planBackups(config);
    const consumers = bucketConsumers(config, plan);

    it("gives every consumer its own credential per bucket", () => {
      const keys = consumers.map((consumer) => `${consumer.destination}/${consumer.bucket}/${consumer.id}`);
      assert.equal(new Set(keys).size, keys.length);
      const immich = consumers.filter((consumer) => consumer.owner === "immich").map((consumer) => `${consumer.destination}:${consumer.credential}`);
      assert.deepEqual(immich.sort(), ["b2:kopia", "r2:kopia"]);
      const pg = consumers.filter((consumer) => consumer.credential === "pgbackrest").map((consumer) => `${consumer.destination}:${consumer.owner}`);
      assert.deepEqual(pg.sort(), ["b2:postgres18-cluster", "b2:postgres18-immich", "r2:postgres18-cluster", "r2:postgres18-immich"]);
    });

    it("keeps an app's volume and dump credentials apart, each limited to the app's prefix", () => {
      const vaultwarden = consumers.filter((consumer) => consumer.owner === "vaultwarden" && consumer.destination === "b2");
      assert.deepEqual(vaultwarden.map((consumer) => consumer.credential).sort(), ["dumps", "volsync"]);
      for (const consumer of vaultwarden) assert.equal(consumer.prefix, "vaultwarden/");
    });

    it("withholds delete from writers of immutable buckets", () => {
      assert.ok(!b2Capabilities({ immutable: true }).includes("deleteFiles"));
      assert.ok(b2Capabilities({ immutable: false }).includes("deleteFiles"));
      assert.ok(!b2Capabilities({ immutable: false }).includes("bypassGovernance"));
    });

    it("locks on R2 only what the tools write once, never their lock or index files", () => {
      const kopia = plan.destinations.find((d) => d.name === "r2")!.buckets.find((b) => b.purpose === "kopia")!;
      assert.deepEqual(r2LockPrefixes(config, plan, kopia.name), ["immich/p", "immich/q"]);
      const restic = plan.destinations.find((d) => d.name === "r2")!.buckets.find((b) => b.purpose === "volsync")!;
      assert.deepEqual(r2LockPrefixes(config, plan, restic.name), ["vaultwarden/data/data/", "vaultwarden/data/snapshots/"]);
      const pg = plan.destinations.find((d) => d.name === "r2")!.buckets.find((b) => b.purpose === "pg-postgres18-immich")!;
      const prefixes = r2LockPrefixes(config, plan, pg.name);
      assert.deepEqual(prefixes, ["postgres18-immich/archive/postgres18-immich/", "postgres18-immich/backup/postgres18-immich/2"]);
      assert.ok(prefixes.every((prefix) => !"postgres18-immich/backup/postgres18-immich/backup.info".startsWith(prefix)), "backup.info stays writable");
    });

    it("names B2 buckets globally unique yet deterministic, from account, cluster and purpose", () => {
      const again = planBackups(exampleStackConfig());
      const names = (p: typeof plan) => p.destinations.flatMap((d) => d.buckets.map((b) => b.name));
      assert.deepEqual(names(again), names(plan));
      const otherAccount = planBackups(
        (() => {
          const c = exampleStackConfig();
          (c.destinations.b2 as { accountId: string }).accountId = "ffffffffffff";
          return c;
        })(),
      );
      const b2 = (p: typeof plan) => p.destinations.find((d) => d.name === "b2")!.buckets.map((b) => b.name);
      assert.ok(b2(otherAccount).every((name) => !b2(plan).includes(name)), "another account gets other names");
      for (const name of names(plan)) assert.match(name, /^[a-z0-9][a-z0-9-]{4,61}[a-z0-9]$/);
    });
  });

  describe("under mocks", () => {
    let run: ProgramRun;
    before(async () => {
      run = await runExample();
    });
    const ofType = (type: string) => run.resources.filter((resource) => resource.type === type);
    const b2BucketCount = () => planBackups(exampleStackConfig()).destinations.filter((d) => d.kind === "b2").flatMap((d) => d.buckets).length;

    it("reaches B2 only through an explicit S3 provider aimed at B2", () => {
      const [provider] = ofType("pulumi:providers:aws");
      const inputs = inputsOf(provider);
      // Provider configuration travels JSON-encoded.
      assert.deepEqual(JSON.parse(String(inputs.endpoints)), [{ s3: "https://s3.us-east-005.backblazeb2.com" }]);
      for (const flag of ["s3UsePathStyle", "skipCredentialsValidation", "skipRequestingAccountId", "skipMetadataApiCheck", "skipRegionValidation"]) {
        assert.equal(String(inputs[flag]), "true", flag);
      }
      assert.ok(isSecret(provider.inputs.secretKey), "the application key is a secret input");
      for (const resource of run.resources.filter((r) => r.type.startsWith("aws:"))) {
        assert.match(resource.options.provider ?? "", /pulumi:providers:aws::b2-s3::/, `${resource.name} uses the default AWS provider`);
      }
    });

    it("makes every B2 bucket private, SSE-B2 encrypted, lock-capable and undeletable by Pulumi", () => {
      const buckets = ofType("aws:s3/bucket:Bucket");
      assert.equal(buckets.length, b2BucketCount(), "one bucket per planned B2 bucket");
      for (const bucket of buckets) {
        const inputs = inputsOf(bucket);
        assert.equal(inputs.objectLockEnabled, true);
        assert.equal(inputs.forceDestroy, false);
        assert.equal(bucket.options.protect, true, `${bucket.name} is protected`);
        assert.equal(bucket.options.retainOnDelete, true, `${bucket.name} is retained on delete`);
        const name = inputs.bucket;
        const acl = ofType("aws:s3/bucketAcl:BucketAcl").find((r) => inputsOf(r).bucket === name);
        assert.equal(acl && inputsOf(acl).acl, "private");
        const sse = ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").find((r) => inputsOf(r).bucket === name);
        assert.deepEqual(sse && inputsOf(sse).rules, [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
      }
    });

    it("keeps hidden versions of tier-1 B2 buckets for the lock window (mirror copies for their history), then cleans them up", () => {
      const lifecycles = ofType("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
      assert.equal(lifecycles.length, b2BucketCount());
      const truenas = planBackups(exampleStackConfig()).destinations.find((d) => d.name === "b2")!.buckets.find((b) => b.purpose === "truenas")!;
      for (const lifecycle of lifecycles) {
        const rules = inputsOf(lifecycle).rules as Array<Record<string, Record<string, number>>>;
        const hidden = rules.find((rule) => rule.noncurrentVersionExpiration)!;
        // Every example B2 bucket holds tier-1 data; TrueNAS's Cloud Sync mirror keeps six months of history.
        const expected = inputsOf(lifecycle).bucket === truenas.name ? 190 : 14;
        assert.equal(hidden.noncurrentVersionExpiration.noncurrentDays, expected, String(inputsOf(lifecycle).bucket));
        assert.ok(rules.some((rule) => rule.abortIncompleteMultipartUpload?.daysAfterInitiation === 7));
      }
    });

    it("leaves a destination with immutable: false deletable: keys may delete and hidden versions go after a day", async () => {
      const unlocked = await runExample(editedConfig((c) => (c.destinations.b2.immutable = false)));
      const keys = unlocked.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && "keyName" in r.inputs);
      assert.ok(keys.length > 0 && keys.every((key) => (inputsOf(key).capabilities as string[]).includes("deleteFiles")));
      const lifecycles = unlocked.resources.filter((r) => r.type === "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
      const days = lifecycles.map((l) => (inputsOf(l).rules as Array<Record<string, Record<string, number>>>).find((rule) => rule.noncurrentVersionExpiration)!.noncurrentVersionExpiration.noncurrentDays);
      assert.ok(days.includes(1), "no lock window");
    });

    it("mints one B2 key per consumer, scoped to one bucket and the consumer's prefix, secret", () => {
      const keys = run.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && "keyName" in r.inputs);
      const config = exampleStackConfig();
      const expected = bucketConsumers(config, planBackups(config)).filter((c) => c.destination === "b2");
      assert.equal(keys.length, expected.length);
      for (const key of keys) {
        const inputs = inputsOf(key);
        const consumer = expected.find((c) => inputs.keyName === `ether-${c.id}`)!;
        assert.ok(consumer, `unexpected key ${String(inputs.keyName)}`);
        assert.equal(inputs.bucketName, consumer.bucket);
        assert.equal(inputs.namePrefix ?? undefined, consumer.prefix);
        assert.ok(!(inputs.capabilities as string[]).includes("deleteFiles"), "writers of tier-1 buckets cannot delete");
        assert.ok(key.options.additionalSecretOutputs.includes("applicationKey"));
        assert.ok(isSecret(key.outputs.applicationKey));
      }
    });

    it("gives R2 buckets a lifecycle, tier-1 buckets a protected lock, and each consumer a one-bucket token", () => {
      const buckets = ofType("cloudflare:index/r2Bucket:R2Bucket");
      assert.ok(buckets.length > 0);
      for (const bucket of buckets) {
        assert.equal(bucket.options.protect, true);
        assert.equal(bucket.options.retainOnDelete, true);
        assert.equal(inputsOf(bucket).location, "enam");
      }
      const locks = ofType("cloudflare:index/r2BucketLock:R2BucketLock");
      assert.equal(locks.length, buckets.length, "every example R2 bucket holds tier-1 data");
      for (const lock of locks) {
        assert.equal(lock.options.protect, true);
        assert.equal(lock.options.retainOnDelete, true);
        for (const rule of inputsOf(lock).rules as Array<{ condition: { type: string; maxAgeSeconds: number } }>) {
          assert.deepEqual(rule.condition, { type: "Age", maxAgeSeconds: 14 * 86400 });
        }
      }
      for (const token of ofType("cloudflare:index/apiToken:ApiToken")) {
        const [policy] = inputsOf(token).policies as Array<{ permissionGroups: Array<{ id: string }>; resources: string }>;
        const resources = Object.keys(JSON.parse(policy.resources));
        assert.equal(resources.length, 1);
        assert.match(resources[0], /^com\.cloudflare\.edge\.r2\.bucket\.0f1e2d3c4b5a69788796a5b4c3d2e1f0_default_ether-/);
        assert.equal(policy.permissionGroups.length, 2, "object read and write, found by name");
      }
    });

    it("derives R2 S3 credentials from the token (id, SHA-256 of the value), both secret", () => {
      const token = ofType("cloudflare:index/apiToken:ApiToken").find((r) => r.name === "r2-kopia-immich")!;
      const source = ofType("kubernetes:core/v1:Secret").find((r) => r.name === "immich-credentials")!;
      const stringData = (source.inputs.stringData as { value: Record<string, unknown> }).value;
      assert.ok(isSecret(source.inputs.stringData));
      const tokenValue = reveal(token.outputs.value) as string;
      assert.equal(stringData["r2-kopia-secret-access-key"], createHash("sha256").update(tokenValue).digest("hex"));
      assert.ok(isSecret(token.outputs.value));
    });

    it("rotates exactly one credential when its counter is raised", async () => {
      const rotated = await runExample(editedConfig((c) => (c.rotations = { "immich/b2-kopia": 1 })));
      const names = (r: ProgramRun) =>
        new Map(r.resources.filter((x) => x.type === "pulumi-nodejs:dynamic:Resource").map((x) => [x.urn, inputsOf(x).keyName as string]));
      const before = names(run);
      const after = names(rotated);
      const changed = [...before].filter(([urn, keyName]) => after.get(urn) !== keyName);
      assert.deepEqual(
        changed.map(([urn]) => urn.split("::").pop()),
        ["b2-kopia-immich"],
      );
      assert.equal([...after.values()].filter((name) => name === "ether-kopia-immich-r1").length, 1);
    });
  });
});
