/**
 * Repository verifications as the program declares them: which repositories get one, how often
 * and how much of the data each run reads, and that each CronJob checks exactly the repository
 * the copy writes with the credentials the writer uses. The scripts themselves are proven against
 * real restic and pgBackRest repositories, damaged on purpose, in verify.test.ts.
 */
import { strict as assert } from "node:assert";
import { resticVerifyScript } from "../domain/jobs/verify";
import { planBackups, READ_ALL_DATA_DAYS, verifiedRepository } from "../domain/plan";
import { restrictedViolations } from "../domain/podSecurity";
import { maxGapHours } from "../domain/schedule";
import { verificationName } from "../domain/verification";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { reveal } from "../offline/wire";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";
import { notifyFor } from "../domain/jobPods";

// `any`: manifests are walked by path in assertions.
type Json = Record<string, any>;
const manifest = (resource: CapturedResource) => reveal(resource.inputs) as Json;
const VERIFY = "homelab-backups.dev/verify";
const REPOSITORY_METHODS = ["volsync-restic", "volsync-kopia", "pgbackrest", "dump-restic", "host-restic"];

describe("repository verifications", function () {
  this.timeout(300_000);
  let run: ProgramRun;
  before(async () => {
    run = await runExample();
  });
  const config = exampleStackConfig();
  const plan = planBackups(config);
  const cronJobs = () => run.resources.filter((r) => r.type === "kubernetes:batch/v1:CronJob" && manifest(r).metadata.labels[VERIFY] === "true").map(manifest);
  const externalSecret = (namespace: string, name: string): Json => {
    const found = run.resources.map(manifest).find((m) => m.kind === "ExternalSecret" && m.metadata.namespace === namespace && m.spec.target.name === name);
    assert.ok(found, `an ExternalSecret builds ${namespace}/${name}`);
    return found;
  };

  it("checks every repository holding tier 1 data daily and tier 2 weekly; pgBackRest weekly, since it reads everything", () => {
    const jobs = plan.jobs.filter((job) => job.kind === "verify");
    let repositories = 0;
    for (const item of plan.items.filter((i) => i.tier <= 2)) {
      for (const copy of item.copies.filter((c) => REPOSITORY_METHODS.includes(c.method))) {
        const id = verifiedRepository(item, copy)!;
        const job = jobs.find((j) => j.id === id);
        assert.ok(job, `${copy.id} lives in a verified repository (${id})`);
        const days = copy.method === "pgbackrest" ? 7 : item.tier === 1 ? 1 : 7;
        assert.ok(maxGapHours(job.schedule.cron) <= days * 24, `${id}: "${job.schedule.cron}" runs at least every ${days} days`);
        repositories++;
      }
    }
    assert.ok(repositories >= 25, `${repositories} copies checked`);
    assert.equal(new Set(jobs.map((j) => j.id)).size, jobs.length, "one verification per repository, however many items share it");
    assert.equal(cronJobs().length, jobs.filter((j) => j.controller === "cronjob").length);
  });

  it("reads all data of each restic repository within 28 days, a rotating part per run (Kopia samples the same share at random)", () => {
    let restic = 0;
    for (const job of plan.jobs.filter((j) => j.kind === "verify")) {
      const item = plan.items.find((i) => i.id === job.itemId)!;
      const copy = item.copies.find((c) => c.id === job.copyId)!;
      if (copy.method === "pgbackrest") {
        assert.equal(job.readParts, 1);
        continue;
      }
      const parts = job.readParts ?? 1;
      const days = job.intervalDays ?? 1;
      // Whole cycles: a part every `days` days, all `parts` of them in at most 28 days (31 for monthly runs).
      assert.ok(parts * days <= Math.max(READ_ALL_DATA_DAYS, days), `${job.id}: ${parts} parts every ${days} days`);
      if (copy.method !== "volsync-kopia") restic++;
    }
    assert.ok(restic >= 5);
    const dailyRestic = plan.jobs.find((j) => j.kind === "verify" && j.intervalDays === 1 && j.id.endsWith("@b2") && plan.items.find((i) => i.id === j.itemId)!.copies.find((c) => c.id === j.copyId)!.method === "volsync-restic")!;
    assert.equal(dailyRestic.readParts, 28);
    const job = cronJobs().find((j) => j.metadata.name === verificationName(dailyRestic))!;
    const item = plan.items.find((i) => i.id === dailyRestic.itemId)!;
    const subject = job.metadata.name.slice(item.app.length + 1, job.metadata.name.length - `-verify-${dailyRestic.destination}`.length);
    assert.equal(job.spec.jobTemplate.spec.template.spec.containers[0].command[2], resticVerifyScript({ notify: notifyFor(exampleStackConfig(), item.app, subject), parts: 28, intervalDays: 1 }));
  });

  it("run after the backup window, one at a time, never retried, Pod Security restricted, with pinned images", () => {
    assert.ok(cronJobs().length >= 15, `${cronJobs().length} verification CronJobs`);
    for (const job of cronJobs()) {
      assert.equal(job.spec.concurrencyPolicy, "Forbid");
      assert.equal(job.spec.jobTemplate.spec.backoffLimit, 0, "a failed verification is a finding, not a flake");
      assert.ok(job.spec.jobTemplate.spec.activeDeadlineSeconds > 0);
      const pod = job.spec.jobTemplate.spec.template.spec;
      assert.deepEqual(restrictedViolations(pod), [], job.metadata.name);
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) assert.match(container.image, /:[0-9][\w.-]*$|@sha256:/, `${job.metadata.name}: ${container.image} is pinned`);
      // After the nightly window, when the daily offsite copies are done (the window's hours, in the cluster's zone).
      const [minute, hour] = job.spec.schedule.split(" ").map(Number);
      const { start, hours } = config.cluster.backupWindow;
      const afterWindow = (hour - (Number(start.slice(0, 2)) + hours) + 24) % 24;
      assert.ok(afterWindow < 6 && minute >= 0 && minute < 60, `${job.metadata.name}: "${job.spec.schedule}" starts in the six hours after the backup window`);
      assert.equal(job.spec.timeZone, config.cluster.timezone);
    }
  });

  it("check a restic repository backed up hourly 15 minutes after the backup's minute, never while it holds the lock; read NAS repositories as the mover's uid", () => {
    let nas = 0;
    for (const job of plan.jobs.filter((j) => j.kind === "verify" && j.destination === "nas")) {
      const item = plan.items.find((i) => i.id === job.itemId)!;
      const copy = item.copies.find((c) => c.id === job.copyId)!;
      const cronJob = cronJobs().find((j) => j.metadata.name === verificationName(job))!;
      const volume = exampleStackConfig().apps[item.app].volumes[item.name];
      if (volume) assert.equal(cronJob.spec.jobTemplate.spec.template.spec.securityContext.runAsUser, volume.uid, `${job.id}: restic and Kopia write NAS files readable by their owner only`);
      if (copy.method !== "volsync-restic") continue;
      const backupMinute = Number(copy.schedule.cron.split(" ")[0]);
      assert.equal(Number(job.schedule.cron.split(" ")[0]), (backupMinute + 15) % 60, job.id);
      nas++;
    }
    assert.ok(nas >= 2, `${nas} hourly restic repositories`);
  });

  it("open the same repository the copy writes, with the writer's own store fields", () => {
    const sources = run.resources.filter((r) => r.type.endsWith(":ReplicationSource")).map(manifest);
    let compared = 0;
    for (const job of cronJobs()) {
      const container = job.spec.jobTemplate.spec.template.spec.containers[0];
      const secret = externalSecret(job.metadata.namespace, container.envFrom[0].secretRef.name);
      const source = sources.find(
        (rs) => rs.metadata.labels["homelab-backups.dev/data"] === job.metadata.labels["homelab-backups.dev/data"] && rs.metadata.labels["homelab-backups.dev/destination"] === job.metadata.labels["homelab-backups.dev/destination"],
      );
      if (!source) continue;
      const mover = source.spec.restic ? "RESTIC_REPOSITORY" : "KOPIA_REPOSITORY";
      const writer = externalSecret(source.metadata.namespace, (source.spec.restic ?? source.spec.kopia).repository);
      assert.equal(secret.spec.target.template.data[mover], writer.spec.target.template.data[mover], `${job.metadata.name} checks what ${source.metadata.name} writes`);
      assert.deepEqual(
        secret.spec.data.filter((d: Json) => d.secretKey !== "ntfyToken" && d.secretKey !== "pingKey").map((d: Json) => d.remoteRef),
        writer.spec.data.map((d: Json) => d.remoteRef),
      );
      compared++;
    }
    assert.ok(compared >= 10, `${compared} volume repositories compared`);
  });

  it("check pgBackRest repositories with the stanza's own settings, and dumps' restic repository where the offsite job writes it", () => {
    const stanzas = run.resources.map(manifest).filter((m) => m.kind === "Stanza");
    const pg = cronJobs().filter((j) => j.spec.jobTemplate.spec.template.spec.containers[0].env?.some((e: Json) => e.name === "PGBACKREST_STANZA"));
    assert.ok(pg.length >= 4);
    for (const job of pg) {
      const env = Object.fromEntries(job.spec.jobTemplate.spec.template.spec.containers[0].env.filter((e: Json) => "value" in e).map((e: Json) => [e.name, e.value]));
      const stanza = stanzas.find((s) => s.metadata.name === env.PGBACKREST_STANZA);
      assert.ok(stanza, `${job.metadata.name}: stanza ${env.PGBACKREST_STANZA}`);
      const repo = Number(/PGBACKREST_REPO(\d+)_TYPE/.exec(Object.keys(env).join(" "))![1]);
      assert.equal(env[`PGBACKREST_REPO${repo}_S3_BUCKET`], stanza.spec.stanzaConfiguration.s3Repositories[repo - 1].bucket);
      assert.match(job.spec.jobTemplate.spec.template.spec.containers[0].command[2], new RegExp(`^REPO=${repo}$`, "m"), "verifies that repository of the stanza");
    }
    const offsite = run.resources.filter((r) => r.type === "kubernetes:batch/v1:CronJob").map(manifest).filter((j) => /-dumps-(b2|r2)$/.test(j.metadata.name));
    for (const writer of offsite) {
      const verify = cronJobs().find((j) => j.metadata.name === writer.metadata.name.replace(/-dumps-/, "-dumps-verify-"));
      assert.ok(verify, `${writer.metadata.name} has a verification`);
      const written = externalSecret(writer.metadata.namespace, writer.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name);
      const read = externalSecret(verify.metadata.namespace, verify.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name);
      assert.equal(read.spec.target.template.data.RESTIC_REPOSITORY, written.spec.target.template.data.RESTIC_REPOSITORY);
    }
  });

  it("check hosts' restic repositories from the system namespace, with the host's own store item", () => {
    const hosts = cronJobs().filter((j) => j.metadata.labels["homelab-backups.dev/data"]?.startsWith("hosts.host."));
    assert.ok(hosts.length >= 2, "every host copy in object storage is verified");
    for (const job of hosts) {
      assert.equal(job.metadata.namespace, config.cluster.systemNamespace);
      const secret = externalSecret(job.metadata.namespace, job.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].secretRef.name);
      const host = job.metadata.labels["homelab-backups.dev/data"].split(".").pop();
      assert.match(secret.spec.target.template.data.RESTIC_REPOSITORY, new RegExp(`/ether-hosts-[0-9a-f]+/${host}$`));
      assert.ok(secret.spec.data.some((d: Json) => d.remoteRef.key === `homelab-backups-ether-host-${host}/restic-password`), "the host's password from its own store item");
    }
  });

  it("declares none when the tiers ask for none", async () => {
    const none = await runExample(editedConfig((c) => {
      for (const tier of ["1", "2", "3"]) c.tiers[tier] = { ...c.tiers[tier], verifyDays: 0 };
    }));
    assert.deepEqual(none.resources.filter((r) => r.type === "homelab-backups:drills:RepositoryVerification").map((r) => r.name), []);
  });
});
