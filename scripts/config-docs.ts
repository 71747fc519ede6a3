/**
 * npm run docs -- [--config Pulumi.<stack>.yaml]: regenerates docs/config.md from the config
 * schema and docs/runbooks/ from the stack (default: the example stack). Stale runbooks of apps
 * that are gone are removed.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../domain/config/errors";
import { parseStackConfig } from "../domain/config/parse";
import { planBackups } from "../domain/plan";
import { RUNBOOK_DIR } from "../domain/runbookLinks";
import { runbooks } from "../domain/runbooks";
import { renderConfigDocs } from "../offline/configDocs";
import { readStackFile, StackFileError } from "../offline/stackFile";

const { values } = parseArgs({ options: { config: { type: "string", default: "Pulumi.homelab.yaml" } } });

writeFileSync("docs/config.md", renderConfigDocs());
console.log("wrote docs/config.md");

try {
  const config = parseStackConfig(readStackFile(values.config!).projectConfig);
  const files = runbooks(config, planBackups(config));
  rmSync(RUNBOOK_DIR, { recursive: true, force: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  console.log(`wrote ${Object.keys(files).length} runbooks in ${RUNBOOK_DIR}/ from ${values.config}`);
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof StackFileError)) throw error;
  console.error(`${values.config}: ${error.message}`);
  process.exit(2);
}
