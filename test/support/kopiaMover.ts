/**
 * The kopia commands a VolSync Kopia mover (the perfectra1n fork's mover-kopia/entry.sh) runs for
 * a ReplicationSource, with real kopia, so that the repositories the tests drill are written the
 * way the movers write them: ensure_connected (`repository status`, else `repository connect`,
 * else `repository create`, with the flags entry.sh builds from KOPIA_REPOSITORY and the
 * KOPIA_S3_* / AWS_* keys), set_client_identity (`repository set-client` with spec.kopia.username
 * and hostname), the compression policy, `snapshot create` and the retention policy.
 *
 * Liberties, each a test knob: the mover snapshots its mount at /data; here the volume is a
 * scratch directory snapshotted with `--override-source=<user>@<host>:/data`, so the snapshot's
 * source is the one the mover records. `startTime` backdates a snapshot (`--start-time`) for the
 * age checks. The repository is the Secret's KOPIA_REPOSITORY, its pod paths mapped to local
 * directories by `mounts` (NOTE: the fork's docs say a claim in moverVolumes makes the controller
 * set KOPIA_REPOSITORY=filesystem:///mnt/<mountPath> whatever the Secret says; not reproduced
 * here, see the report of issue #16).
 */
import { toolPath } from "./s3Server";
import { exec } from "./services";

/** The mover's mount of the source volume (mover.go sourceMountPath). */
export const MOVER_DATA_DIR = "/data";

/** The identity and mover settings of a Kopia ReplicationSource (the fields runMover reads). */
export interface KopiaSourceSpec {
  username: string;
  hostname: string;
  compression?: string;
  parallelism?: number;
  retain?: Partial<Record<"hourly" | "daily" | "weekly" | "monthly" | "yearly" | "latest", number>>;
}

export interface MoverOptions {
  /** The repository Secret's data (KOPIA_REPOSITORY, KOPIA_PASSWORD, the S3 keys). */
  secret: Record<string, string>;
  spec: KopiaSourceSpec;
  /** The volume's contents (stands for the mover's /data). */
  dataDir: string;
  /** The mover's cache volume (client config, cache, logs). */
  cacheDir: string;
  /** Pod path prefix -> local directory, for filesystem:// repositories (e.g. /mnt/repository). */
  mounts?: Record<string, string>;
  /** Added to the container's environment (SSL_CERT_FILE for the test server's TLS front). */
  extraEnv?: Record<string, string>;
  /** Test knob: the snapshot's start time. */
  startTime?: Date;
}

/** A failed mover run, with the log the mover Job would show (secrets masked). */
export class KopiaMoverError extends Error {}

const RETAIN_FLAGS = [
  ["hourly", "--keep-hourly"],
  ["daily", "--keep-daily"],
  ["weekly", "--keep-weekly"],
  ["monthly", "--keep-monthly"],
  ["yearly", "--keep-annual"],
  ["latest", "--keep-latest"],
] as const;

/** One ReplicationSource sync with the mover's kopia commands; returns the log, throws KopiaMoverError on failure. */
export async function runKopiaMover(options: MoverOptions): Promise<string> {
  const { secret, spec } = options;
  const base = [`--config-file=${options.cacheDir}/kopia.config`, `--log-dir=${options.cacheDir}/logs`];
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: options.cacheDir,
    TZ: "UTC",
    KOPIA_CHECK_FOR_UPDATES: "false",
    ...secret,
    ...(options.extraEnv ?? {}),
  };
  const secrets = [secret.KOPIA_PASSWORD, secret.AWS_SECRET_ACCESS_KEY].filter((s): s is string => Boolean(s));
  let log = "";
  const kopia = async (args: string[]) => {
    const result = await exec(toolPath("kopia"), [...base, ...args], { env, cwd: options.cacheDir, timeoutMs: 60_000 });
    let text = `$ kopia ${args.join(" ")}\n${result.stdout}${result.stderr}(exit ${result.code})\n`;
    for (const value of secrets) text = text.split(value).join("[secret]");
    log += text;
    return result;
  };
  const fail = (why: string) => new KopiaMoverError(`${log}${why}`);

  const repository = secret.KOPIA_REPOSITORY ?? "";
  let flags: string[];
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/.exec(repository);
  const fs = /^filesystem:\/\/(\/.*)$/.exec(repository);
  if (s3) {
    flags = ["s3", `--bucket=${secret.KOPIA_S3_BUCKET || s3[1]}`, `--endpoint=${(secret.KOPIA_S3_ENDPOINT ?? "s3.amazonaws.com").replace(/^https?:\/\//, "")}`];
    const region = secret.AWS_REGION || secret.AWS_DEFAULT_REGION;
    if (region) flags.push(`--region=${region}`);
    if (s3[2]) flags.push(`--prefix=${s3[2].endsWith("/") ? s3[2] : `${s3[2]}/`}`);
  } else if (fs) {
    const point = Object.keys(options.mounts ?? {}).find((p) => fs[1] === p || fs[1]!.startsWith(`${p}/`));
    if (!point) throw fail(`nothing is mounted at ${fs[1]}`);
    flags = ["filesystem", `--path=${options.mounts![point]}${fs[1]!.slice(point.length)}`];
  } else {
    throw fail(`no repository the test reproduces: ${repository}`);
  }
  // ensure_connected (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment)
  if ((await kopia(["repository", "status"])).code !== 0 && (await kopia(["repository", "connect", ...flags])).code !== 0) {
    if ((await kopia(["repository", "create", ...flags])).code !== 0) throw fail("Failed to create repository");
  }
  if ((await kopia(["repository", "set-client", `--username=${spec.username}`, `--hostname=${spec.hostname}`])).code !== 0) throw fail("Failed to set the client identity");
  if (spec.compression && (await kopia(["policy", "set", MOVER_DATA_DIR, `--compression=${spec.compression}`])).code !== 0) throw fail("Failed to apply compression policy");
  const create = ["snapshot", "create", options.dataDir, `--override-source=${spec.username}@${spec.hostname}:${MOVER_DATA_DIR}`];
  if (spec.parallelism) create.push(`--parallel=${spec.parallelism}`);
  if (options.startTime) create.push(`--start-time=${options.startTime.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}`);
  if ((await kopia(create)).code !== 0) throw fail("Failed to create snapshot");
  const keep = RETAIN_FLAGS.filter(([field]) => spec.retain?.[field] !== undefined).map(([field, flag]) => `${flag}=${spec.retain![field]}`);
  if (keep.length > 0) await kopia(["policy", "set", MOVER_DATA_DIR, ...keep]); // entry.sh only warns when this fails
  return log;
}
