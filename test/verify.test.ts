/**
 * The repository verification scripts, run as generated under Debian's sh (dash) against a real
 * restic repository and a real pgBackRest repository that a real PostgreSQL archives to, each
 * with PATH holding only the tools VERIFY_TOOLS declares for it, an environment of only the
 * variables the job gets, and a recorder standing in for ntfy and healthchecks. Damage is real:
 * bytes overwritten in a restic pack, in a pgBackRest backup file and in an archived WAL segment,
 * WAL segments deleted. JOB_SHELL=busybox runs them under busybox sh with busybox's applets, as in
 * the alpine images. Kopia is not installed here: its script is checked as text, and run only up
 * to the steps before its first kopia call (environment check, SIGTERM).
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, cpSync, mkdirSync, openSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { createServer, Server } from "node:http";
import { createServer as createNetServer, Server as NetServer, Socket } from "node:net";
import { join } from "node:path";
import { kopiaConnectFunction } from "../domain/jobs/restoreCheck";
import { Notify } from "../domain/jobs/scripts";
import { kopiaVerifyScript, pgbackrestRepoVerifyScript, resticVerifyScript, VERIFY_ENV, VERIFY_TOOLS, VerifyScriptName } from "../domain/jobs/verify";
import { ArchivingPostgres, startArchivingPostgres } from "./support/drillServices";
import { BUSYBOX, Busybox, exec, mustExec, RecordedRequest, Recorder, startRecorder, tempDir, toolDir, which, jobShell } from "./support/services";

const SECRETS = {
  restic: "restic-S3cret-passw0rd",
  cipher: "pgbr-S3cret-cipher-pass",
  s3: "s3-S3cret-access-key",
  kopia: "kopia-S3cret-passw0rd",
  ntfy: "tk_ntfyS3cretToken",
};
const WRONG_PASSWORD = "wrong-S3cret-passw0rd";
const ALL_SECRETS = [...Object.values(SECRETS), WRONG_PASSWORD];

const TITLE = "repository verification";

interface Run {
  code: number | null;
  output: string;
  ntfy: RecordedRequest[];
  pings: { path: string; body: string }[];
}

/** A TCP server that accepts connections and never answers: a hung object store or REST server. */
async function startBlackHole(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A healthchecks stand-in that never answers the /start ping and records every other one. */
async function startHangingHealthchecks(): Promise<{ url: string; paths: string[]; stop(): Promise<void> }> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? "");
    req.resume();
    if (req.url?.endsWith("/start")) return; // hangs: the job's wget waits under `timeout 30`
    req.on("end", () => res.end("OK"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The part a run on a day reads: the formula the module documents, computed here independently. */
const partOf = (epoch: number, parts: number, intervalDays: number) => (Math.floor(Math.floor(epoch / 86400) / intervalDays) % parts) + 1;

describe(`repository verification scripts, proven by real tools${BUSYBOX ? " (busybox)" : ""}`, function () {
  this.timeout(120_000);
  let root: string;
  let recorder: Recorder;
  let shell: string[] = ["/bin/sh"];
  let busybox: Busybox | undefined;
  const toolDirs = new Map<string, string>();
  let counter = 0;

  before(async () => {
    root = tempDir("verify");
    chmodSync(root, 0o755);
    recorder = await startRecorder();
    ({ shell, busybox } = await jobShell());
  });
  after(async () => {
    await recorder?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const notify = (item: string, ntfyUrl = `${recorder.url}/verify`): Notify => ({ app: "photos", item, ntfyUrl });

  function freshDir(name: string): string {
    const dir = join(root, `${name}-${++counter}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * The tool directory of a script: exactly VERIFY_TOOLS[name]. `without` leaves tools out (kopia,
   * which is not installed here); `epoch` replaces `date` by a wrapper that prints that time for
   * `date -u +%s` and runs the real date otherwise (the day decides which part restic reads).
   */
  function binFor(name: VerifyScriptName, options: { without?: string[]; epoch?: boolean } = {}): string {
    const key = `${name}/${options.without?.join(",") ?? ""}/${options.epoch ? "epoch" : ""}`;
    let bin = toolDirs.get(key);
    if (bin) return bin;
    const tools = VERIFY_TOOLS[name].filter((tool) => !options.without?.includes(tool) && !(options.epoch && tool === "date"));
    bin = toolDir(root, tools, busybox);
    if (options.epoch) {
      const realDate = busybox ? `${busybox.path} date` : which("date");
      assert.ok(realDate, "date is not on PATH");
      writeFileSync(
        join(bin, "date"),
        ["#!/bin/sh", 'if [ "$*" = "-u +%s" ] && [ -n "${VERIFY_TEST_EPOCH:-}" ]; then echo "$VERIFY_TEST_EPOCH"; exit 0; fi', `exec ${realDate} "$@"`, ""].join("\n"),
        { mode: 0o755 },
      );
    }
    toolDirs.set(key, bin);
    return bin;
  }

  /**
   * Runs a generated script as the CronJob would (`sh <file>`), PATH limited to its declared
   * tools, with NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR and `env`. The shell leads a process group of
   * its own: `onStart` may signal the whole group (the shell and the tool it waits for).
   */
  async function runScript(
    name: VerifyScriptName,
    script: string,
    env: Record<string, string>,
    options: { bin?: string; onStart?: (signalGroup: (signal: NodeJS.Signals) => void, output: () => string) => Promise<void> } = {},
  ): Promise<Run> {
    for (const secret of ALL_SECRETS) assert.ok(!script.includes(secret), `the ${name} script text contains a secret`);
    const bin = options.bin ?? binFor(name);
    const file = join(root, `${name}-${++counter}.sh`);
    writeFileSync(file, script, { mode: 0o644 });
    const jobTmp = freshDir(`tmp-${name}`);
    const hcPath = `/hc/${name}`;
    recorder.requests.length = 0;
    const fullEnv: Record<string, string> = {
      PATH: bin,
      HOME: jobTmp,
      TMPDIR: jobTmp,
      NTFY_TOKEN: SECRETS.ntfy,
      HEALTHCHECKS_URL: `${recorder.url}${hcPath}`,
      ...env,
    };
    const child = spawn(shell[0]!, [...shell.slice(1), file], { env: fullEnv, cwd: jobTmp, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const done = new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 100_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    if (options.onStart) await options.onStart((signal) => process.kill(-child.pid!, signal), () => output);
    const code = await done;
    if (process.env.DEBUG_JOBS) {
      console.log(`--- ${name} exited ${code}\n${output}${recorder.requests.map((r) => `>>> ${r.method} ${r.path} ${r.headers.title ?? ""}\n${r.body}`).join("\n")}`);
    }
    const run: Run = {
      code,
      output,
      ntfy: recorder.requests.filter((r) => r.path === "/verify"),
      pings: recorder.requests.filter((r) => r.path.startsWith(hcPath)).map((r) => ({ path: r.path.slice(hcPath.length) || "/", body: r.body })),
    };
    for (const secret of ALL_SECRETS) {
      assert.ok(!output.includes(secret), `the ${name} job printed a secret:\n${output}`);
      for (const request of recorder.requests) assert.ok(!request.body.includes(secret), `a notification carries a secret: ${request.body}`);
    }
    assert.deepEqual(readdirSync(jobTmp), [], `the ${name} job leaves its temporary directory (throwaway cache, locks) behind`);
    return run;
  }

  function assertSucceeded(run: Run, item: string): string {
    assert.equal(run.code, 0, `the verification failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} ${TITLE} succeeded`);
    assert.equal(message.headers.priority, "default");
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: `));
    assert.match(message.body, /; took \d+ s$/, "the message gives the time taken");
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/"]);
    return message.body;
  }

  function assertFailed(run: Run, item: string, reason: RegExp, pings: string[] = ["/start", "/fail"]): string {
    assert.ok(run.code !== 0 && run.code !== null, `the verification should have failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} ${TITLE} FAILED`);
    assert.equal(message.headers.priority, "high");
    assert.match(message.body, new RegExp(`^photos/${item}: \\S+ repository verification FAILED at step: .* \\(exit status ${run.code}\\) after \\d+ s\n`));
    assert.match(message.body, reason);
    assert.deepEqual(run.pings.map((p) => p.path), pings);
    if (pings.includes("/fail")) assert.match(run.pings[run.pings.length - 1]!.body, reason);
    return message.body;
  }

  // -------------------------------------------------------------------------------------------

  describe("script text", () => {
    const n: Notify = { app: "photos", item: "db", ntfyUrl: "https://ntfy.example.org/backups" };
    const all = (): [VerifyScriptName, string][] => [
      ["resticVerify", resticVerifyScript({ notify: n, parts: 1, intervalDays: 1 })],
      ["resticVerify", resticVerifyScript({ notify: n, parts: 5, intervalDays: 7 })],
      ["kopiaVerify", kopiaVerifyScript({ notify: n, verifyPercent: 10 })],
      ["pgbackrestRepoVerify", pgbackrestRepoVerifyScript({ notify: n, repo: 2 })],
    ];

    it("is deterministic POSIX sh that names its tools and environment and reads no secret itself", async () => {
      const first = all();
      assert.deepEqual(all(), first);
      for (const [name, script] of first) {
        assert.match(script, /^#!\/bin\/sh\n/);
        assert.match(script, /\nset -eu\n/);
        assert.match(script, new RegExp(`^# homelab-backups ${name}: `, "m"));
        assert.match(script, /^# Generated by domain\/jobs\/verify\.ts; /m);
        assert.doesNotMatch(script, /set -o pipefail|\[\[|\bapk add\b|\bcurl\b|\bbash\b|^\s*local\s|^function\s|date -d|\bjq\b/m);
        // Secrets stay in the tools' own environment: the scripts neither set nor expand them.
        assert.doesNotMatch(script, /\b(RESTIC_PASSWORD|KOPIA_PASSWORD|AWS_SECRET_ACCESS_KEY|PGBACKREST_REPO\d*_CIPHER_PASS|PGBACKREST_REPO\d*_S3_KEY_SECRET)=|\$\{?(RESTIC_PASSWORD|KOPIA_PASSWORD|AWS_SECRET_ACCESS_KEY|PGBACKREST_REPO\d*_CIPHER_PASS|PGBACKREST_REPO\d*_S3_KEY_SECRET)/);
        assert.deepEqual(/^# Needs: (.*)\.$/m.exec(script)?.[1]?.split(" "), VERIFY_TOOLS[name]);
        assert.equal(/^# Environment: (.*)\.$/m.exec(script)?.[1], `${VERIFY_ENV[name].required.join(", ")} (required); ${VERIFY_ENV[name].optional.join(", ")} (optional)`);
        assert.match(script, /^APP='photos'\nITEM='db'\n/m);
        const syntax = await exec(shell[0]!, [...shell.slice(1), "-n"], { input: script });
        assert.equal(syntax.code, 0, `${name}: ${syntax.stderr}`);
      }
    });

    it("restic: every call bypasses the cache; parts = 1 reads all data, more parts a rotating subset", () => {
      const full = resticVerifyScript({ notify: n, parts: 1, intervalDays: 1 });
      const subset = resticVerifyScript({ notify: n, parts: 5, intervalDays: 7 });
      for (const script of [full, subset]) {
        const calls = script
          .split("\n")
          .map((line) => line.replace(/^run (['"]).*?\1/, "run")) // step labels name the tool in prose
          .filter((line) => !line.includes("restic --help")) // the feature probe reads no repository
          .filter((line) => /(^|[\s(])restic (?!repository|check\b|volume|offsite)/.test(line) && !/^\s*#/.test(line) && !/echo /.test(line));
        assert.ok(calls.length >= 3, calls.join("\n"));
        for (const line of calls) assert.match(line, /restic --no-cache /, line);
        assert.match(script, /restic --no-cache cat config --no-lock/);
      }
      assert.match(full, /restic --no-cache \$retry_lock check --read-data$/m);
      assert.match(full, /^if restic --help 2>\/dev\/null \| grep -q -- '--retry-lock'; then retry_lock='--retry-lock=1h'; fi$/m, "waits for a backup's lock where restic can");
      assert.doesNotMatch(full, /read-data-subset|pick_part/);
      assert.match(subset, /^PARTS=5\nINTERVAL_DAYS=7$/m);
      assert.match(subset, /restic --no-cache \$retry_lock check --read-data-subset="\$part\/\$PARTS"$/m);
      assert.match(subset, /part=\$\(\(now \/ 86400 \/ INTERVAL_DAYS % PARTS \+ 1\)\)/);
    });

    // Kopia is not installed here: its script is proven as text (and up to its first kopia call below).
    it("kopia: connects with the mover Secret's variables, verifies all snapshots, no secret on a command line", () => {
      const script = kopiaVerifyScript({ notify: n, verifyPercent: 10 });
      assert.ok(script.includes(kopiaConnectFunction('"$work/kopia"', "verify", { keysFromEnvironment: true })), "the connect function of restoreCheck.ts, keys from the environment");
      assert.match(script, /^VERIFY_PERCENT=10$/m);
      assert.match(script, /kopia --config-file="\$config" snapshot verify --verify-files-percent="\$VERIFY_PERCENT"$/m);
      // Kopia >= 0.17 verifies every snapshot when given no source; --all-sources is deprecated there.
      assert.doesNotMatch(script, /--all-sources|--directory-id|--sources/);
      assert.match(script, /kopia --config-file="\$config" snapshot list --all --json/);
      assert.match(script, /^export KOPIA_CACHE_DIRECTORY="\$work\/kopia\/cache"$/m);
      assert.match(script, /^config="\$work\/kopia\/repository\.config"$/m);
      assert.doesNotMatch(script, /--password|--access-key|--secret-access-key|--session-token/);
      assert.match(script, /run 'check the environment' require_env KOPIA_REPOSITORY KOPIA_PASSWORD/);
      assert.equal(kopiaVerifyScript({ notify: n, verifyPercent: 0.5 }).match(/^VERIFY_PERCENT=(.*)$/m)?.[1], "0.5");
    });

    it("pgBackRest: the given repository, judged by its text report, all settings from the environment", () => {
      const script = pgbackrestRepoVerifyScript({ notify: n, repo: 2 });
      assert.match(script, /^REPO=2$/m);
      assert.match(script, /pgbackrest --repo="\$REPO" --output=text --verbose --log-level-console=detail --log-level-stderr=warn verify/);
      assert.match(script, /pgbackrest info --repo="\$REPO" --output=json/);
      assert.doesNotMatch(script, /--config=|--stanza=|--repo\d|--pg\d|cipher-pass/);
    });

    it("refuses options that would break quoting or never read all data", () => {
      const n2 = notify("db");
      for (const parts of [0, 1001, 1.5, Number.NaN, -3]) assert.throws(() => resticVerifyScript({ notify: n2, parts, intervalDays: 1 }), /^Error: parts: expected a whole number from 1 to 1000/);
      for (const intervalDays of [0, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => resticVerifyScript({ notify: n2, parts: 3, intervalDays }), /^Error: intervalDays: expected a whole number from 1 up/);
      for (const verifyPercent of [-1, 101, Number.NaN, 1e-7]) assert.throws(() => kopiaVerifyScript({ notify: n2, verifyPercent }), /^Error: verifyPercent: expected a percentage from 0 to 100/);
      for (const repo of [0, 257, 1.5]) assert.throws(() => pgbackrestRepoVerifyScript({ notify: n2, repo }), /^Error: repo: expected a whole number from 1 to 256/);
      assert.throws(() => resticVerifyScript({ notify: { ...n2, item: "a b" }, parts: 1, intervalDays: 1 }), /notify\.item/);
      assert.throws(() => kopiaVerifyScript({ notify: { ...n2, ntfyUrl: "ftp://x" }, verifyPercent: 1 }), /notify\.ntfyUrl/);
      assert.throws(() => pgbackrestRepoVerifyScript({ notify: { ...n2, app: "'; rm -rf /" }, repo: 1 }), /notify\.app/);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("restic", () => {
    let good: string;
    const resticEnv = (repo: string) => ({ ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: SECRETS.restic, RESTIC_CACHE_DIR: join(root, "restic-cache") });
    const restic = (repo: string, args: string[], cwd?: string) => mustExec("restic", args, { env: resticEnv(repo), cwd });
    const verify = (repo: string, o: { parts?: number; intervalDays?: number; epoch?: number; env?: Record<string, string>; onStart?: NonNullable<Parameters<typeof runScript>[3]>["onStart"] } = {}) =>
      runScript(
        "resticVerify",
        resticVerifyScript({ notify: notify("library"), parts: o.parts ?? 1, intervalDays: o.intervalDays ?? 1 }),
        { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: SECRETS.restic, ...(o.epoch !== undefined ? { VERIFY_TEST_EPOCH: String(o.epoch) } : {}), ...o.env },
        { bin: binFor("resticVerify", { epoch: o.epoch !== undefined }), onStart: o.onStart },
      );

    before(async () => {
      const volume = freshDir("volume");
      for (const dir of ["albums/2023", "albums/2024", "db", "thumbs"]) {
        mkdirSync(join(volume, "data", dir), { recursive: true });
        for (let i = 0; i < 4; i++) writeFileSync(join(volume, "data", dir, `photo ${i}.jpg`), randomBytes(20_000 + 4_001 * i));
      }
      good = join(root, "restic-good");
      await restic(good, ["init"]);
      await restic(good, ["backup", "--host", "volsync", "data"], volume);
      await restic(good, ["backup", "--host", "volsync", "--time", "2021-03-04 05:06:07", "data"], volume);
    });

    it("reads all data of a healthy repository with parts = 1, under a PATH of only its declared tools", async () => {
      const run = await verify(good);
      const body = assertSucceeded(run, "library");
      assert.match(body, /^photos\/library: restic check read all of the data \(--read-data\) and found no errors; 2 snapshots; took \d+ s$/);
      assert.match(run.output, /read all data/, "restic check read the pack data");
      assert.match(run.output, /no errors were found/);
    });

    it("reads part K of the data, K rotating with the day: runs intervalDays apart read consecutive parts, all of them in parts * intervalDays days", async () => {
      const parts = 3;
      const intervalDays = 2;
      const day0 = 20_000 * 86400 + 4321; // some time of day 20000 (part 2 of 3: 10000 % 3 = 1)
      const read: number[] = [];
      for (const epoch of [day0, day0 + 86400, day0 + 2 * 86400, day0 + 4 * 86400]) {
        const expected = partOf(epoch, parts, intervalDays);
        const run = await verify(good, { parts, intervalDays, epoch });
        const body = assertSucceeded(run, "library");
        assert.equal(
          body,
          `photos/library: restic check read part ${expected} of 3 of the data (--read-data-subset=${expected}/3; all of it every 6 days) and found no errors; 2 snapshots; took 0 s`,
        );
        assert.match(run.output, new RegExp(`read group #${expected} of \\d+ data packs`), "restic read the group the message names");
        read.push(expected);
      }
      assert.deepEqual(read, [2, 2, 3, 1], "the same part within an interval, the next one in the next interval");
    });

    it("picks a part within 1..parts for any day, each part intervalDays days in every cycle (the script's own pick_part, run by the shell)", async () => {
      const script = resticVerifyScript({ notify: notify("library"), parts: 7, intervalDays: 3 });
      const pickPart = /^pick_part\(\) \{\n[\s\S]*?\n\}$/m.exec(script)?.[0];
      assert.ok(pickPart, "no pick_part function in the script");
      for (const [parts, intervalDays] of [[7, 3], [1000, 1], [2, 31], [5, 7]] as const) {
        const start = 19_000 * 86400 + 86399;
        const epochs = Array.from({ length: parts * intervalDays * 2 + 3 }, (_, i) => start + i * 86400);
        // `date` here is a shell function standing in for the clock; the arithmetic is the script's.
        const program = [
          "set -eu",
          "date() { echo \"$EPOCH\"; }",
          pickPart,
          `PARTS=${parts} INTERVAL_DAYS=${intervalDays}`,
          `for EPOCH in ${epochs.join(" ")}; do pick_part; echo "$part"; done`,
        ].join("\n");
        const result = await exec(shell[0]!, [...shell.slice(1), "-c", program], { env: { PATH: binFor("resticVerify") } });
        assert.equal(result.code, 0, result.stderr);
        const got = result.stdout.trim().split("\n").map(Number);
        assert.deepEqual(got, epochs.map((e) => partOf(e, parts, intervalDays)));
        for (const part of got) assert.ok(part >= 1 && part <= parts, `part ${part} of ${parts}`);
        const cycle = got.slice(0, parts * intervalDays);
        for (let k = 1; k <= parts; k++) assert.equal(cycle.filter((p) => p === k).length, intervalDays, `part ${k} in one cycle of ${parts}x${intervalDays} days`);
      }
      const bad = await exec(shell[0]!, [...shell.slice(1), "-c", ["set -eu", "date() { echo 'Thu Jan  1'; }", pickPart, "PARTS=3 INTERVAL_DAYS=1", "pick_part"].join("\n")], { env: { PATH: binFor("resticVerify") } });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /date -u \+%s printed 'Thu Jan {2}1', not seconds since 1970/);
    });

    it("fails on an empty repository, a missing one, a wrong password and missing variables, saying which", async () => {
      const empty = join(root, "restic-empty");
      await restic(empty, ["init"]);
      assertFailed(await verify(empty, { parts: 4, intervalDays: 7 }), "library", /step: list the snapshots \(exit status 1\)[\s\S]*the repository holds no snapshot: nothing was ever backed up to it, or everything was pruned/);
      assertFailed(await verify(join(root, "restic-typo")), "library", /step: open the restic repository \(restic cat config\)[\s\S]*Is there a repository at the following location\?[\s\S]*cannot open the restic repository: unreachable, missing, or the wrong password/);
      assertFailed(await verify(good, { env: { RESTIC_PASSWORD: WRONG_PASSWORD } }), "library", /step: open the restic repository[\s\S]*wrong password or no key found/);
      assertFailed(await verify(good, { env: { RESTIC_PASSWORD: "" } }), "library", /step: check the environment \(exit status 1\)[\s\S]*missing environment variables: RESTIC_PASSWORD \(or RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND\)/);
      assertFailed(await verify(good, { env: { RESTIC_REPOSITORY: "" } }), "library", /missing environment variables: RESTIC_REPOSITORY/);
    });

    it("accepts a host's RESTIC_PASSWORD_FILE instead of RESTIC_PASSWORD", async () => {
      const passwordFile = join(freshDir("host-env"), "restic-password");
      writeFileSync(passwordFile, `${SECRETS.restic}\n`, { mode: 0o600 });
      assertSucceeded(await verify(good, { env: { RESTIC_PASSWORD: "", RESTIC_PASSWORD_FILE: passwordFile } }), "library");
    });

    it("finds a damaged pack file when it reads all data, and names the check step", async () => {
      const damaged = join(root, "restic-damaged");
      cpSync(good, damaged, { recursive: true });
      const packs = readdirSync(join(damaged, "data"))
        .flatMap((sub) => readdirSync(join(damaged, "data", sub)).map((name) => join(damaged, "data", sub, name)))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      const pack = packs[0]!; // the largest pack holds the file data
      const size = statSync(pack).size;
      chmodSync(pack, 0o600);
      const fd = openSync(pack, "r+");
      for (let offset = 100; offset < size - 400; offset += 1000) writeSync(fd, Buffer.alloc(32, 0x5a), 0, 32, offset);
      closeSync(fd);
      assert.equal(statSync(pack).size, size);
      // The structure alone is intact: only reading the data finds the damage.
      assert.equal((await exec("restic", ["--no-cache", "check"], { env: resticEnv(damaged) })).code, 0);
      const body = assertFailed(await verify(damaged), "library", /FAILED at step: restic check --read-data \(all data\) \(exit status 1\)/);
      assert.match(body, new RegExp(`${pack.split("/").pop()!.slice(0, 8)}|does not match|ciphertext verification failed`), body);
    });

    it("ends on SIGTERM (to the shell and to restic, hung on an unresponsive repository) as a notified failure naming the step", async () => {
      const hole = await startBlackHole();
      try {
        const run = await verify(`rest:http://127.0.0.1:${hole.port}/repo`, { onStart: sigtermDuring(/open the restic repository/) });
        assertFailed(run, "library", /FAILED at step: open the restic repository \(restic cat config\) \(exit status 143\) after \d+ s/);
      } finally {
        await hole.stop();
      }
    });
  });

  /** onStart: once the output shows `step`, give the tool a moment to start, then SIGTERM the whole process group. */
  function sigtermDuring(step: RegExp): NonNullable<NonNullable<Parameters<typeof runScript>[3]>["onStart"]> {
    return async (signalGroup, output) => {
      const deadline = Date.now() + 20_000;
      while (!step.test(output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(output(), step, "the step never started");
      await new Promise((resolve) => setTimeout(resolve, 300));
      signalGroup("SIGTERM");
    };
  }

  // -------------------------------------------------------------------------------------------

  describe("pgBackRest", () => {
    let cluster: ArchivingPostgres;
    let label: string;
    const stanza = "photos-db";
    const verify = (env: Record<string, string>, onStart?: NonNullable<Parameters<typeof runScript>[3]>["onStart"]) =>
      runScript("pgbackrestRepoVerify", pgbackrestRepoVerifyScript({ notify: notify("db"), repo: 1 }), env, { onStart });
    const info = async (env: Record<string, string>) =>
      JSON.parse(await mustExec("pgbackrest", ["info", "--output=json"], { env: { ...process.env, ...env, PGBACKREST_LOG_LEVEL_FILE: "off", PGBACKREST_LOCK_PATH: join(root, "pgbr-lock") } })) as {
        archive: { max: string | null; min: string | null }[];
        backup: { label: string; archive: { start: string; stop: string } }[];
      }[];
    /** A copy of the repository to damage (the cluster keeps archiving into the original). */
    const copyRepo = (name: string) => {
      const repo = join(root, name);
      cpSync(cluster.repoPath, repo, { recursive: true });
      return { repo, env: { ...cluster.drillEnv, PGBACKREST_REPO1_PATH: repo } };
    };
    const filesUnder = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
    /** Overwrites 16 bytes in the middle of a file: same size, different content. */
    const flipMiddle = (file: string) => {
      const size = statSync(file).size;
      const fd = openSync(file, "r+");
      writeSync(fd, Buffer.alloc(16, 0x5a), 0, 16, Math.floor(size / 2));
      closeSync(fd);
      assert.equal(statSync(file).size, size);
    };
    /** Archived WAL segment files ("<24 hex>-<sha1>.<ext>") of the repository, by segment name. */
    const walFiles = (repo: string) =>
      filesUnder(join(repo, "archive", stanza))
        .filter((f) => /\/[0-9A-F]{24}-[0-9a-f]{40}(\.\w+)?$/.test(f))
        .sort();
    async function waitForSegment(name: string): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (!walFiles(cluster.repoPath).some((f) => f.includes(`/${name}-`))) {
        assert.ok(Date.now() < deadline, `WAL segment ${name} was never archived`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    before(async () => {
      cluster = await startArchivingPostgres({ stanza, cipherPass: SECRETS.cipher });
      await cluster.psql("CREATE TABLE verify_t AS SELECT i, md5(i::text) AS h FROM generate_series(1, 20000) i");
    });
    after(async () => {
      await cluster?.stop();
    });

    it("fails when the repository holds no backup yet, or no such stanza, with pgBackRest's reason", async () => {
      assertFailed(await verify(cluster.drillEnv), "db", /FAILED at step: find the backups of stanza photos-db in repo 1 \(pgbackrest info\) \(exit status 1\)[\s\S]*repo 1 holds no backup of stanza photos-db: no valid backups/);
      assertFailed(await verify({ ...cluster.drillEnv, PGBACKREST_STANZA: "photos-nope" }), "db", /repo 1 holds no backup of stanza photos-nope: missing stanza path/);
    });

    it("passes after a real full backup: every file valid, the WAL of the backup there", async () => {
      await cluster.backup();
      // WAL after the backup, archived: point-in-time recovery past the backup.
      for (let i = 0; i < 3; i++) {
        await cluster.psql(`INSERT INTO verify_t SELECT i, 'later ${i}' FROM generate_series(1, 1000) i`);
        await cluster.psql("SELECT pg_switch_wal()");
      }
      const [stanzaInfo] = await info(cluster.drillEnv);
      label = stanzaInfo!.backup[0]!.label;
      const stop = stanzaInfo!.backup[0]!.archive.stop;
      const after = (offset: number) => stop.slice(0, 16) + (parseInt(stop.slice(16), 16) + offset).toString(16).toUpperCase().padStart(8, "0");
      await waitForSegment(after(3));
      const run = await verify(cluster.drillEnv);
      const body = assertSucceeded(run, "db");
      assert.match(body, new RegExp(`^photos/db: pgbackrest verify of repo 1 of stanza photos-db found every file valid: 1 backups \\(newest ${label}\\), \\d{3,} backup files and [4-9] WAL segments; each backup has its WAL, none missing after the newest; took \\d+ s$`));
      assert.match(run.output, /^status: ok$/m, "the job's log shows pgBackRest's report");
    });

    it("fails on a backup file with changed bytes (pgBackRest itself exits 0), naming the file", async () => {
      const { repo, env } = copyRepo("pgbr-damaged-backup");
      const file = filesUnder(join(repo, "backup", stanza, label, "pg_data", "base")).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
      flipMiddle(file);
      const plain = await exec("pgbackrest", ["--repo=1", "verify"], { env: { ...process.env, ...env, PGBACKREST_LOG_LEVEL_FILE: "off", PGBACKREST_LOCK_PATH: join(root, "pgbr-lock") } });
      assert.equal(plain.code, 0, "pgBackRest 2.45's verify exits 0 on a damaged backup: the script must not rely on its status");
      const relative = file.slice(join(repo, "backup", stanza).length + 1);
      assertFailed(
        await verify(env),
        "db",
        new RegExp(
          `FAILED at step: pgbackrest verify of repo 1 \\(every backup file and WAL segment\\) \\(exit status 1\\)[\\s\\S]*invalid checksum '${relative.replace(/\./g, "\\.")}'` +
            `[\\s\\S]*backup: ${label}, status: invalid[\\s\\S]*checksum invalid: 1[\\s\\S]*found damage: its report says status: error`,
        ),
      );
    });

    it("fails on an archived WAL segment with changed bytes, naming the segment", async () => {
      const { repo, env } = copyRepo("pgbr-damaged-wal");
      const segment = walFiles(repo).sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
      flipMiddle(segment);
      const name = segment.split("/").pop()!.slice(0, 24);
      // pgBackRest retries a failed job after 15 s by default (job-retry): once is enough here.
      assertFailed(
        await verify({ ...env, PGBACKREST_JOB_RETRY: "0" }),
        "db",
        new RegExp(`FAILED at step: pgbackrest verify of repo 1 [\\s\\S]*(invalid result|invalid checksum) '?[0-9]+-1/[0-9A-F]{16}/${name}-[\\s\\S]*found damage: its report says status: error`),
      );
    });

    it("fails when WAL that the backup needs, or WAL after the newest backup, is missing (pgBackRest's verify says ok then)", async () => {
      const [stanzaInfo] = await info(cluster.drillEnv);
      const { start, stop } = stanzaInfo!.backup[0]!.archive;
      const stopCopy = copyRepo("pgbr-missing-stop-wal");
      for (const f of walFiles(stopCopy.repo).filter((f) => f.includes(`/${stop}-`))) unlinkSync(f);
      const plain = await exec("pgbackrest", ["--repo=1", "--output=text", "verify"], { env: { ...process.env, ...stopCopy.env, PGBACKREST_LOG_LEVEL_FILE: "off", PGBACKREST_LOCK_PATH: join(root, "pgbr-lock") } });
      assert.equal(plain.code, 0);
      assert.doesNotMatch(plain.stdout, /status: error/, "pgBackRest 2.45's verify does not notice (if it ever does, the script's own check is redundant, not wrong)");
      assertFailed(await verify(stopCopy.env), "db", new RegExp(`FAILED at step: check that every backup has its WAL \\(exit status 1\\) after \\d+ s\nbackup ${label} needs WAL ${start} to ${stop}, but the archive lacks some of it`));

      const gapCopy = copyRepo("pgbr-wal-gap");
      const segments = walFiles(gapCopy.repo).map((f) => f.split("/").pop()!.slice(0, 24));
      const later = segments.filter((s) => s > stop);
      assert.ok(later.length >= 3, `expected WAL after the backup: ${segments.join(" ")}`);
      for (const f of walFiles(gapCopy.repo).filter((f) => f.includes(`/${later[1]}-`))) unlinkSync(f);
      assertFailed(await verify(gapCopy.env), "db", new RegExp(`WAL is missing after ${later[0]}, up to ${later[2]}, after the newest backup ${label}: point-in-time recovery cannot go past ${later[0]}`));
    });

    it("fails with the wrong cipher pass", async () => {
      assertFailed(await verify({ ...cluster.drillEnv, PGBACKREST_REPO1_CIPHER_PASS: WRONG_PASSWORD }), "db", /step: find the backups of stanza photos-db in repo 1 \(pgbackrest info\)[\s\S]*holds no backup of stanza photos-db: \[(FormatError|CryptoError)\] unable to load info file/);
    });

    it("names missing variables", async () => {
      assertFailed(await verify({}), "db", /step: check the environment \(exit status 1\) after \d+ s\nmissing environment variables: PGBACKREST_STANZA/);
    });

    it("ends on SIGTERM (to the shell and to pgbackrest, hung on an unresponsive object store) as a notified failure naming the step", async () => {
      const hole = await startBlackHole();
      try {
        const s3 = {
          PGBACKREST_STANZA: stanza,
          PGBACKREST_REPO1_TYPE: "s3",
          PGBACKREST_REPO1_PATH: "/photos-db",
          PGBACKREST_REPO1_S3_BUCKET: "backups",
          PGBACKREST_REPO1_S3_ENDPOINT: "127.0.0.1",
          PGBACKREST_REPO1_S3_REGION: "auto",
          PGBACKREST_REPO1_S3_KEY: "key-id",
          PGBACKREST_REPO1_S3_KEY_SECRET: SECRETS.s3,
          PGBACKREST_REPO1_STORAGE_PORT: String(hole.port),
          PGBACKREST_REPO1_STORAGE_VERIFY_TLS: "n",
        };
        const run = await verify(s3, sigtermDuring(/find the backups of stanza/));
        assertFailed(run, "db", /FAILED at step: find the backups of stanza photos-db in repo 1 \(pgbackrest info\) \(exit status 143\) after \d+ s/);
      } finally {
        await hole.stop();
      }
    });
  });

  // -------------------------------------------------------------------------------------------

  // Kopia is not installed here: these runs end before the script's first kopia call, with PATH
  // holding every other tool it declares.
  describe("kopia (up to its first kopia call)", () => {
    const bin = () => binFor("kopiaVerify", { without: ["kopia"] });
    const script = () => kopiaVerifyScript({ notify: notify("library"), verifyPercent: 5 });

    it("names missing variables", async () => {
      const run = await runScript("kopiaVerify", script(), {}, { bin: bin() });
      assertFailed(run, "library", /^photos\/library: Kopia repository verification FAILED at step: check the environment \(exit status 1\) after \d+ s\nmissing environment variables: KOPIA_REPOSITORY KOPIA_PASSWORD/);
    });

    it("ends on SIGTERM (during its start ping, hung) as a notified failure", async () => {
      const hc = await startHangingHealthchecks();
      try {
        const run = await runScript(
          "kopiaVerify",
          script(),
          { KOPIA_REPOSITORY: "filesystem:///nonexistent", KOPIA_PASSWORD: SECRETS.kopia, HEALTHCHECKS_URL: `${hc.url}/hc/kopia` },
          {
            bin: bin(),
            onStart: async (signalGroup) => {
              const deadline = Date.now() + 20_000;
              while (!hc.paths.includes("/hc/kopia/start") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
              assert.ok(hc.paths.includes("/hc/kopia/start"), "the start ping never came");
              signalGroup("SIGTERM");
            },
          },
        );
        assertFailed(run, "library", /^photos\/library: Kopia repository verification FAILED at step: start \(exit status 143\) after \d+ s/, []);
        assert.deepEqual(hc.paths, ["/hc/kopia/start", "/hc/kopia/fail"]);
      } finally {
        await hc.stop();
      }
    });
  });
});
