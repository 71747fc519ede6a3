import { strict as assert } from "node:assert";
import { ConfigError } from "../domain/config/errors";
import { parseStackConfig } from "../domain/config/parse";
import { editedConfig, ExampleConfig, exampleConfig } from "./support/stack";

function problemsOf(config: Record<string, unknown>): string[] {
  try {
    parseStackConfig(config);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail("the config was accepted");
}

interface BadConfig {
  what: string;
  edit: (config: ExampleConfig) => void;
  /** The key path the error must name. */
  path: string;
  /** Text the message must contain (what is valid, or what was given). */
  says: string;
}

const CORPUS: BadConfig[] = [
  { what: "tier is a word", edit: (c) => (c.apps.immich.tier = "gold"), path: "apps.immich.tier", says: 'expected 1, 2 or 3, got "gold"' },
  { what: "tier is 4", edit: (c) => (c.apps.grafana.tier = 4), path: "apps.grafana.tier", says: "expected 1, 2 or 3, got 4" },
  { what: "tier missing", edit: (c) => delete c.apps.arr.tier, path: "apps.arr.tier", says: "is required" },
  { what: "app key misspelled", edit: (c) => (c.apps.immich.volume = c.apps.immich.volumes), path: "apps.immich.volume", says: 'did you mean "volumes"' },
  { what: "top-level key misspelled", edit: (c) => (c.destination = {}), path: "destination", says: 'did you mean "destinations"' },
  { what: "volume key misspelled", edit: (c) => (c.apps.vaultwarden.volumes.data.capcity = "5Gi"), path: "apps.vaultwarden.volumes.data.capcity", says: 'did you mean "capacity"' },
  { what: "capacity is not a quantity", edit: (c) => (c.apps.immich.volumes.library.capacity = "1TB"), path: "apps.immich.volumes.library.capacity", says: 'got "1TB"' },
  { what: "capacity missing", edit: (c) => delete c.apps.immich.volumes.library.capacity, path: "apps.immich.volumes.library.capacity", says: "is required" },
  { what: "unknown mover", edit: (c) => (c.apps.immich.volumes.library.mover = "borg"), path: "apps.immich.volumes.library.mover", says: 'expected "restic" or "kopia", got "borg"' },
  { what: "negative uid", edit: (c) => (c.apps.arr.volumes["radarr-config"].uid = -1), path: "apps.arr.volumes.radarr-config.uid", says: "got -1" },
  { what: "canary is a string", edit: (c) => (c.apps.immich.volumes.library.canary = "yes"), path: "apps.immich.volumes.library.canary", says: "expected true or false" },
  { what: "restoreOnBootstrap is a string", edit: (c) => (c.apps.vaultwarden.volumes.data.restoreOnBootstrap = "yes"), path: "apps.vaultwarden.volumes.data.restoreOnBootstrap", says: "expected true or false" },
  { what: "app name has capitals", edit: (c) => (c.apps.Immich = { tier: 1 }), path: "apps.Immich", says: "lowercase" },
  { what: "namespace not a DNS label", edit: (c) => (c.apps.grafana.namespace = "Observability_NS"), path: "apps.grafana.namespace", says: 'got "Observability_NS"' },
  { what: "destination kind unknown", edit: (c) => (c.destinations.b2.kind = "s3"), path: "destinations.b2.kind", says: 'did you mean' },
  { what: "destination kind missing", edit: (c) => delete c.destinations.nas.kind, path: "destinations.nas.kind", says: "is required" },
  { what: "Kopia volumes of one app with different owners on a NAS", edit: (c) => (c.apps.arr.volumes["sonarr-config"].uid = 1000), path: "apps.arr.volumes.sonarr-config.uid", says: "Kopia volumes of one app share a repository" },
  { what: "zero claim size", edit: (c) => (c.apps.immich.volumes.library.capacity = "0Gi"), path: "apps.immich.volumes.library.capacity", says: "must be larger than zero" },
  { what: "claim size not a quantity", edit: (c) => (c.apps.immich.volumes.library.capacity = "lots"), path: "apps.immich.volumes.library.capacity", says: "Kubernetes quantity" },
  { what: "b2 region malformed", edit: (c) => (c.destinations.b2.region = "us-east"), path: "destinations.b2.region", says: 'got "us-east"' },
  { what: "b2 account id malformed", edit: (c) => (c.destinations.b2.accountId = "xyz"), path: "destinations.b2.accountId", says: "12-hex-digit" },
  { what: "r2 jurisdiction unknown", edit: (c) => (c.destinations.r2.jurisdiction = "us"), path: "destinations.r2.jurisdiction", says: 'expected "default", "eu" or "fedramp", got "us"' },
  { what: "r2 location unknown", edit: (c) => (c.destinations.r2.location = "mars"), path: "destinations.r2.location", says: 'got "mars"' },
  { what: "nfs key not valid for its kind", edit: (c) => (c.destinations.nas.region = "us-east-005"), path: "destinations.nas.region", says: "Valid keys: kind, server, path" },
  { what: "nfs path relative", edit: (c) => (c.destinations.nas.path = "backups"), path: "destinations.nas.path", says: "absolute path" },
  { what: "ssh host key malformed", edit: (c) => (c.destinations["offsite-nas"].hostKey = "AAAA"), path: "destinations.offsite-nas.hostKey", says: "ssh-keyscan" },
  { what: "ssh port out of range", edit: (c) => (c.destinations["offsite-nas"].port = 70000), path: "destinations.offsite-nas.port", says: "got 70000" },
  { what: "unknown destination referenced by an app", edit: (c) => (c.apps.paperless.destinations = ["nas", "b3"]), path: "apps.paperless.destinations[1]", says: 'did you mean "b2"' },
  { what: "unknown destination referenced by a tier", edit: (c) => (c.tiers["1"] = { destinations: ["nas", "backblaze"] }), path: "tiers.1.destinations[1]", says: 'unknown destination "backblaze"' },
  { what: "unknown tier", edit: (c) => (c.tiers["4"] = {}), path: "tiers.4", says: "unknown key" },
  { what: "schedule keyword unknown", edit: (c) => (c.apps.immich.schedule = { onsite: "twice a day" }), path: "apps.immich.schedule.onsite", says: '"twice a day"' },
  { what: "every-N that does not divide a day", edit: (c) => (c.apps.immich.schedule = { offsite: "every 5h" }), path: "apps.immich.schedule.offsite", says: "divide a day" },
  { what: "six-field cron where five are expected", edit: (c) => (c.apps.arr.schedule.onsite = "0 0 3 * * *"), path: "apps.arr.schedule.onsite", says: "six fields" },
  { what: "CNPG schedule with five fields", edit: (c) => (c.apps.immich.databases.immich.schedule = "0 3 * * *"), path: "apps.immich.databases.immich.schedule", says: "every hour at minute 3" },
  { what: "database engine unknown", edit: (c) => (c.apps.paperless.databases.paperless.engine = "mysql"), path: "apps.paperless.databases.paperless.engine", says: 'expected "cnpg" or "postgres", got "mysql"' },
  { what: "postgres dump without credentials", edit: (c) => delete c.apps.paperless.databases.paperless.credentialsRef, path: "apps.paperless.databases.paperless.credentialsRef", says: "is required" },
  { what: "sqlite path relative", edit: (c) => (c.apps.grafana.sqlite.grafana.path = "grafana.db"), path: "apps.grafana.sqlite.grafana.path", says: "absolute path" },
  { what: "dumps without a NAS destination", edit: (c) => (c.apps.vaultwarden.destinations = ["b2", "r2"]), path: "apps.vaultwarden.sqlite.db", says: "no nfs destination" },
  { what: "volume on a denylisted storage class", edit: (c) => (c.apps.arr.volumes["sonarr-config"].storageClass = "ceph-filesystem"), path: "apps.arr.volumes.sonarr-config.storageClass", says: "CephFS" },
  { what: "two volumes share a claim", edit: (c) => (c.apps.paperless.volumes.data.claim = "paperless-media"), path: "apps.paperless.volumes.data", says: "claim paperless/paperless-media is already declared by apps.paperless.volumes.media" },
  { what: "one CNPG cluster declared twice", edit: (c) => (c.apps.authentik.databases.authentik.cluster = "postgres18-immich"), path: "apps.authentik.databases.authentik", says: "database/postgres18-immich is already declared by apps.immich.databases.immich" },
  { what: "timezone unknown", edit: (c) => (c.cluster.timezone = "Europe/Atlantis"), path: "cluster.timezone", says: 'got "Europe/Atlantis"' },
  { what: "backup window not a whole hour", edit: (c) => (c.cluster.backupWindow.start = "01:30"), path: "cluster.backupWindow.start", says: "whole hour" },
  { what: "cluster missing", edit: (c) => delete c.cluster, path: "cluster", says: "is required" },
  { what: "secret store provider unknown", edit: (c) => (c.secretStore.provider = "vault"), path: "secretStore.provider", says: 'expected "onepassword-sdk" or "kubernetes"' },
  { what: "ntfy URL not a URL", edit: (c) => (c.notifications.ntfy.url = "ntfy/backups"), path: "notifications.ntfy.url", says: "http(s) URL" },
  { what: "retention count negative", edit: (c) => (c.tiers["2"].retention.onsite.daily = -7), path: "tiers.2.retention.onsite.daily", says: "got -7" },
  { what: "retention bucket misspelled", edit: (c) => (c.tiers["2"].retention.onsite.dayly = 7), path: "tiers.2.retention.onsite.dayly", says: 'did you mean "daily"' },
  { what: "credentials missing for b2", edit: (c) => delete c.credentials.b2.applicationKey, path: "credentials.b2.applicationKey", says: "pulumi config set --secret" },
  { what: "credentials for an unknown destination", edit: (c) => (c.credentials.b3 = { apiToken: "x" }), path: "credentials.b3", says: 'did you mean "b2"' },
  { what: "credentials field of another kind", edit: (c) => (c.credentials.r2.applicationKey = "x"), path: "credentials.r2.applicationKey", says: "not used by r2 destinations" },
];

describe("stack config contract", () => {
  it("accepts the example stack and fills in defaults", () => {
    const config = parseStackConfig(exampleConfig());
    assert.equal(config.cluster.name, "ether");
    assert.equal(config.cluster.systemNamespace, "backup-system");
    assert.equal(config.secretStore.kind, "ClusterSecretStore");
    assert.equal(config.apps.immich.volumes.library.mover, "kopia");
    assert.equal(config.apps.vaultwarden.volumes.data.mover, "restic", "restic is the default mover");
    assert.equal(config.apps.vaultwarden.volumes.data.cacheCapacity, "2Gi", "cache capacity does not follow data capacity");
    assert.equal(config.pricing.b2PerTbMonth, 6.95);
  });

  describe(`rejects ${CORPUS.length} malformed configs, naming the key path and what is valid`, () => {
    for (const bad of CORPUS) {
      it(`${bad.what} -> ${bad.path}`, () => {
        const problems = problemsOf(editedConfig(bad.edit));
        const hit = problems.find((problem) => problem.startsWith(`${bad.path}: `) && problem.includes(bad.says));
        assert.ok(hit, `wanted "${bad.path}: ...${bad.says}...", got:\n    ${problems.join("\n    ")}`);
      });
    }
  });

  it("lists every problem at once, sorted by key path", () => {
    const problems = problemsOf(
      editedConfig((c) => {
        c.apps.immich.tier = "gold";
        c.cluster.timezone = "Nowhere/Land";
        c.destinations.b2.region = "x";
      }),
    );
    assert.deepEqual(
      problems.map((problem) => problem.split(":")[0]),
      ["apps.immich.tier", "cluster.timezone", "destinations.b2.region"],
    );
  });

  it("never echoes a credential value in an error", () => {
    const secret = "K005-super-secret-application-key";
    const wrongType = problemsOf(editedConfig((c) => (c.credentials.b2.applicationKey = 4242424242)));
    assert.ok(wrongType.some((problem) => problem.startsWith("credentials.b2.applicationKey: expected a string")));
    const wrongPlace = problemsOf(editedConfig((c) => (c.credentials.nas = { applicationKey: secret })));
    assert.ok(wrongPlace.some((problem) => problem.startsWith("credentials.nas.applicationKey: is not used by nfs")));
    for (const problem of [...wrongType, ...wrongPlace]) {
      assert.ok(!problem.includes(secret) && !problem.includes("4242424242"), problem);
    }
  });

  it("reports the program's config error as a message, not a stack trace", () => {
    const error = (() => {
      try {
        parseStackConfig(editedConfig((c) => (c.apps.immich.tier = "gold")));
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    assert.ok(error);
    assert.match(error.message, /^invalid stack config \(1 problem\):\n {2}- apps\.immich\.tier: expected 1, 2 or 3, got "gold"$/);
  });
});
