/**
 * The S3 test server itself (test/support/s3Server.ts): real MinIO and real mc, one server for the
 * file, buckets per test. What the other S3 tests rely on is proven here: versioning keeps old
 * versions, GOVERNANCE and COMPLIANCE retention refuse deleting a locked version, a user with
 * scopedKeyPolicy cannot reach another bucket or outside its prefix and, without delete, can only
 * hide; the server refuses requests signed for another region; a missing tool fails with its name.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { exec, tempDir } from "./support/services";
import { MinioServer, S3Credentials, scopedKeyPolicy, startS3Server, toolPath } from "./support/s3Server";

describe("the S3 test server (MinIO)", function () {
  this.timeout(60_000);
  let s3: MinioServer;
  let root: string;
  let counter = 0;
  const bucketName = (what: string) => `${what}-${++counter}-${randomBytes(3).toString("hex")}`;

  before(async () => {
    s3 = await startS3Server();
    root = tempDir("s3-server");
  });
  after(async () => {
    await s3?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const put = (path: string, content: string, as?: S3Credentials) => s3.mc(["pipe", `${as ? "user" : "root"}/${path}`], { input: content, as });
  const cat = (path: string, as?: S3Credentials, versionId?: string) =>
    s3.mc(["cat", ...(versionId ? ["--version-id", versionId] : []), `${as ? "user" : "root"}/${path}`], { as });
  const denied = (result: { code: number | null; stdout: string; stderr: string }) => result.code !== 0 && /Access Denied|Insufficient permissions/i.test(result.stdout + result.stderr);

  it("answers on loopback for its region with the root credentials", async () => {
    assert.match(s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(s3.region, "us-east-005");
    const name = bucketName("plain");
    await s3.createBucket(name);
    assert.equal((await put(`${name}/a`, "hello")).code, 0);
    assert.equal((await cat(`${name}/a`)).stdout, "hello");
  });

  it("keeps every version in a versioned bucket: a delete only adds a marker", async () => {
    const name = bucketName("versioned");
    await s3.createBucket(name, { versioning: true });
    await put(`${name}/dir/f`, "one");
    await put(`${name}/dir/f`, "two");
    await s3.mustMc(["rm", `root/${name}/dir/f`]);
    const versions = await s3.listVersions(name, "dir/");
    assert.deepEqual(versions.map((v) => [v.key, v.deleteMarker]), [["dir/f", true], ["dir/f", false], ["dir/f", false]]);
    assert.notEqual((await cat(`${name}/dir/f`)).code, 0, "the current version is the marker");
    const oldest = versions[2]!;
    assert.equal((await cat(`${name}/dir/f`, undefined, oldest.versionId)).stdout, "one");
    assert.deepEqual(await s3.listVersions(name, "other/"), []);
  });

  it("refuses deleting a version under GOVERNANCE retention unless bypassed, and under COMPLIANCE always", async () => {
    for (const mode of ["GOVERNANCE", "COMPLIANCE"] as const) {
      const name = bucketName(mode.toLowerCase());
      await s3.createBucket(name, { objectLock: true, defaultRetention: { mode, days: 1 } });
      await put(`${name}/locked`, "keep me");
      const [version] = await s3.listVersions(name);
      const plain = await s3.mc(["rm", "--version-id", version!.versionId, `root/${name}/locked`]);
      assert.notEqual(plain.code, 0, `${mode}: deleting a locked version must fail`);
      assert.match(plain.stdout + plain.stderr, /retention|locked|WORM|protected/i);
      const bypass = await s3.mc(["rm", "--bypass", "--version-id", version!.versionId, `root/${name}/locked`]);
      if (mode === "GOVERNANCE") assert.equal(bypass.code, 0, `root may bypass governance:\n${bypass.stdout}${bypass.stderr}`);
      else assert.notEqual(bypass.code, 0, "nobody bypasses compliance");
      const left = (await s3.listVersions(name)).filter((v) => !v.deleteMarker);
      assert.equal(left.length, mode === "GOVERNANCE" ? 0 : 1);
    }
  });

  it("locks what a prefix holds with retain(), and nothing beside it", async () => {
    const name = bucketName("retain");
    await s3.createBucket(name, { objectLock: true });
    for (const key of ["r/config", "r/keys/k", "r/index/i"]) await put(`${name}/${key}`, key);
    assert.equal(await s3.retain(name, "r/config", "COMPLIANCE", 1), 1);
    assert.equal(await s3.retain(name, "r/keys/", "COMPLIANCE", 1), 1);
    for (const version of await s3.listVersions(name)) {
      const result = await s3.mc(["rm", "--version-id", version.versionId, `root/${name}/${version.key}`]);
      assert.equal(result.code === 0, version.key === "r/index/i", `${version.key}: ${result.stdout}${result.stderr}`);
    }
  });

  describe("a user with scopedKeyPolicy", () => {
    let own: string;
    let other: string;
    const hider: S3Credentials = { accessKey: "0050hiderhiderhider00001", secretKey: "K005hiderhiderhiderhiderhider01" };
    const deleter: S3Credentials = { accessKey: "0050deleterdeleter00002", secretKey: "K005deleterdeleterdeleter00002" };

    before(async () => {
      own = bucketName("own");
      other = bucketName("other");
      await s3.createBucket(own, { versioning: true, objectLock: true });
      await s3.createBucket(other, { versioning: true });
      await s3.createUser(hider.accessKey, hider.secretKey, scopedKeyPolicy({ bucket: own, namePrefix: "app/", canDelete: false }));
      await s3.createUser(deleter.accessKey, deleter.secretKey, scopedKeyPolicy({ bucket: own, namePrefix: "app/", canDelete: true }));
      await put(`${own}/neighbour/secret`, "not yours");
      await put(`${other}/secret`, "not yours either");
    });

    it("reads, writes and lists under its prefix", async () => {
      assert.equal((await put(`${own}/app/a`, "mine", hider)).code, 0);
      assert.equal((await cat(`${own}/app/a`, hider)).stdout, "mine");
      const listing = await s3.mc(["ls", "--recursive", `user/${own}/app/`], { as: hider });
      assert.equal(listing.code, 0, listing.stderr);
      assert.match(listing.stdout, /\ba$/m);
    });

    it("cannot touch another bucket", async () => {
      assert.ok(denied(await put(`${other}/x`, "no", hider)));
      assert.ok(denied(await cat(`${other}/secret`, hider)));
      assert.ok(denied(await s3.mc(["ls", `user/${other}/`], { as: hider })));
      assert.ok(denied(await s3.mc(["rm", `user/${other}/secret`], { as: deleter })));
    });

    it("cannot touch its bucket outside its prefix", async () => {
      assert.ok(denied(await put(`${own}/neighbour/x`, "no", hider)));
      assert.ok(denied(await put(`${own}/apple`, "no", hider)), "the prefix is app/, not app");
      assert.ok(denied(await cat(`${own}/neighbour/secret`, hider)));
      assert.ok(denied(await s3.mc(["ls", `user/${own}/`], { as: hider })));
      assert.ok(denied(await s3.mc(["ls", `user/${own}/neighbour/`], { as: hider })));
      assert.ok(denied(await s3.mc(["rm", `user/${own}/neighbour/secret`], { as: deleter })));
      assert.equal((await cat(`${own}/neighbour/secret`)).stdout, "not yours");
    });

    it("without delete, only hides: every version stays, deleting one is refused", async () => {
      await put(`${own}/app/h`, "v1", hider);
      await put(`${own}/app/h`, "v2", hider);
      assert.equal((await s3.mc(["rm", `user/${own}/app/h`], { as: hider })).code, 0, "a delete by name hides");
      const versions = await s3.listVersions(own, "app/h");
      assert.deepEqual(versions.map((v) => v.deleteMarker), [true, false, false]);
      for (const version of versions) {
        assert.ok(denied(await s3.mc(["rm", "--version-id", version.versionId, `user/${own}/app/h`], { as: hider })), `version ${version.versionId} must stay`);
      }
      assert.ok(denied(await s3.mc(["rm", "--recursive", "--versions", "--force", `user/${own}/app/`], { as: hider })));
      assert.ok(denied(await s3.mc(["rm", "--bypass", "--version-id", versions[2]!.versionId, `user/${own}/app/h`], { as: hider })));
      assert.equal((await s3.listVersions(own, "app/h")).length, 3);
      assert.equal((await cat(`${own}/app/h`, hider, versions[2]!.versionId)).stdout, "v1", "the consumer can still read what it hid");
    });

    it("with delete, destroys versions for good", async () => {
      await put(`${own}/app/d`, "gone soon", deleter);
      const [version] = await s3.listVersions(own, "app/d");
      assert.equal((await s3.mc(["rm", "--version-id", version!.versionId, `user/${own}/app/d`], { as: deleter })).code, 0);
      assert.deepEqual(await s3.listVersions(own, "app/d"), []);
    });
  });

  it("refuses a request signed for another region (restic 0.18.1 as the client)", async () => {
    const name = bucketName("region");
    await s3.createBucket(name);
    const restic = toolPath("restic");
    const run = (region: string) =>
      exec(restic, ["init"], {
        env: {
          PATH: "/usr/bin:/bin",
          HOME: root,
          RESTIC_CACHE_DIR: join(root, "cache"),
          RESTIC_PASSWORD: "region-test-password",
          RESTIC_REPOSITORY: `s3:${s3.endpoint}/${name}/${region}`,
          ...s3.awsEnv({ accessKey: s3.rootAccessKey, secretKey: s3.rootSecretKey }),
          AWS_DEFAULT_REGION: region,
        },
      });
    const wrong = await run("us-east-1");
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /region is wrong; expecting 'us-east-005'/);
    const right = await run("us-east-005");
    assert.equal(right.code, 0, right.stderr);
  });

  it("fails, naming the tool and how to get it, when a tool is missing", () => {
    const saved = process.env.HOMELAB_RESTIC;
    process.env.HOMELAB_RESTIC = join(root, "no-such-restic");
    try {
      assert.throws(() => toolPath("restic"), /HOMELAB_RESTIC=.*no-such-restic is not an executable file.*bash scripts\/test/);
    } finally {
      if (saved === undefined) delete process.env.HOMELAB_RESTIC;
      else process.env.HOMELAB_RESTIC = saved;
    }
  });

  it("stops: the process ends and the scratch directory is removed", async () => {
    const other = await startS3Server({ region: "auto" });
    assert.equal(other.region, "auto");
    const scratch = other.scratchDir;
    assert.ok(existsSync(scratch));
    await other.stop();
    assert.ok(!existsSync(scratch));
    const probe = await exec("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", `${other.endpoint}/minio/health/live`]);
    assert.equal(probe.stdout, "000", "nothing answers after stop");
  });
});
