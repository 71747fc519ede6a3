import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderConfigDocs } from "../offline/configDocs";

describe("docs/config.md", () => {
  it("matches the config schema (run `npm run docs` after changing it)", () => {
    assert.equal(readFileSync(join(__dirname, "..", "docs", "config.md"), "utf8"), renderConfigDocs());
  });

  it("documents every top-level key and nested keys by path", () => {
    const docs = renderConfigDocs();
    for (const key of ["cluster", "secretStore", "destinations", "apps", "tiers", "notifications", "pricing", "credentials"]) {
      assert.match(docs, new RegExp(`## \`${key}\``));
    }
    assert.match(docs, /`apps.<app>.volumes.<volume>.mover` \| `"restic"` \\\| `"kopia"`/);
  });
});
