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
  console.log("| apps | resources | k8s objects | copies | peak starts/min | wall time | ms per app | policies | peak RSS |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows) {
    console.log(
      `| ${row.apps} | ${row.resources} | ${row.objects} | ${row.copies} | ${row.peakStarts} | ${(row.wallMs / 1000).toFixed(2)} s | ${(row.wallMs / row.apps).toFixed(1)} | ${(row.policyMs / 1000).toFixed(2)} s | ${row.peakRssMb.toFixed(0)} MB |`,
    );
  }
  const [small, large] = [rows[0], rows[rows.length - 1]];
  if (rows.length > 1) {
    const growth = large.wallMs / large.apps / (small.wallMs / small.apps);
    console.log(`\ntime per app grows ${growth.toFixed(2)}x from ${small.apps} to ${large.apps} apps (1.0x is perfectly linear)`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
