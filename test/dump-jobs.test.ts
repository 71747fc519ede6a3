/**
 * The backup jobs' shell scripts, run as generated under Debian's sh (dash) against real
 * PostgreSQL, SQLite, Redis, restic, rsync and sshd, each proven by restoring what it wrote.
 * Every script runs with PATH holding only the tools SCRIPT_TOOLS declares for it, an environment
 * of only the variables the jobs get, and a recorder standing in for ntfy and healthchecks.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { gunzipSync } from "node:zlib";
import {
  Notify,
  postgresDumpScript,
  redisDumpScript,
  resticOffsiteScript,
  rsyncOffsiteScript,
  SCRIPT_TOOLS,
  ScriptName,
  sqliteDumpScript,
} from "../domain/jobs/scripts";
import {
  exec,
  freePort,
  isRoot,
  mustExec,
  pgBinDir,
  Postgres,
  RecordedRequest,
  Recorder,
  sshKeygen,
  startPostgres,
  startRecorder,
  startRedis,
  startSshd,
  tempDir,
  toolDir,
  which,
  BUSYBOX,
  Busybox,
  jobShell,
} from "./support/services";

/** Secrets the jobs get from their environment; none may show in script text, logs or messages. */
const SECRETS = {
  pg: "pg-S3cret-passw0rd",
  redis: "redis-S3cret-passw0rd",
  restic: "restic-S3cret-passw0rd",
  ntfy: "tk_ntfyS3cretToken",
};
const WRONG_PASSWORD = "wrong-S3cret-passw0rd";
const ALL_SECRETS = [...Object.values(SECRETS), WRONG_PASSWORD];

interface JobRun {
  code: number | null;
  output: string;
  /** Requests to the ntfy topic. */
  ntfy: RecordedRequest[];
  /** Paths pinged under HEALTHCHECKS_URL, in order, with their bodies. */
  pings: { path: string; body: string }[];
}

const dumpName = (item: string, ext: string) => new RegExp(`^${item}-\\d{8}T\\d{6}Z\\.${ext.replace(/\./g, "\\.")}$`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits for the next wall-clock second, so that two runs get distinct timestamps. */
const nextSecond = () => sleep(1020 - (Date.now() % 1000));

/**
 * JOB_SHELL=busybox runs the scripts under `busybox sh` with busybox's applets in place of
 * Debian's coreutils, gzip and wget, as in the alpine images (needs Debian's busybox package).
 */

describe(`backup job scripts, proven by real restores${BUSYBOX ? " (busybox)" : ""}`, function () {
  this.timeout(120_000);
  let root: string;
  let recorder: Recorder;
  let shell: string[] = ["/bin/sh"];
  let busybox: Busybox | undefined;
  const toolDirs = new Map<ScriptName, string>();

  before(async () => {
    root = tempDir("jobs");
    recorder = await startRecorder();
    ({ shell, busybox } = await jobShell());
  });
  after(async () => {
    await recorder?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const notify = (item: string): Notify => ({ app: "photos", item, ntfyUrl: `${recorder.url}/backups` });

  function freshDir(name: string): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Runs a generated script as the CronJob would: `sh <file>`, PATH limited to the script's
   * declared tools, NTFY_TOKEN and HEALTHCHECKS_URL set, plus `env`. With `fileSizeLimitBlocks`
   * a wrapping shell ignores SIGXFSZ and sets `ulimit -f`, so every write past that size fails
   * with EFBIG ("File too large"): a disk that fills up mid-dump, as every tool sees it (a failed
   * write), for root and non-root alike and without mounting anything. With `asNobody`, a test
   * run as root runs the job as uid/gid 65534 (setpriv), so that file modes apply to it.
   */
  async function runJob(
    name: ScriptName,
    script: string,
    env: Record<string, string>,
    options: { fileSizeLimitBlocks?: number; asNobody?: boolean } = {},
  ): Promise<JobRun> {
    for (const secret of ALL_SECRETS) assert.ok(!script.includes(secret), `the ${name} script text contains a secret`);
    let bin = toolDirs.get(name);
    if (!bin) {
      bin = toolDir(root, SCRIPT_TOOLS[name], busybox);
      toolDirs.set(name, bin);
    }
    const file = join(root, `${name}.sh`);
    writeFileSync(file, script);
    const jobTmp = freshDir(`tmp-${name}`);
    const hcPath = `/hc/${name}`;
    recorder.requests.length = 0;
    const fullEnv = {
      PATH: bin,
      HOME: root,
      TMPDIR: jobTmp,
      NTFY_TOKEN: SECRETS.ntfy,
      HEALTHCHECKS_URL: `${recorder.url}${hcPath}`,
      ...env,
    };
    const args = options.fileSizeLimitBlocks
      ? ["-c", `trap '' XFSZ; ulimit -f ${options.fileSizeLimitBlocks}; exec ${shell.join(" ")} "$0"`, file]
      : [file];
    const dropToNobody = options.asNobody === true && isRoot;
    // nobody needs to reach the script and its tools, and to write its TMPDIR.
    if (dropToNobody) {
      chmodSync(root, 0o711);
      chmodSync(jobTmp, 0o1777);
    }
    const [command, ...commandArgs] = dropToNobody
      ? [which("setpriv") ?? "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...shell, ...args]
      : [...shell, ...args];
    const result = await exec(command!, commandArgs, { env: fullEnv, timeoutMs: 90_000 }).finally(() => {
      if (dropToNobody) chmodSync(root, 0o700);
    });
    const output = result.stdout + result.stderr;
    if (process.env.DEBUG_JOBS) {
      console.log(`--- ${name} exited ${result.code}\n${output}${recorder.requests.map((r) => `>>> ${r.method} ${r.path} ${r.headers.title ?? ""}\n${r.body}`).join("\n")}`);
    }
    const run: JobRun = {
      code: result.code,
      output,
      ntfy: recorder.requests.filter((r) => r.path === "/backups"),
      pings: recorder.requests.filter((r) => r.path.startsWith(hcPath)).map((r) => ({ path: r.path.slice(hcPath.length) || "/", body: r.body })),
    };
    for (const secret of ALL_SECRETS) {
      assert.ok(!output.includes(secret), `the ${name} job printed a secret:\n${output}`);
      for (const request of recorder.requests) {
        assert.ok(!request.body.includes(secret) && !String(request.headers.title ?? "").includes(secret), `a notification carries a secret: ${request.body}`);
      }
    }
    assert.deepEqual(readdirSync(jobTmp), [], "the job leaves its temporary directory behind");
    return run;
  }

  function assertSucceeded(run: JobRun, item: string): RecordedRequest {
    assert.equal(run.code, 0, `the job failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}`);
    const message = run.ntfy[0]!;
    assert.equal(message.method, "POST");
    assert.equal(message.headers.title, `photos/${item} backup succeeded`);
    assert.equal(message.headers.authorization, `Bearer ${SECRETS.ntfy}`);
    assert.match(message.body, new RegExp(`^photos/${item}: `));
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/"]);
    return message;
  }

  function assertFailed(run: JobRun, item: string, reason: RegExp): RecordedRequest {
    assert.ok(run.code !== 0 && run.code !== null, `the job should have failed:\n${run.output}`);
    assert.equal(run.ntfy.length, 1, `expected one ntfy message, got ${run.ntfy.length}:\n${run.output}`);
    const message = run.ntfy[0]!;
    assert.equal(message.headers.title, `photos/${item} backup FAILED`);
    assert.equal(message.headers.priority, "high");
    assert.match(message.headers.tags as string, /rotating_light/);
    assert.match(message.body, new RegExp(`^photos/${item}: .* FAILED at step: `));
    assert.match(message.body, reason);
    assert.deepEqual(run.pings.map((p) => p.path), ["/start", "/fail"]);
    assert.match(run.pings[1]!.body, reason);
    return message;
  }

  describe("script text", () => {
    const all = () => [
      postgresDumpScript({ database: "app", keepLast: 7, dir: "/backup/photos", notify: notify("db") }),
      postgresDumpScript({ database: "all", keepLast: 7, dir: "/backup/photos", notify: notify("db") }),
      sqliteDumpScript({ databasePath: "/data/app.db", keepLast: 7, dir: "/backup/photos", notify: notify("vault") }),
      redisDumpScript({ keepLast: 7, dir: "/backup/photos", notify: { app: "photos", item: "cache" } }),
      resticOffsiteScript({ sourceDir: "/backup", keep: { daily: 7, weekly: 4, monthly: 6 }, host: "homelab", notify: notify("offsite-b2") }),
      rsyncOffsiteScript({ sourceDir: "/backup", user: "backup", host: "nas.example.org", port: 22, path: "/mnt/backup/homelab", notify: notify("offsite-nas") }),
    ];

    it("is deterministic POSIX sh that names its tools and reads credentials only from the environment", async () => {
      const first = all();
      assert.deepEqual(all(), first);
      for (const script of first) {
        assert.match(script, /^#!\/bin\/sh\n/);
        assert.match(script, /\nset -eu\n/);
        assert.doesNotMatch(script, /set -o pipefail|\[\[|\bapk add\b|\bcurl\b|\bbash\b|^\s*local\s|^function\s/m);
        // Passwords stay in the tools' own environment: the script neither sets nor reads them.
        assert.doesNotMatch(script, /\b(PGPASSWORD|RESTIC_PASSWORD|REDISCLI_AUTH|AWS_SECRET_ACCESS_KEY)=|\$\{?(PGPASSWORD|RESTIC_PASSWORD|REDISCLI_AUTH|AWS_SECRET_ACCESS_KEY)/);
        for (const secret of ALL_SECRETS) assert.ok(!script.includes(secret));
        const syntax = await exec(shell[0]!, [...shell.slice(1), "-n"], { input: script });
        assert.equal(syntax.code, 0, syntax.stderr);
      }
      assert.match(first[0]!, /pg_dump --no-password --format=custom/);
      assert.match(first[1]!, /pg_dumpall --no-password/);
      assert.match(first[4]!, /--keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune/);
      assert.match(first[5]!, /StrictHostKeyChecking=yes -o UserKnownHostsFile=\$SSH_KNOWN_HOSTS_FILE/);
    });

    it("refuses options that would misname files, break quoting or keep nothing", () => {
      const base = { keepLast: 3, dir: "/backup", notify: notify("db") };
      assert.throws(() => sqliteDumpScript({ ...base, databasePath: "/data/app.db", notify: notify("../db") }), /notify\.item/);
      assert.throws(() => sqliteDumpScript({ ...base, databasePath: "/data/app.db", keepLast: 0 }), /keepLast/);
      assert.throws(() => sqliteDumpScript({ ...base, databasePath: "relative.db" }), /databasePath/);
      assert.throws(() => redisDumpScript({ ...base, dir: "/backup/it's" }), /dir/);
      assert.throws(() => redisDumpScript({ ...base, dir: "/" }), /dir/);
      assert.throws(() => postgresDumpScript({ ...base, database: "host=evil" }), /database/);
      assert.throws(() => redisDumpScript({ ...base, notify: { app: "photos", item: "db", ntfyUrl: "https://ntfy.sh/x'y" } }), /ntfyUrl/);
      assert.throws(() => resticOffsiteScript({ sourceDir: "/backup", keep: {}, host: "homelab", notify: notify("x") }), /at least one/);
      assert.throws(() => resticOffsiteScript({ sourceDir: "/backup", keep: { daily: 0 }, host: "homelab", notify: notify("x") }), /keeps nothing/);
      assert.throws(() => resticOffsiteScript({ sourceDir: "/backup", keep: { daily: 1.5 }, host: "homelab", notify: notify("x") }), /keep\.daily/);
      assert.throws(() => rsyncOffsiteScript({ sourceDir: "/backup", user: "u", host: "nas", port: 70000, path: "/x", notify: notify("x") }), /port/);
      assert.throws(() => rsyncOffsiteScript({ sourceDir: "/backup", user: "u", host: "nas", port: 22, path: "/x y", notify: notify("x") }), /path/);
    });
  });

  describe("PostgreSQL dumps", () => {
    let pg: Postgres;
    const rowsQuery = "SELECT id, title, taken, encode(data, 'hex'), album FROM photos ORDER BY id";

    before(async () => {
      pg = await startPostgres(SECRETS.pg);
      await pg.psql("CREATE DATABASE app");
      await pg.psql("CREATE ROLE reader LOGIN PASSWORD 'reader-pass'");
      await pg.psql(
        [
          "CREATE TABLE albums (id int PRIMARY KEY, name text NOT NULL)",
          "INSERT INTO albums VALUES (1, 'Sommer ☀'), (2, 'Winter ❄')",
          "CREATE TABLE photos (id int PRIMARY KEY, title text, taken timestamptz, data bytea, album int REFERENCES albums)",
          "INSERT INTO photos SELECT i, 'Foto Nr. ' || i || ' 🌊', timestamptz '2024-06-01 12:00+02' + i * interval '1 hour', decode(md5(i::text), 'hex'), 1 + i % 2 FROM generate_series(1, 500) i",
          "INSERT INTO photos VALUES (501, NULL, NULL, NULL, NULL)",
          "GRANT SELECT ON photos TO reader",
        ].join("; "),
        "app",
      );
      await pg.psql("CREATE DATABASE big");
      // ~1.3 MB of hex that compresses to ~0.7 MB: larger than the simulated free space.
      await pg.psql("CREATE TABLE blobs AS SELECT i, md5(i::text) || md5((i + 1)::text) AS h FROM generate_series(1, 20000) i", "big");
    });
    after(async () => {
      await pg?.stop();
    });

    const pgEnv = () => ({ ...pg.env });
    const pgBin = (tool: string) => join(pgBinDir(), tool);

    it("pg_dump of one database restores with pg_restore into a fresh database with the same rows", async () => {
      const dir = freshDir("pg-one");
      const run = await runJob("postgresDump", postgresDumpScript({ database: "app", keepLast: 3, dir, notify: notify("db") }), pgEnv());
      const message = assertSucceeded(run, "db");
      const files = readdirSync(dir);
      assert.equal(files.length, 1, files.join(", "));
      assert.match(files[0]!, dumpName("db", "dump"));
      assert.match(message.body, new RegExp(files[0]!.replace(/\./g, "\\.")));

      await pg.psql("CREATE DATABASE restored_one");
      await mustExec(pgBin("pg_restore"), ["--exit-on-error", "-d", "restored_one", join(dir, files[0]!)], { env: { ...process.env, ...pg.env } });
      const original = await pg.psql(rowsQuery, "app");
      assert.equal(original.trim().split("\n").length, 501);
      assert.equal(await pg.psql(rowsQuery, "restored_one"), original);
      assert.equal(await pg.psql("SELECT has_table_privilege('reader', 'photos', 'SELECT')", "restored_one"), "t\n");
    });

    it("pg_dumpall of the cluster restores into a fresh cluster: roles, databases and rows", async () => {
      const dir = freshDir("pg-all");
      const run = await runJob("postgresDump", postgresDumpScript({ database: "all", keepLast: 3, dir, notify: notify("cluster") }), pgEnv());
      assertSucceeded(run, "cluster");
      const files = readdirSync(dir);
      assert.equal(files.length, 1, files.join(", "));
      assert.match(files[0]!, dumpName("cluster", "sql.gz"));

      const fresh = await startPostgres(SECRETS.pg);
      try {
        const sql = gunzipSync(readFileSync(join(dir, files[0]!)));
        // A fresh cluster already has the role postgres: psql reports that one error and goes on.
        await mustExec(pgBin("psql"), ["-X", "-q", "-d", "postgres", "-f", "-"], { env: { ...process.env, ...fresh.env }, input: sql });
        assert.equal(await fresh.psql(rowsQuery, "app"), await pg.psql(rowsQuery, "app"));
        assert.equal(await fresh.psql("SELECT count(*) FROM blobs", "big"), "20000\n");
        assert.equal(await fresh.psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'reader'"), "t\n");
        assert.equal(await fresh.psql("SELECT has_table_privilege('reader', 'photos', 'SELECT')", "app"), "t\n");
      } finally {
        await fresh.stop();
      }
    });

    it("fails with a notification naming app, item and reason when the server is down or refuses the password", async () => {
      const closedPort = String(await freePort());
      const cases: { database: string; env: Record<string, string>; reason: RegExp }[] = [
        { database: "app", env: { ...pgEnv(), PGPORT: closedPort }, reason: /step: pg_dump of database app[\s\S]*(Connection refused|could not connect)/ },
        { database: "all", env: { ...pgEnv(), PGPORT: closedPort }, reason: /step: pg_dumpall of the cluster[\s\S]*(Connection refused|could not connect)/ },
        { database: "app", env: { ...pgEnv(), PGPASSWORD: WRONG_PASSWORD }, reason: /password authentication failed for user "postgres"/ },
      ];
      for (const c of cases) {
        const dir = freshDir(`pg-down-${c.database}-${c.env.PGPASSWORD === WRONG_PASSWORD ? "auth" : "port"}`);
        writeFileSync(join(dir, "db-20200101T000000Z.dump"), "an older dump");
        const run = await runJob("postgresDump", postgresDumpScript({ database: c.database, keepLast: 1, dir, notify: notify("db") }), c.env);
        assertFailed(run, "db", c.reason);
        assert.deepEqual(readdirSync(dir), ["db-20200101T000000Z.dump"], "a failed run must neither leave files nor prune older dumps");
      }
    });

    it("fails when the disk fills up mid-dump and leaves no file with a final name, nor a partial one", async () => {
      for (const database of ["big", "all"]) {
        const dir = freshDir(`pg-full-${database}`);
        const run = await runJob("postgresDump", postgresDumpScript({ database, keepLast: 3, dir, notify: notify("db") }), pgEnv(), {
          fileSizeLimitBlocks: 256, // 128 KiB
        });
        assertFailed(run, "db", /File too large/);
        assert.deepEqual(readdirSync(dir), [], `${database}: files left behind`);
      }
    });
  });

  describe("SQLite dumps", () => {
    /** A small database and a backup directory that already holds one older dump of the item. */
    function sqliteCase(name: string): { dbPath: string; dir: string; older: string } {
      const dataDir = freshDir(`${name}-data`);
      const dir = freshDir(`${name}-out`);
      const older = "vault-20200101T000000Z.sqlite.gz";
      writeFileSync(join(dir, older), "an older dump");
      const dbPath = join(dataDir, "vault.db");
      const db = new DatabaseSync(dbPath);
      db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
      db.close();
      return { dbPath, dir, older };
    }

    it("fails with a notification naming the reason when the database file is missing (the claim not mounted)", async () => {
      const { dbPath, dir, older } = sqliteCase("sqlite-missing");
      const missing = join(dbPath, "..", "missing.db");
      const run = await runJob("sqliteDump", sqliteDumpScript({ databasePath: missing, keepLast: 1, dir, notify: notify("vault") }), {});
      assertFailed(run, "vault", /step: check the database file [\s\S]*no SQLite database at \S*missing\.db \(is the volume mounted\?\)/);
      assert.ok(!existsSync(missing), "the job created the database it should have copied");
      assert.deepEqual(readdirSync(dir), [older], "a failed run must neither leave files nor prune older dumps");
    });

    it("fails with a notification naming the reason when the database file is unreadable: no permission, or not a database", async () => {
      const { dbPath, dir, older } = sqliteCase("sqlite-unreadable");
      chmodSync(dbPath, 0o000);
      // As root every file is readable: the job then runs as nobody, like a job with the wrong uid.
      const denied = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 1, dir, notify: notify("vault") }), {}, { asNobody: true });
      assertFailed(denied, "vault", /step: check the database file [\s\S]*vault\.db is not readable by this job/);
      assert.deepEqual(readdirSync(dir), [older]);

      chmodSync(dbPath, 0o644);
      writeFileSync(dbPath, randomBytes(64 * 1024));
      const garbage = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 1, dir, notify: notify("vault") }), {});
      assertFailed(garbage, "vault", /step: online backup of \S*vault\.db \(sqlite3 \.backup\)[\s\S]*file is not a database/);
      assert.deepEqual(readdirSync(dir), [older]);
    });

    it("fails with a notification when the disk fills up mid-copy, and leaves no file with a final name, nor a partial one", async () => {
      const { dbPath, dir, older } = sqliteCase("sqlite-full");
      const db = new DatabaseSync(dbPath);
      try {
        // ~1 MB that does not compress: larger than the simulated free space at every step.
        const insert = db.prepare("INSERT INTO t VALUES (?)");
        for (let i = 0; i < 100; i++) insert.run(randomBytes(10_000).toString("base64"));
      } finally {
        db.close();
      }
      const run = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 1, dir, notify: notify("vault") }), {}, {
        fileSizeLimitBlocks: 256, // 128 KiB
      });
      // SQLite reports a failed write (EFBIG here, ENOSPC on a full disk) in its own words.
      assertFailed(run, "vault", /step: online backup of [\s\S]*(disk I\/O error|database or disk is full|File too large)/);
      assert.deepEqual(readdirSync(dir), [older], "files left behind");
    });

    it("copies a live WAL database with an open writer: committed rows restore, the open transaction does not", async () => {
      const dataDir = freshDir("sqlite-data");
      const dir = freshDir("sqlite-out");
      const dbPath = join(dataDir, "vault.db");
      const db = new DatabaseSync(dbPath);
      try {
        db.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE ciphers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)");
        const insert = db.prepare("INSERT INTO ciphers (id, name, data) VALUES (?, ?, ?)");
        for (let i = 1; i <= 300; i++) insert.run(i, `login ${i} ✓`, Buffer.from(`secret-blob-${i}`));
        db.exec("BEGIN IMMEDIATE");
        insert.run(1000, "uncommitted-marker", null);
        // The committed rows live only in the WAL so far: a file copy of vault.db would lose them.
        assert.ok(!readFileSync(dbPath).includes("login 300"));

        const run = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 3, dir, notify: notify("vault") }), {});
        assertSucceeded(run, "vault");
      } finally {
        if (db.isTransaction) db.exec("ROLLBACK");
        db.close();
      }
      const files = readdirSync(dir);
      assert.equal(files.length, 1, files.join(", "));
      assert.match(files[0]!, dumpName("vault", "sqlite.gz"));
      const restoredPath = join(dataDir, "restored.db");
      writeFileSync(restoredPath, gunzipSync(readFileSync(join(dir, files[0]!))));
      const restored = new DatabaseSync(restoredPath);
      try {
        assert.deepEqual(restored.prepare("PRAGMA integrity_check").all().map((row) => ({ ...row })), [{ integrity_check: "ok" }]);
        const rows = restored.prepare("SELECT id, name, CAST(data AS TEXT) AS data FROM ciphers ORDER BY id").all();
        assert.equal(rows.length, 300);
        assert.deepEqual({ ...rows[299] }, { id: 300, name: "login 300 ✓", data: "secret-blob-300" });
        assert.equal(restored.prepare("SELECT count(*) AS n FROM ciphers WHERE name = 'uncommitted-marker'").get()!.n, 0);
      } finally {
        restored.close();
      }
    });

    it("keeps exactly the newest keepLast dumps of its item and touches no other file", async () => {
      const dataDir = freshDir("retention-data");
      const dir = freshDir("retention-out");
      const dbPath = join(dataDir, "app.db");
      const db = new DatabaseSync(dbPath);
      db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
      db.close();
      const unrelated: Record<string, string> = {
        "vault-old-20200101T000000Z.sqlite.gz": "another item whose name starts alike",
        "vault-20200101T000000Z.rdb.gz": "same item, another kind of dump",
        "notes.txt": "hands off",
      };
      for (const [name, content] of Object.entries(unrelated)) writeFileSync(join(dir, name), content);
      writeFileSync(join(dir, "vault-20200101T000000Z.sqlite.gz"), "the oldest dump of this item");
      // Left by a run killed two days ago (removed), and by a run that may still be going (kept).
      writeFileSync(join(dir, ".vault.partial.Old123"), "half a dump");
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      utimesSync(join(dir, ".vault.partial.Old123"), twoDaysAgo, twoDaysAgo);
      unrelated[".vault.partial.New456"] = "a dump being written right now";
      writeFileSync(join(dir, ".vault.partial.New456"), unrelated[".vault.partial.New456"]);

      const keepLast = 2;
      const written: string[] = [];
      for (let i = 0; i < keepLast + 2; i++) {
        if (i > 0) await nextSecond();
        const run = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast, dir, notify: notify("vault") }), {});
        const message = assertSucceeded(run, "vault");
        const name = /wrote (\S+)/.exec(message.body)?.[1];
        assert.ok(name, message.body);
        written.push(name);
      }
      assert.equal(new Set(written).size, written.length, "timestamps must differ");
      const remaining = readdirSync(dir).filter((f) => dumpName("vault", "sqlite.gz").test(f)).sort();
      assert.deepEqual(remaining, written.slice(-keepLast));
      for (const [name, content] of Object.entries(unrelated)) assert.equal(readFileSync(join(dir, name), "utf8"), content, name);
      assert.ok(!existsSync(join(dir, ".vault.partial.Old123")), "a killed run's temporary file stays forever");
      assert.equal(readdirSync(dir).length, keepLast + Object.keys(unrelated).length);
    });
  });

  describe("Redis dumps", () => {
    it("an RDB snapshot restores into a fresh redis-server with the same keys", async () => {
      const redis = await startRedis({ password: SECRETS.redis });
      const dir = freshDir("redis-out");
      let restoredServer: Awaited<ReturnType<typeof startRedis>> | undefined;
      try {
        await redis.cli("SET", "greeting", "hello wörld");
        await redis.cli("HSET", "user:1", "name", "Ada", "born", "1815");
        await redis.cli("RPUSH", "queue", "a", "b", "c");
        await redis.cli("SADD", "tags", "x", "y", "z");
        await redis.cli("SET", "counter", "42");
        const env = { REDIS_HOST: "127.0.0.1", REDIS_PORT: String(redis.port), REDISCLI_AUTH: SECRETS.redis };
        const run = await runJob("redisDump", redisDumpScript({ keepLast: 2, dir, notify: notify("cache") }), env);
        assertSucceeded(run, "cache");
        const files = readdirSync(dir);
        assert.equal(files.length, 1, files.join(", "));
        assert.match(files[0]!, dumpName("cache", "rdb.gz"));

        const restoreDir = freshDir("redis-restore");
        writeFileSync(join(restoreDir, "restored.rdb"), gunzipSync(readFileSync(join(dir, files[0]!))));
        restoredServer = await startRedis({ rdb: { dir: restoreDir, file: "restored.rdb" } });
        assert.equal((await restoredServer.cli("DBSIZE")).trim(), "5");
        assert.equal((await restoredServer.cli("GET", "greeting")).trim(), "hello wörld");
        assert.equal((await restoredServer.cli("HGET", "user:1", "born")).trim(), "1815");
        assert.equal((await restoredServer.cli("LRANGE", "queue", "0", "-1")).trim(), "a\nb\nc");
        assert.deepEqual((await restoredServer.cli("SMEMBERS", "tags")).trim().split("\n").sort(), ["x", "y", "z"]);
        assert.equal((await restoredServer.cli("GET", "counter")).trim(), "42");

        const refused = await runJob("redisDump", redisDumpScript({ keepLast: 2, dir, notify: notify("cache") }), { ...env, REDISCLI_AUTH: WRONG_PASSWORD });
        assertFailed(refused, "cache", /step: redis-cli --rdb[\s\S]*(WRONGPASS|AUTH failed)/);
        assert.deepEqual(readdirSync(dir), files, "a failed run leaves only the earlier dump");
      } finally {
        await restoredServer?.stop();
        await redis.stop();
      }
    });
  });

  describe("restic offsite copies", () => {
    it("initialises the repository once, restores byte-identical files, and forget keeps the newest snapshots", async () => {
      const source = freshDir("restic-src");
      const repo = join(root, "restic-repo");
      const restic = (...args: string[]) =>
        mustExec("restic", args, { env: { ...process.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: SECRETS.restic, RESTIC_CACHE_DIR: join(root, "restic-cache") } });
      mkdirSync(join(source, "immich"));
      const files: Record<string, Buffer> = {
        "immich/db-20260101T000000Z.dump": randomBytes(300_000),
        "vault-20260101T000000Z.sqlite.gz": randomBytes(5_000),
      };
      for (const [name, content] of Object.entries(files)) writeFileSync(join(source, name), content);
      writeFileSync(join(source, ".vault.partial.Ab12Cd"), "a dump still being written");
      const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: SECRETS.restic, RESTIC_CACHE_DIR: join(root, "restic-cache") };
      const script = resticOffsiteScript({ sourceDir: source, keep: { last: 2 }, host: "homelab", notify: notify("offsite-b2") });

      const first = await runJob("resticOffsite", script, env);
      assertSucceeded(first, "offsite-b2");
      assert.match(first.output, /no restic repository yet: initialising one/);
      assert.ok(existsSync(join(repo, "config")));

      const target = join(root, "restic-restore-1");
      await restic("restore", "latest", "--target", target);
      for (const [name, content] of Object.entries(files)) assert.ok(readFileSync(join(target, source, name)).equals(content), name);
      assert.ok(!existsSync(join(target, source, ".vault.partial.Ab12Cd")), "a partial dump went offsite");

      const firstSnapshot = (JSON.parse(await restic("snapshots", "--json")) as { id: string }[])[0]!.id;
      const newest = randomBytes(10_000);
      for (let i = 0; i < 2; i++) {
        writeFileSync(join(source, `vault-2026010${i + 2}T000000Z.sqlite.gz`), i === 1 ? newest : randomBytes(1000));
        const run = await runJob("resticOffsite", script, env);
        assertSucceeded(run, "offsite-b2");
        assert.doesNotMatch(run.output, /initialising one/);
      }
      const snapshots = JSON.parse(await restic("snapshots", "--json")) as { id: string; time: string; tags: string[]; hostname: string }[];
      assert.equal(snapshots.length, 2, "--keep-last 2 keeps the 2 newest of 3");
      assert.ok(!snapshots.some((s) => s.id === firstSnapshot), "the oldest snapshot is forgotten");
      assert.ok(snapshots.every((s) => s.hostname === "homelab" && s.tags.includes("dumps")));
      const target2 = join(root, "restic-restore-2");
      await restic("restore", "latest", "--target", target2);
      assert.ok(readFileSync(join(target2, source, "vault-20260103T000000Z.sqlite.gz")).equals(newest));

      const refused = await runJob("resticOffsite", script, { ...env, RESTIC_PASSWORD: WRONG_PASSWORD });
      assertFailed(refused, "offsite-b2", /step: open the restic repository[\s\S]*wrong password/);
      assert.match(refused.output, /not initialising/);
      assert.equal((JSON.parse(await restic("snapshots", "--json")) as unknown[]).length, 2);
    });
  });

  describe("rsync offsite copies", () => {
    let sshd: Awaited<ReturnType<typeof startSshd>>;
    let knownHosts: string;
    before(async () => {
      sshd = await startSshd();
      knownHosts = join(root, "known_hosts");
      writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    });
    after(async () => {
      await sshd?.stop();
    });

    const script = (source: string, path: string) =>
      rsyncOffsiteScript({ sourceDir: source, user: sshd.user, host: "127.0.0.1", port: sshd.port, path, notify: notify("offsite-nas") });

    it("mirrors the dump directory over SSH with the pinned host key, creating the remote path", async () => {
      const source = freshDir("rsync-src");
      mkdirSync(join(source, "immich"));
      const files: Record<string, Buffer> = { "immich/db-20260101T000000Z.dump": randomBytes(200_000), "vault-20260101T000000Z.sqlite.gz": randomBytes(3000) };
      for (const [name, content] of Object.entries(files)) writeFileSync(join(source, name), content);
      writeFileSync(join(source, ".vault.partial.Zz99Yy"), "in progress");
      const remote = join(root, "offsite", "nas", "homelab");
      const env = { SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: knownHosts };

      assertSucceeded(await runJob("rsyncOffsite", script(source, remote), env), "offsite-nas");
      for (const [name, content] of Object.entries(files)) assert.ok(readFileSync(join(remote, name)).equals(content), name);
      assert.ok(!existsSync(join(remote, ".vault.partial.Zz99Yy")), "a partial dump went offsite");

      unlinkSync(join(source, "vault-20260101T000000Z.sqlite.gz"));
      writeFileSync(join(source, "vault-20260102T000000Z.sqlite.gz"), "newer");
      assertSucceeded(await runJob("rsyncOffsite", script(source, remote), env), "offsite-nas");
      assert.deepEqual(readdirSync(remote).sort(), ["immich", "vault-20260102T000000Z.sqlite.gz"], "the offsite copy mirrors pruning");
    });

    it("fails with a notification and copies nothing when the host key does not match the pinned one", async () => {
      const source = freshDir("rsync-src-2");
      writeFileSync(join(source, "db-20260101T000000Z.dump"), "dump");
      const otherKey = await sshKeygen(join(root, "impostor_ed25519"));
      const wrongKnownHosts = join(root, "known_hosts_wrong");
      writeFileSync(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${otherKey.split(" ").slice(0, 2).join(" ")}\n`);
      const remote = join(root, "offsite-mitm", "homelab");
      const run = await runJob("rsyncOffsite", script(source, remote), { SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: wrongKnownHosts });
      assertFailed(run, "offsite-nas", /step: rsync to [\s\S]*(Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED)/);
      assert.ok(!existsSync(join(root, "offsite-mitm")), "something reached the unverified host");
      assert.equal(readFileSync(wrongKnownHosts, "utf8").split("\n").filter(Boolean).length, 1, "known_hosts must not learn keys");
    });

    it("refuses an empty source directory (an unmounted share), so --delete cannot wipe the offsite copy", async () => {
      const remote = join(root, "offsite-keep");
      mkdirSync(remote);
      writeFileSync(join(remote, "db-20260101T000000Z.dump"), "the only offsite copy");
      const run = await runJob("rsyncOffsite", script(freshDir("rsync-empty"), remote), { SSH_KEY_FILE: sshd.clientKeyFile, SSH_KNOWN_HOSTS_FILE: knownHosts });
      assertFailed(run, "offsite-nas", /holds no files/);
      assert.equal(readFileSync(join(remote, "db-20260101T000000Z.dump"), "utf8"), "the only offsite copy");
    });
  });

  describe("notifications", () => {
    it("an unreachable ntfy or healthchecks server changes neither a success nor a failure exit status", async () => {
      const dataDir = freshDir("notify-data");
      const dir = freshDir("notify-out");
      const dbPath = join(dataDir, "app.db");
      const db = new DatabaseSync(dbPath);
      db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
      db.close();
      const closed = `http://127.0.0.1:${await freePort()}`;
      const unreachable = { app: "photos", item: "vault", ntfyUrl: `${closed}/backups` };
      const env = { HEALTHCHECKS_URL: `${closed}/hc` };

      const ok = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 1, dir, notify: unreachable }), env);
      assert.equal(ok.code, 0, ok.output);
      assert.match(ok.output, /warning: the ntfy notification failed/);
      assert.equal(readdirSync(dir).filter((f) => dumpName("vault", "sqlite.gz").test(f)).length, 1);

      const failed = await runJob("sqliteDump", sqliteDumpScript({ databasePath: join(dataDir, "missing.db"), keepLast: 1, dir, notify: unreachable }), env);
      assert.equal(failed.code, 1, failed.output);
      assert.match(failed.output, /no SQLite database at .*missing\.db/);

      const quiet = await runJob("sqliteDump", sqliteDumpScript({ databasePath: dbPath, keepLast: 1, dir, notify: { app: "photos", item: "vault" } }), {});
      assert.equal(quiet.code, 0, quiet.output);
      assert.equal(quiet.ntfy.length, 0, "no ntfyUrl, no ntfy message");
      assert.deepEqual(quiet.pings.map((p) => p.path), ["/start", "/"], "healthchecks still pinged");
    });
  });
});
