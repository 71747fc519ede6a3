/** npm run docs: regenerates docs/config.md from the config schema. */
import { writeFileSync } from "node:fs";
import { renderConfigDocs } from "../offline/configDocs";

writeFileSync("docs/config.md", renderConfigDocs());
console.log("wrote docs/config.md");
