import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restoreCheckScript } from "../domain/jobs/restoreCheck";
import { parseStackConfig } from "../domain/config/parse";
import { planBackups } from "../domain/plan";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { syntheticStack } from "../offline/syntheticStack";
import { reveal } from "../offline/wire";
import { resourceRecords } from "../offline/render";
import { RESTORE_CHECK_DEADLINE_SECONDS, RESTORE_CHECK_TIMEOUT } from "../methods/volsync/manifests";
import { kopiaMirrorPlanSection, kopiaMirrors, kopiaMirrorScript, MIRROR_GAP_MINUTES } from "../methods/volsync-kopia/mirror";
import { bucketConsumers } from "../domain/storage";
import { restrictedViolations } from "../domain/podSecurity";
import { validateObject } from "./support/schemas";
import { EXAMPLE_STACK, editedConfig, ExampleConfig, exampleStackConfig, runExample, writeStackFile } from "./support/stack";
import { runOfflinePlan } from "../offline/plan";

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

    it("runs the restore only after the check passed: check Job -> ReplicationDestination -> claim", () => {
      const job = find(run, "Job", "vaultwarden-data-restore-check");
      const destination = find(run, "ReplicationDestination", "vaultwarden-data-bootstrap");
      const claim = find(run, "PersistentVolumeClaim", "vaultwarden-data");
      // An unreachable repository makes the restore "succeed" with an empty snapshot: were the
      // ReplicationDestination created beside the check, the claim would later be populated from it.
      assert.ok(destination.resource.options.dependsOn.includes(job.resource.urn), "the ReplicationDestination waits for the check");
      assert.ok(claim.resource.options.dependsOn.includes(destination.resource.urn), "the claim waits for the ReplicationDestination");
      assert.ok(!job.resource.dependencies.includes(destination.resource.urn), "the check does not wait for the restore");
      // The same chain, as resources.json records it.
      const records = new Map(resourceRecords(run.resources).map((record) => [record.urn, record]));
      assert.ok(records.get(destination.resource.urn)!.options.dependsOn.includes(job.resource.urn));
      assert.ok(records.get(claim.resource.urn)!.options.dependsOn.includes(destination.resource.urn));
      // Kept and never re-run once passed; a failed one is re-run by replacing it (it has a fixed name).
      assert.deepEqual(job.resource.options.ignoreChanges, ["spec"]);
      assert.equal(job.resource.options.deleteBeforeReplace, true);
      assert.equal(job.manifest.spec.ttlSecondsAfterFinished, undefined, "a finished check stays: deleting it would re-run it");
      // Pulumi waits for the Job longer than the Job may run, so its verdict is the Job's.
      assert.equal(job.manifest.spec.activeDeadlineSeconds, RESTORE_CHECK_DEADLINE_SECONDS);
      assert.ok(Number.parseInt(RESTORE_CHECK_TIMEOUT, 10) * 60 > RESTORE_CHECK_DEADLINE_SECONDS, RESTORE_CHECK_TIMEOUT);
    });

    it("leaves an ungated restore to its Secret and the operators (tier 2, or allowEmptyRestore)", async () => {
      const tier2 = await runExample(editedConfig((c) => (c.apps.arr.volumes["radarr-config"].restoreOnBootstrap = true)));
      const destination = find(tier2, "ReplicationDestination", "radarr-config-bootstrap");
      const secret = find(tier2, "ExternalSecret", destination.manifest.spec.kopia.repository);
      assert.deepEqual(destination.resource.options.dependsOn, [secret.resource.urn]);
      assert.deepEqual(find(tier2, "PersistentVolumeClaim", "radarr-config").resource.options.dependsOn, [destination.resource.urn]);
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

  it("writes the bucket lock's keep-within into restic retention, and nothing Kopia's CRD lacks", () => {
    const plan = planBackups(exampleStackConfig());
    const sources = byKind(run, "ReplicationSource");
    let locked = 0;
    for (const item of plan.items.filter((i) => i.kind === "volume")) {
      for (const copy of item.copies.filter((c) => c.controller === "volsync")) {
        const { manifest } = sources.find(({ manifest: m }) => m.metadata.labels["homelab-backups.dev/data"] === item.id.replace(/\//g, ".") && m.metadata.labels["homelab-backups.dev/destination"] === copy.destination)!;
        const within = copy.retention.kind === "gfs" ? copy.retention.withinDays : undefined;
        if (manifest.spec.restic) assert.equal(manifest.spec.restic.retain.within, within ? `${within}d` : undefined, copy.id);
        else assert.ok(!("within" in manifest.spec.kopia.retain) && !("withinDays" in manifest.spec.kopia.retain), copy.id);
        if (within) locked++;
      }
    }
    assert.ok(locked > 0, "the example has restic copies in a locked R2 bucket");
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

  describe("per-volume VolumeSnapshotClass", () => {
    const onZfs = (snapshotClass?: string) =>
      editedConfig((c) => {
        c.apps.paperless.volumes.media.storageClass = "openebs-zfs";
        if (snapshotClass) c.apps.paperless.volumes.media.volumeSnapshotClass = snapshotClass;
        c.apps.paperless.volumes.media.restoreOnBootstrap = true;
        c.apps.paperless.volumes.media.allowEmptyRestore = true;
      });

    it("refuses a claim on another StorageClass without its own class, naming the key to set", () => {
      assert.throws(
        () => parseStackConfig(onZfs()),
        /apps\.paperless\.volumes\.media\.volumeSnapshotClass: is required: the claim is on StorageClass "openebs-zfs", not cluster\.storageClass "ceph-block".*set apps\.paperless\.volumes\.media\.volumeSnapshotClass/,
      );
      // The cluster's class, named explicitly, needs nothing more.
      const explicit = parseStackConfig(editedConfig((c) => (c.apps.paperless.volumes.media.storageClass = "ceph-block")));
      assert.equal(explicit.apps.paperless.volumes.media.volumeSnapshotClass, undefined);
    });

    it("gives the volume's sources and bootstrap destination its class, and the other volumes the cluster's", async () => {
      const zfs = await runExample(onZfs("openebs-zfs-snapshots"));
      const movers = [...byKind(zfs, "ReplicationSource"), ...byKind(zfs, "ReplicationDestination")];
      const media = movers.filter(({ manifest }) => manifest.metadata.labels["homelab-backups.dev/data"] === "paperless.volume.media");
      assert.ok(media.length >= 3, "two sources and the bootstrap destination");
      for (const { manifest } of movers) {
        const mover = manifest.spec.restic ?? manifest.spec.kopia;
        const expected = media.some((m) => m.manifest === manifest) ? ["openebs-zfs-snapshots", "openebs-zfs"] : ["csi-ceph-blockpool", "ceph-block"];
        assert.deepEqual([mover.volumeSnapshotClassName, mover.storageClassName], expected, manifest.metadata.name);
      }
    });
  });

  describe("Kopia repository mirrors", () => {
    const mirrorJobs = (r: ProgramRun) => byKind(r, "CronJob").filter(({ manifest }) => manifest.metadata.labels["homelab-backups.dev/data"]?.endsWith(".kopia-mirror"));
    const podOf = (manifest: Manifest) => manifest.spec.jobTemplate.spec.template.spec;
    // Seed 001's "Kopia server sync": immich's NAS repository mirrored to B2 and R2.
    const withMirrors = () => editedConfig((c) => (c.apps.immich.kopiaMirrors = ["b2", "r2"]));
    const exampleWithMirrors = () => parseStackConfig(withMirrors());
    let mirrored: ProgramRun;
    before(async () => {
      mirrored = await runExample(withMirrors());
    });

    it("mirrors the example's NAS Kopia repository of immich to B2 and R2, into the app's Kopia buckets under a prefix of their own", () => {
      const config = exampleWithMirrors();
      const plan = planBackups(config);
      const mirrors = kopiaMirrors(config, plan);
      assert.deepEqual(mirrors.map((m) => m.id), ["immich/kopia-mirror@nas>b2", "immich/kopia-mirror@nas>r2"]);
      const copies = plan.items.find((item) => item.id === "immich/volume/library")!.copies;
      for (const mirror of mirrors) {
        assert.equal(mirror.bucket, copies.find((c) => c.destination === mirror.destination && c.method === "volsync-kopia")!.location, "the bucket of the app's own Kopia copy");
        assert.equal(mirror.prefix, "immich.mirror/nas/");
        assert.equal(mirror.sourcePath, "/backup/ether/kopia/immich");
        assert.equal(mirror.sourceLocation, `${copies.find((c) => c.destination === "nas")!.location}/immich`);
      }
      // Its own key, in the same bucket, restricted to the mirror's prefix on B2 (R2 tokens cannot be).
      const b2 = bucketConsumers(config, plan).filter((c) => c.destination === "b2" && c.owner === "immich");
      const own = b2.find((c) => c.credential === "kopia")!;
      const mirror = b2.find((c) => c.credential === "kopia-mirror")!;
      assert.equal(mirror.bucket, own.bucket);
      assert.equal(mirror.prefix, "immich.mirror/");
      assert.ok(!mirror.prefix!.startsWith(own.prefix!) && !own.prefix!.startsWith(mirror.prefix!), "neither key reaches the other's objects");
      assert.equal(mirror.immutable, own.immutable);
    });

    it("runs a restricted, bounded CronJob per mirror that reads the share read-only and gets its keys only from an ExternalSecret", () => {
      const config = exampleWithMirrors();
      const mirrors = kopiaMirrors(config, planBackups(config));
      const jobs = mirrorJobs(mirrored);
      assert.equal(jobs.length, 2);
      for (const mirror of mirrors) {
        const { manifest } = jobs.find(({ manifest: m }) => m.metadata.labels["homelab-backups.dev/destination"] === mirror.destination)!;
        assert.equal(manifest.metadata.namespace, "immich");
        assert.equal(manifest.spec.concurrencyPolicy, "Forbid");
        assert.ok(manifest.spec.startingDeadlineSeconds > 0 && manifest.spec.jobTemplate.spec.activeDeadlineSeconds > 0);
        assert.equal(manifest.spec.timeZone, "America/New_York");
        const pod = podOf(manifest);
        assert.deepEqual(restrictedViolations(pod), []);
        const [container] = pod.containers;
        assert.equal(container.image, config.images.kopia);
        assert.ok(container.resources.requests && container.resources.limits.memory);
        // As the repository files' owner (Kopia writes them 0600).
        assert.equal(pod.securityContext.runAsUser, config.apps.immich.volumes.library.uid);
        const share = pod.volumes.find((v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim?.claimName === "hb-nas");
        assert.equal(share.persistentVolumeClaim.readOnly, true);
        assert.equal(container.volumeMounts.find((m: { name: string }) => m.name === share.name).readOnly, true);
        // Secrets only through the ExternalSecret's Secret: no literal value, no other Secret.
        assert.deepEqual(container.envFrom, [{ secretRef: { name: `hb-immich-kopia-mirror-nas-${mirror.destination}` } }]);
        assert.ok(container.env.every((e: { value?: string; valueFrom?: unknown }) => e.valueFrom === undefined && !/KEY|PASSWORD|TOKEN/.test(String(e.value))), JSON.stringify(container.env));
        const secret = byKind(mirrored, "ExternalSecret").find(({ manifest: m }) => m.metadata.name === container.envFrom[0].secretRef.name && m.metadata.namespace === "immich")!;
        const template = secret.manifest.spec.target.template.data;
        assert.equal(template.KOPIA_PASSWORD, "{{ .kopiaPassword }}");
        assert.match(template.AWS_ACCESS_KEY_ID, /^\{\{ \.\w+ \}\}$/);
        assert.match(template.AWS_SECRET_ACCESS_KEY, /^\{\{ \.\w+ \}\}$/);
        const fields = secret.manifest.spec.data.map((d: { remoteRef: { key: string } }) => d.remoteRef.key);
        assert.ok(fields.includes("homelab-backups-ether-immich/kopia-password"));
        assert.ok(fields.includes(`homelab-backups-ether-immich/${mirror.destination}-kopia-mirror-access-key-id`), fields.join(", "));
        // The script mirrors exactly this repository to exactly this bucket and prefix.
        const script = container.command[2] as string;
        assert.match(script, new RegExp(`^SOURCE_PATH='${mirror.sourcePath}'$`, "m"));
        assert.match(script, new RegExp(`^BUCKET='${mirror.bucket}'$`, "m"));
        assert.match(script, new RegExp(`^PREFIX='${mirror.prefix.replace(/\./g, "\\.")}'$`, "m"));
        assert.match(script, new RegExp(`^ENDPOINT='${mirror.endpoint.replace(/\./g, "\\.")}'$`, "m"));
        assert.match(script, /repository connect filesystem --path="\$SOURCE_PATH" --readonly /);
        assert.match(script, /repository sync-to s3 --bucket="\$BUCKET" --prefix="\$PREFIX" --endpoint="\$ENDPOINT" --region="\$REGION" --delete/);
      }
      assert.equal(mirrors.find((m) => m.destination === "b2")!.endpoint, "s3.us-east-005.backblazeb2.com");
      assert.equal(mirrors.find((m) => m.destination === "r2")!.endpoint, "0f1e2d3c4b5a69788796a5b4c3d2e1f0.r2.cloudflarestorage.com");
    });

    it("emits objects that validate against their schemas", async () => {
      const objects = [...mirrorJobs(mirrored), ...byKind(mirrored, "ExternalSecret").filter(({ manifest }) => manifest.metadata.name.includes("kopia-mirror"))];
      assert.equal(objects.length, 4);
      for (const { manifest } of objects) assert.deepEqual((await validateObject(manifest as unknown as Record<string, unknown>)).errors, [], manifest.metadata.name);
    });

    it("runs daily from an hour into the backup window, an hour apart, away from the repository's writers", () => {
      const config = exampleWithMirrors();
      const plan = planBackups(config);
      const [b2, r2] = kopiaMirrors(config, plan);
      const hour = (cron: string) => Number(cron.split(" ")[1]);
      assert.deepEqual([hour(b2.schedule.cron), hour(r2.schedule.cron)], [2, 3], "seed 001: B2 at 2 AM, R2 at 3 AM (window from 01:00)");
      const nasMinute = Number(plan.items.find((i) => i.id === "immich/volume/library")!.copies.find((c) => c.destination === "nas")!.schedule.cron.split(" ")[0]);
      for (const mirror of [b2, r2]) {
        const minute = Number(mirror.schedule.cron.split(" ")[0]);
        const gap = Math.min(Math.abs(minute - nasMinute), 60 - Math.abs(minute - nasMinute));
        assert.ok(gap >= MIRROR_GAP_MINUTES, `${mirror.schedule.cron} starts ${gap} minutes from the hourly NAS copy at :${nasMinute}`);
        assert.match(mirror.schedule.cron, /^\d+ \d+ \* \* \*$/);
      }
    });

    it("is off unless asked for", () => {
      assert.deepEqual(mirrorJobs(run), []);
      const config = exampleStackConfig();
      assert.deepEqual(kopiaMirrors(config, planBackups(config)), []);
      assert.ok(!bucketConsumers(config, planBackups(config)).some((c) => c.credential === "kopia-mirror"));
      assert.ok(!byKind(run, "ExternalSecret").some(({ manifest }) => manifest.metadata.name.includes("kopia-mirror")));
    });

    it("refuses mirrors without a NAS Kopia repository or an offsite Kopia bucket of the app's", () => {
      const problems = (edit: (c: ExampleConfig) => void) => {
        try {
          parseStackConfig(editedConfig(edit));
          return "";
        } catch (error) {
          return (error as Error).message;
        }
      };
      assert.match(problems((c) => (c.apps.vaultwarden.kopiaMirrors = ["b2"])), /apps\.vaultwarden\.kopiaMirrors: .*no volume of the app uses mover: kopia/);
      assert.match(problems((c) => (c.apps.immich.kopiaMirrors = ["nas"])), /apps\.immich\.kopiaMirrors\[0\]: "nas" is a nfs destination; Kopia mirrors go to b2 or r2/);
      assert.match(problems((c) => (c.apps.immich.kopiaMirrors = ["b3"])), /apps\.immich\.kopiaMirrors\[0\]: unknown destination "b3"/);
      assert.match(problems((c) => (c.apps.immich.kopiaMirrors = ["b2", "b2"])), /apps\.immich\.kopiaMirrors\[1\]: "b2" is listed twice/);
      assert.match(problems((c) => (c.apps.arr.kopiaMirrors = ["b2"])), /apps\.arr\.kopiaMirrors\[0\]: "b2" is not one of the app's destinations \(nas, offsite-nas\).*add it to apps\.arr\.destinations/);
      const mirroring = (edit: (c: ExampleConfig) => void) => (c: ExampleConfig) => {
        c.apps.immich.kopiaMirrors = ["b2", "r2"];
        edit(c);
      };
      assert.equal(problems(mirroring(() => undefined)), "", "the example with mirrors is valid");
      assert.match(problems(mirroring((c) => (c.apps.immich.destinations = ["b2", "r2"]))), /apps\.immich\.kopiaMirrors: .*include no nfs destination/);
      assert.match(problems(mirroring((c) => (c.apps.immich.volumes.library.uid = 0))), /apps\.immich\.kopiaMirrors: .*uid 0/);
    });

    it("lists the mirrors in BACKUP-PLAN.md, and nothing for a stack without them", async () => {
      const withSection = (await runOfflinePlan({ configFile: writeStackFile(withMirrors(), "homelab") })).artifacts["BACKUP-PLAN.md"];
      const config = exampleWithMirrors();
      assert.match(withSection, /^## Kopia repository mirrors$/m);
      for (const mirror of kopiaMirrors(config, planBackups(config))) assert.ok(withSection.includes(`\`${mirror.bucket}/${mirror.prefix}\``), mirror.id);
      const without = (await runOfflinePlan({ configFile: EXAMPLE_STACK })).artifacts["BACKUP-PLAN.md"];
      assert.doesNotMatch(without, /Kopia repository mirrors/);
    });

    it("lists the mirrors for BACKUP-PLAN.md with what opens them", () => {
      const config = exampleWithMirrors();
      const mirrors = kopiaMirrors(config, planBackups(config));
      const section = kopiaMirrorPlanSection(config, mirrors).join("\n");
      assert.match(section, /^## Kopia repository mirrors$/m);
      for (const mirror of mirrors) {
        const row = section.split("\n").find((line) => line.startsWith(`| immich | nas: \`${mirror.sourceLocation}\` | ${mirror.destination} `))!;
        assert.ok(row, `no row for ${mirror.id}`);
        assert.ok(row.includes(`\`${mirror.bucket}/${mirror.prefix}\``));
        assert.ok(row.includes(mirror.schedule.description));
        assert.ok(row.includes(`${mirror.destination}-kopia-mirror-access-key-id`));
      }
      assert.deepEqual(kopiaMirrorPlanSection(config, []), []);
    });

    describe("the mirror script, with a stand-in kopia", () => {
      const dir = mkdtempSync(join(tmpdir(), "kopia-mirror-"));
      const bin = join(dir, "bin");
      const calls = join(dir, "calls");
      mkdirSync(bin);
      writeFileSync(join(bin, "kopia"), `#!/bin/sh\nprintf '%s\\n' "$*" >>'${calls}'\nexit \${FAKE_KOPIA_STATUS:-0}\n`, { mode: 0o755 });
      const source = join(dir, "share", "ether", "kopia", "immich");
      const script = join(dir, "mirror.sh");
      writeFileSync(
        script,
        kopiaMirrorScript({ sourcePath: source, bucket: "ether-kopia-00dde2", prefix: "immich.mirror/nas/", endpoint: "s3.us-east-005.backblazeb2.com", region: "us-east-005", notify: { app: "immich", item: "kopia-nas-b2" } }),
      );
      const secrets = { KOPIA_PASSWORD: "kopia-S3cret", AWS_ACCESS_KEY_ID: "AKIA-mirror-id", AWS_SECRET_ACCESS_KEY: "mirror-S3cret-key" };
      const mirror = (env: Record<string, string> = {}) => {
        rmSync(calls, { force: true });
        const result = spawnSync("sh", [script], { env: { PATH: `${bin}:${process.env.PATH}`, TMPDIR: dir, ...secrets, ...env }, encoding: "utf8" });
        return { ...result, calls: existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [] };
      };

      it("refuses an unmounted share or a missing repository before kopia runs", () => {
        const missing = mirror();
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /is the NAS share mounted\?/);
        mkdirSync(source, { recursive: true });
        const empty = mirror();
        assert.equal(empty.status, 1);
        assert.match(empty.stderr, /holds no Kopia repository/);
        assert.deepEqual([...missing.calls, ...empty.calls], [], "kopia never ran");
        assert.match(mirror({ AWS_SECRET_ACCESS_KEY: "" }).stderr, /missing environment variables: AWS_SECRET_ACCESS_KEY/);
      });

      it("connects read-only and syncs with --delete, keys only in the environment, and fails when kopia does", () => {
        mkdirSync(source, { recursive: true });
        writeFileSync(join(source, "kopia.repository.f"), "{}");
        const result = mirror();
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.calls.length, 2);
        assert.match(result.calls[0], new RegExp(`repository connect filesystem --path=${source} --readonly --no-persist-credentials`));
        assert.match(result.calls[1], /repository sync-to s3 --bucket=ether-kopia-00dde2 --prefix=immich\.mirror\/nas\/ --endpoint=s3\.us-east-005\.backblazeb2\.com --region=us-east-005 --delete --parallel=4$/);
        for (const value of Object.values(secrets)) assert.ok(!result.calls.join("\n").includes(value), "no secret on a command line");
        assert.match(result.stdout, /done: mirrored the Kopia repository/);
        const failed = mirror({ FAKE_KOPIA_STATUS: "3" });
        assert.equal(failed.status, 3);
        assert.match(failed.stderr, /FAILED at step: connect to the NAS repository/);
      });

      it("refuses arguments that would not be one bucket and prefix", () => {
        const base = { sourcePath: "/backup/x", bucket: "b-ucket", prefix: "a.mirror/nas/", endpoint: "s3.example.com", region: "auto", notify: { app: "a", item: "i" } };
        assert.throws(() => kopiaMirrorScript({ ...base, prefix: "a.mirror/nas" }), /prefix/);
        assert.throws(() => kopiaMirrorScript({ ...base, endpoint: "https://s3.example.com" }), /endpoint/);
        assert.throws(() => kopiaMirrorScript({ ...base, bucket: "B'; rm -rf /" }), /bucket/);
      });
    });
  });
});
