/**
 * Canary files for volume restore drills: the canary job's script, run as generated under sh
 * against a directory standing in for the claim (as the volume's owner, with PATH holding only
 * CANARY_TOOLS and a recorder standing in for ntfy and healthchecks), and the CronJobs the
 * program declares for the example stack: one per drilled volume, before the drilled copy,
 * restricted, as the volume's owner beside the app, with alerts, runbook lines and the drill's check.
 * The drills' side (restoring and judging the canary) is proven in drills.test.ts.
 */
import { strict as assert } from "node:assert";
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alertRules, AlertGroup, appRuleName } from "../domain/alerts";
import { CANARY_LEAD_MINUTES, canaryCron, canaryCronJob, canaryMaxAgeHours, canaryName, volumeCanaries, volumeCanary } from "../domain/canary";
import { parseStackConfig } from "../domain/config/parse";
import { StackConfig } from "../domain/config/schema";
import { drillName } from "../domain/drills";
import { CANARY_FILE, CANARY_TOOLS, canaryWriteScript } from "../domain/jobs/canary";
import { Notify } from "../domain/jobs/scripts";
import { labelValue } from "../domain/naming";
import { planBackups } from "../domain/plan";
import type { BackupPlan } from "../domain/model";
import { restrictedViolations } from "../domain/podSecurity";
import { runbooks } from "../domain/runbooks";
import { standardOffsetMinutes, weeklyStartMinutes } from "../domain/schedule";
import { COMPONENT_TYPES } from "../domain/types";
import { claimOf } from "../methods/volsync/manifests";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { evaluatePolicies } from "../offline/policyHarness";
import { reveal } from "../offline/wire";
import { backupJobHygiene } from "../policies/kubernetes";
import { PACK_NAME } from "../policies/registry";
import { BUSYBOX, Busybox, exec, isRoot, RecordedRequest, Recorder, startRecorder, tempDir, toolDir, which, jobShell } from "./support/services";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";
import { jobLabels, SOURCE_MOUNT } from "../domain/jobPods";

// `any`: manifests are walked by path in assertions.
type Json = Record<string, any>;
const CANARY_LABEL = "homelab-backups.dev/canary";
const NOBODY = 65534;
const NTFY_TOKEN = "tk_ntfyS3cretToken";

interface Run {
  code: number | null;
  output: string;
  ntfy: RecordedRequest[];
  pings: { path: string; body: string }[];
}

describe(`volume canaries${BUSYBOX ? " (busybox)" : ""}`, function () {
  this.timeout(300_000);

  describe("the canary script, run under sh", () => {
    let root: string;
    let recorder: Recorder;
    let bin: string;
    let shell: string[] = ["/bin/sh"];
    let counter = 0;
    const notify = (): Notify => ({ app: "photos", item: "library", ntfyUrl: `${recorder.url}/backups` });

    before(async () => {
      root = tempDir("canary");
      chmodSync(root, 0o755); // the job runs as nobody and must reach its script and tools
      recorder = await startRecorder();
      let busybox: Busybox | undefined;
      ({ shell, busybox } = await jobShell());
      bin = toolDir(root, CANARY_TOOLS, busybox);
    });
    after(async () => {
      await recorder?.stop();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    /** A directory as the claim's root would be: owned by the volume's owner (nobody here, when root). */
    function volumeDir(owned = true): string {
      const dir = join(root, `volume-${++counter}`);
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      if (owned && isRoot) chownSync(dir, NOBODY, NOBODY);
      if (!owned && !isRoot) chmodSync(dir, 0o555);
      return dir;
    }

    /** Runs the script as the CronJob would (`sh -c`), as nobody when the tests run as root. */
    async function write(dir: string): Promise<Run> {
      const script = canaryWriteScript({ dir, notify: notify() });
      const file = join(root, `canary-${++counter}.sh`);
      writeFileSync(file, script, { mode: 0o644 });
      const jobTmp = join(root, `tmp-${counter}`);
      mkdirSync(jobTmp, { mode: 0o1777 });
      chmodSync(jobTmp, 0o1777);
      recorder.requests.length = 0;
      const env = { PATH: bin, HOME: jobTmp, TMPDIR: jobTmp, NTFY_TOKEN, HEALTHCHECKS_URL: `${recorder.url}/hc/canary` };
      const [command, ...args] = isRoot ? [which("setpriv") ?? "setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...shell, file] : [...shell, file];
      const result = await exec(command!, args, { env, timeoutMs: 60_000 });
      const output = result.stdout + result.stderr;
      assert.deepEqual(readdirSync(jobTmp), [], "the job leaves its temporary directory behind");
      assert.ok(!output.includes(NTFY_TOKEN));
      return {
        code: result.code,
        output,
        ntfy: recorder.requests.filter((r) => r.path === "/backups"),
        pings: recorder.requests.filter((r) => r.path.startsWith("/hc/canary")).map((r) => ({ path: r.path.slice("/hc/canary".length) || "/", body: r.body })),
      };
    }

    function assertFailed(run: Run, reason: RegExp): void {
      assert.ok(run.code !== 0 && run.code !== null, `the job should have failed:\n${run.output}`);
      assert.equal(run.ntfy.length, 1, `expected one ntfy message:\n${run.output}`);
      const message = run.ntfy[0]!;
      assert.equal(message.headers.title, "photos/library canary FAILED");
      assert.equal(message.headers.priority, "high");
      assert.equal(message.headers.authorization, `Bearer ${NTFY_TOKEN}`);
      assert.match(message.body, /^photos\/library: canary write FAILED at step: /);
      assert.match(message.body, reason);
      assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/fail"]);
    }

    it("is deterministic POSIX sh that names its tools, and refuses options that would break quoting", async () => {
      const script = canaryWriteScript({ dir: SOURCE_MOUNT, notify: { app: "photos", item: "library" } });
      assert.equal(canaryWriteScript({ dir: SOURCE_MOUNT, notify: { app: "photos", item: "library" } }), script);
      assert.equal(/^# Needs: (.*)\.$/m.exec(script)?.[1], CANARY_TOOLS.join(" "));
      assert.match(script, /^LINE='homelab-backups canary photos\/library'$/m);
      assert.doesNotMatch(script, /\[\[|\bbash\b|^\s*local\s|date -d|\bcurl\b/m);
      const syntax = await exec(shell[0]!, [...shell.slice(1), "-n"], { input: script });
      assert.equal(syntax.code, 0, syntax.stderr);
      assert.throws(() => canaryWriteScript({ dir: "/volume/it's", notify: { app: "photos", item: "library" } }), /dir/);
      assert.throws(() => canaryWriteScript({ dir: "/volume", notify: { app: "photos", item: "../library" } }), /notify\.item/);
    });

    it("writes the canary by rename, as the volume's owner, naming app, volume and the time of the write", async () => {
      const dir = volumeDir();
      const canary = join(dir, CANARY_FILE);
      writeFileSync(canary, "homelab-backups canary photos/library\nepoch=1\ntime=1970-01-01T00:00:01Z\n");
      writeFileSync(join(dir, `${CANARY_FILE}.Xy12Zq`), "a killed run's temporary file");
      writeFileSync(join(dir, "db.sqlite3"), "the app's data");
      if (isRoot) chownSync(canary, NOBODY, NOBODY);
      // A second name of the old canary: a rename leaves it alone, a write in place would change it.
      const keep = join(root, `keep-${++counter}`);
      mkdirSync(keep);
      linkSync(canary, join(keep, "old"));

      const before = Math.floor(Date.now() / 1000);
      const run = await write(dir);
      const after = Math.ceil(Date.now() / 1000);
      assert.equal(run.code, 0, run.output);
      assert.deepEqual(run.ntfy, [], "a routine success sends ntfy nothing");
      assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/"]);
      assert.match(run.pings[1]!.body, /^wrote \S+\/\.homelab-backups-canary \(homelab-backups canary photos\/library, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/);

      const text = readFileSync(canary, "utf8");
      const match = /^homelab-backups canary photos\/library\nepoch=(\d+)\ntime=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\n$/.exec(text);
      assert.ok(match, `canary content:\n${text}`);
      const epoch = Number(match[1]);
      assert.ok(epoch >= before && epoch <= after, `epoch ${epoch} is the time of the write`);
      assert.equal(new Date(epoch * 1000).toISOString().replace(/\.\d+Z$/, "Z"), match[2], "the readable time is the same second");
      assert.equal(statSync(canary).mode & 0o777, 0o644);
      if (isRoot) assert.equal(statSync(canary).uid, NOBODY, "written as the volume's owner");
      assert.match(readFileSync(join(keep, "old"), "utf8"), /epoch=1\n/, "replaced by a rename, never rewritten in place");
      assert.deepEqual(readdirSync(dir).sort(), [CANARY_FILE, "db.sqlite3"], "no temporary file left, the app's files untouched");
      assert.equal(readFileSync(join(dir, "db.sqlite3"), "utf8"), "the app's data");
    });

    it("fails and notifies when the claim's root is missing or not writable, and writes nothing", async () => {
      const missing = join(root, "not-mounted");
      assertFailed(await write(missing), /step: check the volume's directory [\s\S]*does not exist \(is the claim mounted\?\)/);
      assert.ok(!existsSync(missing));
      const foreign = volumeDir(false);
      assertFailed(await write(foreign), /is not writable by this job: it runs as apps\.photos\.volumes\.library\.uid and \.gid/);
      assert.deepEqual(readdirSync(foreign), []);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("the program", () => {
    let config: StackConfig;
    let plan: BackupPlan;
    let run: ProgramRun;
    before(async () => {
      config = exampleStackConfig();
      plan = planBackups(config);
      run = await runExample();
    });
    const manifest = (resource: CapturedResource) => reveal(resource.inputs) as Json;
    const canaryJobs = (of: ProgramRun) => of.resources.filter((r) => r.type === "kubernetes:batch/v1:CronJob" && manifest(r).metadata.labels[CANARY_LABEL] === "true");
    const cronJob = (of: ProgramRun, namespace: string, name: string) =>
      of.resources.map(manifest).find((m) => m.kind === "CronJob" && m.metadata.namespace === namespace && m.metadata.name === name);
    const drilled = (p: BackupPlan) => p.items.filter((i) => i.kind === "volume" && p.jobs.some((j) => j.kind === "restore-drill" && j.itemId === i.id));
    const minuteOfDay = (cron: string) => {
      const [minute, hour, ...rest] = cron.split(" ");
      assert.deepEqual(rest, ["*", "*", "*"], `${cron} runs daily`);
      return Number(hour) * 60 + Number(minute);
    };

    it("writes a canary for every drilled volume, before the drilled copy's backup, in the cluster's time zone", () => {
      const volumes = drilled(plan);
      assert.ok(volumes.filter((i) => i.tier === 1).length >= 4, "the example drills four tier 1 volumes");
      const sources = run.resources.filter((r) => r.type.endsWith(":ReplicationSource")).map(manifest);
      for (const item of volumes) {
        const drill = plan.jobs.find((j) => j.kind === "restore-drill" && j.itemId === item.id)!;
        const copy = item.copies.find((c) => c.id === drill.copyId)!;
        const job = cronJob(run, item.namespace, canaryName(item));
        assert.ok(job, `${item.id} has a canary CronJob`);
        assert.equal(job.spec.timeZone, config.cluster.timezone);
        const canary = minuteOfDay(job.spec.schedule);
        const copyStarts = new Set(weeklyStartMinutes(copy.schedule.cron).map((m) => m % 1440));
        assert.ok(copyStarts.has((canary + CANARY_LEAD_MINUTES) % 1440), `${item.id}: "${job.spec.schedule}" runs ${CANARY_LEAD_MINUTES} minutes before "${copy.schedule.cron}"`);
        // VolSync reads its cron in UTC, shifted by the zone's standard offset: the canary comes
        // first by the lead in standard time and by an hour more in daylight saving time.
        const source = sources.find((rs) => rs.metadata.labels["homelab-backups.dev/data"] === labelValue(item.id) && rs.metadata.labels["homelab-backups.dev/destination"] === labelValue(copy.destination))!;
        const utcStarts = new Set(weeklyStartMinutes(source.spec.trigger.schedule).map((m) => m % 1440));
        const canaryUtc = (canary - standardOffsetMinutes(config.cluster.timezone) + 2880) % 1440;
        assert.ok(utcStarts.has((canaryUtc + CANARY_LEAD_MINUTES) % 1440), `${item.id}: the canary precedes ReplicationSource ${source.metadata.name} ("${source.spec.trigger.schedule}" UTC)`);
      }
      assert.equal(canaryJobs(run).length, volumes.length, "no canary for undrilled volumes");
      assert.equal(run.resources.filter((r) => r.type === COMPONENT_TYPES.canary).length, volumes.length);
    });

    it("runs restricted, as the volume's owner without an fsGroup, beside the app's pods, on the claim only", () => {
      for (const item of drilled(plan)) {
        const volume = config.apps[item.app].volumes[item.name];
        const job = cronJob(run, item.namespace, canaryName(item))!;
        const pod = job.spec.jobTemplate.spec.template.spec;
        assert.deepEqual(restrictedViolations(pod), [], job.metadata.name);
        assert.equal(pod.securityContext.fsGroup, undefined, "no fsGroup: kubelet would re-own the app's volume");
        assert.equal(pod.securityContext.runAsUser, volume.uid);
        assert.equal(pod.securityContext.runAsGroup, volume.gid);
        assert.equal(pod.securityContext.supplementalGroups, undefined, "no NAS share, no job group");
        assert.deepEqual(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution, [
          { labelSelector: { matchLabels: { "app.kubernetes.io/name": item.app } }, topologyKey: "kubernetes.io/hostname" },
        ]);
        const claims = pod.volumes.filter((v: Json) => v.persistentVolumeClaim).map((v: Json) => v.persistentVolumeClaim);
        assert.deepEqual(claims, [{ claimName: claimOf(item, volume) }], "the app's claim, writable, and nothing else");
        const [container] = pod.containers;
        assert.equal(container.image, config.images.restic);
        assert.ok(container.volumeMounts.some((m: Json) => m.name === "source" && m.mountPath === SOURCE_MOUNT && !m.readOnly));
        assert.match(container.command.join(" "), new RegExp(`LINE='homelab-backups canary ${item.app}/${item.name}'`));
        assert.equal(job.spec.concurrencyPolicy, "Forbid");
        assert.ok(job.spec.jobTemplate.spec.activeDeadlineSeconds <= CANARY_LEAD_MINUTES * 60, "a slow run ends before the backup starts");
        assert.ok(job.spec.startingDeadlineSeconds > 0);
        for (const [key, value] of Object.entries(jobLabels(item.app, item.tier, item.id))) assert.equal(job.metadata.labels[key], value, `${job.metadata.name}: label ${key}`);
        const secret = container.envFrom?.[0]?.secretRef?.name;
        assert.ok(secret, "notification values from a Secret");
        assert.ok(run.resources.map(manifest).some((m) => m.kind === "ExternalSecret" && m.metadata.namespace === item.namespace && m.spec.target.name === secret), `an ExternalSecret builds ${secret}`);
      }
    });

    it("is held to the policy pack's backup-job-hygiene rule, and passes it", async () => {
      const jobs = canaryJobs(run);
      const report = await evaluatePolicies(jobs, { pack: PACK_NAME, policies: [backupJobHygiene] });
      assert.equal(report.evaluations[0].evaluated, jobs.length, "every canary CronJob is examined");
      assert.deepEqual(report.violations, []);
      const sloppy = jobs.map((resource) => {
        const copy = structuredClone(resource);
        (copy.inputs as Json).spec.concurrencyPolicy = "Allow";
        return copy;
      });
      const broken = await evaluatePolicies(sloppy, { pack: PACK_NAME, policies: [backupJobHygiene] });
      assert.equal(broken.violations.length, jobs.length, "the rule can fail for them");
    });

    it("makes each volume drill require its canary, as old as the copy's schedule allows", () => {
      for (const item of drilled(plan)) {
        const drill = plan.jobs.find((j) => j.kind === "restore-drill" && j.itemId === item.id)!;
        const copy = item.copies.find((c) => c.id === drill.copyId)!;
        const script = cronJob(run, item.namespace, drillName(item))!.spec.jobTemplate.spec.template.spec.containers[0].command.join(" ");
        assert.match(script, new RegExp(`CANARY_LINE='homelab-backups canary ${item.app}/${item.name}'`));
        assert.match(script, new RegExp(`CANARY_MAX_AGE_HOURS=${canaryMaxAgeHours(copy)}\n`));
        assert.match(script, /check_canary/);
      }
      // The planner's offsite copies run daily: one canary interval, one copy interval, two hours.
      assert.deepEqual([...new Set(drilled(plan).map((i) => volumeCanary(config, plan, i)!.maxAgeHours))], [50]);
    });

    it("alerts when a canary Job fails, in the item's group, and says so in the drill's runbook section", () => {
      const rules = alertRules(config, plan);
      const pages = runbooks(config, plan);
      for (const canary of volumeCanaries(config, plan)) {
        const rule = rules.find((r) => (r.metadata as Json).name === appRuleName(canary.item.app))!;
        const group = (rule.spec as { groups: AlertGroup[] }).groups.find((g) => g.name === canary.item.id)!;
        const alert = group.rules.find((r) => r.alert === "CanaryWriteFailed");
        assert.ok(alert, `${canary.item.id} alerts on a failed canary`);
        assert.match(alert.expr, new RegExp(`owner_name="${canary.name}"`));
        assert.match(alert.expr, new RegExp(`namespace="${canary.namespace}"`));
        assert.equal(alert.labels.data, canary.item.id);
        assert.equal(new Set(group.rules.map((r) => r.alert)).size, group.rules.length, "alert names stay unique in the group");
        const page = pages[`docs/runbooks/${canary.item.app}.md`];
        assert.ok(page.includes(`CronJob \`${canary.name}\` in \`${canary.namespace}\` writes \`${CANARY_FILE}\``), `${canary.item.app}'s runbook names ${canary.name}`);
      }
    });

    it("canary: false removes the CronJob, its alert and runbook line, and the drill no longer requires a canary", async () => {
      const edit = (c: Json) => {
        c.apps.immich.volumes.library.canary = false;
        c.apps.vaultwarden.volumes.data.canary = false;
      };
      const off = await runExample(editedConfig(edit));
      const offConfig = parseStackConfig(editedConfig(edit));
      const offPlan = planBackups(offConfig);
      for (const [app, namespace, volume] of [["immich", "immich", "library"], ["vaultwarden", "vaultwarden", "data"]] as const) {
        const item = offPlan.items.find((i) => i.id === `${app}/volume/${volume}`)!;
        assert.equal(cronJob(off, namespace, canaryName(item)), undefined, `${item.id} has no canary CronJob`);
        const drill = cronJob(off, namespace, drillName(item));
        assert.ok(drill, `${item.id} is still drilled`);
        assert.ok(!drill.spec.jobTemplate.spec.template.spec.containers[0].command.join(" ").includes(CANARY_FILE), `${item.id}'s drill requires no canary`);
        assert.equal(volumeCanary(offConfig, offPlan, item), undefined);
        assert.ok(!runbooks(offConfig, offPlan)[`docs/runbooks/${app}.md`].includes(canaryName(item)));
      }
      assert.ok(!JSON.stringify(alertRules(offConfig, offPlan).filter((r) => ["immich-backups", "vaultwarden-backups"].includes((r.metadata as Json).name))).includes("CanaryWriteFailed"));
      assert.equal(canaryJobs(off).length, canaryJobs(run).length - 2, "the other volumes keep theirs");
    });

    it("defaults to off for undrilled volumes, which canary: true turns on (before the copy a drill would take)", () => {
      const undrilled = parseStackConfig(editedConfig((c) => (c.tiers["2"] = { ...c.tiers["2"], restoreDrillDays: 0 })));
      const undrilledPlan = planBackups(undrilled);
      assert.ok(!volumeCanaries(undrilled, undrilledPlan).some((c) => c.item.app === "arr"), "tier 2 without drills: no canaries");
      const opted = parseStackConfig(
        editedConfig((c) => {
          c.tiers["2"] = { ...c.tiers["2"], restoreDrillDays: 0 };
          c.apps.arr.volumes["radarr-config"].canary = true;
        }),
      );
      const optedPlan = planBackups(opted);
      const canaries = volumeCanaries(opted, optedPlan).filter((c) => c.item.app === "arr");
      assert.deepEqual(canaries.map((c) => c.item.name), ["radarr-config"]);
      assert.equal(canaries[0]!.copy.destination, "offsite-nas");
      assert.equal(canaries[0]!.schedule.cron, canaryCron(canaries[0]!.copy.schedule.cron));
      assert.deepEqual(restrictedViolations((canaryCronJob(opted, canaries[0]!) as Json).spec.jobTemplate.spec.template.spec), []);
    });

    it("runs beside the pods apps.<app>.volumes.<volume>.appSelector names, and refuses a root-owned volume", () => {
      const selected = parseStackConfig(editedConfig((c) => (c.apps.immich.volumes.library.appSelector = { "app.kubernetes.io/instance": "immich-server" })));
      const selectedPlan = planBackups(selected);
      const canary = volumeCanary(selected, selectedPlan, selectedPlan.items.find((i) => i.id === "immich/volume/library")!)!;
      const pod = (canaryCronJob(selected, canary) as Json).spec.jobTemplate.spec.template.spec;
      assert.deepEqual(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels, { "app.kubernetes.io/instance": "immich-server" });
      const rooted = parseStackConfig(editedConfig((c) => (c.apps.vaultwarden.volumes.data.uid = 0)));
      const rootedPlan = planBackups(rooted);
      const data = volumeCanary(rooted, rootedPlan, rootedPlan.items.find((i) => i.id === "vaultwarden/volume/data")!)!;
      assert.throws(() => canaryCronJob(rooted, data), /apps\.vaultwarden\.volumes\.data: the volume is owned by uid 0, .* set canary: false/);
    });

    it("schedules a canary before hand-written and sub-daily crons too, deterministically", () => {
      assert.equal(canaryCron("5 3 * * *"), "50 2 * * *");
      assert.equal(canaryCron("10 0 * * *"), "55 23 * * *", "across midnight");
      assert.equal(canaryCron("20 * * * *"), "5 0 * * *", "hourly: before the first run of the day");
      assert.equal(canaryCron("30 4 * * 0"), "15 4 * * *", "weekly: daily, before the weekly run's time");
      assert.equal(canaryCron("0 2 15 * *"), "45 1 * * *", "monthly: before the day's run");
    });
  });
});
