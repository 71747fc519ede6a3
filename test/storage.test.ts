import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { planBackups } from "../domain/plan";
import { keepFlags } from "../domain/retention";
import { b2Capabilities, bucketConsumers, permissionGroupId, r2BucketResource, r2LockPrefixes, R2LockPrefix } from "../domain/storage";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { kubernetesObjects } from "../offline/render";
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
      // Mirrors of the NAS Kopia repository (apps.immich.kopiaMirrors), if any, have keys of their own.
      const mirrors = (config.apps.immich.kopiaMirrors ?? []).map((destination) => `${destination}:kopia-mirror`);
      assert.deepEqual(immich.sort(), ["b2:kopia", "r2:kopia", ...mirrors].sort());
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

    describe("R2 bucket locks", () => {
      const r2Bucket = (purpose: string) => plan.destinations.find((d) => d.name === "r2")!.buckets.find((b) => b.purpose === purpose)!.name;
      const age = (prefix: string): R2LockPrefix => ({ prefix, retention: "age" });
      const indefinite = (prefix: string): R2LockPrefix => ({ prefix, retention: "indefinite" });
      /** The rule that holds an object: the longest retention among the prefixes that cover it. */
      const heldBy = (rules: R2LockPrefix[], object: string) => {
        const covering = rules.filter((rule) => object.startsWith(rule.prefix)).map((rule) => rule.retention);
        return covering.includes("indefinite") ? "indefinite" : covering.includes("age") ? "age" : "free";
      };

      it("locks restic data and snapshots by age, and its config and keys for good", () => {
        const rules = r2LockPrefixes(config, plan, r2Bucket("volsync"));
        assert.deepEqual(rules, [
          indefinite("vaultwarden/data/config"),
          age("vaultwarden/data/data/"),
          indefinite("vaultwarden/data/keys/"),
          age("vaultwarden/data/snapshots/"),
        ]);
        assert.equal(heldBy(rules, "vaultwarden/data/keys/4b1a1bd5e8b1e6b4c5d0f8e4a2c3b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3"), "indefinite");
        for (const rewritten of ["vaultwarden/data/locks/5f0e", "vaultwarden/data/index/9a8b"]) assert.equal(heldBy(rules, rewritten), "free", rewritten);
        const dumps = r2LockPrefixes(config, plan, r2Bucket("dumps"));
        assert.ok(dumps.some((rule) => rule.retention === "indefinite" && rule.prefix.endsWith("/keys/")), "offsite dumps are restic repositories too");
      });

      it("locks Kopia packs by age, and its format and storage-config blobs for good", () => {
        const rules = r2LockPrefixes(config, plan, r2Bucket("kopia"));
        assert.deepEqual(rules, [indefinite("immich/kopia.blobcfg"), indefinite("immich/kopia.repository"), age("immich/p"), age("immich/q")]);
        for (const rewritten of ["immich/kopia.maintenance", "immich/xn0_5e7f", "immich/_log_20261122"]) assert.equal(heldBy(rules, rewritten), "free", rewritten);
      });

      it("locks pgBackRest WAL and backup sets by age, archive.info for good, and leaves backup.info free: every backup rewrites it", () => {
        const rules = r2LockPrefixes(config, plan, r2Bucket("pg-postgres18-immich"));
        assert.deepEqual(rules, [
          age("postgres18-immich/archive/postgres18-immich/"),
          indefinite("postgres18-immich/archive/postgres18-immich/archive.info"),
          age("postgres18-immich/backup/postgres18-immich/2"),
        ]);
        for (const info of ["archive.info", "archive.info.copy"]) assert.equal(heldBy(rules, `postgres18-immich/archive/postgres18-immich/${info}`), "indefinite", info);
        assert.equal(heldBy(rules, "postgres18-immich/archive/postgres18-immich/18-1/000000010000000000000003-abc.gz"), "age");
        for (const info of ["backup.info", "backup.info.copy"]) assert.equal(heldBy(rules, `postgres18-immich/backup/postgres18-immich/${info}`), "free", info);
        assert.equal(heldBy(rules, "postgres18-immich/backup/postgres18-immich/20261122-013000F/backup.manifest"), "age");
      });
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

    it("restic copies in a locked R2 bucket keep every snapshot of the lock window, so forget never meets a locked file", () => {
      const config = exampleStackConfig();
      const plan = planBackups(config);
      const restic = ["volsync-restic", "dump-restic", "host-restic"];
      const copies = plan.items.flatMap((item) => item.copies).filter((copy) => restic.includes(copy.method));
      const locked = copies.filter((copy) => copy.destinationKind === "r2" && copy.immutable);
      assert.ok(locked.some((c) => c.method === "host-restic") && locked.some((c) => c.method === "dump-restic") && locked.some((c) => c.method === "volsync-restic"));
      const lockDays = (config.destinations.r2 as { lockDays: number }).lockDays;
      for (const copy of locked) assert.equal(copy.retention.kind === "gfs" && copy.retention.withinDays, lockDays, copy.id);
      // B2 only hides what is deleted, and unlocked buckets refuse nothing: their retention is as configured.
      for (const copy of copies.filter((c) => !locked.includes(c))) assert.equal(copy.retention.kind === "gfs" ? copy.retention.withinDays : undefined, undefined, copy.id);
      assert.deepEqual(keepFlags({ daily: 7, weekly: 4, withinDays: 14 }), ["--keep-daily", "7", "--keep-weekly", "4", "--keep-within", "14d"]);
    });
  });

  describe("under mocks", () => {
    let run: ProgramRun;
    before(async () => {
      run = await runExample();
    });
    const ofType = (type: string) => run.resources.filter((resource) => resource.type === type);
    const b2BucketCount = () => planBackups(exampleStackConfig()).destinations.filter((d) => d.kind === "b2").flatMap((d) => d.buckets).length;

    it("sends B2 no tags: its S3 API has no bucket tagging", () => {
      const s3 = run.resources.filter((resource) => resource.type.startsWith("aws:s3"));
      assert.ok(s3.length > 0);
      for (const resource of s3) {
        const inputs = inputsOf(resource);
        assert.equal(inputs.tags, undefined, `${resource.name} has tags`);
        assert.equal(inputs.tagsAll, undefined, `${resource.name} has tagsAll`);
      }
      for (const provider of ofType("pulumi:providers:aws")) assert.equal(inputsOf(provider).defaultTags, undefined, `${provider.name} has default tags`);
    });

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

    it("gives tier-1 R2 buckets a protected lock with exactly the planned rules", () => {
      const config = exampleStackConfig();
      const plan = planBackups(config);
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
        const inputs = inputsOf(lock);
        const rules = inputs.rules as Array<{ id: string; enabled: boolean; prefix: string; condition: { type: string; maxAgeSeconds?: number } }>;
        assert.equal(new Set(rules.map((rule) => rule.id)).size, rules.length, "rule ids are unique");
        for (const rule of rules) {
          assert.equal(rule.enabled, true);
          assert.deepEqual(rule.condition, rule.condition.type === "Indefinite" ? { type: "Indefinite" } : { type: "Age", maxAgeSeconds: 14 * 86400 }, rule.prefix);
        }
        const declared = rules
          .map((rule): R2LockPrefix => ({ prefix: rule.prefix, retention: rule.condition.type === "Indefinite" ? "indefinite" : "age" }))
          .sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
        assert.deepEqual(declared, r2LockPrefixes(config, plan, String(inputs.bucketName)), String(inputs.bucketName));
      }
      const volsync = locks.find((lock) => String(inputsOf(lock).bucketName).startsWith("ether-volsync-"))!;
      const keys = (inputsOf(volsync).rules as Array<{ prefix: string; condition: { type: string } }>).find((rule) => rule.prefix === "vaultwarden/data/keys/");
      assert.equal(keys?.condition.type, "Indefinite", "restic keys are locked for good");
    });

    it("gives every R2 bucket a lifecycle that aborts incomplete multipart uploads", () => {
      const buckets = ofType("cloudflare:index/r2Bucket:R2Bucket");
      const lifecycles = ofType("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle");
      assert.ok(buckets.length > 0);
      assert.equal(lifecycles.length, buckets.length);
      for (const bucket of buckets) {
        const { name, jurisdiction } = inputsOf(bucket);
        const mine = lifecycles.filter((lifecycle) => inputsOf(lifecycle).bucketName === name);
        assert.equal(mine.length, 1, `${String(name)} has one lifecycle`);
        const inputs = inputsOf(mine[0]);
        assert.equal(inputs.jurisdiction, jurisdiction);
        const rules = inputs.rules as Array<{ enabled: boolean; conditions?: { prefix?: string }; abortMultipartUploadsTransition?: { condition: { type: string; maxAge: number } } }>;
        const abort = rules.find((rule) => rule.abortMultipartUploadsTransition);
        assert.ok(abort, `${String(name)}: no rule aborts multipart uploads`);
        assert.equal(abort.enabled, true);
        assert.equal(abort.conditions?.prefix ?? "", "", "the rule covers the whole bucket");
        assert.deepEqual(abort.abortMultipartUploadsTransition?.condition, { type: "Age", maxAge: 7 * 86400 });
      }
    });

    it("gives each R2 consumer one token, for object read and write on exactly its own bucket", () => {
      const config = exampleStackConfig();
      const account = (config.destinations.r2 as { accountId: string }).accountId;
      const consumers = bucketConsumers(config, planBackups(config)).filter((consumer) => consumer.destination === "r2");
      const tokens = ofType("cloudflare:index/apiToken:ApiToken");
      assert.deepEqual(tokens.map((token) => token.name).sort(), consumers.map((consumer) => `r2-${consumer.id}`).sort());
      for (const consumer of consumers) {
        const token = tokens.find((candidate) => candidate.name === `r2-${consumer.id}`)!;
        const policies = inputsOf(token).policies as Array<{ effect: string; permissionGroups: Array<{ id: string }>; resources: string }>;
        assert.equal(policies.length, 1);
        assert.equal(policies[0].effect, "allow");
        assert.deepEqual(JSON.parse(policies[0].resources), { [`com.cloudflare.edge.r2.bucket.${account}_default_${consumer.bucket}`]: "*" }, consumer.id);
        assert.equal(new Set(policies[0].permissionGroups.map((group) => group.id)).size, 2, "object read and write, found by name");
      }
    });

    it("puts an R2 destination with jurisdiction eu on the eu endpoint, with eu buckets and eu-scoped tokens", async () => {
      const eu = await runExample(editedConfig((c) => (c.destinations.r2.jurisdiction = "eu")));
      const config = exampleStackConfig();
      const account = (config.destinations.r2 as { accountId: string }).accountId;
      const endpoint = `https://${account}.eu.r2.cloudflarestorage.com`;
      const of = (type: string) => eu.resources.filter((resource) => resource.type === type);
      const [component] = of("homelab-backups:storage:R2Destination");
      assert.equal(inputsOf(component).endpoint, endpoint);
      const hosts = JSON.stringify(kubernetesObjects(eu.resources)).match(/[\w.-]+\.r2\.cloudflarestorage\.com/g) ?? [];
      assert.ok(hosts.length > 0, "consumers are told the endpoint");
      assert.deepEqual([...new Set(hosts)], [`${account}.eu.r2.cloudflarestorage.com`]);
      for (const type of ["cloudflare:index/r2Bucket:R2Bucket", "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", "cloudflare:index/r2BucketLock:R2BucketLock"]) {
        assert.ok(of(type).length > 0, type);
        for (const resource of of(type)) assert.equal(inputsOf(resource).jurisdiction, "eu", `${type} ${resource.name}`);
      }
      const consumers = bucketConsumers(config, planBackups(config)).filter((consumer) => consumer.destination === "r2");
      for (const consumer of consumers) {
        const token = of("cloudflare:index/apiToken:ApiToken").find((candidate) => candidate.name === `r2-${consumer.id}`)!;
        const [policy] = inputsOf(token).policies as Array<{ resources: string }>;
        assert.deepEqual(Object.keys(JSON.parse(policy.resources)), [r2BucketResource(account, "eu", consumer.bucket)]);
        assert.match(Object.keys(JSON.parse(policy.resources))[0], new RegExp(`^com\\.cloudflare\\.edge\\.r2\\.bucket\\.${account}_eu_${consumer.bucket}$`));
      }
    });

    it("takes the R2 permission group named exactly, and refuses a near match instead of guessing", () => {
      const results = [
        { id: "account-wide", name: "Workers R2 Storage Write" },
        { id: "bucket-items", name: "Workers R2 Storage Bucket Item Write" },
      ];
      assert.equal(permissionGroupId("Workers R2 Storage Bucket Item Write", results), "bucket-items");
      assert.throws(
        () => permissionGroupId("Workers R2 Storage Bucket Item Read", results),
        /no API token permission group named "Workers R2 Storage Bucket Item Read" \(it returned only "Workers R2 Storage Write", "Workers R2 Storage Bucket Item Write"\)/,
      );
      assert.throws(() => permissionGroupId("Workers R2 Storage Bucket Item Read", []), /named "Workers R2 Storage Bucket Item Read" \(it returned none\)/);
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
