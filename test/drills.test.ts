/**
 * The restore-drill scripts, run as generated under Debian's sh (dash) against real restic
 * repositories, real dumps of a real PostgreSQL, SQLite and Redis, real sshd and a real
 * pgBackRest repository, each with PATH holding only the tools DRILL_TOOLS (or, for dumpVerify,
 * DUMP_VERIFY_TOOLS, for pgbackrestVerify's modes PGBACKREST_VERIFY_TOOLS) declares for it, an
 * environment of only the variables the job gets, and a recorder standing in for ntfy and
 * healthchecks. JOB_SHELL=busybox runs them under busybox sh
 * with busybox's applets, as in the alpine images. The Kopia drill is checked as text here (see
 * "script text") and run against real Kopia in methods/volsync-kopia/kopia.test.ts.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { gzipSync } from "node:zlib";
import { CANARY_FILE } from "../domain/jobs/canary";
import {
  CanaryCheck,
  DRILL_ENV,
  DRILL_TOOLS,
  DrillScriptName,
  drillReportScript,
  DUMP_VERIFY_TOOLS,
  dumpVerifyScript,
  kopiaVolumeDrillScript,
  nasDumpFetchScript,
  PGBACKREST_VERIFY_ENV,
  PGBACKREST_VERIFY_TOOLS,
  pgbackrestFetchScript,
  pgbackrestVerifyScript,
  resticDumpFetchScript,
  resticVolumeDrillScript,
  rsyncDumpFetchScript,
} from "../domain/jobs/drills";
import { Notify, postgresDumpScript, resticOffsiteScript, rsyncOffsiteScript, SCRIPT_TOOLS } from "../domain/jobs/scripts";
import { ArchivingPostgres, asServerUser, drillToolDir, ownForServer, startArchivingPostgres } from "./support/drillServices";
import { BUSYBOX, Busybox, exec, freePort, mustExec, Postgres, RecordedRequest, Recorder, startPostgres, startRecorder, startRedis, startSshd, Sshd, tempDir, toolDir, jobShell } from "./support/services";

const SECRETS = {
  pg: "pg-S3cret-passw0rd",
  restic: "restic-S3cret-passw0rd",
  cipher: "pgbr-S3cret-cipher-pass",
  ntfy: "tk_ntfyS3cretToken",
};
const WRONG_PASSWORD = "wrong-S3cret-passw0rd";
const ALL_SECRETS = [...Object.values(SECRETS), WRONG_PASSWORD];


interface Run {
  code: number | null;
  output: string;
  ntfy: RecordedRequest[];
  pings: { path: string; body: string }[];
  /** Every request the run made to the recorder. */
  requests: RecordedRequest[];
  /** The directory that was the run's whole PATH. */
  bin: string;
}

/** `<YYYYmmddTHHMMSSZ>` of a time: the timestamp in a dump's name. */
const stampOf = (date: Date) => date.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);

/** A canary as the canary job writes it (domain/jobs/canary.ts), naming `name` ("<app>/<volume>"), written at `at`. */
const canaryText = (name: string, at: Date) =>
  `homelab-backups canary ${name}\nepoch=${Math.floor(at.getTime() / 1000)}\ntime=${at.toISOString().replace(/\.\d+Z$/, "Z")}\n`;
/** The canary check of photos/library's drills: at most 50 h older than the snapshot (a daily copy). */
const CANARY: CanaryCheck = { app: "photos", volume: "library", maxAgeHours: 50 };

describe(`restore drill scripts, proven by real restores${BUSYBOX ? " (busybox)" : ""}`, function () {
  this.timeout(120_000);
  let root: string;
  let recorder: Recorder;
  let shell: string[] = ["/bin/sh"];
  let busybox: Busybox | undefined;
  const toolDirs = new Map<string, string>();
  let counter = 0;

  before(async () => {
    root = tempDir("drills");
    chmodSync(root, 0o755); // the postgres user runs some drills and must reach their files
    recorder = await startRecorder();
    ({ shell, busybox } = await jobShell());
  });
  after(async () => {
    await recorder?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const notify = (item: string, ntfyUrl = `${recorder.url}/drills`): Notify => ({ app: "photos", item, ntfyUrl });

  function freshDir(name: string): string {
    const dir = join(root, `${name}-${++counter}`);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    return dir;
  }

  /** A scratch directory as the emptyDir would be: empty, writable by the job's user. */
  async function scratchDir(forServer = false): Promise<string> {
    const dir = freshDir("scratch");
    if (forServer) await ownForServer(dir);
    return dir;
  }

  function toolsFor(name: DrillScriptName, engine?: keyof typeof DUMP_VERIFY_TOOLS): readonly string[] {
    return name === "dumpVerify" && engine ? DUMP_VERIFY_TOOLS[engine] : DRILL_TOOLS[name];
  }

  /**
   * Runs a generated script as the CronJob would (`sh <file>`), PATH limited to its declared
   * tools, with NTFY_TOKEN, HEALTHCHECKS_URL, TMPDIR and `env`; as the `postgres` user with
   * `asServer` (root only). `onStart` gets the child and a reader of its output so far.
   */
  async function runScript(
    name: DrillScriptName,
    script: string,
    env: Record<string, string>,
    options: {
      engine?: keyof typeof DUMP_VERIFY_TOOLS;
      /** The tools of this variant of the script (default: toolsFor(name, engine)). */
      tools?: readonly string[];
      asServer?: boolean;
      /** Called once the script runs, with a way to signal its shell (not runuser) and its output so far. */
      onStart?: (signalShell: (signal: NodeJS.Signals) => void, output: () => string) => Promise<void>;
    } = {},
  ): Promise<Run> {
    for (const secret of ALL_SECRETS) assert.ok(!script.includes(secret), `the ${name} script text contains a secret`);
    const key = `${name}/${options.engine ?? ""}/${options.tools?.join(" ") ?? ""}`;
    let bin = toolDirs.get(key);
    if (!bin) {
      bin = drillToolDir(root, options.tools ?? toolsFor(name, options.engine), busybox);
      toolDirs.set(key, bin);
    }
    const file = join(root, `${name}-${++counter}.sh`);
    writeFileSync(file, script, { mode: 0o644 });
    const jobTmp = freshDir(`tmp-${name}`);
    if (options.asServer) await ownForServer(jobTmp);
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
    const [command, args] = options.asServer ? asServerUser(fullEnv, [...shell, file]) : [shell[0]!, [...shell.slice(1), file]];
    const child = spawn(command, args, { env: options.asServer ? process.env : fullEnv, cwd: jobTmp, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const done = new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    if (options.onStart) await options.onStart((signal) => signalShellRunning(file, signal), () => output);
    const code = await done;
    if (process.env.DEBUG_JOBS) {
      console.log(`--- ${name} exited ${code}\n${output}${recorder.requests.map((r) => `>>> ${r.method} ${r.path} ${r.headers.title ?? ""}\n${r.body}`).join("\n")}`);
    }
    const run: Run = {
      code,
      output,
      ntfy: recorder.requests.filter((r) => r.path === "/drills"),
      pings: recorder.requests.filter((r) => r.path.startsWith(hcPath)).map((r) => ({ path: r.path.slice(hcPath.length) || "/", body: r.body })),
      requests: [...recorder.requests],
      bin,
    };
    for (const secret of ALL_SECRETS) {
      assert.ok(!output.includes(secret), `the ${name} job printed a secret:\n${output}`);
      for (const request of recorder.requests) assert.ok(!request.body.includes(secret), `a notification carries a secret: ${request.body}`);
    }
    assert.deepEqual(readdirSync(jobTmp), [], `the ${name} job leaves its temporary directory behind`);
    for (const dir of [jobTmp, env.SCRATCH].filter((d): d is string => Boolean(d))) {
      // busybox's `timeout` leaves a watcher (its argv names the message, which may name the
      // directory) for up to a second after the notification: give that time, not a server.
      for (let wait = 0; wait < 30 && processesUsing(dir).length > 0; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(processesUsing(dir), [], `the ${name} job leaves a process (a PostgreSQL server?) running in ${dir}`);
    }
    return run;
  }

  /** Signals the shell running `file` (under runuser and env it is not our child). */
  function signalShellRunning(file: string, signal: NodeJS.Signals): void {
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        if (argv[argv.length - 2] === file && /(^|\/)(sh|busybox)$/.test(argv[0]!)) {
          process.kill(Number(pid), signal);
          return;
        }
      } catch {
        // gone meanwhile
      }
    }
    throw new Error(`no shell runs ${file}`);
  }

  /** Command lines of processes that name a path under `dir` (a throwaway server left running). */
  function processesUsing(dir: string): string[] {
    const found: string[] = [];
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (cmdline.includes(`${dir}/`)) found.push(cmdline.replace(/\0/g, " "));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  function assertSucceeded(run: Run, item: string): string {
    assert.equal(run.code, 0, `the drill failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} restore drill succeeded`);
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: `));
    assert.match(message.body, /took \d+ s, the drill \d+ s/, "the message gives the restore time");
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/"]);
    return message.body;
  }

  function assertFailed(run: Run, item: string, reason: RegExp): string {
    assert.ok(run.code !== 0 && run.code !== null, `the drill should have failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} restore drill FAILED`);
    assert.equal(message.headers.priority, "high");
    assert.match(message.body, new RegExp(`^photos/${item}: .* FAILED at step: .* \\(exit status \\d+\\) after \\d+ s`));
    assert.match(message.body, reason);
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/fail"]);
    assert.match(run.pings[1]!.body, reason);
    return message.body;
  }

  /** A fetch step always exits 0, sends nothing, and leaves its verdict in fetch.status. */
  function fetchStatus(run: Run, scratch: string): string {
    assert.equal(run.code, 0, `a fetch step must exit 0 (or the verify container never runs):\n${run.output}`);
    assert.deepEqual(run.requests, [], "a fetch step notifies nobody: the verify step does");
    assert.ok(existsSync(join(scratch, "fetch.log")));
    return readFileSync(join(scratch, "fetch.status"), "utf8");
  }

  function assertFetched(run: Run, scratch: string): Record<string, string> {
    const status = fetchStatus(run, scratch);
    assert.equal(status, "ok\n", `the fetch failed:\n${status}\n${run.output}`);
    return Object.fromEntries(
      readFileSync(join(scratch, "fetch.info"), "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  }

  function assertFetchFailed(run: Run, scratch: string, reason: RegExp): void {
    const status = fetchStatus(run, scratch);
    assert.match(status, /FAILED at step: .* \(exit status \d+\) after \d+ s/);
    assert.match(status, reason);
  }

  /**
   * A verify step in "status-file" mode exits 0, notifies nobody (no wget on its PATH), and leaves
   * verify.status (returned, without its final newline) and, on success, verify.summary.
   */
  function verifyStatus(run: Run, scratch: string): string {
    assert.equal(run.code, 0, `a status-file verify step must exit 0 (or the report container never runs):\n${run.output}`);
    assert.deepEqual(run.requests, [], "a status-file verify step notifies nobody: the report step does");
    assert.ok(!existsSync(join(run.bin, "wget")) && !existsSync(join(run.bin, "timeout")), "the status-file verify step ran with wget or timeout on its PATH");
    assert.ok(existsSync(join(scratch, "verify.status")), `no verify.status:\n${run.output}`);
    return readFileSync(join(scratch, "verify.status"), "utf8").replace(/\n$/, "");
  }

  /** The report step succeeded: exit 0, one success message (the verify step's summary, with seconds), the healthchecks success ping. */
  function assertReportSucceeded(run: Run, item: string): string {
    assert.equal(run.code, 0, `the report step failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} restore drill succeeded`);
    assert.equal(message.headers.priority, "default");
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: `));
    assert.match(message.body, /took \d+ s, the drill \d+ s/, "the message gives the restore time");
    assert.deepEqual(run.pings.map((p) => p.path), ["/"]);
    assert.equal(`photos/${item}: ${run.pings[0]!.body}`, message.body);
    return message.body;
  }

  /** The report step failed: non-zero exit, one FAILED message with the reason, the healthchecks /fail ping with it. */
  function assertReportFailed(run: Run, item: string, reason: RegExp): string {
    assert.ok(run.code !== 0 && run.code !== null, `the report step should have failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} restore drill FAILED`);
    assert.equal(message.headers.priority, "high");
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: .* FAILED at step: .* \\(exit status \\d+\\)`));
    assert.match(message.body, reason);
    assert.deepEqual(run.pings.map((p) => p.path), ["/fail"]);
    assert.equal(run.pings[0]!.body, message.body);
    return message.body;
  }

  // -------------------------------------------------------------------------------------------

  describe("script text", () => {
    const n: Notify = { app: "photos", item: "db", ntfyUrl: "https://ntfy.example.org/backups" };
    const all = (): [DrillScriptName, string][] => [
      ["resticVolumeDrill", resticVolumeDrillScript({ notify: n, maxAgeHours: 48, sampleFiles: 5, readDataSubset: "5%" })],
      ["kopiaVolumeDrill", kopiaVolumeDrillScript({ notify: n, maxAgeHours: 48, sampleFiles: 5, verifyPercent: 2, identity: { username: "library", hostname: "immich" } })],
      ["resticVolumeDrill", resticVolumeDrillScript({ notify: n, maxAgeHours: 48, sampleFiles: 5, readDataSubset: "5%", canary: { app: "photos", volume: "db", maxAgeHours: 50 } })],
      ["kopiaVolumeDrill", kopiaVolumeDrillScript({ notify: n, maxAgeHours: 48, sampleFiles: 5, verifyPercent: 2, identity: { username: "library", hostname: "immich" }, canary: { app: "photos", volume: "db", maxAgeHours: 50 } })],
      ["nasDumpFetch", nasDumpFetchScript({ dir: "/backup/homelab/dumps/photos", item: "db", maxAgeHours: 30 })],
      ["resticDumpFetch", resticDumpFetchScript({ dir: "/backup/homelab/dumps/photos", item: "db", maxAgeHours: 30, host: "homelab" })],
      ["rsyncDumpFetch", rsyncDumpFetchScript({ item: "db", remoteDir: "/mnt/backup/homelab/dumps/photos", maxAgeHours: 30, user: "backup", host: "nas.example.org", port: 22 })],
      ["dumpVerify", dumpVerifyScript({ engine: "postgres", item: "db", notify: n, checkQuery: "SELECT 1 FROM photos LIMIT 1" })],
      ["dumpVerify", dumpVerifyScript({ engine: "postgres-all", item: "db", notify: n, checkDatabase: "app" })],
      ["dumpVerify", dumpVerifyScript({ engine: "sqlite", item: "db", notify: n })],
      ["dumpVerify", dumpVerifyScript({ engine: "redis", item: "db", notify: n })],
      ["pgbackrestFetch", pgbackrestFetchScript({ repo: 2, maxAgeHours: 30 })],
      ["pgbackrestVerify", pgbackrestVerifyScript({ notify: n, checkQuery: "SELECT 1", checkDatabase: "app" })],
      ["pgbackrestVerify", pgbackrestVerifyScript({ report: "status-file", checkQuery: "SELECT 1", checkDatabase: "app" })],
      ["drillReport", drillReportScript({ notify: n, what: "pgBackRest restore drill" })],
    ];

    it("is deterministic POSIX sh that names its tools and reads no secret itself", async () => {
      const first = all();
      assert.deepEqual(all(), first);
      for (const [name, script] of first) {
        assert.match(script, /^#!\/bin\/sh\n/);
        assert.match(script, /\nset -eu\n/);
        assert.match(script, new RegExp(`^# homelab-backups ${name}: `, "m"));
        assert.doesNotMatch(script, /set -o pipefail|\[\[|\bapk add\b|\bcurl\b|\bbash\b|^\s*local\s|^function\s|date -d|\bjq\b/m);
        // Secrets stay in the tools' own environment: the scripts neither set nor expand them.
        assert.doesNotMatch(script, /\b(RESTIC_PASSWORD|KOPIA_PASSWORD|AWS_SECRET_ACCESS_KEY|PGBACKREST_REPO\d*_CIPHER_PASS|PGBACKREST_REPO\d*_S3_KEY_SECRET)=|\$\{?(RESTIC_PASSWORD|KOPIA_PASSWORD|AWS_SECRET_ACCESS_KEY|PGBACKREST_REPO\d*_CIPHER_PASS|PGBACKREST_REPO\d*_S3_KEY_SECRET|PGPASSWORD)/);
        for (const secret of ALL_SECRETS) assert.ok(!script.includes(secret));
        const needs = /^# Needs: (.*)\.$/m.exec(script)?.[1]?.split(" ") ?? [];
        for (const tool of needs) assert.ok(DRILL_TOOLS[name].includes(tool), `${name} needs ${tool}, which DRILL_TOOLS does not list`);
        assert.ok(DRILL_ENV[name], name);
        const syntax = await exec(shell[0]!, [...shell.slice(1), "-n"], { input: script });
        assert.equal(syntax.code, 0, `${name}: ${syntax.stderr}`);
      }
      const kopia = first.find(([name]) => name === "kopiaVolumeDrill")![1];
      assert.match(kopia, /snapshot verify --verify-files-percent="\$VERIFY_PERCENT" --directory-id="\$snap_root"/);
      assert.match(kopia, /repository connect s3 /);
      assert.ok(DRILL_TOOLS.kopiaVolumeDrill.includes("kopia"));
      // Without the option, nothing of the canary; with it, the canary at the root of the snapshot, the mover's /data.
      const [resticPlain, kopiaPlain, resticCanary, kopiaCanary] = first.slice(0, 4).map(([, script]) => script);
      for (const plain of [resticPlain!, kopiaPlain!]) assert.ok(!plain.includes(CANARY_FILE) && !plain.includes("canary"));
      assert.match(kopiaCanary!, /kopia --config-file="\$config" restore "\$snap_root\/\.homelab-backups-canary" "\$work\/canary"/);
      assert.match(kopiaCanary!, /^CANARY_LINE='homelab-backups canary photos\/db'$/m);
      assert.match(resticCanary!, /^CANARY_MAX_AGE_HOURS=50$/m);
      assert.match(resticCanary!, /run 'check the canary \.homelab-backups-canary' check_canary/);
      assert.match(first.find(([name]) => name === "pgbackrestFetch")![1], /^REPO=2$/m);
    });

    it("names each pgbackrestVerify mode's own tools: the status-file mode needs neither wget nor timeout, and notifies nobody", () => {
      const needs = (script: string) => /^# Needs: (.*)\.$/m.exec(script)?.[1]?.split(" ");
      const env = (script: string) => /^# Environment: (.*)\.$/m.exec(script)?.[1];
      const notifying = pgbackrestVerifyScript({ notify: n });
      const quiet = pgbackrestVerifyScript({ report: "status-file" });
      assert.equal(pgbackrestVerifyScript({ notify: n, report: "notify" }), notifying, "report: notify is the default");
      assert.deepEqual(needs(notifying), PGBACKREST_VERIFY_TOOLS.notify);
      assert.deepEqual(needs(quiet), PGBACKREST_VERIFY_TOOLS["status-file"]);
      for (const tool of ["wget", "timeout"]) {
        assert.ok(PGBACKREST_VERIFY_TOOLS.notify.includes(tool));
        assert.ok(!PGBACKREST_VERIFY_TOOLS["status-file"].includes(tool), `the status-file mode lists ${tool}`);
      }
      assert.deepEqual(new Set(DRILL_TOOLS.pgbackrestVerify), new Set([...PGBACKREST_VERIFY_TOOLS.notify, ...PGBACKREST_VERIFY_TOOLS["status-file"]]));
      assert.equal(env(quiet), `${PGBACKREST_VERIFY_ENV["status-file"].optional.join(", ")} (optional)`);
      assert.doesNotMatch(quiet, /\bwget\b|\btimeout\b|NTFY|HEALTHCHECKS|hc_ping|\bnotify\b/);
      assert.match(quiet, /verify\.status/);
      const report = drillReportScript({ notify: n, what: "pgBackRest restore drill" });
      assert.deepEqual(needs(report), DRILL_TOOLS.drillReport);
      assert.ok(DRILL_TOOLS.drillReport.includes("wget"));
    });

    it("refuses options that would break quoting, misname files or never fail", () => {
      const n2 = notify("db");
      assert.throws(() => resticVolumeDrillScript({ notify: n2, maxAgeHours: 0, sampleFiles: 5, readDataSubset: "5%" }), /maxAgeHours/);
      assert.throws(() => resticVolumeDrillScript({ notify: n2, maxAgeHours: 24, sampleFiles: 0, readDataSubset: "5%" }), /sampleFiles/);
      assert.throws(() => resticVolumeDrillScript({ notify: n2, maxAgeHours: 24, sampleFiles: 5, readDataSubset: "5%; rm -rf /" }), /readDataSubset/);
      assert.throws(() => nasDumpFetchScript({ dir: "/backup/it's", item: "db", maxAgeHours: 24 }), /dir/);
      assert.throws(() => nasDumpFetchScript({ dir: "/backup", item: "../db", maxAgeHours: 24 }), /item/);
      assert.throws(() => nasDumpFetchScript({ dir: "/backup", item: "db", maxAgeHours: 24, ext: "tar" }), /ext/);
      assert.throws(() => rsyncDumpFetchScript({ item: "db", remoteDir: "/x y", maxAgeHours: 24, user: "u", host: "nas", port: 22 }), /path/);
      assert.throws(() => dumpVerifyScript({ engine: "redis", item: "cache", notify: n2, checkQuery: "SELECT 1" }), /checkQuery/);
      assert.throws(() => dumpVerifyScript({ engine: "postgres", item: "db", notify: n2, checkDatabase: "app" }), /checkDatabase/);
      assert.throws(() => pgbackrestFetchScript({ repo: 0, maxAgeHours: 24 }), /repo/);
      assert.throws(() => pgbackrestVerifyScript({ notify: n2, checkDatabase: "app; drop" }), /checkDatabase/);
      assert.throws(() => pgbackrestVerifyScript({ report: "status-file", notify: n2 } as never), /notify: .*notifies nobody/);
      assert.throws(() => pgbackrestVerifyScript({} as never), /notify: required/);
      assert.throws(() => pgbackrestVerifyScript({ report: "quiet" } as never), /report/);
      assert.throws(() => drillReportScript({ notify: n2, what: "drill'; rm -rf /" }), /what/);
      assert.throws(() => drillReportScript({ notify: { ...n2, item: "a b" }, what: "drill" }), /notify.item/);
      assert.throws(() => kopiaVolumeDrillScript({ notify: n2, maxAgeHours: 24, sampleFiles: 5, verifyPercent: 101, identity: { username: "a", hostname: "b" } }), /verifyPercent/);
      assert.throws(() => resticVolumeDrillScript({ notify: n2, maxAgeHours: 24, sampleFiles: 5, readDataSubset: "5%", canary: { ...CANARY, volume: "lib'rary" } }), /canary\.volume/);
      assert.throws(() => kopiaVolumeDrillScript({ notify: n2, maxAgeHours: 24, sampleFiles: 5, verifyPercent: 5, identity: { username: "a", hostname: "b" }, canary: { ...CANARY, maxAgeHours: 0 } }), /canary\.maxAgeHours/);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("restic volume drills", () => {
    let volume: string;
    let good: string;
    let regularFiles: number;
    const resticEnv = (repo: string, password = SECRETS.restic) => ({ ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: join(root, "restic-cache") });
    const restic = (repo: string, args: string[], cwd?: string) => mustExec("restic", args, { env: resticEnv(repo), cwd });
    const drill = (repo: string, options: { password?: string; passwordFile?: string; maxAgeHours?: number; readDataSubset?: string; item?: string; canary?: CanaryCheck } = {}) =>
      runScript(
        "resticVolumeDrill",
        resticVolumeDrillScript({
          notify: notify(options.item ?? "library"),
          maxAgeHours: options.maxAgeHours ?? 48,
          sampleFiles: 5,
          readDataSubset: options.readDataSubset ?? "100%",
          canary: options.canary,
        }),
        options.passwordFile ? { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: options.passwordFile } : { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: options.password ?? SECRETS.restic },
      );

    before(async () => {
      // A volume as VolSync's restic mover sees it: /data with nested directories.
      volume = freshDir("volume");
      const data = join(volume, "data");
      regularFiles = 0;
      for (const dir of ["albums/2023", "albums/2024", "db", "thumbs/a", "thumbs/b"]) {
        mkdirSync(join(data, dir), { recursive: true });
        for (let i = 0; i < 5; i++) {
          writeFileSync(join(data, dir, `photo ${i}.jpg`), randomBytes(1000 + 997 * i));
          regularFiles++;
        }
      }
      writeFileSync(join(data, "albums", "Sommer & <Strand>.jpg"), randomBytes(500)); // restic escapes &<> in JSON: not sampled
      writeFileSync(join(data, "albums", "glob*name.jpg"), randomBytes(500)); // a pattern for restic --include: not sampled
      writeFileSync(join(data, "empty.txt"), ""); // nothing to compare: not sampled
      good = join(root, "restic-good");
      await restic(good, ["init"]);
      await restic(good, ["backup", "--host", "volsync", "data"], volume);
    });

    it("restores sample files spread over the tree from the newest snapshot and reports them", async () => {
      // An older snapshot made later: the newest by time is the one to drill, whatever the order.
      await restic(good, ["backup", "--host", "volsync", "--time", "2021-03-04 05:06:07", "data"], volume);
      const snapshots = JSON.parse(await restic(good, ["snapshots", "--json"])) as { short_id: string; time: string }[];
      const newest = snapshots.find((s) => !s.time.startsWith("2021"))!;
      const body = assertSucceeded(await drill(good), "library");
      assert.match(body, new RegExp(`restored 5 of ${regularFiles} files \\(\\d+ bytes\\) from snapshot ${newest.short_id} `));
      assert.match(body, /2 snapshots\), sizes match; restic check --read-data-subset=100% passed/);
    });

    it("picks files from all over the tree, deterministically (also with a host's RESTIC_PASSWORD_FILE)", async () => {
      const passwordFile = join(freshDir("host-env"), "restic-password");
      writeFileSync(passwordFile, `${SECRETS.restic}\n`, { mode: 0o600 });
      const first = await drill(good);
      const second = await drill(good, { passwordFile });
      assertSucceeded(second, "library");
      const sampled = (run: Run) => [...run.output.matchAll(/^ {2}(\/data\/\S.*)$/gm)].map((m) => m[1]!);
      assert.equal(sampled(first).length, 5, first.output);
      assert.deepEqual(sampled(first), sampled(second));
      const topDirs = new Set(sampled(first).map((p) => p.split("/").slice(0, 4).join("/")));
      assert.ok(topDirs.size >= 4, `the sample is bunched: ${sampled(first).join(", ")}`);
    });

    it("fails on an empty repository, a missing one and a wrong password", async () => {
      const empty = join(root, "restic-empty");
      await restic(empty, ["init"]);
      assertFailed(await drill(empty), "library", /step: open the restic repository and find the newest snapshot[\s\S]*holds no snapshot/);
      assertFailed(await drill(join(root, "restic-typo")), "library", /step: open the restic repository[\s\S]*cannot open the restic repository/);
      assertFailed(await drill(good, { password: WRONG_PASSWORD }), "library", /step: open the restic repository[\s\S]*wrong password/);
      assertFailed(await drill(good, { password: "" }), "library", /step: check the environment[\s\S]*missing environment variables: RESTIC_PASSWORD \(or RESTIC_PASSWORD_FILE/);
    });

    it("fails when the newest snapshot is older than maxAgeHours: the backups stopped", async () => {
      const stale = join(root, "restic-stale");
      await restic(stale, ["init"]);
      await restic(stale, ["backup", "--host", "volsync", "--time", "2025-01-01 00:00:00", "data"], volume);
      assertFailed(await drill(stale), "library", /step: check the age of snapshot [0-9a-f]{8}[\s\S]*is \d+ h \d+ min old, more than 48 h: backups of this volume have stopped/);
    });

    describe("with a canary", () => {
      /**
       * A repository of the volume with `canary` at its root (undefined: none), backed up as
       * VolSync's restic mover does (`restic backup .` in the volume: files at the snapshot's root),
       * or with layout "data" as a backup of the directory /data (files under /data, as above).
       */
      async function withCanary(name: string, canary: string | undefined, layout: "mover" | "data" = "mover", time?: string): Promise<string> {
        const base = freshDir(name);
        const dir = layout === "mover" ? base : join(base, "data");
        cpSync(join(volume, "data"), dir, { recursive: true });
        if (canary !== undefined) writeFileSync(join(dir, CANARY_FILE), canary);
        const repo = join(root, `restic-${name}-${counter}`);
        await restic(repo, ["init"]);
        await restic(repo, ["backup", "--host", "volsync", ...(time ? ["--time", time] : []), layout === "mover" ? "." : "data"], layout === "mover" ? dir : base);
        return repo;
      }

      it("restores a fresh canary with the samples and reports how much older than the snapshot it is", async () => {
        const repo = await withCanary("canary-fresh", canaryText("photos/library", new Date(Date.now() - 3 * 3_600_000 - 5_000)));
        const body = assertSucceeded(await drill(repo, { canary: CANARY }), "library");
        assert.match(body, /sizes match; canary of \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ found, 3 h 0 min older than the snapshot; restic check/);
        // A backup of the directory /data (the layout of the runbooks' restore commands) keeps it under /data.
        const data = await withCanary("canary-data", canaryText("photos/library", new Date(Date.now() - 60_000)), "data");
        const run = await drill(data, { canary: CANARY });
        assert.match(assertSucceeded(run, "library"), /canary of \S+ found, 0 h [01] min older than the snapshot/);
        assert.match(run.output, /restore \d+ sample files and the canary of snapshot/);
      });

      it("fails when the newest snapshot holds no canary, naming the file", async () => {
        const repo = await withCanary("canary-none", undefined);
        assertSucceeded(await drill(repo), "library"); // the same snapshot passes a drill that does not ask for one
        assertFailed(
          await drill(repo, { canary: CANARY }),
          "library",
          /step: check the canary \.homelab-backups-canary[\s\S]*the newest snapshot \([0-9a-f]{8}\) holds no canary file \.homelab-backups-canary: the backup does not contain what the canary job wrote to the volume/,
        );
        // Only the newest snapshot counts: an older one with a canary does not make up for it.
        const older = await withCanary("canary-older", canaryText("photos/library", hoursAgo(30)), "mover", "2021-03-04 05:06:07");
        await restic(older, ["backup", "--host", "volsync", "data"], volume);
        assertFailed(await drill(older, { canary: CANARY }), "library", /holds no canary file/);
      });

      it("fails on a canary much older than the snapshot: the snapshot does not hold recent writes", async () => {
        const repo = await withCanary("canary-stale", canaryText("photos/library", hoursAgo(60)));
        assertFailed(
          await drill(repo, { canary: CANARY }),
          "library",
          /the canary \(written \S+\) is 60 h 0 min older than snapshot [0-9a-f]{8} \(\S+\), more than 50 h: the snapshot does not hold recent writes/,
        );
        // Just inside the bound, it passes.
        assertSucceeded(await drill(await withCanary("canary-49h", canaryText("photos/library", hoursAgo(49))), { canary: CANARY }), "library");
      });

      it("fails on another volume's canary, a malformed one, and one from the future", async () => {
        const other = await withCanary("canary-other", canaryText("photos/thumbs", hoursAgo(1)));
        assertFailed(await drill(other, { canary: CANARY }), "library", /the canary of snapshot [0-9a-f]{8} names photos\/thumbs, not photos\/library: the backup holds another volume's files/);
        const garbled = await withCanary("canary-garbled", "hello\n");
        assertFailed(await drill(garbled, { canary: CANARY }), "library", /is malformed: its first line is not 'homelab-backups canary <app>\/<volume>'/);
        const noEpoch = await withCanary("canary-no-epoch", "homelab-backups canary photos/library\nepoch=soon\ntime=2024-06-01T12:00:00Z\n");
        assertFailed(await drill(noEpoch, { canary: CANARY }), "library", /is malformed: no 'epoch=<seconds>' second line/);
        const future = await withCanary("canary-future", canaryText("photos/library", new Date(Date.now() + 5 * 3_600_000 + 30_000)));
        assertFailed(await drill(future, { canary: CANARY }), "library", /is 5 h 0 min newer than snapshot/);
      });
    });

    it("fails on a deleted or damaged pack file, in the check or in the restore", async () => {
      const packs = (repo: string) =>
        readdirSync(join(repo, "data"))
          .flatMap((sub) => readdirSync(join(repo, "data", sub)).map((name) => join(repo, "data", sub, name)))
          .sort((a, b) => statSync(b).size - statSync(a).size);
      const copy = (name: string) => {
        const repo = join(root, name);
        cpSync(good, repo, { recursive: true });
        return repo;
      };
      // Junk every 1000 bytes of the pack (its header at the end aside): every blob in it is hit.
      const damage = (file: string) => {
        chmodSync(file, 0o600);
        const fd = openSync(file, "r+");
        for (let offset = 100; offset < statSync(file).size - 400; offset += 1000) writeSync(fd, Buffer.alloc(32, 0x5a), 0, 32, offset);
        closeSync(fd);
      };

      // The subset read leaves out the pack (reading a missing pack makes restic retry for a minute).
      const otherBucket = (pack: string) => ((parseInt(pack.split("/").pop()!.slice(0, 2), 16) % 256) + 1) % 256 + 1;
      const missing = copy("restic-missing-pack");
      const gone = packs(missing)[0]!; // the largest pack holds the file data
      unlinkSync(gone);
      assertFailed(await drill(missing, { readDataSubset: `${otherBucket(gone)}/256` }), "library", /step: restic check[\s\S]*(does not exist|not found|missing)/i);

      const damaged = copy("restic-damaged-pack");
      const pack = packs(damaged)[0]!;
      damage(pack);
      assertFailed(await drill(damaged), "library", /step: restic check --read-data-subset=100%[\s\S]*(does not match|ciphertext|invalid|error)/i);

      // A subset that leaves the damaged pack out passes the check; the restore still catches it.
      assertFailed(await drill(damaged, { readDataSubset: `${otherBucket(pack)}/256` }), "library", /step: (restore 5 sample files|compare the restored files)[\s\S]*(ciphertext verification failed|did not restore intact|There were \d+ errors)/);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("PostgreSQL dump drills (NAS copy)", () => {
    let pg: Postgres;
    let dump: Buffer;
    let dumpAll: Buffer;
    const rowsCheck = "SELECT 1 FROM photos WHERE id = 500 AND title = 'Foto 500'";

    /** Runs the real dump job of scripts.ts and returns what it wrote. */
    async function realDump(database: string): Promise<Buffer> {
      const dir = freshDir(`pgdump-${database}`);
      const tmp = freshDir("pgdump-tmp");
      const script = join(dir, "..", `dump-${database}-${counter}.sh`);
      writeFileSync(script, postgresDumpScript({ database, keepLast: 2, dir, notify: { app: "photos", item: "db" } }));
      await mustExec("/bin/sh", [script], { env: { PATH: toolDir(root, SCRIPT_TOOLS.postgresDump), TMPDIR: tmp, HOME: tmp, ...pg.env } });
      const files = readdirSync(dir);
      assert.equal(files.length, 1, files.join(", "));
      return readFileSync(join(dir, files[0]!));
    }

    /** A NAS directory (as the dump jobs fill it) holding `files`, readable by the drill's user. */
    function nasDir(files: Record<string, Buffer | string>): string {
      const dir = freshDir("nas");
      for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o644 });
      return dir;
    }

    async function fetchAndVerify(dir: string, verify: Parameters<typeof dumpVerifyScript>[0], maxAgeHours = 30) {
      const scratch = await scratchDir(true);
      const fetch = await runScript("nasDumpFetch", nasDumpFetchScript({ dir, item: verify.item, maxAgeHours }), { SCRATCH: scratch }, { asServer: true });
      const verified = await runScript("dumpVerify", dumpVerifyScript(verify), { SCRATCH: scratch }, { engine: verify.engine, asServer: true });
      return { scratch, fetch, verified };
    }

    before(async () => {
      pg = await startPostgres(SECRETS.pg);
      await pg.psql("CREATE DATABASE app");
      await pg.psql("CREATE ROLE photos_owner; CREATE ROLE reader LOGIN PASSWORD 'reader-pass'");
      await pg.psql(
        [
          "CREATE TABLE albums (id int PRIMARY KEY, name text NOT NULL)",
          "INSERT INTO albums VALUES (1, 'Sommer'), (2, 'Winter')",
          "CREATE TABLE photos (id int PRIMARY KEY, title text, album int REFERENCES albums)",
          "INSERT INTO photos SELECT i, 'Foto ' || i, 1 + i % 2 FROM generate_series(1, 500) i",
          // Roles the throwaway server does not have: --no-owner and --no-privileges must cope.
          "ALTER TABLE photos OWNER TO photos_owner",
          "GRANT SELECT ON photos TO reader",
        ].join("; "),
        "app",
      );
      dump = await realDump("app");
      dumpAll = await realDump("all");
    });
    after(async () => {
      await pg?.stop();
    });

    it("restores the newest custom-format dump into a throwaway server, finds its rows, and stops the server", async () => {
      const newest = `db-${stampOf(hoursAgo(1))}.dump`;
      const dir = nasDir({
        "db-20200101T000000Z.dump": "an old dump that must not be the one drilled",
        [newest]: dump,
        "db-old-20990101T000000Z.dump": "another item whose name starts alike",
        ".db.partial.Xy12Zz": "a dump being written",
        "db-20990101T000000Z.dump.bak": "not a dump name",
      });
      const { scratch, fetch, verified } = await fetchAndVerify(dir, { engine: "postgres", item: "db", notify: notify("db"), checkQuery: rowsCheck });
      const info = assertFetched(fetch, scratch);
      assert.equal(info.file, newest);
      assert.equal(Number(info.size), dump.length);
      assert.ok(Number(info.age) >= 3600 && Number(info.age) < 3700, info.age);
      const body = assertSucceeded(verified, "db");
      assert.match(body, new RegExp(`restored ${newest.replace(/\./g, "\\.")} \\(${dump.length} bytes, 1 h 0 min old, from the NAS directory .*\\): 2 tables, check query returned a row`));
    });

    it("fails at pg_restore on a truncated dump, and still stops the server", async () => {
      const dir = nasDir({ [`db-${stampOf(hoursAgo(2))}.dump`]: dump.subarray(0, Math.floor(dump.length / 2)) });
      const { scratch, fetch, verified } = await fetchAndVerify(dir, { engine: "postgres", item: "db", notify: notify("db") });
      assertFetched(fetch, scratch);
      assertFailed(verified, "db", /step: pg_restore --exit-on-error of db-\S+\.dump into a fresh database[\s\S]*pg_restore: error/);
    });

    it("fails when the check query finds nothing", async () => {
      const dir = nasDir({ [`db-${stampOf(hoursAgo(2))}.dump`]: dump });
      const { verified } = await fetchAndVerify(dir, { engine: "postgres", item: "db", notify: notify("db"), checkQuery: "SELECT 1 FROM photos WHERE id = 501" });
      assertFailed(verified, "db", /step: sanity query[\s\S]*the check query returned no row in drill_restore/);
    });

    it("fails at the fetch on a stale or missing dump, and the verify step notifies that reason", async () => {
      const stale = nasDir({ "db-20250101T000000Z.dump": dump });
      const one = await fetchAndVerify(stale, { engine: "postgres", item: "db", notify: notify("db") });
      assertFetchFailed(one.fetch, one.scratch, /db-20250101T000000Z\.dump, is \d+ h \d+ min old, more than 30 h: the dumps or their copies have stopped/);
      assertFailed(one.verified, "db", /step: fetch the newest dump \(init container\)[\s\S]*step: check the age of db-20250101T000000Z\.dump[\s\S]*more than 30 h/);

      const empty = await fetchAndVerify(nasDir({ "vault-20250101T000000Z.sqlite.gz": "another item" }), { engine: "postgres", item: "db", notify: notify("db") });
      assertFailed(empty.verified, "db", /no dump of db \(db-<timestamp>\.\*\) in the NAS directory/);

      const unmounted = await fetchAndVerify(join(root, "not-mounted"), { engine: "postgres", item: "db", notify: notify("db") });
      assertFailed(unmounted.verified, "db", /does not exist \(is the NAS share mounted\?\)/);
    });

    it("SIGTERM (the Job's deadline) ends the drill as a failure that notifies once, and no server stays up", async () => {
      const dir = nasDir({ [`db-${stampOf(hoursAgo(1))}.dump`]: dump });
      const scratch = await scratchDir(true);
      assertFetched(await runScript("nasDumpFetch", nasDumpFetchScript({ dir, item: "db", maxAgeHours: 30 }), { SCRATCH: scratch }, { asServer: true }), scratch);
      const run = await runScript("dumpVerify", dumpVerifyScript({ engine: "postgres", item: "db", notify: notify("db") }), { SCRATCH: scratch }, {
        engine: "postgres",
        asServer: true,
        onStart: async (signalShell, output) => {
          const deadline = Date.now() + 20_000;
          while (!/start the throwaway server/.test(output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
          signalShell("SIGTERM"); // while pg_ctl starts the server, or just after: sh acts once the tool returns
        },
      });
      assert.equal(run.code, 143, run.output);
      assertFailed(run, "db", /FAILED at step: (start the throwaway server|pg_restore --exit-on-error .*|sanity query: user tables exist) \(exit status 143\)/);
    });

    it("restores a pg_dumpall of the cluster (roles, databases, rows) with ON_ERROR_STOP", async () => {
      const dir = nasDir({ [`cluster-${stampOf(hoursAgo(3))}.sql.gz`]: dumpAll });
      const { scratch, fetch, verified } = await fetchAndVerify(dir, {
        engine: "postgres-all",
        item: "cluster",
        notify: notify("cluster"),
        checkDatabase: "app",
        checkQuery: `${rowsCheck} AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader')`,
      });
      assertFetched(fetch, scratch);
      assert.match(assertSucceeded(verified, "cluster"), /: 2 databases, 2 tables, check query returned a row/);

      const truncated = nasDir({ [`cluster-${stampOf(hoursAgo(3))}.sql.gz`]: dumpAll.subarray(0, dumpAll.length - 40) });
      const bad = await fetchAndVerify(truncated, { engine: "postgres-all", item: "cluster", notify: notify("cluster") });
      assertFailed(bad.verified, "cluster", /step: test cluster-\S+\.sql\.gz \(gzip -t, closing line\)[\s\S]*(unexpected end of file|corrupted|invalid|truncated)/i);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("SQLite and Redis dump drills", () => {
    function sqliteDump(corrupt: boolean): Buffer {
      const dir = freshDir("sqlite-src");
      const path = join(dir, "vault.db");
      const db = new DatabaseSync(path);
      db.exec("CREATE TABLE ciphers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB); CREATE INDEX ciphers_name ON ciphers (name); CREATE TABLE folders (id INTEGER PRIMARY KEY)");
      const insert = db.prepare("INSERT INTO ciphers (id, name, data) VALUES (?, ?, ?)");
      db.exec("BEGIN");
      for (let i = 1; i <= 2000; i++) insert.run(i, `login ${i}`, randomBytes(100));
      db.exec("COMMIT");
      db.close();
      const bytes = readFileSync(path);
      if (corrupt) bytes.fill(0x41, 8192, 8192 + 4096); // page 3 of 4096-byte pages: table or index b-tree pages
      return gzipSync(bytes);
    }

    async function drill(engine: "sqlite" | "redis", item: string, file: string, content: Buffer, extra: { checkQuery?: string } = {}) {
      const dir = freshDir("nas");
      writeFileSync(join(dir, file), content);
      const scratch = await scratchDir();
      const fetch = await runScript("nasDumpFetch", nasDumpFetchScript({ dir, item, maxAgeHours: 30 }), { SCRATCH: scratch });
      assertFetched(fetch, scratch);
      return runScript("dumpVerify", dumpVerifyScript({ engine, item, notify: notify(item), ...extra }), { SCRATCH: scratch }, { engine });
    }

    it("SQLite: a good copy passes integrity_check and the check query; a corrupted one fails", async () => {
      const name = `vault-${stampOf(hoursAgo(5))}.sqlite.gz`;
      const ok = await drill("sqlite", "vault", name, sqliteDump(false), { checkQuery: "SELECT id FROM ciphers WHERE name = 'login 2000'" });
      assert.match(assertSucceeded(ok, "vault"), /integrity_check ok, 2 tables, check query returned a row/);
      const bad = await drill("sqlite", "vault", name, sqliteDump(true));
      assertFailed(bad, "vault", /step: PRAGMA integrity_check and tables[\s\S]*(malformed|integrity_check: |corrupt)/i);
    });

    it("Redis: a real RDB passes redis-check-rdb with its keys counted; a corrupted one fails", async () => {
      const redis = await startRedis();
      const rdbDir = freshDir("rdb");
      try {
        await redis.cli("SET", "greeting", "hello");
        await redis.cli("HSET", "user:1", "name", "Ada");
        await redis.cli("RPUSH", "queue", "a", "b", "c");
        await mustExec("redis-cli", ["-p", String(redis.port), "--rdb", join(rdbDir, "dump.rdb")]);
      } finally {
        await redis.stop();
      }
      const rdb = readFileSync(join(rdbDir, "dump.rdb"));
      const name = `cache-${stampOf(hoursAgo(1))}.rdb.gz`;
      assert.match(assertSucceeded(await drill("redis", "cache", name, gzipSync(rdb)), "cache"), /redis-check-rdb ok, 3 keys/);
      const corrupted = Buffer.from(rdb);
      corrupted.fill(0x7f, Math.floor(rdb.length / 2), Math.floor(rdb.length / 2) + 8);
      assertFailed(await drill("redis", "cache", name, gzipSync(corrupted)), "cache", /step: redis-check-rdb[\s\S]*(RDB ERROR|CRC|checksum|Unexpected|Invalid)/i);
    });

    it("an unreachable ntfy or healthchecks server does not change the drill's exit status", async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const dir = freshDir("nas");
      writeFileSync(join(dir, `vault-${stampOf(hoursAgo(1))}.sqlite.gz`), sqliteDump(false));
      const scratch = await scratchDir();
      assertFetched(await runScript("nasDumpFetch", nasDumpFetchScript({ dir, item: "vault", maxAgeHours: 30 }), { SCRATCH: scratch }), scratch);
      const run = await runScript("dumpVerify", dumpVerifyScript({ engine: "sqlite", item: "vault", notify: notify("vault", `${closed}/drills`) }), { SCRATCH: scratch, HEALTHCHECKS_URL: `${closed}/hc` }, { engine: "sqlite" });
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /warning: the ntfy notification failed/);
      const missing = await runScript("dumpVerify", dumpVerifyScript({ engine: "sqlite", item: "vault", notify: notify("vault", `${closed}/drills`) }), { SCRATCH: await scratchDir(), HEALTHCHECKS_URL: `${closed}/hc` }, { engine: "sqlite" });
      assert.equal(missing.code, 1, missing.output);
      assert.match(missing.output, /the fetch step \(init container\) left no status/);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("offsite dump fetches", () => {
    const sqlite = (rows: number) => {
      const path = join(freshDir("sqlite"), "app.db");
      const db = new DatabaseSync(path);
      db.exec("CREATE TABLE t (v TEXT)");
      const insert = db.prepare("INSERT INTO t VALUES (?)");
      for (let i = 0; i < rows; i++) insert.run(`row ${i}`);
      db.close();
      return gzipSync(readFileSync(path));
    };

    it("restic: fetches the newest dump from a repository written by the real resticOffsite job", async () => {
      const source = join(freshDir("backup"), "homelab", "dumps", "photos");
      mkdirSync(join(source, "nested"), { recursive: true });
      const newest = `vault-${stampOf(hoursAgo(2))}.sqlite.gz`;
      const content = sqlite(42);
      writeFileSync(join(source, `vault-${stampOf(hoursAgo(26))}.sqlite.gz`), sqlite(1));
      writeFileSync(join(source, newest), content);
      writeFileSync(join(source, "nested", `vault-${stampOf(hoursAgo(1))}.sqlite.gz`), "not in the dump directory itself");
      const repo = join(root, "offsite-restic");
      const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: SECRETS.restic };
      const offsiteTmp = freshDir("offsite-tmp");
      const offsite = join(offsiteTmp, "offsite.sh");
      writeFileSync(offsite, resticOffsiteScript({ sourceDir: source, keep: { last: 3 }, host: "homelab", notify: { app: "photos", item: "dumps" } }));
      await mustExec("/bin/sh", [offsite], { env: { PATH: toolDir(root, SCRIPT_TOOLS.resticOffsite), TMPDIR: offsiteTmp, HOME: offsiteTmp, RESTIC_CACHE_DIR: join(offsiteTmp, "cache"), ...env } });

      const scratch = await scratchDir();
      const fetch = await runScript("resticDumpFetch", resticDumpFetchScript({ item: "vault", dir: source, maxAgeHours: 30, host: "homelab" }), { ...env, SCRATCH: scratch });
      const info = assertFetched(fetch, scratch);
      assert.equal(info.file, newest);
      assert.ok(readFileSync(join(scratch, "dump", newest)).equals(content));
      assert.match(info.from, /^restic snapshot [0-9a-f]{8} of /);
      const verified = await runScript("dumpVerify", dumpVerifyScript({ engine: "sqlite", item: "vault", notify: notify("vault"), checkQuery: "SELECT v FROM t WHERE v = 'row 41'" }), { SCRATCH: scratch }, { engine: "sqlite" });
      assert.match(assertSucceeded(verified, "vault"), /from restic snapshot [0-9a-f]{8} of .*: integrity_check ok, 1 tables, check query returned a row/);

      const refused = await scratchDir();
      assertFetchFailed(await runScript("resticDumpFetch", resticDumpFetchScript({ item: "vault", dir: source, maxAgeHours: 30 }), { ...env, RESTIC_PASSWORD: WRONG_PASSWORD, SCRATCH: refused }), refused, /wrong password/);
      const otherHost = await scratchDir();
      assertFetchFailed(await runScript("resticDumpFetch", resticDumpFetchScript({ item: "vault", dir: source, maxAgeHours: 30, host: "elsewhere" }), { ...env, SCRATCH: otherHost }), otherHost, /holds no snapshot/);
    });

    describe("rsync over SSH", () => {
      let sshd: Sshd;
      let knownHosts: string;
      let remote: string;
      let rdbGz: Buffer;
      before(async () => {
        sshd = await startSshd();
        knownHosts = join(root, "drill_known_hosts");
        writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
        const redis = await startRedis();
        const rdbDir = freshDir("rdb");
        try {
          await redis.cli("SET", "k1", "v1");
          await redis.cli("SET", "k2", "v2");
          await mustExec("redis-cli", ["-p", String(redis.port), "--rdb", join(rdbDir, "dump.rdb")]);
        } finally {
          await redis.stop();
        }
        rdbGz = gzipSync(readFileSync(join(rdbDir, "dump.rdb")));
        // The offsite copy, pushed by the real rsyncOffsite job.
        const source = freshDir("rsync-source");
        writeFileSync(join(source, `cache-${stampOf(hoursAgo(4))}.rdb.gz`), rdbGz);
        writeFileSync(join(source, `cache-${stampOf(hoursAgo(28))}.rdb.gz`), "older");
        remote = join(root, "offsite-nas", "homelab", "dumps", "photos");
        const tmp = freshDir("rsync-tmp");
        const script = join(tmp, "offsite.sh");
        writeFileSync(script, rsyncOffsiteScript({ sourceDir: source, user: sshd.user, host: "127.0.0.1", port: sshd.port, path: remote, notify: { app: "photos", item: "dumps" } }));
        await mustExec("/bin/sh", [script], { env: { PATH: toolDir(root, SCRIPT_TOOLS.rsyncOffsite), TMPDIR: tmp, HOME: tmp, SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: knownHosts } });
      });
      after(async () => {
        await sshd?.stop();
      });

      const fetchScript = () => rsyncDumpFetchScript({ item: "cache", remoteDir: remote, maxAgeHours: 30, user: sshd.user, host: "127.0.0.1", port: sshd.port });

      it("pulls the newest dump with the pinned host key and it verifies", async () => {
        const scratch = await scratchDir();
        const info = assertFetched(await runScript("rsyncDumpFetch", fetchScript(), { SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: knownHosts, SCRATCH: scratch }), scratch);
        assert.match(info.file!, /^cache-\d{8}T\d{6}Z\.rdb\.gz$/);
        assert.ok(readFileSync(join(scratch, "dump", info.file!)).equals(rdbGz));
        const verified = await runScript("dumpVerify", dumpVerifyScript({ engine: "redis", item: "cache", notify: notify("cache") }), { SCRATCH: scratch }, { engine: "redis" });
        assert.match(assertSucceeded(verified, "cache"), /redis-check-rdb ok, 2 keys/);
      });

      it("fails on a host key that does not match the pinned one, and the verify step says so", async () => {
        const other = join(root, "impostor_ed25519");
        await mustExec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
        const wrong = join(root, "wrong_known_hosts");
        writeFileSync(wrong, `[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`);
        const scratch = await scratchDir();
        const fetch = await runScript("rsyncDumpFetch", fetchScript(), { SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: wrong, SCRATCH: scratch });
        assertFetchFailed(fetch, scratch, /(Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED)/);
        const verified = await runScript("dumpVerify", dumpVerifyScript({ engine: "redis", item: "cache", notify: notify("cache") }), { SCRATCH: scratch }, { engine: "redis" });
        assertFailed(verified, "cache", /step: fetch the newest dump \(init container\)[\s\S]*step: list [\s\S]*Host key verification failed/);
      });
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("CloudNativePG/pgBackRest drills", () => {
    let cluster: ArchivingPostgres;
    const check = "SELECT 1 FROM drill_t HAVING count(*) = 1000 AND max(i) = 1000";
    const quietTools = PGBACKREST_VERIFY_TOOLS["status-file"];

    async function fetchAndVerify(env: Record<string, string>, checkQuery?: string) {
      const scratch = await scratchDir(true);
      const fetch = await runScript("pgbackrestFetch", pgbackrestFetchScript({ repo: 1, maxAgeHours: 24 }), { ...env, SCRATCH: scratch }, { asServer: true });
      const verified = await runScript("pgbackrestVerify", pgbackrestVerifyScript({ notify: notify("db"), checkQuery, checkDatabase: "app" }), { SCRATCH: scratch }, { asServer: true, tools: PGBACKREST_VERIFY_TOOLS.notify });
      return { scratch, fetch, verified };
    }

    /**
     * The pod of a CloudNativePG drill: init containers fetch (pgbackrest image) and verify (the
     * CNPG image, status-file mode, no wget), then the report container (busybox with wget), all
     * as the same user with one scratch volume.
     */
    async function fetchVerifyReport(env: Record<string, string>, checkQuery?: string, onVerifyStart?: NonNullable<Parameters<typeof runScript>[3]>["onStart"]) {
      const scratch = await scratchDir(true);
      const fetch = await runScript("pgbackrestFetch", pgbackrestFetchScript({ repo: 1, maxAgeHours: 24 }), { ...env, SCRATCH: scratch }, { asServer: true });
      const verify = await runScript("pgbackrestVerify", pgbackrestVerifyScript({ report: "status-file", checkQuery, checkDatabase: "app" }), { SCRATCH: scratch }, { asServer: true, tools: quietTools, onStart: onVerifyStart });
      const status = verifyStatus(verify, scratch);
      const reported = await runScript("drillReport", drillReportScript({ notify: notify("db"), what: "pgBackRest restore drill" }), { SCRATCH: scratch }, { asServer: true });
      return { scratch, fetch, verify, status, reported };
    }

    /** A failure message without its last line, `pod: $HOSTNAME` (busybox sh sets HOSTNAME itself; so does the kubelet). */
    const podless = (message: string) => message.replace(/\npod: [^\n]*$/, "");
    /** Messages of the two flows, with every number (seconds, sizes, WAL names aside from letters) made alike. */
    const sameWording = (a: string, b: string) => assert.equal(a.replace(/\d+/g, "N"), b.replace(/\d+/g, "N"));

    before(async () => {
      cluster = await startArchivingPostgres({ stanza: "photos-db", cipherPass: SECRETS.cipher });
      await cluster.psql("CREATE DATABASE app");
      await cluster.psql("CREATE TABLE drill_t AS SELECT i, md5(i::text) AS h FROM generate_series(1, 1000) i", "app");
    });
    after(async () => {
      await cluster?.stop();
    });

    it("with no backup yet, the fetch fails and the verify step reports why (or leaves it to the report step)", async () => {
      const { scratch, fetch, verified } = await fetchAndVerify(cluster.drillEnv);
      assertFetchFailed(fetch, scratch, /repo 1 holds no backup of stanza photos-db/);
      const notified = assertFailed(verified, "db", /step: fetch the newest backup \(init container\)[\s\S]*holds no backup of stanza photos-db/);

      const pod = await fetchVerifyReport(cluster.drillEnv);
      assertFetchFailed(pod.fetch, pod.scratch, /repo 1 holds no backup of stanza photos-db/);
      assert.match(pod.status, /^pgBackRest restore drill FAILED at step: fetch the newest backup \(init container\) \(exit status 1\) after \d+ s\n[\s\S]*holds no backup of stanza photos-db/);
      assert.ok(!existsSync(join(pod.scratch, "verify.summary")));
      const reported = assertReportFailed(pod.reported, "db", /step: fetch the newest backup \(init container\)[\s\S]*holds no backup of stanza photos-db/);
      assert.equal(podless(reported), `photos/db: ${pod.status}`);
      sameWording(reported, notified);
    });

    it("restores the newest backup with its WAL, recovers to its end, and finds the rows", async () => {
      await cluster.backup();
      // Written after the backup: recovery to the end of the backup must not contain them.
      await cluster.psql("INSERT INTO drill_t SELECT i, 'later' FROM generate_series(1001, 1010) i", "app");
      await cluster.psql("SELECT pg_switch_wal()");
      const { scratch, fetch, verified } = await fetchAndVerify(cluster.drillEnv, check);
      const info = assertFetched(fetch, scratch);
      assert.match(info.label!, /^\d{8}-\d{6}F$/);
      assert.match(info.wal!, /^[0-9A-F]{24}\.\.[0-9A-F]{24} \(\d+ segments\)$/);
      const body = assertSucceeded(verified, "db");
      const expected = new RegExp(`restored backup ${info.label} \\(0 h 0 min old, \\d+ bytes, WAL .* from pgBackRest repo 1 of stanza photos-db, fetched in \\d+ s\\): recovered and promoted, 2 databases, 1 tables, check query returned a row; start and recovery took \\d+ s, the drill \\d+ s$`);
      assert.match(body, expected);

      const pod = await fetchVerifyReport(cluster.drillEnv, check);
      assert.equal(assertFetched(pod.fetch, pod.scratch).label, info.label);
      assert.equal(pod.status, "ok");
      const summary = readFileSync(join(pod.scratch, "verify.summary"), "utf8");
      assert.match(summary, /^[^\n]+\n$/, "verify.summary is one line");
      const reported = assertReportSucceeded(pod.reported, "db");
      assert.equal(reported, `photos/db: ${summary.trim()}`);
      assert.match(reported, expected);
      sameWording(reported, body);
    });

    // A wrong pass decrypts backup.info to garbage: pgBackRest reports FormatError or, when the
    // garbage breaks the cipher's padding, CryptoError. Either is the refusal the drill needs.
    it("fails with the wrong cipher pass", async () => {
      const { scratch, fetch, verified } = await fetchAndVerify({ ...cluster.drillEnv, PGBACKREST_REPO1_CIPHER_PASS: WRONG_PASSWORD }, check);
      assertFetchFailed(fetch, scratch, /holds no backup of stanza photos-db: \[(FormatError|CryptoError)\] unable to load info file/);
      const notified = assertFailed(verified, "db", /FormatError|CryptoError/);

      const pod = await fetchVerifyReport({ ...cluster.drillEnv, PGBACKREST_REPO1_CIPHER_PASS: WRONG_PASSWORD }, check);
      assertFetchFailed(pod.fetch, pod.scratch, /\[(FormatError|CryptoError)\] unable to load info file/);
      const reported = assertReportFailed(pod.reported, "db", /step: fetch the newest backup \(init container\) \(exit status 1\) after \d+ s\n[\s\S]*\[(FormatError|CryptoError)\] unable to load info file/);
      assert.equal(podless(reported), `photos/db: ${pod.status}`);
      sameWording(reported, notified);
    });

    it("fails when the restored rows do not match the check query", async () => {
      const { verified } = await fetchAndVerify(cluster.drillEnv, "SELECT 1 FROM drill_t WHERE h = 'later'");
      const notified = assertFailed(verified, "db", /step: sanity query[\s\S]*the check query returned no row in app/);

      const pod = await fetchVerifyReport(cluster.drillEnv, "SELECT 1 FROM drill_t WHERE h = 'later'");
      assertFetched(pod.fetch, pod.scratch);
      assert.match(pod.status, /^pgBackRest restore drill FAILED at step: sanity query: user tables exist \(exit status 1\) after \d+ s\n/);
      const reported = assertReportFailed(pod.reported, "db", /step: sanity query: user tables exist \(exit status 1\) after \d+ s\n[\s\S]*the check query returned no row in app: SELECT 1 FROM drill_t WHERE h = 'later'/);
      assert.equal(podless(reported), `photos/db: ${pod.status}`);
      sameWording(reported, notified);
    });

    it("SIGTERM ends a status-file verify step with its server stopped and exit 0; the report step names the step", async () => {
      const pod = await fetchVerifyReport(cluster.drillEnv, check, async (signalShell, output) => {
        const deadline = Date.now() + 20_000;
        while (!/start PostgreSQL on the restored/.test(output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        signalShell("SIGTERM"); // while pg_ctl starts the server, or just after: sh acts once the tool returns
      });
      // runScript has checked that no process (the throwaway server) still uses the scratch directory.
      assert.match(pod.status, /^pgBackRest restore drill FAILED at step: (start PostgreSQL on the restored .*|wait until recovery ends and the server is promoted|sanity query: user tables exist) \(exit status 143\) after \d+ s/);
      assertReportFailed(pod.reported, "db", /FAILED at step: .* \(exit status 143\)/);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("report step (drillReport) on the status its init containers left", () => {
    const what = "pgBackRest restore drill";
    const label = "20240601-120000F";
    const summaryLine = `restored backup ${label} (1 h 0 min old, 1234 bytes, WAL x, from pgBackRest repo 1 of stanza photos-db, fetched in 7 s): recovered and promoted, 2 databases, 1 tables; start and recovery took 3 s, the drill 5 s`;

    /** A scratch directory holding `files`, as the init containers would have left it. */
    function leftBehind(files: Record<string, string>): string {
      const dir = freshDir("scratch");
      for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o640 });
      return dir;
    }
    const fetchedOk = { "fetch.status": "ok\n", "fetch.info": `label=${label}\nage=3600\nseconds=7\n`, "fetch.log": "" };
    const report = (scratch: string, env: Record<string, string> = {}) =>
      runScript("drillReport", drillReportScript({ notify: notify("db"), what }), { SCRATCH: scratch, ...env });

    it("reports a passed drill with the verify step's summary", async () => {
      const run = await report(leftBehind({ ...fetchedOk, "verify.status": "ok\n", "verify.summary": `${summaryLine}\n` }));
      assert.equal(assertReportSucceeded(run, "db"), `photos/db: ${summaryLine}`);
    });

    it("passes a verify step's failure on word for word, with the pod's name", async () => {
      const status = `${what} FAILED at step: sanity query: user tables exist (exit status 1) after 9 s\nthe check query returned no row in app: SELECT 1`;
      const run = await report(leftBehind({ ...fetchedOk, "verify.status": `${status}\n` }), { HOSTNAME: "drill-photos-db-abc12" });
      assert.equal(run.code, 1);
      assert.equal(assertReportFailed(run, "db", /no row in app/), `photos/db: ${status}\npod: drill-photos-db-abc12`);
    });

    it("fails clearly when the verify step left no status (killed, out of memory, never ran)", async () => {
      const run = await report(leftBehind(fetchedOk));
      assert.equal(run.code, 1);
      assertReportFailed(run, "db", new RegExp(`FAILED at step: read the status of the verify step \\(exit status 1\\)\nthe verify step \\(init container\\) left no status in \\S+: it never ran, or was killed before it finished \\(out of memory\\? .*\\); the fetch step had fetched backup ${label} in 7 s`));
      const fetchFailed = `fetch of the newest pgBackRest backup FAILED at step: find the newest backup (exit status 1) after 2 s\nrepo 1 holds no backup of stanza photos-db`;
      assertReportFailed(await report(leftBehind({ "fetch.status": `${fetchFailed}\n` })), "db", /the verify step \(init container\) left no status in \S+, and the fetch step had failed:\nfetch of the newest pgBackRest backup FAILED at step: find the newest backup[\s\S]*holds no backup/);
    });

    it("fails clearly when neither init container left a status, the scratch volume is missing, or a status is garbled", async () => {
      assertReportFailed(await report(leftBehind({})), "db", /neither init container left a status in \S+: the fetch step never ran or was killed/);
      assertReportFailed(await report(join(root, "no-such-scratch")), "db", /step: check the scratch directory \(exit status 1\)\nthe scratch directory \S+ is missing \(is the emptyDir mounted\?\)/);
      assertReportFailed(await report(leftBehind({ ...fetchedOk, "verify.status": "" })), "db", /verify\.status is neither ok nor a failure \(the verify step was killed while writing it\?\): \(empty\)/);
      assertReportFailed(await report(leftBehind({ ...fetchedOk, "verify.status": "ok\n" })), "db", /verify\.status says ok, but \S+\/verify\.summary is missing/);
      assertReportFailed(await report(leftBehind({ "fetch.status": "oops\n", "verify.status": "ok\n", "verify.summary": `${summaryLine}\n` })), "db", /verify\.status says ok, but fetch\.status does not: oops/);
    });

    it("an unreachable ntfy or healthchecks server does not change the report's exit status", async () => {
      const closed = `http://127.0.0.1:${await freePort()}`;
      const ok = leftBehind({ ...fetchedOk, "verify.status": "ok\n", "verify.summary": `${summaryLine}\n` });
      const run = await runScript("drillReport", drillReportScript({ notify: notify("db", `${closed}/drills`), what }), { SCRATCH: ok, HEALTHCHECKS_URL: `${closed}/hc` });
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /warning: the ntfy notification failed/);
      assert.match(run.output, /warning: the healthchecks ping failed/);
      const missing = await runScript("drillReport", drillReportScript({ notify: notify("db", `${closed}/drills`), what }), { SCRATCH: leftBehind(fetchedOk), HEALTHCHECKS_URL: `${closed}/hc` });
      assert.equal(missing.code, 1, missing.output);
    });
  });
});
