/**
 * Restore runbooks, generated from the same model as the backups: for every app (and every TrueNAS
 * dataset and host) one Markdown page with the exact commands that bring each data item back from
 * each of its copies, the item's scheduled drill and verification, and what to do after losing the
 * cluster. Every name, URL, bucket and store field comes from the functions that also build the
 * objects (repositories.ts, volsync.ts, cnpg.ts, dumps.ts, drills.ts, verification.ts, machines.ts),
 * so a rename reaches the runbooks. Pure and deterministic; no secret is ever part of the text:
 * commands read passwords from the secret store or from the cluster's Secret into variables.
 *
 * `npm run docs` (scripts/config-docs.ts) writes them for the example stack to docs/runbooks/.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem } from "./model";
import { verifiedRepository } from "./plan";
import { copyStoreOwners, dataKindOf, methodOf } from "../methods/registry";
import { compareText } from "./compare";
import { describeCopyRetention } from "./retention";
import { kubeName, LABELS } from "./naming";
import { MIRROR_ANCHOR, PLATFORM_ANCHORS, PLATFORM_PAGE, RUNBOOK_DIR, runbookAnchor, runbookPath, runbookUrl } from "./runbookLinks";
import { kopiaMirrors, PlannedKopiaMirror } from "../methods/volsync-kopia/mirror";
import { NAS_MOUNT } from "./repositories";
import { bucketFields, SecretOwner, secretOwners, storeItem } from "./secrets";
import { RecoveryRow, recoverySheet } from "./recovery";
import { drillName, drillNamespace } from "./drills";
import { verificationName } from "./verification";
import { hostDrillTask, hostTarget } from "./machines";
import { unitNames } from "./hostBackup";
import { shellQuote } from "./truenas";
import { volsyncChart } from "./operators";
import { CANARY_LEAD_MINUTES, volumeCanary } from "./canary";
import { CANARY_FILE } from "./jobs/canary";
import { anchor, cell, code, hours, Lines, runNow, storeName, storeRead } from "./runbookText";
import { copyAnchor, drillsAnchor } from "./runbookLinks";
import { destinationPlugin } from "../destinations/registry";
import { BACKUP_MOUNT } from "./jobPods";

// ---------------------------------------------------------------------------------------------
// Entry points (a stack output) and anchors
// ---------------------------------------------------------------------------------------------

export interface RestoreCopyEntry {
  destination: string;
  method: string;
  /** Bucket, directory or snapshot subject the copy lives in (as in the plan). */
  location: string;
  /** Link to the runbook section with this copy's restore commands. */
  section: string;
  /** Where the password that decrypts the copy is: a store item and field, never its value. */
  password?: { item: string; field: string };
}

export interface RestoreItemEntry {
  tier: number;
  copies: RestoreCopyEntry[];
}

export interface RestoreEntryPoint {
  runbook: string;
  items: Record<string, RestoreItemEntry>;
}

export const LOST_CLUSTER_ANCHOR = "after-losing-the-cluster";
const BEFORE_ANCHOR = "before-you-start";

interface RunbookApp {
  name: string;
  tier: number;
  /** Empty for data outside the cluster. */
  namespace: string;
  items: PlannedItem[];
}

/** Every page's subject: the plan's apps, then the TrueNAS datasets and hosts, by name. */
function runbookApps(plan: BackupPlan): RunbookApp[] {
  const apps: RunbookApp[] = plan.apps.map((app) => ({ name: app.name, tier: app.tier, namespace: app.namespace, items: app.items }));
  const known = new Set(apps.map((app) => app.name));
  const machines = new Map<string, PlannedItem[]>();
  for (const item of plan.items) {
    if (known.has(item.app)) continue;
    machines.set(item.app, [...(machines.get(item.app) ?? []), item]);
  }
  for (const [name, items] of machines) {
    apps.push({ name, tier: Math.min(...items.map((item) => item.tier)), namespace: "", items });
  }
  return apps.sort((a, b) => compareText(a.name, b.name));
}

/** The copies of an item grouped by destination, in plan order (local snapshots of all periods together). */
function copyGroups(item: PlannedItem): Array<{ destination: string; copies: PlannedCopy[] }> {
  const groups: Array<{ destination: string; copies: PlannedCopy[] }> = [];
  for (const copy of item.copies) {
    const group = groups.find((g) => g.destination === copy.destination);
    if (group) group.copies.push(copy);
    else groups.push({ destination: copy.destination, copies: [copy] });
  }
  return groups;
}

/** The store item and field of the password that decrypts a copy, from the stack's secret owners. */
function passwordRef(config: StackConfig, owners: readonly SecretOwner[], item: PlannedItem, copy: PlannedCopy): { item: string; field: string } | undefined {
  const secrets = methodOf(copy.method).secrets;
  const field = secrets?.passwords[0];
  if (!secrets || !field) return undefined;
  const ownerId = secrets.owner?.(config, item) ?? item.app;
  const owner = owners.find((o) => o.id === ownerId && o.passwords.includes(field));
  return owner ? { item: owner.item, field } : undefined;
}

/**
 * Per app, the runbook and, per data item, where each copy is and which runbook section restores
 * it: what the stack exports so that alerts and people find the steps. Contains no secret.
 */
export function restoreEntryPoints(config: StackConfig, plan: BackupPlan): Record<string, RestoreEntryPoint> {
  const result: Record<string, RestoreEntryPoint> = {};
  const owners = secretOwners(config, plan);
  for (const app of runbookApps(plan)) {
    const runbook = runbookUrl(config, app.name);
    const items: Record<string, RestoreItemEntry> = {};
    for (const item of app.items) {
      items[item.id] = {
        tier: item.tier,
        copies: item.copies.map((copy) => {
          const password = passwordRef(config, owners, item, copy);
          return {
            destination: copy.destination,
            method: copy.method,
            location: copy.location,
            section: `${runbook}#${copyAnchor(item, copy)}`,
            ...(password ? { password } : {}),
          };
        }),
      };
    }
    result[app.name] = { runbook, items };
  }
  return result;
}

/** Every generated file: a runbook per app, dataset and host, the platform page and the index, by path. */
export function runbooks(config: StackConfig, plan: BackupPlan): Record<string, string> {
  const shared = pageData(config, plan);
  const files: Array<[string, string]> = runbookApps(plan).map((app) => [runbookPath(app.name), renderRunbook(config, plan, app.name, shared)]);
  if (files.some(([path]) => path === runbookPath(PLATFORM_PAGE))) throw new Error(`an app, dataset or host may not be named "${PLATFORM_PAGE}": that is the platform runbook`);
  files.push([runbookPath(PLATFORM_PAGE), renderPlatformRunbook(config, plan)]);
  files.push([`${RUNBOOK_DIR}/README.md`, renderIndex(config, plan)]);
  return Object.fromEntries(files.sort(([a], [b]) => compareText(a, b)));
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

/** What every page reads of the whole stack: derived once for all pages by runbooks(). */
interface PageData {
  rows: RecoveryRow[];
  mirrors: PlannedKopiaMirror[];
  owners: SecretOwner[];
}

function pageData(config: StackConfig, plan: BackupPlan): PageData {
  return { rows: recoverySheet(config, plan), mirrors: kopiaMirrors(config, plan), owners: secretOwners(config, plan) };
}

/** The runbook of one app (or "truenas-<dataset>" / "host-<name>"): Markdown for runbookPath(app). */
export function renderRunbook(config: StackConfig, plan: BackupPlan, app: string, shared: PageData = pageData(config, plan)): string {
  const subject = runbookApps(plan).find((a) => a.name === app);
  if (!subject) throw new Error(`no app, dataset or host "${app}" in the plan`);
  const { rows } = shared;
  const machine = subject.namespace === "";
  const lines: Lines = [
    `# Restore runbook: ${app}`,
    "",
    `Generated from the stack config by \`npm run docs\` (domain/runbooks.ts): do not edit; change the config or the generator.`,
    "",
    `- Tier ${subject.tier}; ${machine ? "outside the cluster" : `namespace \`${subject.namespace}\``}; cluster \`${plan.clusterName}\`, times in ${plan.timeZone}.`,
    `- Configured at \`${subject.items[0]?.configPath ?? app}\`. Every index: [all runbooks](README.md).`,
    "",
    "| Data | Tier | Copies | Newest recovery point at most | Section |",
    "| --- | --- | --- | --- | --- |",
    ...subject.items.map(
      (item) =>
        `| ${item.kind} \`${item.name}\` | ${item.tier} | ${cell(item.copies.map((c) => c.destination).filter((d, i, all) => all.indexOf(d) === i).join(", ") || "none")} | ${hours(item.worstCaseRpoHours)} (offsite ${hours(item.offsiteRpoHours)}) | [${runbookAnchor(item)}](#${runbookAnchor(item)}) |`,
    ),
    "",
    anchor(BEFORE_ANCHOR),
    "## Before you start",
    "",
    "- Work in an empty directory on a machine with the tools below; key files are created with `umask 077`: delete the directory afterwards.",
    `- Passwords and keys are never written here: the commands read them from the Secret in the cluster or from the store (${storeName(config)}; \`op\` is the 1Password CLI).`,
    `- Tools: ${toolsFor(subject.items).map((t) => `\`${t}\``).join(", ")}.`,
    `- Lost the whole cluster? Read [After losing the cluster](#${LOST_CLUSTER_ANCHOR}) first.`,
    "",
  ];
  for (const item of subject.items) lines.push(...itemSection(config, plan, item, rows));
  lines.push(...mirrorSection(config, shared.mirrors.filter((mirror) => mirror.app === app)));
  lines.push(...lostCluster(config, subject, shared.owners));
  const text = lines.join("\n").replace(/\n{3,}/g, "\n\n").replace(/\n*$/, "\n");
  const ids = [...text.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]);
  const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
  if (duplicate) throw new Error(`runbook of ${app}: the anchor "${duplicate}" occurs twice`);
  return text;
}

/** Opening an app's Kopia mirrors (apps.<app>.kopiaMirrors) after losing the NAS, and re-seeding a NAS from one. */
function mirrorSection(config: StackConfig, mirrors: readonly PlannedKopiaMirror[]): Lines {
  if (mirrors.length === 0) return [];
  const lines: Lines = [
    anchor(MIRROR_ANCHOR),
    "## Kopia mirrors of the NAS repository",
    "",
    "The NAS Kopia repository is copied blob for blob to object storage every day (`kopia repository sync-to s3 --delete`): the same repository, with the NAS retention and hourly history, opened with the app's `kopia-password`. Use a mirror when the NAS is gone; otherwise restore from the copies above.",
    "",
  ];
  for (const mirror of mirrors) {
    const own = storeItem(config.cluster.name, mirror.app);
    const fields = bucketFields(mirror.consumer);
    const nasPath = `${NAS_MOUNT}${mirror.sourcePath.slice(BACKUP_MOUNT.length)}`;
    lines.push(
      `### Mirror in \`${mirror.destination}\`: \`${mirror.bucket}/${mirror.prefix}\``,
      "",
      `Mirrors \`${mirror.sourceLocation}\`, ${mirror.schedule.description}. From the store (${storeName(config)}):`,
      "",
      ...code("sh", [
        `export KOPIA_PASSWORD="$(${storeRead(config, own, "kopia-password")})"`,
        `export AWS_ACCESS_KEY_ID="$(${storeRead(config, own, fields.accessKeyId)})"`,
        `export AWS_SECRET_ACCESS_KEY="$(${storeRead(config, own, fields.secretAccessKey)})"`,
        'export KOPIA_CONFIG_PATH="$PWD/kopia-mirror.config"',
        `kopia repository connect s3 --readonly --bucket=${shellQuote(mirror.bucket)} --prefix=${shellQuote(mirror.prefix)} --endpoint=${shellQuote(mirror.endpoint)} --region=${shellQuote(mirror.region)}`,
        "kopia snapshot list --all",
      ]),
      `Restore files from it as from the copies above (\`kopia snapshot restore\`). To re-seed a rebuilt NAS, mount its share at \`${NAS_MOUNT}\` as the repository's owner (uid ${mirror.uid}) and copy the mirror back; the movers then find their repository where it was:`,
      "",
      ...code("sh", [`kopia repository sync-to filesystem --path=${shellQuote(nasPath)}`]),
    );
  }
  return lines;
}

function toolsFor(items: readonly PlannedItem[]): string[] {
  const tools = new Set<string>();
  for (const item of items) {
    if (item.namespace) tools.add("kubectl");
    for (const copy of item.copies) {
      for (const tool of methodOf(copy.method).runbook.tools) tools.add(tool);
      if (copy.encrypted) tools.add("op");
    }
  }
  return [...tools].sort(compareText);
}

function itemSection(config: StackConfig, plan: BackupPlan, item: PlannedItem, rows: readonly RecoveryRow[]): Lines {
  const lines: Lines = [anchor(runbookAnchor(item)), `## ${item.kind} \`${item.name}\``, "", ...dataKindOf(item.kind).runbook.intro(config, item), ""];
  if (item.copies.length === 0) {
    lines.push("**This item has no copy.** Nothing can be restored; see why below.", "");
  } else {
    lines.push("| Copy | Method | Where | Schedule | Keeps | Opens with |", "| --- | --- | --- | --- | --- | --- |");
    for (const copy of item.copies) {
      const row = rows.find((r) => r.data === item.id && r.destination === copy.destination);
      const opens = [row?.password, row?.credential && `keys ${row.credential}`].filter(Boolean).join("; ") || (copy.encrypted ? "" : "not encrypted");
      lines.push(
        `| [${copy.destination}](#${copyAnchor(item, copy)}) | ${methodOf(copy.method).label} | \`${cell(copy.location)}\` | ${cell(copy.continuous ? `WAL continuously; backups ${copy.schedule.description}` : copy.schedule.description)} | ${cell(describeCopyRetention(copy.retention))} | ${cell(opens)} |`,
      );
    }
    lines.push("");
  }
  for (const skipped of item.skipped) lines.push(`- Not copied to \`${skipped.destination}\`: ${skipped.reason}.`);
  if (item.skipped.length > 0) lines.push("");
  lines.push(
    `Recovery point: the newest independent copy is at most ${hours(item.worstCaseRpoHours)} old (offsite ${hours(item.offsiteRpoHours)}; target ${hours(Number.isFinite(item.rpoTargetHours) ? item.rpoTargetHours : undefined)}).`,
    "",
  );
  for (const group of copyGroups(item)) lines.push(...copySection(config, plan, item, group.copies));
  lines.push(...(dataKindOf(item.kind).runbook.load?.(config, item) ?? []));
  lines.push(...drillSection(config, plan, item));
  return lines;
}

function copySection(config: StackConfig, plan: BackupPlan, item: PlannedItem, copies: PlannedCopy[]): Lines {
  return [anchor(copyAnchor(item, copies[0])), ...methodOf(copies[0].method).runbook.section(config, plan, item, copies)];
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// CloudNativePG
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Dumps
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// TrueNAS datasets and hosts
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Drills and verifications
// ---------------------------------------------------------------------------------------------

function drillSection(config: StackConfig, plan: BackupPlan, item: PlannedItem): Lines {
  const drills = plan.jobs.filter((j) => j.kind === "restore-drill" && j.itemId === item.id);
  const repositories = new Set(item.copies.map((c) => verifiedRepository(item, c)).filter((id): id is string => id !== undefined));
  const verifications = plan.jobs.filter((j) => j.kind === "verify" && repositories.has(j.id)).sort((a, b) => compareText(a.id, b.id));
  const lines: Lines = [anchor(drillsAnchor(item)), `### Scheduled drill and verification`, ""];
  const canary = volumeCanary(config, plan, item);
  const canaryLines: Lines = canary
    ? [
        `- **Canary**: CronJob \`${canary.name}\` in \`${canary.namespace}\` writes \`${CANARY_FILE}\` at the root of the claim ${canary.schedule.description}, ${CANARY_LEAD_MINUTES} minutes before the \`${canary.copy.destination}\` backup; the drill fails when the newest snapshot holds none, another volume's, or one more than ${canary.maxAgeHours} h older than the snapshot: then the backups do not hold what is written to the volume now.`,
        `  Write one now (after fixing it, or right after turning it on): \`kubectl create job -n ${canary.namespace} --from=cronjob/${canary.name} ${kubeName([canary.name, "manual"])}\`.`,
        "",
      ]
    : [];
  if (drills.length === 0 && verifications.length === 0) {
    return [...lines, `Tier ${item.tier} asks for no restore drill or repository verification of this item.`, "", ...canaryLines];
  }
  for (const job of drills) {
    const copy = item.copies.find((c) => c.id === job.copyId);
    if (job.controller === "systemd") {
      const task = hostDrillTask(config, item, job);
      const target = hostTarget(config, item);
      const unit = unitNames(task.name).service;
      lines.push(
        `- **Restore drill** ${job.schedule.description} from \`${job.destination}\`${copy ? ` (\`${copy.location}\`)` : ""}: systemd \`${unit}\` on \`${target.host}\`, fails if the newest backup is older than ${job.maxAgeHours ?? "?"} h. Run it now:`,
        "",
        ...code("sh", [`ssh -p ${target.port} ${target.user}@${target.host} 'systemctl start ${unit}; journalctl -u ${unit} -n 50 --no-pager'`]),
      );
    } else {
      const namespace = drillNamespace(config, item);
      const name = drillName(item);
      lines.push(
        `- **Restore drill** ${job.schedule.description} from \`${job.destination}\`${copy ? ` (\`${copy.location}\`)` : ""}: CronJob \`${name}\` in \`${namespace}\`, fails if the newest backup is older than ${job.maxAgeHours ?? "?"} h. Run it now:`,
        "",
        ...code("sh", runNow(namespace, name)),
      );
    }
  }
  lines.push(...canaryLines);
  for (const job of verifications) {
    const owner = plan.items.find((i) => i.id === job.itemId) ?? item;
    const namespace = drillNamespace(config, owner);
    const name = verificationName(job);
    lines.push(
      `- **Verification** of the \`${job.destination}\` repository ${job.schedule.description}, reading ${job.readParts === 1 ? "all of it" : `1/${job.readParts} of its data per run`}: CronJob \`${name}\` in \`${namespace}\`. Run it now:`,
      "",
      ...code("sh", runNow(namespace, name)),
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// After losing the cluster
// ---------------------------------------------------------------------------------------------

function lostCluster(config: StackConfig, app: RunbookApp, allOwners: readonly SecretOwner[]): Lines {
  const ownerIds = new Set<string>();
  for (const item of app.items) {
    ownerIds.add(item.app);
    for (const copy of item.copies) {
      const owners = copyStoreOwners(config, item, methodOf(copy.method));
      ownerIds.add(owners.passwords).add(owners.credential);
    }
  }
  const owners = allOwners.filter((o) => ownerIds.has(o.id));
  const storeLines = owners.map(
    (o) =>
      `- \`${o.item}\`: ${[...o.passwords, ...o.bucketCredentials.flatMap((c) => Object.values(bucketFields(c)))].map((f) => `\`${f}\``).join(", ")}`,
  );
  const userRefs = new Set<string>();
  for (const item of app.items) {
    for (const ref of dataKindOf(item.kind).runbook.userSecrets?.(config, item) ?? []) userRefs.add(ref);
    for (const copy of item.copies) {
      const target = config.destinations[copy.destination];
      const ref = target && destinationPlugin(target.kind).userSecret?.(copy.destination, target);
      if (ref) userRefs.add(ref);
    }
  }
  const lines: Lines = [
    anchor(LOST_CLUSTER_ANCHOR),
    "## After losing the cluster",
    "",
    `**Where the passwords and keys are.** In the store, ${storeName(config)}, one item per owner (fields listed); \`npm run plan\` also prints them per copy in BACKUP-PLAN.md, section *Recovery sheet*. Nothing here needs the cluster.`,
    "",
    ...(storeLines.length ? storeLines : ["- none: no copy of this data is encrypted"]),
    ...[...userRefs].sort(compareText).map((ref) => `- your item ${ref}`),
    "",
  ];
  const kinds = [...new Set(app.items.map((i) => i.kind))].map(dataKindOf);
  if (app.namespace === "") {
    lines.push(
      "**Order.** This data lives outside the cluster; its copies do not need it:",
      "",
      `1. ${kinds[0]?.runbook.machineRestore ?? "Restore the data from a copy above."}`,
      "2. `pulumi up` the stack again: it reinstalls the tasks and timers over SSH (the pinned host keys must still match, or update them in the config).",
      `3. Run the drill now (see [drills](#${drillsAnchor(app.items[0])})) to prove the backups run again.`,
      "",
    );
    return lines;
  }
  const operators = [
    `External Secrets with the ${config.secretStore.kind} \`${config.secretStore.name}\` (${config.secretStore.provider})`,
    ...kinds.flatMap((kind) => kind.runbook.operators?.(config) ?? []),
  ];
  // Items outside the app's namespace (CNPG clusters) have their own ExternalSecrets.
  const namespaces = [app.namespace, ...new Set(app.items.map((i) => i.namespace).filter((ns) => ns !== app.namespace))];
  lines.push(
    "**Order.**",
    "",
    `1. A cluster with the storage class \`${config.cluster.storageClass}\` and the VolumeSnapshotClass \`${config.cluster.volumeSnapshotClass}\`, then the operators: ${operators.join(", ")}${config.operators.volsync.manage ? " (the stack installs the ones with `manage: true`)" : ""}.`,
    `2. The store's access (for 1Password: the service account token Secret), then \`pulumi up --refresh\` with this stack's config: Pulumi's state still lists the old cluster's objects, and only a refresh shows them gone, so a plain \`pulumi up\` would create nothing. It recreates the credentials' ExternalSecrets, which read the same store items, so the same repositories open. Check them:`,
    "",
    ...code("sh", [`${namespaces.map((ns) => `kubectl get externalsecret -n ${ns}`).join(" && ")}   # all SecretSynced`]),
    "3. Restore the data before the app starts:",
    "",
  );
  for (const item of app.items) lines.push(...(dataKindOf(item.kind).runbook.afterLostCluster?.(config, item) ?? []));
  lines.push(
    "",
    `4. Start the app, then run each item's drill now (sections above) to prove the backups run again.`,
    "",
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------------------------

function renderIndex(config: StackConfig, plan: BackupPlan): string {
  const lines: Lines = [
    "# Restore runbooks",
    "",
    `Generated from the stack config by \`npm run docs\` (domain/runbooks.ts): do not edit. Cluster \`${plan.clusterName}\`. One page per app, TrueNAS dataset and host, with the exact commands to restore each data item from each copy; alerts link to the item's section.`,
    "",
    "| App | Tier | Items | Where copies go | Runbook |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const app of runbookApps(plan)) {
    const items = app.items.map((i) => `${i.kind} ${i.name}`).join(", ");
    const destinations = [...new Set(app.items.flatMap((i) => i.copies.map((c) => (c.destinationKind === "local" ? c.destination : `${c.destination} (${c.destinationKind})`))))];
    const link = runbookPath(app.name).slice(RUNBOOK_DIR.length + 1);
    lines.push(`| ${app.name} | ${app.tier} | ${cell(items || "none")} | ${cell(destinations.join(", ") || "none")} | [${link}](${link}) |`);
  }
  lines.push(
    "",
    `Alerts that concern every app (metrics missing) link to [${PLATFORM_PAGE}.md](${PLATFORM_PAGE}.md).`,
    "",
    `If the cluster is gone, start with the section "After losing the cluster" of the app's page; the store is ${storeName(config)}.`,
    "",
  );
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The platform page: what every app's alerts depend on
// ---------------------------------------------------------------------------------------------

function renderPlatformRunbook(config: StackConfig, plan: BackupPlan): string {
  const volsync = volsyncChart(config);
  const volumes = plan.items.filter((item) => item.kind === "volume").map((item) => item.id);
  const lines: Lines = [
    `# Runbook: the backup platform`,
    "",
    "Generated from the stack config by `npm run docs` (domain/runbooks.ts): do not edit. The platform alerts (PrometheusRule " +
      `\`${config.cluster.systemNamespace}/${PLATFORM_PAGE}\`) fire when Prometheus can no longer see what the per-app alerts read: while they fire, ` +
      "a failed or stale backup does not alert. Nothing is lost yet; backups may well be running. Fix the monitoring first, then look at each app's backups. " +
      "Every index: [all runbooks](README.md).",
    "",
    anchor(PLATFORM_ANCHORS.volsync),
    "## VolSync metrics absent (`VolSyncMetricsAbsent`)",
    "",
    `No \`volsync_*\` series in Prometheus for 15 minutes. ${volumes.length} volume copies depend on them${volumes.length > 0 ? ` (${volumes.slice(0, 6).join(", ")}${volumes.length > 6 ? ", ..." : ""})` : ""}.`,
    "",
    ...code("sh", [
      "# Is the controller running?",
      `kubectl get pods -n ${volsync.namespace} -l app.kubernetes.io/name=volsync`,
      `kubectl logs -n ${volsync.namespace} -l app.kubernetes.io/name=volsync --tail=100`,
      "# Is it scraped? The metrics endpoint must be selected by a ServiceMonitor your Prometheus reads.",
      `kubectl get servicemonitors -A | grep -i volsync`,
      "# Do ReplicationSources still report syncs? (lastSyncTime per source)",
      "kubectl get replicationsources -A -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,LAST:.status.lastSyncTime,RESULT:.status.latestMoverStatus.result",
    ]),
    `If the controller is down, no volume is backed up until it is back: restart it (or reinstall chart \`${volsync.chart}\` ${volsync.version}), then check that each source's \`lastSyncTime\` moves.`,
    "",
    anchor(PLATFORM_ANCHORS.kubeStateMetrics),
    "## Backup job metrics absent (`BackupJobMetricsAbsent`)",
    "",
    "No `kube_cronjob_*` series in Prometheus for 15 minutes: kube-state-metrics is down or not scraped. Dumps, offsite copies, restore drills and verifications run as CronJobs; their staleness and failure alerts read these series.",
    "",
    ...code("sh", [
      "kubectl get pods -A -l app.kubernetes.io/name=kube-state-metrics",
      "# The backup CronJobs and their newest runs, meanwhile:",
      `kubectl get cronjobs -A -l ${LABELS.managedBy}=homelab-backups -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,LAST_SUCCESS:.status.lastSuccessfulTime`,
    ]),
    "kube-state-metrics must be scraped with `honorLabels: true` (kube-prometheus-stack's default), or the alerts' `namespace` matchers see the exporter's namespace instead of the CronJob's.",
    "",
  ];
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").replace(/\n*$/, "\n");
}
