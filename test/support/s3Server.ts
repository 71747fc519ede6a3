/**
 * A real S3 server for the tests (MinIO, on a free loopback port with a scratch directory), the
 * Go-built tools the S3 tests run (restic, kopia, minio, mc), and the glue that provisions on the
 * server exactly what the offline plan declares: buckets as the program creates them, one user per
 * consumer key with the IAM policy equivalent to the key's scope, and the store values the
 * program's PushSecrets write, so that ExternalSecret templates render as they would in a cluster.
 *
 * How B2 and R2 are modelled (see README "Offsite storage and immutability"):
 * - B2: buckets are always versioned (object lock enabled at creation, no default retention, as
 *   components/storage/b2Destination.ts declares them). A key without `deleteFiles` may still
 *   delete by name, which on B2 only hides the file (a delete marker; B2 documents that deleting
 *   by name needs writeFiles, deleting a version deleteFiles): the user gets s3:DeleteObject and an
 *   explicit Deny of s3:DeleteObjectVersion (MinIO lets s3:DeleteObject delete versions too unless
 *   that is denied). `namePrefix` restricts every object action and every listing to the prefix.
 * - R2: tokens cannot withhold delete and R2 keeps one version per key, so an R2 token is a user
 *   that may delete everything in its bucket. Bucket lock rules (R2BucketLock) are emulated with
 *   object lock retention: after each write, `applyLockRules` gives what a rule's prefix holds a
 *   COMPLIANCE retention of the rule's age (indefinite rules: a century). MinIO keeps versions
 *   where R2 keeps none, so after an attack the R2 state is the bucket as of before the attack,
 *   minus every version the attacker could destroy: `mc cp --rewind` reads exactly that.
 *
 * Nothing here stubs a tool: every command runs the real binary. A missing tool is an error that
 * names the tool and how to get it (tests fail, never skip).
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { get } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CapturedResource } from "../../offline/engine";
import { reveal } from "../../offline/wire";
import { exec, freePort, Result, tempDir, waitForExit, which } from "./services";
import { storeRefs } from "./secretGraph";
import type { KubernetesObject } from "../../offline/render";
import { runOfflinePlan, PlanResult } from "../../offline/plan";
import { readStackFile } from "../../offline/stackFile";
import { parseStackConfig } from "../../domain/config/parse";
import type { StackConfig } from "../../domain/config/schema";
import { EXAMPLE_STACK, writeStackFile } from "./stack";

// ---------------------------------------------------------------------------------------------
// The Go-built tools

export type GoTool = "restic" | "kopia" | "minio" | "mc";

const REPO_ROOT = join(__dirname, "..", "..");

/** The cache scripts/tools.sh builds into: $HOMELAB_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/homelab-backups. */
export function toolsCacheRoot(): string {
  return process.env.HOMELAB_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "homelab-backups");
}

/** The version scripts/tools.d/*.sh pins for a tool (`build_tool <tool> <version> ...`), if one does. */
export function pinnedVersion(tool: GoTool): string | undefined {
  const dir = join(REPO_ROOT, "scripts", "tools.d");
  if (!existsSync(dir)) return undefined;
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".sh")).sort()) {
    const found = new RegExp(`^build_tool ${tool} (\\S+)`, "m").exec(readFileSync(join(dir, file), "utf8"))?.[1];
    if (found) return found;
  }
  return undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolved paths, per tool and value of its HOMELAB_<TOOL> variable. */
const resolved = new Map<string, string>();

/**
 * The absolute path of a Go-built tool: $HOMELAB_<TOOL> (what scripts/tools.sh exports), else
 * <cache>/tools/<tool>-<pinned version>/<tool>, else <cache>/tools/<tool>/<tool>. restic must be
 * the pinned version (the VolSync mover's): Debian's restic is never used. Throws, naming the
 * tool, the places looked at and how to get it.
 */
export function toolPath(tool: GoTool): string {
  const variable = `HOMELAB_${tool.toUpperCase()}`;
  const cacheKey = `${tool}\u0000${process.env[variable] ?? ""}`;
  const known = resolved.get(cacheKey);
  if (known) return known;
  const version = pinnedVersion(tool);
  const root = join(toolsCacheRoot(), "tools");
  const candidates: string[] = [];
  const fromEnv = process.env[variable];
  if (fromEnv) candidates.push(fromEnv);
  if (version) candidates.push(join(root, `${tool}-${version}`, tool));
  candidates.push(join(root, tool, tool));
  const found = candidates.find(executable);
  const howTo =
    `run \`bash scripts/test\` once (scripts/tools.sh builds ${tool}${version ? ` ${version}` : ""} with Go from the module proxy into ${root}), ` +
    `or set ${variable} to the binary`;
  if (!found || (fromEnv && found !== fromEnv)) {
    const why = fromEnv && !executable(fromEnv) ? `${variable}=${fromEnv} is not an executable file` : `${tool} is not installed for the tests`;
    throw new Error(`${why}; looked at: ${candidates.join(", ")}. To get it, ${howTo}.`);
  }
  if (tool === "restic" && version) {
    const wanted = version.replace(/^v/, "");
    const said = readVersion(found);
    if (!said.includes(`restic ${wanted}`)) {
      throw new Error(`${found} is not restic ${wanted} (it says: ${said.trim() || "nothing"}); the tests run the version the VolSync mover ships. To get it, ${howTo}.`);
    }
  }
  resolved.set(cacheKey, found);
  return found;
}

function readVersion(binary: string): string {
  // Synchronous on purpose: once per tool and process.
  const result = spawnSync(binary, ["version"], { encoding: "utf8", timeout: 20_000 });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`;
}

/**
 * A directory of symlinks to exactly the named tools, for a script's whole PATH: the Go-built
 * ones (restic, kopia, mc) from toolPath, the others from the test process's PATH, `extra` by
 * absolute path (shims the test writes). A tool that is not there is an error naming it.
 */
export function scriptToolDir(parent: string, tools: readonly string[], extra: Record<string, string> = {}): string {
  const dir = join(parent, `bin-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  for (const tool of tools) {
    if (extra[tool]) continue;
    const target = tool === "restic" || tool === "kopia" || tool === "mc" || tool === "minio" ? toolPath(tool) : which(tool);
    if (!target) throw new Error(`the script needs '${tool}', which is not on this machine's PATH`);
    symlinkSync(target, join(dir, tool));
  }
  for (const [tool, target] of Object.entries(extra)) symlinkSync(target, join(dir, tool));
  chmodSync(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// The server

export interface S3Bucket {
  versioning?: boolean;
  objectLock?: boolean;
  defaultRetention?: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
}

export interface S3Credentials {
  accessKey: string;
  secretKey: string;
}

export interface S3Version {
  key: string;
  versionId: string;
  deleteMarker: boolean;
  size: number;
  lastModified: string;
}

export interface S3Server {
  endpoint: string; // http://127.0.0.1:<port>
  region: string; // the region the server answers for
  rootAccessKey: string;
  rootSecretKey: string;
  createBucket(name: string, options?: S3Bucket): Promise<void>;
  /** A user whose IAM policy is `policy` (an AWS IAM policy document). */
  createUser(accessKey: string, secretKey: string, policy: object): Promise<void>;
  /** Every version of every object under prefix (for asserting what survived). */
  listVersions(bucket: string, prefix?: string): Promise<{ key: string; versionId: string; deleteMarker: boolean }[]>;
  stop(): Promise<void>;
}

/** What the MinIO server offers besides the S3Server interface. */
export interface MinioServer extends S3Server {
  /** host:port, for tools that take the endpoint without a scheme. */
  hostPort: string;
  /** The server's scratch directory (its data and mc's config), removed by stop(). */
  scratchDir: string;
  /** Runs mc as root (alias `root`), or as `as` (alias `user`); never throws. */
  mc(args: readonly string[], options?: { as?: S3Credentials; input?: string; timeoutMs?: number }): Promise<Result>;
  /** Like mc, but throws with the output unless mc exits 0. */
  mustMc(args: readonly string[], options?: { as?: S3Credentials; input?: string; timeoutMs?: number }): Promise<string>;
  /** listVersions with sizes and times. */
  versions(bucket: string, prefix?: string): Promise<S3Version[]>;
  /** Object-lock retention on every current (non-marker) version under `prefix` (an S3 prefix: "a/config" also covers "a/configx"). */
  retain(bucket: string, prefix: string, mode: "GOVERNANCE" | "COMPLIANCE", days: number): Promise<number>;
  /** The S3 environment of a user for restic and the AWS SDKs (region included). */
  awsEnv(credentials: S3Credentials): Record<string, string>;
}

/** The region the server answers for unless told otherwise: the example stack's B2 region. */
export const DEFAULT_S3_REGION = "us-east-005";

export interface S3ServerOptions {
  /** The region MinIO answers for (MINIO_SITE_REGION); requests signed for another are refused. */
  region?: string;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = get(url, { timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on("error", () => resolve(0));
    request.on("timeout", () => {
      request.destroy();
      resolve(0);
    });
  });
}

/** MinIO on a free loopback port with a scratch directory (removed on stop); the console is off. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<MinioServer> {
  const minio = toolPath("minio");
  const mcBinary = toolPath("mc");
  const region = options.region ?? DEFAULT_S3_REGION;
  const rootAccessKey = `root${randomBytes(6).toString("hex")}`;
  const rootSecretKey = randomBytes(20).toString("hex");
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const scratch = tempDir("s3");
    const data = join(scratch, "data");
    const mcConfig = join(scratch, "mc");
    mkdirSync(data);
    mkdirSync(mcConfig, { mode: 0o700 });
    const port = await freePort();
    const consolePort = await freePort();
    const child = spawn(minio, ["server", "--quiet", "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--certs-dir", join(scratch, "certs"), data], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: scratch,
        MINIO_ROOT_USER: rootAccessKey,
        MINIO_ROOT_PASSWORD: rootSecretKey,
        MINIO_SITE_REGION: region,
        MINIO_BROWSER: "off",
        MINIO_UPDATE: "off",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    // A test file that dies without its after hook must not leave the server running.
    const killOnExit = () => child.kill("SIGKILL");
    process.once("exit", killOnExit);
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if ((await httpStatus(`${endpoint}/minio/health/ready`)) === 200) {
        ready = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const cleanup = async () => {
      child.kill("SIGTERM");
      await waitForExit(child);
      process.removeListener("exit", killOnExit);
      rmSync(scratch, { recursive: true, force: true });
    };
    if (!ready) {
      lastError = `MinIO did not become ready on ${endpoint} (exit ${child.exitCode ?? "none"}):\n${log}`;
      await cleanup();
      continue; // most likely the port was taken meanwhile: try others
    }
    const server = makeServer({ scratch, endpoint, port, region, rootAccessKey, rootSecretKey, mcBinary, mcConfig, cleanup });
    // IAM is ready a moment after the health check answers.
    const iamDeadline = Date.now() + 15_000;
    for (;;) {
      const probe = await server.mc(["admin", "user", "list", "root"]);
      if (probe.code === 0) break;
      if (Date.now() > iamDeadline) {
        await cleanup();
        throw new Error(`MinIO's admin API did not answer on ${endpoint}: ${probe.stdout}${probe.stderr}\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return server;
  }
  throw new Error(lastError);
}

interface ServerParts {
  scratch: string;
  endpoint: string;
  port: number;
  region: string;
  rootAccessKey: string;
  rootSecretKey: string;
  mcBinary: string;
  mcConfig: string;
  cleanup(): Promise<void>;
}

function makeServer(parts: ServerParts): MinioServer {
  const { endpoint, port, region, rootAccessKey, rootSecretKey } = parts;
  let policies = 0;
  let stopped = false;
  const hostUrl = (credentials: S3Credentials) =>
    `http://${encodeURIComponent(credentials.accessKey)}:${encodeURIComponent(credentials.secretKey)}@127.0.0.1:${port}`;
  const mc: MinioServer["mc"] = (args, options = {}) =>
    exec(parts.mcBinary, ["--no-color", "--disable-pager", ...args], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: parts.mcConfig,
        MC_CONFIG_DIR: parts.mcConfig,
        MC_HOST_root: hostUrl({ accessKey: rootAccessKey, secretKey: rootSecretKey }),
        ...(options.as ? { MC_HOST_user: hostUrl(options.as) } : {}),
      },
      input: options.input,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  const mustMc: MinioServer["mustMc"] = async (args, options) => {
    const result = await mc(args, options);
    if (result.code !== 0) throw new Error(`mc ${args.join(" ")} exited ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  };
  const versions: MinioServer["versions"] = async (bucket, prefix = "") => {
    const out = await mustMc(["ls", "--recursive", "--versions", "--json", `root/${bucket}/`]);
    const found: S3Version[] = [];
    for (const line of out.split("\n").filter(Boolean)) {
      const entry = JSON.parse(line) as { status?: string; type?: string; key?: string; url?: string; versionId?: string; isDeleteMarker?: boolean; size?: number; lastModified?: string };
      if (entry.status !== "success" || entry.type === "folder" || !entry.key) continue;
      // `key` is relative to the listed URL's path below the bucket.
      const base = (entry.url ?? "").replace(/^[a-z]+:\/\/[^/]+\//, "").slice(bucket.length + 1);
      const key = `${base}${entry.key}`;
      if (!key.startsWith(prefix)) continue;
      found.push({ key, versionId: entry.versionId || "null", deleteMarker: entry.isDeleteMarker === true, size: entry.size ?? 0, lastModified: entry.lastModified ?? "" });
    }
    return found;
  };
  return {
    endpoint,
    hostPort: `127.0.0.1:${port}`,
    scratchDir: parts.scratch,
    region,
    rootAccessKey,
    rootSecretKey,
    mc,
    mustMc,
    versions,
    async createBucket(name, options = {}) {
      const flags = options.objectLock ? ["--with-lock"] : options.versioning ? ["--with-versioning"] : [];
      await mustMc(["mb", ...flags, `root/${name}`]);
      if (options.defaultRetention) {
        if (!options.objectLock) throw new Error(`bucket ${name}: a default retention needs objectLock`);
        await mustMc(["retention", "set", "--default", options.defaultRetention.mode, `${options.defaultRetention.days}d`, `root/${name}`]);
      }
    },
    async createUser(accessKey, secretKey, policy) {
      const name = `policy-${++policies}`;
      const file = join(parts.mcConfig, `${name}.json`);
      writeFileSync(file, JSON.stringify(policy), { mode: 0o600 });
      await mustMc(["admin", "policy", "create", "root", name, file]);
      await mustMc(["admin", "user", "add", "root", accessKey, secretKey]);
      await mustMc(["admin", "policy", "attach", "root", name, "--user", accessKey]);
    },
    async listVersions(bucket, prefix = "") {
      return (await versions(bucket, prefix)).map(({ key, versionId, deleteMarker }) => ({ key, versionId, deleteMarker }));
    },
    async retain(bucket, prefix, mode, days) {
      const current = new Map<string, S3Version>();
      for (const version of await versions(bucket, prefix)) {
        // mc lists the newest version of a key first.
        if (!current.has(version.key)) current.set(version.key, version);
      }
      let count = 0;
      for (const version of current.values()) {
        if (version.deleteMarker) continue;
        await mustMc(["retention", "set", "--version-id", version.versionId, mode, `${days}d`, `root/${bucket}/${version.key}`]);
        count++;
      }
      return count;
    },
    awsEnv(credentials) {
      return { AWS_ACCESS_KEY_ID: credentials.accessKey, AWS_SECRET_ACCESS_KEY: credentials.secretKey, AWS_DEFAULT_REGION: region };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await parts.cleanup();
    },
  };
}

/**
 * The IAM policy equivalent to a key as the program scopes it: one bucket, the key prefix where
 * set, and no delete where the program withholds it. Without delete, a delete by name still works
 * and only hides (on a versioned bucket, as every B2 bucket is): versions cannot be deleted, and
 * nothing that would let a version go (retention, legal hold, versioning, lifecycle, bypassing
 * governance) is allowed.
 */
export function scopedKeyPolicy(key: { bucket: string; namePrefix?: string; canDelete: boolean }): object {
  const prefix = key.namePrefix ?? "";
  const bucketArn = `arn:aws:s3:::${key.bucket}`;
  const objects = `${bucketArn}/${prefix}*`;
  const statements: object[] = [
    {
      Sid: "BucketMetadata",
      Effect: "Allow",
      Action: ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"],
      Resource: [bucketArn],
    },
    {
      Sid: prefix ? "ListUnderPrefix" : "List",
      Effect: "Allow",
      Action: ["s3:ListBucket", "s3:ListBucketVersions"],
      Resource: [bucketArn],
      ...(prefix ? { Condition: { StringLike: { "s3:prefix": [`${prefix}*`] } } } : {}),
    },
    {
      Sid: "Objects",
      Effect: "Allow",
      Action: [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
      ],
      Resource: [objects],
    },
  ];
  if (key.canDelete) {
    statements.push({ Sid: "DeleteVersions", Effect: "Allow", Action: ["s3:DeleteObjectVersion"], Resource: [objects] });
  } else {
    statements.push({
      Sid: "NothingDestroys",
      Effect: "Deny",
      Action: [
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:PutBucketVersioning",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:DeleteBucket",
      ],
      Resource: [bucketArn, `${bucketArn}/*`],
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

// ---------------------------------------------------------------------------------------------
// What the offline plan declares, provisioned on the server

type Json = Record<string, any>; // `any`: plan objects are walked by path

/** Every Kubernetes object of a run with secret values revealed (the plan's artifacts mask them). */
export function revealedObjects(resources: readonly CapturedResource[]): KubernetesObject[] {
  return resources
    .filter((resource) => resource.custom && resource.type.startsWith("kubernetes:") && !resource.type.startsWith("kubernetes:helm.sh/"))
    .map((resource) => reveal(resource.inputs) as unknown as KubernetesObject)
    .filter((object) => typeof object.apiVersion === "string" && typeof object.kind === "string");
}

export function findObject(objects: readonly KubernetesObject[], kind: string, namespace: string | undefined, name: string): Json {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  if (!found) throw new Error(`the plan has no ${kind} ${namespace ?? "*"}/${name}`);
  return found as Json;
}

/** A bucket the plan declares, and how the server models it. */
export interface PlannedBucket {
  destination: string;
  kind: "b2" | "r2";
  name: string;
  options: S3Bucket;
  /** R2 bucket lock rules (none on B2, none on unlocked R2 buckets). */
  lockRules: { prefix: string; days: number; indefinite: boolean }[];
}

/** A consumer key the plan declares: its scope and the S3 credentials it amounts to. */
export interface PlannedKey {
  destination: string;
  kind: "b2" | "r2";
  /** The key's (or token's) resource name. */
  name: string;
  bucket: string;
  namePrefix?: string;
  canDelete: boolean;
  credentials: S3Credentials;
}

const componentName = (resource: CapturedResource) => resource.parent?.replace(/^.*::/, "") ?? "";

/** The buckets of one destination, as components/storage declares them. */
export function plannedBuckets(resources: readonly CapturedResource[], destination: string): PlannedBucket[] {
  const buckets: PlannedBucket[] = [];
  for (const resource of resources) {
    if (componentName(resource) !== destination) continue;
    const inputs = reveal(resource.inputs) as Json;
    if (resource.type === "aws:s3/bucket:Bucket") {
      // B2 buckets are always versioned; object lock is on where the program enables it.
      buckets.push({ destination, kind: "b2", name: inputs.bucket, options: { versioning: true, objectLock: inputs.objectLockEnabled === true }, lockRules: [] });
    } else if (resource.type === "cloudflare:index/r2Bucket:R2Bucket") {
      const lock = resources.find((r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock" && (reveal(r.inputs) as Json).bucketName === inputs.name);
      const rules = lock
        ? ((reveal(lock.inputs) as Json).rules as Json[])
            .filter((rule) => rule.enabled)
            .map((rule) => ({
              prefix: rule.prefix as string,
              indefinite: rule.condition.type === "Indefinite",
              days: rule.condition.type === "Indefinite" ? 36500 : Math.ceil(rule.condition.maxAgeSeconds / 86400),
            }))
        : [];
      // R2 keeps no versions: only a bucket with lock rules needs MinIO's object lock to emulate them.
      buckets.push({ destination, kind: "r2", name: inputs.name, options: { objectLock: rules.length > 0 }, lockRules: rules });
    }
  }
  return buckets;
}

/** The source Secrets the PushSecrets copy to the store: "<item>/<field>" -> the value pushed. */
export function pushedStoreValues(resources: readonly CapturedResource[]): Map<string, string> {
  const objects = revealedObjects(resources);
  const values = new Map<string, string>();
  for (const push of objects.filter((o) => o.kind === "PushSecret") as Json[]) {
    const source = objects.find((o) => o.kind === "Secret" && o.metadata.namespace === push.metadata.namespace && o.metadata.name === push.spec.selector.secret.name) as Json | undefined;
    if (!source) throw new Error(`PushSecret ${push.metadata.name} pushes Secret ${push.spec.selector.secret.name}, which the plan does not declare`);
    for (const { match } of push.spec.data as Json[]) {
      const value = source.stringData?.[match.secretKey];
      if (typeof value !== "string") throw new Error(`PushSecret ${push.metadata.name} pushes ${match.secretKey}, which Secret ${source.metadata.name} lacks`);
      values.set(`${match.remoteRef.remoteKey}/${match.remoteRef.property}`, value);
    }
  }
  return values;
}

/**
 * The consumer keys of one destination. B2: the application key's scope (bucket, namePrefix,
 * deleteFiles) and its id and key. R2: the token's bucket (tokens have no prefix and always may
 * delete); the S3 secret is the SHA-256 of the token value, the access key id the value pushed
 * beside that secret.
 */
export function plannedKeys(resources: readonly CapturedResource[], destination: string): PlannedKey[] {
  const keys: PlannedKey[] = [];
  const pushed = [...pushedStoreValues(resources)];
  for (const resource of resources) {
    if (resource.type === "pulumi-nodejs:dynamic:Resource") {
      const inputs = reveal(resource.inputs) as Json;
      const outputs = reveal(resource.outputs) as Json;
      if (!("keyName" in inputs) || (inputs.destination ?? "b2") !== destination) continue;
      keys.push({
        destination,
        kind: "b2",
        name: resource.name,
        bucket: inputs.bucketName,
        namePrefix: inputs.namePrefix || undefined,
        canDelete: (inputs.capabilities as string[]).includes("deleteFiles"),
        credentials: { accessKey: outputs.applicationKeyId, secretKey: outputs.applicationKey },
      });
    } else if (resource.type === "cloudflare:index/apiToken:ApiToken" && componentName(resource) === destination) {
      const inputs = reveal(resource.inputs) as Json;
      const outputs = reveal(resource.outputs) as Json;
      const scopes = Object.keys(JSON.parse(inputs.policies[0].resources) as Record<string, string>);
      if (scopes.length !== 1) throw new Error(`R2 token ${resource.name} is scoped to ${scopes.length} resources, not one bucket`);
      const bucket = /^com\.cloudflare\.edge\.r2\.bucket\.[^_]+_[^_]+_(.+)$/.exec(scopes[0]!)?.[1];
      if (!bucket) throw new Error(`R2 token ${resource.name} is scoped to ${scopes[0]}, not to a bucket`);
      const secretKey = createHash("sha256").update(String(outputs.value)).digest("hex");
      const field = pushed.find(([, value]) => value === secretKey)?.[0];
      if (!field || !field.endsWith("-secret-access-key")) throw new Error(`the store never receives the S3 secret of R2 token ${resource.name}`);
      const accessKey = pushed.find(([ref]) => ref === field.replace(/-secret-access-key$/, "-access-key-id"))?.[1];
      if (!accessKey) throw new Error(`the store receives the S3 secret of R2 token ${resource.name} without its access key id`);
      keys.push({ destination, kind: "r2", name: resource.name, bucket, canDelete: true, credentials: { accessKey, secretKey } });
    }
  }
  return keys;
}

export interface ProvisionedDestination {
  destination: string;
  buckets: PlannedBucket[];
  keys: PlannedKey[];
  /** The planned key whose credentials these are; throws if none is. */
  keyOf(credentials: { accessKey?: string; secretKey?: string }): PlannedKey;
  /** Emulates the R2 bucket lock rules on what the buckets hold now (no-op on B2 and unlocked buckets). */
  applyLockRules(): Promise<void>;
}

/** Creates the buckets of one destination and one user per consumer key, as the plan declares them. */
export async function provisionDestination(server: MinioServer, resources: readonly CapturedResource[], destination: string): Promise<ProvisionedDestination> {
  const buckets = plannedBuckets(resources, destination);
  const keys = plannedKeys(resources, destination);
  if (buckets.length === 0) throw new Error(`the plan declares no bucket on destination ${destination}`);
  for (const bucket of buckets) await server.createBucket(bucket.name, bucket.options);
  for (const key of keys) {
    if (!buckets.some((b) => b.name === key.bucket)) throw new Error(`key ${key.name} is scoped to bucket ${key.bucket}, which the plan does not create`);
    await server.createUser(key.credentials.accessKey, key.credentials.secretKey, scopedKeyPolicy(key));
  }
  return {
    destination,
    buckets,
    keys,
    keyOf(credentials) {
      const key = keys.find((k) => k.credentials.accessKey === credentials.accessKey && k.credentials.secretKey === credentials.secretKey);
      if (!key) throw new Error(`no key of destination ${destination} has access key ${credentials.accessKey ?? "(none)"} with that secret`);
      return key;
    },
    async applyLockRules() {
      for (const bucket of buckets) {
        for (const rule of bucket.lockRules) await server.retain(bucket.name, rule.prefix, "COMPLIANCE", rule.days);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The store and the ExternalSecrets

/**
 * The store as a cluster would find it: every field the PushSecrets write, with the value the
 * plan pushes (generated passwords and the keys' credentials), plus `userProvided` fields no
 * PushSecret writes (the user puts them in the store: ping keys, database passwords).
 */
export function storeFromPlan(resources: readonly CapturedResource[], userProvided: Record<string, string> = {}): Map<string, string> {
  const store = pushedStoreValues(resources);
  for (const [ref, value] of Object.entries(userProvided)) {
    if (store.has(ref)) throw new Error(`${ref} is written by a PushSecret: it is not the user's to provide`);
    store.set(ref, value);
  }
  return store;
}

/**
 * The Secret an ExternalSecret builds from the store: template engine v2 with `{{ .name }}`
 * placeholders only (anything else in a template is an error here, so a new construct gets a
 * renderer rather than a silent pass). Throws on a store field the store lacks.
 */
export function renderExternalSecret(externalSecret: Json, store: ReadonlyMap<string, string>): Record<string, string> {
  const values = new Map<string, string>();
  for (const [index, ref] of storeRefs(externalSecret as KubernetesObject).entries()) {
    const variable = (externalSecret.spec.data as Json[])[index]!.secretKey as string;
    const value = store.get(`${ref.item}/${ref.field}`);
    if (value === undefined) throw new Error(`ExternalSecret ${externalSecret.metadata.name} reads ${ref.item}/${ref.field}, which nothing puts in the store`);
    values.set(variable, value);
  }
  const data: Record<string, string> = {};
  for (const [key, template] of Object.entries(externalSecret.spec.target.template.data as Record<string, string>)) {
    data[key] = template.replace(/\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_match, name: string) => {
      const value = values.get(name);
      if (value === undefined) throw new Error(`ExternalSecret ${externalSecret.metadata.name}: template key ${key} uses .${name}, which spec.data does not fetch`);
      return value;
    });
    if (data[key]!.includes("{{")) throw new Error(`ExternalSecret ${externalSecret.metadata.name}: template key ${key} uses a construct this renderer does not know: ${template}`);
  }
  return data;
}

/** The Secret named `name` in `namespace`, as the ExternalSecret that targets it renders it. */
export function secretData(objects: readonly KubernetesObject[], namespace: string, name: string, store: ReadonlyMap<string, string>): Record<string, string> {
  const externalSecret = objects.find((o) => o.kind === "ExternalSecret" && o.metadata.namespace === namespace && (o as Json).spec.target.name === name);
  if (!externalSecret) throw new Error(`no ExternalSecret in ${namespace} builds Secret ${name}`);
  return renderExternalSecret(externalSecret as Json, store);
}

// ---------------------------------------------------------------------------------------------
// Pointing generated configuration at the server, and the runbooks' commands

/**
 * THE ONE CHANGE the S3 tests make to generated configuration: the planned endpoint's scheme and
 * host (`https://s3.<region>.backblazeb2.com`, `https://<account>.r2.cloudflarestorage.com`)
 * become the test server's `http://127.0.0.1:<port>`. Every occurrence is replaced; the text must
 * name the planned endpoint at least once, and nothing else changes (checked: substituting back
 * gives the input again). Bucket, path, region and key prefix stay exactly as generated.
 */
export function redirectEndpoint(text: string, plannedEndpoint: string, server: Pick<S3Server, "endpoint">): string {
  if (!/^https:\/\/[^/]+$/.test(plannedEndpoint)) throw new Error(`${plannedEndpoint} is not an https endpoint without a path`);
  const parts = text.split(plannedEndpoint);
  if (parts.length < 2) throw new Error(`the generated text never names the planned endpoint ${plannedEndpoint}:\n${text.slice(0, 2000)}`);
  if (text.includes(server.endpoint)) throw new Error(`the generated text already names ${server.endpoint}`);
  const redirected = parts.join(server.endpoint);
  if (redirected.split(server.endpoint).join(plannedEndpoint) !== text) throw new Error("redirectEndpoint changed more than the endpoint");
  return redirected;
}

/** redirectEndpoint over every value of an environment (values that do not name the endpoint are kept). */
export function redirectEnv(env: Record<string, string>, plannedEndpoint: string, server: Pick<S3Server, "endpoint">): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value.includes(plannedEndpoint) ? redirectEndpoint(value, plannedEndpoint, server) : value]));
}

/**
 * Moves an absolute path of the target machine (a pod's mount, a host's system directory) below a
 * test directory: every occurrence of `from` as a whole path (followed by '/', a quote, space or
 * the end, preceded by start, space, quote, '=', '(' or ':') becomes `to`. Throws if there is
 * none; checked reversible.
 */
export function relocatePath(text: string, from: string, to: string): string {
  const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`(^|[\\s'"=(:])${escaped}(?=[/'"\\s;)]|$)`, "gm");
  let count = 0;
  const moved = text.replace(pattern, (_match, before: string) => {
    count++;
    return `${before}${to}`;
  });
  if (count === 0) throw new Error(`the text never names ${from}`);
  const back = new RegExp(`(^|[\\s'"=(:])${to.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?=[/'"\\s;)]|$)`, "gm");
  if (moved.replace(back, (_m, before: string) => `${before}${from}`) !== text) throw new Error(`relocatePath(${from} -> ${to}) is not reversible on this text`);
  return moved;
}

/** The part of a runbook page below `<a id="anchor"></a>`, up to the next anchor. */
export function runbookSection(page: string, anchor: string): string {
  const start = page.indexOf(`<a id="${anchor}"></a>`);
  if (start < 0) throw new Error(`the runbook has no section #${anchor}`);
  const next = page.indexOf('<a id="', start + 1);
  return page.slice(start, next < 0 ? undefined : next);
}

/** The ```sh blocks of a runbook section, in order. */
export function shellBlocks(section: string): string[] {
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** The one shell block of a section that contains `needle`. */
export function blockWith(section: string, needle: string | RegExp): string {
  const blocks = shellBlocks(section).filter((block) => (typeof needle === "string" ? block.includes(needle) : needle.test(block)));
  if (blocks.length !== 1) throw new Error(`expected one shell block with ${needle}, found ${blocks.length} in:\n${section}`);
  return blocks[0]!;
}

/**
 * Stand-ins for the two CLIs the runbooks read credentials with (not for any backup tool):
 * `op read 'op://<vault>/<item>/<field>'` answers from the store (only for `vault`), and
 * `kubectl get secret -n <ns> <name> -o jsonpath='{.data.<KEY>}'` answers the rendered Secret,
 * base64-encoded as the API serves it. Any other use fails loudly. Returns their paths.
 */
export function credentialCliShims(
  parent: string,
  options: { vault: string; store: ReadonlyMap<string, string>; secrets: Record<string, Record<string, string>> },
): { op: string; kubectl: string } {
  const dir = join(parent, `shims-${randomBytes(4).toString("hex")}`);
  const storeDir = join(dir, "store");
  const secretsDir = join(dir, "secrets");
  for (const [ref, value] of options.store) {
    mkdirSync(join(storeDir, options.vault, ref, ".."), { recursive: true });
    writeFileSync(join(storeDir, options.vault, ref), value, { mode: 0o600 });
  }
  for (const [secret, data] of Object.entries(options.secrets)) {
    for (const [key, value] of Object.entries(data)) {
      mkdirSync(join(secretsDir, secret), { recursive: true });
      writeFileSync(join(secretsDir, secret, key), value, { mode: 0o600 });
    }
  }
  const op = join(dir, "op");
  writeFileSync(
    op,
    [
      "#!/bin/sh",
      "# Test stand-in for the 1Password CLI: `op read op://<vault>/<item>/<field>` from the test store.",
      'if [ "$#" -ne 2 ] || [ "$1" != read ]; then echo "op stand-in: unsupported: op $*" >&2; exit 2; fi',
      'ref=${2#op://}',
      `if [ "$ref" = "$2" ] || [ ! -f "${storeDir}/$ref" ]; then echo "[ERROR] could not read secret '$2': no such item or field" >&2; exit 1; fi`,
      `cat "${storeDir}/$ref"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const kubectl = join(dir, "kubectl");
  writeFileSync(
    kubectl,
    [
      "#!/bin/sh",
      "# Test stand-in for kubectl: only `get secret -n <ns> <name> -o jsonpath={.data.<KEY>}`, from the rendered Secrets.",
      'if [ "$#" -ne 7 ] || [ "$1 $2 $3 $6" != "get secret -n -o" ]; then echo "kubectl stand-in: unsupported: kubectl $*" >&2; exit 2; fi',
      'key=${7#jsonpath=}; key=${key#\\{.data.}; key=${key%\\}}',
      `file="${secretsDir}/$4/$5/$key"`,
      'if [ ! -f "$file" ]; then echo "Error from server (NotFound): secret $4/$5 has no key $key" >&2; exit 1; fi',
      'base64 -w0 <"$file"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return { op, kubectl };
}

/** Runs shell text with `sh -eu` in `cwd` with exactly `env`; never throws. */
export async function runShell(text: string, options: { env: Record<string, string>; cwd: string; timeoutMs?: number; shell?: string }): Promise<Result> {
  const file = join(options.cwd, `.script-${randomBytes(4).toString("hex")}.sh`);
  writeFileSync(file, text);
  try {
    return await exec(options.shell ?? "/bin/sh", ["-eu", file], { env: options.env, cwd: options.cwd, timeoutMs: options.timeoutMs ?? 60_000 });
  } finally {
    rmSync(file, { force: true });
  }
}

/** Random bytes written to `path` (directories created), returned for comparison. */
export function writeRandomFile(path: string, size: number): Buffer {
  const content = randomBytes(size);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, content);
  return content;
}

// ---------------------------------------------------------------------------------------------
// A stack's offline plan, ready for the S3 tests

export interface PlannedStack {
  config: StackConfig;
  result: PlanResult;
  resources: CapturedResource[];
  /** Kubernetes objects with secret values revealed. */
  objects: KubernetesObject[];
  /** The store as the PushSecrets fill it, plus the user-provided fields given. */
  store: Map<string, string>;
  /** A generated runbook page: "vaultwarden" reads runbooks/vaultwarden.md. */
  runbook(page: string): string;
}

/** The offline plan (scripts/plan's run: program, policies, runbooks) of a project config, or of the example stack. */
export async function planStack(projectConfig?: Record<string, unknown>, userProvided: Record<string, string> = {}): Promise<PlannedStack> {
  const configFile = projectConfig ? writeStackFile(projectConfig) : EXAMPLE_STACK;
  const result = await runOfflinePlan({ configFile });
  const config = parseStackConfig(readStackFile(configFile).projectConfig);
  return {
    config,
    result,
    resources: result.resources,
    objects: revealedObjects(result.resources),
    store: storeFromPlan(result.resources, userProvided),
    runbook(page) {
      const text = result.artifacts[`runbooks/${page}.md`];
      if (text === undefined) throw new Error(`the plan renders no runbook ${page}.md`);
      return text;
    },
  };
}

/**
 * The S3 endpoint the provider documents for a destination (what the generated configuration must
 * name, and what redirectEndpoint swaps): B2 `https://s3.<region>.backblazeb2.com`, R2
 * `https://<account id>[.<jurisdiction>].r2.cloudflarestorage.com`. Written here from the
 * providers' documentation, not taken from the program, so a wrong form fails the tests.
 */
export function documentedEndpoint(config: StackConfig, destination: string): { url: string; region: string } {
  const target = config.destinations[destination] as { kind: string; region?: string; accountId?: string; jurisdiction?: string } | undefined;
  if (target?.kind === "b2") return { url: `https://s3.${target.region}.backblazeb2.com`, region: target.region! };
  if (target?.kind === "r2") {
    const zone = target.jurisdiction && target.jurisdiction !== "default" ? `.${target.jurisdiction}` : "";
    return { url: `https://${target.accountId}${zone}.r2.cloudflarestorage.com`, region: "auto" };
  }
  throw new Error(`destination ${destination} is not object storage`);
}

/** Replaces a runbook placeholder (`<path in the volume>`) with a value; the placeholder must be there. */
export function fillPlaceholder(text: string, placeholder: string, value: string): string {
  if (!text.includes(placeholder)) throw new Error(`the runbook text has no ${placeholder}:\n${text}`);
  return text.split(placeholder).join(value);
}

/** Every file below `dir` (relative path -> SHA-256), directories as "<path>/" -> "dir"; symlinks by target. */
export function treeOf(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const path = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        tree[`${path}/`] = "dir";
        walk(path);
      } else if (entry.isSymbolicLink()) {
        tree[path] = `-> ${readlinkSync(join(dir, path))}`;
      } else {
        tree[path] = createHash("sha256").update(readFileSync(join(dir, path))).digest("hex");
      }
    }
  };
  walk("");
  return tree;
}

// ---------------------------------------------------------------------------------------------
// VolSync's restic mover, as v0.16.0 runs it (the release ../shared/crds/volsync comes from)
//
// Reproduced, not copied, from backube/volsync v0.16.0 (commit 22b97b07):
// internal/controller/mover/restic/mover.go builds the Job's environment (the list below, each
// `EnvFromSecret(repository, KEY, optional)`, plus DATA_DIR=/data, RESTIC_CACHE_DIR=/cache,
// FORGET_OPTIONS from spec.restic.retain, RESTORE_AS_OF, SELECT_PREVIOUS, RESTORE_OPTIONS
// "--delete" with enableFileDeletion), and mover-restic/entry.sh runs, for a ReplicationSource,
// `restic cat config` (exit 10, or "Is there a repository": `restic init`), then in DATA_DIR
// `restic backup --host volsync --exclude=lost+found .`, `restic forget --host volsync
// $FORGET_OPTIONS`, and every pruneIntervalDays `restic prune`; for a ReplicationDestination the
// same initialisation, then the snapshot selection and `restic restore <id> -t . --host volsync
// --include-xattr user.* $RESTORE_OPTIONS` in DATA_DIR.

/** The Secret keys VolSync v0.16.0's restic mover passes to restic: any other key never reaches it. */
export const VOLSYNC_RESTIC_SECRET_KEYS: readonly string[] = [
  "RESTIC_REPOSITORY",
  "RESTIC_PASSWORD",
  "RESTIC_COMPRESSION",
  "RESTIC_PACK_SIZE",
  "RESTIC_READ_CONCURRENCY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_DEFAULT_REGION",
  "AWS_PROFILE",
  "RESTIC_AWS_ASSUME_ROLE_ARN",
  "RESTIC_AWS_ASSUME_ROLE_SESSION_NAME",
  "RESTIC_AWS_ASSUME_ROLE_EXTERNAL_ID",
  "RESTIC_AWS_ASSUME_ROLE_POLICY",
  "RESTIC_AWS_ASSUME_ROLE_REGION",
  "RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT",
  "ST_AUTH",
  "ST_USER",
  "ST_KEY",
  "OS_AUTH_URL",
  "OS_REGION_NAME",
  "OS_USERNAME",
  "OS_USER_ID",
  "OS_PASSWORD",
  "OS_TENANT_ID",
  "OS_TENANT_NAME",
  "OS_USER_DOMAIN_NAME",
  "OS_USER_DOMAIN_ID",
  "OS_PROJECT_NAME",
  "OS_PROJECT_DOMAIN_NAME",
  "OS_PROJECT_DOMAIN_ID",
  "OS_TRUST_ID",
  "OS_APPLICATION_CREDENTIAL_ID",
  "OS_APPLICATION_CREDENTIAL_NAME",
  "OS_APPLICATION_CREDENTIAL_SECRET",
  "OS_STORAGE_URL",
  "OS_AUTH_TOKEN",
  "B2_ACCOUNT_ID",
  "B2_ACCOUNT_KEY",
  "AZURE_ACCOUNT_NAME",
  "AZURE_ACCOUNT_KEY",
  "AZURE_ACCOUNT_SAS",
  "AZURE_ENDPOINT_SUFFIX",
  "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID",
  "AZURE_FEDERATED_TOKEN_FILE",
  "GOOGLE_PROJECT_ID",
  "RESTIC_REST_USERNAME",
  "RESTIC_REST_PASSWORD",
];

export interface ResticRetain {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  within?: string;
  last?: string;
}

/** FORGET_OPTIONS as VolSync v0.16.0's generateForgetOptions derives it from spec.restic.retain. */
export function volsyncForgetOptions(retain: ResticRetain | undefined): string {
  if (!retain) return "--keep-last 1";
  let forget = "";
  for (const [flag, value] of [
    ["--keep-hourly", retain.hourly],
    ["--keep-daily", retain.daily],
    ["--keep-weekly", retain.weekly],
    ["--keep-monthly", retain.monthly],
    ["--keep-yearly", retain.yearly],
  ] as const) {
    if (value !== undefined) forget += ` ${flag} ${value}`;
  }
  if (retain.within !== undefined) forget += ` --keep-within ${retain.within}`;
  if (retain.last !== undefined) forget += ` --keep-last ${retain.last}`;
  return forget.length === 0 ? "--keep-last 1" : forget;
}

export interface MoverOptions {
  /** The repository Secret's data (endpoint already redirected). */
  secret: Record<string, string>;
  /** The claim's contents: DATA_DIR. */
  dataDir: string;
  /** The cache volume: RESTIC_CACHE_DIR. */
  cacheDir: string;
  /** entry.sh's `timeout 60s` on `restic cat config` (restic retries some errors, a wrong region among them, for minutes). */
  probeTimeoutMs?: number;
}

async function moverExec(options: MoverOptions, extra: Record<string, string>, args: string[], cwd?: string, timeoutMs = 120_000): Promise<Result> {
  const env: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: options.cacheDir, DATA_DIR: options.dataDir, RESTIC_CACHE_DIR: options.cacheDir, PRIVILEGED_MOVER: "0", ...extra };
  for (const key of VOLSYNC_RESTIC_SECRET_KEYS) if (options.secret[key] !== undefined) env[key] = options.secret[key]!;
  return exec(toolPath("restic"), args, { env, cwd, timeoutMs });
}

async function moverEnsureInitialized(options: MoverOptions, log: string[]): Promise<void> {
  // entry.sh: `timeout 60s restic cat config`; 10 (or the "Is there a repository" hint): init.
  const probe = await moverExec(options, {}, ["cat", "config"], undefined, options.probeTimeoutMs ?? 60_000);
  const code = probe.code ?? 124; // killed by the timeout
  log.push(`restic cat config: exit ${code}\n${probe.stderr}`);
  if (code === 0) return;
  if (code === 10 || ((code === 1 || code === 124) && /Is there a repository at the following location/.test(probe.stderr))) {
    const init = await moverExec(options, {}, ["init"]);
    log.push(`restic init: exit ${init.code}\n${init.stdout}${init.stderr}`);
    if (init.code !== 0) throw new MoverError(`restic init failed (exit ${init.code})`, log);
    return;
  }
  throw new MoverError(`failure checking existence of repository (restic cat config exit ${code})`, log);
}

/** A failed mover run, with the log the mover Job would show. */
export class MoverError extends Error {
  constructor(
    message: string,
    readonly log: string[],
  ) {
    super(`${message}\n${log.join("\n")}`);
  }
}

/** One ReplicationSource sync: the mover's actions "backup" (and "prune" when due). Returns the log. */
export async function volsyncResticBackup(options: MoverOptions & { retain?: ResticRetain; prune: boolean }): Promise<string[]> {
  const log: string[] = [];
  const contents = readdirSync(options.dataDir).filter((name) => name !== "lost+found");
  if (contents.length === 0) return ["== Directory is empty skipping backup ==="];
  await moverEnsureInitialized(options, log);
  const forget = volsyncForgetOptions(options.retain);
  const steps: [string, string[], string | undefined][] = [
    ["backup", ["backup", "--host", "volsync", "--exclude=lost+found", "."], options.dataDir],
    ["forget", ["forget", "--host", "volsync", ...forget.trim().split(/\s+/)], undefined],
  ];
  if (options.prune) steps.push(["prune", ["prune"], undefined]);
  for (const [name, args, cwd] of steps) {
    const result = await moverExec(options, { FORGET_OPTIONS: forget }, args, cwd);
    log.push(`restic ${args.join(" ")}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    if (result.code !== 0) throw new MoverError(`${name} failed (exit ${result.code})`, log);
  }
  return log;
}

/** One ReplicationDestination sync (action "restore"): selection by restoreAsOf and previous, as entry.sh does. */
export async function volsyncResticRestore(options: MoverOptions & { previous?: number; restoreAsOf?: string; enableFileDeletion?: boolean }): Promise<string[]> {
  const log: string[] = [];
  await moverEnsureInitialized(options, log);
  const listed = await moverExec(options, {}, ["snapshots", "--json"]);
  if (listed.code !== 0) throw new MoverError("failure getting list of snapshots from repository", [...log, listed.stderr]);
  // entry.sh greps the `restic snapshots` table for "/data", newest first.
  const snapshots = (JSON.parse(listed.stdout) as { short_id: string; time: string; paths: string[] }[])
    .filter((snapshot) => snapshot.paths.some((path) => path.includes("/data")))
    .reverse();
  let offset = 0;
  if (options.restoreAsOf) {
    const limit = Date.parse(options.restoreAsOf);
    while (offset < snapshots.length && Date.parse(snapshots[offset]!.time) > limit) offset++;
  }
  offset += options.previous ?? 0;
  const chosen = snapshots[offset];
  if (!chosen) return [...log, "No eligible snapshots found", "=== No data will be restored ==="];
  const args = ["restore", chosen.short_id, "-t", ".", "--host", "volsync", "--include-xattr", "user.*", ...(options.enableFileDeletion ? ["--delete"] : [])];
  const result = await moverExec(options, { RESTORE_OPTIONS: options.enableFileDeletion ? "--delete" : "", SELECT_PREVIOUS: String(options.previous ?? 0) }, args, options.dataDir);
  log.push(`restic ${args.join(" ")}: exit ${result.code}\n${result.stdout}${result.stderr}`);
  if (result.code !== 0) throw new MoverError(`restore failed (exit ${result.code})`, log);
  return log;
}

// ---------------------------------------------------------------------------------------------
// A TLS front for clients that insist on https (pgBackRest)

export interface S3TlsFront {
  /** 127.0.0.1 */
  host: string;
  port: number;
  /** The self-signed certificate (also its CA): for the client's CA file. */
  caFile: string;
  stop(): Promise<void>;
}

/**
 * A TLS listener on loopback that passes every connection through, unchanged, to the server's
 * plain HTTP port (so the Host header and the signature are the client's own). The certificate
 * is self-signed for 127.0.0.1 (as an IP and as a DNS name: pgBackRest matches only DNS names) and for `names` (the planned endpoint's host name, so a client that
 * verifies the certificate against the endpoint it was configured with accepts it).
 */
export async function startS3TlsFront(server: Pick<MinioServer, "hostPort">, names: readonly string[] = []): Promise<S3TlsFront> {
  const { createServer } = await import("node:tls");
  const { connect } = await import("node:net");
  const dir = tempDir("s3-tls");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const san = ["IP:127.0.0.1", "DNS:127.0.0.1", ...names.map((name) => `DNS:${name}`)].join(",");
  const made = await exec("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
    "-addext", `subjectAltName=${san}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "extendedKeyUsage=serverAuth",
  ]);
  if (made.code !== 0) throw new Error(`openssl could not make the TLS front's certificate: ${made.stderr}`);
  chmodSync(dir, 0o755);
  chmodSync(cert, 0o644);
  const colon = server.hostPort.lastIndexOf(":");
  const target = { host: server.hostPort.slice(0, colon), port: Number(server.hostPort.slice(colon + 1)) };
  const sockets = new Set<import("node:net").Socket>();
  const front = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
    const upstream = connect(target);
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    for (const end of [socket, upstream]) {
      end.on("error", close);
      end.on("close", close);
    }
  });
  front.on("connection", (socket: import("node:net").Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  const address = front.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    host: "127.0.0.1",
    port,
    caFile: cert,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        front.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
