/**
 * The immutability promise, attacked for real: "a compromised cluster cannot delete tier-1
 * backups" (README "Offsite storage and immutability").
 *
 * The example stack's offline plan gives vaultwarden's tier-1 volume a VolSync restic copy on b2
 * and on r2. test/support/s3Server.ts provisions on MinIO what the plan declares: the buckets
 * (versioned, object lock on) and one user per consumer key with the IAM policy equivalent to
 * the key's scope. Real restic 0.18.1 writes two snapshots with VolSync's mover steps and the
 * repository Secret exactly as the ExternalSecret renders it (only the endpoint is redirected).
 * Then the attacker, holding nothing but that Secret (what a compromised cluster has), tries
 * every destructive thing: `restic forget --prune` of every snapshot, `mc rm --versions --force`,
 * DeleteObject of every version id (with and without bypassing governance), overwriting every
 * object, shortening or clearing retention, a lifecycle rule that expires old versions at once,
 * suspending versioning, deleting the bucket. Every version the promise covers must survive, and
 * an operator (the account's master credentials, which the cluster never holds) rolls the
 * repository back to just before the attack and restores every byte, with the runbook's own
 * restore commands.
 *
 * Negative controls, so this test can fail: the same attack on the stack with `immutable: false`
 * on both destinations (keys with deleteFiles, no R2 lock rules, and the plan's own policy report
 * flags it) destroys the repository beyond any rollback; and on the immutable R2 bucket the
 * objects no lock rule covers (restic `index/`, `locks/`) really are destroyed.
 *
 * What MinIO cannot reproduce, and this file therefore does not claim:
 * - B2 application-key capabilities are modelled as S3 IAM policies (scopedKeyPolicy): a key
 *   without `deleteFiles` may hide but not delete a version; B2 itself enforces this with its
 *   capability list, which only B2 can prove. That the plan withholds deleteFiles (and
 *   writeFileRetentions, writeBucketRetentions, writeBuckets) is asserted on the plan below.
 * - B2's lifecycle rule ("delete-hidden-versions-after-lock-window", noncurrentDays = lockDays)
 *   is not applied on MinIO: the promise holds only within that window, and time is not
 *   simulated. The rule's days are asserted on the plan.
 * - R2 bucket lock rules are emulated with COMPLIANCE object-lock retention (applyLockRules). On
 *   R2 a delete or overwrite of a locked object is refused; on MinIO a delete by name adds a
 *   delete marker and an overwrite a new version, and R2 keeps no versions at all. So for R2 the
 *   state after the attack is read as the bucket rolled back to before it, minus every version
 *   the attacker could destroy (that is what R2 would hold). Who may edit R2 lock rules (the
 *   Cloudflare dashboard or an account token, never the consumer's bucket-item token) is not
 *   provable here either; MinIO refuses the S3 equivalents because the modelled policy lacks them.
 * - Age locks cover an object only for its first lockDays (README "What R2 locks cannot do");
 *   every object here is younger than that.
 */
import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CapturedResource } from "../offline/engine";
import { reveal } from "../offline/wire";
import { exec, Result, tempDir } from "./support/services";
import {
  blockWith,
  credentialCliShims,
  documentedEndpoint,
  fillPlaceholder,
  findObject,
  MinioServer,
  planStack,
  PlannedKey,
  PlannedStack,
  provisionDestination,
  ProvisionedDestination,
  redirectEndpoint,
  redirectEnv,
  runbookSection,
  runShell,
  S3Credentials,
  S3Version,
  scriptToolDir,
  secretData,
  startS3Server,
  toolPath,
  treeOf,
  VOLSYNC_RESTIC_SECRET_KEYS,
  volsyncResticBackup,
  volsyncResticRestore,
  writeRandomFile,
} from "./support/s3Server";
import { editedConfig } from "./support/stack";

const NAMESPACE = "vaultwarden";
type Destination = "b2" | "r2";
const DESTINATIONS: readonly Destination[] = ["b2", "r2"];

/** Plan inputs are walked by path. */
interface Inputs {
  [key: string]: unknown;
}
const inputsOf = (resource: CapturedResource) => reveal(resource.inputs) as Inputs;

/** One stack (the example, or the example with immutable: false), each destination on its own MinIO. */
interface Scenario {
  stack: PlannedStack;
  servers: Record<Destination, MinioServer>;
  provisioned: Record<Destination, ProvisionedDestination>;
}

async function startScenario(stack: PlannedStack): Promise<Scenario> {
  const servers = {} as Record<Destination, MinioServer>;
  const provisioned = {} as Record<Destination, ProvisionedDestination>;
  for (const destination of DESTINATIONS) {
    servers[destination] = await startS3Server({ region: documentedEndpoint(stack.config, destination).region });
    provisioned[destination] = await provisionDestination(servers[destination], stack.resources, destination);
  }
  return { stack, servers, provisioned };
}

/** What the attack did, step by step (outputs kept for failure messages; no secret is in them). */
interface AttackStep {
  step: string;
  result: Result;
}

const output = (result: Result) => `${result.stdout}${result.stderr}`;
const denied = (result: Result) => result.code !== 0 && /Access Denied|Insufficient permissions|not authorized/i.test(output(result));
const versionKey = (version: Pick<S3Version, "key" | "versionId">) => `${version.key}@${version.versionId}`;

/** Runs `work` on every item, eight at a time (the attacker is not polite either). */
async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(8, items.length) }, worker));
}

describe("immutability: a compromised cluster attacks its tier-1 offsite copies (restic on MinIO)", function () {
  this.timeout(90_000);
  let root: string;
  let immutable: Scenario;
  let mutable: Scenario;

  before(async () => {
    root = tempDir("immutability");
    // One plan at a time: the offline plan runs the program under a process-wide mock engine.
    const example = await planStack();
    const unlocked = await planStack(
      editedConfig((config) => {
        config.destinations.b2.immutable = false;
        config.destinations.r2.immutable = false;
      }),
    );
    [immutable, mutable] = await Promise.all([startScenario(example), startScenario(unlocked)]);
  });
  after(async () => {
    for (const scenario of [immutable, mutable]) for (const server of Object.values(scenario?.servers ?? {})) await server.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const source = (scenario: Scenario, destination: Destination) => findObject(scenario.stack.objects, "ReplicationSource", NAMESPACE, `vaultwarden-data-${destination}`);
  const repositorySecretName = (scenario: Scenario, destination: Destination): string => source(scenario, destination).spec.restic.repository;
  /** The repository Secret as the cluster holds it (planned endpoint). */
  const plannedSecret = (scenario: Scenario, destination: Destination) => secretData(scenario.stack.objects, NAMESPACE, repositorySecretName(scenario, destination), scenario.stack.store);
  /** The same Secret pointed at MinIO: only the endpoint's scheme and host differ. */
  const clusterSecret = (scenario: Scenario, destination: Destination) =>
    redirectEnv(plannedSecret(scenario, destination), documentedEndpoint(scenario.stack.config, destination).url, scenario.servers[destination]);
  const keyOf = (scenario: Scenario, destination: Destination): PlannedKey => {
    const secret = plannedSecret(scenario, destination);
    return scenario.provisioned[destination].keyOf({ accessKey: secret.AWS_ACCESS_KEY_ID, secretKey: secret.AWS_SECRET_ACCESS_KEY });
  };
  const credentialsOf = (scenario: Scenario, destination: Destination): S3Credentials => keyOf(scenario, destination).credentials;
  /** "<bucket>/<path>" of the repository, from RESTIC_REPOSITORY (s3:<endpoint>/<bucket>/<path>). */
  const repositoryPlace = (scenario: Scenario, destination: Destination) => {
    const repository = clusterSecret(scenario, destination).RESTIC_REPOSITORY!;
    const rest = repository.slice(`s3:${scenario.servers[destination].endpoint}/`.length);
    const slash = rest.indexOf("/");
    return { bucket: rest.slice(0, slash), path: rest.slice(slash + 1) };
  };

  /** restic as the mover would run it: only the Secret's keys VolSync passes, plus a cache. */
  const restic = (secret: Record<string, string>, args: string[], cacheDir: string, cwd?: string) => {
    const env: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: cacheDir, RESTIC_CACHE_DIR: cacheDir };
    for (const key of VOLSYNC_RESTIC_SECRET_KEYS) if (secret[key] !== undefined) env[key] = secret[key]!;
    return exec(toolPath("restic"), args, { env, cwd, timeoutMs: 60_000 });
  };

  /** Two VolSync syncs of a volume with random content; returns the volume directory. */
  async function backUp(scenario: Scenario, destination: Destination, label: string): Promise<string> {
    const volume = join(root, `${label}-${destination}-volume`, "data");
    mkdirSync(join(volume, "lost+found"), { recursive: true });
    writeRandomFile(join(volume, "db.sqlite3"), 200_000);
    writeRandomFile(join(volume, "attachments", "a1", "scan.pdf"), 700_000);
    writeFileSync(join(volume, "config.json"), '{"domain":"https://vault.example"}\n');
    const spec = source(scenario, destination).spec.restic;
    const cacheDir = join(root, `${label}-${destination}-cache`);
    await volsyncResticBackup({ secret: clusterSecret(scenario, destination), dataDir: volume, cacheDir, retain: spec.retain, prune: false });
    writeRandomFile(join(volume, "attachments", "a2", "photo.jpg"), 300_000);
    await volsyncResticBackup({ secret: clusterSecret(scenario, destination), dataDir: volume, cacheDir, retain: spec.retain, prune: spec.pruneIntervalDays > 0 });
    await scenario.provisioned[destination].applyLockRules();
    return volume;
  }

  /**
   * Everything the cluster's credentials (the repository Secret, nothing else) can try against
   * the repository and the bucket. Never throws: each step's result is returned.
   */
  async function attack(scenario: Scenario, destination: Destination, label: string): Promise<AttackStep[]> {
    const server = scenario.servers[destination];
    const secret = clusterSecret(scenario, destination);
    const as = credentialsOf(scenario, destination);
    const key = keyOf(scenario, destination);
    const { bucket } = repositoryPlace(scenario, destination);
    const reach = `${bucket}/${key.namePrefix ?? ""}`;
    const cacheDir = join(root, `${label}-${destination}-attacker-cache`);
    const steps: AttackStep[] = [];
    const step = async (name: string, run: Promise<Result>) => {
      steps.push({ step: name, result: await run });
    };
    // 1. restic itself: forget every snapshot and prune everything they used.
    const listed = await restic(secret, ["snapshots", "--json"], cacheDir);
    const ids = listed.code === 0 ? (JSON.parse(listed.stdout) as { id: string }[]).map((snapshot) => snapshot.id) : [];
    await step("restic forget --prune (every snapshot)", restic(secret, ["forget", "--prune", ...ids], cacheDir));
    // The attacker's own view afterwards.
    await step("restic snapshots (the attacker's view)", restic(secret, ["snapshots", "--json", "--no-lock"], cacheDir));
    // 2. Every version the key can list, as the attacker sees them (the key may list versions).
    const listing = await server.mc(["ls", "--recursive", "--versions", "--json", `user/${reach}`], { as });
    const seen = listing.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { status?: string; key?: string; url?: string; versionId?: string })
      .filter((entry) => entry.status === "success" && entry.key && entry.versionId)
      .map((entry) => ({ key: `${(entry.url ?? "").replace(/^[a-z]+:\/\/[^/]+\//, "").slice(bucket.length + 1)}${entry.key}`, versionId: entry.versionId! }));
    // 3. Overwrite every current object with junk (before the deletes, so there is something to overwrite).
    await inParallel([...new Set(seen.map((version) => version.key))], (object) =>
      step(`overwrite ${object}`, server.mc(["pipe", `user/${bucket}/${object}`], { as, input: "encrypted by the attacker\n" })),
    );
    // 4. Delete every version, in bulk and one by one, plainly and bypassing governance.
    await step("mc rm --recursive --versions --force", server.mc(["rm", "--recursive", "--versions", "--force", `user/${reach}`], { as }));
    await inParallel(seen, async (version) => {
      await step(`DeleteObject ${versionKey(version)}`, server.mc(["rm", "--version-id", version.versionId, `user/${bucket}/${version.key}`], { as }));
      await step(`DeleteObject --bypass ${versionKey(version)}`, server.mc(["rm", "--bypass", "--version-id", version.versionId, `user/${bucket}/${version.key}`], { as }));
    });
    // 5. Loosen what protects the versions: retention, lifecycle, versioning, the bucket itself.
    const sample = seen.find((version) => version.key.endsWith("/config")) ?? seen[0];
    if (sample) {
      await step("shorten retention to 1 day (GOVERNANCE)", server.mc(["retention", "set", "--version-id", sample.versionId, "GOVERNANCE", "1d", `user/${bucket}/${sample.key}`], { as }));
      await step("clear retention", server.mc(["retention", "clear", "--version-id", sample.versionId, `user/${bucket}/${sample.key}`], { as }));
      await step("legal hold off", server.mc(["legalhold", "clear", "--version-id", sample.versionId, `user/${bucket}/${sample.key}`], { as }));
    }
    await step("lifecycle: expire noncurrent versions after 1 day", server.mc(["ilm", "rule", "add", "--noncurrent-expire-days", "1", `user/${bucket}`], { as }));
    await step("lifecycle: expire objects after 1 day", server.mc(["ilm", "rule", "add", "--expire-days", "1", `user/${bucket}`], { as }));
    await step("suspend versioning", server.mc(["version", "suspend", `user/${bucket}`], { as }));
    await step("delete the bucket", server.mc(["rb", "--force", `user/${bucket}`], { as }));
    return steps;
  }

  const stepsNamed = (steps: AttackStep[], prefix: string) => {
    const found = steps.filter((s) => s.step.startsWith(prefix));
    assert.ok(found.length > 0, `the attack ran no step "${prefix}"`);
    return found;
  };

  /**
   * The operator's rollback (master credentials, never in the cluster): every version written
   * after `cut` (the attacker's delete markers and overwrites) is deleted, so each object's
   * newest remaining version is the one it had before the attack. On B2 this is deleting the
   * hide markers (and the junk versions) with a key that has deleteFiles.
   */
  async function rollBack(server: MinioServer, bucket: string, prefix: string, cut: number): Promise<number> {
    let removed = 0;
    for (const version of await server.versions(bucket, prefix)) {
      if (Date.parse(version.lastModified) <= cut) continue;
      await server.mustMc(["rm", "--version-id", version.versionId, `root/${bucket}/${version.key}`]);
      removed++;
    }
    return removed;
  }

  // -------------------------------------------------------------------------------------------

  describe("what the plan configures for tier-1 buckets", () => {
    const resourcesOf = (scenario: Scenario, type: string) => scenario.stack.resources.filter((r) => r.type === type);

    it("B2: object lock at creation, no default retention, hidden versions kept lockDays, keys without deleteFiles", () => {
      const { stack } = immutable;
      const lockDays = (stack.config.destinations.b2 as { lockDays: number }).lockDays;
      const minLockDays = 7; // README: tier 1 goes offsite "immutably (7+ days)"
      assert.ok(lockDays >= minLockDays);
      const { bucket } = repositoryPlace(immutable, "b2");
      const declared = resourcesOf(immutable, "aws:s3/bucket:Bucket").map(inputsOf).find((inputs) => inputs.bucket === bucket);
      assert.ok(declared, `the plan declares bucket ${bucket}`);
      assert.equal(declared.objectLockEnabled, true);
      assert.equal(declared.forceDestroy, false);
      assert.deepEqual(resourcesOf(immutable, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"), [], "no default retention: the tools prune");
      const lifecycles = resourcesOf(immutable, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").map(inputsOf);
      const lifecycle = lifecycles.find((inputs) => inputs.bucket === bucket);
      assert.ok(lifecycle, `bucket ${bucket} has a lifecycle`);
      const rules = lifecycle.rules as { id: string; noncurrentVersionExpiration?: { noncurrentDays: number }; expiration?: unknown }[];
      const hidden = rules.find((rule) => rule.noncurrentVersionExpiration);
      assert.ok(hidden && hidden.noncurrentVersionExpiration!.noncurrentDays >= lockDays, "hidden versions stay at least lockDays");
      assert.ok(!rules.some((rule) => rule.expiration), "no rule expires current versions");
      const key = keyOf(immutable, "b2");
      const keyResource = stack.resources.find((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.name === key.name)!;
      const capabilities = inputsOf(keyResource).capabilities as string[];
      assert.ok(capabilities.includes("writeFiles") && capabilities.includes("readFiles"));
      for (const forbidden of ["deleteFiles", "writeFileRetentions", "writeFileLegalHolds", "writeBucketRetentions", "writeBuckets", "deleteBuckets", "bypassGovernance", "writeKeys", "deleteKeys"]) {
        assert.ok(!capabilities.includes(forbidden), `the cluster's key lacks ${forbidden}`);
      }
      assert.equal(key.namePrefix, `${NAMESPACE}/`);
    });

    it("R2: lock rules cover restic's config, keys, data and snapshots (lockDays, keys indefinitely), not index or locks", () => {
      const lockDays = (immutable.stack.config.destinations.r2 as { lockDays: number }).lockDays;
      const { bucket, path } = repositoryPlace(immutable, "r2");
      const planned = immutable.provisioned.r2.buckets.find((b) => b.name === bucket)!;
      const rule = (prefix: string) => planned.lockRules.find((r) => r.prefix === prefix);
      for (const prefix of [`${path}/data/`, `${path}/snapshots/`]) assert.deepEqual(rule(prefix), { prefix, days: lockDays, indefinite: false });
      for (const prefix of [`${path}/config`, `${path}/keys/`]) assert.equal(rule(prefix)?.indefinite, true, `${prefix} is locked for good`);
      assert.ok(!planned.lockRules.some((r) => `${path}/index/x`.startsWith(r.prefix) || `${path}/locks/x`.startsWith(r.prefix)), "restic rewrites index/ and locks/");
      const lock = immutable.stack.resources.find((r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock" && inputsOf(r).bucketName === bucket)!;
      assert.equal(lock.options.protect, true, "the lock cannot be removed by a plain pulumi destroy");
      assert.equal(keyOf(immutable, "r2").bucket, bucket, "the token reaches this bucket only");
    });

    it("immutable: false switches both off, and the plan's own policy report refuses it for tier 1 (the negative control's stack)", () => {
      assert.equal(keyOf(mutable, "b2").canDelete, true);
      assert.deepEqual(mutable.provisioned.r2.buckets.flatMap((b) => b.lockRules), []);
      const report = JSON.parse(mutable.stack.result.artifacts["policy-report.json"]!) as { evaluations: { policy: string; violations: unknown[] }[] };
      assert.ok(report.evaluations.find((e) => e.policy === "immutable-offsite-required")!.violations.length > 0);
      const clean = JSON.parse(immutable.stack.result.artifacts["policy-report.json"]!) as { evaluations: { policy: string; violations: unknown[] }[] };
      assert.deepEqual(clean.evaluations.find((e) => e.policy === "immutable-offsite-required")!.violations, []);
    });
  });

  // -------------------------------------------------------------------------------------------

  for (const destination of DESTINATIONS) {
    describe(`vaultwarden/data on ${destination} (tier 1)`, () => {
      let volume: string;
      let before: S3Version[];
      let cut: number;
      let steps: AttackStep[];

      it("backs up, then the attacker with the cluster's Secret runs every destructive step", async () => {
        volume = await backUp(immutable, destination, "immutable");
        const { bucket } = repositoryPlace(immutable, destination);
        const all = await immutable.servers[destination].versions(bucket, keyOf(immutable, destination).namePrefix ?? "");
        before = all.filter((v) => !v.deleteMarker);
        assert.ok(before.some((v) => v.key.includes("/data/")) && before.some((v) => v.key.includes("/snapshots/")), "the repository holds packs and snapshots");
        // The moment before the attack: the newest version or delete marker (restic's own lock removals are markers).
        cut = Math.max(...all.map((v) => Date.parse(v.lastModified)));
        steps = await attack(immutable, destination, "immutable");
        // The attack is real, not a no-op: restic reports success and the attacker sees no snapshot.
        const [forget] = stepsNamed(steps, "restic forget --prune");
        assert.equal(forget!.result.code, 0, output(forget!.result));
        assert.match(forget!.result.stdout, /2 snapshots have been removed, running prune[\s\S]*removing \d+ old packs/);
        const [view] = stepsNamed(steps, "restic snapshots");
        assert.ok(view!.result.code !== 0 || (JSON.parse(view!.result.stdout) as unknown[]).length === 0, `the attacker still sees snapshots: ${output(view!.result)}`);
        // Overwrites are allowed (the key writes): they only add versions.
        for (const overwrite of stepsNamed(steps, "overwrite ")) assert.equal(overwrite.result.code, 0, `${overwrite.step}: ${output(overwrite.result)}`);
      });

      it("refuses every step that would loosen the protection: retention, legal hold, lifecycle, versioning, the bucket", () => {
        // mc legalhold exits 0 even when the server refuses: its "<ERROR> ... Access Denied" line is the verdict.
        const refused = (result: Result) => denied(result) || (result.code !== 0 && /WORM protected|retention/i.test(output(result))) || /<ERROR>[^\n]*Access Denied/.test(output(result));
        for (const name of ["shorten retention", "lifecycle: expire noncurrent", "lifecycle: expire objects", "suspend versioning", "delete the bucket"]) {
          for (const attempt of stepsNamed(steps, name)) assert.ok(refused(attempt.result), `${attempt.step} must be refused: ${output(attempt.result)}`);
        }
        // B2 versions carry no retention (no default retention; deletes only hide), so clearing one
        // changes nothing there (MinIO even reports it cleared); under R2's emulated lock it is refused.
        for (const name of ["clear retention", "legal hold off"]) {
          for (const attempt of stepsNamed(steps, name)) {
            if (destination === "r2" || name === "legal hold off") assert.ok(refused(attempt.result), `${attempt.step} must be refused: ${output(attempt.result)}`);
          }
        }
      });

      if (destination === "b2") {
        it("B2: refuses deleting any version, in bulk or one by one, bypass or not; every version survives", async () => {
          assert.notEqual(stepsNamed(steps, "mc rm --recursive --versions")[0]!.result.code, 0);
          for (const attempt of stepsNamed(steps, "DeleteObject ")) assert.ok(denied(attempt.result), `${attempt.step}: ${output(attempt.result)}`);
          const { bucket } = repositoryPlace(immutable, destination);
          const after = new Set((await immutable.servers.b2.versions(bucket)).map(versionKey));
          const lost = before.filter((v) => !after.has(versionKey(v))).map(versionKey);
          assert.deepEqual(lost, [], "no version written before the attack is gone");
        });
      } else {
        it("R2: refuses deleting what the lock rules hold; what they do not hold (index, locks) is destroyed", async () => {
          const { bucket, path } = repositoryPlace(immutable, destination);
          const rules = immutable.provisioned.r2.buckets.find((b) => b.name === bucket)!.lockRules;
          const locked = (objectKey: string) => rules.some((rule) => objectKey.startsWith(rule.prefix));
          for (const attempt of stepsNamed(steps, "DeleteObject ")) {
            const objectKey = attempt.step.replace(/^DeleteObject (--bypass )?/, "").replace(/@[^@]*$/, "");
            if (locked(objectKey) && before.some((v) => versionKey(v) === attempt.step.replace(/^DeleteObject (--bypass )?/, ""))) {
              assert.notEqual(attempt.result.code, 0, `${attempt.step} must be refused`);
              assert.match(output(attempt.result), /retention|locked|WORM|protected/i);
            }
          }
          const after = new Set((await immutable.servers.r2.versions(bucket)).map(versionKey));
          assert.deepEqual(before.filter((v) => locked(v.key) && !after.has(versionKey(v))).map(versionKey), [], "every locked version survives");
          const unlocked = before.filter((v) => !locked(v.key));
          assert.ok(unlocked.some((v) => v.key.startsWith(`${path}/index/`)), "the repository had index files before the attack");
          assert.deepEqual(unlocked.filter((v) => after.has(versionKey(v))).map(versionKey), [], "negative control: unlocked objects are really destroyed");
        });
      }

      it("the operator rolls the repository back to before the attack and restic finds every snapshot intact", async () => {
        const server = immutable.servers[destination];
        const { bucket, path } = repositoryPlace(immutable, destination);
        const removed = await rollBack(server, bucket, `${path}/`, cut);
        // On B2 the attack's hide markers and junk versions are what the rollback removes; on R2 the
        // attacker could already destroy those (they are unlocked), as R2 never keeps them.
        if (destination === "b2") assert.ok(removed > 0, "the attack left hide markers and junk versions to remove");
        const secret = clusterSecret(immutable, destination);
        const cacheDir = join(root, `restore-${destination}-cache`);
        if (destination === "r2") {
          // R2 kept no index (unlocked, destroyed): restic rebuilds it from the locked packs.
          const broken = await restic(secret, ["check"], cacheDir);
          assert.notEqual(broken.code, 0, "without its index files the repository does not check");
          const repaired = await restic(secret, ["repair", "index"], cacheDir);
          assert.equal(repaired.code, 0, output(repaired));
        }
        const snapshots = await restic(secret, ["snapshots", "--json"], cacheDir);
        assert.equal(snapshots.code, 0, output(snapshots));
        assert.equal((JSON.parse(snapshots.stdout) as unknown[]).length, 2, "both snapshots are back");
        const check = await restic(secret, ["check", "--read-data"], cacheDir);
        assert.equal(check.code, 0, output(check));
        assert.match(check.stdout, /no errors were found/);
      });

      it("restores one file with the runbook's commands and the whole volume with the runbook's ReplicationDestination", async () => {
        const stack = immutable.stack;
        const server = immutable.servers[destination];
        const page = stack.runbook(NAMESPACE);
        const section = redirectEndpoint(runbookSection(page, `volume-data-from-${destination}`), documentedEndpoint(stack.config, destination).url, server);
        const login = blockWith(section, "kubectl get secret");
        const restore = fillPlaceholder(blockWith(section, "restic restore latest"), "<path in the volume>", "attachments/a1/scan.pdf");
        const work = join(root, `runbook-${destination}`);
        mkdirSync(work);
        const shims = credentialCliShims(root, {
          vault: stack.config.secretStore.vault!,
          store: stack.store,
          secrets: { [`${NAMESPACE}/${repositorySecretName(immutable, destination)}`]: plannedSecret(immutable, destination) },
        });
        const bin = scriptToolDir(root, ["restic", "head", "cat", "base64"], shims);
        const result = await runShell(`${login}\n${restore}`, { cwd: work, env: { PATH: bin, HOME: work, RESTIC_CACHE_DIR: join(work, "cache") } });
        assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
        assert.deepEqual(readFileSync(join(work, "restore", "attachments", "a1", "scan.pdf")), readFileSync(join(volume, "attachments", "a1", "scan.pdf")));
        assert.ok(!readFileSync(join(work, "restore", "attachments", "a1", "scan.pdf"), "latin1").includes("encrypted by the attacker"));

        const claim = join(root, `restored-${destination}`, "data");
        mkdirSync(claim, { recursive: true });
        writeFileSync(join(claim, "db.sqlite3"), "encrypted by the attacker\n");
        await volsyncResticRestore({ secret: clusterSecret(immutable, destination), dataDir: claim, cacheDir: join(root, `restored-${destination}-cache`), previous: 0, enableFileDeletion: true });
        const expected = treeOf(volume);
        delete expected["lost+found/"];
        assert.deepEqual(treeOf(claim), expected, "every byte of the newest backup is back");
      });
    });
  }

  // -------------------------------------------------------------------------------------------

  it("negative control: with immutable: false the same attack destroys both repositories beyond any rollback", async () => {
    // Both destinations at once (separate servers): the same steps as above, on the unlocked stack.
    await Promise.all(
      DESTINATIONS.map(async (destination) => {
        await backUp(mutable, destination, "mutable");
        const server = mutable.servers[destination];
        const { bucket, path } = repositoryPlace(mutable, destination);
        const before = await server.versions(bucket, `${path}/`);
        assert.ok(before.some((v) => !v.deleteMarker));
        const cut = Math.max(...before.map((v) => Date.parse(v.lastModified)));
        const steps = await attack(mutable, destination, "mutable");
        assert.equal(stepsNamed(steps, "restic forget --prune")[0]!.result.code, 0);
        const bulk = stepsNamed(steps, "mc rm --recursive --versions")[0]!;
        assert.equal(bulk.result.code, 0, `a key that may delete destroys every version: ${output(bulk.result)}`);
        assert.deepEqual(await server.versions(bucket, `${path}/`), [], "nothing is left, not even old versions");
        await rollBack(server, bucket, `${path}/`, cut);
        const opened = await restic(clusterSecret(mutable, destination), ["snapshots", "--json"], join(root, `mutable-${destination}-restore-cache`));
        assert.notEqual(opened.code, 0, `${destination}: no repository is left to restore from`);
      }),
    );
  });
});
