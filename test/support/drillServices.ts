/**
 * Test helpers for the restore-drill scripts, on top of ./services: a tool directory that also
 * holds PostgreSQL's server binaries (initdb, pg_ctl, postgres), running a command as the
 * `postgres` user when the tests run as root, and a real PostgreSQL cluster that archives its WAL
 * with pgBackRest to an encrypted posix repository (the test side writes a pgbackrest.conf; the
 * drill scripts get everything from PGBACKREST_* variables).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, mustExec, pgBinDir, tempDir, which } from "./services";

const PG_BIN_TOOLS = new Set(["initdb", "pg_ctl", "postgres", "pg_controldata", "pg_dump", "pg_dumpall", "pg_restore", "psql", "createdb"]);

/**
 * Like services.toolDir, but PostgreSQL's tools, server binaries included, come from the
 * newest /usr/lib/postgresql/<major>/bin (Debian puts neither initdb nor pg_ctl on PATH).
 */
export function drillToolDir(parent: string, tools: readonly string[], busybox?: { path: string; applets: ReadonlySet<string> }): string {
  const dir = mkdtempSync(join(parent, "bin-"));
  for (const tool of tools) {
    const target = busybox?.applets.has(tool) ? busybox.path : PG_BIN_TOOLS.has(tool) ? join(pgBinDir(), tool) : which(tool);
    if (!target || !existsSync(target)) throw new Error(`the drill scripts need '${tool}' on this machine; it was not found on PATH`);
    symlinkSync(target, join(dir, tool));
  }
  chmodSync(dir, 0o755);
  return dir;
}

export async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await mustExec("id", ["-u", "postgres"])).trim());
  const gid = Number((await mustExec("id", ["-g", "postgres"])).trim());
  return { uid, gid };
}

/** Gives a path to the `postgres` user when the tests run as root (PostgreSQL refuses to run as root). */
export async function ownForServer(...paths: string[]): Promise<void> {
  if (!isRoot) return;
  const { uid, gid } = await postgresIds();
  for (const path of paths) chownSync(path, uid, gid);
}

/**
 * `[command, args]` running `argv` with exactly `env` (env -i), as the `postgres` user when the
 * tests run as root.
 */
export function asServerUser(env: Record<string, string>, argv: readonly string[]): [string, string[]] {
  const envArgs = ["-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
  return isRoot ? ["runuser", ["-u", "postgres", "--", "env", ...envArgs]] : ["env", envArgs];
}

export interface ArchivingPostgres {
  stanza: string;
  /** The pgBackRest repository (posix, aes-256-cbc). */
  repoPath: string;
  cipherPass: string;
  /** The PGBACKREST_* environment a drill's fetch step gets for this repository as repo 1. */
  drillEnv: Record<string, string>;
  psql(sql: string, database?: string): Promise<string>;
  /** pgbackrest backup --type=full (start-fast). */
  backup(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster (the newest installed major) on a unix socket only, with
 * `archive_mode=on` and `archive_command='pgbackrest ... archive-push %p'` into a posix
 * repository encrypted with aes-256-cbc, and its stanza created. Runs as `postgres` under root.
 */
export async function startArchivingPostgres(options: { stanza: string; cipherPass: string }): Promise<ArchivingPostgres> {
  const root = tempDir("pgbr");
  chmodSync(root, 0o755);
  const data = join(root, "data");
  const socket = join(root, "socket");
  const repoPath = join(root, "repo");
  const spool = join(root, "spool");
  for (const dir of [socket, repoPath, spool]) mkdirSync(dir);
  const config = join(root, "pgbackrest.conf");
  writeFileSync(
    config,
    [
      "[global]",
      `repo1-path=${repoPath}`,
      "repo1-type=posix",
      "repo1-cipher-type=aes-256-cbc",
      `repo1-cipher-pass=${options.cipherPass}`,
      "repo1-retention-full=2",
      "compress-type=zst",
      "log-level-file=off",
      "log-level-console=warn",
      `lock-path=${join(root, "lock")}`,
      `spool-path=${spool}`,
      "start-fast=y",
      `[${options.stanza}]`,
      `pg1-path=${data}`,
      `pg1-socket-path=${socket}`,
      "pg1-port=5432",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  await ownForServer(root, socket, repoPath, spool, config);
  const bin = pgBinDir();
  const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: root, LC_ALL: "C" };
  const run = (argv: string[]) => {
    const [cmd, args] = asServerUser(env, argv);
    return mustExec(cmd, args, { cwd: root, timeoutMs: 120_000 });
  };
  await run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
  writeFileSync(
    join(data, "postgresql.conf"),
    [
      "listen_addresses = ''",
      `unix_socket_directories = '${socket}'`,
      "port = 5432",
      "fsync = off",
      "full_page_writes = on",
      "wal_level = replica",
      "archive_mode = on",
      `archive_command = 'pgbackrest --config=${config} --stanza=${options.stanza} archive-push %p'`,
      "max_wal_senders = 2",
      "",
    ].join("\n"),
    { flag: "a" },
  );
  await run([join(bin, "pg_ctl"), "-D", data, "-l", join(root, "server.log"), "-w", "-t", "60", "start"]);
  const pgbackrest = (...args: string[]) => run(["pgbackrest", `--config=${config}`, `--stanza=${options.stanza}`, ...args]);
  let stopped = false;
  try {
    await pgbackrest("stanza-create");
  } catch (error) {
    await run([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    stanza: options.stanza,
    repoPath,
    cipherPass: options.cipherPass,
    drillEnv: {
      PGBACKREST_STANZA: options.stanza,
      PGBACKREST_REPO1_TYPE: "posix",
      PGBACKREST_REPO1_PATH: repoPath,
      PGBACKREST_REPO1_CIPHER_TYPE: "aes-256-cbc",
      PGBACKREST_REPO1_CIPHER_PASS: options.cipherPass,
    },
    psql: (sql, database = "postgres") => run([join(bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", socket, "-p", "5432", "-U", "postgres", "-d", database, "-c", sql]),
    backup: async () => {
      await pgbackrest("--type=full", "backup");
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        await run([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
