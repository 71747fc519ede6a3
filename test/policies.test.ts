import { strict as assert } from "node:assert";
import { Policies, StackValidationPolicy } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { CapturedResource } from "../offline/engine";
import { evaluatePolicies, PolicyConfigError, PolicyPackConfig, resolvePolicyConfig } from "../offline/policyHarness";
import { offsiteCopyRequired } from "../policies/tiers";
import { PACK_NAME, policies } from "../policies/registry";
import { editedConfig, runExample } from "./support/stack";

async function verdicts(config: Record<string, unknown>, pack: Policies = policies, packConfig?: PolicyPackConfig) {
  const run = await runExample(config);
  return evaluatePolicies(run.resources, { pack: PACK_NAME, policies: pack, config: packConfig });
}

function resource(type: string, inputs: Record<string, unknown>, extra: Partial<CapturedResource> = {}): CapturedResource {
  return {
    urn: `urn:pulumi:test::homelab-backups::${type}::${extra.name ?? "r"}`,
    type,
    name: "r",
    custom: true,
    inputs,
    outputs: inputs,
    dependencies: [],
    propertyDependencies: {},
    options: { protect: false, retainOnDelete: false, ignoreChanges: [], dependsOn: [], additionalSecretOutputs: [], deleteBeforeReplace: false },
    ...extra,
  };
}

describe("policy pack", () => {
  describe("offline harness (CrossGuard semantics)", () => {
    it("merges configSchema defaults into getConfig and validates the pack config", () => {
      const resolved = resolvePolicyConfig([offsiteCopyRequired], {});
      assert.deepEqual(resolved.get("offsite-copy-required")!.properties, { tiers: [1] });
      assert.throws(() => resolvePolicyConfig([offsiteCopyRequired], { "offsite-copy-required": { tiers: ["one"] } as never }), PolicyConfigError);
      assert.throws(() => resolvePolicyConfig([offsiteCopyRequired], { "no-such-policy": "mandatory" }), /not a policy of this pack/);
      assert.throws(() => resolvePolicyConfig([offsiteCopyRequired], { "offsite-copy-required": { colour: "red" } as never }), PolicyConfigError);
    });

    it("turns a touched unknown value into an advisory 'can't run during preview'", async () => {
      const unknown = resource("homelab-backups:volumes:VolumeBackup", { tier: pulumi.runtime.unknownValue, copies: [] });
      const report = await evaluatePolicies([unknown], { pack: PACK_NAME, policies: [offsiteCopyRequired] });
      assert.equal(report.mandatory, 0);
      assert.equal(report.advisory, 1);
      assert.match(report.violations[0].message, /can't run policy 'offsite-copy-required' during preview/);
    });

    it("lets the pack config lower, raise or disable a rule", async () => {
      const config = editedConfig((c) => (c.apps.immich.destinations = ["nas"]));
      assert.equal((await verdicts(config, policies, { "offsite-copy-required": "advisory" })).mandatory, 0);
      assert.ok((await verdicts(config, policies, { "offsite-copy-required": "advisory" })).advisory > 0);
      assert.equal((await verdicts(config, policies, { all: "disabled" })).violations.length, 0);
    });

    it("gives stack policies outputs linked to their parents and dependencies", async () => {
      const seen: string[] = [];
      const probe: StackValidationPolicy = {
        name: "probe",
        description: "records the links it sees",
        validateStack: (args) => {
          for (const r of args.resources) if (r.parent && r.dependencies.length > 0) seen.push(`${r.name}<-${r.parent.name}`);
        },
      };
      const parent = resource("homelab-backups:apps:AppBackup", {}, { name: "p", urn: "urn:p", custom: false });
      const dependency = resource("random:index/randomPassword:RandomPassword", {}, { urn: "urn:d" });
      const child = resource("kubernetes:core/v1:Secret", {}, { urn: "urn:c", parent: "urn:p", dependencies: ["urn:d"], name: "c" });
      child.name = "c";
      parent.name = "p";
      await evaluatePolicies([parent, dependency, child], { pack: PACK_NAME, policies: [probe] });
      assert.deepEqual(seen, ["c<-p"]);
    });
  });

  describe("offsite-copy-required", () => {
    it("passes the example stack", async () => {
      const report = await verdicts(editedConfig(() => undefined));
      const evaluation = report.evaluations.find((e) => e.policy === "offsite-copy-required")!;
      assert.equal(evaluation.violations.length, 0);
      assert.ok(evaluation.evaluated >= 9, "every tier 1 item was examined");
    });

    it("refuses a tier 1 app whose data stays on site, naming the app and the fix", async () => {
      const report = await verdicts(editedConfig((c) => (c.apps.immich.destinations = ["nas"])));
      assert.equal(report.mandatory, 2, "the photo library and the Immich database");
      const first = report.violations.find((violation) => violation.message.includes("immich/volume/library"))!;
      assert.equal(first.policy, "offsite-copy-required");
      assert.equal(first.app, "immich");
      assert.match(first.message, /Tier 1 volume immich\/volume\/library \(app immich\) has no offsite copy/);
      assert.match(first.message, /Pulumi\.homelab\.yaml, add a b2, r2 or ssh destination to apps\.immich\.destinations/);
    });

    it("explains why a listed offsite destination could not be used", async () => {
      const report = await verdicts(editedConfig((c) => (c.apps.paperless.destinations = ["nas", "offsite-nas"])));
      const media = report.violations.find((violation) => violation.message.includes("paperless/volume/media"));
      assert.ok(media);
      assert.match(media.message, /offsite-nas cannot take it: the restic mover cannot reach an SSH destination/);
    });

    it("does not apply to tier 2 data unless configured to", async () => {
      const config = editedConfig(() => undefined);
      const defaults = (await verdicts(config)).evaluations.find((e) => e.policy === "offsite-copy-required")!;
      assert.ok(defaults.notApplicable > 0);
      assert.equal(defaults.violations.length, 0);
      const strict = await verdicts(config, policies, { "offsite-copy-required": { tiers: [1, 2] } });
      assert.ok(strict.violations.some((violation) => violation.app === "grafana"), "tier 2 Grafana stays on the NAS");
    });

    it("is not applicable to resources that protect no data", async () => {
      const other = resource("kubernetes:core/v1:Namespace", { metadata: { name: "x" } });
      const report = await evaluatePolicies([other], { pack: PACK_NAME, policies: [offsiteCopyRequired] });
      assert.equal(report.evaluations[0].notApplicable, 1);
      assert.equal(report.violations.length, 0);
    });
  });
});
