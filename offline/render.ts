/** Renders the offline plan's artifacts: manifests, the resource list and BACKUP-PLAN.md. */
import type { MachineTask } from "../domain/machines";
import type { RecoveryRow } from "../domain/recovery";
import { stringify } from "yaml";
import type { BackupPlan, CopyMethod, PlannedCopy, PlannedItem } from "../domain/model";
import { formatBytes } from "../domain/quantity";
import { daylightSavingMinutes } from "../domain/schedule";
import { describeCopyRetention } from "../domain/retention";
import { describeMinuteOfWeek } from "../domain/spread";
import { CapturedResource } from "./engine";
import { PolicyReport } from "./policyHarness";
import { Json, redact } from "./wire";
import { compareText } from "../domain/compare";

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; [key: string]: Json | undefined };
  [key: string]: Json | undefined | KubernetesObject["metadata"];
}

/** Kubernetes objects the program declares (providers and Helm releases are not objects). */
export function kubernetesObjects(resources: readonly CapturedResource[]): KubernetesObject[] {
  return resources
    .filter((resource) => resource.custom && resource.type.startsWith("kubernetes:") && !resource.type.startsWith("kubernetes:helm.sh/"))
    .map((resource) => redact(resource.inputs) as unknown as KubernetesObject)
    .filter((object) => typeof object.apiVersion === "string" && typeof object.kind === "string")
    .sort(compareObjects);
}

function compareObjects(a: KubernetesObject, b: KubernetesObject): number {
  const key = (o: KubernetesObject) => [o.apiVersion, o.kind, o.metadata.namespace ?? "", o.metadata.name ?? ""].join("\u0000");
  return compareText(key(a), key(b));
}

export function renderManifests(objects: readonly KubernetesObject[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0, sortMapEntries: false })).join("---\n");
}

export interface ResourceRecord {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  custom: boolean;
  inputs: Json;
  options: { protect: boolean; retainOnDelete: boolean; ignoreChanges: string[]; dependsOn: string[] };
}

export function resourceRecords(resources: readonly CapturedResource[]): ResourceRecord[] {
  return [...resources]
    .sort((a, b) => compareText(a.urn, b.urn))
    .map((resource) => ({
      urn: resource.urn,
      type: resource.type,
      name: resource.name,
      parent: resource.parent ?? null,
      custom: resource.custom,
      inputs: readableInputs(resource),
      options: {
        protect: resource.options.protect,
        retainOnDelete: resource.options.retainOnDelete,
        ignoreChanges: resource.options.ignoreChanges,
        dependsOn: resource.options.dependsOn,
      },
    }));
}

/** Dynamic providers carry their serialized code as an input; a summary reads better than the code. */
function readableInputs(resource: CapturedResource): Json {
  const inputs = redact(resource.inputs) as Record<string, Json>;
  if (typeof inputs.__provider === "string") inputs.__provider = `[serialized dynamic provider, ${inputs.__provider.length} characters]`;
  return inputs;
}

const METHOD_NAMES: Record<CopyMethod, string> = {
  "volsync-restic": "VolSync restic",
  "volsync-kopia": "VolSync Kopia",
  pgbackrest: "pgBackRest (WAL + backups)",
  dump: "dump CronJob",
  "dump-restic": "restic of the dumps",
  "dump-rsync": "rsync of the dumps",
  "csi-snapshot": "CSI snapshots (SnapScheduler)",
  "zfs-snapshot": "ZFS snapshots (TrueNAS)",
  "truenas-cloudsync": "TrueNAS Cloud Sync, encrypted",
  "host-restic": "restic (systemd timer)",
};

const KIND_NAMES: Record<PlannedItem["kind"], string> = {
  volume: "volume",
  cnpg: "CNPG cluster",
  postgres: "Postgres dump",
  sqlite: "SQLite",
  redis: "Redis",
  dataset: "dataset",
  host: "host",
};

export function formatHours(hours: number | undefined): string {
  if (hours === undefined) return "none";
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours >= 48 && hours % 24 === 0) return `${hours / 24} days`;
  return `${Number(hours.toFixed(1))} h`;
}

function money(amount: number, currency: string): string {
  return `${currency === "USD" ? "$" : `${currency} `}${amount.toFixed(2)}`;
}

function mermaidId(text: string): string {
  return text.replace(/[^A-Za-z0-9]/g, "_");
}

export interface PlanContext {
  stackFile: string;
  resourceCount: number;
  objectCount: number;
  /** Tasks installed over SSH on TrueNAS and hosts. */
  machineTasks: readonly MachineTask[];
  /** What restores each copy by hand, and where its secrets are. */
  recovery: readonly RecoveryRow[];
  /** Where the store items live, for the recovery sheet: "1Password vault homelab". */
  store: string;
  /** The "Kopia repository mirrors" section (domain/kopiaMirror.ts), empty when there are none. */
  kopiaMirrors?: readonly string[];
}

export function renderBackupPlan(plan: BackupPlan, report: PolicyReport, context: PlanContext): string {
  const lines: string[] = [];
  const copies = plan.items.flatMap((item) => item.copies).filter((copy) => copy.independent);
  const offsite = copies.filter((copy) => copy.site === "offsite");
  const cost = plan.destinations.reduce((sum, destination) => sum + destination.monthlyCost, 0);
  const tierCounts = [1, 2, 3].map((tier) => `${plan.items.filter((item) => item.tier === tier).length} tier ${tier}`).join(", ");

  lines.push(`# Backup plan: ${plan.clusterName}`, "");
  lines.push(`Generated by \`npm run plan\` from \`${context.stackFile}\`. Times are ${plan.timeZone} unless marked UTC.`, "");
  lines.push("| | |", "| --- | --- |");
  lines.push(`| Apps | ${plan.apps.length} |`);
  lines.push(`| Data items | ${plan.items.length} (${tierCounts}) |`);
  lines.push(`| Copies | ${copies.length} (${offsite.length} offsite) |`);
  lines.push(`| Peak job starts in one minute | ${plan.peakStarts} (first at ${describeMinuteOfWeek(plan.peakMinuteOfWeek)}) |`);
  lines.push(`| Estimated monthly storage cost | ${money(cost, plan.currency)} |`);
  lines.push(`| Resources | ${context.resourceCount} (${context.objectCount} Kubernetes objects) |`);
  lines.push(`| Policy violations | ${report.mandatory} mandatory, ${report.advisory} advisory |`, "");

  // Apps, then the TrueNAS datasets, then each host: every owner of data gets a node and a section.
  const owners: Array<{ title: string; node: string; summary: string; items: PlannedItem[] }> = [
    ...plan.apps.map((app) => ({
      title: app.name,
      node: `${app.name}<br/>tier ${app.tier}`,
      summary: `Tier ${app.tier}, namespace \`${app.namespace}\`, destinations: ${app.destinations.join(", ") || "none"}.`,
      items: app.items,
    })),
    ...plan.items
      .filter((item) => item.kind === "dataset" || item.kind === "host")
      .map((item) => ({
        title: item.kind === "dataset" ? `TrueNAS dataset ${item.name}` : `host ${item.name}`,
        node: `${item.kind === "dataset" ? "dataset" : "host"} ${item.name}<br/>tier ${item.tier}`,
        summary: `Tier ${item.tier}, configured at \`${item.configPath}\`.`,
        items: [item],
      })),
  ];

  lines.push("## Where each app's data goes", "", "```mermaid", "flowchart LR");
  for (const destination of plan.destinations) {
    lines.push(`  d_${mermaidId(destination.name)}[("${destination.name}<br/>${destination.kind} · ${destination.site}")]`);
  }
  for (const owner of owners) {
    const id = `a_${mermaidId(owner.title)}`;
    lines.push(`  ${id}["${owner.node}"]`);
    const targets = new Map<string, Set<string>>();
    for (const copy of owner.items.flatMap((item) => item.copies).filter((copy) => copy.independent)) {
      targets.set(copy.destination, (targets.get(copy.destination) ?? new Set()).add(METHOD_NAMES[copy.method]));
    }
    for (const [destination, methods] of targets) lines.push(`  ${id} -->|"${[...methods].join(", ")}"| d_${mermaidId(destination)}`);
  }
  lines.push("```", "");

  lines.push("## Data", "");
  lines.push("| Owner | Data | Tier | Copies | Worst-case RPO | Offsite RPO | Target | Est. cost/month |");
  lines.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const item of plan.items) {
    const target = Number.isFinite(item.rpoTargetHours) ? formatHours(item.rpoTargetHours) : "-";
    const copies = item.copies.filter((copy) => copy.independent).length;
    lines.push(
      `| ${item.app} | ${KIND_NAMES[item.kind]} ${item.name} | ${item.tier} | ${copies} | ${formatHours(item.worstCaseRpoHours)} | ${formatHours(item.offsiteRpoHours)} | ${target} | ${money(item.monthlyCost, plan.currency)} |`,
    );
  }
  lines.push(
    "",
    "Copies count independent copies only; local snapshots (CSI, ZFS) roll back mistakes but share the disks. " +
      "RPO is the longest time between two consecutive recovery points of the freshest copy, job run time not included; CNPG clusters archive WAL continuously.",
    "",
  );
  const dst = daylightSavingMinutes(plan.timeZone);
  if (dst > 0) {
    lines.push(
      `Times are ${plan.timeZone} standard time. VolSync, SnapScheduler and CloudNativePG schedule in UTC only, so during daylight saving time their runs come ${dst} minutes later by the clock; ` +
        "Kubernetes CronJobs, TrueNAS tasks and systemd timers follow the local clock all year.",
      "",
    );
  }

  for (const owner of owners) {
    lines.push(`### ${owner.title}`, "", owner.summary, "");
    if (owner.items.length === 0) {
      lines.push("No data declared.", "");
      continue;
    }
    lines.push("| Data | Copy to | Method | Schedule | Retention | Encrypted | Immutable | Location |");
    lines.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const item of owner.items) {
      if (item.copies.length === 0) lines.push(`| ${KIND_NAMES[item.kind]} ${item.name} | none | | | | | | |`);
      for (const copy of item.copies) lines.push(copyRow(item, copy));
    }
    const skipped = owner.items.flatMap((item) => item.skipped.map((skip) => `- ${KIND_NAMES[item.kind]} ${item.name} skips ${skip.destination}: ${skip.reason}.`));
    lines.push("", ...(skipped.length > 0 ? [...skipped, ""] : []));
  }

  if (context.machineTasks.length > 0) {
    lines.push("## Machines outside the cluster", "");
    lines.push("Installed over SSH with the pinned host key; each task's id is kept in its resource, so a change or delete touches exactly that task.", "");
    lines.push("| Machine | Task | What | Runs |", "| --- | --- | --- | --- |");
    for (const { machine, address, task } of context.machineTasks) {
      lines.push(`| ${machine} (\`${address}\`) | \`${task.name}\` | ${task.description} | ${task.schedule.replace(/\*/g, "\\*")} |`);
    }
    lines.push("");
  }

  lines.push(...(context.kopiaMirrors ?? []));

  lines.push("## Destinations", "");
  lines.push("| Destination | Kind | Site | Stored (est.) | Price per TB-month | Cost/month | Buckets |");
  lines.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const destination of plan.destinations) {
    const buckets = destination.buckets.map((bucket) => `\`${bucket.name}\`${bucket.immutable ? " (locked)" : ""}`).join(", ") || "-";
    lines.push(
      `| ${destination.name} | ${destination.kind} | ${destination.site} | ${formatBytes(destination.storedBytes)} | ${money(destination.pricePerTbMonth, plan.currency)} | ${money(destination.monthlyCost, plan.currency)} | ${buckets} |`,
    );
  }
  lines.push("", "Stored bytes are expected sizes times the history overhead in `pricing.historyOverhead`.", "");

  lines.push("## Recovery sheet", "");
  lines.push(
    `If the cluster is gone, every copy below opens with what is in ${context.store}: one item per app (or CNPG cluster, dataset, host), named in the Secrets column with its fields.`,
    "",
  );
  lines.push("| Data | From | Tool | Repository | Secrets | Restore with |", "| --- | --- | --- | --- | --- | --- |");
  for (const row of context.recovery) {
    const secrets = [row.password, row.credential].filter(Boolean).join("; ") || "-";
    lines.push(`| ${row.data} | ${row.destination} | ${row.tool} | \`${row.repository}\` | ${secrets} | ${row.how.replace(/\|/g, "\\|")} |`);
  }
  lines.push("");

  lines.push("## Policy verdicts", "");
  lines.push("| Policy | Level | Examined | Not applicable | Violations |", "| --- | --- | --- | --- | --- |");
  for (const evaluation of report.evaluations) {
    lines.push(`| \`${evaluation.policy}\` | ${evaluation.enforcementLevel} | ${evaluation.evaluated} | ${evaluation.notApplicable} | ${evaluation.violations.length} |`);
  }
  if (report.violations.length > 0) {
    lines.push("");
    for (const violation of report.violations) lines.push(`- **${violation.enforcementLevel}** \`${violation.policy}\`: ${violation.message}`);
  }
  lines.push("");
  return lines.join("\n");
}

function copyRow(item: PlannedItem, copy: PlannedCopy): string {
  const schedule = copy.continuous
    ? `WAL continuously; backups ${copy.schedule.description}`
    : copy.schedule.description;
  return `| ${KIND_NAMES[item.kind]} ${item.name} | ${copy.destination} (${copy.site}) | ${METHOD_NAMES[copy.method]} | ${schedule} | ${describeCopyRetention(copy.retention)} | ${copy.encrypted ? "yes" : "no"} | ${copy.immutable ? "yes" : "no"} | \`${copy.location}\` |`;
}
