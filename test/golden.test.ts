/**
 * The plan's output, pinned: a SHA-256 digest of every artifact the offline plan writes for a few
 * stacks that together take most paths through the program (the example, a stack that sets nearly
 * every optional key, and a generated 100-app stack). A refactoring or speed change must leave
 * every digest as it is; a change that is meant to change the output regenerates them with
 * `GOLDEN_WRITE=1 npx mocha test/golden.test.ts` and says why in its commit.
 *
 * On a mismatch, compare the outputs: `GOLDEN_DUMP=/tmp/before npx mocha test/golden.test.ts` on both
 * commits writes every artifact of every stack there.
 */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runOfflinePlan } from "../offline/plan";
import { syntheticStack } from "../offline/syntheticStack";
import { editedConfig, EXAMPLE_STACK, writeStackFile } from "./support/stack";

const DIGESTS = join(__dirname, "golden", "digests.json");

/** Sets nearly every optional key of the schema, so that their paths through the program are pinned too. */
function kitchenSinkConfig(): Record<string, unknown> {
  return editedConfig((c) => {
    c.cluster.systemNamespace = "backups";
    c.cluster.backupWindow = { start: "23:00", hours: 4, weeklyDay: "sat" };
    c.cluster.kubeContext = "admin@ether";
    c.secretStore = { kind: "ClusterSecretStore", name: "vault", provider: "kubernetes", refreshInterval: "30m" };
    c.destinations.b2.immutable = false;
    c.destinations.b2.bucketPrefix = "ether-bk";
    c.destinations.b2.pricePerTbMonth = 6;
    c.destinations.r2.jurisdiction = "eu";
    c.destinations.r2.lockDays = 21;
    c.destinations["offsite-nas"].port = 2222;
    c.destinations["offsite-nas"].privateKeyRef = "offsite/ssh-key";
    c.apps.immich.kopiaMirrors = ["b2", "r2"];
    c.apps.immich.volumes.library.restoreOnBootstrap = true;
    c.apps.immich.volumes.library.canary = false;
    c.apps.immich.databases.immich.owned = true;
    c.apps.immich.databases.immich.storage = "20Gi";
    c.apps.immich.databases.immich.instances = 2;
    c.apps.immich.databases.immich.schedule = "0 30 2 * * *";
    c.apps.immich.databases.immich.retention = { full: 30, diff: 20, archive: 5, historyDays: 200 };
    c.apps.immich.databases.immich.imageName = "ghcr.io/tensorchord/cloudnative-vectorchord:17.5-0.4.3";
    c.apps.vaultwarden.volumes.data.allowEmptyRestore = true;
    c.apps.vaultwarden.volumes.data.storageClass = "local-path";
    c.apps.vaultwarden.volumes.data.volumeSnapshotClass = "local-snap";
    c.apps.vaultwarden.volumes.data.appSelector = { app: "vw" };
    c.apps.vaultwarden.sqlite.db.uid = 33;
    c.apps.vaultwarden.rpoHours = 6;
    c.apps.paperless.databases.paperless.database = "all";
    c.apps.paperless.databases.paperless.port = 5433;
    c.apps.paperless.redis.broker.passwordRef = "paperless-redis/password";
    c.apps.paperless.redis.broker.port = 6380;
    c.apps.paperless.schedule = { onsite: "every 2h", offsite: "15 3 * * *" };
    c.apps.paperless.retention = { onsite: { hourly: 12, daily: 10 }, offsite: { daily: 20, weekly: 8, monthly: 12, yearly: 3 } };
    c.apps.grafana.destinations = ["nas", "offsite-nas"];
    c.apps.arr.volumes["radarr-config"].cacheCapacity = "4Gi";
    c.apps.arr.volumes["radarr-config"].restoreOnBootstrap = true;
    c.truenas.datasets.images.recursive = true;
    c.truenas.datasets.images.path = "/mnt/storage0/images-share";
    c.truenas.datasets.images.schedule = { offsite: "weekly" };
    c.hosts["storage-server"].schedule = { offsite: "every 12h" };
    c.hosts["storage-server"].retention = { offsite: { daily: 10, weekly: 5, monthly: 12, yearly: 1 } };
    c.hosts.router.destinations = ["b2", "r2"];
    c.tiers["1"] = {
      dumpKeep: 21,
      snapshots: { hourly: 24, daily: 7, weekly: 4 },
      restoreDrillDays: 14,
      mirrorHistoryDays: 60,
      verifyDays: 2,
    };
    c.tiers["2"] = { ...c.tiers["2"], restoreDrillDays: 31, verifyDays: 0, schedule: { onsite: "every 4h" } };
    c.tiers["3"] = { destinations: ["nas"], restoreDrillDays: 92 };
    c.notifications = {
      ntfy: { url: "https://ntfy.example/backups", tokenRef: "ntfy/token" },
      healthchecks: { url: "https://hc.example", pingKeyRef: "healthchecks/ping-key" },
    };
    c.alerts = { runbookBaseUrl: "https://git.example/homelab/blob/main/docs/runbooks", ruleLabels: { release: "kube-prometheus-stack" } };
    c.pricing = { currency: "EUR", b2PerTbMonth: 6.5, r2PerTbMonth: 14, sshPerTbMonth: 2, nfsPerTbMonth: 1, historyOverhead: 1.5 };
    c.rotations = { "immich/kopia-password": 1, "vaultwarden/b2-volsync": 2 };
    c.operators = {
      volsync: { manage: true, flavor: "kopia-fork" },
      snapshotController: { manage: true },
      snapscheduler: { manage: true, namespace: "snaps" },
    };
  });
}

const STACKS: Record<string, () => string> = {
  example: () => EXAMPLE_STACK,
  "kitchen-sink": () => writeStackFile(kitchenSinkConfig(), "kitchen"),
  "synthetic-100": () => writeStackFile(syntheticStack(100), "synthetic"),
};

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/** With GOLDEN_DUMP=<dir>, the artifacts themselves are written to <dir>/<stack>/ as well, to diff. */
async function artifactDigests(stack: string): Promise<Record<string, string>> {
  const result = await runOfflinePlan({ configFile: STACKS[stack]() });
  const dump = process.env.GOLDEN_DUMP;
  for (const [file, text] of dump ? Object.entries(result.artifacts) : []) {
    const path = join(dump!, stack, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return Object.fromEntries(
    Object.keys(result.artifacts)
      .sort()
      .map((file) => [file, digest(result.artifacts[file])]),
  );
}

describe("the plan's output (golden digests)", function () {
  this.timeout(600_000);
  const pinned = JSON.parse(readFileSync(DIGESTS, "utf8")) as Record<string, Record<string, string>>;

  if (process.env.GOLDEN_WRITE === "1") {
    it("writes test/golden/digests.json", async () => {
      const all: Record<string, Record<string, string>> = {};
      for (const stack of Object.keys(STACKS)) all[stack] = await artifactDigests(stack);
      writeFileSync(DIGESTS, `${JSON.stringify(all, null, 2)}\n`);
    });
    return;
  }

  for (const stack of Object.keys(STACKS)) {
    it(`leaves every artifact of the ${stack} stack byte for byte as it was`, async () => {
      const now = await artifactDigests(stack);
      const changed = Object.keys({ ...now, ...pinned[stack] }).filter((file) => now[file] !== pinned[stack]?.[file]);
      assert.deepEqual(changed, [], `artifacts that changed (or appeared, or went): ${changed.join(", ")}`);
    });
  }
});
