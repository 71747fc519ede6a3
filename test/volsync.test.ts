import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restoreCheckScript } from "../domain/jobs/restoreCheck";
import { parseStackConfig } from "../domain/config/parse";
import { planBackups } from "../domain/plan";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { syntheticStack } from "../offline/syntheticStack";
import { reveal } from "../offline/wire";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";

type Manifest = { metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: Record<string, any> }; // `any`: specs are walked by path in assertions

const manifestOf = (resource: CapturedResource) => reveal(resource.inputs) as unknown as Manifest;
const byKind = (run: ProgramRun, kind: string) =>
  run.resources.filter((resource) => resource.type.endsWith(`:${kind}`) && resource.custom).map((resource) => ({ resource, manifest: manifestOf(resource) }));

describe("volume backups with VolSync", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runExample();
  });

  it("gives every tier 1 and 2 volume the ReplicationSources its tier requires", () => {
    const plan = planBackups(exampleStackConfig());
    const sources = byKind(run, "ReplicationSource");
    for (const item of plan.items.filter((i) => i.kind === "volume" && i.tier <= 2)) {
      assert.ok(item.copies.length > 0, `${item.id} has copies`);
      for (const copy of item.copies.filter((c) => c.controller === "volsync")) {
        const source = sources.find(
          ({ manifest }) => manifest.metadata.namespace === item.namespace && manifest.metadata.labels["homelab-backups.dev/data"] === item.id.replace(/\//g, ".") && manifest.metadata.labels["homelab-backups.dev/destination"] === copy.destination,
        );
        assert.ok(source, `no ReplicationSource for ${copy.id}`);
        const mover = copy.method === "volsync-kopia" ? "kopia" : "restic";
        assert.ok(source.manifest.spec[mover], `${copy.id} uses ${mover}`);
        assert.equal(source.manifest.spec.trigger.schedule, copy.schedule.controllerCron);
        assert.equal(source.manifest.spec[mover].copyMethod, "Snapshot");
        assert.equal(source.manifest.spec[mover].volumeSnapshotClassName, "csi-ceph-blockpool");
      }
    }
    assert.equal(sources.length, plan.items.filter((i) => i.kind === "volume").reduce((n, i) => n + i.copies.filter((c) => c.controller === "volsync").length, 0));
  });

  it("gives every restic volume a repository path of its own", () => {
    // Restore drills and verifications read the repository of the copy they check: only the writers must differ.
    const writers = byKind(run, "ExternalSecret").filter(
      ({ manifest }) => manifest.metadata.labels["homelab-backups.dev/restore-drill"] !== "true" && manifest.metadata.labels["homelab-backups.dev/verify"] !== "true",
    );
    const secrets = writers.map(({ manifest }) => manifest.spec.target.template.data.RESTIC_REPOSITORY).filter(Boolean);
    assert.ok(secrets.length >= 6);
    assert.equal(new Set(secrets).size, secrets.length, "two restic repositories coincide");
    // Also when two apps share a namespace and claim-like names.
    const crowded = planBackups(parseStackConfig(syntheticStack(60)));
    const paths = crowded.items.flatMap((item) => item.copies.filter((c) => c.method === "volsync-restic").map((c) => `${c.location}/${item.app}/${item.name}`));
    assert.equal(new Set(paths).size, paths.length);
  });

  it("sets the Kopia identity explicitly and identically on sources and bootstrap destinations", async () => {
    const bootstrapped = await runExample(
      editedConfig((c) => {
        c.apps.immich.volumes.library.restoreOnBootstrap = true;
        c.apps.arr.volumes["radarr-config"].restoreOnBootstrap = true;
      }),
    );
    const destinations = byKind(bootstrapped, "ReplicationDestination").filter(({ manifest }) => manifest.spec.kopia);
    assert.equal(destinations.length, 2);
    for (const { manifest } of destinations) {
      const claim = manifest.metadata.name.replace(/-bootstrap$/, "");
      const sources = byKind(bootstrapped, "ReplicationSource").filter(({ manifest: source }) => source.spec.sourcePVC === claim);
      assert.ok(sources.length > 0);
      for (const { manifest: source } of sources) {
        assert.equal(source.spec.kopia.username, manifest.spec.kopia.username, `${claim} username`);
        assert.equal(source.spec.kopia.hostname, manifest.spec.kopia.hostname, `${claim} hostname`);
      }
      assert.ok(manifest.spec.kopia.username && manifest.spec.kopia.hostname);
    }
  });

  describe("restore-once bootstrap", () => {
    const find = (r: ProgramRun, kind: string, name: string) => byKind(r, kind).find(({ manifest }) => manifest.metadata.name === name)!;

    it("creates the claim from a restore-once ReplicationDestination", () => {
      const destination = find(run, "ReplicationDestination", "vaultwarden-data-bootstrap");
      assert.deepEqual(destination.manifest.spec.trigger, { manual: "restore-once" });
      const restic = destination.manifest.spec.restic;
      assert.equal(restic.copyMethod, "Snapshot", "the volume populator needs a snapshot");
      assert.equal(restic.repository, "hb-vaultwarden-data-nas", "restores from the NAS when there is one");
      assert.ok(restic.cleanupCachePVC && restic.cleanupTempPVC);
      const claim = find(run, "PersistentVolumeClaim", "vaultwarden-data");
      assert.deepEqual(claim.manifest.spec.dataSourceRef, { apiGroup: "volsync.backube", kind: "ReplicationDestination", name: "vaultwarden-data-bootstrap" });
      assert.equal(claim.resource.options.protect, true);
      assert.equal(claim.resource.options.retainOnDelete, true);
    });

    it("never re-triggers: the trigger is a constant and Pulumi ignores later spec changes", async () => {
      const changed = await runExample(
        editedConfig((c) => {
          c.apps.vaultwarden.volumes.data.capacity = "20Gi";
          c.apps.vaultwarden.schedule = { onsite: "every 2h" };
        }),
      );
      for (const r of [run, changed]) {
        const destination = find(r, "ReplicationDestination", "vaultwarden-data-bootstrap");
        assert.equal(destination.manifest.spec.trigger.manual, "restore-once");
        assert.deepEqual(destination.resource.options.ignoreChanges, ["spec"]);
      }
      assert.equal(find(changed, "ReplicationDestination", "vaultwarden-data-bootstrap").resource.urn, find(run, "ReplicationDestination", "vaultwarden-data-bootstrap").resource.urn);
    });

    it("gates a tier 1 claim on a check Job that finds a backup, unless the first deploy allows an empty one", async () => {
      const job = find(run, "Job", "vaultwarden-data-restore-check");
      const claim = find(run, "PersistentVolumeClaim", "vaultwarden-data");
      assert.ok(claim.resource.dependencies.includes(job.resource.urn), "the claim waits for the check");
      const script = job.manifest.spec.template.spec.containers[0].command[2] as string;
      assert.match(script, /holds no snapshot/);
      const firstDeploy = await runExample(editedConfig((c) => (c.apps.vaultwarden.volumes.data.allowEmptyRestore = true)));
      assert.equal(byKind(firstDeploy, "Job").filter(({ manifest }) => manifest.metadata.name.endsWith("restore-check")).length, 0);
      const tier2 = await runExample(editedConfig((c) => (c.apps.arr.volumes["radarr-config"].restoreOnBootstrap = true)));
      assert.ok(!byKind(tier2, "Job").some(({ manifest }) => manifest.metadata.name === "radarr-config-restore-check"), "tier 2 is not gated");
    });
  });

  describe("mover hygiene", () => {
    it("runs movers as the volume's owner without recursive chowns", () => {
      for (const { manifest } of byKind(run, "ReplicationSource")) {
        const mover = manifest.spec.restic ?? manifest.spec.kopia;
        const context = mover.moverSecurityContext;
        assert.equal(context.fsGroupChangePolicy, "OnRootMismatch");
        assert.equal(context.runAsUser, manifest.metadata.namespace === "downloads" ? 568 : 1000);
        assert.equal(context.fsGroup, context.runAsGroup);
        assert.ok(mover.moverResources.requests && mover.moverResources.limits);
      }
    });

    it("sizes the cache on its own and never on a denylisted class", async () => {
      const grown = await runExample(editedConfig((c) => (c.apps.immich.volumes.library.capacity = "4Ti")));
      for (const { manifest } of byKind(grown, "ReplicationSource")) {
        const mover = manifest.spec.restic ?? manifest.spec.kopia;
        assert.equal(mover.cacheCapacity, "2Gi");
        for (const storageClass of [mover.storageClassName, mover.cacheStorageClassName].filter(Boolean)) {
          assert.ok(!["ceph-filesystem"].includes(storageClass), `${manifest.metadata.name} uses ${storageClass}`);
        }
      }
    });

    it("requires an app's Kopia volumes to share an owner (their repository has one maintenance)", () => {
      assert.throws(
        () => parseStackConfig(editedConfig((c) => (c.apps.arr.volumes["sonarr-config"].uid = 1000))),
        /apps\.arr\.volumes\.sonarr-config\.uid: Kopia volumes of one app share a repository/,
      );
    });
  });

  it("runs one KopiaMaintenance per Kopia repository", () => {
    const maintenances = byKind(run, "KopiaMaintenance").map(({ manifest }) => `${manifest.metadata.namespace}/${manifest.spec.repository.repository}`);
    assert.deepEqual(maintenances.sort(), [
      "downloads/hb-arr-bazarr-config-nas",
      "downloads/hb-arr-bazarr-config-offsite-nas",
      "immich/hb-immich-library-b2",
      "immich/hb-immich-library-nas",
      "immich/hb-immich-library-r2",
    ]);
  });

  it("starts at most 4 jobs in any minute for a 100-app stack", () => {
    const plan = planBackups(parseStackConfig(syntheticStack(100)));
    assert.ok(plan.peakStarts <= 4, `peak ${plan.peakStarts}`);
    const hourly = plan.items.flatMap((item) => item.copies).filter((copy) => copy.schedule.cron.split(" ")[1] === "*");
    assert.ok(new Set(hourly.map((copy) => copy.schedule.cron.split(" ")[0])).size > 30, "hourly copies spread over the hour");
  });

  describe("operators", () => {
    it("installs nothing by default", () => {
      assert.equal(run.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length, 0);
    });

    it("installs pinned releases on request, the Kopia fork when a volume uses Kopia, and never uninstalls them", async () => {
      const managed = await runExample(
        editedConfig((c) => (c.operators = { volsync: { manage: true }, snapshotController: { manage: true } })),
      );
      const releases = managed.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
      const charts = releases.map((r) => `${(reveal(r.inputs) as { chart: string }).chart}@${(reveal(r.inputs) as { version: string }).version}`).sort();
      assert.deepEqual(charts, ["oci://ghcr.io/home-operations/charts-mirror/volsync-perfectra1n@0.18.5", "snapshot-controller@4.1.0"]);
      for (const release of releases) assert.equal(release.options.retainOnDelete, true);
      const source = managed.resources.find((r) => r.type === "kubernetes:volsync.backube/v1alpha1:ReplicationSource")!;
      assert.ok(releases.every((release) => source.dependencies.includes(release.urn)), "ReplicationSources wait for the operator");
    });
  });

  describe("the restore check script, against a real restic repository", () => {
    const dir = mkdtempSync(join(tmpdir(), "restore-check-"));
    const script = join(dir, "check.sh");
    writeFileSync(script, restoreCheckScript("restic", { username: "x", hostname: "y" }));
    const env = (repository: string, password = "correct horse") => ({ ...process.env, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: join(dir, "cache") });
    const check = (repository: string, password?: string) => spawnSync("sh", [script], { env: env(repository, password), encoding: "utf8" });

    it("fails when the repository does not exist (a typo'd URL restores nothing)", () => {
      const result = check(join(dir, "missing"));
      assert.equal(result.status, 1);
      assert.match(result.stderr, /cannot open the repository/);
    });

    it("fails on an empty repository, pointing at allowEmptyRestore", () => {
      const repository = join(dir, "empty");
      execFileSync("restic", ["init"], { env: env(repository), stdio: "ignore" });
      const result = check(repository);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /holds no snapshot; .*allowEmptyRestore: true/);
    });

    it("fails with the wrong password and passes once a snapshot exists", () => {
      const repository = join(dir, "full");
      execFileSync("restic", ["init"], { env: env(repository), stdio: "ignore" });
      execFileSync("restic", ["backup", "--host", "volsync", script], { env: env(repository), stdio: "ignore" });
      assert.equal(check(repository, "wrong").status, 1);
      const result = check(repository);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /1 snapshot\(s\)/);
    });
  });
});
