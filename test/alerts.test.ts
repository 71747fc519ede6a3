/**
 * Backup alerts (PrometheusRules): what is watched, how loud, where the runbook link lands, and
 * that the PromQL really fires when backups stop and stays quiet while they run. The expressions
 * are proven by Prometheus's own rule engine: `promtool check rules` parses every expression and
 * template, and `promtool test rules` evaluates the generated rules against synthetic series of
 * the exact metrics and labels kube-state-metrics, VolSync and the pgBackRest plugin export.
 */
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { AlertGroup, AlertRule, alertRules, appRuleName, PLATFORM_RULE, promDuration, staleAfterHours } from "../domain/alerts";
import { parseStackConfig } from "../domain/config/parse";
import { StackConfig } from "../domain/config/schema";
import { dumpCronJob, offsiteCronJob } from "../methods/dumps/manifests";
import { planBackups } from "../domain/plan";
import type { BackupPlan, PlannedCopy, PlannedItem } from "../domain/model";
import { runbooks } from "../domain/runbooks";
import { cnpgClusterName } from "../domain/storage";
import { TIER_DEFINITIONS } from "../domain/tiers";
import { replicationSourceName } from "../methods/volsync/manifests";
import { exec, tempDir, which } from "./support/services";
import { editedConfig, exampleStackConfig } from "./support/stack";

type Manifest = Record<string, unknown>;
const groupsOf = (rule: Manifest) => (rule.spec as { groups: AlertGroup[] }).groups;
const metadataOf = (rule: Manifest) => rule.metadata as { name: string; namespace: string; labels: Record<string, string> };

describe("backup alerts (PrometheusRules)", function () {
  this.timeout(120_000);
  let config: StackConfig;
  let plan: BackupPlan;
  let rules: Manifest[];
  before(() => {
    config = exampleStackConfig();
    plan = planBackups(config);
    rules = alertRules(config, plan);
  });

  const groupOf = (item: PlannedItem): AlertGroup => {
    const rule = rules.find((r) => metadataOf(r).name === appRuleName(item.app));
    assert.ok(rule, `a PrometheusRule for ${item.app}`);
    const group = groupsOf(rule).find((g) => g.name === item.id);
    assert.ok(group, `a rule group for ${item.id}`);
    return group;
  };
  const alertOf = (item: PlannedItem, name: string): AlertRule => {
    const found = groupOf(item).rules.find((r) => r.alert === name);
    assert.ok(found, `${item.id} has alert ${name}; it has ${groupOf(item).rules.map((r) => r.alert).join(", ")}`);
    return found;
  };
  const suffix = (destination: string) => destination.split("-").map((part) => part[0].toUpperCase() + part.slice(1)).join("");

  it("one rule per app in the app's namespace, and a platform rule in the system namespace", () => {
    const names = rules.map((r) => `${metadataOf(r).namespace}/${metadataOf(r).name}`).sort();
    const apps = plan.apps.filter((app) => app.items.some((i) => i.copies.some((c) => c.controller === "volsync" || c.controller === "cronjob" || c.controller === "cnpg")));
    assert.deepEqual(names, [...apps.map((app) => `${app.namespace}/${appRuleName(app.name)}`), `${config.cluster.systemNamespace}/${PLATFORM_RULE}`].sort());
  });

  it("watches every copy the cluster makes of tier 1 and 2 data: stale and failing, per destination", () => {
    let checked = 0;
    for (const data of plan.items.filter((i) => i.tier <= 2 && i.namespace !== "")) {
      for (const copy of data.copies) {
        const dest = suffix(copy.destination);
        if (copy.method === "volsync-restic" || copy.method === "volsync-kopia") {
          for (const name of [`VolSyncBackupStale${dest}`, `VolSyncOutOfSync${dest}`, `VolSyncMissedIntervals${dest}`]) alertOf(data, name);
        } else if (copy.method === "dump" || copy.method === "dump-restic" || copy.method === "dump-rsync") {
          alertOf(data, `BackupStale${dest}`);
          alertOf(data, `BackupJobFailed${dest}`);
        } else if (copy.method === "pgbackrest") {
          for (const name of ["PostgresBackupStale", "PostgresWalArchiveStale", "PostgresWalArchivingFailing", "PostgresBackupMetricsAbsent"]) alertOf(data, name);
        } else continue;
        checked++;
      }
      for (const job of plan.jobs.filter((j) => j.itemId === data.id && j.controller === "cronjob")) {
        if (job.kind === "restore-drill") ["RestoreDrillNotSucceeding", "RestoreDrillFailed"].forEach((name) => alertOf(data, name));
        if (job.kind === "verify") [`VerificationNotSucceeding${suffix(job.destination)}`, `VerificationFailed${suffix(job.destination)}`].forEach((name) => alertOf(data, name));
      }
    }
    assert.ok(checked >= 30, `checked ${checked} copies`);
    // A bootstrapped volume also alerts when its restore hangs (seed 004's VolsyncRestoreStuck).
    const bootstrapped = plan.items.filter((i) => i.kind === "volume" && config.apps[i.app].volumes[i.name].restoreOnBootstrap);
    assert.ok(bootstrapped.length > 0);
    for (const volume of bootstrapped) alertOf(volume, "VolSyncRestoreStuck");
  });

  it("alerts as loud as the tier: critical for tier 1, warning for 2, info for 3, labelled with app, tier and data", () => {
    const tiers = new Set<number>();
    for (const rule of rules) {
      for (const group of groupsOf(rule)) {
        for (const alert of group.rules) {
          const data = plan.items.find((i) => i.id === alert.labels.data);
          if (!data && alert.labels.data?.endsWith("/kopia-mirror")) continue; // below
          if (!data) {
            assert.equal(alert.labels.app, PLATFORM_RULE, `${alert.alert} without data is a platform alert`);
            continue;
          }
          tiers.add(data.tier);
          assert.equal(alert.labels.severity, TIER_DEFINITIONS[data.tier].alertSeverity, `${data.id} ${alert.alert}`);
          assert.equal(alert.labels.tier, String(data.tier));
          assert.equal(alert.labels.app, data.app);
        }
      }
    }
    // The example's tier 3 data (media) keeps local snapshots only: nothing the cluster's jobs copy.
    assert.deepEqual([...tiers].sort(), [1, 2], "the example exercises tiers 1 and 2");
    assert.deepEqual([1, 2, 3].map((tier) => TIER_DEFINITIONS[tier as 1 | 2 | 3].alertSeverity), ["critical", "warning", "info"]);
    // The platform rule is as loud as the most important data that depends on it.
    const platform = rules.find((r) => metadataOf(r).name === PLATFORM_RULE)!;
    const absent = groupsOf(platform).flatMap((g) => g.rules).find((r) => r.alert === "VolSyncMetricsAbsent")!;
    assert.equal(absent.labels.severity, "critical");
  });

  it("links every alert to an existing section of a generated runbook", () => {
    const pages = runbooks(config, plan);
    let links = 0;
    for (const rule of rules) {
      for (const alert of groupsOf(rule).flatMap((g) => g.rules)) {
        const [path, anchor] = alert.annotations.runbook_url.split("#");
        assert.ok(pages[path], `${alert.alert}: ${path} is generated`);
        assert.ok(anchor && pages[path].includes(`<a id="${anchor}"></a>`), `${alert.alert}: ${alert.annotations.runbook_url} has its section`);
        links++;
      }
    }
    assert.ok(links > 100);
  });

  it("publishes links under alerts.runbookBaseUrl, and carries alerts.ruleLabels for Prometheus's ruleSelector", () => {
    const custom = parseStackConfig(
      editedConfig((c) => (c.alerts = { runbookBaseUrl: "https://git.example.org/homelab/blob/main/docs/runbooks/", ruleLabels: { release: "kube-prometheus-stack" } })),
    );
    const customRules = alertRules(custom, planBackups(custom));
    for (const rule of customRules) {
      assert.equal(metadataOf(rule).labels.release, "kube-prometheus-stack");
      for (const alert of groupsOf(rule).flatMap((g) => g.rules)) assert.match(alert.annotations.runbook_url, /^https:\/\/git\.example\.org\/homelab\/blob\/main\/docs\/runbooks\/[a-z0-9-]+\.md#[a-z0-9-]+$/);
    }
    const off = parseStackConfig(editedConfig((c) => (c.alerts = { enabled: false })));
    assert.deepEqual(alertRules(off, planBackups(off)), []);
  });

  it("watches Kopia mirrors (apps.<app>.kopiaMirrors): stale and failed per destination, linked to the runbook's mirror section", () => {
    const mirrored = parseStackConfig(editedConfig((c) => (c.apps.immich.kopiaMirrors = ["b2", "r2"])));
    const mirroredPlan = planBackups(mirrored);
    const rule = alertRules(mirrored, mirroredPlan).find((r) => metadataOf(r).name === appRuleName("immich"))!;
    const group = groupsOf(rule).find((g) => g.name === "immich/kopia-mirror");
    assert.ok(group, "a group for immich's mirrors");
    assert.deepEqual(group.rules.map((r) => r.alert).sort(), ["KopiaMirrorFailedB2", "KopiaMirrorFailedR2", "KopiaMirrorStaleB2", "KopiaMirrorStaleR2"]);
    const pages = runbooks(mirrored, mirroredPlan);
    for (const alert of group.rules) {
      assert.equal(alert.labels.severity, "critical");
      const [path, anchor] = alert.annotations.runbook_url.split("#");
      assert.ok(pages[path].includes(`<a id="${anchor}"></a>`), `${alert.alert} links to an existing section`);
    }
    assert.match(pages["docs/runbooks/immich.md"], /kopia repository connect s3 --readonly --bucket='ether-kopia-[0-9a-f]+' --prefix='immich\.mirror\/nas\/'/);
    assert.ok(!groupsOf(rules.find((r) => metadataOf(r).name === appRuleName("immich"))!).some((g) => g.name === "immich/kopia-mirror"), "none without mirrors");
  });

  it("allows one more interval (10 min to 6 h) before a copy counts as stale", () => {
    assert.equal(staleAfterHours(1), 2);
    assert.equal(staleAfterHours(24), 30);
    assert.equal(staleAfterHours(6), 12);
    assert.equal(promDuration(staleAfterHours(5 / 60)), "15m");
    assert.equal(promDuration(1.5), "1h30m");
  });

  describe("evaluated by Prometheus (promtool)", () => {
    const promtool = which("promtool");
    let dir: string;
    before(function () {
      if (!promtool) throw new Error("promtool not found: install Debian's prometheus package (.ci/run does)");
      dir = tempDir("alerts-");
    });

    /** The rules without annotations: promtool's unit tests compare annotations too, and templates are checked by `check rules`. */
    function writeRules(file: string, groups: AlertGroup[]): string {
      const path = join(dir, file);
      writeFileSync(path, stringify({ groups: groups.map((g) => ({ name: g.name, rules: g.rules.map(({ annotations: _annotations, ...rest }) => rest) })) }));
      return path;
    }

    it("every generated rule file passes `promtool check rules` (PromQL, durations, templates)", async () => {
      const files = rules.map((rule) => {
        const path = join(dir, `${metadataOf(rule).name}.yaml`);
        writeFileSync(path, stringify(rule.spec));
        return path;
      });
      const result = await exec(promtool!, ["check", "rules", ...files]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const found = [...result.stdout.matchAll(/SUCCESS: (\d+) rules found/g)].reduce((n, m) => n + Number(m[1]), 0);
      assert.equal(found, rules.reduce((n, rule) => n + groupsOf(rule).reduce((m, g) => m + g.rules.length, 0), 0));
    });

    it("a broken expression fails the same check (the check is real)", async () => {
      const path = join(dir, "broken.yaml");
      writeFileSync(path, stringify({ groups: [{ name: "x", rules: [{ alert: "Broken", expr: "time() - kube_cronjob_created{namespace=" }] }] }));
      const result = await exec(promtool!, ["check", "rules", path]);
      assert.notEqual(result.code, 0);
    });

    /** Minutes of a promtool series: `values` string holding `value(minute)` for minutes 0..minutes. */
    function series(minutes: number, value: (minute: number) => number): string {
      return Array.from({ length: minutes + 1 }, (_, minute) => String(value(minute))).join(" ");
    }
    const minutes = (hours: number) => Math.round(hours * 60);
    const selector = (metric: string, labels: Record<string, string>) => `${metric}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",")}}`;

    async function promtoolTest(name: string, groups: AlertGroup[], tests: unknown[]): Promise<void> {
      const rulesFile = writeRules(`${name}-rules.yaml`, groups);
      const testFile = join(dir, `${name}-test.yaml`);
      writeFileSync(testFile, stringify({ rule_files: [rulesFile], evaluation_interval: "1m", tests }));
      const result = await exec(promtool!, ["test", "rules", testFile]);
      assert.equal(result.code, 0, `promtool test rules ${name}:\n${result.stdout}${result.stderr}`);
    }

    const itemLabels = (data: PlannedItem, copy?: PlannedCopy) => ({
      severity: TIER_DEFINITIONS[data.tier].alertSeverity,
      app: data.app,
      tier: String(data.tier),
      data: data.id,
      ...(copy ? { destination: copy.destination } : {}),
    });

    it("dump CronJob: stale only after its allowance without a success, counting from creation when it never succeeded", async () => {
      const sqlite = plan.items.find((i) => i.kind === "sqlite" && i.tier === 1)!;
      const copy = sqlite.copies.find((c) => c.method === "dump")!;
      const job = dumpCronJob(config, sqlite, copy).metadata as { name: string; namespace: string };
      const stale = minutes(staleAfterHours(copy.rpoHours));
      const labels = { namespace: job.namespace, cronjob: job.name };
      const alertname = `BackupStale${suffix(copy.destination)}`;
      const expected = { ...itemLabels(sqlite, copy), ...labels };
      const end = stale + 60;
      await promtoolTest("dump-stale", [groupOf(sqlite)], [
        {
          // Succeeded at minute 0, never again.
          interval: "1m",
          input_series: [
            { series: selector("kube_cronjob_created", labels), values: series(end, () => 0) },
            { series: selector("kube_cronjob_status_last_successful_time", labels), values: series(end, () => 0) },
          ],
          alert_rule_test: [
            { eval_time: `${stale - 5}m`, alertname, exp_alerts: [] },
            // Over the allowance, but `for: 10m` has not passed yet.
            { eval_time: `${stale + 5}m`, alertname, exp_alerts: [] },
            { eval_time: `${stale + 12}m`, alertname, exp_alerts: [{ exp_labels: expected }] },
          ],
        },
        {
          // Succeeds every rpo interval: never stale.
          interval: "1m",
          input_series: [
            { series: selector("kube_cronjob_created", labels), values: series(end, () => 0) },
            { series: selector("kube_cronjob_status_last_successful_time", labels), values: series(end, (m) => Math.floor(m / minutes(copy.rpoHours)) * minutes(copy.rpoHours) * 60) },
          ],
          alert_rule_test: [{ eval_time: `${end}m`, alertname, exp_alerts: [] }],
        },
        {
          // Created at minute 0 and never succeeded: no last_successful_time series at all.
          interval: "1m",
          input_series: [{ series: selector("kube_cronjob_created", labels), values: series(end, () => 0) }],
          alert_rule_test: [
            { eval_time: `${stale - 5}m`, alertname, exp_alerts: [] },
            { eval_time: `${stale + 12}m`, alertname, exp_alerts: [{ exp_labels: expected }] },
          ],
        },
      ]);
    });

    it("backup Job failed: fires for a failed Job of this CronJob (also one started by hand), not for another CronJob's", async () => {
      const sqlite = plan.items.find((i) => i.kind === "sqlite" && i.tier === 1)!;
      const copy = sqlite.copies.find((c) => c.method === "dump-restic")!;
      const cron = offsiteCronJob(config, sqlite, copy).metadata as { name: string; namespace: string };
      const alertname = `BackupJobFailed${suffix(copy.destination)}`;
      const failed = (job: string, owner: string) => [
        { series: selector("kube_job_failed", { namespace: cron.namespace, job_name: job, condition: "true" }), values: series(30, (m) => (m >= 10 ? 1 : 0)) },
        { series: selector("kube_job_failed", { namespace: cron.namespace, job_name: job, condition: "false" }), values: series(30, (m) => (m >= 10 ? 0 : 1)) },
        { series: selector("kube_job_owner", { namespace: cron.namespace, job_name: job, owner_kind: "CronJob", owner_name: owner, owner_is_controller: "true" }), values: series(30, () => 1) },
      ];
      await promtoolTest("job-failed", [groupOf(sqlite)], [
        {
          interval: "1m",
          input_series: [...failed("manual-run-by-hand", cron.name), ...failed(`${cron.name}x-29000000`, `${cron.name}x`)],
          alert_rule_test: [
            { eval_time: "5m", alertname, exp_alerts: [] },
            { eval_time: "15m", alertname, exp_alerts: [{ exp_labels: { ...itemLabels(sqlite, copy), namespace: cron.namespace, job_name: "manual-run-by-hand", condition: "true" } }] },
          ],
        },
      ]);
    });

    it("VolSync copy: quiet while syncs complete, stale once none completed within the allowance", async () => {
      const volume = plan.items.find((i) => i.kind === "volume" && i.tier === 1 && i.copies.some((c) => c.method === "volsync-restic" || c.method === "volsync-kopia"))!;
      const copy = volume.copies.find((c) => c.controller === "volsync" && c.site === "onsite") ?? volume.copies.find((c) => c.controller === "volsync")!;
      const source = replicationSourceName(volume, config.apps[volume.app].volumes[volume.name], copy);
      const every = minutes(copy.rpoHours);
      const stale = minutes(staleAfterHours(copy.rpoHours));
      const lastSync = 3 * every;
      const end = lastSync + stale + 30;
      const labels = { obj_namespace: volume.namespace, obj_name: source, role: "source", method: copy.method === "volsync-kopia" ? "kopia" : "restic" };
      const alertname = `VolSyncBackupStale${suffix(copy.destination)}`;
      await promtoolTest("volsync-stale", [groupOf(volume)], [
        {
          interval: "1m",
          input_series: [{ series: selector("volsync_sync_duration_seconds_count", labels), values: series(end, (m) => Math.floor(Math.min(m, lastSync) / every)) }],
          alert_rule_test: [
            { eval_time: `${lastSync}m`, alertname, exp_alerts: [] },
            { eval_time: `${lastSync + stale - 5}m`, alertname, exp_alerts: [] },
            { eval_time: `${lastSync + stale + 15}m`, alertname, exp_alerts: [{ exp_labels: { ...itemLabels(volume, copy), ...labels } }] },
          ],
        },
      ]);
    });

    it("CNPG cluster: base backup age from the plugin's metric of the instances only, WAL stuck in .ready", async () => {
      const cnpg = plan.items.find((i) => i.kind === "cnpg" && i.tier === 1)!;
      const cluster = cnpgClusterName(config, cnpg);
      const group = groupOf(cnpg);
      const staleSeconds = Number(/> (\d+)$/.exec(alertOf(cnpg, "PostgresBackupStale").expr)![1]);
      const stale = staleSeconds / 60;
      const end = stale + 60;
      const instance = { namespace: cnpg.namespace, pod: `${cluster}-1` };
      await promtoolTest("cnpg", [group], [
        {
          interval: "1m",
          input_series: [
            // The last backup finished at minute 0; a pooler pod of the same name prefix reports a fresh time but is no instance.
            { series: selector("pgbackrest_dalibo_com_last_available_backup_timestamp", instance), values: series(end, () => 0) },
            { series: selector("pgbackrest_dalibo_com_last_available_backup_timestamp", { namespace: cnpg.namespace, pod: `${cluster}-pooler-rw-6d9f` }), values: series(end, (m) => m * 60) },
            { series: selector("cnpg_collector_pg_wal_archive_status", { ...instance, value: "ready" }), values: series(end, (m) => (m >= 30 ? 3 : 0)) },
          ],
          alert_rule_test: [
            { eval_time: `${stale - 5}m`, alertname: "PostgresBackupStale", exp_alerts: [] },
            { eval_time: `${stale + 15}m`, alertname: "PostgresBackupStale", exp_alerts: [{ exp_labels: { ...itemLabels(cnpg), namespace: cnpg.namespace } }] },
            { eval_time: "20m", alertname: "PostgresWalArchiveStale", exp_alerts: [] },
            { eval_time: "60m", alertname: "PostgresWalArchiveStale", exp_alerts: [{ exp_labels: { ...itemLabels(cnpg), namespace: cnpg.namespace } }] },
            { eval_time: "60m", alertname: "PostgresBackupMetricsAbsent", exp_alerts: [] },
          ],
        },
      ]);
    });
  });
});
