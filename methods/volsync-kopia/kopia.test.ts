/**
 * Every Kopia script the program generates, run as generated against REAL Kopia (the pinned
 * 0.22.3) on repositories written the way the VolSync Kopia mover writes them
 * (test/support/kopiaMover.ts: snapshots of <username>@<hostname>:/data), on a filesystem
 * repository (the NAS share, a local directory) and on an S3 repository (MinIO, provisioned as the
 * plan declares its buckets and keys, behind a TLS front: see test/support/kopia.ts).
 *
 * The scripts come from the example stack's offline plan (with apps.immich.kopiaMirrors: [b2]):
 * the restore drill CronJob immich-library-drill (kopiaVolumeDrill, canary configured), the
 * verification CronJobs immich-kopia-verify-nas / -b2 (kopiaVerify), the mirror CronJob
 * immich-kopia-mirror-nas-b2 (kopiaMirror), and the runbook page immich.md (Kopia restores and the
 * mirror's connect command). Their environment is the Secret their ExternalSecret renders from the
 * store; the plan drills immich/library on b2 only, so the NAS drill runs the same script with the
 * NAS repository's Secret (hb-immich-library-nas). The only changes made to generated text: the
 * pod paths of the NAS share (/mnt/repository, /backup) become the test's share directory
 * (relocatePath), the planned S3 host becomes the TLS front (pointKopiaAtTestServer), NTFY_URL and
 * HEALTHCHECKS_URL point at a recorder, and SSL_CERT_FILE is added (the image trusts the real
 * endpoints through its CA bundle). The jobs run as the test's user (root here), not the pods' uids.
 *
 * Not covered: the R2 copies (same scripts, region "auto"), SFTP repositories (the arr drills), and
 * the restore through a ReplicationDestination (the mover's restore side is not emulated).
 *
 * Each behaviour has its negative control: a good snapshot passes; a wrong password, a snapshot
 * too old, corrupted blobs and a missing canary fail with the message the script promises.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CANARY_FILE } from "../../domain/jobs/canary";
import { DRILL_TOOLS } from "../../domain/jobs/drills";
import { VERIFY_TOOLS } from "../../domain/jobs/verify";
import { KOPIA_MIRROR_TOOLS } from "./mirror";
import { filesystemBlobs, KopiaSnapshot, pointEnvAtTestServer, pointKopiaAtTestServer, scramble, startTlsFront, TlsFront } from "../../test/support/kopia";
import { KopiaSourceSpec, runKopiaMover } from "../../test/support/kopiaMover";
import {
  blockWith,
  credentialCliShims,
  fillPlaceholder,
  findObject,
  MinioServer,
  planStack,
  PlannedStack,
  provisionDestination,
  relocatePath,
  runbookSection,
  runShell,
  scriptToolDir,
  secretData,
  startS3Server,
  toolPath,
  writeRandomFile,
} from "../../test/support/s3Server";
import { editedConfig } from "../../test/support/stack";
import { exec, RecordedRequest, Recorder, startRecorder, tempDir } from "../../test/support/services";

const NAMESPACE = "immich";
const SHARE_MOUNT = "/mnt/repository";
const MIRROR_MOUNT = "/backup";
const B2_HOST = "s3.us-east-005.backblazeb2.com";
const PLANNED_NTFY = "NTFY_URL='https://ntfy.nora.example/backups'";
const WRONG_PASSWORD = "wrong-kopia-passw0rd-for-the-test";

interface Job {
  code: number | null;
  output: string;
  ntfy: RecordedRequest[];
  pings: { path: string; body: string }[];
}

interface CronJobShape {
  spec: { jobTemplate: { spec: { template: { spec: { containers: { command: string[]; envFrom: { secretRef: { name: string } }[] }[] } } } } };
}

const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);
const canaryText = (name: string, at: Date) => `homelab-backups canary ${name}\nepoch=${Math.floor(at.getTime() / 1000)}\ntime=${at.toISOString().replace(/\.\d+Z$/, "Z")}\n`;

describe("VolSync Kopia: the generated scripts against real Kopia (filesystem and S3 repositories)", function () {
  this.timeout(60_000);
  let stack: PlannedStack;
  let root: string;
  let recorder: Recorder;
  let counter = 0;
  const bins = new Map<string, string>();
  let secretValues: string[] = [];

  before(async () => {
    root = tempDir("kopia-real");
    recorder = await startRecorder();
    stack = await planStack(editedConfig((c) => (c.apps.immich.kopiaMirrors = ["b2"])), { "healthchecks/ping-key": "hc-test-ping-key" });
    secretValues = [...stack.store.entries()].filter(([ref]) => !ref.startsWith("healthchecks/")).map(([, value]) => value).concat(WRONG_PASSWORD);
  });
  after(async () => {
    await recorder?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const fresh = (name: string) => {
    const dir = join(root, `${name}-${++counter}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const cronJob = (name: string) => findObject(stack.objects, "CronJob", NAMESPACE, name) as CronJobShape;
  const container = (name: string) => cronJob(name).spec.jobTemplate.spec.template.spec.containers[0]!;
  /** The CronJob's script as generated, notifying the recorder. */
  const scriptOf = (name: string) => {
    const script = container(name).command[2]!;
    assert.equal(script.split(PLANNED_NTFY).length, 2, `${name} sets NTFY_URL once`);
    return script.replace(PLANNED_NTFY, `NTFY_URL='${recorder.url}/ntfy'`);
  };
  /** The Secret a CronJob reads (its envFrom), as the ExternalSecret renders it. */
  const jobSecret = (name: string) => secretData(stack.objects, NAMESPACE, container(name).envFrom[0]!.secretRef.name, stack.store);
  const repositorySecret = (source: string) => secretData(stack.objects, NAMESPACE, sourceSpec(source).repository, stack.store);
  const sourceSpec = (name: string) => (findObject(stack.objects, "ReplicationSource", NAMESPACE, name) as { spec: { kopia: KopiaSourceSpec & { repository: string } } }).spec.kopia;
  /** KOPIA_REPOSITORY=filesystem:///mnt/repository/... moved below `share`. */
  const onShare = (env: Record<string, string>, share: string) => ({ ...env, KOPIA_REPOSITORY: `filesystem://${relocatePath(env.KOPIA_REPOSITORY!.replace(/^filesystem:\/\//, ""), SHARE_MOUNT, share)}` });

  /** Runs a generated script as its CronJob does (`sh -c`), PATH of only its declared tools, `env` as its Secret gives it. */
  async function runJob(kind: string, tools: readonly string[], script: string, env: Record<string, string>): Promise<Job> {
    let bin = bins.get(kind);
    if (!bin) bins.set(kind, (bin = scriptToolDir(root, tools)));
    const tmp = fresh(`tmp-${kind}`);
    recorder.requests.length = 0;
    const result = await exec("/bin/sh", ["-c", script], {
      env: { ...env, PATH: bin, HOME: tmp, TMPDIR: tmp, HEALTHCHECKS_URL: `${recorder.url}/hc` },
      cwd: tmp,
      timeoutMs: 50_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    const job: Job = {
      code: result.code,
      output,
      ntfy: recorder.requests.filter((r) => r.path === "/ntfy"),
      pings: recorder.requests.filter((r) => r.path.startsWith("/hc")).map((r) => ({ path: r.path.slice(3) || "/", body: r.body })),
    };
    for (const secret of secretValues) {
      assert.ok(!output.includes(secret), `the ${kind} job printed a secret:\n${output}`);
      for (const request of recorder.requests) assert.ok(!request.body.includes(secret), "a notification carries a secret");
    }
    return job;
  }

  function passed(job: Job, title: RegExp): string {
    assert.equal(job.code, 0, `the job failed:\n${job.output}`);
    assert.equal(job.ntfy.length, 1, job.output);
    assert.match(String(job.ntfy[0]!.headers.title), title);
    assert.deepEqual(job.pings.map((p) => p.path), ["/start", "/"]);
    return job.ntfy[0]!.body;
  }

  function failed(job: Job, reason: RegExp): string {
    assert.ok(job.code !== 0 && job.code !== null, `the job should have failed:\n${job.output}`);
    assert.equal(job.ntfy.length, 1, job.output);
    assert.match(String(job.ntfy[0]!.headers.title), /FAILED/);
    assert.match(job.ntfy[0]!.body, reason, job.output);
    assert.deepEqual(job.pings.map((p) => p.path), ["/start", "/fail"]);
    assert.equal(job.pings[1]!.body, job.ntfy[0]!.body);
    return job.ntfy[0]!.body;
  }

  /** A volume of 10 small files and an empty one (the drill lists 11 with the canary and, sampling 20, restores them all: damage to any data pack fails it) and, with `canaryAt`, the canary job's file. */
  function volume(name: string, canaryAt?: Date): string {
    const dir = fresh(name);
    for (let i = 0; i < 10; i++) writeRandomFile(join(dir, `albums/${i % 3}/photo-${String(i).padStart(2, "0")}.jpg`), 300 + 97 * i);
    writeFileSync(join(dir, "empty.txt"), "");
    if (canaryAt) writeFileSync(join(dir, CANARY_FILE), canaryText("immich/library", canaryAt));
    return dir;
  }

  const drillScript = () => scriptOf("immich-library-drill");
  const drill = (env: Record<string, string>) => runJob("drill", DRILL_TOOLS.kopiaVolumeDrill, drillScript(), env);
  const verify = (name: string, env: Record<string, string>) => runJob("verify", VERIFY_TOOLS.kopiaVerify, scriptOf(name), env);

  /** Snapshots as Kopia lists them, connected with `env` (a filesystem path or S3 flags). */
  async function snapshotsOf(connect: string[], env: Record<string, string>): Promise<KopiaSnapshot[]> {
    const dir = fresh("client");
    const base = [`--config-file=${dir}/c.config`];
    const environment = { PATH: "/usr/bin:/bin", HOME: dir, KOPIA_CHECK_FOR_UPDATES: "false", ...env };
    const connected = await exec(toolPath("kopia"), [...base, "repository", "connect", ...connect], { env: environment });
    assert.equal(connected.code, 0, connected.stderr);
    const listed = await exec(toolPath("kopia"), [...base, "snapshot", "list", "--all", "--json"], { env: environment });
    assert.equal(listed.code, 0, listed.stderr);
    return JSON.parse(listed.stdout) as KopiaSnapshot[];
  }

  const drillSummary = /^immich\/library: restored 11 of 11 files \(\d+ bytes\) from snapshot (\w{8}) of \S+ \(0 h \d+ min old, 2 snapshots\), sizes match; canary of \S+ found, 1 h \d+ min older than the snapshot; kopia snapshot verify \(5% of files read\) passed/;

  // -------------------------------------------------------------------------------------------

  describe("on the NAS (filesystem repository)", () => {
    let share: string;
    let env: Record<string, string>;
    let volumeDir: string;
    let newest: KopiaSnapshot;
    const spec = () => sourceSpec("immich-library-nas");

    /** A share holding the immich repository as the mover writes it, one mover run per snapshot. */
    async function repositoryOn(snapshots: { data: string; startTime?: Date; spec?: KopiaSourceSpec }[]): Promise<string> {
      const dir = fresh("share");
      const cacheDir = fresh("mover-cache");
      for (const snapshot of snapshots) {
        await runKopiaMover({ secret: repositorySecret("immich-library-nas"), spec: snapshot.spec ?? spec(), dataDir: snapshot.data, cacheDir, mounts: { [SHARE_MOUNT]: dir }, startTime: snapshot.startTime });
      }
      return dir;
    }

    before(async () => {
      const old = volume("old", hoursAgo(61));
      volumeDir = volume("now", hoursAgo(1));
      writeRandomFile(join(old, "albums/0/photo-00.jpg"), 5000); // differs from the newest snapshot's
      const other = volume("other", hoursAgo(0.5));
      share = await repositoryOn([{ data: old, startTime: hoursAgo(60) }, { data: volumeDir }, { data: other, spec: { ...spec(), username: "immich-thumbs" } }]);
      env = onShare(repositorySecret("immich-library-nas"), share);
      const listed = await snapshotsOf(["filesystem", `--path=${env.KOPIA_REPOSITORY!.slice("filesystem://".length)}`], { KOPIA_PASSWORD: env.KOPIA_PASSWORD! });
      assert.deepEqual(listed.map((s) => `${s.source.userName}@${s.source.host}:${s.source.path}`).sort(), ["immich-library@immich:/data", "immich-library@immich:/data", "immich-thumbs@immich:/data"]);
      newest = listed.filter((s) => s.source.userName === "immich-library").sort((a, b) => b.startTime.localeCompare(a.startTime))[0]!;
    });

    it("the drill passes on a good snapshot: the newest of its own identity, all 11 files restored, the canary found", async () => {
      const body = passed(await drill(env), /^immich\/library restore drill succeeded$/);
      assert.match(body, drillSummary);
      assert.equal(drillSummary.exec(body)![1], newest.id.slice(0, 8), "the newest snapshot of immich-library@immich, not immich-thumbs' newer one");
    });

    it("the drill fails on a wrong password", async () => {
      failed(await drill({ ...env, KOPIA_PASSWORD: WRONG_PASSWORD }), /FAILED at step: open the Kopia repository[\s\S]*invalid repository password[\s\S]*cannot open the Kopia repository/);
    });

    it("the drill fails when the newest snapshot is too old", async () => {
      const stale = await repositoryOn([{ data: volume("stale", hoursAgo(61)), startTime: hoursAgo(60) }]);
      failed(await drill(onShare(repositorySecret("immich-library-nas"), stale)), /FAILED at step: check the age of snapshot \w{8}[\s\S]*is 60 h \d+ min old, more than 50 h: backups of this volume have stopped/);
    });

    it("the drill fails without the canary, and with another volume's identity only", async () => {
      const noCanary = await repositoryOn([{ data: volume("no-canary") }]);
      failed(await drill(onShare(repositorySecret("immich-library-nas"), noCanary)), /FAILED at step: check the canary[\s\S]*holds no canary file \.homelab-backups-canary/);
      const others = await repositoryOn([{ data: volume("others", hoursAgo(1)), spec: { ...spec(), username: "immich-thumbs" } }]);
      failed(await drill(onShare(repositorySecret("immich-library-nas"), others)), /holds no snapshot of immich-library@immich/);
    });

    it("the drill and the verification fail on corrupted blobs; the same copy passes before", async () => {
      const copy = fresh("corrupt-share");
      cpSync(share, copy, { recursive: true });
      const copyEnv = onShare(repositorySecret("immich-library-nas"), copy);
      passed(await verify("immich-kopia-verify-nas", copyEnv), /succeeded/);
      const packs = [...filesystemBlobs(copyEnv.KOPIA_REPOSITORY!.slice("filesystem://".length))].filter(([id]) => id.startsWith("p"));
      assert.ok(packs.length > 0, "the repository has data packs");
      for (const [, path] of packs) scramble(path);
      // The drill reads every sampled file: damaged data fails it.
      failed(await drill(copyEnv), /FAILED at step: (kopia snapshot verify|restore 11 sample files)[\s\S]*(error|invalid|failed)/i);
      // The verification reads back only 1/parts of the files per run (here none of 11 at 4%), so damaged data
      // may pass one run: that is its design. Damaged metadata (the q packs: directories, manifests) fails every run.
      for (const [, path] of [...filesystemBlobs(copyEnv.KOPIA_REPOSITORY!.slice("filesystem://".length))].filter(([id]) => id.startsWith("q"))) scramble(path);
      failed(await verify("immich-kopia-verify-nas", copyEnv), /FAILED at step: (list the snapshots|kopia snapshot verify)[\s\S]*(error|invalid|failed|malformed)/i);
    });

    it("the verification checks every snapshot, and fails on a wrong password", async () => {
      const verifyEnv = onShare(jobSecret("immich-kopia-verify-nas"), share);
      assert.equal(verifyEnv.KOPIA_REPOSITORY, env.KOPIA_REPOSITORY, "the verification reads the repository the mover writes");
      assert.match(passed(await verify("immich-kopia-verify-nas", verifyEnv), /succeeded/), /checked all 3 snapshots, reading back 4% of the files, and found no errors/);
      failed(await verify("immich-kopia-verify-nas", { ...verifyEnv, KOPIA_PASSWORD: WRONG_PASSWORD }), /FAILED at step: open the Kopia repository[\s\S]*invalid repository password/);
    });

    /**
     * The runbook's "One file or directory" block, its placeholder filled; with `sourceFix`, the
     * source it lists given its path (see the BUG below), the only change.
     */
    const runbookRestore = (section: string, sourceFix: boolean, path: string) => {
      const block = fillPlaceholder(blockWith(section, "kopia snapshot restore"), "<path in the volume>", path);
      if (!sourceFix) return block;
      const listing = /snapshot list immich-library@immich(?=\s)/g;
      assert.equal(block.match(listing)?.length, 2, block);
      return block.replace(listing, "snapshot list immich-library@immich:/data");
    };

    async function nasRunbook(credentials: "kubectl get secret" | "op read", sourceFix: boolean): Promise<void> {
      const section = relocatePath(runbookSection(stack.runbook("immich"), "volume-library-from-nas"), SHARE_MOUNT, share);
      const login = blockWith(section, credentials);
      const restore = runbookRestore(section, sourceFix, "albums/0/photo-00.jpg");
      const work = fresh("runbook");
      const shims = credentialCliShims(root, { vault: stack.config.secretStore.vault!, store: stack.store, secrets: { [`${NAMESPACE}/${sourceSpec("immich-library-nas").repository}`]: repositorySecret("immich-library-nas") } });
      const bin = scriptToolDir(root, ["kopia", "jq", "head", "cat", "base64"], shims);
      const result = await runShell(`${login}\n${restore}`, { cwd: work, env: { PATH: bin, HOME: work, KOPIA_CHECK_FOR_UPDATES: "false" } });
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      for (const entry of [/^albums$/m, /^\.homelab-backups-canary$/m]) assert.match(result.stdout, entry, "kopia ls lists the volume's root");
      assert.deepEqual(readFileSync(join(work, "restore")), readFileSync(join(volumeDir, "albums/0/photo-00.jpg")), "the newest snapshot's file (the older one differs)");
    }

    // BUG: the runbook's "One file or directory" block (kopiaFileRestore in methods/volsync/runbook.ts, every Kopia copy)
    // runs `kopia snapshot list <username>@<hostname>` and `... --json | jq 'max_by(.startTime) | .rootEntry.obj'`.
    // Kopia 0.22.3 parses `user@host` as the source user@host with an EMPTY path, which matches no snapshot
    // (the mover's are `user@host:/data`): the listing is empty, jq prints `null`, and
    // `kopia snapshot restore "null/<path>"` fails ("malformed content ID: \"null\""). Fix: name the
    // mover's source with its path, `kopia snapshot list <username>@<hostname>:/data` (both lines), or
    // `snapshot list --all --json | jq '[.[] | select(.source.userName == U and .source.host == H)] | max_by(.startTime) ...'`.
    // Un-skip once fixed; the tests after it show the block works with exactly that fix.
    it.skip("the runbook restores one file of the newest snapshot, as generated (BUG: `snapshot list user@host` lists nothing)", async () => {
      await nasRunbook("op read", false);
    });

    for (const credentials of ["kubectl get secret", "op read"] as const) {
      it(`the runbook restores one file of the newest snapshot once its source names /data (credentials with ${credentials})`, async () => {
        await nasRunbook(credentials, true);
      });
    }

    it("negative control: the runbook block as generated restores nothing (the BUG above)", async () => {
      await assert.rejects(nasRunbook("op read", false), /malformed content ID: "null"/);
    });

    // -----------------------------------------------------------------------------------------

    describe("and on B2 (S3 repository on MinIO, behind TLS), with the mirror of the NAS repository", () => {
      let server: MinioServer;
      let front: TlsFront;
      let s3Env: Record<string, string>;
      let s3Volume: string;
      const moverCache = () => join(root, "b2-mover-cache");
      const tls = () => ({ SSL_CERT_FILE: front.caFile });
      const s3Secret = (cronJobName: string) => ({ ...pointEnvAtTestServer(jobSecret(cronJobName), B2_HOST, front), ...tls() });

      before(async () => {
        server = await startS3Server({ region: "us-east-005" });
        await provisionDestination(server, stack.resources, "b2");
        front = await startTlsFront(server.hostPort);
        s3Env = s3Secret("immich-library-drill");
        mkdirSync(moverCache(), { recursive: true });
      });
      after(async () => {
        await front?.stop();
        await server?.stop();
      });

      const mover = (data: string, startTime?: Date) =>
        runKopiaMover({ secret: pointEnvAtTestServer(repositorySecret("immich-library-b2"), B2_HOST, front), spec: sourceSpec("immich-library-b2"), dataDir: data, cacheDir: moverCache(), extraEnv: tls(), startTime });

      it("the drill fails while the only snapshot is too old, then passes on a fresh one; a wrong password fails", async () => {
        assert.equal(s3Env.KOPIA_REPOSITORY, repositorySecret("immich-library-b2").KOPIA_REPOSITORY, "the drill reads the repository the mover writes");
        await mover(volume("b2-old", hoursAgo(61)), hoursAgo(60));
        failed(await drill(s3Env), /FAILED at step: check the age of snapshot \w{8}[\s\S]*is 60 h \d+ min old, more than 50 h/);
        s3Volume = volume("b2-now", hoursAgo(1));
        await mover(s3Volume);
        assert.match(passed(await drill(s3Env), /succeeded/), drillSummary);
        failed(await drill({ ...s3Env, KOPIA_PASSWORD: WRONG_PASSWORD }), /FAILED at step: open the Kopia repository[\s\S]*invalid repository password/);
      });

      it("the verification passes (all 2 snapshots) and fails on a wrong password", async () => {
        const verifyEnv = s3Secret("immich-kopia-verify-b2");
        assert.match(passed(await verify("immich-kopia-verify-b2", verifyEnv), /succeeded/), /checked all 2 snapshots/);
        failed(await verify("immich-kopia-verify-b2", { ...verifyEnv, KOPIA_PASSWORD: WRONG_PASSWORD }), /invalid repository password/);
      });

      it("the runbook restores one file from B2 once its source names /data (credentials from the store)", async () => {
        const section = pointKopiaAtTestServer(runbookSection(stack.runbook("immich"), "volume-library-from-b2"), B2_HOST, front);
        const login = blockWith(section, "op read");
        const restore = runbookRestore(section, true, "albums/1/photo-07.jpg"); // the BUG above, fixed
        const work = fresh("runbook-b2");
        const shims = credentialCliShims(root, { vault: stack.config.secretStore.vault!, store: stack.store, secrets: {} });
        const bin = scriptToolDir(root, ["kopia", "jq", "head", "cat"], shims);
        const result = await runShell(`${login}\n${restore}`, { cwd: work, env: { PATH: bin, HOME: work, KOPIA_CHECK_FOR_UPDATES: "false", ...tls() } });
        assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
        assert.deepEqual(readFileSync(join(work, "restore")), readFileSync(join(s3Volume, "albums/1/photo-07.jpg")));
      });

      it("the mirror copies the NAS repository to its prefix, which the runbook opens read-only and restores from", async () => {
        const mirrorScript = pointKopiaAtTestServer(relocatePath(scriptOf("immich-kopia-mirror-nas-b2"), MIRROR_MOUNT, share), B2_HOST, front);
        const mirrorEnv = { ...jobSecret("immich-kopia-mirror-nas-b2"), ...tls() };
        const emptyShare = () => {
          const dir = fresh("empty-share");
          mkdirSync(join(dir, "ether/kopia/immich"), { recursive: true });
          return dir;
        };
        const mirror = (script: string, env: Record<string, string>) => runJob("mirror", KOPIA_MIRROR_TOOLS, script, env);
        // Negative controls first: nothing may reach the mirror from a missing repository or with a wrong password.
        failed(await mirror(pointKopiaAtTestServer(relocatePath(scriptOf("immich-kopia-mirror-nas-b2"), MIRROR_MOUNT, emptyShare()), B2_HOST, front), mirrorEnv), /holds no Kopia repository \(no kopia\.repository\.f\): nothing to mirror/);
        failed(await mirror(mirrorScript, { ...mirrorEnv, KOPIA_PASSWORD: WRONG_PASSWORD }), /FAILED at step: connect to the NAS repository[\s\S]*invalid repository password/);
        passed(await mirror(mirrorScript, mirrorEnv), /succeeded/);

        const section = pointKopiaAtTestServer(runbookSection(stack.runbook("immich"), "kopia-mirror"), B2_HOST, front);
        const open = blockWith(section, "kopia repository connect s3 --readonly");
        const work = fresh("runbook-mirror");
        const shims = credentialCliShims(root, { vault: stack.config.secretStore.vault!, store: stack.store, secrets: {} });
        const bin = scriptToolDir(root, ["kopia", "jq", "head", "cat"], shims);
        const restore = [
          "SNAPSHOT=$(kopia snapshot list immich-library@immich:/data --json | jq -r 'max_by(.startTime) | .rootEntry.obj')",
          'kopia snapshot restore "$SNAPSHOT/albums/0/photo-00.jpg" ./restore',
        ].join("\n");
        const result = await runShell(`${open}\n${restore}`, { cwd: work, env: { PATH: bin, HOME: work, KOPIA_CHECK_FOR_UPDATES: "false", ...tls() } });
        assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
        for (const source of ["immich-library@immich:/data", "immich-thumbs@immich:/data"]) assert.ok(result.stdout.includes(source), `the mirror lists the NAS repository's snapshots of ${source}:\n${result.stdout}`);
        assert.deepEqual(readFileSync(join(work, "restore")), readFileSync(join(volumeDir, "albums/0/photo-00.jpg")));
      });

      it("the drill fails on corrupted blobs in the bucket", async () => {
        const bucket = /^s3:\/\/([^/]+)\/(.*)$/.exec(s3Env.KOPIA_REPOSITORY!)!;
        const listing = await server.mustMc(["ls", "--recursive", "--json", `root/${bucket[1]}/${bucket[2]}`]);
        const packs = listing
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as { key: string; size: number })
          .filter((entry) => entry.key.startsWith("p"));
        assert.ok(packs.length > 0, `no data packs in:\n${listing}`);
        for (const pack of packs) {
          const garbage = randomBytes(Math.ceil(pack.size / 2)).toString("hex").slice(0, pack.size); // as long as the pack, undecryptable
          await server.mustMc(["pipe", `root/${bucket[1]}/${bucket[2]}${pack.key}`], { input: garbage });
        }
        failed(await drill(s3Env), /FAILED at step: (kopia snapshot verify|restore 11 sample files)[\s\S]*(error|invalid|failed)/i);
      });
    });
  });
});
