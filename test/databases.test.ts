import { strict as assert } from "node:assert";
import { cnpgScheduleError, weeklyStartMinutes, MINUTES_PER_WEEK } from "../domain/schedule";
import { isPinned } from "../domain/images";
import { parseStackConfig } from "../domain/config/parse";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { reveal } from "../offline/wire";
import { restrictedViolations, podTemplates } from "../domain/podSecurity";
import { dumpCronJob } from "../methods/dumps/manifests";
import { planBackups } from "../domain/plan";
import { editedConfig, runExample } from "./support/stack";
import { JOB_GID, JOB_UID } from "../domain/jobPods";

type Json = Record<string, any>; // `any`: manifests are walked by path in assertions

const manifests = (run: ProgramRun) =>
  run.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:") && !r.type.includes("helm.sh")).map((r) => reveal(r.inputs) as Json);
const ofKind = (run: ProgramRun, kind: string) => manifests(run).filter((m) => m.kind === kind);
const resourceOf = (run: ProgramRun, type: string, name: string) => run.resources.find((r) => r.type === type && (reveal(r.inputs) as Json).metadata?.name === name) as CapturedResource;

describe("database backups", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runExample();
  });

  describe("CloudNativePG with pgBackRest", () => {
    it("gives each cluster a Stanza with B2 as repo1 and R2 as repo2, each encrypted", () => {
      const stanzas = ofKind(run, "Stanza");
      assert.deepEqual(stanzas.map((s) => s.metadata.name).sort(), ["postgres18-cluster", "postgres18-immich"]);
      for (const stanza of stanzas) {
        const config = stanza.spec.stanzaConfiguration;
        assert.equal(config.name, stanza.metadata.name);
        const repos = config.s3Repositories as Json[];
        assert.match(repos[0].endpoint, /backblazeb2\.com$/);
        assert.match(repos[1].endpoint, /r2\.cloudflarestorage\.com$/);
        for (const repo of repos) {
          assert.equal(repo.cipherConfig.type, "aes-256-cbc");
          assert.deepEqual(repo.cipherConfig.encryptionPass, { name: `hb-pg-${stanza.metadata.name}`, key: "cipher-pass" });
          assert.equal(repo.repoPath, `/${stanza.metadata.name}`);
          assert.deepEqual(repo.retentionPolicy, { full: 26, fullType: "count", diff: 30, archive: 7, archiveType: "full", history: 190 });
        }
      }
    });

    it("pairs async WAL archiving with a PluginConfig that names a storage class", () => {
      for (const stanza of ofKind(run, "Stanza")) {
        assert.equal(stanza.spec.stanzaConfiguration.archive.async, true);
        const config = ofKind(run, "PluginConfig").find((p) => p.metadata.name === stanza.metadata.name);
        assert.equal(config?.spec.storageConfig.storageClass, "ceph-block");
      }
    });

    it("patches the plugin entry into Clusters the user owns, and owns whole Clusters only when told", async () => {
      const patch = run.resources.find((r) => r.type === "kubernetes:postgresql.cnpg.io/v1:ClusterPatch" && (reveal(r.inputs) as Json).metadata.name === "postgres18-immich")!;
      const plugins = (reveal(patch.inputs) as Json).spec.plugins;
      assert.deepEqual(plugins, [
        { name: "pgbackrest.dalibo.com", enabled: true, isWALArchiver: true, parameters: { stanzaRef: "postgres18-immich", pluginConfigRef: "postgres18-immich" } },
      ]);
      const owned = await runExample(
        editedConfig((c) => Object.assign(c.apps.immich.databases.immich, { owned: true, storage: "50Gi" })),
      );
      const cluster = owned.resources.find((r) => r.type === "kubernetes:postgresql.cnpg.io/v1:Cluster")!;
      assert.equal(cluster.options.protect, true);
      assert.equal(cluster.options.retainOnDelete, true);
      assert.equal((reveal(cluster.inputs) as Json).spec.storage.size, "50Gi");
      assert.throws(() => parseStackConfig(editedConfig((c) => (c.apps.immich.databases.immich.owned = true))), /apps\.immich\.databases\.immich\.storage: is required when the program owns/);
    });

    it("schedules six-field backups per repo, a weekly full each, never two on one stanza within an hour", () => {
      for (const stanza of ofKind(run, "Stanza")) {
        const backups = ofKind(run, "ScheduledBackup").filter((b) => b.spec.cluster.name === stanza.metadata.name);
        assert.equal(backups.length, 4, "daily and weekly full for two repos");
        for (const backup of backups) {
          assert.equal(cnpgScheduleError(backup.spec.schedule), undefined, backup.spec.schedule);
          assert.equal(backup.spec.method, "plugin");
          assert.equal(backup.spec.target, "primary");
          assert.equal(backup.spec.pluginConfiguration.name, "pgbackrest.dalibo.com");
        }
        assert.deepEqual(backups.filter((b) => b.spec.pluginConfiguration.parameters.backupType === "full").map((b) => b.spec.pluginConfiguration.parameters.selectedRepository).sort(), ["1", "2"]);
        const starts = backups.map((b) => weeklyStartMinutes(b.spec.schedule));
        for (let i = 0; i < starts.length; i++) {
          for (let j = i + 1; j < starts.length; j++) {
            for (const a of starts[i]) {
              for (const b of starts[j]) {
                const distance = Math.min(Math.abs(a - b), MINUTES_PER_WEEK - Math.abs(a - b));
                assert.ok(distance >= 60, `${backups[i].metadata.name} and ${backups[j].metadata.name} start ${distance} minutes apart`);
              }
            }
          }
        }
      }
    });

    it("turns a hand-written six-field schedule into repo1's backup and rejects a five-field one", async () => {
      const custom = await runExample(editedConfig((c) => (c.apps.immich.databases.immich.schedule = "0 30 2 * * *")));
      const daily = ofKind(custom, "ScheduledBackup").find((b) => b.metadata.name === "postgres18-immich-b2")!;
      assert.equal(daily.spec.schedule, "0 30 7 * * *", "02:30 in New York is 07:30 UTC, the operator's clock");
      assert.throws(() => parseStackConfig(editedConfig((c) => (c.apps.immich.databases.immich.schedule = "0 3 * * *"))), /every hour at minute 3/);
    });
  });

  describe("dump CronJobs", () => {
    it("dumps each Postgres, SQLite and Redis item to the NAS share with a pinned image", () => {
      const jobs = ofKind(run, "CronJob").filter((job) => job.metadata.name.endsWith("-dump"));
      assert.deepEqual(jobs.map((job) => job.metadata.name).sort(), ["grafana-grafana-dump", "paperless-broker-dump", "paperless-paperless-dump", "vaultwarden-db-dump"]);
      for (const job of jobs) {
        const pod = job.spec.jobTemplate.spec.template.spec;
        for (const container of [...(pod.initContainers ?? []), ...pod.containers]) assert.ok(isPinned(container.image), container.image);
        assert.equal(pod.volumes.find((v: Json) => v.name === "backup").persistentVolumeClaim.claimName, "hb-nas");
      }
    });

    it("takes each app's dumps offsite in one job per destination: restic to object storage, rsync to the offsite NAS", async () => {
      // The example keeps tier-1 dumps off rsync (plain files); put paperless's back on it here.
      const withRsync = await runExample(editedConfig((c) => (c.apps.paperless.destinations = ["nas", "b2", "offsite-nas"])));
      const offsite = ofKind(withRsync, "CronJob").filter((job) => job.metadata.name.includes("-dumps-") && job.metadata.labels["homelab-backups.dev/verify"] !== "true");
      assert.deepEqual(offsite.map((job) => job.metadata.name).sort(), ["paperless-dumps-b2", "paperless-dumps-offsite-nas", "vaultwarden-dumps-b2", "vaultwarden-dumps-r2"]);
      const rsync = offsite.find((job) => job.metadata.name === "paperless-dumps-offsite-nas")!;
      const script = rsync.spec.jobTemplate.spec.template.spec.containers[0].command[2] as string;
      assert.match(script, /StrictHostKeyChecking=yes/);
      const secret = ofKind(withRsync, "ExternalSecret").find((s) => s.metadata.name === "hb-paperless-dumps-offsite-nas")!;
      assert.match(secret.spec.target.template.data.known_hosts, /^offsite-nas\.nora\.example ssh-ed25519 AAAA/);
    });

    it("runs every job one at a time, bounded, cleaned up and with resources", () => {
      for (const job of ofKind(run, "CronJob")) {
        assert.equal(job.spec.concurrencyPolicy, "Forbid");
        assert.ok(job.spec.startingDeadlineSeconds > 0);
        assert.ok(job.spec.jobTemplate.spec.activeDeadlineSeconds > 0);
        assert.ok(job.spec.jobTemplate.spec.backoffLimit >= 0);
        assert.ok(job.spec.jobTemplate.spec.ttlSecondsAfterFinished > 0);
        assert.equal(job.spec.timeZone, "America/New_York");
        for (const container of job.spec.jobTemplate.spec.template.spec.containers) assert.ok(container.resources.requests && container.resources.limits);
      }
    });

    it("passes Pod Security 'restricted' in every generated pod template", () => {
      const templates = podTemplates(manifests(run));
      assert.ok(templates.length >= 9);
      const failures = templates.flatMap(({ owner, spec }) => restrictedViolations(spec).map((problem) => `${owner}: ${problem}`));
      assert.deepEqual(failures, []);
    });

    it("never sets an fsGroup on a pod that mounts an app's claim: SQLite dumps run as the volume's owner", async () => {
      const podOf = (r: ProgramRun, name: string) => ofKind(r, "CronJob").find((job) => job.metadata.name === name)!.spec.jobTemplate.spec.template.spec;
      // Every pod template that mounts a claim other than the NAS share's (hb-<destination>).
      let appClaims = 0;
      let dumps = 0;
      for (const { owner, spec } of podTemplates(manifests(run))) {
        const claims = (spec.volumes ?? []).filter((v: Json) => v.persistentVolumeClaim && !v.persistentVolumeClaim.claimName.startsWith("hb-"));
        if (claims.length === 0) continue;
        appClaims++;
        // With an fsGroup, kubelet would chgrp the app's whole volume (OnRootMismatch: whenever its root differs).
        assert.equal(spec.securityContext.fsGroup, undefined, `${owner} sets an fsGroup`);
        assert.equal(spec.securityContext.fsGroupChangePolicy, undefined, owner);
        const nas = (spec.volumes ?? []).some((v: Json) => v.persistentVolumeClaim?.claimName.startsWith("hb-"));
        if (nas) dumps++;
        assert.deepEqual(spec.securityContext.supplementalGroups, nas ? [JOB_GID] : undefined, `${owner}: the NAS share's group, supplementary, only with the share`);
      }
      assert.equal(dumps, 2, "the vaultwarden and grafana SQLite dumps");
      assert.ok(appClaims > dumps, "and the volumes' canary jobs (test/canary.test.ts)");

      const vault = podOf(run, "vaultwarden-db-dump");
      assert.deepEqual([vault.securityContext.runAsUser, vault.securityContext.runAsGroup], [1000, 1000], "the vaultwarden-data volume's default owner");
      assert.deepEqual(vault.volumes.find((v: Json) => v.name === "source").persistentVolumeClaim, { claimName: "vaultwarden-data" });
      assert.match(vault.initContainers[0].command[2], /^umask 0007 && mkdir -p '\/backup\/[a-z0-9-]+\/dumps\/vaultwarden'$/, "group-writable for the app's other jobs");
      const postgres = podOf(run, "paperless-paperless-dump").securityContext;
      assert.deepEqual([postgres.runAsUser, postgres.runAsGroup, postgres.fsGroup], [JOB_UID, JOB_GID, JOB_GID], "jobs without an app claim keep nobody and its fsGroup");

      const owned = await runExample(
        editedConfig((c) => {
          Object.assign(c.apps.vaultwarden.volumes.data, { uid: 2001, gid: 3001 });
          c.apps.grafana.sqlite.grafana.uid = 472;
        }),
      );
      const vaultOwned = podOf(owned, "vaultwarden-db-dump").securityContext;
      assert.deepEqual([vaultOwned.runAsUser, vaultOwned.runAsGroup, vaultOwned.fsGroup, vaultOwned.supplementalGroups], [2001, 3001, undefined, [JOB_GID]]);
      const grafana = podOf(owned, "grafana-grafana-dump").securityContext;
      assert.equal(grafana.runAsUser, 472, "the item's own uid wins");
      for (const r of [run, owned]) {
        const failures = podTemplates(manifests(r)).flatMap(({ owner, spec }) => restrictedViolations(spec).map((problem) => `${owner}: ${problem}`));
        assert.deepEqual(failures, []);
      }
      const rootOwned = parseStackConfig(editedConfig((c) => (c.apps.vaultwarden.volumes.data.uid = 0)));
      const item = planBackups(rootOwned).items.find((i) => i.kind === "sqlite" && i.app === "vaultwarden")!;
      assert.throws(() => dumpCronJob(rootOwned, item, item.copies.find((c) => c.method === "dump")!), /owned by uid 0; a restricted pod cannot run as root/);
    });

    it("keeps secrets out of job specs: connection secrets come from ExternalSecret-built Secrets", () => {
      const secretNames = ["PGPASSWORD", "REDISCLI_AUTH", "RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "NTFY_TOKEN", "HEALTHCHECKS_URL"];
      for (const { owner, spec } of podTemplates(manifests(run))) {
        for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
          for (const env of container.env ?? []) {
            assert.ok(!(secretNames.includes(env.name) && "value" in env), `${owner} sets ${env.name} literally`);
          }
        }
      }
      const secret = ofKind(run, "ExternalSecret").find((s) => s.metadata.name === "hb-paperless-paperless-dump")!;
      assert.deepEqual(secret.spec.data.map((d: Json) => d.remoteRef.key).sort(), ["healthchecks/ping-key", "paperless-postgres/password", "paperless-postgres/username"]);
    });
  });

  describe("the restricted-profile check itself", () => {
    it("catches an inline NFS volume, root, and a missing seccomp profile", () => {
      const problems = restrictedViolations({
        securityContext: {},
        volumes: [{ name: "nas", nfs: { server: "n", path: "/" } }],
        containers: [{ name: "c", securityContext: { runAsUser: 0 } }],
      });
      assert.ok(problems.some((p) => p.includes("type nfs")));
      assert.ok(problems.some((p) => p.includes("runAsNonRoot")));
      assert.ok(problems.some((p) => p.includes("seccompProfile")));
      assert.ok(problems.some((p) => p.includes("drop ALL")));
    });
  });

  it("puts the plugin patch after the Stanza and PluginConfig exist", () => {
    const patch = run.resources.find((r) => r.type === "kubernetes:postgresql.cnpg.io/v1:ClusterPatch")!;
    const stanza = resourceOf(run, "kubernetes:pgbackrest.dalibo.com/v1:Stanza", (reveal(patch.inputs) as Json).metadata.name);
    assert.ok(patch.dependencies.includes(stanza.urn));
  });
});
