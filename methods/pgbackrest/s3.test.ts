/**
 * pgBackRest to S3 (MinIO), with the repository configuration the program generates for a CNPG
 * cluster: the example stack's Stanza of database/postgres18-immich, repo1 (b2), its bucket and
 * the pgBackRest key as the plan scopes them (test/support/s3Server.ts provisions both), and the
 * credentials and cipher pass the ExternalSecrets render from the store the PushSecrets fill.
 *
 * The Stanza becomes pgbackrest.conf the way the Dalibo plugin maps it (s3Repositories[i] ->
 * repo<i+1>-s3-bucket/-endpoint/-region/-uri-style, -path, -storage-verify-tls, -cipher-*,
 * -retention-*, and archive/processMax/compressConfig -> archive-async, archive-push-queue-max,
 * process-max, compress-type); every one of those values is used verbatim. The only additions are
 * where the test runs: repo1-storage-host and -port (connect to the TLS front on loopback instead
 * of resolving the planned endpoint; pgBackRest still signs for, and verifies the certificate
 * against, the planned endpoint host), repo1-storage-ca-file (the front's self-signed CA: TLS
 * verification stays on, as generated), and the local pg1-*, lock, spool and log settings.
 *
 * A real PostgreSQL archives WAL to the repository with archive_command, a full backup is taken,
 * rows are written after it, and a restore into a new data directory must recover them. Then the
 * program's own drill scripts (the CronJob's fetch and verify containers, with the CronJob's env
 * and the drill Secret) restore the newest backup from the same repository. Negative controls:
 * without the CA file TLS verification refuses the server; another cluster's key and a wrong
 * cipher pass are refused.
 */
import { strict as assert } from "node:assert";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DRILL_TOOLS, PGBACKREST_VERIFY_TOOLS } from "../../domain/jobs/drills";
import { asServerUser, drillToolDir, ownForServer } from "../../test/support/drillServices";
import { exec, pgBinDir, Result, tempDir } from "../../test/support/services";
import {
  documentedEndpoint,
  findObject,
  MinioServer,
  planStack,
  PlannedStack,
  provisionDestination,
  ProvisionedDestination,
  renderExternalSecret,
  S3TlsFront,
  secretData,
  startS3Server,
  startS3TlsFront,
} from "../../test/support/s3Server";
import { storeRefs } from "../../test/support/secretGraph";

const NAMESPACE = "database";
const CLUSTER = "postgres18-immich";
const DRILL = "immich-immich-drill";
const ROWS = "SELECT count(*) || ':' || max(i) FROM photos";

interface S3Repository {
  bucket: string;
  endpoint: string;
  region: string;
  repoPath: string;
  uriStyle: string;
  verifyTLS: boolean;
  retentionPolicy?: { full: number; fullType: string; diff: number; archive: number; archiveType: string; history: number };
  cipherConfig: { type: string; encryptionPass: { name: string; key: string } };
  secretRef: { accessKeyId: { name: string; key: string }; secretAccessKey: { name: string; key: string } };
}
interface StanzaConfiguration {
  name: string;
  archive: { async: boolean; pushQueueMax: string };
  processMax: number;
  compressConfig: { type: string };
  s3Repositories: S3Repository[];
}
interface Container {
  name: string;
  command: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { secretRef: { name: string } }[];
}

/** The pgbackrest.conf options the plugin derives from the Stanza for repository `index` (verbatim values). */
function generatedOptions(stanza: StanzaConfiguration, index: number, secret: Record<string, string>): Record<string, string> {
  const repo = stanza.s3Repositories[index]!;
  const n = `repo${index + 1}`;
  const retention = repo.retentionPolicy;
  return {
    [`${n}-type`]: "s3",
    [`${n}-s3-bucket`]: repo.bucket,
    [`${n}-s3-endpoint`]: repo.endpoint,
    [`${n}-s3-region`]: repo.region,
    [`${n}-s3-uri-style`]: repo.uriStyle,
    [`${n}-path`]: repo.repoPath,
    [`${n}-storage-verify-tls`]: repo.verifyTLS ? "y" : "n",
    [`${n}-cipher-type`]: repo.cipherConfig.type,
    [`${n}-cipher-pass`]: secret[repo.cipherConfig.encryptionPass.key]!,
    [`${n}-s3-key`]: secret[repo.secretRef.accessKeyId.key]!,
    [`${n}-s3-key-secret`]: secret[repo.secretRef.secretAccessKey.key]!,
    ...(retention
      ? {
          [`${n}-retention-full`]: String(retention.full),
          [`${n}-retention-full-type`]: retention.fullType,
          [`${n}-retention-diff`]: String(retention.diff),
          [`${n}-retention-archive`]: String(retention.archive),
          [`${n}-retention-archive-type`]: retention.archiveType,
          [`${n}-retention-history`]: String(retention.history),
        }
      : {}),
    "archive-async": stanza.archive.async ? "y" : "n",
    "archive-push-queue-max": stanza.archive.pushQueueMax,
    "process-max": String(stanza.processMax),
    "compress-type": stanza.compressConfig.type,
  };
}

describe("pgBackRest to S3 (MinIO over TLS), with the generated Stanza, Secrets and drill", function () {
  this.timeout(90_000);
  let stack: PlannedStack;
  let server: MinioServer;
  let provisioned: ProvisionedDestination;
  let front: S3TlsFront;
  let root: string;
  let stanza: StanzaConfiguration;
  let secret: Record<string, string>;
  let configFile: string;
  let options: Record<string, string>;
  const bin = pgBinDir();
  const serverEnv = () => ({ PATH: `${bin}:/usr/bin:/bin`, HOME: root, LC_ALL: "C" });
  const asPostgres = (argv: string[], env: Record<string, string> = serverEnv()): Promise<Result> => {
    const [command, args] = asServerUser(env, argv);
    return exec(command, args, { cwd: root, timeoutMs: 60_000 });
  };
  const must = async (argv: string[], env?: Record<string, string>) => {
    const result = await asPostgres(argv, env);
    if (result.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} exited ${result.code}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  };
  const pgbackrest = (config: string, ...args: string[]) => asPostgres(["pgbackrest", `--config=${config}`, `--stanza=${stanza.name}`, ...args]);
  const psql = (socket: string, port: number, sql: string) => must([join(bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", socket, "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", sql]);
  const data = () => join(root, "data");
  const socket = () => join(root, "socket");

  /** Writes a pgbackrest.conf: [global] with `global`, [stanza] with the cluster's pg1 settings. */
  function writeConfig(name: string, global: Record<string, string>): string {
    const file = join(root, name);
    const lines = ["[global]", ...Object.entries(global).map(([k, v]) => `${k}=${v}`), `[${stanza.name}]`, `pg1-path=${data()}`, `pg1-socket-path=${socket()}`, "pg1-port=5432", ""];
    writeFileSync(file, lines.join("\n"), { mode: 0o600 });
    return file;
  }

  before(async () => {
    root = tempDir("pgbackrest-s3");
    chmodSync(root, 0o755);
    stack = await planStack();
    server = await startS3Server({ region: documentedEndpoint(stack.config, "b2").region });
    provisioned = await provisionDestination(server, stack.resources, "b2");
    stanza = findObject(stack.objects, "Stanza", NAMESPACE, CLUSTER).spec.stanzaConfiguration as StanzaConfiguration;
    const repo = stanza.s3Repositories[0]!;
    secret = secretData(stack.objects, NAMESPACE, repo.cipherConfig.encryptionPass.name, stack.store);
    front = await startS3TlsFront(server, [repo.endpoint]);
    for (const dir of ["socket", "spool", "lock", "log"]) mkdirSync(join(root, dir));
    options = generatedOptions(stanza, 0, secret);
    configFile = writeConfig("pgbackrest.conf", {
      ...options,
      // Where the test runs (the only additions): see the file comment.
      "repo1-storage-host": front.host,
      "repo1-storage-port": String(front.port),
      "repo1-storage-ca-file": front.caFile,
      "lock-path": join(root, "lock"),
      "spool-path": join(root, "spool"),
      "log-path": join(root, "log"),
      "log-level-file": "off",
      "log-level-console": "warn",
      "start-fast": "y",
    });
    await ownForServer(root, ...["socket", "spool", "lock", "log"].map((d) => join(root, d)), configFile);
    await must([join(bin, "initdb"), "-D", data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
    writeFileSync(
      join(data(), "postgresql.conf"),
      [
        "listen_addresses = ''",
        `unix_socket_directories = '${socket()}'`,
        "port = 5432",
        "fsync = off",
        "wal_level = replica",
        "archive_mode = on",
        `archive_command = 'pgbackrest --config=${configFile} --stanza=${stanza.name} archive-push %p'`,
        "",
      ].join("\n"),
      { flag: "a" },
    );
    await must([join(bin, "pg_ctl"), "-D", data(), "-l", join(root, "server.log"), "-w", "-t", "60", "start"]);
  });
  after(async () => {
    for (const dir of [data(), join(root ?? "", "restored")]) {
      if (root) await asPostgres([join(bin, "pg_ctl"), "-D", dir, "-m", "immediate", "-w", "stop"]);
    }
    await front?.stop();
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("generates an S3 repository the plan's bucket and pgBackRest key match, with TLS verification on", () => {
    const repo = stanza.s3Repositories[0]!;
    const endpoint = documentedEndpoint(stack.config, "b2");
    assert.equal(`https://${repo.endpoint}`, endpoint.url, "the endpoint B2 documents, without a scheme (pgBackRest adds https)");
    assert.equal(repo.region, endpoint.region);
    assert.equal(repo.uriStyle, "path");
    assert.equal(repo.verifyTLS, true);
    assert.equal(repo.repoPath, `/${CLUSTER}`);
    const key = provisioned.keyOf({ accessKey: secret[repo.secretRef.accessKeyId.key], secretKey: secret[repo.secretRef.secretAccessKey.key] });
    assert.equal(key.bucket, repo.bucket, "the Secret's key is the one scoped to the Stanza's bucket");
    assert.equal(key.canDelete, false, "tier 1 on B2: pgBackRest expire only hides");
    assert.ok(secret[repo.cipherConfig.encryptionPass.key]!.length >= 32, "a generated cipher pass");
    // The configuration is the generated one plus exactly the test's own settings.
    const written = Object.fromEntries(
      readFileSync(configFile, "utf8")
        .split("\n")
        .filter((line) => line.includes("=") && !line.startsWith("["))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    const added = Object.keys(written).filter((k) => !(k in options)).sort();
    assert.deepEqual(added, ["lock-path", "log-level-console", "log-level-file", "log-path", "pg1-path", "pg1-port", "pg1-socket-path", "repo1-storage-ca-file", "repo1-storage-host", "repo1-storage-port", "spool-path", "start-fast"]);
    for (const [k, v] of Object.entries(options)) assert.equal(written[k], v, `${k} is used verbatim`);
  });

  it("creates the stanza, archives WAL, backs up, and a restore into a new data directory has every row", async () => {
    const created = await pgbackrest(configFile, "stanza-create");
    assert.equal(created.code, 0, `${created.stdout}${created.stderr}`);
    await psql(socket(), 5432, "CREATE TABLE photos AS SELECT i, md5(i::text) AS h FROM generate_series(1, 1000) i");
    const check = await pgbackrest(configFile, "check");
    assert.equal(check.code, 0, `archive_command reaches the repository: ${check.stdout}${check.stderr}`);
    const backup = await pgbackrest(configFile, "--type=full", "backup");
    assert.equal(backup.code, 0, `${backup.stdout}${backup.stderr}`);
    // Written after the backup: only WAL archiving carries these.
    await psql(socket(), 5432, "INSERT INTO photos SELECT i, 'after the backup' FROM generate_series(1001, 1010) i");
    const switched = await pgbackrest(configFile, "check"); // switches WAL and waits until it is archived
    assert.equal(switched.code, 0, switched.stderr);
    // The objects really are in the bucket, encrypted, under the generated path.
    const objects = await server.versions(stanza.s3Repositories[0]!.bucket, `${CLUSTER}/`);
    assert.ok(objects.some((o) => o.key.startsWith(`${CLUSTER}/archive/${CLUSTER}/archive.info`)));
    assert.ok(objects.some((o) => /\/backup\/postgres18-immich\/\d{8}-\d{6}F\//.test(o.key)));

    const restored = join(root, "restored");
    mkdirSync(restored, { mode: 0o700 });
    await ownForServer(restored);
    const restore = await pgbackrest(configFile, `--pg1-path=${restored}`, "--archive-mode=off", "restore");
    assert.equal(restore.code, 0, `${restore.stdout}${restore.stderr}`);
    writeFileSync(join(restored, "postgresql.auto.conf"), `port = 5433\nunix_socket_directories = '${socket()}'\n`, { flag: "a" });
    await must([join(bin, "pg_ctl"), "-D", restored, "-l", join(root, "restored.log"), "-w", "-t", "60", "start"]);
    // Recovery replays the archived WAL to its end, then promotes: wait for that (not timed).
    while ((await psql(socket(), 5433, "SELECT pg_is_in_recovery()")).trim() !== "f") await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await psql(socket(), 5433, ROWS)).trim(), "1010:1010");
    assert.equal((await psql(socket(), 5433, "SELECT count(*) FROM photos WHERE h = 'after the backup'")).trim(), "10");
    await must([join(bin, "pg_ctl"), "-D", restored, "-m", "fast", "-w", "stop"]);
  });

  it("restores with the program's drill: the CronJob's fetch and verify scripts, env and Secret", async () => {
    const cronJob = findObject(stack.objects, "CronJob", NAMESPACE, DRILL);
    const pod = cronJob.spec.jobTemplate.spec.template.spec as { initContainers: Container[] };
    const [fetch, verify] = pod.initContainers;
    assert.ok(fetch && verify);
    const drillSecretName = fetch.envFrom![0]!.secretRef.name;
    // The drill Secret also carries the ping URL, a field the user puts in the store: a stand-in.
    const externalSecret = stack.objects.find((o) => o.kind === "ExternalSecret" && o.metadata.namespace === NAMESPACE && (o as unknown as { spec: { target: { name: string } } }).spec.target.name === drillSecretName)!;
    const store = new Map(stack.store);
    for (const ref of storeRefs(externalSecret)) if (!store.has(`${ref.item}/${ref.field}`)) store.set(`${ref.item}/${ref.field}`, "https://hc-ping.invalid/test");
    const drillSecret = renderExternalSecret(externalSecret as unknown as Parameters<typeof renderExternalSecret>[0], store);
    const containerEnv = Object.fromEntries((fetch.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    // The drill reads the same repository the Stanza writes.
    const repo = stanza.s3Repositories[0]!;
    assert.equal(containerEnv.PGBACKREST_REPO1_S3_BUCKET, repo.bucket);
    assert.equal(containerEnv.PGBACKREST_REPO1_S3_ENDPOINT, repo.endpoint);
    assert.equal(containerEnv.PGBACKREST_REPO1_PATH, repo.repoPath);
    assert.equal(drillSecret.PGBACKREST_REPO1_CIPHER_PASS, options["repo1-cipher-pass"]);

    const runDrill = async (extraSecret: Record<string, string>) => {
      const scratch = join(root, `scratch-${Math.random().toString(36).slice(2)}`);
      const tmp = `${scratch}-tmp`;
      mkdirSync(scratch);
      mkdirSync(tmp);
      await ownForServer(scratch, tmp);
      const where = { HOME: tmp, TMPDIR: tmp, SCRATCH: scratch };
      const testOnly = { PGBACKREST_REPO1_STORAGE_HOST: front.host, PGBACKREST_REPO1_STORAGE_PORT: String(front.port), PGBACKREST_REPO1_STORAGE_CA_FILE: front.caFile };
      const fetchEnv = { ...containerEnv, ...drillSecret, ...extraSecret, ...testOnly, ...where, PATH: drillToolDir(root, DRILL_TOOLS.pgbackrestFetch) };
      await must(["/bin/sh", "-c", fetch.command[2]!], fetchEnv);
      const verifyEnv = { ...Object.fromEntries((verify.env ?? []).map((e) => [e.name, e.value ?? ""])), ...where, PATH: drillToolDir(root, PGBACKREST_VERIFY_TOOLS["status-file"]) };
      await must(["/bin/sh", "-c", verify.command[2]!], verifyEnv);
      const read = (file: string) => {
        try {
          return readFileSync(join(scratch, file), "utf8").trim();
        } catch {
          return "";
        }
      };
      return { fetchStatus: read("fetch.status"), fetchInfo: read("fetch.info"), verifyStatus: read("verify.status"), verifySummary: read("verify.summary") };
    };

    const drill = await runDrill({});
    assert.equal(drill.fetchStatus, "ok", drill.fetchStatus);
    assert.match(drill.fetchInfo, /label=\d{8}-\d{6}F/);
    assert.equal(drill.verifyStatus, "ok", drill.verifyStatus);
    assert.match(drill.verifySummary, /recovered and promoted/);

    // Negative control: the wrong cipher pass opens nothing, and the drill says so.
    const wrong = await runDrill({ PGBACKREST_REPO1_CIPHER_PASS: "not-the-cipher-pass-of-this-cluster" });
    assert.notEqual(wrong.fetchStatus, "ok");
    assert.notEqual(wrong.verifyStatus, "ok");
  });

  it("is refused without the CA file (TLS verification is on) and with another cluster's key (negative controls)", async () => {
    const noCa = writeConfig("no-ca.conf", { ...options, "repo1-storage-host": front.host, "repo1-storage-port": String(front.port), "lock-path": join(root, "lock"), "log-level-file": "off" });
    const other = secretData(stack.objects, NAMESPACE, "hb-pg-postgres18-cluster", stack.store);
    const otherKey = writeConfig("other-key.conf", {
      ...options,
      "repo1-s3-key": other["b2-access-key-id"]!,
      "repo1-s3-key-secret": other["b2-secret-access-key"]!,
      "repo1-storage-host": front.host,
      "repo1-storage-port": String(front.port),
      "repo1-storage-ca-file": front.caFile,
      "lock-path": join(root, "lock"),
      "log-level-file": "off",
    });
    await ownForServer(noCa, otherKey);
    // Short I/O timeout on the controls only: pgBackRest retries a refused connection until it runs out.
    const tls = await pgbackrest(noCa, "--io-timeout=3", "info", "--output=json");
    assert.match(tls.stdout + tls.stderr, /certificate verify failed|unable to verify|self[- ]signed/i);
    const denied = await pgbackrest(otherKey, "--io-timeout=3", "info", "--output=json");
    assert.match(denied.stdout + denied.stderr, /403|AccessDenied|Access Denied/);
    const ok = await pgbackrest(configFile, "info", "--output=json");
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stdout, /"status":\{"code":[1-9]/, "the control configuration reads the repository");
  });
});
