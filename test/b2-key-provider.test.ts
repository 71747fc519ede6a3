import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  authorize,
  B2ApplicationKey,
  b2ApplicationKeyProvider,
  createKey,
  resolveBucketId,
} from "../components/storage/b2ApplicationKey";
import { runProgram } from "../offline/engine";
import { redact, reveal } from "../offline/wire";
import { ANSWER_NORMALLY, FakeB2 } from "./support/fakeB2";

type Props = Record<string, unknown>;
type Provider = typeof b2ApplicationKeyProvider;

const BUCKET = "homelab-photos";
const CAPABILITIES = ["listBuckets", "listFiles", "readFiles", "writeFiles", "deleteFiles"];
const SIG = pulumi.runtime.specialSigKey;
const SECRET = pulumi.runtime.specialSecretSig;

/** The provider's optional methods, which this provider all implements. */
function methods(provider: Provider) {
  const { check, diff, update, delete: remove } = provider;
  assert.ok(check && diff && update && remove, "the provider implements check, diff, update and delete");
  return { check, diff, create: provider.create, update, remove };
}
const provider = methods(b2ApplicationKeyProvider);

function rejectsWith(pattern: RegExp, check: (error: Error) => void = () => {}) {
  return (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    assert.match(error.message, pattern);
    check(error);
    return true;
  };
}

function hasUndefined(value: unknown): boolean {
  if (value === undefined) return true;
  if (Array.isArray(value)) return value.some(hasUndefined);
  if (value !== null && typeof value === "object") return Object.values(value).some(hasUndefined);
  return false;
}

describe("B2 application key provider (against a fake B2 v4 API)", () => {
  let fake: FakeB2;
  let bucketId: string;
  const savedBase = process.env.B2_RETRY_BASE_MS;

  before(async () => {
    fake = await FakeB2.start();
    process.env.B2_RETRY_BASE_MS = "1"; // waits of 1, 2, 4 ms; Retry-After capped at 30 ms
  });
  after(async () => {
    await fake.close();
    if (savedBase === undefined) delete process.env.B2_RETRY_BASE_MS;
    else process.env.B2_RETRY_BASE_MS = savedBase;
  });
  beforeEach(() => {
    fake.reset();
    bucketId = fake.addBucket(BUCKET);
  });

  const inputs = (overrides: Props = {}): Props => ({
    authKeyId: fake.masterKeyId,
    authKey: fake.masterKey,
    bucketName: BUCKET,
    keyName: "immich-offsite",
    capabilities: CAPABILITIES,
    namePrefix: "immich/",
    authUrl: fake.url,
    destination: "offsite",
    ...overrides,
  });

  /** Every secret the fake knows: the master credentials, their Basic header, tokens, created keys. */
  function assertNoSecret(message: string) {
    const secrets = [
      fake.masterKey,
      fake.masterKeyId,
      Buffer.from(`${fake.masterKeyId}:${fake.masterKey}`).toString("base64"),
      ...fake.tokens,
      ...[...fake.keys.values()].map((key) => key.applicationKey),
    ];
    for (const secret of secrets) assert.ok(!message.includes(secret), `message leaks a secret: ${message}`);
  }

  describe("create", () => {
    it("creates a key restricted to the bucket and prefix, with the requested capabilities, and returns its secret wrapped", async () => {
      const { id, outs } = await provider.create(inputs());
      assert.ok(outs);

      const [list] = fake.requestsFor("b2_list_buckets");
      assert.deepEqual(list?.body, { accountId: fake.accountId, bucketName: BUCKET });
      const [create] = fake.requestsFor("b2_create_key");
      assert.deepEqual(create?.body, {
        accountId: fake.accountId,
        keyName: "immich-offsite",
        capabilities: CAPABILITIES,
        bucketIds: [bucketId],
        namePrefix: "immich/",
      });

      const live = fake.keys.get(id);
      assert.ok(live, "the key exists in B2 under the returned id");
      assert.equal(outs.applicationKeyId, id);
      assert.equal(outs.bucketId, bucketId);
      assert.equal(outs.keyName, "immich-offsite");
      assert.deepEqual(outs.capabilities, CAPABILITIES);
      assert.equal(outs.namePrefix, "immich/");
      assert.equal(outs.s3ApiUrl, fake.s3ApiUrl);
      // The one-time secret and the credentials delete will need are secrets in Pulumi's wire form.
      assert.deepEqual(outs.applicationKey, { [SIG]: SECRET, value: live.applicationKey });
      assert.deepEqual(outs.authKey, { [SIG]: SECRET, value: fake.masterKey });
      assert.deepEqual(outs.authKeyId, { [SIG]: SECRET, value: fake.masterKeyId });
      const plaintext = JSON.stringify(redact(outs));
      for (const secret of [live.applicationKey, fake.masterKey, fake.masterKeyId]) assert.ok(!plaintext.includes(secret));
      // The dynamic provider host cannot encode undefined ("Unexpected struct type").
      assert.equal(hasUndefined(outs), false);
    });

    it("sends no namePrefix when none is given", async () => {
      const { outs } = await provider.create(inputs({ namePrefix: undefined }));
      const [create] = fake.requestsFor("b2_create_key");
      assert.equal(create?.body && "namePrefix" in create.body, false);
      assert.equal(outs && "namePrefix" in outs, false);
    });

    it("refuses bad master credentials at once, naming the config keys to fix and no secret", async () => {
      const wrongKey = `K004${"0".repeat(30)}`;
      await assert.rejects(
        provider.create(inputs({ authKey: wrongKey })),
        rejectsWith(/^B2 authorization failed \(401 unauthorized\): check credentials\.offsite\.applicationKeyId\/applicationKey/, (error) => {
          assert.ok(!error.message.includes(wrongKey));
          assert.ok(!error.message.includes(Buffer.from(`${fake.masterKeyId}:${wrongKey}`).toString("base64")));
          assertNoSecret(error.message);
        }),
      );
      assert.equal(fake.requestsFor("b2_authorize_account").length, 1, "401 is never retried");
      assert.equal(fake.requestsFor("b2_create_key").length, 0);
    });

    it("says which capability is missing when the master key may not create keys", async () => {
      fake.masterCapabilities = ["listBuckets", "listKeys", "deleteKeys"];
      await assert.rejects(
        provider.create(inputs()),
        rejectsWith(/B2 refused to create key "immich-offsite" \(401 unauthorized\): the key in credentials\.offsite\.applicationKeyId\/applicationKey needs the writeKeys capability/, (error) =>
          assertNoSecret(error.message),
        ),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 1);
    });

    it("names an unknown bucket and creates no key", async () => {
      await assert.rejects(
        provider.create(inputs({ bucketName: "homelab-photoz" })),
        rejectsWith(/B2 bucket "homelab-photoz" not found .*create the bucket first or fix bucketName/),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 0);
      assert.equal(fake.keys.size, 0);
    });

    it("retries 429 and 503 (even with a non-JSON body) and creates exactly one key", async () => {
      fake.failNext(
        "b2_create_key",
        { status: 429, code: "too_many_requests", message: "Too many requests", retryAfter: "1" },
        { status: 503, rawBody: "<html><body>503 Service Unavailable</body></html>" },
      );
      const started = Date.now();
      const { id } = await provider.create(inputs());
      assert.equal(fake.requestsFor("b2_create_key").length, 3);
      assert.deepEqual([...fake.keys.keys()], [id]);
      // Keys are listed once before creating; a 429 says B2 did nothing, a 5xx may come after the work was done, so B2 is asked.
      assert.equal(fake.requestsFor("b2_list_keys").length, 2, "keys are listed before the first attempt and after the 503 only");
      assert.ok(Date.now() - started < 2000, "Retry-After is capped (30 x B2_RETRY_BASE_MS)");
    });

    it("deletes the key a create made before the connection dropped, then leaves exactly one key", async () => {
      fake.failNext("b2_create_key", { status: 0, drop: true, afterWork: true });
      const { id } = await provider.create(inputs());
      assert.equal(fake.requestsFor("b2_create_key").length, 2);
      const deleted = fake.requestsFor("b2_delete_key").map((request) => request.body?.applicationKeyId);
      assert.equal(deleted.length, 1, "the orphan is deleted before the retry");
      assert.notEqual(deleted[0], id);
      assert.deepEqual([...fake.keys.keys()], [id], "only the key Pulumi got the secret of is left");
      assert.equal(fake.keysNamed("immich-offsite").length, 1);
      const listAt = fake.requests.findIndex((request) => request.operation === "b2_list_keys");
      const retryAt = fake.requests.findLastIndex((request) => request.operation === "b2_create_key");
      assert.ok(listAt >= 0 && listAt < retryAt, "keys are listed before trying again");
    });

    it("after a 500 that came once the key existed, deletes only keys that request could have made, over every page", async () => {
      fake.listKeysPageSize = 1;
      const other = fake.addKey({ keyName: "paperless-offsite", capabilities: CAPABILITIES, bucketIds: [bucketId], namePrefix: "immich/" });
      // What a replacement that changes only capabilities retires last: same name, still in use.
      const retiring = fake.addKey({ keyName: "immich-offsite", capabilities: ["listBuckets", "readFiles"], bucketIds: [bucketId], namePrefix: "immich/" });
      fake.failNext("b2_create_key", { status: 500, code: "internal_error", message: "incident id 1", afterWork: true });
      const { id } = await provider.create(inputs());
      assert.deepEqual([...fake.keys.keys()].sort(), [id, other.applicationKeyId, retiring.applicationKeyId].sort());
      assert.equal(fake.keysNamed("immich-offsite").filter((key) => key.capabilities.length === CAPABILITIES.length).length, 1);
      const lists = fake.requestsFor("b2_list_keys");
      assert.equal(lists.length, 2 + 3, "before creating, two keys at one per page; after the 500, three");
      assert.deepEqual(lists[0].body, { accountId: fake.accountId, maxKeyCount: 1000 });
      assert.deepEqual(lists[2].body, { accountId: fake.accountId, maxKeyCount: 1000 });
      assert.ok([lists[1], ...lists.slice(3)].every((request) => typeof request.body?.startApplicationKeyId === "string"));
    });

    it("spares an identical key that existed before the create (a replace), deleting only the one the lost answer made", async () => {
      // `pulumi up --replace` or a lost state: the key consumers use now has the same name, bucket, prefix and capabilities.
      const live = fake.addKey({ keyName: "immich-offsite", capabilities: CAPABILITIES, bucketIds: [bucketId], namePrefix: "immich/" });
      fake.failNext("b2_create_key", { status: 0, drop: true, afterWork: true });
      const { id } = await provider.create(inputs());
      assert.deepEqual([...fake.keys.keys()].sort(), [id, live.applicationKeyId].sort(), "the live key and the new one are left");
      const deleted = fake.requestsFor("b2_delete_key").map((request) => request.body?.applicationKeyId);
      assert.equal(deleted.length, 1);
      assert.notEqual(deleted[0], live.applicationKeyId, "the key consumers still use is never the stray");
    });

    it("gives up after 5 answers lost once the key existed, leaving no key behind", async () => {
      fake.failAlways("b2_create_key", { status: 504, code: "gateway_timeout", afterWork: true });
      await assert.rejects(provider.create(inputs()), rejectsWith(/B2 b2_create_key gave up after 5 attempts .*last error: 504 gateway_timeout/));
      assert.equal(fake.requestsFor("b2_create_key").length, 5);
      assert.equal(fake.requestsFor("b2_delete_key").length, 5);
      assert.equal(fake.keys.size, 0);
    });

    it("needs listKeys before it creates anything: without it, no key is made that a lost answer could strand", async () => {
      fake.masterCapabilities = ["listBuckets", "writeKeys", "deleteKeys"];
      await assert.rejects(
        provider.create(inputs()),
        rejectsWith(/B2 refused to list keys \(401 unauthorized\): .*needs the listKeys capability/, (error) => assertNoSecret(error.message)),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 0);
    });

    it("names the key to delete by hand when it cannot look for a key a lost answer left", async () => {
      // Listing works before the create; after the lost answer B2 refuses it (the key lost listKeys meanwhile).
      fake.failNext("b2_list_keys", ANSWER_NORMALLY, { status: 401, code: "unauthorized", message: "not entitled" });
      fake.failNext("b2_create_key", { status: 502, code: "bad_gateway", afterWork: true });
      await assert.rejects(
        provider.create(inputs()),
        rejectsWith(
          /got no clear answer \(b2_create_key failed \(502 bad_gateway\)\.\), so it may have created key "immich-offsite", and removing such a key failed: B2 refused to list keys \(401 unauthorized\): .*needs the listKeys capability\. .*Delete every key named "immich-offsite" in the B2 console/,
          (error) => assertNoSecret(error.message),
        ),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 1, "no retry while a stray key may exist");
    });

    it("waits what Retry-After asks, capped, and otherwise backs off exponentially", async () => {
      const waits: number[] = [];
      const options = { destination: "offsite", retry: { baseMs: 100, maxDelayMs: 5000, sleep: async (ms: number) => void waits.push(ms) } };
      fake.failNext(
        "b2_create_key",
        { status: 429, code: "too_many_requests", retryAfter: "2" },
        { status: 503, code: "service_unavailable" },
        { status: 503, code: "service_unavailable", retryAfter: "3600" },
      );
      const auth = await authorize({ authUrl: fake.url, applicationKeyId: fake.masterKeyId, applicationKey: fake.masterKey }, options);
      const key = await createKey(auth, { keyName: "k", capabilities: ["readFiles"], bucketIds: [await resolveBucketId(auth, BUCKET, options)] }, options);
      assert.deepEqual(waits, [2000, 200, 5000]);
      assert.ok(fake.keys.has(key.applicationKeyId));
    });

    it("gives up on a B2 that answers 503 forever after 5 attempts, and says so", async () => {
      fake.failAlways("b2_create_key", { status: 503, code: "service_unavailable", message: "c001_v0001 is too busy" });
      await assert.rejects(
        provider.create(inputs()),
        rejectsWith(/B2 b2_create_key gave up after 5 attempts .*last error: 503 service_unavailable: c001_v0001 is too busy/),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 5);
    });

    it("retries a B2 it cannot reach, then reports it without secrets", async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      await assert.rejects(
        provider.create(inputs({ authUrl: `http://127.0.0.1:${port}` })),
        rejectsWith(/B2 b2_authorize_account gave up after 5 attempts .*could not reach B2 at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/, (error) =>
          assertNoSecret(error.message),
        ),
      );
    });

    it("never retries 400, and strips secrets B2 echoes back from its message", async () => {
      fake.failNext("b2_create_key", {
        status: 400,
        code: "bad_request",
        message: (request) => `bad header ${String(request.headers.authorization)}`,
      });
      await assert.rejects(
        provider.create(inputs()),
        rejectsWith(/B2 rejected key "immich-offsite" \(400 bad_request\)\. B2 said: "bad header \[redacted\]"/, (error) => assertNoSecret(error.message)),
      );
      assert.equal(fake.requestsFor("b2_create_key").length, 1);
      assert.equal(fake.requestsFor("b2_list_keys").length, 1, "listed before creating only: a clear refusal created nothing to look for");
    });

    it("refuses invalid inputs before calling B2", async () => {
      await assert.rejects(provider.create(inputs({ capabilities: ["writeKeys"] })), rejectsWith(/capabilities\[0\]: "writeKeys" is account-wide/));
      assert.equal(fake.requests.length, 0);
    });
  });

  describe("delete", () => {
    it("deletes the key, and counts a key already gone (400 or 404) as deleted", async () => {
      const { id, outs } = await provider.create(inputs());
      // The engine hands delete the saved outputs with secrets unwrapped.
      const state = reveal(outs) as Props;
      await provider.remove(id, state);
      assert.equal(fake.keys.has(id), false);

      await provider.remove(id, state); // 400 bad_request "Key not found"
      fake.missingKeyStatus = 404;
      await provider.remove(id, outs as Props); // secrets still wrapped work too
      assert.equal(fake.requestsFor("b2_delete_key").length, 3, "already gone is not retried");
    });

    it("explains a master key without deleteKeys, and keeps the key", async () => {
      const { id, outs } = await provider.create(inputs());
      fake.masterCapabilities = ["listBuckets", "writeKeys"];
      await assert.rejects(
        provider.remove(id, reveal(outs) as Props),
        rejectsWith(new RegExp(`B2 refused to delete key ${id} \\(401 unauthorized\\): .*needs the deleteKeys capability`), (error) =>
          assertNoSecret(error.message),
        ),
      );
      assert.ok(fake.keys.has(id));
    });
  });

  describe("diff", () => {
    const olds = (): Props => ({
      ...inputs(),
      applicationKeyId: "004a1b2c3d4e5f6000000000a",
      applicationKey: "K004old",
      bucketId: "4a5b000000000000000000",
    });

    it("reports no change when nothing that reaches or shapes the key changes", async () => {
      assert.deepEqual(await provider.diff("id", olds(), inputs()), { changes: false });
    });

    it("saves rotated credentials in place, without replacing the key, so a later delete can authenticate", async () => {
      const rotated = inputs({ authKeyId: "004rotated", authKey: "K004rotated", authUrl: "https://api.backblazeb2.com", destination: "b2" });
      assert.deepEqual(await provider.diff("id", olds(), rotated), { changes: true, replaces: [], deleteBeforeReplace: false });
      const before = fake.requests.length;
      const { outs } = await provider.update("id", olds(), rotated);
      assert.equal(fake.requests.length, before, "an update never calls B2");
      const saved = reveal(outs) as Props;
      assert.equal(saved.authKeyId, "004rotated");
      assert.equal(saved.authKey, "K004rotated");
      assert.equal(saved.applicationKeyId, olds().applicationKeyId, "the key itself is unchanged");
    });

    it("replaces the key, creating the new one first, when bucketName, keyName, capabilities or namePrefix change", async () => {
      const changes: Props = { bucketName: "other-bucket", keyName: "immich-offsite-2", capabilities: ["readFiles"], namePrefix: "immich2/" };
      for (const [property, value] of Object.entries(changes)) {
        const result = await provider.diff("id", olds(), inputs({ [property]: value, authKey: "K004rotated" }));
        assert.deepEqual(result, { changes: true, replaces: [property], deleteBeforeReplace: false }, property);
      }
      const removedPrefix = await provider.diff("id", olds(), inputs({ namePrefix: undefined }));
      assert.deepEqual(removedPrefix.replaces, ["namePrefix"]);
    });

    it("treats capabilities in another order, and an absent or empty namePrefix, as the same key", async () => {
      const reordered = inputs({ capabilities: [...CAPABILITIES].reverse() });
      assert.deepEqual(await provider.diff("id", olds(), reordered), { changes: false });
      const noPrefix = { ...olds(), namePrefix: undefined };
      assert.deepEqual(await provider.diff("id", noPrefix, inputs({ namePrefix: "" })), { changes: false });
    });

    it("replaces when a replacing input is not known until apply (preview)", async () => {
      const result = await provider.diff("id", olds(), inputs({ bucketName: pulumi.runtime.unknownValue }));
      assert.deepEqual(result.replaces, ["bucketName"]);
      const capabilities = await provider.diff("id", olds(), inputs({ capabilities: [pulumi.runtime.unknownValue] }));
      assert.deepEqual(capabilities.replaces, ["capabilities"]);
    });
  });

  describe("check", () => {
    it("accepts valid inputs, and does not judge values unknown during preview", async () => {
      assert.deepEqual(await provider.check({}, inputs()), { inputs: inputs() });
      const unknown = pulumi.runtime.unknownValue;
      const preview = inputs({ bucketName: unknown, keyName: unknown, capabilities: [unknown, "readFiles"], authKey: unknown });
      assert.equal((await provider.check({}, preview)).failures, undefined);
      assert.equal((await provider.check({}, inputs({ capabilities: unknown }))).failures, undefined);
    });

    it("reports each bad input with its property and an actionable reason instead of throwing", async () => {
      const { failures } = await provider.check(
        {},
        inputs({
          authKey: undefined,
          bucketName: "b2-photos",
          keyName: "immich_offsite!",
          capabilities: ["readFiles", "writeKeys", "readfiles", "readFiles", "fly"],
          authUrl: "http://b2.example.com",
        }),
      );
      const reasons = Object.fromEntries((failures ?? []).map((failure) => [failure.property, failure.reason]));
      assert.deepEqual(Object.keys(reasons).sort(), [
        "authKey",
        "authUrl",
        "bucketName",
        "capabilities[1]",
        "capabilities[2]",
        "capabilities[3]",
        "capabilities[4]",
        "keyName",
      ]);
      assert.match(reasons.authKey ?? "", /authKey is required: set credentials\.offsite\.applicationKeyId and applicationKey/);
      assert.match(reasons.authUrl ?? "", /must use https/);
      assert.match(reasons.bucketName ?? "", /cannot start with "b2-"/);
      assert.match(reasons.keyName ?? "", /only letters, digits and "-"/);
      assert.match(reasons["capabilities[1]"] ?? "", /"writeKeys" is account-wide/);
      assert.match(reasons["capabilities[2]"] ?? "", /did you mean "readFiles"\?/);
      assert.match(reasons["capabilities[3]"] ?? "", /"readFiles" is listed twice/);
      assert.match(reasons["capabilities[4]"] ?? "", /unknown capability "fly"; a bucket-restricted key may have: listAllBucketNames, /);
    });

    it("limits key names to 100 characters and needs at least one capability", async () => {
      const long = await provider.check({}, inputs({ keyName: "k".repeat(101), capabilities: [] }));
      assert.deepEqual(
        long.failures?.map((failure) => failure.property),
        ["keyName", "capabilities"],
      );
      assert.match(long.failures?.[0]?.reason ?? "", /101 characters long; B2 allows at most 100/);
      assert.equal((await provider.check({}, inputs({ keyName: "k".repeat(100) }))).failures, undefined);
    });
  });

  describe("the B2ApplicationKey resource", () => {
    async function declare() {
      let key: B2ApplicationKey | undefined;
      const run = await runProgram(
        () => {
          key = new B2ApplicationKey("immich-offsite", {
            authKeyId: "004plainkeyid",
            authKey: "K004plainsecret",
            bucketName: BUCKET,
            keyName: "immich-offsite",
            capabilities: CAPABILITIES,
            namePrefix: "immich/",
          });
        },
        { project: "p", stack: "s", config: {}, secretKeys: [] },
      );
      const resource = run.resources.find((candidate) => candidate.type === "pulumi-nodejs:dynamic:Resource");
      assert.ok(resource && key, "a dynamic resource was registered");
      return { resource, key };
    }

    it("registers under mocks with the credentials as secrets and applicationKey as a secret output", async () => {
      const { resource, key } = await declare();
      assert.equal(resource.name, "immich-offsite");
      assert.deepEqual(resource.inputs.authKey, { [SIG]: SECRET, value: "K004plainsecret" });
      assert.deepEqual(resource.inputs.authKeyId, { [SIG]: SECRET, value: "004plainkeyid" });
      const printable = JSON.stringify(redact(resource.inputs));
      assert.ok(!printable.includes("K004plainsecret") && !printable.includes("004plainkeyid"));
      assert.deepEqual(
        { bucketName: resource.inputs.bucketName, capabilities: resource.inputs.capabilities, namePrefix: resource.inputs.namePrefix },
        { bucketName: BUCKET, capabilities: CAPABILITIES, namePrefix: "immich/" },
      );
      assert.ok(resource.options.additionalSecretOutputs.includes("applicationKey"));
      assert.equal(resource.options.deleteBeforeReplace, false);
      // Outputs are wired to the resource (not shadowed by class fields).
      const keyName = await new Promise((resolve) => key.keyName.apply(resolve));
      assert.equal(keyName, "immich-offsite");
    });

    it("serializes a self-contained provider that creates and deletes keys on its own", async () => {
      const { resource } = await declare();
      const text = reveal(resource.inputs.__provider);
      assert.equal(typeof text, "string");
      const required = [...String(text).matchAll(/require\(["']([^"']+)["']\)/g)].map((match) => match[1]);
      assert.deepEqual(required, [], "the serialized provider pulls in no module");

      // Load it the way Pulumi's dynamic provider host does, then use it.
      const dir = mkdtempSync(join(tmpdir(), "b2-provider-"));
      writeFileSync(join(dir, "provider.js"), String(text));
      const serialized = methods((require(join(dir, "provider.js")) as { handler: () => Provider }).handler());
      rmSync(dir, { recursive: true });
      const { id, outs } = await serialized.create(inputs());
      assert.ok(fake.keys.has(id));
      assert.deepEqual(await serialized.diff(id, reveal(outs) as Props, inputs()), { changes: false });
      assert.deepEqual((await serialized.diff(id, reveal(outs) as Props, inputs({ authKey: "K004rotated" }))).replaces, []);
      await serialized.remove(id, reveal(outs) as Props);
      assert.equal(fake.keys.has(id), false);
    });
  });
});
