/**
 * VolSync restic copies to object storage, end to end with the exact generated configuration:
 * the example stack's offline plan gives the ReplicationSource of vaultwarden's tier-1 volume to
 * b2 and to r2, the ExternalSecret that builds its repository Secret (rendered with the values the
 * plan's PushSecrets put in the store), the bucket and the consumer key as the program scopes them
 * (test/support/s3Server.ts provisions them on MinIO), and the runbook page. Real restic 0.18.1
 * runs VolSync v0.16.0's mover steps with the environment its controller derives (the Secret's
 * keys the mover reads, DATA_DIR, FORGET_OPTIONS from spec.restic.retain), then the runbook's own
 * commands restore, and the bytes are compared.
 *
 * The endpoint: the plan names B2's and R2's endpoints; redirectEndpoint() swaps exactly their
 * scheme and host (https://s3.us-east-005.backblazeb2.com, https://<account>.r2.cloudflarestorage.com)
 * for MinIO's http://127.0.0.1:<port> and checks nothing else changed. MinIO answers for the
 * plan's region (us-east-005, auto) and refuses others; the key's policy is the plan's scope. So
 * a wrong endpoint form, region, path style or key prefix in the generated Secret fails here; the
 * negative controls show each refusal.
 */
import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { exec, tempDir } from "../../test/support/services";
import {
  blockWith,
  credentialCliShims,
  documentedEndpoint,
  findObject,
  fillPlaceholder,
  MinioServer,
  MoverError,
  planStack,
  PlannedStack,
  provisionDestination,
  ProvisionedDestination,
  redirectEndpoint,
  redirectEnv,
  runbookSection,
  runShell,
  scriptToolDir,
  secretData,
  startS3Server,
  toolPath,
  treeOf,
  VOLSYNC_RESTIC_SECRET_KEYS,
  volsyncForgetOptions,
  volsyncResticBackup,
  volsyncResticRestore,
  writeRandomFile,
} from "../../test/support/s3Server";

const NAMESPACE = "vaultwarden";

describe("VolSync restic to S3 (MinIO), with the generated Secret, spec and runbook", function () {
  this.timeout(60_000);
  let stack: PlannedStack;
  let root: string;
  const servers: Record<string, MinioServer> = {};
  const provisioned: Record<string, ProvisionedDestination> = {};

  before(async () => {
    root = tempDir("volsync-s3");
    stack = await planStack();
    for (const destination of ["b2", "r2"]) {
      servers[destination] = await startS3Server({ region: documentedEndpoint(stack.config, destination).region });
      provisioned[destination] = await provisionDestination(servers[destination]!, stack.resources, destination);
    }
  });
  after(async () => {
    for (const server of Object.values(servers)) await server.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  for (const destination of ["b2", "r2"] as const) {
    describe(`vaultwarden/data to ${destination}`, () => {
      const name = `vaultwarden-data-${destination}`;
      const source = () => findObject(stack.objects, "ReplicationSource", NAMESPACE, name);
      /** The repository Secret as the cluster holds it (planned endpoint). */
      const planned = () => secretData(stack.objects, NAMESPACE, source().spec.restic.repository, stack.store);
      /** The same Secret pointed at MinIO: only the endpoint's scheme and host differ. */
      const secret = () => redirectEnv(planned(), documentedEndpoint(stack.config, destination).url, servers[destination]!);
      let volume: string;

      it("builds a Secret of keys VolSync's mover reads, pointing at the bucket the key is scoped to", () => {
        const data = planned();
        const unread = Object.keys(data).filter((key) => !VOLSYNC_RESTIC_SECRET_KEYS.includes(key));
        assert.deepEqual(unread, [], "keys VolSync never passes to restic");
        for (const key of ["RESTIC_REPOSITORY", "RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]) assert.ok(data[key], `${key} is set`);
        const endpoint = documentedEndpoint(stack.config, destination);
        assert.equal(data.AWS_DEFAULT_REGION, endpoint.region);
        const key = provisioned[destination]!.keyOf({ accessKey: data.AWS_ACCESS_KEY_ID, secretKey: data.AWS_SECRET_ACCESS_KEY });
        assert.ok(data.RESTIC_REPOSITORY!.startsWith(`s3:${endpoint.url}/${key.bucket}/${key.namePrefix ?? ""}`), `${data.RESTIC_REPOSITORY} lies in what key ${key.name} may reach`);
        // Tier 1: the B2 key cannot delete versions; R2 tokens can, and the bucket is locked instead.
        if (destination === "b2") assert.equal(key.canDelete, false);
        else assert.ok(provisioned.r2!.buckets.find((b) => b.name === key.bucket)!.lockRules.length > 0);
      });

      it("backs up with the mover's steps; retain becomes forget's flags", async () => {
        volume = join(root, `${destination}-volume`, "data");
        mkdirSync(join(volume, "lost+found"), { recursive: true });
        writeRandomFile(join(volume, "db.sqlite3"), 300_000);
        writeRandomFile(join(volume, "attachments", "a1", "scan.pdf"), 1_200_000);
        writeFileSync(join(volume, "config.json"), '{"domain":"https://vault.example"}\n');
        writeFileSync(join(volume, "empty"), "");
        const retain = source().spec.restic.retain;
        const cacheDir = join(root, `${destination}-cache`);
        const first = await volsyncResticBackup({ secret: secret(), dataDir: volume, cacheDir, retain, prune: false });
        assert.match(first.join("\n"), /restic init: exit 0/, "the first sync initialises the repository");
        writeRandomFile(join(volume, "attachments", "a2", "photo.jpg"), 500_000);
        const second = await volsyncResticBackup({ secret: secret(), dataDir: volume, cacheDir, retain, prune: source().spec.restic.pruneIntervalDays > 0 });
        assert.doesNotMatch(second.join("\n"), /restic init/);
        const listed = await exec(toolPath("restic"), ["snapshots", "--json"], { env: { ...secret(), PATH: "/usr/bin:/bin", HOME: root, RESTIC_CACHE_DIR: cacheDir } });
        assert.equal(listed.code, 0, listed.stderr);
        const snapshots = JSON.parse(listed.stdout) as { hostname: string; paths: string[] }[];
        assert.equal(snapshots.length, 2);
        assert.ok(snapshots.every((s) => s.hostname === "volsync" && s.paths[0] === volume));
        // The controller's FORGET_OPTIONS for this spec, and restic applying exactly that policy.
        const expected = [
          retain.hourly && `${retain.hourly} hourly`,
          retain.daily && `${retain.daily} daily`,
          retain.weekly && `${retain.weekly} weekly`,
          retain.monthly && `${retain.monthly} monthly`,
          retain.yearly && `${retain.yearly} yearly`,
        ].filter(Boolean);
        const forgetLog = second.find((line) => line.startsWith("restic forget"))!;
        assert.ok(forgetLog.includes(`restic forget --host volsync ${volsyncForgetOptions(retain).trim()}: exit 0`), forgetLog);
        assert.match(forgetLog, new RegExp(`Applying Policy: keep ${expected.join(", ")}`));
        // The R2 copy keeps every snapshot the bucket lock holds (README: forget never reaches a locked snapshot).
        if (destination === "r2") assert.match(forgetLog, new RegExp(`within ${(stack.config.destinations.r2 as { lockDays: number }).lockDays}d`));
        else assert.ok(!forgetLog.includes("within"));
        if (source().spec.restic.pruneIntervalDays > 0) assert.ok(second.some((line) => line.startsWith("restic prune: exit 0")), "the key may prune (on B2 a prune only hides)");
        await provisioned[destination]!.applyLockRules();
      });

      for (const credentials of ["Secret in the cluster", "store"] as const) {
        it(`restores one file with the runbook's commands, credentials from the ${credentials}`, async () => {
          const page = stack.runbook("vaultwarden");
          const section = redirectEndpoint(runbookSection(page, `volume-data-from-${destination}`), documentedEndpoint(stack.config, destination).url, servers[destination]!);
          const login = blockWith(section, credentials === "store" ? "op read" : "kubectl get secret");
          const restore = fillPlaceholder(blockWith(section, "restic restore latest"), "<path in the volume>", "attachments/a1/scan.pdf");
          const work = join(root, `${destination}-runbook-${credentials.split(" ")[0]}`);
          mkdirSync(work);
          const shims = credentialCliShims(root, {
            vault: stack.config.secretStore.vault!,
            store: stack.store,
            secrets: { [`${NAMESPACE}/${source().spec.restic.repository}`]: planned() },
          });
          const bin = scriptToolDir(root, ["restic", "head", "cat", "base64"], shims);
          const result = await runShell(`${login}\n${restore}`, { cwd: work, env: { PATH: bin, HOME: work, RESTIC_CACHE_DIR: join(work, "cache") } });
          assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
          assert.match(result.stdout, /\/attachments\/a1\/scan\.pdf/, "restic ls lists the volume's files at the snapshot's root");
          assert.deepEqual(readFileSync(join(work, "restore", "attachments", "a1", "scan.pdf")), readFileSync(join(volume, "attachments", "a1", "scan.pdf")));
        });
      }

      it("restores the whole volume with the runbook's ReplicationDestination (mover restore, enableFileDeletion)", async () => {
        const section = runbookSection(stack.runbook("vaultwarden"), `volume-data-from-${destination}`);
        const apply = blockWith(section, "kind: ReplicationDestination");
        const manifest = parse(/<<'EOF'\n([\s\S]*?)\nEOF/.exec(apply)![1]!) as { spec: { restic: { repository: string; previous?: number; restoreAsOf?: string; enableFileDeletion?: boolean; destinationPVC: string } } };
        const spec = manifest.spec.restic;
        assert.equal(spec.repository, source().spec.restic.repository, "the restore reads the Secret the backups write with");
        assert.equal(spec.destinationPVC, source().spec.sourcePVC);
        const claim = join(root, `${destination}-restored`, "data");
        mkdirSync(join(claim, "attachments"), { recursive: true });
        writeFileSync(join(claim, "stale-file"), "written after the backup");
        writeFileSync(join(claim, "db.sqlite3"), "corrupted");
        await volsyncResticRestore({
          secret: secret(),
          dataDir: claim,
          cacheDir: join(root, `${destination}-restore-cache`),
          previous: spec.previous,
          restoreAsOf: spec.restoreAsOf,
          enableFileDeletion: spec.enableFileDeletion,
        });
        const expected = treeOf(volume);
        delete expected["lost+found/"];
        assert.deepEqual(treeOf(claim), expected);
      });

      it("is refused outside the key's scope and with another region (negative controls)", async () => {
        const data = secret();
        const key = provisioned[destination]!.keyOf({ accessKey: data.AWS_ACCESS_KEY_ID, secretKey: data.AWS_SECRET_ACCESS_KEY });
        const other = provisioned[destination]!.buckets.find((b) => b.name !== key.bucket)!;
        const repository = data.RESTIC_REPOSITORY!;
        const variants: [string, Record<string, string>, RegExp][] = [
          ["another bucket of the destination", { RESTIC_REPOSITORY: repository.replace(`/${key.bucket}/`, `/${other.name}/`) }, /Access Denied/],
          ["another region", { AWS_DEFAULT_REGION: destination === "b2" ? "us-west-004" : "us-east-1" }, /region is wrong/],
        ];
        if (key.namePrefix) {
          // The B2 key is limited to vaultwarden/: paperless's repository in the same bucket is out of reach.
          variants.push(["another app's prefix in the same bucket", { RESTIC_REPOSITORY: repository.replace(`/${key.bucket}/${key.namePrefix}`, `/${key.bucket}/paperless/`) }, /Access Denied/]);
        }
        await Promise.all(
          variants.map(async ([what, change, refusal]) => {
            const dataDir = join(root, `${destination}-control-${what.replace(/\W+/g, "-")}`, "data");
            writeRandomFile(join(dataDir, "file"), 1000);
            await assert.rejects(
              volsyncResticBackup({ secret: { ...data, ...change }, dataDir, cacheDir: join(dataDir, "..", "cache"), retain: source().spec.restic.retain, prune: false, probeTimeoutMs: 5_000 }),
              (error: unknown) => error instanceof MoverError && refusal.test(error.message),
              what,
            );
          }),
        );
      });
    });
  }
});
