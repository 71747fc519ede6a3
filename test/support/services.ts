/**
 * Real servers for the job-script tests, each on a free loopback port and in its own temporary
 * directory: PostgreSQL (a throwaway cluster, as the `postgres` user when the tests run as root),
 * Redis, sshd, and an HTTP listener that records requests in place of ntfy and healthchecks.
 * Every start has a stop that ends the process it started and removes its directory. Nothing
 * here touches system services or /etc; the one system path is /run/sshd, which sshd as root
 * insists on (see startSshd).
 */
import { spawn, ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, IncomingHttpHeaders, Server } from "node:http";
import { createServer as createNetServer, connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { delimiter, join } from "node:path";

export const isRoot = process.getuid?.() === 0;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `homelab-${prefix}-`));
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop (the HTTP recorder lives in it). */
export function exec(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => undefined); // a command that exits without reading its input
    child.stdin.end(options.input ?? "");
  });
}

/** Like exec, but throws with the command's output unless it exits 0. */
export async function mustExec(command: string, args: readonly string[], options: Parameters<typeof exec>[2] = {}): Promise<string> {
  const result = await exec(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export function waitForExit(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Finds an executable on the test process's PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * PostgreSQL's own binaries (not Debian's pg_wrapper in /usr/bin): the newest
 * /usr/lib/postgresql/<major>/bin, else the directory of pg_ctl on PATH.
 */
export function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const majors = readdirSync(base)
      .filter((name) => /^\d+$/.test(name) && existsSync(join(base, name, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (majors.length > 0) return join(base, majors[0]!, "bin");
  }
  const pgCtl = which("pg_ctl");
  if (pgCtl) return pgCtl.slice(0, pgCtl.lastIndexOf("/"));
  throw new Error("PostgreSQL server binaries not found: install Debian's postgresql package");
}

const PG_TOOLS = new Set(["pg_dump", "pg_dumpall", "pg_restore", "psql", "createdb"]);

/** JOB_SHELL=busybox runs the job scripts under busybox sh with busybox's applets, as in the alpine images. */
export const BUSYBOX = process.env.JOB_SHELL === "busybox";

export interface Busybox {
  path: string;
  applets: ReadonlySet<string>;
}

/** The shell job scripts run under (Debian's sh, or busybox sh), and busybox's applets for toolDir. */
export async function jobShell(): Promise<{ shell: string[]; busybox?: Busybox }> {
  if (!BUSYBOX) return { shell: ["/bin/sh"] };
  const path = which("busybox");
  if (!path) throw new Error("JOB_SHELL=busybox needs busybox on PATH (Debian: apt-get install busybox)");
  return { shell: [path, "sh"], busybox: { path, applets: new Set((await mustExec(path, ["--list"])).split("\n").filter(Boolean)) } };
}

/**
 * A directory holding exactly the named tools (symlinks), to run a script with PATH set to it:
 * a tool the script uses but does not declare is then "not found". With `busybox` (its path),
 * every tool that is one of its applets is that applet, as in an alpine image.
 */
export function toolDir(parent: string, tools: readonly string[], busybox?: Busybox): string {
  const dir = mkdtempSync(join(parent, "bin-"));
  for (const tool of tools) {
    const target = busybox?.applets.has(tool) ? busybox.path : PG_TOOLS.has(tool) ? join(pgBinDir(), tool) : which(tool);
    if (!target || !existsSync(target)) {
      throw new Error(`the scripts need '${tool}' on this machine (Debian: ${tool === "wget" ? "wget" : "see README"}); it was not found on PATH`);
    }
    symlinkSync(target, join(dir, tool));
  }
  chmodSync(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface Postgres {
  port: number;
  user: string;
  password: string;
  /** libpq environment for this server over TCP with password authentication. */
  env: Record<string, string>;
  /** Runs SQL with psql (unaligned, tuples only) and returns its output. */
  psql(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

/** As root, PostgreSQL must run as another user: `postgres`, through runuser. */
function asServerUser(command: string, args: readonly string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, [...args]];
}

export async function startPostgres(password: string): Promise<Postgres> {
  const root = tempDir("pg");
  const data = join(root, "data");
  const socketDir = join(root, "socket");
  mkdirSync(socketDir);
  const pwfile = join(root, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (isRoot) {
    const { uid, gid } = await postgresIds();
    for (const path of [root, socketDir, pwfile]) chownSync(path, uid, gid);
  }
  const bin = pgBinDir();
  const port = await freePort();
  const run = async (command: string, args: string[]) => {
    const [cmd, argv] = asServerUser(join(bin, command), args);
    return mustExec(cmd, argv, { cwd: root });
  };
  await run("initdb", ["-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"]);
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off`;
  await run("pg_ctl", ["-D", data, "-l", join(root, "server.log"), "-w", "-t", "30", "-o", options, "start"]);
  const env = { PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "postgres", PGPASSWORD: password };
  let stopped = false;
  return {
    port,
    user: "postgres",
    password,
    env,
    psql: (sql, database = "postgres") =>
      mustExec(join(bin, "psql"), ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], { env: { ...process.env, ...env } }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await mustExec("id", ["-u", "postgres"])).trim());
  const gid = Number((await mustExec("id", ["-g", "postgres"])).trim());
  return { uid, gid };
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface Redis {
  port: number;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A redis-server without persistence of its own, or loading `rdb` (a path) at start. */
export async function startRedis(options: { password?: string; rdb?: { dir: string; file: string } } = {}): Promise<Redis> {
  const own = options.rdb ? undefined : tempDir("redis");
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""];
  // Redis waits 5 s (repl-diskless-sync-delay) for more replicas before it serves `redis-cli --rdb`.
  args.push("--repl-diskless-sync-delay", "0");
  args.push("--dir", options.rdb?.dir ?? own!, "--dbfilename", options.rdb?.file ?? "dump.rdb");
  if (options.password) args.push("--requirepass", options.password);
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const env = { ...process.env, ...(options.password ? { REDISCLI_AUTH: options.password } : {}) };
  const cli = (...cliArgs: string[]) => mustExec("redis-cli", ["-p", String(port), ...cliArgs], { env });
  try {
    await waitFor("redis-server", async () => child.exitCode === null && (await exec("redis-cli", ["-p", String(port), "ping"], { env })).stdout.trim() === "PONG");
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return {
    port,
    cli,
    stop: async () => {
      child.kill("SIGTERM");
      await waitForExit(child);
      if (own) rmSync(own, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// sshd

export interface Sshd {
  port: number;
  /** The user the client logs in as: the user running the tests. */
  user: string;
  /** known_hosts line pinning this server's host key. */
  knownHostsLine: string;
  /** Private key file the server accepts. */
  clientKeyFile: string;
  stop(): Promise<void>;
}

export async function sshKeygen(file: string): Promise<string> {
  await mustExec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "homelab-backups-test", "-f", file]);
  return readFileSync(`${file}.pub`, "utf8").trim();
}

/**
 * sshd on 127.0.0.1 with a generated host key, accepting one generated client key for the user
 * running the tests. As root, sshd refuses to start without its privilege-separation directory
 * /run/sshd, which only the openssh-server service creates: it is created here when missing (an
 * empty root-owned directory, as the service would make it) and left there.
 */
export async function startSshd(options: { sessionEnv?: Record<string, string> } = {}): Promise<Sshd> {
  const root = tempDir("sshd");
  chmodSync(root, 0o755);
  const hostKey = join(root, "host_ed25519");
  const hostPub = await sshKeygen(hostKey);
  const clientKeyFile = join(root, "client_ed25519");
  const clientPub = await sshKeygen(clientKeyFile);
  writeFileSync(join(root, "authorized_keys"), `${clientPub}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = join(root, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `HostKey ${hostKey}`,
      `PidFile ${join(root, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(root, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "AllowTcpForwarding no",
      "X11Forwarding no",
      "PrintMotd no",
      "LogLevel ERROR",
      // SetEnv is applied after sshd's own defaults, so it can put fake tools first on PATH. Only
      // the first SetEnv line counts: every variable goes on one.
      ...(options.sessionEnv ? [`SetEnv ${Object.entries(options.sessionEnv).map(([name, value]) => `"${name}=${value}"`).join(" ")}`] : []),
      "",
    ].join("\n"),
  );
  // sshd's privilege separation directory. Left in place afterwards: test files run in parallel,
  // and removing it under another file's sshd makes that sshd drop every new connection.
  if (isRoot && !existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755, recursive: true });
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config, "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  try {
    await waitFor("sshd", async () => child.exitCode === null && (await portOpen(port)));
  } catch (error) {
    child.kill("SIGKILL");
    await waitForExit(child);
    cleanup();
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  const [type, key] = hostPub.split(" ");
  return {
    port,
    user: userInfo().username,
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${key}`,
    clientKeyFile,
    stop: async () => {
      child.kill("SIGTERM");
      await waitForExit(child);
      cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP recorder (ntfy and healthchecks stand-in)

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Recorder {
  /** Base URL, without a trailing slash. */
  url: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"id":"test"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
