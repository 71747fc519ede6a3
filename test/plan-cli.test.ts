import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOfflinePlan } from "../offline/plan";
import { editedConfig, EXAMPLE_STACK, writeStackFile } from "./support/stack";

const ROOT = join(__dirname, "..");
const ARTIFACTS = ["manifests.yaml", "resources.json", "BACKUP-PLAN.md", "policy-report.json"];

function plan(...args: string[]) {
  const out = mkdtempSync(join(tmpdir(), "plan-out-"));
  const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", "--out", out, ...args], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { ...result, out };
}

describe("npm run plan", () => {
  it("plans the example stack: four artifacts, a summary, exit 0", () => {
    const result = plan();
    assert.equal(result.status, 0, result.stderr);
    for (const file of ARTIFACTS) assert.ok(existsSync(join(result.out, file)), `${file} missing`);
    assert.match(result.stdout, /offline plan of stack "homelab"/);
    assert.match(result.stdout, /0 mandatory and 0 advisory violations/);
    const records = JSON.parse(readFileSync(join(result.out, "resources.json"), "utf8")) as Array<Record<string, unknown>>;
    for (const record of records) {
      assert.deepEqual(Object.keys(record), ["urn", "type", "name", "parent", "custom", "inputs", "options"]);
      assert.deepEqual(Object.keys(record.options as object), ["protect", "retainOnDelete", "ignoreChanges", "dependsOn"]);
    }
    const backupPlan = readFileSync(join(result.out, "BACKUP-PLAN.md"), "utf8");
    assert.match(backupPlan, /```mermaid/);
    assert.match(backupPlan, /\| immich \| volume library \| 1 \| 3 \|/);
  });

  it("writes no secret value into any artifact", async () => {
    const inProcess = await runOfflinePlan({ configFile: EXAMPLE_STACK });
    assert.ok(inProcess.secretValues.size > 0, "the run produced secrets to look for");
    const result = plan();
    assert.equal(result.status, 0, result.stderr);
    const output = ARTIFACTS.map((file) => readFileSync(join(result.out, file), "utf8")).join("\n") + result.stdout + result.stderr;
    for (const secret of inProcess.secretValues) assert.ok(!output.includes(secret), `secret ${secret.slice(0, 4)}... leaked`);
    assert.ok(!/replace-me/.test(output));
  });

  it("exits non-zero and names the app when tier 1 data has no offsite copy", () => {
    const config = editedConfig((c) => {
      c.tiers["1"] = { destinations: ["nas"] };
      c.apps.paperless.destinations = ["nas"];
    });
    const result = plan("--config", writeStackFile(config, "onsite-only"));
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /\[mandatory\] offsite-copy-required \(app immich\): Tier 1 volume immich\/volume\/library/);
    assert.match(result.stdout, /\(app vaultwarden\)/);
    assert.match(readFileSync(join(result.out, "BACKUP-PLAN.md"), "utf8"), /\*\*mandatory\*\* `offsite-copy-required`/);
  });

  it("rejects a malformed stack file with key paths and no stack trace (exit 2)", () => {
    const config = editedConfig((c) => {
      c.apps.immich.tier = "gold";
      c.apps.grafana.sqlite.grafana.claimm = "x";
    });
    const result = plan("--config", writeStackFile(config, "broken"));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /apps\.immich\.tier: expected 1, 2 or 3, got "gold"/);
    assert.match(result.stderr, /apps\.grafana\.sqlite\.grafana\.claimm: unknown key; did you mean "claim"\?/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  });

  it("accepts any stack file, named after its stack", () => {
    const config = editedConfig((c) => {
      c.cluster.name = "lab";
      c.apps = { notes: { tier: 2, volumes: { data: { capacity: "1Gi" } } } };
    });
    const result = plan("--config", writeStackFile(config, "lab"));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /offline plan of stack "lab"/);
    assert.match(readFileSync(join(result.out, "BACKUP-PLAN.md"), "utf8"), /# Backup plan: lab/);
  });

  it("refuses credentials written in plaintext (exit 2)", () => {
    const result = plan("--config", writeStackFile(editedConfig(() => undefined), "plaintext", { secure: false }));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /credentials\.b2\.applicationKeyId: holds plaintext in the stack file; set it with `pulumi config set --secret --path 'credentials\.b2\.applicationKeyId' <value>`/);
    assert.match(result.stderr, /credentials\.r2\.apiToken: holds plaintext/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  });

  it("refuses a single plaintext credential among encrypted ones, naming its path (exit 2)", () => {
    const path = writeStackFile(editedConfig(() => undefined), "mixed");
    const text = readFileSync(path, "utf8").replace(/applicationKey:\n\s+secure: \S+/, "applicationKey: PLAINTEXT_B2_KEY_VALUE");
    assert.match(text, /applicationKey: PLAINTEXT_B2_KEY_VALUE\n/, "the test stack has one plaintext leaf");
    assert.match(text, /applicationKeyId:\n\s+secure: /, "beside encrypted ones");
    writeFileSync(path, text);
    const result = plan("--config", path);
    assert.equal(result.status, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /credentials\.b2\.applicationKey: holds plaintext in the stack file; set it with `pulumi config set --secret --path 'credentials\.b2\.applicationKey' <value>`/);
    assert.doesNotMatch(result.stderr + result.stdout, /PLAINTEXT_B2_KEY_VALUE/, "the value itself is never echoed");
  });

  it("says so when the stack file is missing or not YAML", () => {
    const missing = plan("--config", "Pulumi.nope.yaml");
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read stack file Pulumi\.nope\.yaml: ENOENT/);
  });
});
