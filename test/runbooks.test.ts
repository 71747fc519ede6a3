/**
 * Generated restore runbooks (docs/runbooks, and runbooks/ in every plan's output): one page per
 * app, dataset and host, committed for the example stack and never stale; every section the
 * alerts and the stack outputs point at exists; and every name a command uses is one the program
 * really declares: the Secrets it reads, the ReplicationSources it pauses, the store fields it
 * reads after losing the cluster. Every shell block parses.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { planBackups } from "../domain/plan";
import { RUNBOOK_DIR, runbookPath } from "../domain/runbookLinks";
import { sshKeyRef } from "../domain/repositories";
import { restoreEntryPoints, runbooks } from "../domain/runbooks";
import { copyAnchor } from "../domain/runbookLinks";
import { runOfflinePlan } from "../offline/plan";
import { exec } from "./support/services";
import { EXAMPLE_STACK, exampleStackConfig } from "./support/stack";

const ROOT = join(__dirname, "..");
// `any`: manifests are walked by path in assertions.
type Json = Record<string, any>;

describe("restore runbooks", function () {
  this.timeout(300_000);
  const config = exampleStackConfig();
  const plan = planBackups(config);
  const pages = runbooks(config, plan);

  it("docs/runbooks is exactly what the generator makes of the example stack (run `npm run docs` after a change)", () => {
    const committed = readdirSync(join(ROOT, RUNBOOK_DIR)).sort();
    assert.deepEqual(committed, Object.keys(pages).map((path) => path.slice(RUNBOOK_DIR.length + 1)).sort(), "no page missing, none left over");
    for (const [path, text] of Object.entries(pages)) assert.equal(readFileSync(join(ROOT, path), "utf8"), text, `${path} is stale`);
  });

  it("has a page for every app, TrueNAS dataset and host, with a section per data item and per destination of its copies", () => {
    for (const item of plan.items) {
      const page = pages[runbookPath(item.app)];
      assert.ok(page, `${item.app} has a runbook`);
      assert.ok(page.includes(`<a id="${item.kind}-${item.name}"></a>`), `${item.id} has a section`);
      for (const copy of item.copies) assert.ok(page.includes(`<a id="${copyAnchor(item, copy)}"></a>`), `${item.id} explains how to restore from ${copy.destination}`);
      assert.ok(page.includes('<a id="after-losing-the-cluster"></a>'), `${item.app}: after losing the cluster`);
    }
    const index = pages[`${RUNBOOK_DIR}/README.md`];
    for (const app of new Set(plan.items.map((i) => i.app))) assert.ok(index.includes(`(${app}.md)`), `the index links ${app}`);
  });

  it("exports the restore entry points: per item and copy the section, and where its password is (never the password)", () => {
    const entries = restoreEntryPoints(config, plan);
    for (const item of plan.items) {
      const entry = entries[item.app]?.items[item.id];
      assert.ok(entry, `${item.id} has an entry point`);
      assert.equal(entry.copies.length, item.copies.length);
      for (const copy of entry.copies) {
        const [path, anchor] = copy.section.split("#");
        assert.ok(pages[path]?.includes(`<a id="${anchor}"></a>`), `${copy.section} exists`);
        if (copy.password) assert.match(copy.password.item, /^homelab-backups-ether-/);
      }
      const encrypted = item.copies.filter((c) => ["volsync-restic", "volsync-kopia", "dump-restic", "host-restic", "pgbackrest", "truenas-cloudsync"].includes(c.method));
      assert.equal(entry.copies.filter((c) => c.password).length, encrypted.length, `${item.id}: every encrypted copy says where its password is`);
    }
  });

  describe("against the objects the program declares", () => {
    let manifests: Json[];
    before(async () => {
      const result = await runOfflinePlan({ configFile: EXAMPLE_STACK });
      manifests = parseAllDocuments(result.artifacts["manifests.yaml"]).map((document) => document.toJS() as Json);
      const written = Object.keys(result.artifacts).filter((file) => file.startsWith("runbooks/"));
      assert.deepEqual(written.sort(), Object.keys(pages).map((path) => `runbooks/${path.slice(RUNBOOK_DIR.length + 1)}`).sort(), "the plan writes the same runbooks");
    });
    const all = () => Object.entries(pages);

    it("reads only Secrets that an ExternalSecret builds, in the namespace it builds them", () => {
      const built = new Set(manifests.filter((m) => m.kind === "ExternalSecret").map((m) => `${m.metadata.namespace}/${m.spec.target.name ?? m.metadata.name}`));
      let reads = 0;
      for (const [path, text] of all()) {
        for (const [, namespace, name] of text.matchAll(/kubectl get secret -n (\S+) (\S+) -o jsonpath/g)) {
          // The kubernetes-provider store's own Secrets are the store, not a consumer's Secret.
          if (namespace === `${config.cluster.systemNamespace}-vault`) continue;
          assert.ok(built.has(`${namespace}/${name}`), `${path}: reads Secret ${namespace}/${name}, which no ExternalSecret builds`);
          reads++;
        }
      }
      assert.ok(reads > 50, `${reads} Secret reads checked`);
    });

    it("reads after losing the cluster only store fields that a PushSecret writes or the config says the user keeps there", () => {
      const userKept = Object.entries(config.destinations).flatMap(([name, target]) => (target.kind === "ssh" ? [sshKeyRef(name, target.privateKeyRef).join("/")] : []));
      assert.ok(userKept.length > 0, "the example has an SSH destination whose key the user keeps in the store");
      const pushed = new Set([
        ...manifests
          .filter((m) => m.kind === "PushSecret")
          .flatMap((m) => (m.spec.data as Json[]).map((d) => `${d.match.remoteRef.remoteKey}/${d.match.remoteRef.property}`)),
        ...userKept,
      ]);
      let reads = 0;
      for (const [path, text] of all()) {
        for (const [, vault, field] of text.matchAll(/op read 'op:\/\/([^/]+)\/([^']+)'/g)) {
          assert.equal(vault, config.secretStore.vault, `${path}: the configured vault`);
          assert.ok(pushed.has(field), `${path}: reads ${field}, which no PushSecret writes`);
          reads++;
        }
      }
      assert.ok(reads > 50, `${reads} store reads checked`);
    });

    it("names the ReplicationSources, CronJobs and buckets the program declares", () => {
      const names = (kind: string) => new Set(manifests.filter((m) => m.kind === kind).map((m) => `${m.metadata.namespace}/${m.metadata.name}`));
      const sources = names("ReplicationSource");
      const cronJobs = names("CronJob");
      for (const [path, text] of all()) {
        for (const [, list, namespace] of text.matchAll(/for rs in ([^;]+); do kubectl patch replicationsource -n (\S+)/g)) {
          for (const source of list.trim().split(/\s+/)) assert.ok(sources.has(`${namespace}/${source}`), `${path}: pauses ${namespace}/${source}, which does not exist`);
        }
        for (const [, namespace, cronJob] of text.matchAll(/kubectl create job -n (\S+) --from=cronjob\/(\S+)/g)) {
          assert.ok(cronJobs.has(`${namespace}/${cronJob}`), `${path}: runs CronJob ${namespace}/${cronJob}, which does not exist`);
        }
      }
      for (const item of plan.items) {
        for (const copy of item.copies.filter((c) => c.destinationKind === "b2" || c.destinationKind === "r2")) {
          assert.ok(pages[runbookPath(item.app)].includes(copy.location), `${item.id}: the runbook names bucket ${copy.location}`);
        }
      }
    });
  });

  it("every sh block parses (sh -n), and none holds a secret value or a placeholder", async () => {
    let blocks = 0;
    for (const [path, text] of Object.entries(pages)) {
      for (const [, body] of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
        // "<snapshot name>"-style blanks the reader fills in would read as redirections.
        const result = await exec("sh", ["-n"], { input: body.replace(/<[A-Za-z][^<>\n]*>/g, "BLANK") });
        assert.equal(result.code, 0, `${path}: a block does not parse:\n${result.stderr}\n${body}`);
        blocks++;
      }
      assert.doesNotMatch(text, /offline-placeholder|BEGIN OPENSSH PRIVATE KEY|\[secret\]/, path);
    }
    assert.ok(blocks > 100, `${blocks} blocks`);
  });
});
