/**
 * Snapshots and the machines outside Kubernetes, as the program declares them: SnapScheduler
 * schedules and the claims they select, and the TrueNAS task commands taken from the captured
 * resources and run exactly as the command provider would (over a real sshd with the pinned
 * host key, against a fake middleware client).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { PATCH_ANNOTATION } from "../methods/pgbackrest/cluster";
import { planBackups } from "../domain/plan";
import { SNAPSHOT_LABEL, snapshotLabelValue } from "../domain/snapshots";
import { CapturedResource, ProgramRun } from "../offline/engine";
import { runOfflinePlan } from "../offline/plan";
import { reveal } from "../offline/wire";
import { FakeNas } from "./support/fakeTruenas";
import { Sshd, startSshd } from "./support/services";
import { EXAMPLE_STACK, editedConfig, exampleStackConfig, runExample } from "./support/stack";

// `any`: manifests are walked by path in assertions.
type Manifest = { metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, any> };
const manifestOf = (resource: CapturedResource) => reveal(resource.inputs) as unknown as Manifest;
const objectsOf = (run: ProgramRun, type: string) => run.resources.filter((resource) => resource.type === type).map(manifestOf);

const HOURS = { hourly: 1, daily: 24, weekly: 168 } as const;

describe("snapshots and machines outside the cluster", function () {
  this.timeout(300_000);

  describe("SnapScheduler", () => {
    let run: ProgramRun;
    before(async () => {
      run = await runExample();
    });

    it("gives every snapshotted volume's namespace a schedule per tier and period, with count and age retention", () => {
      const config = exampleStackConfig();
      const schedules = objectsOf(run, "kubernetes:snapscheduler.backube/v1:SnapshotSchedule");
      const expected = new Set<string>();
      for (const item of planBackups(config).items) {
        for (const copy of item.copies.filter((c) => c.method === "csi-snapshot")) {
          const period = copy.schedule.spec as keyof typeof HOURS;
          const key = `${item.namespace}/${item.tier}/${period}`;
          expected.add(key);
          const schedule = schedules.find(
            (s) => s.metadata.namespace === item.namespace && s.spec.claimSelector.matchLabels[SNAPSHOT_LABEL] === snapshotLabelValue(item.tier) && s.metadata.name.endsWith(`-${period}`),
          );
          assert.ok(schedule, `no ${period} SnapshotSchedule selects ${item.id}`);
          assert.equal(copy.retention.kind, "gfs");
          const count = copy.retention.kind === "gfs" ? copy.retention[period] : undefined;
          assert.ok(count && count > 0);
          // The CRD's expires counts hours only; the age bound must not cut the count short.
          assert.deepEqual(schedule.spec.retention, { maxCount: count, expires: `${count * HOURS[period]}h` });
          assert.equal(schedule.spec.snapshotTemplate.snapshotClassName, config.cluster.volumeSnapshotClass);
        }
      }
      assert.ok(expected.size > 0);
      assert.equal(schedules.length, expected.size, "one schedule per namespace, tier and period");
      const tier1 = schedules.find((s) => s.metadata.namespace === "immich" && s.metadata.name.endsWith("-hourly"));
      assert.deepEqual(tier1?.spec.retention, { maxCount: 48, expires: "48h" }, "tier 1 keeps 48 hourly snapshots");
    });

    it("labels every snapshotted claim: a patch of the user's claim, or the claim the program creates", () => {
      const claims = objectsOf(run, "kubernetes:core/v1:PersistentVolumeClaim");
      const patches = objectsOf(run, "kubernetes:core/v1:PersistentVolumeClaimPatch");
      const config = exampleStackConfig();
      let checked = 0;
      for (const item of planBackups(config).items.filter((i) => i.kind === "volume" && i.copies.some((c) => c.method === "csi-snapshot"))) {
        const volume = config.apps[item.app].volumes[item.name];
        const claim = volume.claim ?? item.name;
        const created = claims.find((c) => c.metadata.namespace === item.namespace && c.metadata.name === claim);
        const patch = patches.find((c) => c.metadata.namespace === item.namespace && c.metadata.name === claim);
        assert.ok(Boolean(created) !== Boolean(patch), `${item.id}: the claim is either created or patched, not both`);
        if (patch) {
          assert.equal(patch.metadata.annotations?.[PATCH_ANNOTATION], "true", "server-side apply patch, so the user keeps owning the claim");
          assert.deepEqual(patch.spec ?? undefined, undefined, "the patch touches the label only");
        }
        assert.equal((created ?? patch)!.metadata.labels?.[SNAPSHOT_LABEL], snapshotLabelValue(item.tier), item.id);
        checked++;
      }
      assert.ok(checked > 0);
    });

    it("declares no schedule and patches no claim when no tier keeps snapshots", async () => {
      const none = await runExample(
        editedConfig((c) => {
          for (const tier of ["1", "2", "3"]) c.tiers[tier] = { ...c.tiers[tier], snapshots: {} };
        }),
      );
      assert.deepEqual(objectsOf(none, "kubernetes:snapscheduler.backube/v1:SnapshotSchedule"), []);
      assert.deepEqual(objectsOf(none, "kubernetes:core/v1:PersistentVolumeClaimPatch"), []);
    });
  });

  describe("TrueNAS tasks, run exactly as the resources run them", () => {
    let sshd: Sshd;
    let nas: FakeNas;
    let key: string;
    before(async () => {
      nas = new FakeNas();
      // The remote session finds the fake midclt first on its PATH, as the real one is on TrueNAS.
      sshd = await startSshd({ sessionEnv: { PATH: `${nas.dir}:/usr/local/bin:/usr/bin:/bin`, FAKE_MIDCLT_STATE: nas.statePath } });
      key = readFileSync(sshd.clientKeyFile, "utf8");
    });
    after(async () => {
      await sshd?.stop();
      nas?.cleanup();
    });
    beforeEach(() => nas.reset());

    /** The example pointed at the test sshd, optionally edited further. */
    const stackAt = (edit: (c: Record<string, any>) => void = () => undefined) => // `any`: free-form config edits
      editedConfig((c) => {
        c.truenas = { ...c.truenas, host: "127.0.0.1", port: sshd.port, user: sshd.user, hostKey: sshd.knownHostsLine.split(" ").slice(1).join(" ") };
        c.credentials.truenas = { sshPrivateKey: key };
        edit(c);
      });

    interface TaskCommand {
      name: string;
      create: string;
      delete: string;
      environment: Record<string, string>;
    }
    const datasetCommands = async (config: Record<string, unknown>): Promise<TaskCommand[]> => {
      const run = await runExample(config);
      return run.resources
        .filter((r) => r.type === "command:local:Command" && r.urn.includes("truenas:DatasetBackup"))
        .map((r) => {
          const inputs = reveal(r.inputs) as { create: string; delete: string; environment: Record<string, string> };
          return { name: r.name, create: inputs.create, delete: inputs.delete, environment: inputs.environment };
        });
    };
    /** As the command provider runs a command: /bin/sh -c, the resource's environment, and for delete the recorded stdout. */
    const execute = (script: string, environment: Record<string, string>, stdout?: string) => {
      const done = spawnSync("/bin/sh", ["-c", script], {
        env: { PATH: process.env.PATH, ...environment, ...(stdout === undefined ? {} : { PULUMI_COMMAND_STDOUT: stdout }) },
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(done.status, 0, `command failed:\n${done.stderr}`);
      return done.stdout;
    };
    const up = (commands: readonly TaskCommand[]) => new Map(commands.map((c) => [c.name, execute(c.create, c.environment)]));

    it("pulumi up creates one task per resource with the planned payload, secrets only from the environment", async () => {
      const commands = await datasetCommands(stackAt());
      assert.deepEqual(commands.map((c) => c.name).sort(), [
        "truenas-backups-backups-snapshots-daily",
        "truenas-images-images-cloudsync-b2",
        "truenas-images-images-cloudsync-r2",
        "truenas-images-images-snapshots-daily",
        "truenas-images-images-snapshots-hourly",
        "truenas-media-media-snapshots-daily",
      ]);
      const ids = up(commands);
      for (const stdout of ids.values()) assert.match(stdout, /^\{"id": \d+\}\n$/);
      const snapshots = nas.snapshotTasks();
      assert.equal(snapshots.length, 4);
      const hourly = snapshots.find((t) => t.dataset === "storage0/images" && (t.schedule as { hour: string }).hour === "*");
      assert.ok(hourly, "an hourly task for the tier-1 images");
      assert.deepEqual([hourly.lifetime_value, hourly.lifetime_unit], [48, "HOUR"], "48 hourly snapshots live 48 hours");

      const syncs = nas.cloudSyncTasks();
      assert.equal(syncs.length, 2);
      const { password, salt } = (() => {
        const env = commands.find((c) => c.name.endsWith("cloudsync-b2"))!.environment;
        return { password: env.CLOUDSYNC_ENCRYPTION_PASSWORD, salt: env.CLOUDSYNC_ENCRYPTION_SALT };
      })();
      assert.ok(password && salt);
      for (const sync of syncs) {
        assert.equal(sync.path, "/mnt/storage0/images");
        assert.equal(sync.transfer_mode, "COPY", "never deletes offsite");
        assert.deepEqual([sync.encryption, sync.encryption_password, sync.encryption_salt], [true, password, salt]);
      }
      for (const command of commands) assert.ok(!command.create.includes(password) && !command.delete.includes(password), `${command.name} text holds the password`);
    });

    it("running create again (state lost after a crash) adopts the existing tasks instead of duplicating them", async () => {
      const commands = await datasetCommands(stackAt());
      const first = up(commands);
      const second = up(commands);
      assert.deepEqual(second, first);
      assert.equal(nas.snapshotTasks().length, 4);
      assert.equal(nas.cloudSyncTasks().length, 2);
    });

    it("a retention change replaces just that task: delete by recorded id, then create", async () => {
      const before = await datasetCommands(stackAt());
      const ids = up(before);
      const after = await datasetCommands(stackAt((c) => (c.tiers["1"] = { ...c.tiers["1"], snapshots: { hourly: 24, daily: 14 } })));
      const changed = after.filter((c) => before.find((b) => b.name === c.name)!.create !== c.create).map((c) => c.name);
      assert.deepEqual(changed, ["truenas-images-images-snapshots-hourly"], "replaceOnChanges on create replaces only this task");
      const old = before.find((c) => c.name === changed[0])!;
      const untouched = nas.snapshotTasks().filter((t) => String(t.id) !== String(JSON.parse(ids.get(old.name)!).id));
      // deleteBeforeReplace: the old task goes by its id, then the new one is created.
      execute(old.delete, old.environment, ids.get(old.name));
      const replacement = after.find((c) => c.name === changed[0])!;
      execute(replacement.create, replacement.environment);
      const hourly = nas.snapshotTasks().filter((t) => t.dataset === "storage0/images" && (t.schedule as { hour: string }).hour === "*");
      assert.equal(hourly.length, 1);
      assert.deepEqual([hourly[0].lifetime_value, hourly[0].lifetime_unit], [24, "HOUR"]);
      for (const task of untouched) assert.ok(nas.snapshotTasks().some((t) => JSON.stringify(t) === JSON.stringify(task)), `task ${task.id} untouched`);
    });

    it("pulumi destroy deletes exactly the recorded tasks and leaves a hand-made one on the same dataset", async () => {
      const commands = await datasetCommands(stackAt());
      const ids = up(commands);
      const handMade = nas.handMade("pool.snapshottask.create", {
        dataset: "storage0/images",
        recursive: false,
        lifetime_value: 1,
        lifetime_unit: "YEAR",
        naming_schema: "manual-%Y-%m-%d",
        schedule: { minute: "0", hour: "0", dom: "1", month: "*", dow: "*" },
      });
      for (const command of commands) execute(command.delete, command.environment, ids.get(command.name));
      assert.deepEqual(nas.snapshotTasks().map((t) => t.id), [handMade]);
      assert.deepEqual(nas.cloudSyncTasks(), []);
    });

    it("refuses a TrueNAS whose host key is not the pinned one, before running anything", async () => {
      const [command] = await datasetCommands(
        stackAt((c) => (c.truenas.hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvbWVsYWItYmFja3Vwcy1ub3QtdGhlLXJpZ2h0LWtleQ")),
      );
      const done = spawnSync("/bin/sh", ["-c", command.create], { env: { PATH: process.env.PATH, ...command.environment }, encoding: "utf8" });
      assert.notEqual(done.status, 0);
      assert.match(done.stderr, /host key/i);
      assert.deepEqual(nas.snapshotTasks(), []);
    });
  });

  it("BACKUP-PLAN.md lists the TrueNAS tasks and the host timers", async () => {
    const plan = (await runOfflinePlan({ configFile: EXAMPLE_STACK })).artifacts["BACKUP-PLAN.md"];
    const section = plan.slice(plan.indexOf("## Machines outside the cluster"), plan.indexOf("## Destinations"));
    assert.match(section, /\| truenas \(`citadel\.internal`\) \| `images-snapshots-hourly` \| hourly ZFS snapshots of storage0\/images, kept 48 \| minute \d+, hour \\\*/);
    assert.match(section, /`images-cloudsync-b2` \| encrypted cloud sync of storage0\/images to b2/);
    assert.match(section, /\| storage-server \(`storage\.internal`\) \| `storage-server-r2` \| restic backup of storage-server .* \| OnCalendar=\\\*-\\\*-\\\* \d\d:\d\d:00 \|/);
    assert.match(section, /\| router \(`router\.internal`\) \| `router-b2` \|/);
  });
});
