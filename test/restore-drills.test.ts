/**
 * Restore drills as the program declares them: which data gets one, from which copy, when, and
 * that each drill reaches exactly the repository its copy writes, with the credentials a real
 * restore would use. The drill scripts themselves are proven by real restores in drills.test.ts
 * and cloudsync-drill.test.ts.
 */
import { strict as assert } from "node:assert";
import { drillCadence, drillCron } from "../domain/drillSchedule";
import { maxGapHours } from "../domain/schedule";
import { planBackups } from "../domain/plan";
import { restrictedViolations } from "../domain/podSecurity";
import { HOST_DRILL_MARKER } from "../domain/machines";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { reveal } from "../offline/wire";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";

// `any`: manifests are walked by path in assertions.
type Json = Record<string, any>;
const manifest = (resource: CapturedResource) => reveal(resource.inputs) as Json;
const DRILL = "homelab-backups.dev/restore-drill";

describe("restore drills", function () {
  this.timeout(300_000);
  let run: ProgramRun;
  before(async () => {
    run = await runExample();
  });
  const drills = () => run.resources.filter((r) => r.type === "kubernetes:batch/v1:CronJob" && manifest(r).metadata.labels[DRILL] === "true").map(manifest);
  const externalSecret = (namespace: string, name: string): Json => {
    const found = run.resources.map(manifest).find((m) => m.kind === "ExternalSecret" && m.metadata.namespace === namespace && m.spec.target.name === name);
    assert.ok(found, `an ExternalSecret builds ${namespace}/${name}`);
    return found;
  };

  describe("scheduling", () => {
    it("maps the days between drills to the least frequent calendar cadence that keeps within them", () => {
      assert.deepEqual([1, 6, 7, 30, 31, 91, 92, 365, 366].map(drillCadence), ["daily", "daily", "weekly", "weekly", "monthly", "monthly", "quarterly", "quarterly", "yearly"]);
      const window = { startHour: 1, hours: 6 };
      for (const days of [1, 7, 31, 92, 366]) {
        const cron = drillCron("immich/volume/library", days, window);
        assert.ok(maxGapHours(cron) <= days * 24, `${days} days: "${cron}" runs at least that often`);
        const hour = Number(cron.split(" ")[1]);
        assert.ok(hour >= 7 && hour <= 12, `${cron} starts after the 01:00-07:00 backup window`);
      }
      assert.equal(drillCron("a", 31, window), drillCron("a", 31, window), "deterministic");
      assert.notEqual(drillCron("a", 31, window), drillCron("b", 31, window), "spread by data id");
    });

    it("drills every tier 1 item, from an offsite copy, at least every 31 days", () => {
      const plan = planBackups(exampleStackConfig());
      const jobs = plan.jobs.filter((job) => job.kind === "restore-drill");
      for (const item of plan.items.filter((i) => i.tier === 1)) {
        const job = jobs.find((j) => j.itemId === item.id);
        assert.ok(job, `${item.id} has a drill`);
        const copy = item.copies.find((c) => c.id === job.copyId)!;
        assert.equal(copy.site, "offsite", `${item.id} is drilled from offsite, as after losing the site`);
        assert.ok(maxGapHours(job.schedule.cron) <= 31 * 24);
      }
      assert.ok(!jobs.some((job) => plan.items.find((i) => i.id === job.itemId)!.tier === 3), "tier 3 is never drilled by default");
    });

    it("declares no drills when the tiers ask for none", async () => {
      const none = await runExample(editedConfig((c) => {
        for (const tier of ["1", "2", "3"]) c.tiers[tier] = { ...c.tiers[tier], restoreDrillDays: 0 };
      }));
      assert.deepEqual(none.resources.filter((r) => r.type === "homelab-backups:drills:RestoreDrill").map((r) => r.name), []);
      assert.ok(!none.resources.some((r) => r.type === "command:local:Command" && String(manifest(r).create).includes(HOST_DRILL_MARKER)));
    });
  });

  describe("the CronJobs", () => {
    it("run one at a time, never retry a failed drill, and pass Pod Security restricted", () => {
      assert.ok(drills().length >= 10);
      for (const job of drills()) {
        assert.equal(job.spec.concurrencyPolicy, "Forbid");
        assert.equal(job.spec.jobTemplate.spec.backoffLimit, 0, "a failed drill is a finding, not a flake");
        assert.ok(job.spec.jobTemplate.spec.activeDeadlineSeconds > 0);
        assert.deepEqual(restrictedViolations(job.spec.jobTemplate.spec.template.spec), [], job.metadata.name);
      }
    });

    it("read the same repository the copy writes, through an ExternalSecret", () => {
      const sources = run.resources.filter((r) => r.type.endsWith(":ReplicationSource")).map(manifest);
      for (const job of drills().filter((j) => !j.spec.jobTemplate.spec.template.spec.initContainers)) {
        if (job.metadata.namespace === "backup-system") continue; // the Cloud Sync drill, below
        const secretName = job.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name;
        const drill = externalSecret(job.metadata.namespace, secretName);
        const source = sources.find(
          (rs) => rs.metadata.labels["homelab-backups.dev/data"] === job.metadata.labels["homelab-backups.dev/data"] && rs.metadata.labels["homelab-backups.dev/destination"] === job.metadata.labels["homelab-backups.dev/destination"],
        );
        assert.ok(source, `${job.metadata.name}: a ReplicationSource writes the drilled copy`);
        const mover = source.spec.restic ? "RESTIC_REPOSITORY" : "KOPIA_REPOSITORY";
        const writer = externalSecret(source.metadata.namespace, (source.spec.restic ?? source.spec.kopia).repository);
        assert.equal(drill.spec.target.template.data[mover], writer.spec.target.template.data[mover], `${job.metadata.name} reads what ${source.metadata.name} writes`);
        assert.deepEqual(
          drill.spec.data.filter((d: Json) => d.secretKey !== "ntfyToken" && d.secretKey !== "pingKey").map((d: Json) => d.remoteRef),
          writer.spec.data.map((d: Json) => d.remoteRef),
          "the same store fields as the mover: a drill proves the store still holds working credentials",
        );
      }
    });

    it("restore a CNPG cluster's newest backup from the stanza's own repository settings", () => {
      const stanzas = run.resources.map(manifest).filter((m) => m.kind === "Stanza");
      for (const job of drills().filter((j) => j.metadata.namespace === "database")) {
        const pod = job.spec.jobTemplate.spec.template.spec;
        const env = Object.fromEntries(pod.initContainers[0].env.filter((e: Json) => "value" in e).map((e: Json) => [e.name, e.value]));
        const stanza = stanzas.find((s) => s.metadata.name === env.PGBACKREST_STANZA);
        assert.ok(stanza, `${job.metadata.name} names an existing stanza`);
        const repo = Number(/PGBACKREST_REPO(\d+)_TYPE/.exec(Object.keys(env).join(" "))![1]);
        const settings = stanza.spec.stanzaConfiguration.s3Repositories[repo - 1];
        assert.equal(env[`PGBACKREST_REPO${repo}_S3_BUCKET`], settings.bucket);
        assert.equal(env[`PGBACKREST_REPO${repo}_S3_ENDPOINT`], settings.endpoint);
        assert.equal(env[`PGBACKREST_REPO${repo}_PATH`], settings.repoPath);
        assert.equal(env[`PGBACKREST_REPO${repo}_CIPHER_TYPE`], settings.cipherConfig.type);
        const secret = externalSecret(job.metadata.namespace, pod.initContainers[0].envFrom[0].secretRef.name);
        assert.ok(secret.spec.target.template.data[`PGBACKREST_REPO${repo}_CIPHER_PASS`], "the cipher pass comes from the store");
        const [, verify] = pod.initContainers;
        assert.equal(verify.image, "ghcr.io/cloudnative-pg/postgresql:18.1", "restored into the cluster's own PostgreSQL image");
        assert.equal(verify.envFrom, undefined, "the verify container never sees the bucket keys");
        // CNPG images have no wget: a busybox container reports the verify step's status.
        assert.match(pod.containers[0].image, /restic/);
        assert.equal(pod.containers[0].envFrom, undefined);
        assert.match(pod.containers[0].command.join(" "), /verify\.status/);
      }
    });

    it("give dump drills' database containers no bucket or SSH credentials", () => {
      for (const job of drills().filter((j) => j.spec.jobTemplate.spec.template.spec.initContainers && j.metadata.namespace !== "database")) {
        const verify = job.spec.jobTemplate.spec.template.spec.containers[0];
        assert.equal(verify.envFrom, undefined, job.metadata.name);
        for (const env of verify.env ?? []) assert.ok(["HOME", "TMPDIR", "NTFY_TOKEN", "HEALTHCHECKS_URL"].includes(env.name), `${job.metadata.name}: ${env.name}`);
      }
    });

    it("drill the TrueNAS Cloud Sync copy in the system namespace, from the task's bucket and folder", () => {
      const job = drills().find((j) => j.metadata.name === "truenas-images-drill")!;
      assert.equal(job.metadata.namespace, "backup-system");
      const command = run.resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("images-cloudsync-b2"))!;
      const payload = JSON.parse(/HB_TASK_PAYLOAD='([^']*)'/.exec(String(manifest(command).create))![1]);
      const script = job.spec.jobTemplate.spec.template.spec.containers[0].command.join(" ");
      assert.ok(script.includes(payload.attributes.bucket) && script.includes(payload.attributes.folder), "the drill reads where the task writes");
      const secret = externalSecret("backup-system", job.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name);
      const fields = secret.spec.data.map((d: Json) => d.remoteRef.key);
      assert.ok(fields.some((key: string) => key.endsWith("truenas-images/cloudsync-password")));
      assert.ok(fields.some((key: string) => key.endsWith("truenas/b2-truenas-access-key-id")));
    });
  });

  describe("on hosts", () => {
    it("installs a drill timer after the backup it drills, reading the backup's environment file", () => {
      const drill = run.resources.find((r) => r.type === "command:local:Command" && r.name === "host-storage-server-drill")!;
      const create = String(manifest(drill).create);
      assert.ok(create.includes(`${HOST_DRILL_MARKER} of hosts/host/storage-server from b2`));
      assert.match(create, /EnvironmentFile=\/etc\/homelab-backups\/storage-server-b2\.env/);
      assert.match(create, /OnCalendar=\*-\*-\d+ \d\d:\d\d:00/);
      const backup = run.resources.find((r) => r.type === "command:local:Command" && r.name === "host-storage-server-b2")!;
      assert.ok(drill.options.dependsOn.includes(backup.urn), "installed after the backup's environment file exists");
      assert.ok(!JSON.stringify(reveal(drill.inputs.environment)).includes("RESTIC_PASSWORD"), "the drill gets no secret of its own");
    });
  });
});
