import { strict as assert } from "node:assert";
import {
  cnpgScheduleError,
  cronError,
  describeCron,
  localCronToUtc,
  maxGapHours,
  parseSchedule,
  standardOffsetMinutes,
  weeklyStartMinutes,
} from "../domain/schedule";
import { describeMinuteOfWeek, spreadSchedules, ScheduleRequest } from "../domain/spread";
import { parseStackConfig } from "../domain/config/parse";
import { planBackups } from "../domain/plan";
import { snapshotScheduleName } from "../domain/snapshots";
import { mirrorMinute, MIRROR_GAP_MINUTES } from "../methods/volsync-kopia/mirror";
import { ProgramRun } from "../offline/engine";
import { reveal } from "../offline/wire";
import { validateObject } from "./support/schemas";
import { editedConfig, runExample } from "./support/stack";

describe("schedules", () => {
  describe("cron validation", () => {
    it("accepts five-field crons in the grammar every controller shares", () => {
      for (const cron of ["0 * * * *", "17 3 * * *", "5 2,8,14,20 * * *", "*/15 * * * *", "0 3 * * 0", "@daily"]) {
        assert.equal(cronError(cron), undefined, cron);
      }
    });

    it("rejects what VolSync's CRD pattern or cron itself would reject", () => {
      assert.match(cronError("0 3 * *")!, /4 fields/);
      assert.match(cronError("61 * * * *")!, /not a valid cron/);
      assert.match(cronError("0 3 L * *")!, /outside numbers/);
      assert.match(cronError("0 0 3 * * *")!, /six fields/);
    });

    it("requires six fields for CNPG and explains what a five-field string would do", () => {
      assert.equal(cnpgScheduleError("0 0 3 * * *"), undefined);
      const error = cnpgScheduleError("0 3 * * *")!;
      assert.match(error, /every hour at minute 3/);
      assert.match(error, /Write "0 0 3 \* \* \*"/);
      assert.match(cnpgScheduleError("0 0 25 * * *")!, /not a valid cron/);
    });

    it("proves the CNPG pitfall: '0 3 * * *' read with seconds first runs 24 times a day", () => {
      const fiveFieldsAsCnpgReadsThem = weeklyStartMinutes("0 0 3 * * *").length;
      const shifted = weeklyStartMinutes("0 3 * * * *").length; // what CNPG makes of "0 3 * * *"
      assert.equal(fiveFieldsAsCnpgReadsThem, 7);
      assert.equal(shifted, 7 * 24);
    });
  });

  describe("keywords", () => {
    it("parses keywords and cron expressions", () => {
      assert.deepEqual(parseSchedule("hourly"), { kind: "every", hours: 1 });
      assert.deepEqual(parseSchedule("every 6h"), { kind: "every", hours: 6 });
      assert.deepEqual(parseSchedule("daily"), { kind: "daily" });
      assert.deepEqual(parseSchedule("weekly"), { kind: "weekly" });
      assert.deepEqual(parseSchedule("30 2 * * *"), { kind: "cron", expression: "30 2 * * *" });
    });

    it("rejects intervals that do not divide a day", () => {
      assert.match((parseSchedule("every 5h") as { error: string }).error, /divide a day/);
    });
  });

  describe("recovery points", () => {
    it("measures the longest gap between runs", () => {
      assert.equal(maxGapHours("17 * * * *"), 1);
      assert.equal(maxGapHours("5 2,8,14,20 * * *"), 6);
      assert.equal(maxGapHours("0 3 * * *"), 24);
      assert.equal(maxGapHours("0 3 * * 0"), 168);
      assert.equal(maxGapHours("0 1,2 * * *"), 23);
      assert.equal(maxGapHours("0 0 3 * * *"), 24, "six-field crons too");
    });

    it("measures schedules that do not repeat weekly over a year", () => {
      assert.ok(maxGapHours("0 3 1 * *") >= 28 * 24);
    });
  });

  describe("time zones", () => {
    it("knows the standard offset of a zone", () => {
      assert.equal(standardOffsetMinutes("UTC"), 0);
      assert.equal(standardOffsetMinutes("America/New_York"), -300);
      assert.equal(standardOffsetMinutes("Europe/Berlin"), 60);
      assert.equal(standardOffsetMinutes("Australia/Sydney"), 600, "southern hemisphere: DST is in January");
      assert.equal(standardOffsetMinutes("Asia/Kolkata"), 330);
    });

    it("shifts local crons to UTC for controllers that only know UTC", () => {
      assert.deepEqual(localCronToUtc("17 * * * *", -300), { cron: "17 * * * *" });
      assert.deepEqual(localCronToUtc("30 2 * * *", -300), { cron: "30 7 * * *" });
      assert.deepEqual(localCronToUtc("30 22 * * 6", -300), { cron: "30 3 * * 0" }, "Saturday 22:30 in New York is Sunday 03:30 UTC");
      assert.deepEqual(localCronToUtc("30 0 * * 1", 60), { cron: "30 23 * * 0" }, "Monday 00:30 in Berlin is Sunday 23:30 UTC");
      assert.deepEqual(localCronToUtc("5 2,8,14,20 * * *", 60), { cron: "5 1,7,13,19 * * *" });
      assert.deepEqual(localCronToUtc("10 2 * * *", 330), { cron: "40 20 * * *" }, "half-hour zones move the minute");
      assert.ok("error" in localCronToUtc("*/5 3 * * *", 60));
      assert.ok("error" in localCronToUtc("0 1 15 * *", 120), "cannot move a day-of-month run across midnight");
    });

    it("describes crons for people", () => {
      assert.equal(describeCron("17 * * * *", "UTC"), "hourly at :17");
      assert.equal(describeCron("5 2 * * *", "Europe/Berlin"), "daily at 02:05 Europe/Berlin");
      assert.equal(describeCron("5 3 * * 0", "UTC"), "weekly on Sun at 03:05 UTC");
      assert.equal(describeCron("5 2,8,14,20 * * *", "UTC"), "every 6h at 02:05, 08:05, 14:05, 20:05 UTC");
    });
  });

  describe("spreading", () => {
    const window = { startHour: 1, hours: 6, weeklyDay: 0 };
    const hourly = (count: number): ScheduleRequest[] =>
      Array.from({ length: count }, (_, i) => ({ id: `app-${i}/volume/data@nas`, group: `app-${i}/volume/data`, spec: { kind: "every", hours: 1 } }));

    it("does not start 100 hourly jobs in the same minute", () => {
      const result = spreadSchedules(hourly(100), window);
      assert.equal(result.peakStarts, 2);
      const minutes = new Set([...result.crons.values()].map((cron) => cron.split(" ")[0]));
      assert.ok(minutes.size >= 50, `only ${minutes.size} distinct minutes`);
    });

    it("is deterministic and keeps a job's slot when unrelated jobs are added", () => {
      const first = spreadSchedules(hourly(10), window);
      const again = spreadSchedules(hourly(10), window);
      assert.deepEqual([...first.crons], [...again.crons]);
      const more = spreadSchedules([...hourly(10), { id: "zzz/volume/x@nas", group: "zzz", spec: { kind: "every", hours: 1 } }], window);
      const moved = [...first.crons].filter(([id, cron]) => more.crons.get(id) !== cron);
      assert.deepEqual(moved, []);
    });

    it("keeps the copies of one volume at least 20 minutes apart", () => {
      const requests: ScheduleRequest[] = [
        { id: "v@nas", group: "v", spec: { kind: "every", hours: 1 } },
        { id: "v@b2", group: "v", spec: { kind: "daily" } },
        { id: "v@r2", group: "v", spec: { kind: "daily" } },
      ];
      const result = spreadSchedules(requests, window);
      const minute = (id: string) => Number(result.crons.get(id)!.split(" ")[0]);
      const gap = (a: number, b: number) => Math.min(Math.abs(a - b), 60 - Math.abs(a - b));
      assert.ok(gap(minute("v@nas"), minute("v@b2")) >= 20);
      assert.ok(gap(minute("v@nas"), minute("v@r2")) >= 20);
    });

    it("puts daily jobs in the backup window and weekly jobs on the window's day", () => {
      const result = spreadSchedules(
        [
          { id: "a", group: "a", spec: { kind: "daily" } },
          { id: "b", group: "b", spec: { kind: "weekly" } },
        ],
        { startHour: 22, hours: 4, weeklyDay: 6 },
      );
      const [, dailyHour] = result.crons.get("a")!.split(" ");
      assert.ok([22, 23, 0, 1].includes(Number(dailyHour)));
      assert.equal(result.crons.get("b")!.split(" ")[4], "6");
    });

    it("leaves hand-written crons alone and steers around them", () => {
      const result = spreadSchedules(
        [
          { id: "fixed", group: "g", spec: { kind: "cron", expression: "0 * * * *" } },
          { id: "moving", group: "g", spec: { kind: "every", hours: 1 } },
        ],
        window,
      );
      assert.equal(result.crons.get("fixed"), "0 * * * *");
      const minute = Number(result.crons.get("moving")!.split(" ")[0]);
      assert.ok(minute >= 20 && minute <= 40, `minute ${minute} is within 20 minutes of :00`);
    });

    it("names the minute of the week", () => {
      assert.equal(describeMinuteOfWeek(0), "Mon 00:00");
      assert.equal(describeMinuteOfWeek(6 * 1440 + 23 * 60 + 59), "Sun 23:59");
    });
  });

  describe("snapshot schedules per VolumeSnapshotClass", () => {
    type Selectable = { metadata: { name: string; namespace: string; labels?: Record<string, string> }; spec: Record<string, any> }; // `any`: specs are walked by path
    const objects = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type).map((r) => reveal(r.inputs) as unknown as Selectable);
    const selects = (schedule: Selectable, labels: Record<string, string> = {}) =>
      Object.entries(schedule.spec.claimSelector.matchLabels as Record<string, string>).every(([key, value]) => labels[key] === value);

    it("snapshots each claim with its own volume's class: one schedule per namespace, tier, period and class", async () => {
      const zfs = editedConfig((c) => {
        c.apps.paperless.volumes.media.storageClass = "openebs-zfs";
        c.apps.paperless.volumes.media.volumeSnapshotClass = "openebs-zfs-snapshots";
      });
      const run = await runExample(zfs);
      const schedules = objects(run, "kubernetes:snapscheduler.backube/v1:SnapshotSchedule");
      const claims = [...objects(run, "kubernetes:core/v1:PersistentVolumeClaim"), ...objects(run, "kubernetes:core/v1:PersistentVolumeClaimPatch")];
      const config = parseStackConfig(zfs);
      let checked = 0;
      for (const item of planBackups(config).items) {
        const periods = item.copies.filter((copy) => copy.method === "csi-snapshot").map((copy) => copy.schedule.spec);
        if (periods.length === 0) continue;
        const volume = config.apps[item.app].volumes[item.name];
        const claim = claims.find((c) => c.metadata.namespace === item.namespace && c.metadata.name === (volume.claim ?? item.name))!;
        const expected = volume.volumeSnapshotClass ?? config.cluster.volumeSnapshotClass;
        for (const period of periods) {
          const selecting = schedules.filter((s) => s.metadata.namespace === item.namespace && s.metadata.name.endsWith(`-${period}`) && selects(s, claim.metadata.labels));
          assert.equal(selecting.length, 1, `${item.id}: ${selecting.length} ${period} schedules select its claim`);
          assert.equal(selecting[0].spec.snapshotTemplate.snapshotClassName, expected, `${item.id} (${period})`);
          checked++;
        }
      }
      assert.ok(checked > 0);
      // The cluster class's schedules keep their names; the other class gets its own.
      const paperless = schedules.filter((s) => s.metadata.namespace === "paperless").map((s) => `${s.metadata.name}=${s.spec.snapshotTemplate.snapshotClassName}`).sort();
      assert.deepEqual(paperless, [
        "hb-tier-1-daily=csi-ceph-blockpool",
        "hb-tier-1-hourly=csi-ceph-blockpool",
        "hb-tier-1-openebs-zfs-snapshots-daily=openebs-zfs-snapshots",
        "hb-tier-1-openebs-zfs-snapshots-hourly=openebs-zfs-snapshots",
      ]);
      for (const schedule of schedules) assert.deepEqual((await validateObject(schedule as unknown as Record<string, unknown>)).errors, [], schedule.metadata.name);
    });

    it("keeps the period at the end of a long class's schedule name, within 63 characters", () => {
      const name = snapshotScheduleName({ tier: 2, period: "weekly", snapshotClass: `${"very-long-snapshot-class-".repeat(4)}x`, clusterClass: false });
      assert.ok(name.length <= 63 && name.endsWith("-weekly") && name.startsWith("hb-tier-2-very-long"), name);
      assert.equal(snapshotScheduleName({ tier: 1, period: "hourly", snapshotClass: "csi-ceph-blockpool", clusterClass: true }), "hb-tier-1-hourly");
    });
  });

  describe("Kopia mirror minutes", () => {
    it("keep ten minutes from every busy start of the week, deterministically", () => {
      const hourly = Array.from({ length: 7 * 24 }, (_, hour) => hour * 60 + 26);
      const minute = mirrorMinute("immich/kopia-mirror@nas>b2", 2, hourly);
      const gap = Math.min(Math.abs(minute - 26), 60 - Math.abs(minute - 26));
      assert.ok(gap >= MIRROR_GAP_MINUTES, `minute ${minute}`);
      assert.equal(mirrorMinute("immich/kopia-mirror@nas>b2", 2, hourly), minute);
      // With every minute taken, the least crowded one.
      const crowded = Array.from({ length: 7 * 24 * 60 }, (_, m) => m).filter((m) => m % 60 !== 41);
      assert.equal(mirrorMinute("x", 3, crowded), 41);
    });
  });
});
