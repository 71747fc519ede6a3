import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { createServer, IncomingHttpHeaders, Server } from "node:http";
import { AddressInfo } from "node:net";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cron } from "croner";
import {
  BACKUP_EXIT,
  cronToOnCalendar,
  DEFAULT_KEEP,
  HOST_BACKUP_TOOLS,
  hostBackupPaths,
  HostBackupInput,
  hostBackupScript,
  hostLockFile,
  installCommands,
  prepareCommands,
  systemdUnits,
  uninstallCommands,
} from "../domain/hostBackup";
import { parseStackConfig } from "../domain/config/parse";
import { hostTask } from "../domain/machines";
import { planBackups } from "../domain/plan";
import { keepFlags } from "../domain/retention";
import { isRoot, which } from "./support/services";
import { editedConfig } from "./support/stack";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program without blocking the event loop (the fake ntfy server lives in this process). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface Snapshot {
  id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
}

/** A source tree, a local restic repository and a fake ntfy server in one temp dir. */
class Workbench {
  readonly dir = mkdtempSync(join(tmpdir(), "hb-host-"));
  readonly src = join(this.dir, "src");
  readonly repo = join(this.dir, "repo");
  readonly passwordFile = join(this.dir, "restic-password");
  readonly postLog = join(this.dir, "post-hook.log");
  readonly scriptPath = join(this.dir, "backup.sh");
  readonly lockFile = join(this.dir, "router.lock");
  readonly notifications: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  private server?: Server;
  ntfyUrl = "";

  constructor() {
    writeFileSync(this.passwordFile, "test repository password\n", { mode: 0o600 });
    const files: Record<string, string> = {
      "etc/app.conf": "listen = 0.0.0.0:8080\n",
      "data/photos/2024/img_0001.jpg": "\xff\xd8 not really a jpeg ".repeat(200),
      "data/scratch.tmp": "temporary\n",
      "data/.cache/thumbs.db": "cache\n",
      "containers/storage/overlay/layer/blob": "re-downloadable\n",
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(this.src, path, ".."), { recursive: true });
      writeFileSync(join(this.src, path), content);
    }
  }

  options(overrides: Partial<HostBackupInput> = {}): HostBackupInput {
    return {
      host: "router",
      paths: [this.src],
      excludes: ["*.tmp", ".cache", join(this.src, "containers/storage/overlay")],
      preHook: `mkdir -p '${this.src}/dump'\nprintf 'pg_dumpall output\\n' > '${this.src}/dump/postgresql.sql'`,
      postHook: `printf '%s %s\\n' "$BACKUP_STATUS" "$BACKUP_STAGE" >> '${this.postLog}'`,
      keep: { ...DEFAULT_KEEP },
      lockFile: this.lockFile,
      ...overrides,
    };
  }

  env(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: this.dir,
      RESTIC_REPOSITORY: this.repo,
      RESTIC_PASSWORD_FILE: this.passwordFile,
      RESTIC_CACHE_DIR: join(this.dir, "cache"),
      ...overrides,
    };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    return env;
  }

  async backup(options: HostBackupInput, env: NodeJS.ProcessEnv = this.env()): Promise<Run> {
    writeFileSync(this.scriptPath, hostBackupScript(options), { mode: 0o700 });
    return run("bash", [this.scriptPath], env);
  }

  async snapshots(): Promise<Snapshot[]> {
    const result = await run("restic", ["snapshots", "--json"], this.env());
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Snapshot[];
  }

  postHookRuns(): string[] {
    return existsSync(this.postLog) ? readFileSync(this.postLog, "utf8").trim().split("\n") : [];
  }

  async startNtfy(): Promise<void> {
    this.server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        this.notifications.push({ headers: request.headers, body });
        response.end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.ntfyUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/homelab-backups`;
  }

  async cleanup(): Promise<void> {
    if (this.server) await new Promise((resolve) => this.server!.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("host backups with restic and systemd", function () {
  this.timeout(60_000);

  describe("the backup script, run for real against a local restic repository", () => {
    let bench: Workbench;
    beforeEach(() => (bench = new Workbench()));
    afterEach(() => bench.cleanup());

    it("initialises the repository, backs up with the pre hook's dump, honours excludes, and restores", async () => {
      const result = await bench.backup(bench.options());
      assert.equal(result.code, 0, result.stderr);
      assert.ok(existsSync(join(bench.repo, "config")), "the repository was initialised");
      assert.deepEqual(bench.postHookRuns(), ["0 done"]);

      const snapshots = await bench.snapshots();
      assert.equal(snapshots.length, 1);
      assert.equal(snapshots[0].hostname, "router");
      assert.deepEqual(snapshots[0].tags, ["homelab-backups"]);

      const target = join(bench.dir, "restore");
      const restore = await run("restic", ["restore", "latest", "--target", target], bench.env());
      assert.equal(restore.code, 0, restore.stderr);
      const restored = (path: string) => join(target, bench.src, path);
      assert.equal(readFileSync(restored("etc/app.conf"), "utf8"), readFileSync(join(bench.src, "etc/app.conf"), "utf8"));
      assert.equal(readFileSync(restored("data/photos/2024/img_0001.jpg"), "utf8"), readFileSync(join(bench.src, "data/photos/2024/img_0001.jpg"), "utf8"));
      assert.equal(readFileSync(restored("dump/postgresql.sql"), "utf8"), "pg_dumpall output\n");
      assert.ok(!existsSync(restored("data/scratch.tmp")), "*.tmp is excluded");
      assert.ok(!existsSync(restored("data/.cache")), ".cache is excluded");
      assert.ok(!existsSync(restored("containers/storage/overlay")), "the overlay directory is excluded");
      assert.ok(existsSync(restored("containers/storage")), "only the excluded subdirectory is left out");
    });

    it("applies the keep policy to this host's snapshots only: --keep-last, then same-day runs collapse to one daily", async () => {
      const storage = await bench.backup(bench.options({ host: "storage", postHook: undefined }));
      assert.equal(storage.code, 0, storage.stderr);
      for (let i = 0; i < 3; i++) {
        const result = await bench.backup(bench.options({ keep: { last: 2 }, postHook: undefined }));
        assert.equal(result.code, 0, result.stderr);
      }
      const router = async () => (await bench.snapshots()).filter((s) => s.hostname === "router");
      assert.equal((await router()).length, 2, "--keep-last 2 keeps two of three");
      // The default policy (7 daily, 4 weekly, 6 monthly, 2 yearly) on one day's three runs keeps
      // the newest as that day's daily, and (restic >= 0.17, while the daily bucket is not full)
      // the oldest as well.
      const before = (await router()).map((s) => s.time).sort();
      const result = await bench.backup(bench.options());
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Applying Policy: keep 7 daily, 4 weekly, 6 monthly(,| and) 2 yearly snapshots/);
      const kept = (await router()).map((s) => s.time).sort();
      assert.equal(kept.length, 2);
      assert.equal(kept[0], before[0], "the oldest snapshot is kept");
      assert.ok(kept[1] > before[before.length - 1], "the newest snapshot is this run's");
      const all = await bench.snapshots();
      assert.equal(all.filter((s) => s.hostname === "storage").length, 1, "another host's snapshots are never touched");
    });

    it("fails on a wrong password without touching the repository, and still runs the post hook", async () => {
      assert.equal((await run("restic", ["init"], bench.env())).code, 0);
      const wrong = join(bench.dir, "wrong-password");
      writeFileSync(wrong, "not the password\n");
      const result = await bench.backup(bench.options(), bench.env({ RESTIC_PASSWORD_FILE: wrong }));
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /wrong password/);
      assert.match(result.stderr, /FAILED at stage repository/);
      assert.deepEqual(bench.postHookRuns(), [`${result.code} repository`]);
      assert.ok(!existsSync(join(bench.src, "dump")), "the pre hook does not run when the repository cannot be opened");
      assert.equal((await bench.snapshots()).length, 0);
    });

    it("fails on an unreachable repository server without creating one, and still runs the post hook", async () => {
      // An SFTP server that refuses the connection: restic fails at once. (Errors restic deems
      // transient, such as a local path it cannot read, are retried for up to 15 minutes.)
      const result = await bench.backup(bench.options(), bench.env({ RESTIC_REPOSITORY: "sftp://backup@127.0.0.1:1//srv/restic/router" }));
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /Connection refused/);
      assert.match(result.stderr, /cannot open the restic repository/);
      assert.deepEqual(bench.postHookRuns(), [`${result.code} repository`]);
      assert.doesNotMatch(result.stderr, /initialising/);
    });

    it("refuses to run when the required mount point is not mounted", async () => {
      const result = await bench.backup(bench.options({ requireMountpoint: bench.dir }));
      assert.equal(result.code, 75);
      assert.match(result.stderr, /is not mounted/);
      assert.ok(!existsSync(bench.repo), "no repository on the disk underneath the mount point");
      assert.deepEqual(bench.postHookRuns(), ["75 environment"]);
    });

    it("a failing pre hook aborts the backup, notifies with the exit code, and the post hook still runs", async () => {
      await bench.startNtfy();
      const options = bench.options({ preHook: "echo dumping; exit 7", notify: { ntfyUrl: bench.ntfyUrl } });
      const result = await bench.backup(options, bench.env({ NTFY_TOKEN: "tk_fake_ntfy_token" }));
      assert.equal(result.code, 7);
      assert.deepEqual(bench.postHookRuns(), ["7 pre-hook"]);
      assert.equal((await bench.snapshots()).length, 0, "no snapshot without a successful pre hook");
      assert.equal(bench.notifications.length, 1);
      const [note] = bench.notifications;
      assert.match(String(note.headers.title), /Backup of router FAILED/);
      assert.equal(note.headers.priority, "high");
      assert.equal(note.headers.authorization, "Bearer tk_fake_ntfy_token");
      assert.match(note.body, /failed at stage pre-hook with exit code 7/);
    });

    it("notifies success, and an unreachable ntfy never changes the exit code", async () => {
      await bench.startNtfy();
      const ok = await bench.backup(bench.options({ notify: { ntfyUrl: bench.ntfyUrl } }));
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(String(bench.notifications[0]?.headers.title), /Backup of router succeeded/);

      const closed = "http://127.0.0.1:9/nobody-listens";
      const stillOk = await bench.backup(bench.options({ notify: { ntfyUrl: closed } }));
      assert.equal(stillOk.code, 0, stillOk.stderr);
      assert.match(stillOk.stderr, /could not send the ntfy notification/);
      const stillFailed = await bench.backup(bench.options({ preHook: "exit 9", notify: { ntfyUrl: closed } }));
      assert.equal(stillFailed.code, 9);
    });

    it("a failing post hook turns a successful backup into a failure", async () => {
      const result = await bench.backup(bench.options({ postHook: "echo restarting; false" }));
      assert.equal(result.code, 1);
      assert.match(result.stderr, /the post hook failed \(exit 1\)/);
      assert.match(result.stderr, /FAILED at stage post-hook/);
      assert.equal((await bench.snapshots()).length, 1, "the snapshot itself was made");
    });

    it("run by hand, reads the environment file itself; secrets never appear in the script, the units or the output", async () => {
      const secrets = { password: "s3cr3t-restic-Pa55", awsSecret: "AKIA-fake-secret-9f8e7d" };
      const passwordFile = join(bench.dir, "pw");
      writeFileSync(passwordFile, `${secrets.password}\n`, { mode: 0o600 });
      const envFile = join(bench.dir, "router.env");
      writeFileSync(
        envFile,
        [`RESTIC_REPOSITORY=${bench.repo}`, `RESTIC_PASSWORD_FILE=${passwordFile}`, `AWS_SECRET_ACCESS_KEY=${secrets.awsSecret}`, `RESTIC_CACHE_DIR=${join(bench.dir, "cache")}`].join("\n") + "\n",
        { mode: 0o600 },
      );
      const options = bench.options({ environmentFile: envFile });
      const result = await bench.backup(options, { PATH: process.env.PATH, HOME: bench.dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal((await run("restic", ["snapshots", "--json"], bench.env({ RESTIC_PASSWORD_FILE: passwordFile }))).code, 0);

      const units = systemdUnits({ name: "router", schedule: "weekly", environmentFile: envFile, scriptPath: bench.scriptPath });
      for (const text of [hostBackupScript(options), units.service, units.timer, result.stdout, result.stderr]) {
        for (const secret of Object.values(secrets)) assert.ok(!text.includes(secret), "a secret leaked");
        assert.doesNotMatch(text, /(RESTIC_PASSWORD|AWS_SECRET_ACCESS_KEY|NTFY_TOKEN)=\S/);
      }
      assert.match(units.service, new RegExp(`^EnvironmentFile=${envFile}$`, "m"));
    });

    /**
     * Two destinations of one host, as their two timers start them: one script each (own
     * repository), the same hooks and the host's lock file; the second starts while the first is
     * in its pre hook. Returns both runs and the hooks' log.
     */
    async function twoDestinations(lockFiles: [string, string], overlap: { waitForTheOther?: boolean } = {}): Promise<{ runs: Run[]; log: string[] }> {
      const log = join(bench.dir, "hooks.log");
      const dump = join(bench.src, "dump");
      const runs = (["b2", "r2"] as const).map(async (destination, i) => {
        const script = join(bench.dir, `backup-${destination}.sh`);
        const options = bench.options({
          lockFile: lockFiles[i],
          preHook: [
            `printf 'pre-start ${destination}\\n' >> '${log}'`,
            `mkdir -p '${dump}'`,
            `printf 'dump for ${destination}\\n' > '${dump}/postgresql.sql'`,
            // Without a lock both hooks overlap: each waits (up to 30 s, however slow the machine) for the other's start.
            overlap.waitForTheOther
              ? `for i in $(seq 300); do [ "$(grep -c '^pre-start' '${log}')" -ge 2 ] && break; sleep 0.1; done`
              : "sleep 2",
            `printf 'pre-end ${destination}\\n' >> '${log}'`,
          ].join("\n"),
          // The seed's cleanup: the dump goes once the backup has it.
          postHook: `rm -f '${dump}/postgresql.sql'\nprintf 'post ${destination}\\n' >> '${log}'`,
        });
        writeFileSync(script, hostBackupScript(options), { mode: 0o700 });
        if (i === 1) await new Promise((resolve) => setTimeout(resolve, 500));
        return run("bash", [script], bench.env({ RESTIC_REPOSITORY: join(bench.dir, `repo-${destination}`) }));
      });
      const results = await Promise.all(runs);
      return { runs: results, log: readFileSync(log, "utf8").trim().split("\n") };
    }

    it("runs one host's backups to two destinations one after the other: the second waits for the first's post hook", async () => {
      const { runs, log } = await twoDestinations([bench.lockFile, bench.lockFile]);
      for (const result of runs) assert.equal(result.code, 0, result.stderr);
      // r2 starts half a second later, so b2 usually goes first; under load either may: the runs must not overlap.
      const first = log[0]?.endsWith("r2") ? "r2" : "b2";
      const second = first === "b2" ? "r2" : "b2";
      assert.deepEqual(log, [`pre-start ${first}`, `pre-end ${first}`, `post ${first}`, `pre-start ${second}`, `pre-end ${second}`, `post ${second}`]);
      const [firstRun, secondRun] = first === "b2" ? runs : [runs[1], runs[0]];
      assert.match(secondRun.stderr, /another backup of router holds .*router\.lock: waiting up to 86400s/);
      assert.doesNotMatch(firstRun.stderr, /waiting/);
      // Each repository got its own run's dump: no cleanup deleted a dump under another backup.
      for (const destination of ["b2", "r2"]) {
        const env = bench.env({ RESTIC_REPOSITORY: join(bench.dir, `repo-${destination}`) });
        const dumped = await run("restic", ["dump", "latest", join(bench.src, "dump/postgresql.sql")], env);
        assert.equal(dumped.code, 0, dumped.stderr);
        assert.equal(dumped.stdout, `dump for ${destination}\n`);
      }
    });

    it("without a shared lock the same two runs interleave their hooks (the check above can fail)", async () => {
      const { runs, log } = await twoDestinations([join(bench.dir, "b2.lock"), join(bench.dir, "r2.lock")], { waitForTheOther: true });
      // Both pre hooks start before either ends, in whichever order the two runs got going.
      assert.deepEqual([...log.slice(0, 2)].sort(), ["pre-start b2", "pre-start r2"], `${log.join(", ")}\n${runs.map((r) => r.stderr).join("\n")}`);
    });

    it("gives up waiting after lockWaitSeconds, notifies, and runs neither hook (their cleanup is the other run's)", async () => {
      await bench.startNtfy();
      // Another backup of the host holds the lock meanwhile.
      const holder = spawn("flock", [bench.lockFile, "sleep", "30"], { stdio: "ignore", detached: true });
      try {
        for (let i = 0; i < 50 && !existsSync(bench.lockFile); i++) await new Promise((resolve) => setTimeout(resolve, 100));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const result = await bench.backup(bench.options({ lockWaitSeconds: 1, notify: { ntfyUrl: bench.ntfyUrl } }));
        assert.equal(result.code, BACKUP_EXIT.busy, result.stderr);
        assert.match(result.stderr, /still holds .*router\.lock after 1s: giving up/);
        assert.match(result.stderr, /not running the post hook/);
        assert.deepEqual(bench.postHookRuns(), []);
        assert.ok(!existsSync(join(bench.src, "dump")), "the pre hook ran without the lock");
        assert.ok(!existsSync(bench.repo), "the repository was touched without the lock");
        assert.equal(bench.notifications.length, 1);
        assert.match(bench.notifications[0].body, /failed at stage lock with exit code 69/);
      } finally {
        // flock and its sleep: the process group this test started.
        if (holder.pid !== undefined) process.kill(-holder.pid, "SIGTERM");
      }
    });

    it("needs only the tools it declares: bash, restic, flock (and curl, mountpoint)", async () => {
      const bin = join(bench.dir, "bin");
      mkdirSync(bin);
      for (const tool of [...HOST_BACKUP_TOOLS.required, ...HOST_BACKUP_TOOLS.optional]) {
        const path = which(tool);
        assert.ok(path, `${tool} is not installed here`);
        symlinkSync(path, join(bin, tool));
      }
      assert.match(hostBackupScript(bench.options()), /^# Needs: bash, restic, flock \(util-linux\)/m);
      // Hooks of shell builtins only: everything else the script calls must be on this PATH.
      const options = bench.options({
        preHook: `printf 'dump\\n' > '${join(bench.src, "etc/dump.sql")}'`,
        postHook: `printf '%s\\n' "$BACKUP_STATUS" > '${bench.postLog}'`,
        requireMountpoint: "/",
      });
      const result = await bench.backup(options, bench.env({ PATH: bin }));
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(bench.postHookRuns(), ["0"]);
      assert.equal((await bench.snapshots()).length, 1);
    });
  });

  describe("retention flags and options", () => {
    it("renders the seed's default policy as restic flags, scoped to this host and tag", () => {
      assert.deepEqual(keepFlags(DEFAULT_KEEP), ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6", "--keep-yearly", "2"]);
      assert.deepEqual(keepFlags({ hourly: 24, daily: 0, last: 3 }), ["--keep-last", "3", "--keep-hourly", "24"]);
      const script = hostBackupScript({ host: "citadel", paths: ["/etc"] });
      assert.match(
        script,
        /^restic forget --host "\$BACKUP_HOST" --tag "\$BACKUP_TAG" --group-by host,tags --prune \\\n {2}--keep-daily 7 --keep-weekly 4 --keep-monthly 6 --keep-yearly 2$/m,
      );
      assert.match(script, /^BACKUP_HOST='citadel'$/m);
    });

    it("rejects policies that keep nothing and malformed options", () => {
      assert.throws(() => keepFlags({}), /keeps nothing/);
      assert.throws(() => hostBackupScript({ host: "router", paths: ["/etc"], keep: { daily: 0 } }), /keep: .*keeps nothing/);
      assert.throws(() => hostBackupScript({ host: "router", paths: ["etc"] }), /paths.0: each path must be an absolute path/);
      assert.throws(() => hostBackupScript({ host: "router", paths: [] }), /at least one path/);
      assert.throws(() => hostBackupScript({ host: "router; rm -rf /", paths: ["/etc"] }), /host: must be a host name/);
      assert.throws(() => hostBackupScript({ host: "router", paths: ["/etc"], keep: { daily: 1.5 } }), /keep.daily/);
      assert.throws(() => hostBackupScript({ host: "router", paths: ["/etc"], notify: { ntfyUrl: "ftp://x/y" } }), /ntfyUrl/);
      assert.throws(() => hostBackupScript({ host: "router", paths: ["/etc"], retention: 3 } as HostBackupInput), /retention/);
      assert.throws(() => systemdUnits({ name: "Router", schedule: "daily", environmentFile: "/e", scriptPath: "/s" }), /name/);
      assert.throws(() => systemdUnits({ name: "router", schedule: "daily\nExecStartPre=/bin/evil", environmentFile: "/e", scriptPath: "/s" }), /schedule/);
      assert.throws(() => systemdUnits({ name: "router", schedule: "daily", environmentFile: "/etc/my env", scriptPath: "/s" }), /environmentFile/);
    });
  });

  describe("systemd units", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "hb-units-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function writeUnits(options: Partial<Parameters<typeof systemdUnits>[0]> = {}): { service: string; timer: string } {
      const script = join(dir, "backup.sh");
      writeFileSync(script, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      writeFileSync(join(dir, "router.env"), "RESTIC_REPOSITORY=/srv/restic\n", { mode: 0o600 });
      const units = systemdUnits({
        name: "router",
        schedule: cronToOnCalendar("30 2 * * 0"),
        randomizedDelaySec: "15m",
        environmentFile: join(dir, "router.env"),
        scriptPath: script,
        readWritePaths: ["/var/backup", "/mnt/backups/restic"],
        ...options,
      });
      const service = join(dir, "homelab-backup-router.service");
      const timer = join(dir, "homelab-backup-router.timer");
      writeFileSync(service, units.service);
      writeFileSync(timer, units.timer);
      return { service, timer };
    }

    it("pass systemd-analyze verify without a single warning", () => {
      const files = writeUnits();
      // No running systemd is needed: verify loads the files as given. --man=no skips checking
      // Documentation= man pages; --generators=no keeps it from running the host's generators.
      const result = spawnSync("systemd-analyze", ["--man=no", "--generators=no", "verify", files.service, files.timer], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr.trim(), "", `systemd-analyze printed warnings:\n${result.stderr}`);
    });

    it("verify catches a broken unit (the check above can fail)", () => {
      const files = writeUnits({ schedule: "every other tuesday" });
      const result = spawnSync("systemd-analyze", ["--man=no", "--generators=no", "verify", files.service, files.timer], { encoding: "utf8" });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /Failed to parse calendar specification/);
    });

    it("declare the hardening, low priority, persistence and jitter", () => {
      const { service, timer } = systemdUnits({
        name: "storage",
        schedule: ["daily", "Sat *-*-* 12:00:00"],
        randomizedDelaySec: 600,
        environmentFile: "/etc/homelab-backups/storage.env",
        scriptPath: "/usr/local/lib/homelab-backups/storage.sh",
        readWritePaths: ["/var/backup"],
      });
      for (const line of [
        "Type=oneshot",
        "ExecStart=/usr/local/lib/homelab-backups/storage.sh",
        "EnvironmentFile=/etc/homelab-backups/storage.env",
        "Nice=19",
        "IOSchedulingClass=idle",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=-/var/backup",
        "CacheDirectory=homelab-backups/storage",
        "Environment=RESTIC_CACHE_DIR=%C/homelab-backups/storage",
        "NoNewPrivileges=yes",
      ]) {
        assert.match(service, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")}$`, "m"), line);
      }
      assert.doesNotMatch(
        service,
        /^(User|DynamicUser|PrivateNetwork|ProtectHome|PrivateDevices|ProtectClock|DevicePolicy|DeviceAllow|ProtectKernelModules)=/m,
        "nothing that hides files or devices (/dev/zfs for snapshot hooks) from a root backup",
      );
      assert.doesNotMatch(service, /^\[Install\]/m, "the service is started by its timer only");
      for (const line of ["OnCalendar=daily", "OnCalendar=Sat *-*-* 12:00:00", "Persistent=true", "RandomizedDelaySec=600", "WantedBy=timers.target"]) {
        assert.ok(timer.split("\n").includes(line), line);
      }
    });
  });

  describe("the example stack's host backups, as the program installs them", () => {
    /** The files a host task's create script writes through its here-documents. */
    function written(create: string, delimiter: string): string {
      const match = new RegExp(`<<'${delimiter}'\\n([\\s\\S]*?)\\n${delimiter}\\n`).exec(create);
      assert.ok(match, `no ${delimiter} here-document`);
      return `${match[1]}\n`;
    }
    const storageTasks = (edit: (c: Record<string, any>) => void = () => undefined) => { // `any`: free-form config edits
      const config = parseStackConfig(editedConfig(edit));
      const item = planBackups(config).items.find((i) => i.kind === "host" && i.name === "storage-server");
      assert.ok(item);
      const copies = item.copies.filter((c) => c.method === "host-restic");
      assert.ok(copies.length >= 2, "the example backs the storage server up to two destinations");
      return copies.map((copy) => ({ copy, task: hostTask(config, item, copy) }));
    };

    it("lets the service write the hooks' directory and the lock's, and nothing else", () => {
      for (const { task } of storageTasks()) {
        const service = written(task.create, "HOMELAB_BACKUPS_SERVICE_EOF");
        assert.deepEqual(service.match(/^ReadWritePaths=.*$/gm), ["ReadWritePaths=-/var/backup", "ReadWritePaths=-/run/lock"]);
        assert.match(service, /^ProtectSystem=strict$/m);
        assert.match(service, /^CacheDirectory=homelab-backups\/storage-server-/m, "the restic cache is writable through CacheDirectory=");
      }
    });

    it("gives both destinations' scripts the host's one lock file", () => {
      const scripts = storageTasks().map(({ task }) => written(task.create, "HOMELAB_BACKUPS_SCRIPT_EOF"));
      for (const script of scripts) assert.ok(script.includes(`LOCK_FILE='${hostLockFile("storage-server")}'`), "the host's lock file");
      assert.notEqual(scripts[0], scripts[1]);
    });

    it("removes the environment file on delete, unless the destination's restore drill still reads it", () => {
      for (const { copy, task } of storageTasks()) {
        assert.match(task.delete, /rm -f "\$env_file"/);
        assert.ok(task.delete.includes(`/etc/systemd/system/homelab-backup-storage-server-${copy.destination}-drill.service`), task.delete);
      }
    });

    it("refuses readWritePaths that are relative, the root, or climb out", () => {
      const broken = (paths: unknown[]) => () => parseStackConfig(editedConfig((c) => (c.hosts["storage-server"].readWritePaths = paths)));
      assert.throws(broken(["var/backup"]), /hosts\.storage-server\.readWritePaths\[0\]: must be an absolute path/);
      assert.throws(broken(["/"]), /readWritePaths\[0\]: must not be \//);
      assert.throws(broken(["/var/backup/../../etc"]), /readWritePaths\[0\]: must not contain \. or \.\. components/);
      assert.throws(broken(["/var/my backups"]), /readWritePaths\[0\]: must be an absolute path of letters/);
      assert.deepEqual(parseStackConfig(editedConfig((c) => delete c.hosts.router.readWritePaths)).hosts.router.readWritePaths, []);
    });

    /**
     * systemd-run needs a running systemd, which this container lacks. ProtectSystem=strict and
     * ReadWritePaths= are mount-namespace views, so this builds the same view with unshare: every
     * mount read-only except /dev, /proc, /sys, the unit's ReadWritePaths= and its CacheDirectory=.
     * PrivateTmp= (a private, writable /tmp: restic writes its temporary packs there) stands in as
     * a writable TMPDIR, since the test's own files live in /tmp.
     */
    const SANDBOX = [
      "set -eu",
      'rw=$1; shift',
      'for p in $rw; do if [ -e "$p" ]; then mount --bind "$p" "$p"; fi; done',
      "for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do",
      '  case $m in /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) continue ;; esac',
      '  case " $rw " in *" $m "*) continue ;; esac',
      '  mount -o remount,bind,ro "$m"',
      "done",
      'exec "$@"',
    ].join("\n");

    it("runs the hooks and the backup under the unit's read-only sandbox, and a hook writing elsewhere fails", async function () {
      if (!isRoot || !which("unshare")) this.skip();
      const bench = new Workbench();
      const lockFile = hostLockFile("storage-server");
      try {
        const hookDir = join(bench.dir, "var-backup");
        const elsewhere = join(bench.dir, "not-listed");
        mkdirSync(hookDir);
        mkdirSync(elsewhere);
        const attempt = async (preHook: string) => {
          const [{ task }] = storageTasks((c) => {
            delete c.notifications;
            Object.assign(c.hosts["storage-server"], {
              paths: [bench.src, hookDir],
              readWritePaths: [hookDir, bench.repo],
              preHook,
              postHook: `rm -f '${hookDir}/postgresql.sql'`,
            });
          });
          const service = written(task.create, "HOMELAB_BACKUPS_SERVICE_EOF");
          const cacheHome = join(bench.dir, "var-cache");
          const privateTmp = join(bench.dir, "private-tmp");
          mkdirSync(privateTmp, { recursive: true });
          const cache = join(cacheHome, /^CacheDirectory=(.*)$/m.exec(service)![1]);
          mkdirSync(cache, { recursive: true });
          mkdirSync(bench.repo, { recursive: true });
          const writable = [...service.matchAll(/^ReadWritePaths=-(.*)$/gm)].map((m) => m[1]);
          writeFileSync(bench.scriptPath, written(task.create, "HOMELAB_BACKUPS_SCRIPT_EOF"), { mode: 0o700 });
          assert.match(service, /^PrivateTmp=yes$/m);
          const env = bench.env({ RESTIC_CACHE_DIR: /^Environment=RESTIC_CACHE_DIR=%C\/(.*)$/m.exec(service)![1].replace(/^/, `${cacheHome}/`), TMPDIR: privateTmp });
          const sandboxed = [...writable, cache, privateTmp].join(" ");
          return run("unshare", ["--mount", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox", sandboxed, "bash", bench.scriptPath], env);
        };

        const ok = await attempt(`printf 'pg_dumpall output\\n' > '${hookDir}/postgresql.sql'`);
        assert.equal(ok.code, 0, ok.stderr);
        const dumped = await run("restic", ["dump", "latest", join(hookDir, "postgresql.sql")], bench.env());
        assert.equal(dumped.stdout, "pg_dumpall output\n", dumped.stderr);
        assert.ok(!existsSync(join(hookDir, "postgresql.sql")), "the post hook cleaned up");

        const denied = await attempt(`printf 'x\\n' > '${elsewhere}/postgresql.sql'`);
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /Read-only file system/);
        assert.match(denied.stderr, /FAILED at stage pre-hook/);
      } finally {
        rmSync(lockFile, { force: true });
        await bench.cleanup();
      }
    });
  });

  describe("cron to OnCalendar", () => {
    const BASE = "2026-01-05 00:00:00 UTC";
    const ITERATIONS = 15;

    function systemdRuns(expressions: string[]): string[] {
      const result = spawnSync("systemd-analyze", ["calendar", `--iterations=${ITERATIONS}`, `--base-time=${BASE}`, ...expressions], {
        encoding: "utf8",
        env: { ...process.env, TZ: "UTC" },
      });
      assert.equal(result.status, 0, result.stderr);
      const runs = [...result.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((m) => `${m[1].replace(" ", "T")}.000Z`);
      return [...new Set(runs)].sort().slice(0, ITERATIONS);
    }

    function cronRuns(cron: string): string[] {
      const job = new Cron(cron, { paused: true, timezone: "UTC", mode: "5-part" });
      return job.nextRuns(ITERATIONS, new Date("2026-01-05T00:00:00Z")).map((date) => date.toISOString());
    }

    it("gives the same run times as cron (checked with systemd-analyze calendar)", () => {
      for (const cron of [
        "30 2 * * *",
        "*/15 * * * *",
        "0 3 * * 0",
        "0 3 * * 7",
        "0 */6 * * *",
        "5 0-20/10 * 1,2,3,7 *",
        "0 0 */2 * *",
        "45 23 31 * *",
        "0 4 1,15 * 1-5",
        "10 1 * * 1-5",
        "@weekly",
      ]) {
        const calendar = cronToOnCalendar(cron);
        assert.deepEqual(systemdRuns(calendar), cronRuns(cron), `${cron} -> ${calendar.join(" | ")}`);
      }
    });

    it("splits day-of-month OR day-of-week into two expressions, as cron means it", () => {
      assert.deepEqual(cronToOnCalendar("30 2 * * *"), ["*-*-* 02:30:00"]);
      assert.deepEqual(cronToOnCalendar("0 4 1,15 * 1-5"), ["*-*-01,15 04:00:00", "Mon..Fri *-*-* 04:00:00"]);
      assert.deepEqual(cronToOnCalendar("*/15 * * * *"), ["*-*-* *:00/15:00"]);
      assert.throws(() => cronToOnCalendar("0 3 * * MON"), /dow/);
      assert.throws(() => cronToOnCalendar("0 3 * *"), /4 fields/);
    });
  });

  describe("install and uninstall commands", () => {
    let dir: string;
    let bin: string;
    let calls: string;
    let paths: ReturnType<typeof hostBackupPaths>;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "hb-install-"));
      bin = join(dir, "bin");
      calls = join(dir, "systemctl.log");
      mkdirSync(bin);
      // systemctl needs a running systemd: a stand-in records the calls. systemd-analyze is real.
      writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> '${calls}'\n`, { mode: 0o755 });
      paths = {
        ...hostBackupPaths("router"),
        script: join(dir, "lib/homelab-backups/router.sh"),
        service: join(dir, "etc/systemd/system/homelab-backup-router.service"),
        timer: join(dir, "etc/systemd/system/homelab-backup-router.timer"),
        environmentFile: join(dir, "etc/homelab-backups/router.env"),
        cacheDir: join(dir, "cache/homelab-backups/router"),
      };
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const sh = (script: string) => spawnSync("sh", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });
    const systemctlCalls = () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []);

    /** What remote.CopyToRemote would leave: files with whatever mode the copy gave them. */
    function copyFiles(envMode: number): void {
      const units = systemdUnits({ name: "router", schedule: "weekly", environmentFile: paths.environmentFile, scriptPath: paths.script });
      writeFileSync(paths.script, hostBackupScript({ host: "router", paths: ["/etc"] }), { mode: 0o644 });
      writeFileSync(paths.service, units.service, { mode: 0o666 });
      writeFileSync(paths.timer, units.timer, { mode: 0o666 });
      writeFileSync(paths.environmentFile, "RESTIC_REPOSITORY=/srv/restic\n");
      chmodSync(paths.environmentFile, envMode);
    }

    it("prepare creates the directories, install fixes modes, verifies and enables the timer; both are idempotent", () => {
      for (let i = 0; i < 2; i++) assert.equal(sh(prepareCommands(paths)).status, 0);
      assert.equal(statSync(join(dir, "etc/homelab-backups")).mode & 0o777, 0o700);
      copyFiles(0o600);
      for (let i = 0; i < 2; i++) {
        const result = sh(installCommands(paths));
        assert.equal(result.status, 0, result.stderr);
      }
      assert.equal(statSync(paths.script).mode & 0o777, 0o700);
      assert.equal(statSync(paths.service).mode & 0o777, 0o644);
      assert.deepEqual(systemctlCalls(), [
        "daemon-reload",
        "enable homelab-backup-router.timer",
        "restart homelab-backup-router.timer",
        "daemon-reload",
        "enable homelab-backup-router.timer",
        "restart homelab-backup-router.timer",
      ]);
    });

    it("install refuses an environment file others can read, before enabling anything", () => {
      sh(prepareCommands(paths));
      copyFiles(0o644);
      const result = sh(installCommands(paths));
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /readable by root only/);
      assert.deepEqual(systemctlCalls(), []);
    });

    it("install fails when systemd-analyze finds a broken unit", () => {
      sh(prepareCommands(paths));
      copyFiles(0o600);
      writeFileSync(paths.timer, readFileSync(paths.timer, "utf8").replace("OnCalendar=weekly", "OnCalendar=someday"));
      assert.notEqual(sh(installCommands(paths)).status, 0);
      assert.deepEqual(systemctlCalls(), []);
    });

    it("uninstall disables the timer, removes units, script, cache and the environment file with its secrets, and can run again", () => {
      sh(prepareCommands(paths));
      copyFiles(0o600);
      assert.equal(sh(installCommands(paths)).status, 0);
      mkdirSync(paths.cacheDir, { recursive: true });
      writeFileSync(calls, "");
      for (let i = 0; i < 2; i++) {
        const result = sh(uninstallCommands(paths));
        assert.equal(result.status, 0, result.stderr);
      }
      for (const path of [paths.script, paths.service, paths.timer, paths.cacheDir, paths.environmentFile]) assert.ok(!existsSync(path), `${path} removed`);
      assert.ok(!existsSync(join(dir, "etc/homelab-backups")), "the emptied secrets directory is removed too");
      assert.deepEqual(systemctlCalls().filter(Boolean), [
        "disable --now homelab-backup-router.timer",
        "stop homelab-backup-router.service",
        "daemon-reload",
        "reset-failed homelab-backup-router.service homelab-backup-router.timer",
        "daemon-reload",
        "reset-failed homelab-backup-router.service homelab-backup-router.timer",
      ]);
    });

    it("a backup and its drill share the environment file: it stays while either is installed, in either order of removal", () => {
      const drill: typeof paths = {
        ...paths,
        name: "router-drill",
        script: join(dir, "lib/homelab-backups/router-drill.sh"),
        service: join(dir, "etc/systemd/system/homelab-backup-router-drill.service"),
        timer: join(dir, "etc/systemd/system/homelab-backup-router-drill.timer"),
        cacheDir: join(dir, "cache/homelab-backups/router-drill"),
      };
      const installBoth = () => {
        sh(prepareCommands(paths));
        copyFiles(0o600);
        assert.equal(sh(installCommands(paths)).status, 0);
        const units = systemdUnits({ name: "router-drill", schedule: "monthly", environmentFile: paths.environmentFile, scriptPath: drill.script });
        writeFileSync(drill.script, "#!/bin/sh\nexit 0\n");
        writeFileSync(drill.service, units.service);
        writeFileSync(drill.timer, units.timer);
        assert.equal(sh(installCommands(drill)).status, 0);
      };
      const removeBackup = () => sh(uninstallCommands(paths, { environmentFileSharedWith: [drill.service] }));
      const removeDrill = () => sh(uninstallCommands(drill, { environmentFileSharedWith: [paths.service] }));
      for (const order of [[removeDrill, removeBackup], [removeBackup, removeDrill]]) {
        installBoth();
        const first = order[0]();
        assert.equal(first.status, 0, first.stderr);
        assert.ok(existsSync(paths.environmentFile), "the environment file went while the other install still reads it");
        assert.match(first.stdout, /keeping .*router\.env: .* still reads it/);
        const second = order[1]();
        assert.equal(second.status, 0, second.stderr);
        assert.ok(!existsSync(paths.environmentFile), "the last install to go leaves its secrets behind");
      }
    });
  });
});
