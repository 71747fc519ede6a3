import { strict as assert } from "node:assert";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import {
  CLOUDSYNC_SECRET_ENV,
  cloudSyncTaskCommands,
  cloudSyncTaskSchema,
  cloudSyncTaskSpecSchema,
  CloudSyncTaskInput,
  cronToTruenasSchedule,
  cronToTruenasSnapshotSchedule,
  lifetimeForRetention,
  lifetimeFromHours,
  snapshotTaskCommands,
  snapshotTaskPayload,
  snapshotTaskSchema,
  SnapshotTaskInput,
  TruenasPayloadError,
} from "../domain/truenas";
import { FakeNas } from "./support/fakeTruenas";

const SNAPSHOT: SnapshotTaskInput = {
  dataset: "storage0/images",
  recursive: true,
  exclude: ["storage0/images/cache"],
  lifetime_value: 2,
  lifetime_unit: "WEEK",
  naming_schema: "auto-%Y-%m-%d_%H-%M",
  schedule: { minute: "0", hour: "*", dom: "*", month: "*", dow: "*" },
};

const CLOUD_SYNC: CloudSyncTaskInput = {
  description: "Dad's images to B2: $HOME `id` \"quoted\"", // shell metacharacters stay text
  path: "/mnt/storage0/images",
  credentials: 3,
  attributes: { bucket: "homelab-images-3f2a1c", folder: "citadel" },
  transfer_mode: "SYNC",
  schedule: cronToTruenasSchedule("15 2 * * *"),
};

const PASSWORD = "correct horse battery staple 7f3a";
const SALT = "pepper-5b1e9c";
const SECRET_ENV = { [CLOUDSYNC_SECRET_ENV.password]: PASSWORD, [CLOUDSYNC_SECRET_ENV.salt]: SALT };

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TruenasPayloadError, `expected a TruenasPayloadError, got ${String(error)}`);
    return error.problems.join("\n");
  }
  assert.fail("expected the payload to be rejected");
}

describe("TrueNAS tasks over midclt", () => {
  describe("payload schemas", () => {
    it("fills TrueNAS defaults so the payload fully decides the task", () => {
      const payload = snapshotTaskPayload({ ...SNAPSHOT, recursive: undefined, exclude: undefined });
      assert.deepEqual(payload, {
        dataset: "storage0/images",
        recursive: false,
        exclude: [],
        lifetime_value: 2,
        lifetime_unit: "WEEK",
        naming_schema: "auto-%Y-%m-%d_%H-%M",
        schedule: { minute: "0", hour: "*", dom: "*", month: "*", dow: "*", begin: "00:00", end: "23:59" },
        allow_empty: true,
        enabled: true,
      });
      const spec = cloudSyncTaskSchema.parse({ ...CLOUD_SYNC, encryption_password: "x" });
      assert.equal(spec.direction, "PUSH");
      assert.equal(spec.encryption, true);
      assert.equal(spec.snapshot, true);
    });

    it("rejects unknown keys, wrong enums, naming schemas without time tokens and bad cron fields", () => {
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, retention: 3 } as SnapshotTaskInput)), /retention/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, lifetime_unit: "FORTNIGHT" as "WEEK" })), /lifetime_unit/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, lifetime_value: 1.5 })), /lifetime_value: must be a whole number/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, naming_schema: "auto-%Y-%m-%d" })), /naming_schema: .*missing %H %M/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, minute: "61" } })), /schedule.minute: .*outside 0-59/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, hour: "every day" } })), /schedule.hour/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, dow: "MON" } })), /schedule.dow/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, begin: "24:00" } })), /schedule.begin/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, dataset: "/mnt/storage0/images" })), /dataset/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, exclude: ["other/cache"] })), /exclude.0: .*not a child dataset/);
      assert.match(problems(() => snapshotTaskPayload({ ...SNAPSHOT, recursive: false })), /only recursive tasks/);
      assert.equal(snapshotTaskSchema.safeParse({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, minute: 0 } }).success, false);
    });

    it("refuses cloud sync secrets, pulls and paths outside /mnt in the spec the commands are built from", () => {
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, encryption_password: PASSWORD } as CloudSyncTaskInput)), /encryption_password/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, encryption_salt: SALT } as CloudSyncTaskInput)), /encryption_salt/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, direction: "PULL" as "PUSH" })), /direction: must be "PUSH"/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, path: "/home/images" })), /path: must be a path under \/mnt/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, path: "/mnt/storage0/../etc" })), /path: must not contain/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, transfer_mode: "MOVE" as "SYNC" })), /transfer_mode/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, credentials: "b2" as unknown as number })), /credentials/);
      assert.match(problems(() => cloudSyncTaskCommands({ ...CLOUD_SYNC, attributes: { ...CLOUD_SYNC.attributes, fast_list: true } as CloudSyncTaskInput["attributes"] })), /attributes/);
      assert.equal(cloudSyncTaskSpecSchema.safeParse({ ...CLOUD_SYNC, schedule: { ...CLOUD_SYNC.schedule, begin: "00:00" } }).success, false);
      // The full middleware payload (what the NAS-side script sends) needs the password with encryption on.
      assert.equal(cloudSyncTaskSchema.safeParse(CLOUD_SYNC).success, false);
      assert.equal(cloudSyncTaskSchema.safeParse({ ...CLOUD_SYNC, encryption: false }).success, true);
    });
  });

  describe("intent mapping", () => {
    it("maps retention hours to the largest exact TrueNAS lifetime unit", () => {
      assert.deepEqual(lifetimeFromHours(24), { lifetime_value: 1, lifetime_unit: "DAY" });
      assert.deepEqual(lifetimeFromHours(72), { lifetime_value: 3, lifetime_unit: "DAY" });
      assert.deepEqual(lifetimeFromHours(336), { lifetime_value: 2, lifetime_unit: "WEEK" });
      assert.deepEqual(lifetimeFromHours(36), { lifetime_value: 36, lifetime_unit: "HOUR" });
      assert.deepEqual(lifetimeForRetention("monthly", 6), { lifetime_value: 6, lifetime_unit: "MONTH" });
      assert.deepEqual(lifetimeForRetention("hourly", 24), { lifetime_value: 24, lifetime_unit: "HOUR" });
      assert.throws(() => lifetimeFromHours(0), /at least 1/);
      assert.throws(() => lifetimeFromHours(1.5), /whole number/);
      // The mapping produces values the schema accepts.
      snapshotTaskPayload({ ...SNAPSHOT, ...lifetimeFromHours(24 * 30) });
    });

    it("maps five-field cron strings to TrueNAS schedule objects", () => {
      assert.deepEqual(cronToTruenasSchedule("30 2 * * 0"), { minute: "30", hour: "2", dom: "*", month: "*", dow: "0" });
      assert.deepEqual(cronToTruenasSchedule("@daily"), { minute: "0", hour: "0", dom: "*", month: "*", dow: "*" });
      assert.deepEqual(cronToTruenasSnapshotSchedule("0 */4 * * 1-5", { begin: "08:00", end: "18:00" }), {
        minute: "0",
        hour: "*/4",
        dom: "*",
        month: "*",
        dow: "1-5",
        begin: "08:00",
        end: "18:00",
      });
      assert.throws(() => cronToTruenasSchedule("0 3 * *"), /4 fields/);
      assert.throws(() => cronToTruenasSchedule("0 24 * * *"), /hour "24" is outside 0-23/);
      assert.throws(() => cronToTruenasSnapshotSchedule("0 3 * * *", { begin: "3:00", end: "23:59" }), /begin/);
    });
  });

  describe("snapshot task commands against a fake middleware", () => {
    let nas: FakeNas;
    beforeEach(() => (nas = new FakeNas()));
    afterEach(() => nas.cleanup());

    it("create is idempotent: running it twice leaves one task and prints the same id", () => {
      const { create } = snapshotTaskCommands(SNAPSHOT);
      const first = nas.runForId(create);
      const second = nas.runForId(create);
      assert.equal(second.id, first.id);
      assert.equal(nas.snapshotTasks().length, 1);
      assert.match(second.stderr, /adopted existing periodic snapshot task 1/);
      const [task] = nas.snapshotTasks();
      assert.equal(task.dataset, "storage0/images");
      assert.deepEqual(task.exclude, ["storage0/images/cache"]);
      assert.deepEqual(task.schedule, { minute: "0", hour: "*", dom: "*", month: "*", dow: "*", begin: "00:00", end: "23:59" });
    });

    it("the same commands run under bash as under sh (the login shell varies)", () => {
      const { create, update, delete: remove } = snapshotTaskCommands(SNAPSHOT);
      const { stdout } = nas.runForId(create, {}, "bash");
      nas.runForId(update, { PULUMI_COMMAND_STDOUT: stdout }, "bash");
      assert.equal(nas.run(remove, { PULUMI_COMMAND_STDOUT: stdout }, "bash").status, 0);
      assert.equal(nas.snapshotTasks().length, 0);
    });

    it("adopts a matching task made by hand instead of duplicating it, and sets it to the payload", () => {
      const handId = nas.handMade("pool.snapshottask.create", {
        ...snapshotTaskPayload(SNAPSHOT),
        lifetime_value: 5,
        lifetime_unit: "DAY",
        enabled: false,
      });
      const { id } = nas.runForId(snapshotTaskCommands(SNAPSHOT).create);
      assert.equal(id, handId);
      const tasks = nas.snapshotTasks();
      assert.equal(tasks.length, 1);
      assert.equal(tasks[0].lifetime_value, 2);
      assert.equal(tasks[0].lifetime_unit, "WEEK");
      assert.equal(tasks[0].enabled, true);
    });

    it("does not adopt a hand-made task on the same dataset with another schedule or naming schema", () => {
      const hourly = nas.handMade("pool.snapshottask.create", snapshotTaskPayload({ ...SNAPSHOT, schedule: { ...SNAPSHOT.schedule, minute: "30" } }));
      const manual = nas.handMade("pool.snapshottask.create", snapshotTaskPayload({ ...SNAPSHOT, naming_schema: "manual-%Y%m%d-%H%M" }));
      const { id } = nas.runForId(snapshotTaskCommands(SNAPSHOT).create);
      assert.notEqual(id, hourly);
      assert.notEqual(id, manual);
      const tasks = nas.snapshotTasks();
      assert.equal(tasks.length, 3);
      assert.equal(tasks.find((t) => t.id === hourly)!.naming_schema, "auto-%Y-%m-%d_%H-%M");
      assert.deepEqual((tasks.find((t) => t.id === hourly)!.schedule as { minute: string }).minute, "30");
    });

    it("delete removes exactly the recorded task, even with another task on the same dataset", () => {
      const commands = snapshotTaskCommands(SNAPSHOT);
      const { stdout, id } = nas.runForId(commands.create);
      const other = nas.handMade("pool.snapshottask.create", snapshotTaskPayload({ ...SNAPSHOT, naming_schema: "manual-%Y%m%d-%H%M" }));
      const result = nas.run(commands.delete, { PULUMI_COMMAND_STDOUT: stdout });
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(
        nas.snapshotTasks().map((t) => t.id),
        [other],
      );
      const deletes = (nas.state().calls ?? []).filter((call) => call[0] === "pool.snapshottask.delete");
      assert.deepEqual(deletes, [["pool.snapshottask.delete", String(id)]]);
    });

    it("delete of a task that is already gone succeeds and touches nothing else", () => {
      const commands = snapshotTaskCommands(SNAPSHOT);
      const { stdout } = nas.runForId(commands.create);
      const kept = nas.handMade("pool.snapshottask.create", snapshotTaskPayload({ ...SNAPSHOT, naming_schema: "manual-%Y%m%d-%H%M" }));
      assert.equal(nas.run(commands.delete, { PULUMI_COMMAND_STDOUT: stdout }).status, 0);
      const again = nas.run(commands.delete, { PULUMI_COMMAND_STDOUT: stdout });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /already gone/);
      assert.deepEqual(
        nas.snapshotTasks().map((t) => t.id),
        [kept],
      );
    });

    it("delete leaves alone a task whose id now belongs to another dataset (id reused)", () => {
      const other = nas.handMade("pool.snapshottask.create", snapshotTaskPayload({ ...SNAPSHOT, dataset: "storage0/docs", exclude: [] }));
      const result = nas.run(snapshotTaskCommands(SNAPSHOT).delete, { PULUMI_COMMAND_STDOUT: JSON.stringify({ id: other }) });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /Leaving it alone/);
      assert.equal(nas.snapshotTasks().length, 1);
    });

    it("delete and update refuse to guess when the recorded id did not reach the NAS", () => {
      const commands = snapshotTaskCommands(SNAPSHOT);
      nas.runForId(commands.create);
      for (const command of [commands.delete, commands.update]) {
        for (const stdout of ["", "not json", '{"id": "1"}']) {
          const result = nas.run(command, stdout === "" ? {} : { PULUMI_COMMAND_STDOUT: stdout });
          assert.notEqual(result.status, 0);
          assert.match(result.stderr, stdout === "" ? /AcceptEnv PULUMI_COMMAND_STDOUT/ : /does not end with a \{"id": N\} line/);
        }
      }
      assert.equal(nas.snapshotTasks().length, 1);
      assert.equal(nas.snapshotTasks()[0].lifetime_value, 2);
    });

    it("update changes the recorded task, and only that one", () => {
      const { stdout, id } = nas.runForId(snapshotTaskCommands(SNAPSHOT).create);
      const twin = nas.handMade("pool.snapshottask.create", snapshotTaskPayload(SNAPSHOT)); // identical, made by hand later
      const changed = snapshotTaskCommands({ ...SNAPSHOT, lifetime_value: 30, lifetime_unit: "DAY", schedule: { ...SNAPSHOT.schedule, hour: "*/4" } });
      const updated = nas.runForId(changed.update, { PULUMI_COMMAND_STDOUT: stdout });
      assert.equal(updated.id, id);
      const tasks = nas.snapshotTasks();
      const mine = tasks.find((t) => t.id === id)!;
      assert.equal(mine.lifetime_value, 30);
      assert.equal((mine.schedule as { hour: string }).hour, "*/4");
      assert.equal(tasks.find((t) => t.id === twin)!.lifetime_value, 2);
    });

    it("update recreates the task when the recorded one was deleted by hand", () => {
      const { stdout, id } = nas.runForId(snapshotTaskCommands(SNAPSHOT).create);
      const done = spawnSync("midclt", ["call", "pool.snapshottask.delete", String(id)], { env: nas.env({}) });
      assert.equal(done.status, 0);
      const updated = nas.runForId(snapshotTaskCommands({ ...SNAPSHOT, lifetime_value: 3 }).update, { PULUMI_COMMAND_STDOUT: stdout });
      assert.notEqual(updated.id, id);
      assert.match(updated.stderr, /no longer exists/);
      assert.deepEqual(
        nas.snapshotTasks().map((t) => [t.id, t.lifetime_value]),
        [[updated.id, 3]],
      );
    });

    it("the fake middleware fails on unknown ids like the real one, and the scripts pass its errors on", () => {
      const done = spawnSync("midclt", ["call", "pool.snapshottask.update", "42", "{}"], { env: nas.env({}), encoding: "utf8" });
      assert.notEqual(done.status, 0);
      assert.match(done.stderr, /\[ENOENT\].*42 does not exist/);
      // A middleware refusal (here: midclt missing its state file) surfaces as a failed command.
      const broken = nas.run(snapshotTaskCommands(SNAPSHOT).create, { FAKE_MIDCLT_STATE: join(nas.dir, "missing.json") });
      assert.notEqual(broken.status, 0);
      assert.match(broken.stderr, /midclt call pool.snapshottask.query failed/);
      assert.equal(broken.stdout, "");
    });
  });

  describe("cloud sync task commands against a fake middleware", () => {
    let nas: FakeNas;
    beforeEach(() => (nas = new FakeNas()));
    afterEach(() => nas.cleanup());

    it("merges the encryption secrets from the environment; they never appear in the command text or output", () => {
      const commands = cloudSyncTaskCommands(CLOUD_SYNC);
      for (const text of [commands.create, commands.update, commands.delete]) {
        assert.ok(!text.includes(PASSWORD) && !text.includes(SALT));
        const [variables, program] = text.split("python3 - <<");
        assert.ok(program.length > 0);
        assert.doesNotMatch(variables, /encryption_(password|salt)/, "no secret field is inlined in the payload");
      }
      const created = nas.runForId(commands.create, SECRET_ENV);
      const again = nas.runForId(commands.create, SECRET_ENV);
      assert.equal(again.id, created.id);
      const [task] = nas.cloudSyncTasks();
      assert.equal(nas.cloudSyncTasks().length, 1);
      assert.equal(task.encryption_password, PASSWORD);
      assert.equal(task.encryption_salt, SALT);
      assert.equal(task.direction, "PUSH");
      assert.equal(task.description, CLOUD_SYNC.description);
      for (const output of [created.stdout, created.stderr, again.stdout, again.stderr]) {
        assert.ok(!output.includes(PASSWORD) && !output.includes(SALT));
      }
    });

    it("fails without the secrets when encryption is on, and creates nothing", () => {
      const result = nas.run(cloudSyncTaskCommands(CLOUD_SYNC).create, { [CLOUDSYNC_SECRET_ENV.salt]: SALT });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /CLOUDSYNC_ENCRYPTION_PASSWORD is not set/);
      assert.equal(nas.cloudSyncTasks().length, 0);
      // Without encryption no secret is needed.
      nas.runForId(cloudSyncTaskCommands({ ...CLOUD_SYNC, encryption: false }).create);
    });

    it("adopts a hand-made task pushing the same path to the same bucket and folder", () => {
      const handId = nas.handMade("cloudsync.create", {
        ...cloudSyncTaskSchema.parse({ ...CLOUD_SYNC, encryption_password: PASSWORD, encryption_salt: SALT }),
        path: "/mnt/storage0/images/",
        attributes: { bucket: CLOUD_SYNC.attributes.bucket, folder: "/citadel/" },
        description: "made in the UI",
        transfer_mode: "COPY",
      });
      const elsewhere = nas.handMade("cloudsync.create", { ...cloudSyncTaskSpecSchema.parse(CLOUD_SYNC), encryption: false, attributes: { bucket: "other-bucket", folder: "citadel" } });
      const { id } = nas.runForId(cloudSyncTaskCommands(CLOUD_SYNC).create, SECRET_ENV);
      assert.equal(id, handId);
      const tasks = nas.cloudSyncTasks();
      assert.equal(tasks.length, 2);
      const adopted = tasks.find((t) => t.id === handId)!;
      assert.equal(adopted.transfer_mode, "SYNC");
      assert.equal(adopted.description, CLOUD_SYNC.description);
      assert.equal(tasks.find((t) => t.id === elsewhere)!.attributes && (tasks.find((t) => t.id === elsewhere)!.attributes as { bucket: string }).bucket, "other-bucket");
    });

    it("refuses to adopt a task whose remote copy is encrypted with another key", () => {
      const handId = nas.handMade("cloudsync.create", {
        ...cloudSyncTaskSchema.parse({ ...CLOUD_SYNC, encryption_password: "an older password", encryption_salt: SALT }),
      });
      const result = nas.run(cloudSyncTaskCommands(CLOUD_SYNC).create, SECRET_ENV);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, new RegExp(`task ${handId} already pushes .* different encryption password`));
      assert.ok(!result.stderr.includes("an older password") && !result.stderr.includes(PASSWORD));
      const tasks = nas.cloudSyncTasks();
      assert.equal(tasks.length, 1);
      assert.equal(tasks[0].encryption_password, "an older password");
    });

    it("update and delete act on the recorded id only", () => {
      const commands = cloudSyncTaskCommands(CLOUD_SYNC);
      const { stdout, id } = nas.runForId(commands.create, SECRET_ENV);
      const twin = nas.handMade("cloudsync.create", { ...cloudSyncTaskSpecSchema.parse(CLOUD_SYNC), encryption: false, attributes: { bucket: CLOUD_SYNC.attributes.bucket, folder: "other" } });
      const changed = cloudSyncTaskCommands({ ...CLOUD_SYNC, schedule: cronToTruenasSchedule("45 3 * * *"), bwlimit: [{ time: "08:00", bandwidth: 1_000_000 }] });
      assert.equal(nas.runForId(changed.update, { ...SECRET_ENV, PULUMI_COMMAND_STDOUT: stdout }).id, id);
      const mine = nas.cloudSyncTasks().find((t) => t.id === id)!;
      assert.deepEqual(mine.schedule, { minute: "45", hour: "3", dom: "*", month: "*", dow: "*" });
      const result = nas.run(changed.delete, { PULUMI_COMMAND_STDOUT: stdout });
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(
        nas.cloudSyncTasks().map((t) => t.id),
        [twin],
      );
    });
  });
});
