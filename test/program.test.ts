import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { planBackups } from "../domain/plan";
import { ProtectedData } from "../domain/protection";
import { COMPONENT_TYPES, DATA_COMPONENT_TYPES } from "../domain/types";
import { ProgramRun, ProgramRunError } from "../offline/engine";
import { redact, reveal } from "../offline/wire";
import { editedConfig, exampleStackConfig, runExample } from "./support/stack";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isSecret = (value: unknown) => typeof value === "object" && value !== null && SECRET_SIG in value;

describe("the program under mocks (index.ts)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runExample();
  });

  const ofType = (type: string) => run.resources.filter((resource) => resource.type === type);

  it("builds one BackupPlatform with an AppBackup per app, parented under it", () => {
    const [platform] = ofType(COMPONENT_TYPES.platform);
    assert.ok(platform);
    const apps = ofType(COMPONENT_TYPES.app);
    assert.deepEqual(apps.map((app) => app.name).sort(), ["arr", "authentik", "grafana", "immich", "media", "paperless", "vaultwarden"]);
    for (const app of apps) assert.equal(app.parent, platform.urn);
  });

  it("declares every data item of the plan in its own component, with its tier and copies", () => {
    const plan = planBackups(exampleStackConfig());
    const declared = run.resources.filter((resource) => DATA_COMPONENT_TYPES.includes(resource.type));
    assert.equal(declared.length, plan.items.length);
    for (const item of plan.items) {
      const component = declared.find((resource) => (resource.inputs as unknown as ProtectedData).dataId === item.id);
      assert.ok(component, `no component declares ${item.id}`);
      const data = reveal(component.inputs) as unknown as ProtectedData;
      assert.equal(data.tier, item.tier);
      assert.deepEqual(
        data.copies.map((copy) => `${copy.destination}:${copy.method}:${copy.site}`),
        item.copies.map((copy) => `${copy.destination}:${copy.method}:${copy.site}`),
      );
    }
  });

  it("creates the locked-down system namespace and never deletes it with the stack", () => {
    const namespace = ofType("kubernetes:core/v1:Namespace").find((resource) => resource.name === "system-namespace");
    assert.ok(namespace);
    const labels = (redact(namespace.inputs) as { metadata: { name: string; labels: Record<string, string> } }).metadata;
    assert.equal(labels.name, "backup-system");
    assert.equal(labels.labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal(namespace.options.retainOnDelete, true);
  });

  it("passes an explicit kubernetes provider to every Kubernetes object", () => {
    const objects = run.resources.filter((resource) => resource.custom && resource.type.startsWith("kubernetes:"));
    assert.ok(objects.length > 0);
    for (const object of objects) assert.match(object.options.provider ?? "", /pulumi:providers:kubernetes::kubernetes::/);
  });

  it("keeps every URN when an app changes tier or is renamed: logical names carry neither", async () => {
    const promoted = await runExample(editedConfig((config) => (config.apps.grafana.tier = 1)));
    const after = new Set(promoted.resources.map((resource) => resource.urn));
    assert.deepEqual(run.resources.map((resource) => resource.urn).filter((urn) => !after.has(urn)), []);

    const renamed = await runExample(
      editedConfig((config) => {
        config.apps.photos = { ...config.apps.immich, namespace: "immich" };
        delete config.apps.immich;
      }),
    );
    const buckets = (r: ProgramRun) => r.resources.filter((resource) => /s3\/bucket:Bucket$|r2Bucket:R2Bucket$/.test(resource.type)).map((resource) => resource.urn);
    assert.deepEqual(buckets(renamed).sort(), buckets(run).sort(), "renaming an app never replaces a bucket");
  });

  it("hands the stack's credentials only to providers and key minting, and only as secrets", () => {
    const config = exampleStackConfig();
    const credentials = Object.values(config.credentials).flatMap((fields) => Object.values(fields) as string[]);
    assert.ok(credentials.length > 0);
    for (const resource of run.resources) {
      const plain = JSON.stringify([redact(resource.inputs), redact(resource.outputs)]);
      for (const credential of credentials) assert.ok(!plain.includes(credential), `${resource.urn} holds a credential in plaintext`);
      const revealed = JSON.stringify(reveal(resource.inputs));
      if (!credentials.some((credential) => revealed.includes(credential))) continue;
      if (resource.type === "command:local:Command") {
        // A machine command gets exactly one credential: its SSH key, as a secret environment variable.
        const environment = resource.inputs.environment as Record<string, unknown>;
        assert.ok(isSecret(environment) || isSecret(environment.SSH_PRIVATE_KEY), `${resource.urn}: the SSH key is a secret`);
        const sshKeys = Object.values(config.credentials).flatMap((fields) => ("sshPrivateKey" in fields ? [fields.sshPrivateKey] : []));
        const others = credentials.filter((credential) => !sshKeys.includes(credential) && revealed.includes(credential));
        assert.deepEqual(others, [], `${resource.urn} received a credential other than an SSH key`);
      } else {
        assert.match(resource.type, /^pulumi:providers:(aws|cloudflare)$|^pulumi-nodejs:dynamic:Resource$/, `${resource.urn} received a credential`);
      }
    }
  });

  it("rejects a bad config with a clean RunError before registering any resource", async () => {
    const failure = await runExample(editedConfig((config) => (config.apps.immich.tier = "gold"))).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(failure instanceof ProgramRunError, `expected the program to fail, got ${String(failure)}`);
    assert.ok(pulumi.RunError.isInstance(failure.cause), "a RunError prints without a stack trace");
    assert.match(failure.message, /apps\.immich\.tier: expected 1, 2 or 3, got "gold"/);
    assert.deepEqual(failure.resources.map((resource) => resource.type), ["pulumi:pulumi:Stack"]);
  });
});
