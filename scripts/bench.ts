/**
 * npm run bench: wall time and peak memory of the offline plan for generated stacks of 10, 100
 * and 500 apps (override with --sizes 10,50), each size in a fresh process so memory does not
 * carry over. Also reports the busiest minute's job starts, which must stay low as stacks grow.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { PROJECT } from "../domain/config/schema";
import { runOfflinePlan } from "../offline/plan";
import { syntheticStack } from "../offline/syntheticStack";

interface Measurement {
  apps: number;
  resources: number;
  objects: number;
  copies: number;
  peakStarts: number;
  wallMs: number;
  policyMs: number;
  peakRssMb: number;
}

async function measureOne(apps: number): Promise<Measurement> {
  const config = syntheticStack(apps);
  const entries = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [`${PROJECT}:${key}`, key === "credentials" ? secure(value) : value]),
  );
  const file = join(mkdtempSync(join(tmpdir(), "bench-")), "Pulumi.bench.yaml");
  writeFileSync(file, stringify({ config: entries }));
  const started = process.hrtime.bigint();
  const result = await runOfflinePlan({ configFile: file });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  return {
    apps,
    resources: result.resources.length,
    objects: result.objects.length,
    copies: result.plan.items.reduce((sum, item) => sum + item.copies.length, 0),
    peakStarts: result.plan.peakStarts,
    wallMs,
    policyMs: result.timings.policyMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

function secure(value: unknown): unknown {
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, secure(v)]));
  return { secure: "v1:YmVuY2g=:YmVuY2g=" };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: "string", default: "10,100,500" }, one: { type: "string" } } });
  if (values.one) {
    process.stdout.write(JSON.stringify(await measureOne(Number(values.one))));
    return;
  }
  const rows: Measurement[] = [];
  for (const size of values.sizes!.split(",").map(Number)) {
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, "--one", String(size)], { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`bench of ${size} apps failed:\n${child.stderr}`);
    rows.push(JSON.parse(child.stdout) as Measurement);
  }
  console.log(`offline plan benchmark (node ${process.version}, ${process.platform}/${process.arch})\n`);
  console.log("| apps | resources | k8s objects | copies | peak starts/min | wall time | ms per resource | policies | peak RSS | KB per resource |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows) {
    console.log(
      `| ${row.apps} | ${row.resources} | ${row.objects} | ${row.copies} | ${row.peakStarts} | ${(row.wallMs / 1000).toFixed(2)} s | ${(row.wallMs / row.resources).toFixed(2)} | ${(row.policyMs / 1000).toFixed(2)} s | ${row.peakRssMb.toFixed(0)} MB | ${((row.peakRssMb * 1024) / row.resources).toFixed(0)} |`,
    );
  }
  const failed = checkTargets(rows);
  process.exitCode = failed ? 1 : 0;
}

/**
 * The targets, printed as met or missed (exit status 1 when one is missed):
 * - time per resource, and memory per added resource, stay within 2x across sizes (the plan is linear);
 * - no more than 4 jobs start in one minute for 100 apps (issue: spread the load).
 */
function checkTargets(rows: Measurement[]): boolean {
  const lines: Array<[boolean, string]> = [];
  const [small, large] = [rows[0], rows[rows.length - 1]];
  if (rows.length > 1) {
    const time = large.wallMs / large.resources / (small.wallMs / small.resources);
    lines.push([time <= 2, `time per resource ${time.toFixed(2)}x from ${small.apps} to ${large.apps} apps (target: at most 2x; 1.0x is perfectly linear)`]);
  }
  if (rows.length > 2) {
    // Node's baseline (SDK, ts-node) dominates small stacks' memory: compare what each added
    // resource costs between the first two sizes and between the last two.
    const marginal = (a: Measurement, b: Measurement) => (b.peakRssMb - a.peakRssMb) / (b.resources - a.resources);
    const first = marginal(rows[0], rows[1]);
    const last = marginal(rows[rows.length - 2], rows[rows.length - 1]);
    const memory = last / first;
    lines.push([
      memory <= 2,
      `memory per added resource ${(last * 1024).toFixed(0)} KB from ${rows[rows.length - 2].apps} to ${large.apps} apps, ${memory.toFixed(2)}x that from ${small.apps} to ${rows[1].apps} (target: at most 2x)`,
    ]);
  }
  const hundred = rows.find((row) => row.apps === 100);
  if (hundred) lines.push([hundred.peakStarts <= 4, `peak job starts in one minute at 100 apps: ${hundred.peakStarts} (target: at most 4)`]);
  console.log("");
  for (const [met, text] of lines) console.log(`${met ? "met   " : "MISSED"} ${text}`);
  return lines.some(([met]) => !met);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
