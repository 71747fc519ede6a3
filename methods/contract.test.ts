/**
 * What every folder under methods/ and destinations/ must honour, checked over the registries
 * (as Kopia's shared blob-storage tests are run against every provider). A new method or
 * destination that forgets a part fails here, not in a user's plan.
 */
import { strict as assert } from "node:assert";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { DATA_KINDS, METHODS, PLUGINS } from "./registry";
import { DESTINATIONS, destinationPlugin } from "../destinations/registry";
import type { DestinationPlugin } from "../destinations/types";
import type { MethodPlugin } from "./types";
import { planBackups } from "../domain/plan";
import { exampleStackConfig } from "../test/support/stack";
import { itemComponent } from "../components/items";

function folders(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, entry.name, "index.ts")))
    .map((entry) => entry.name);
}

/** What a folder's index.ts exports (its plugin object among them). */
function exportsOf(path: string): unknown[] {
  return Object.values(require(path) as Record<string, unknown>);
}

describe("the method and destination registries (contract every folder must honour)", () => {
  it("registers every methods/<folder> exactly once, and nothing that is not a folder's", () => {
    const registered = new Set<MethodPlugin>(PLUGINS);
    assert.equal(registered.size, PLUGINS.length, "a plugin is registered twice");
    const found = new Set<unknown>();
    for (const folder of folders(__dirname)) {
      const plugins = exportsOf(join(__dirname, folder)).filter((value) => registered.has(value as MethodPlugin));
      assert.equal(plugins.length, 1, `methods/${folder}/index.ts exports no plugin that methods/registry.ts registers`);
      found.add(plugins[0]);
    }
    assert.equal(found.size, PLUGINS.length, "a registered plugin lives in no methods/<folder>/index.ts");
  });

  it("registers every destinations/<folder> exactly once", () => {
    const root = join(__dirname, "..", "destinations");
    const registered = new Set<DestinationPlugin>(DESTINATIONS);
    for (const folder of folders(root)) {
      const plugins = exportsOf(join(root, folder)).filter((value) => registered.has(value as DestinationPlugin));
      assert.equal(plugins.length, 1, `destinations/${folder}/index.ts exports no plugin that destinations/registry.ts registers`);
      assert.equal((plugins[0] as DestinationPlugin).kind, folder, `destinations/${folder} registers kind "${(plugins[0] as DestinationPlugin).kind}"`);
    }
    assert.equal(folders(root).length, DESTINATIONS.length);
  });

  it("gives every method and data kind one id", () => {
    const ids = METHODS.map((method) => method.id);
    assert.deepEqual([...new Set(ids)], ids, "two methods share an id");
    const kinds = DATA_KINDS.map((kind) => kind.kind);
    assert.deepEqual([...new Set(kinds)], kinds, "two data kinds share a kind");
  });

  it("wires every kind of app data with a component (components/items.ts)", () => {
    for (const kind of DATA_KINDS.filter((plugin) => plugin.appItems)) {
      assert.doesNotThrow(() => itemComponent({ kind: kind.kind, id: `app/${kind.kind}/x` }), `no component for kind ${kind.kind}`);
    }
    assert.throws(() => itemComponent({ kind: "no-such-kind", id: "app/x/y" }), /no component wires items of kind no-such-kind/);
  });

  for (const method of METHODS) {
    describe(`method ${method.id}`, () => {
      it("has a label and the tools its runbook section uses", () => {
        assert.ok(method.label.length > 0);
        assert.ok(method.runbook.tools.length > 0, "a restore needs at least one tool");
      });

      it("can be drilled in the cluster exactly when it says it can (machine drills are the machine's)", () => {
        if (method.controller === "systemd") return;
        assert.equal(Boolean(method.drill), method.drillable, method.drillable ? "drillable, but builds no drill" : "builds a drill, but says it is not drillable");
      });

      it("is either a snapshot (never in object storage) or an independent copy with a recovery-sheet row", () => {
        if (method.snapshot) {
          assert.equal(method.storage, undefined, "a snapshot never reaches object storage");
          return;
        }
        assert.ok(method.recovery, "an independent copy needs its recovery-sheet row");
      });

      if (method.storage) {
        it("locks what a repository holds, under the repository's own path", () => {
          const path = "homelab/app/item";
          const prefixes = method.storage!.lockPrefixes(path);
          assert.ok(prefixes.length > 0, "a copy in object storage with nothing to lock");
          for (const prefix of prefixes) assert.ok(prefix.prefix.startsWith(path), `${prefix.prefix} lies outside ${path}`);
        });
        it("is encrypted by its tool (the provider sees only ciphertext)", () => {
          assert.ok(method.encrypted);
        });
      }
    });
  }

  describe("every copy the example stack plans", () => {
    const config = exampleStackConfig();
    const plan = planBackups(config);
    const items = plan.items;

    it("has a registered method and data kind, and a dump engine behind every dump", () => {
      assert.ok(items.length > 0);
      for (const item of items) {
        const kind = DATA_KINDS.find((plugin) => plugin.kind === item.kind);
        assert.ok(kind, `${item.id}: data kind ${item.kind} is not registered`);
        for (const copy of item.copies) {
          assert.ok(METHODS.some((method) => method.id === copy.method), `${item.id}: method ${copy.method} is not registered`);
          if (copy.method === "dump") assert.ok(kind.dump, `${item.id}: dumped, but kind ${item.kind} has no dump engine`);
        }
      }
    });

    it("goes to a destination kind the registry knows", () => {
      for (const item of items) for (const copy of item.copies) if (copy.destination in config.destinations) destinationPlugin(config.destinations[copy.destination].kind);
    });
  });
});
