import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../domain/config/errors";
import { parseStackConfig } from "../domain/config/parse";
import type { StackConfig } from "../domain/config/schema";
import { planBackups } from "../domain/plan";
import { bucketFields, SecretOwner, secretOwners, storeItem } from "../domain/secrets";
import { bucketConsumers } from "../domain/storage";
import type { CapturedResource, ProgramRun } from "../offline/engine";
import { PlanResult, runOfflinePlan } from "../offline/plan";
import { kubernetesObjects, KubernetesObject } from "../offline/render";
import { readStackFile } from "../offline/stackFile";
import { reveal, secretValues } from "../offline/wire";
import {
  everyLeafSecret,
  externalSecretData,
  isSecret,
  plainLeaves,
  pushedFields,
  secretReferences,
  storeRefs,
  targetName,
  templateKeys,
} from "./support/secretGraph";
import { validateObject } from "./support/schemas";
import { editedConfig, EXAMPLE_STACK, exampleConfig, ExampleConfig, runExample } from "./support/stack";

const ROOT = join(__dirname, "..");
const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";
const API_TOKEN = "cloudflare:index/apiToken:ApiToken";
const K8S_SECRET = "kubernetes:core/v1:Secret";

type Inputs = Record<string, unknown>;
const inputsOf = (resource: CapturedResource) => reveal(resource.inputs) as Inputs;
const ofType = (resources: readonly CapturedResource[], type: string) => resources.filter((resource) => resource.type === type);
/** The B2 application keys: dynamic-provider resources with a keyName (components/storage/b2ApplicationKey.ts). */
const b2Keys = (resources: readonly CapturedResource[]) => resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && "keyName" in r.inputs);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const objectName = (object: KubernetesObject) => `${object.kind} ${object.metadata.namespace ?? ""}/${object.metadata.name ?? ""}`;
const kindOf = (objects: readonly KubernetesObject[], kind: string) => objects.filter((object) => object.kind === kind);
/** Secret values in failure messages: enough to tell them apart, never the whole value. */
const hint = (secret: string) => `${secret.slice(0, 4)}... (${secret.length} chars)`;

function ownersOf(config: Record<string, unknown>): { config: StackConfig; owners: SecretOwner[] } {
  const parsed = parseStackConfig(config);
  return { config: parsed, owners: secretOwners(parsed, planBackups(parsed)) };
}

/** The fields of an owner's store item: one per password, two per bucket credential. */
function expectedFields(owner: SecretOwner): string[] {
  const fields: string[] = [...owner.passwords];
  for (const consumer of owner.bucketCredentials) {
    const { accessKeyId, secretAccessKey } = bucketFields(consumer);
    fields.push(accessKeyId, secretAccessKey);
  }
  return fields.sort();
}

/** Every value the run generated or received: passwords, B2 keys, R2 tokens and their derived S3 secrets. */
function generatedValues(resources: readonly CapturedResource[]) {
  const passwords = ofType(resources, RANDOM_PASSWORD).map((r) => reveal(r.outputs.result) as string);
  const applicationKeys = b2Keys(resources).map((r) => reveal(r.outputs.applicationKey) as string);
  const tokens = ofType(resources, API_TOKEN).map((r) => reveal(r.outputs.value) as string);
  return { passwords, applicationKeys, tokens, derived: tokens.map(sha256) };
}

function expectConfigError(config: Record<string, unknown>): readonly string[] {
  try {
    parseStackConfig(config);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail("the config was accepted");
}

function runPlanCli() {
  const out = mkdtempSync(join(tmpdir(), "secrets-plan-"));
  const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", "--out", out], { cwd: ROOT, encoding: "utf8" });
  return { ...result, out };
}

/** Refs into generated items ("homelab-backups-<cluster>-...") versus refs into items the user owns. */
function splitRefs(config: StackConfig, objects: readonly KubernetesObject[]) {
  const prefix = `homelab-backups-${config.cluster.name}-`;
  const refs = kindOf(objects, "ExternalSecret").flatMap((object) => storeRefs(object).map((ref) => ({ ...ref, from: objectName(object), namespace: object.metadata.namespace })));
  return { generated: refs.filter((ref) => ref.item.startsWith(prefix)), user: refs.filter((ref) => !ref.item.startsWith(prefix)) };
}

describe("secrets", () => {
  let example: PlanResult;
  let config: StackConfig;
  let owners: SecretOwner[];
  before(async () => {
    example = await runOfflinePlan({ configFile: EXAMPLE_STACK });
    ({ config, owners } = ownersOf(exampleConfig()));
  });

  describe("no secret value escapes", () => {
    it("collects every generated value and every secure placeholder, and none appears in an artifact or the CLI's output", () => {
      const generated = generatedValues(example.resources);
      const passwordCount = owners.reduce((sum, owner) => sum + owner.passwords.length, 0);
      assert.equal(generated.passwords.length, passwordCount, "one RandomPassword per owner and password kind");
      for (const password of generated.passwords) assert.match(password, /^[A-Za-z0-9]{48}$/);
      const consumers = bucketConsumers(config, example.plan);
      assert.equal(generated.applicationKeys.length, consumers.filter((c) => c.destination === "b2").length, "one B2 key per B2 consumer");
      assert.equal(generated.tokens.length, consumers.filter((c) => c.destination === "r2").length, "one R2 token per R2 consumer");
      const placeholders = readStackFile(EXAMPLE_STACK).placeholders;
      assert.equal(placeholders.length, 6, "the example's six secure credentials: B2, R2, and SSH keys for TrueNAS and two hosts");

      const expected = { ...generated, placeholders };
      for (const [kind, values] of Object.entries(expected)) {
        assert.ok(values.length > 0, `no ${kind} to look for`);
        for (const value of values) assert.ok(example.secretValues.has(value), `${kind} ${hint(value)} is not among secretValues`);
      }

      const leaks: string[] = [];
      for (const [file, text] of Object.entries(example.artifacts)) {
        for (const secret of example.secretValues) if (text.includes(secret)) leaks.push(`${file}: ${hint(secret)}`);
      }
      assert.deepEqual(leaks, []);
      assert.match(example.artifacts["manifests.yaml"], /\[secret\]/, "the credential Secrets are in the manifests, masked");

      const cli = runPlanCli();
      assert.equal(cli.status, 0, cli.stderr);
      const files = readdirSync(cli.out, { recursive: true, encoding: "utf8" }).filter((file) => statSync(join(cli.out, file)).isFile());
      const written = files.map((file) => ({ file, text: readFileSync(join(cli.out, file), "utf8") }));
      assert.deepEqual(
        files.filter((file) => !file.startsWith("runbooks")).sort(),
        ["BACKUP-PLAN.md", "manifests.yaml", "policy-report.json", "resources.json"],
      );
      assert.ok(files.filter((file) => file.startsWith("runbooks/")).length >= 8, "the runbooks are written and scanned too");
      const cliLeaks: string[] = [];
      for (const { file, text } of [...written, { file: "stdout", text: cli.stdout }, { file: "stderr", text: cli.stderr }]) {
        for (const secret of example.secretValues) if (text.includes(secret)) cliLeaks.push(`plan CLI ${file}: ${hint(secret)}`);
      }
      assert.deepEqual(cliLeaks, []);
    });

    it("marks every generated value a Pulumi secret in the wire form, and nowhere carries one in the clear", () => {
      const resources = example.resources;
      const problems: string[] = [];
      const check = (resource: CapturedResource, output: string) => {
        // The mock engine answers these outputs as secrets already; the program must ask for it too,
        // because a real provider (the B2 dynamic provider above all) may not.
        if (!isSecret(resource.outputs[output])) problems.push(`${resource.name}.${output} is not a secret`);
        if (!resource.options.additionalSecretOutputs.includes(output)) problems.push(`${resource.name} does not list ${output} in additionalSecretOutputs`);
      };
      for (const resource of ofType(resources, RANDOM_PASSWORD)) check(resource, "result");
      for (const resource of b2Keys(resources)) check(resource, "applicationKey");
      for (const resource of ofType(resources, API_TOKEN)) check(resource, "value");
      assert.deepEqual(problems, []);

      const sources = ofType(resources, K8S_SECRET);
      for (const owner of owners) {
        const source = sources.find((resource) => (inputsOf(resource).metadata as { name: string }).name === `hb-${owner.id}`);
        assert.ok(source, `no Secret hb-${owner.id}`);
        const stringData = source.inputs.stringData;
        assert.ok(everyLeafSecret(stringData), `hb-${owner.id}.stringData has a field that is not a secret`);
        assert.deepEqual(Object.keys(reveal(stringData) as object).sort(), expectedFields(owner), `hb-${owner.id} fields`);
      }

      // A value that is secret in one place must not travel in the clear in another (a component's
      // outputs, another resource's inputs, a name derived from it).
      const generated = generatedValues(resources);
      const sensitive = [...generated.passwords, ...generated.applicationKeys, ...generated.tokens, ...generated.derived, ...readStackFile(EXAMPLE_STACK).placeholders];
      const clear: string[] = [];
      for (const resource of resources) {
        for (const [where, value] of [["inputs", resource.inputs], ["outputs", resource.outputs]] as const) {
          const leaves = plainLeaves(value);
          for (const secret of sensitive) if (leaves.some((leaf) => leaf.includes(secret))) clear.push(`${resource.urn} ${where}: ${hint(secret)}`);
        }
      }
      assert.deepEqual(clear, []);
    });
  });

  describe("how consumers get their credentials", () => {
    it("keeps literal credentials in the system namespace only", () => {
      const system = config.cluster.systemNamespace;
      const secrets = kindOf(example.objects, "Secret");
      assert.ok(secrets.length > 0);
      assert.deepEqual(secrets.map(objectName).filter((name) => !name.startsWith(`Secret ${system}/`)), []);
      // By content, not kind: no Kubernetes object outside the system namespace carries a secret input.
      const carriers = example.resources
        .filter((resource) => resource.type.startsWith("kubernetes:") && secretValues(resource.inputs).size > 0)
        .map((resource) => `${resource.type} ${String((inputsOf(resource).metadata as { namespace?: string } | undefined)?.namespace)}`);
      assert.ok(carriers.length > 0);
      assert.deepEqual(carriers.filter((carrier) => !carrier.endsWith(` ${system}`)), []);
    });

    it("hands every consumer a Secret that an ExternalSecret in its own namespace builds, with the keys it reads", () => {
      const externalSecrets = kindOf(example.objects, "ExternalSecret");
      const references = secretReferences(example.objects);
      const kinds = new Set(references.map((reference) => reference.kind));
      for (const kind of ["ReplicationSource", "ReplicationDestination", "KopiaMaintenance", "Job", "CronJob", "Stanza"]) {
        assert.ok(kinds.has(kind), `found no Secret reference in any ${kind}: the walker or the program changed`);
      }
      const problems: string[] = [];
      for (const reference of references) {
        const built = externalSecrets.find((es) => es.metadata.namespace === reference.namespace && targetName(es) === reference.secret);
        if (!built) {
          problems.push(`${reference.from} ${reference.path}: no ExternalSecret in ${reference.namespace} builds ${reference.secret}`);
          continue;
        }
        const keys = templateKeys(built);
        for (const key of reference.keys) if (!keys.includes(key)) problems.push(`${reference.from} ${reference.path}: ${reference.secret} has no key ${key}`);
      }
      assert.deepEqual(problems, []);
      // The other way round: no ExternalSecret builds a Secret nothing reads (which would also mean
      // the walker above missed a consumer).
      const unread = externalSecrets.filter((es) => !references.some((r) => r.namespace === es.metadata.namespace && r.secret === targetName(es)));
      assert.deepEqual(unread.map(objectName), []);
    });

    it("finds Secret references by shape, in kinds it was never told about", () => {
      const object = (kind: string, spec: Record<string, unknown>) => ({ apiVersion: "example.dev/v1", kind, metadata: { name: "x", namespace: "ns" }, spec }) as unknown as KubernetesObject;
      const found = secretReferences([
        object("Deployment", {
          template: {
            spec: {
              imagePullSecrets: [{ name: "pull" }],
              containers: [{ image: "busybox", env: [{ name: "A", valueFrom: { secretKeyRef: { name: "env-one", key: "a" } } }], envFrom: [{ secretRef: { name: "env-all" } }] }],
              volumes: [
                { name: "v", secret: { secretName: "mounted", items: [{ key: "k1", path: "p" }] } },
                { name: "p", projected: { sources: [{ secret: { name: "projected" } }] } },
              ],
            },
          },
        }),
        object("FutureMover", { rclone: { rcloneConfig: "rclone-conf" }, restic: { repository: "repo" }, target: { credentialsRef: { name: "creds", key: "token" } } }),
        object("Helmish", { image: { repository: "docker.io/library/busybox" }, existingSecret: "existing" }),
      ]);
      assert.deepEqual(found.map((r) => `${r.kind}:${r.secret}:${r.keys.join(",")}`).sort(), [
        "Deployment:env-all:",
        "Deployment:env-one:a",
        "Deployment:mounted:k1",
        "Deployment:projected:",
        "Deployment:pull:",
        "FutureMover:creds:token",
        "FutureMover:rclone-conf:",
        "FutureMover:repo:",
        "Helmish:existing:",
      ]);
    });
  });

  describe("rebuilding the cluster from the same stack", () => {
    it("declares identical ExternalSecrets and PushSecrets on every run", async () => {
      const again = await runOfflinePlan({ configFile: EXAMPLE_STACK });
      for (const kind of ["ExternalSecret", "PushSecret"]) {
        const first = kindOf(example.objects, kind);
        assert.ok(first.length > 0);
        assert.deepEqual(kindOf(again.objects, kind), first, `${kind}s differ between two runs`);
      }
    });

    for (const provider of ["onepassword-sdk", "kubernetes"] as const) {
      it(`reads only store fields a PushSecret writes (${provider})`, async () => {
        const objects =
          provider === "onepassword-sdk" ? example.objects : kubernetesObjects((await runExample(editedConfig((c) => (c.secretStore = { provider })))).resources);
        const pushed = new Set(kindOf(objects, "PushSecret").flatMap((push) => pushedFields(push).map((f) => `${f.item}/${f.field}`)));
        const { generated } = splitRefs(config, objects);
        assert.ok(generated.length > 0);
        assert.deepEqual(
          generated.filter((ref) => !pushed.has(`${ref.item}/${ref.field}`)).map((ref) => `${ref.from} reads ${ref.item}/${ref.field}`),
          [],
        );
      });
    }

    it("reads from user-owned items exactly the references the config names", async () => {
      const userRefs = (objects: readonly KubernetesObject[], stack: StackConfig) => [...new Set(splitRefs(stack, objects).user.map((r) => `${r.item}/${r.field}`))].sort();
      // Example: healthchecks.pingKeyRef, paperless credentialsRef (username + password), and the
      // offsite NAS key under its default name "<destination>/ssh-private-key".
      assert.deepEqual(userRefs(example.objects, config), ["healthchecks/ping-key", "offsite-nas/ssh-private-key", "paperless-postgres/password", "paperless-postgres/username"]);

      const renamed = editedConfig((c) => {
        c.notifications.ntfy.tokenRef = "ntfy/token";
        c.notifications.healthchecks.pingKeyRef = "hc/ping";
        c.apps.paperless.redis.broker.passwordRef = "paperless-redis/password";
        c.apps.paperless.databases.paperless.credentialsRef = "pg-paperless";
        c.destinations["offsite-nas"].privateKeyRef = "nas-keys/offsite";
      });
      const run = await runExample(renamed);
      assert.deepEqual(userRefs(kubernetesObjects(run.resources), parseStackConfig(renamed)), [
        "hc/ping",
        "nas-keys/offsite",
        "ntfy/token",
        "paperless-redis/password",
        "pg-paperless/password",
        "pg-paperless/username",
      ]);
    });
  });

  describe("namespace isolation", () => {
    const checkIsolation = (objects: readonly KubernetesObject[], stack: StackConfig, stackOwners: readonly SecretOwner[]) => {
      const { generated } = splitRefs(stack, objects);
      assert.ok(generated.length > 0);
      const problems: string[] = [];
      for (const ref of generated) {
        const owner = stackOwners.find((candidate) => candidate.item === ref.item);
        if (!owner) problems.push(`${ref.from} reads ${ref.item}, which no owner has`);
        else if (owner.namespace !== ref.namespace) problems.push(`${ref.from} reads ${ref.item} of ${owner.id}, which lives in ${owner.namespace}`);
      }
      return problems;
    };

    it("gives an app namespace only the credentials of owners living there", () => {
      assert.deepEqual(checkIsolation(example.objects, config, owners), []);
    });

    it("lets apps sharing a namespace, and a CNPG cluster in its app's namespace, share it", async () => {
      const shared = editedConfig((c) => {
        delete c.apps.immich.databases.immich.namespace;
        c.apps.sabnzbd = { tier: 2, namespace: "downloads", volumes: { "sabnzbd-config": { capacity: "1Gi", mover: "kopia", uid: 568, gid: 568 } } };
      });
      const { config: stack, owners: stackOwners } = ownersOf(shared);
      assert.equal(stackOwners.find((owner) => owner.id === "pg-postgres18-immich")?.namespace, "immich");
      assert.equal(stackOwners.find((owner) => owner.id === "sabnzbd")?.namespace, "downloads");
      const objects = kubernetesObjects((await runExample(shared)).resources);
      assert.deepEqual(checkIsolation(objects, stack, stackOwners), []);
      const downloads = splitRefs(stack, objects).generated.filter((ref) => ref.namespace === "downloads");
      assert.deepEqual([...new Set(downloads.map((ref) => ref.item))].sort(), [storeItem("ether", "arr"), storeItem("ether", "sabnzbd")]);
    });

    // App names, "pg-<cluster>", "truenas-<dataset>" and "host-<host>" share one owner-id space.
    it("keeps an app named like a CNPG cluster's owner apart from that cluster", async () => {
      const clash = editedConfig((c) => (c.apps["pg-postgres18-cluster"] = { tier: 1, volumes: { data: { capacity: "1Gi" } } }));
      let parsed: { config: StackConfig; owners: SecretOwner[] };
      try {
        parsed = ownersOf(clash);
      } catch (error) {
        // Rejecting the clash with a message naming the app is a fix too.
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /apps\.pg-postgres18-cluster/);
        return;
      }
      const objects = kubernetesObjects((await runExample(clash)).resources);
      assert.deepEqual(checkIsolation(objects, parsed.config, parsed.owners), []);
    });
  });

  describe("External Secrets Operator settings", () => {
    it("builds consumer Secrets with the configured store and refresh, owned by the ExternalSecret and kept when the store items go", async () => {
      const tuned = editedConfig((c) => (c.secretStore = { ...c.secretStore, name: "family-vault", refreshInterval: "17m" }));
      const objects = kubernetesObjects((await runExample(tuned)).resources);
      const externalSecrets = kindOf(objects, "ExternalSecret");
      assert.ok(externalSecrets.length > 0);
      for (const es of externalSecrets) {
        const spec = es.spec as Record<string, Record<string, unknown>>;
        const target = spec.target as { creationPolicy: string; deletionPolicy: string; template: { engineVersion: string } };
        assert.deepEqual(
          { refreshInterval: spec.refreshInterval, store: spec.secretStoreRef, creation: target.creationPolicy, deletion: target.deletionPolicy, engine: target.template.engineVersion },
          { refreshInterval: "17m", store: { kind: "ClusterSecretStore", name: "family-vault" }, creation: "Owner", deletion: "Retain", engine: "v2" },
          objectName(es),
        );
        assert.ok(externalSecretData(es).length > 0, `${objectName(es)} reads nothing from the store`);
      }
    });

    it("pushes every field of each owner's Secret to its store item, replacing on change and never deleting", async () => {
      const tuned = editedConfig((c) => (c.secretStore = { ...c.secretStore, name: "family-vault", refreshInterval: "17m" }));
      const objects = kubernetesObjects((await runExample(tuned)).resources);
      const system = config.cluster.systemNamespace;
      const pushes = kindOf(objects, "PushSecret");
      assert.deepEqual(pushes.map((push) => push.metadata.name).sort(), owners.map((owner) => `hb-${owner.id}`).sort());
      for (const owner of owners) {
        const name = `hb-${owner.id}`;
        const push = pushes.find((p) => p.metadata.name === name)!;
        const source = kindOf(objects, "Secret").find((s) => s.metadata.name === name);
        assert.ok(source, `no Secret ${name}`);
        const spec = push.spec as Record<string, unknown>;
        assert.equal(push.metadata.namespace, system);
        assert.equal(source.metadata.namespace, system);
        assert.deepEqual(
          { refreshInterval: spec.refreshInterval, stores: spec.secretStoreRefs, selector: spec.selector, update: spec.updatePolicy, deletion: spec.deletionPolicy },
          { refreshInterval: "17m", stores: [{ kind: "ClusterSecretStore", name: "family-vault" }], selector: { secret: { name } }, update: "Replace", deletion: "None" },
          name,
        );
        const fields = pushedFields(push);
        assert.deepEqual(fields.map((f) => f.secretKey).sort(), Object.keys(source.stringData as object).sort(), `${name}: pushed keys versus the Secret's keys`);
        assert.deepEqual(fields.map((f) => f.secretKey).sort(), expectedFields(owner), `${name}: the owner's credentials`);
        for (const field of fields) assert.deepEqual({ item: field.item, field: field.field }, { item: owner.item, field: field.secretKey }, name);
      }
    });
  });

  describe("store providers", () => {
    const storeKinds = (objects: readonly KubernetesObject[]) => objects.filter((o) => o.kind === "ClusterSecretStore" || o.kind === "SecretStore");

    it("by default (1Password SDK, unmanaged) creates no store and reads '<item>/<field>' keys", () => {
      assert.equal(config.secretStore.provider, "onepassword-sdk");
      assert.equal(config.secretStore.manage, false);
      assert.deepEqual(storeKinds(example.objects).map(objectName), []);
      const remoteRefs = kindOf(example.objects, "ExternalSecret").flatMap((es) => externalSecretData(es).map((d) => d.remoteRef));
      assert.ok(remoteRefs.length > 0);
      for (const ref of remoteRefs) {
        assert.equal(ref.property, undefined, JSON.stringify(ref));
        assert.match(ref.key, /^[^/]+\/[^/]+$/, JSON.stringify(ref));
      }
      assert.ok(remoteRefs.some((ref) => ref.key === `${storeItem("ether", "vaultwarden")}/restic-password`));
    });

    it("with manage: true creates the 1Password ClusterSecretStore from the config", async () => {
      const managed = editedConfig(
        (c) => (c.secretStore = { ...c.secretStore, manage: true, vault: "family", serviceAccountSecret: { name: "op-token", key: "credential", namespace: "eso" } }),
      );
      const stores = storeKinds(kubernetesObjects((await runExample(managed)).resources));
      assert.equal(stores.length, 1);
      const [store] = stores;
      assert.deepEqual(
        { kind: store.kind, name: store.metadata.name, namespace: store.metadata.namespace, spec: store.spec },
        {
          kind: "ClusterSecretStore",
          name: "onepassword",
          namespace: undefined,
          spec: {
            conditions: [{ namespaces: ["authentik", "backup-system", "database", "downloads", "immich", "media", "observability", "paperless", "vaultwarden"] }],
            provider: { onepasswordSDK: { vault: "family", auth: { serviceAccountSecretRef: { name: "op-token", key: "credential", namespace: "eso" } } } },
          },
        },
      );
    });

    for (const [provider, edit] of [
      ["1Password, manage: true", (c: ExampleConfig) => (c.secretStore = { ...c.secretStore, manage: true, vault: "family" })],
      ["kubernetes", (c: ExampleConfig) => (c.secretStore = { provider: "kubernetes", name: "in-cluster" })],
    ] as const) {
      it(`serves a store it creates (${provider}) only to the namespaces the plan uses, and the store validates against the ESO CRD`, async () => {
        const objects = kubernetesObjects((await runExample(editedConfig(edit))).resources);
        const [store] = storeKinds(objects);
        assert.ok(store, "the program creates a store");
        const conditions = (store.spec as { conditions?: Array<{ namespaces?: string[] }> }).conditions;
        assert.equal(conditions?.length, 1, "one condition: a namespace list");
        const allowed = conditions[0].namespaces ?? [];
        const users = [...new Set([...kindOf(objects, "ExternalSecret"), ...kindOf(objects, "PushSecret")].map((object) => String(object.metadata.namespace)))].sort();
        for (const namespace of users) assert.ok(allowed.includes(namespace), `${namespace} uses the store but may not`);
        const plan = planBackups(config);
        const planned = new Set([config.cluster.systemNamespace, ...[...plan.apps, ...plan.items, ...plan.jobs].map((x) => x.namespace).filter(Boolean)]);
        assert.deepEqual(allowed, [...planned].sort(), "exactly the plan's namespaces, sorted");
        for (const outsider of ["default", "kube-system", `${config.cluster.systemNamespace}-vault`]) assert.ok(!allowed.includes(outsider), outsider);
        const result = await validateObject(store as unknown as Record<string, unknown>);
        assert.deepEqual(result.errors, [], `${result.object} (${result.schema})`);
      });
    }

    it("with provider kubernetes creates the vault namespace, its RBAC and store, and reads key + property", async () => {
      const run = await runExample(editedConfig((c) => (c.secretStore = { provider: "kubernetes", name: "in-cluster" })));
      const objects = kubernetesObjects(run.resources);
      const system = config.cluster.systemNamespace;
      const vault = `${system}-vault`;

      const namespace = run.resources.find((r) => r.type === "kubernetes:core/v1:Namespace" && (inputsOf(r).metadata as { name: string }).name === vault);
      assert.ok(namespace, `no namespace ${vault}`);
      assert.equal(namespace.options.retainOnDelete, true, "tearing down the stack must not delete the credentials");

      const [account] = kindOf(objects, "ServiceAccount");
      assert.ok(account);
      assert.equal(account.metadata.namespace, system);
      const subject = { kind: "ServiceAccount", name: account.metadata.name, namespace: system };

      const [role] = kindOf(objects, "Role");
      assert.equal(role.metadata.namespace, vault);
      const rules = role.rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
      assert.deepEqual(rules.map((rule) => ({ groups: rule.apiGroups, resources: rule.resources })), [{ groups: [""], resources: ["secrets"] }]);
      for (const verb of ["get", "list", "watch", "create", "update", "patch"]) assert.ok(rules[0].verbs.includes(verb), `vault Role lacks ${verb}`);
      const [binding] = kindOf(objects, "RoleBinding");
      assert.equal(binding.metadata.namespace, vault);
      assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name });
      assert.deepEqual(binding.subjects, [subject]);

      const [review] = kindOf(objects, "ClusterRole");
      assert.deepEqual(review.rules, [{ apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectrulesreviews"], verbs: ["create"] }]);
      const [reviewBinding] = kindOf(objects, "ClusterRoleBinding");
      assert.deepEqual(reviewBinding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: review.metadata.name });
      assert.deepEqual(reviewBinding.subjects, [subject]);

      const stores = storeKinds(objects);
      assert.deepEqual(stores.map(objectName), ["ClusterSecretStore /in-cluster"]);
      assert.ok((stores[0].spec as { conditions?: unknown[] }).conditions, "the in-cluster store is limited to the plan's namespaces too");
      const provider = (stores[0].spec as { provider: { kubernetes: { remoteNamespace: string; auth: unknown } } }).provider.kubernetes;
      assert.equal(provider.remoteNamespace, vault);
      assert.deepEqual(provider.auth, { serviceAccount: { name: account.metadata.name, namespace: system } });

      const remoteRefs = kindOf(objects, "ExternalSecret").flatMap((es) => externalSecretData(es).map((d) => d.remoteRef));
      assert.ok(remoteRefs.length > 0);
      for (const ref of remoteRefs) {
        assert.equal(typeof ref.property, "string", JSON.stringify(ref));
        assert.doesNotMatch(ref.key, /\//, JSON.stringify(ref));
      }
      assert.ok(remoteRefs.some((ref) => ref.key === storeItem("ether", "vaultwarden") && ref.property === "restic-password"));
      assert.ok(remoteRefs.some((ref) => ref.key === "healthchecks" && ref.property === "ping-key"), "user-owned refs switch too");
    });

    it("refuses a namespaced SecretStore for a store it must create, naming secretStore.kind", () => {
      const problems = expectConfigError(editedConfig((c) => (c.secretStore = { provider: "kubernetes", kind: "SecretStore" })));
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], /^secretStore\.kind: a store this program creates is a ClusterSecretStore/);
    });
  });

  describe("rotation", () => {
    let base: ProgramRun;
    before(async () => {
      base = await runExample();
    });
    const byUrn = (run: ProgramRun, select: (resources: readonly CapturedResource[]) => CapturedResource[]) =>
      new Map(select(run.resources).map((resource) => [resource.urn, inputsOf(resource)]));

    it("raising one counter adds a new password generation, keeps the previous one in the store, and leaves the rest alone", async () => {
      const runWith = (rotation: number) => runExample(editedConfig((c) => (c.rotations = { "vaultwarden/restic-password": rotation })));
      const [once, twice] = [await runWith(1), await runWith(2)];
      const passwords = (run: ProgramRun) => byUrn(run, (r) => ofType(r, RANDOM_PASSWORD));
      const name = (urn: string) => urn.split("::").pop()!;
      const before = passwords(base);
      assert.equal(before.size, owners.reduce((sum, owner) => sum + owner.passwords.length, 0));

      // First rotation: every existing RandomPassword keeps its inputs (nothing is replaced); one is added.
      const afterOnce = passwords(once);
      for (const [urn, inputs] of before) assert.deepEqual(afterOnce.get(urn), inputs, `${name(urn)} is untouched`);
      const added = [...afterOnce.keys()].filter((urn) => !before.has(urn));
      assert.deepEqual(added.map(name), ["vaultwarden-restic-password-r1"]);
      assert.deepEqual(afterOnce.get(added[0])!.keepers, { rotation: "1" });

      // Second rotation: generation 0 goes, generations 1 and 2 stay.
      const vaultwarden = (run: ProgramRun) => [...passwords(run).keys()].map(name).filter((n) => n.startsWith("vaultwarden-restic-password")).sort();
      assert.deepEqual(vaultwarden(twice), ["vaultwarden-restic-password-r1", "vaultwarden-restic-password-r2"]);

      // The store item gets the new value as restic-password and the old one as restic-password-previous.
      const sourceFields = (run: ProgramRun) => {
        const source = ofType(run.resources, "kubernetes:core/v1:Secret").find((r) => (inputsOf(r).metadata as { name: string }).name === "hb-vaultwarden")!;
        return Object.keys(reveal(source.inputs.stringData) as object).filter((field) => field.startsWith("restic-password"));
      };
      assert.deepEqual(sourceFields(base), ["restic-password"]);
      assert.deepEqual(sourceFields(once).sort(), ["restic-password", "restic-password-previous"]);

      // Consumers keep reading the same field, so their ExternalSecrets do not change.
      const externalSecrets = (run: ProgramRun) => byUrn(run, (r) => r.filter((resource) => (inputsOf(resource) as { kind?: string }).kind === "ExternalSecret"));
      assert.deepEqual(externalSecrets(once), externalSecrets(base));

      for (const select of [b2Keys, (r: readonly CapturedResource[]) => ofType(r, API_TOKEN)]) {
        const keys = byUrn(base, select);
        assert.ok(keys.size > 0);
        assert.deepEqual(byUrn(twice, select), keys);
      }
    });

    it("rejects an unknown id with its key path and a did-you-mean", () => {
      const problems = expectConfigError(editedConfig((c) => (c.rotations = { "vaultwarden/restic-pasword": 1 })));
      assert.deepEqual(problems, [
        'rotations["vaultwarden/restic-pasword"]: no generated credential is named "vaultwarden/restic-pasword" (did you mean "vaultwarden/restic-password"?)',
      ]);
      // A valid id of each kind is accepted.
      parseStackConfig(editedConfig((c) => (c.rotations = { "vaultwarden/restic-password": 1, "immich/b2-kopia": 1, "pg-postgres18-immich/r2-pgbackrest": 3 })));
    });

    it("refuses to rotate a pgBackRest cipher pass or a Cloud Sync password, which cannot re-key data", () => {
      const problems = expectConfigError(editedConfig((c) => (c.rotations = { "pg-postgres18-immich/cipher-pass": 1 })));
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], /^rotations\["pg-postgres18-immich\/cipher-pass"\]: pgBackRest cannot re-encrypt/);
      const cloudSync = expectConfigError(editedConfig((c) => (c.rotations = { "truenas-images/cloudsync-salt": 1 })));
      assert.match(cloudSync.join("\n"), /^rotations\["truenas-images\/cloudsync-salt"\]: TrueNAS Cloud Sync \(rclone crypt\) cannot re-encrypt/);
    });
  });
});
