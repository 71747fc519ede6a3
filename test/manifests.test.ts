import { strict as assert } from "node:assert";
import { parseAllDocuments } from "yaml";
import { runOfflinePlan } from "../offline/plan";
import { EXAMPLE_STACK } from "./support/stack";
import { validateObject } from "./support/schemas";

describe("emitted Kubernetes objects", () => {
  let manifests: Array<Record<string, unknown>>;
  let first: Record<string, string>;
  before(async () => {
    const result = await runOfflinePlan({ configFile: EXAMPLE_STACK });
    first = result.artifacts;
    manifests = parseAllDocuments(result.artifacts["manifests.yaml"]).map((document) => document.toJS() as Record<string, unknown>);
  });

  it("are written in a stable order: a second plan writes every artifact byte for byte the same", async () => {
    assert.ok(manifests.length > 0);
    const again = await runOfflinePlan({ configFile: EXAMPLE_STACK });
    assert.deepEqual(Object.keys(again.artifacts).sort(), Object.keys(first).sort());
    for (const [file, text] of Object.entries(first)) assert.equal(again.artifacts[file], text, `${file} differs between two runs`);
    const keys = manifests.map((object) => `${object.apiVersion}/${object.kind}`);
    assert.deepEqual(keys, [...keys].sort());
  });

  it("each validate against their real schema (CRDs from ../shared/crds, core kinds from the Kubernetes OpenAPI)", async () => {
    const failures: string[] = [];
    for (const object of manifests) {
      const result = await validateObject(object);
      if (result.errors.length > 0) failures.push(`${result.object} (${result.schema}):\n    ${result.errors.join("\n    ")}`);
    }
    assert.deepEqual(failures, []);
  });

  describe("the schema check itself", () => {
    it("catches an unknown field in a custom resource", async () => {
      const result = await validateObject({
        apiVersion: "volsync.backube/v1alpha1",
        kind: "ReplicationSource",
        metadata: { name: "x", namespace: "y" },
        spec: { sourcePVC: "x", trigger: { schedule: "0 * * * *" }, restic: { repository: "s", copyMethod: "Snapshot", retian: { daily: 7 } } },
      });
      assert.match(result.errors.join("\n"), /must NOT have additional properties "retian"/);
    });

    it("validates Kopia movers against the fork's CRD and restic ones against upstream", async () => {
      const kopia = await validateObject({
        apiVersion: "volsync.backube/v1alpha1",
        kind: "ReplicationSource",
        metadata: { name: "x", namespace: "y" },
        spec: { sourcePVC: "x", kopia: { repository: "s", copyMethod: "Snapshot" } },
      });
      assert.deepEqual(kopia.errors, []);
      assert.match(kopia.schema, /volsync-kopia/);
    });

    it("catches a bad enum in a core object and a bad label", async () => {
      const result = await validateObject({
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "job", namespace: "ns", labels: { "homelab-backups.dev/data": "a/b" } },
        spec: { schedule: "0 * * * *", concurrencyPolicy: "Never", jobTemplate: { spec: { template: { spec: { containers: [{ name: "c", image: "i" }] } } } } },
      });
      assert.match(result.errors.join("\n"), /concurrencyPolicy/);
      assert.match(result.errors.join("\n"), /label homelab-backups.dev\/data value "a\/b"/);
    });

    it("refuses kinds it has no schema for rather than passing them", async () => {
      const result = await validateObject({ apiVersion: "example.com/v1", kind: "Gadget", metadata: { name: "g" } });
      assert.match(result.errors.join("\n"), /no schema known/);
    });
  });
});
