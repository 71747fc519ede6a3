/**
 * The restore drill of a TrueNAS Cloud Sync copy, run as generated under Debian's sh (dash, or
 * busybox with JOB_SHELL=busybox) against copies encrypted the way TrueNAS encrypts them: an
 * rclone config file with the `[encrypted]` crypt section TrueNAS's middleware writes (passwords
 * obscured with its rclone_encrypt_password, re-implemented here) over a `local` "offsite"
 * remote, filled with `rclone copy`. Every run has a PATH of only CLOUDSYNC_DRILL_TOOLS and a
 * recorder standing in for ntfy and healthchecks.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { cpSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join, relative } from "node:path";
import { CLOUDSYNC_DRILL_ENV, CLOUDSYNC_DRILL_TOOLS, cloudSyncDrillScript, cloudSyncRemotePath } from "../domain/jobs/cloudsyncDrill";
import type { Notify } from "../domain/jobs/scripts";
import { CLOUDSYNC_SECRET_ENV } from "../domain/truenas";
import { BUSYBOX, Busybox, exec, mustExec, RecordedRequest, Recorder, startRecorder, tempDir, toolDir, jobShell } from "./support/services";

const SECRETS = { password: "cs-Passw0rd-Secret", salt: "cs-Salt-S3cretValue", ntfy: "tk_ntfyDrillToken" };
const WRONG = { password: "wrong-Passw0rd-Secret", salt: "wrong-Salt-S3cretValue" };
const ALL_SECRETS = [...Object.values(SECRETS), ...Object.values(WRONG)];
const BUCKET = "homelab-offsite";

/** TrueNAS's rclone_encrypt_password (plugins/cloud_sync/rclone.py): what `rclone obscure` does. */
function truenasObscure(password: string): string {
  const key = Buffer.from([
    0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b, 0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12, 0x8a, 0xfb,
    0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
  ]);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  return Buffer.concat([iv, cipher.update(password, "utf8"), cipher.final()]).toString("base64url");
}

/** The files of the dataset: nested directories, spaces, quotes, unicode, an empty file, multi-block files. */
function writeDataset(dir: string): void {
  const files: Record<string, Buffer | string> = {
    "photos/2024/IMG 0001.jpg": randomBytes(70_000),
    "photos/2024/IMG 0002.jpg": randomBytes(1_500),
    "photos/2025/été/plage ☀.jpg": randomBytes(140_000),
    "documents/tax 2024/return.pdf": randomBytes(9_000),
    "documents/notes.txt": "groceries\n",
    "数据/报告 final.txt": "年度报告\n",
    "a/b/c/d/deep.bin": randomBytes(300),
    ".hidden": "dotfile\n",
    "empty file": "",
    "it's $HOME & `x`.txt": "quoting\n",
  };
  for (let i = 1; i <= 20; i++) files[`many/file-${String(i).padStart(2, "0")}.txt`] = `file ${i}\n`.repeat(i);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** Relative paths and sizes of every file under dir, sorted bytewise as the drill sorts (LC_ALL=C). */
function listTree(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push({ path: relative(dir, full), size: statSync(full).size });
    }
  };
  walk(dir);
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

interface DrillRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ntfy: RecordedRequest[];
  pings: { path: string; body: string }[];
}


describe(`cloud sync restore drill against TrueNAS-style rclone crypt copies${BUSYBOX ? " (busybox)" : ""}`, function () {
  this.timeout(60_000);
  let root: string;
  let remoteRoot: string;
  let source: string;
  let bin: string;
  let recorder: Recorder;
  let shell: string[] = ["/bin/sh"];
  let busybox: Busybox | undefined;
  let runs = 0;

  const notify = (item: string): Notify => ({ app: "photos", item, ntfyUrl: `${recorder.url}/drills` });
  const objectsDir = (folder: string) => join(remoteRoot, BUCKET, folder);

  /** Pushes the dataset as a TrueNAS Cloud Sync task does: its config file, `rclone copy <path> encrypted:/`. */
  async function truenasPush(folder: string, filenameEncryption: boolean, salt: string, from = source): Promise<void> {
    const config = join(root, `truenas-${folder.replace(/\W/g, "_")}.conf`);
    writeFileSync(
      config,
      [
        "[encrypted]",
        "type = crypt",
        `remote = remote:${cloudSyncRemotePath(BUCKET, folder)}`,
        `filename_encryption = ${filenameEncryption ? "standard" : "off"}`,
        `password = ${truenasObscure(SECRETS.password)}`,
        ...(salt ? [`password2 = ${truenasObscure(salt)}`] : []),
        "[remote]",
        "type = local",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    await mustExec("rclone", ["--config", config, "copy", from, "encrypted:/"], { cwd: remoteRoot });
  }

  before(async () => {
    root = tempDir("drill");
    remoteRoot = join(root, "remote");
    source = join(root, "dataset");
    mkdirSync(join(remoteRoot, BUCKET), { recursive: true });
    writeDataset(source);
    recorder = await startRecorder();
    ({ shell, busybox } = await jobShell());
    bin = toolDir(root, CLOUDSYNC_DRILL_TOOLS, busybox);
    await Promise.all([
      truenasPush("truenas/photos", false, SECRETS.salt),
      truenasPush("truenas/photos-names", true, SECRETS.salt),
      truenasPush("nosalt", false, ""),
      truenasPush("corrupt", false, SECRETS.salt),
    ]);
    const slow = join(root, "slow-source");
    mkdirSync(slow);
    writeFileSync(join(slow, "video.mkv"), randomBytes(400_000));
    await truenasPush("slow", false, SECRETS.salt, slow);
    mkdirSync(objectsDir("empty"));
  });
  after(async () => {
    await recorder?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function jobEnv(env: Record<string, string | undefined>, tmp: string, hcPath: string): Record<string, string> {
    const full: Record<string, string | undefined> = {
      PATH: bin,
      HOME: root,
      TMPDIR: tmp,
      NTFY_TOKEN: SECRETS.ntfy,
      HEALTHCHECKS_URL: `${recorder.url}${hcPath}`,
      RCLONE_CONFIG_OFFSITE_TYPE: "local",
      CLOUDSYNC_ENCRYPTION_PASSWORD: SECRETS.password,
      CLOUDSYNC_ENCRYPTION_SALT: SECRETS.salt,
      ...env,
    };
    return Object.fromEntries(Object.entries(full).filter((e): e is [string, string] => e[1] !== undefined));
  }

  function collect(result: { code: number | null; signal: NodeJS.Signals | null; output: string }, script: string, tmp: string, hcPath: string): DrillRun {
    if (process.env.DEBUG_JOBS) {
      console.log(`--- drill exited ${result.code}\n${result.output}${recorder.requests.map((r) => `>>> ${r.method} ${r.path} ${r.headers.title ?? ""}\n${r.body}`).join("\n")}`);
    }
    for (const secret of ALL_SECRETS) {
      assert.ok(!script.includes(secret), "the script text contains a secret");
      assert.ok(!result.output.includes(secret), `the drill printed a secret:\n${result.output}`);
      for (const request of recorder.requests) {
        assert.ok(!request.body.includes(secret) && !String(request.headers.title ?? "").includes(secret), `a notification carries a secret: ${request.body}`);
      }
    }
    assert.deepEqual(readdirSync(tmp), [], "the drill leaves its temporary directory behind");
    return {
      ...result,
      ntfy: recorder.requests.filter((r) => r.path === "/drills"),
      pings: recorder.requests.filter((r) => r.path.startsWith(hcPath)).map((r) => ({ path: r.path.slice(hcPath.length) || "/", body: r.body })),
    };
  }

  /** Runs the drill as its CronJob would: `sh <file>`, PATH = the declared tools, "offsite" a local remote. */
  async function runDrill(script: string, env: Record<string, string | undefined> = {}): Promise<DrillRun> {
    const n = ++runs;
    const file = join(root, `drill-${n}.sh`);
    writeFileSync(file, script);
    const tmp = join(root, `tmp-${n}`);
    mkdirSync(tmp);
    const hcPath = `/hc/drill-${n}`;
    recorder.requests.length = 0;
    const result = await exec(shell[0]!, [...shell.slice(1), file], { env: jobEnv(env, tmp, hcPath), cwd: remoteRoot, timeoutMs: 50_000 });
    return collect({ code: result.code, signal: result.signal, output: result.stdout + result.stderr }, script, tmp, hcPath);
  }

  function assertSucceeded(run: DrillRun, item: string): RecordedRequest {
    assert.equal(run.code, 0, `the drill failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}`);
    const message = run.ntfy[0]!;
    assert.equal(message.method, "POST");
    assert.equal(message.headers.title, `photos/${item} restore drill succeeded`);
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: restored \\d+ of \\d+ files \\(\\d+ bytes\\) from offsite:.*all sizes match.*took \\d+ s$`));
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/"]);
    return message;
  }

  function assertFailed(run: DrillRun, item: string, reason: RegExp): RecordedRequest {
    assert.ok(run.code !== 0 && run.code !== null, `the drill should have failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} restore drill FAILED`);
    assert.equal(message.headers.priority, "high");
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    // commonPart (timed) says how long the drill ran before it failed.
    assert.match(message.body, new RegExp(`^photos/${item}: restore drill FAILED at step: .* \\(exit status \\d+\\) after \\d+ s\\n`));
    assert.match(message.body, reason);
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/fail"]);
    assert.match(run.pings[1]!.body, reason);
    return message;
  }

  /** The "restore i/n: <path>" steps the drill announced, in order. */
  const restoredPaths = (run: DrillRun) => [...run.output.matchAll(/^\d\d:\d\d:\d\dZ restore \d+\/\d+: (.*)$/gm)].map((m) => m[1]!);

  describe("script text", () => {
    const script = (over: Partial<Parameters<typeof cloudSyncDrillScript>[0]> = {}) =>
      cloudSyncDrillScript({ notify: { app: "photos", item: "originals", ntfyUrl: "https://ntfy.example.org/backups" }, bucket: BUCKET, folder: "truenas/photos", sampleFiles: 20, ...over });

    it("is deterministic POSIX sh that names its tools and reads every secret from the environment", async () => {
      assert.equal(script(), script());
      for (const text of [script(), script({ filenameEncryption: true, folder: "" })]) {
        assert.match(text, /^#!\/bin\/sh\n/);
        assert.match(text, /\nset -eu\n/);
        assert.match(text, new RegExp(`# Needs: ${CLOUDSYNC_DRILL_TOOLS.join(" ")}\\.`));
        assert.doesNotMatch(text, /set -o pipefail|\[\[|\bapk add\b|\bcurl\b|\bbash\b|^\s*local\s|^function\s/m);
        for (const secret of ALL_SECRETS) assert.ok(!text.includes(secret));
        const syntax = await exec(shell[0]!, [...shell.slice(1), "-n"], { input: text });
        assert.equal(syntax.code, 0, syntax.stderr);
      }
      assert.match(script(), /^FILENAME_ENCRYPTION=off$/m);
      assert.match(script({ filenameEncryption: true }), /^FILENAME_ENCRYPTION=standard$/m);
      assert.ok(CLOUDSYNC_DRILL_ENV.required.includes(CLOUDSYNC_SECRET_ENV.password));
      assert.ok([...CLOUDSYNC_DRILL_ENV.required, ...CLOUDSYNC_DRILL_ENV.optional].includes(CLOUDSYNC_SECRET_ENV.salt));
    });

    it("uses TrueNAS's remote path and refuses options that would break quoting", () => {
      assert.equal(cloudSyncRemotePath(BUCKET, "/truenas/photos/"), `${BUCKET}/truenas/photos`);
      assert.equal(cloudSyncRemotePath(BUCKET, ""), BUCKET);
      assert.equal(cloudSyncRemotePath(BUCKET, "/"), BUCKET);
      assert.match(script({ folder: "it's here" }), /^REMOTE_PATH='homelab-offsite\/it'\\''s here'$/m);
      assert.throws(() => script({ bucket: "a/b" }), /bucket/);
      assert.throws(() => script({ folder: "a\nb" }), /folder/);
      assert.throws(() => script({ folder: "a/../b" }), /folder/);
      assert.throws(() => script({ sampleFiles: 0 }), /sampleFiles/);
      assert.throws(() => script({ sampleFiles: 2.5 }), /sampleFiles/);
      assert.throws(() => script({ notify: { app: "photos", item: "../x" } }), /notify\.item/);
      assert.throws(() => script({ notify: { app: "photos", item: "x", ntfyUrl: "https://ntfy.sh/x'y" } }), /ntfyUrl/);
    });
  });

  it("restores every k-th file of the sorted listing with matching sizes, under a PATH of only its declared tools", async () => {
    assert.deepEqual(readdirSync(bin).sort(), [...CLOUDSYNC_DRILL_TOOLS].sort());
    const tree = listTree(source);
    const sampleFiles = 7;
    const k = Math.ceil(tree.length / sampleFiles);
    const expected = tree.filter((_, i) => i % k === 0);
    const run = await runDrill(cloudSyncDrillScript({ notify: notify("originals"), bucket: BUCKET, folder: "truenas/photos", sampleFiles }));
    const message = assertSucceeded(run, "originals");
    assert.deepEqual(restoredPaths(run), expected.map((f) => f.path));
    const bytes = expected.reduce((sum, f) => sum + f.size, 0);
    assert.ok(
      message.body.includes(`restored ${expected.length} of ${tree.length} files (${bytes} bytes) from offsite:${BUCKET}/truenas/photos`),
      message.body,
    );
    assert.match(message.body, /filename encryption off/);
  });

  it("restores every file of a copy with encrypted names when the sample is larger than the tree", async () => {
    const tree = listTree(source);
    const run = await runDrill(cloudSyncDrillScript({ notify: notify("names"), bucket: BUCKET, folder: "/truenas/photos-names/", sampleFiles: 1000, filenameEncryption: true }));
    const message = assertSucceeded(run, "names");
    assert.deepEqual(restoredPaths(run), tree.map((f) => f.path));
    assert.ok(message.body.includes(`restored ${tree.length} of ${tree.length} files (${tree.reduce((s, f) => s + f.size, 0)} bytes)`), message.body);
    assert.match(message.body, /filename encryption standard/);
    // The names really are encrypted on the remote: no plain name shows there.
    assert.ok(!listTree(objectsDir("truenas/photos-names")).some((f) => /IMG|notes|報告|plage/.test(f.path)));
  });

  it("with an empty salt uses rclone's built-in salt, as TrueNAS (no password2) does", async () => {
    const script = cloudSyncDrillScript({ notify: notify("nosalt"), bucket: BUCKET, folder: "nosalt", sampleFiles: 3 });
    assertSucceeded(await runDrill(script, { CLOUDSYNC_ENCRYPTION_SALT: undefined }), "nosalt");
    assertSucceeded(await runDrill(script, { CLOUDSYNC_ENCRYPTION_SALT: "" }), "nosalt");
    assertFailed(await runDrill(script, {}), "nosalt", /step: restore 1\/\d+: [\s\S]*could not restore/);
  });

  it("fails on a wrong password or salt, never passing on zero decrypted files", async () => {
    const plainNames = cloudSyncDrillScript({ notify: notify("originals"), bucket: BUCKET, folder: "truenas/photos", sampleFiles: 5 });
    const encryptedNames = cloudSyncDrillScript({ notify: notify("names"), bucket: BUCKET, folder: "truenas/photos-names", sampleFiles: 5, filenameEncryption: true });
    for (const env of [{ CLOUDSYNC_ENCRYPTION_PASSWORD: WRONG.password }, { CLOUDSYNC_ENCRYPTION_SALT: WRONG.salt }]) {
      // Names without encryption list fine; the content does not decrypt.
      const first = assertFailed(await runDrill(plainNames, env), "originals", /could not restore .*: a wrong password or salt fails here/);
      assert.match(first.body, /at step: restore 1\/5: /);
      // Encrypted names do not decrypt: rclone lists nothing (status 0), which must not pass.
      const second = assertFailed(await runDrill(encryptedNames, env), "names", /none of the \d+ objects under offsite:homelab-offsite\/truenas\/photos-names decrypts/);
      assert.match(second.body, /at step: list and decrypt the file names/);
    }
  });

  it("fails when the filename encryption setting differs from the task's", async () => {
    const wrongOn = cloudSyncDrillScript({ notify: notify("originals"), bucket: BUCKET, folder: "truenas/photos", sampleFiles: 5, filenameEncryption: true });
    assertFailed(await runDrill(wrongOn), "originals", /none of the \d+ objects .* decrypts \(filename encryption standard\)/);
    const wrongOff = cloudSyncDrillScript({ notify: notify("names"), bucket: BUCKET, folder: "truenas/photos-names", sampleFiles: 5 });
    assertFailed(await runDrill(wrongOff), "names", /none of the \d+ objects .* decrypts \(filename encryption off\)/);
  });

  it("fails on an empty or missing folder, and on objects that are not part of the encrypted copy", async () => {
    const drill = (folder: string) => cloudSyncDrillScript({ notify: notify("gone"), bucket: BUCKET, folder, sampleFiles: 5 });
    assertFailed(await runDrill(drill("empty")), "gone", /step: list the encrypted objects under offsite:homelab-offsite\/empty[\s\S]*holds no files: nothing to restore/);
    assertFailed(await runDrill(drill("missing")), "gone", /step: list the encrypted objects[\s\S]*directory not found/);
    const mixed = objectsDir("mixed");
    cpSync(objectsDir("truenas/photos"), mixed, { recursive: true });
    writeFileSync(join(mixed, "README.txt"), "not encrypted\n");
    assertFailed(await runDrill(drill("mixed")), "gone", /only \d+ of the \d+ objects under offsite:homelab-offsite\/mixed decrypt/);
  });

  it("fails when an encrypted object is corrupted", async () => {
    const target = listTree(objectsDir("corrupt")).find((f) => f.path.startsWith("photos/2025/"))!;
    assert.ok(target && target.size > 100_000, "the corrupted object should be the multi-block photo");
    const fd = openSync(join(objectsDir("corrupt"), target.path), "r+");
    try {
      const bytes = Buffer.alloc(4);
      readSync(fd, bytes, 0, 4, 90_000);
      for (let i = 0; i < 4; i++) bytes[i] = bytes[i]! ^ 0xff;
      writeSync(fd, bytes, 0, 4, 90_000);
    } finally {
      closeSync(fd);
    }
    const run = await runDrill(cloudSyncDrillScript({ notify: notify("corrupt"), bucket: BUCKET, folder: "corrupt", sampleFiles: 1000 }));
    const message = assertFailed(run, "corrupt", /step: restore \d+\/\d+: photos\/2025\/été\/plage ☀\.jpg[\s\S]*could not restore/);
    assert.match(message.body, /failed to authenticate decrypted block|bad password|unexpected EOF/);
  });

  it("still notifies once when a tool is missing from the image", async () => {
    const noRclone = toolDir(root, CLOUDSYNC_DRILL_TOOLS.filter((t) => t !== "rclone"), busybox);
    const run = await runDrill(cloudSyncDrillScript({ notify: notify("originals"), bucket: BUCKET, folder: "truenas/photos", sampleFiles: 5 }), { PATH: noRclone });
    assertFailed(run, "originals", /step: configure the crypt remote as TrueNAS does[\s\S]*(rclone: not found|rclone obscure of the password printed nothing)/);
  });

  it("fails with the missing variables named when the environment is incomplete", async () => {
    const run = await runDrill(cloudSyncDrillScript({ notify: notify("originals"), bucket: BUCKET, folder: "truenas/photos", sampleFiles: 5 }), {
      RCLONE_CONFIG_OFFSITE_TYPE: undefined,
      CLOUDSYNC_ENCRYPTION_PASSWORD: undefined,
    });
    assertFailed(run, "originals", /step: check the environment[\s\S]*missing environment variables: RCLONE_CONFIG_OFFSITE_TYPE CLOUDSYNC_ENCRYPTION_PASSWORD/);
  });

  it("ends on SIGTERM at once, mid-restore, as a notified failure", async () => {
    const script = cloudSyncDrillScript({ notify: notify("slow"), bucket: BUCKET, folder: "slow", sampleFiles: 5 });
    const file = join(root, "drill-slow.sh");
    writeFileSync(file, script);
    const tmp = join(root, "tmp-slow");
    mkdirSync(tmp);
    const hcPath = "/hc/drill-slow";
    recorder.requests.length = 0;
    // rclone reads its flags from RCLONE_<FLAG>: 400 kB at 40 kB/s takes ten seconds.
    const child = spawn(shell[0]!, [...shell.slice(1), file], { env: jobEnv({ RCLONE_BWLIMIT: "40k" }, tmp, hcPath), cwd: remoteRoot, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 20_000;
    while (!/restore 1\/1: video\.mkv/.test(output) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(output, /restore 1\/1: video\.mkv/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const signalled = Date.now();
    child.kill("SIGTERM");
    const result = await exited;
    assert.ok(Date.now() - signalled < 5_000, `the drill took ${Date.now() - signalled} ms to end after SIGTERM`);
    const run = collect({ ...result, output }, script, tmp, hcPath);
    assert.equal(run.code, 143, output);
    assertFailed(run, "slow", /FAILED at step: restore 1\/1: video\.mkv \(exit status 143\) after \d+ s\nstopped by SIGTERM/);
  });
});
