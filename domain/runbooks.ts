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
import { stringify } from "yaml";
import type { StackConfig, VolumeConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem, PlannedJob } from "./plan";
import { verifiedRepository } from "./plan";
import { compareText } from "./compare";
import { describeCopyRetention } from "./retention";
import { kubeName, LABELS } from "./naming";
import { MIRROR_ANCHOR, PLATFORM_ANCHORS, PLATFORM_PAGE, RUNBOOK_DIR, runbookAnchor, runbookPath, runbookUrl } from "./runbookLinks";
import { kopiaMirrors, PlannedKopiaMirror } from "./kopiaMirror";
import {
  kopiaIdentity,
  kopiaRepository,
  moverSecretRecipe,
  NAS_MOUNT,
  pgbackrestSecretRecipe,
  repositoryLocation,
  resticRepository,
  SecretRecipe,
  sshKeyRef,
  StoreValue,
} from "./repositories";
import { bootstrap, claimOf, replicationSourceName, storageClassOf } from "./volsync";
import { CNPG_API, PGBACKREST_PLUGIN, pluginEntry, stanza } from "./cnpg";
import { bucketFields, cnpgOwner, PasswordName, SecretOwner, secretOwners, storeItem } from "./secrets";
import { cnpgClusterName, credentialKindOf, repositoryPath } from "./storage";
import { recoverySheet, RecoveryRow } from "./recovery";
import { BACKUP_MOUNT, dumpCronJob, dumpDirectory, dumpSecretRecipe, offsiteSecretRecipe } from "./dumps";
import { drillName, drillNamespace, pgbackrestRepoEnv, restoreDrill } from "./drills";
import { verificationName } from "./verification";
import { datasetTasks, hostDrillTask, hostTarget, hostTask, truenasTarget } from "./machines";
import { hostBackupPaths, unitNames } from "./hostBackup";
import { shellQuote } from "./truenas";
import { RESTIC_TAG, STAMP_GLOB } from "./jobs/scripts";
import { snapshotControllerChart, snapschedulerChart, volsyncChart } from "./operators";
import { CANARY_LEAD_MINUTES, volumeCanary } from "./canary";
import { CANARY_FILE } from "./jobs/canary";

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

/** The anchor of the section that restores an item from one destination's copies. */
export function copyAnchor(item: Pick<PlannedItem, "kind" | "name">, copy: Pick<PlannedCopy, "destination">): string {
  return `${runbookAnchor(item)}-from-${copy.destination}`;
}

/** The anchor of an item's drill and verification section. */
export function drillsAnchor(item: Pick<PlannedItem, "kind" | "name">): string {
  return `${runbookAnchor(item)}-drills`;
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

const PASSWORD_OF: Partial<Record<PlannedCopy["method"], PasswordName>> = {
  "volsync-restic": "restic-password",
  "volsync-kopia": "kopia-password",
  "dump-restic": "restic-password",
  "host-restic": "restic-password",
  pgbackrest: "cipher-pass",
  "truenas-cloudsync": "cloudsync-password",
};

/** The store item and field of the password that decrypts a copy, from the stack's secret owners. */
function passwordRef(config: StackConfig, owners: readonly SecretOwner[], item: PlannedItem, copy: PlannedCopy): { item: string; field: string } | undefined {
  const field = PASSWORD_OF[copy.method];
  if (!field) return undefined;
  const ownerId = copy.method === "pgbackrest" ? cnpgOwner(cnpgClusterName(config, item)) : item.app;
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

type Lines = string[];

function code(lang: string, lines: readonly string[]): Lines {
  return ["```" + lang, ...lines, "```", ""];
}

function anchor(id: string): string {
  return `<a id="${id}"></a>`;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function hours(value: number | undefined): string {
  if (value === undefined) return "none";
  if (value < 1) return `${Math.round(value * 60)} min`;
  return `${Number(value.toFixed(2))} h`;
}

const METHOD_TEXT: Record<PlannedCopy["method"], string> = {
  "volsync-restic": "VolSync restic",
  "volsync-kopia": "VolSync Kopia",
  pgbackrest: "pgBackRest",
  dump: "dump files",
  "dump-restic": "restic of the dump directory",
  "dump-rsync": "rsync of the dump directory",
  "csi-snapshot": "CSI snapshots",
  "zfs-snapshot": "ZFS snapshots",
  "truenas-cloudsync": "TrueNAS Cloud Sync (rclone crypt)",
  "host-restic": "restic on the host",
};

/** Escapes text for a double-quoted shell word. */
function dq(text: string): string {
  return text.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** A command that prints one field of a secret-store item. */
function storeRead(config: StackConfig, item: string, field: string): string {
  if (config.secretStore.provider === "onepassword-sdk") return `op read ${shellQuote(`op://${config.secretStore.vault}/${item}/${field}`)}`;
  // The kubernetes provider keeps one Secret per item in the vault namespace (it dies with the cluster).
  return secretRead(`${config.cluster.systemNamespace}-vault`, item, field);
}

/** A command that prints one key of a Secret in the cluster. */
function secretRead(namespace: string, secret: string, key: string): string {
  return `kubectl get secret -n ${namespace} ${secret} -o jsonpath=${shellQuote(`{.data.${key.replace(/\./g, "\\.")}}`)} | base64 -d`;
}

function storeName(config: StackConfig): string {
  return config.secretStore.provider === "onepassword-sdk"
    ? `1Password, vault \`${config.secretStore.vault}\``
    : `the in-cluster store (namespace \`${config.cluster.systemNamespace}-vault\`; gone with the cluster)`;
}

/** Environment a tool needs: template text per variable (literal, or with `{{ .var }}` store values). */
interface ToolEnv {
  template: Record<string, string>;
  values: StoreValue[];
}

const NOTIFICATION_KEYS = new Set(["NTFY_TOKEN", "HEALTHCHECKS_URL"]);
const REF = /\{\{ \.(\w+) \}\}/g;

/**
 * `export` lines for a tool's environment: literals as they are, store values through `read`
 * (a command substitution, so no value is ever written here).
 */
function exportLines(env: ToolEnv, read: (value: StoreValue, key: string) => string, skip: ReadonlySet<string> = NOTIFICATION_KEYS): Lines {
  const lines: Lines = [];
  for (const [key, text] of Object.entries(env.template)) {
    if (skip.has(key)) continue;
    if (!text.match(REF)) {
      lines.push(`export ${key}=${shellQuote(text)}`);
      continue;
    }
    let out = "";
    let last = 0;
    for (const match of text.matchAll(REF)) {
      const value = env.values.find((v) => v.variable === match[1]);
      if (!value) throw new Error(`${key}: no store value for ${match[1]}`);
      out += dq(text.slice(last, match.index)) + `$(${read(value, key)})`;
      last = match.index! + match[0].length;
    }
    out += dq(text.slice(last).replace(/\n$/, ""));
    lines.push(`export ${key}="${out}"`);
  }
  return lines;
}

function fromStore(config: StackConfig, env: ToolEnv, skip?: ReadonlySet<string>): Lines {
  return exportLines(env, (value) => storeRead(config, value.item, value.field), skip);
}

/** The same variables read from a Secret in the cluster that holds the same store fields. */
function fromCluster(config: StackConfig, env: ToolEnv, recipe: SecretRecipe, skip?: ReadonlySet<string>): Lines {
  return exportLines(
    env,
    (value) => {
      const variable = recipe.values.find((v) => v.item === value.item && v.field === value.field)?.variable;
      const secretKey = variable && Object.entries(recipe.template).find(([, text]) => text === `{{ .${variable} }}`)?.[0];
      if (!secretKey) return storeRead(config, value.item, value.field);
      return secretRead(recipe.namespace, recipe.name, secretKey);
    },
    skip,
  );
}

function credentialBlocks(config: StackConfig, env: ToolEnv, recipe: SecretRecipe | undefined, skip?: ReadonlySet<string>): Lines {
  const lines: Lines = [];
  if (recipe) {
    lines.push(`Credentials while the cluster runs, from the Secret \`${recipe.name}\` in \`${recipe.namespace}\` (built by the ExternalSecret of the same name):`, "");
    lines.push(...code("sh", fromCluster(config, env, recipe, skip)));
    lines.push(`After losing the cluster, the same from the store (${storeName(config)}):`, "");
  } else {
    lines.push(`Credentials from the store (${storeName(config)}):`, "");
  }
  lines.push(...code("sh", fromStore(config, env, skip)));
  return lines;
}

function nasMount(config: StackConfig, copy: PlannedCopy): Lines {
  const target = config.destinations[copy.destination];
  if (target.kind !== "nfs") return [];
  return [
    `The repository path is the one the movers see: mount the NAS share at \`${NAS_MOUNT}\` first (as a user that may read it):`,
    "",
    ...code("sh", [`sudo mkdir -p ${NAS_MOUNT}`, `sudo mount -t nfs ${target.server}:${target.path} ${NAS_MOUNT}`]),
  ];
}

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
      if (copy.method === "volsync-restic" || copy.method === "dump-restic" || copy.method === "host-restic") tools.add("restic");
      if (copy.method === "volsync-kopia") tools.add("kopia").add("jq");
      if (copy.method === "volsync-restic" || copy.method === "volsync-kopia" || copy.method === "csi-snapshot") tools.add("jq");
      if (copy.method === "pgbackrest") tools.add("pgbackrest");
      if (copy.method === "truenas-cloudsync") tools.add("rclone");
      if (copy.method === "dump" || copy.method === "zfs-snapshot" || copy.method === "host-restic") tools.add("ssh");
      if (copy.method === "dump-rsync") tools.add("rsync").add("ssh");
      if (copy.method === "dump") tools.add("scp");
      if (copy.encrypted) tools.add("op");
    }
  }
  return [...tools].sort(compareText);
}

function itemSection(config: StackConfig, plan: BackupPlan, item: PlannedItem, rows: readonly RecoveryRow[]): Lines {
  const lines: Lines = [anchor(runbookAnchor(item)), `## ${item.kind} \`${item.name}\``, "", ...itemIntro(config, item), ""];
  if (item.copies.length === 0) {
    lines.push("**This item has no copy.** Nothing can be restored; see why below.", "");
  } else {
    lines.push("| Copy | Method | Where | Schedule | Keeps | Opens with |", "| --- | --- | --- | --- | --- | --- |");
    for (const copy of item.copies) {
      const row = rows.find((r) => r.data === item.id && r.destination === copy.destination);
      const opens = [row?.password, row?.credential && `keys ${row.credential}`].filter(Boolean).join("; ") || (copy.encrypted ? "" : "not encrypted");
      lines.push(
        `| [${copy.destination}](#${copyAnchor(item, copy)}) | ${METHOD_TEXT[copy.method]} | \`${cell(copy.location)}\` | ${cell(copy.continuous ? `WAL continuously; backups ${copy.schedule.description}` : copy.schedule.description)} | ${cell(describeCopyRetention(copy.retention))} | ${cell(opens)} |`,
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
  lines.push(...loadSection(config, item));
  lines.push(...drillSection(config, plan, item));
  return lines;
}

function itemIntro(config: StackConfig, item: PlannedItem): Lines {
  switch (item.kind) {
    case "volume": {
      const volume = config.apps[item.app].volumes[item.name];
      const sources = item.copies.filter((c) => c.method === "volsync-restic" || c.method === "volsync-kopia").map((c) => `\`${replicationSourceName(item, volume, c)}\``);
      const boot = bootstrap(config, item, volume, config.images);
      return [
        `Claim \`${claimOf(item, volume)}\` in namespace \`${item.namespace}\` (${volume.capacity}, storage class \`${storageClassOf(config, volume)}\`), mover \`${volume.mover}\`, files owned by ${volume.uid}:${volume.gid}.` +
          (sources.length ? ` ReplicationSources: ${sources.join(", ")}.` : ""),
        boot
          ? `Restored automatically on a new cluster (restoreOnBootstrap): ReplicationDestination \`${(boot.destination.metadata as { name: string }).name}\`.`
          : "Not restored automatically on a new cluster: restore it by hand before the app starts.",
      ];
    }
    case "cnpg": {
      const cluster = cnpgClusterName(config, item);
      const repos = pgbackrestRepos(config, item);
      return [
        `CloudNativePG Cluster \`${cluster}\` in namespace \`${item.namespace}\`, pgBackRest stanza \`${cluster}\` (Stanza object \`${cluster}\`), WAL archived to every repository:`,
        "",
        ...repos.map((r) => `- repo${r.repo}: \`${r.copy.destination}\`, bucket \`${r.copy.location}\`, path \`/${cluster}\``),
      ];
    }
    case "postgres": {
      const db = config.apps[item.app].databases[item.name];
      if (db.engine !== "postgres") return [];
      return [`PostgreSQL at \`${db.host}:${db.port}\`, ${db.database === "all" ? "every database (pg_dumpall, gzip'd SQL)" : `database \`${db.database}\` (pg_dump custom format)`}; credentials in store item \`${db.credentialsRef}\`.`];
    }
    case "sqlite": {
      const file = config.apps[item.app].sqlite[item.name];
      return [`SQLite file \`${file.path}\` on claim \`${file.claim}\` in namespace \`${item.namespace}\`, dumped with the online backup API (gzip'd).`];
    }
    case "redis": {
      const redis = config.apps[item.app].redis[item.name];
      return [`Redis at \`${redis.host}:${redis.port}\`, dumped as an RDB snapshot (gzip'd).`];
    }
    case "dataset": {
      const dataset = config.truenas!.datasets[item.name];
      const target = truenasTarget(config);
      return [`ZFS dataset \`${dataset.dataset}\` on TrueNAS \`${target.host}\` (${dataset.recursive ? "with its children" : "without children"}). Shell: \`ssh -p ${target.port} ${target.user}@${target.host}\`.`];
    }
    case "host": {
      const host = config.hosts[item.name];
      const target = hostTarget(config, item);
      return [
        `Host \`${host.host}\`: paths ${host.paths.map((p) => `\`${p}\``).join(", ")}${host.excludes.length ? `, excluding ${host.excludes.map((p) => `\`${p}\``).join(", ")}` : ""}. Shell: \`ssh -p ${target.port} ${target.user}@${target.host}\`.`,
        ...(host.preHook ? ["", `Before each backup the host runs \`${host.preHook}\`: what it writes is in the backup too.`] : []),
      ];
    }
  }
}

function copySection(config: StackConfig, plan: BackupPlan, item: PlannedItem, copies: PlannedCopy[]): Lines {
  const copy = copies[0];
  const head = [anchor(copyAnchor(item, copy))];
  switch (copy.method) {
    case "volsync-restic":
    case "volsync-kopia":
      return [...head, ...volumeCopy(config, item, copy)];
    case "csi-snapshot":
      return [...head, ...csiSnapshots(config, item, copies)];
    case "pgbackrest":
      return [...head, ...pgbackrestCopy(config, item, copy)];
    case "dump":
      return [...head, ...nasDumpCopy(config, item, copy)];
    case "dump-restic":
      return [...head, ...resticDumpCopy(config, item, copy)];
    case "dump-rsync":
      return [...head, ...rsyncDumpCopy(config, item, copy)];
    case "zfs-snapshot":
      return [...head, ...zfsSnapshots(config, item, copies)];
    case "truenas-cloudsync":
      return [...head, ...cloudSyncCopy(config, plan, item, copy)];
    case "host-restic":
      return [...head, ...hostCopy(config, item, copy)];
  }
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

/** Pods of `namespace` that mount `claim`, by owner: the workloads to stop. */
function workloadsOf(namespace: string, claim: string): string {
  return `kubectl get pods -n ${namespace} -o json | jq -r '.items[] | select(any(.spec.volumes[]?; .persistentVolumeClaim.claimName == "${claim}")) | .metadata.ownerReferences[]? | .kind + "/" + .name' | sort -u`;
}

function volumeCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const recipe = moverSecretRecipe(config, item, copy);
  const restic = copy.method === "volsync-restic";
  const repository = restic ? resticRepository(config, item, copy) : kopiaRepository(config, item, copy);
  const lines: Lines = [
    `### From \`${copy.destination}\`: ${restic ? "restic" : "Kopia"}, ReplicationSource \`${replicationSourceName(item, volume, copy)}\``,
    "",
    `Repository \`${repository}\`${copy.destinationKind === "b2" || copy.destinationKind === "r2" ? ` (bucket \`${copy.location}\`)` : ` (on \`${copy.location}\`)`}${restic ? "" : `, Kopia identity \`${identityOf(item, volume)}\``}.`,
    "",
    ...credentialBlocks(config, recipe, recipe),
    ...nasMount(config, copy),
    "#### One file or directory",
    "",
  ];
  if (restic) {
    lines.push(
      ...code("sh", [
        `# RESTIC_REPOSITORY is ${repository}`,
        "restic snapshots --host volsync",
        "# VolSync's mover runs `restic backup .` inside the volume (snapshot path /data): files sit at the snapshot's root.",
        "restic ls latest --host volsync | head -n 50",
        "restic restore latest --host volsync --target ./restore --include '/<path in the volume>'",
      ]),
      "An older version: take its ID from `restic snapshots` instead of `latest`.",
      "",
    );
  } else {
    lines.push(...code("sh", [...kopiaConnect(recipe), ...kopiaFileRestore(identityOf(item, volume))]));
  }
  lines.push(...wholeVolume(config, item, volume, copy));
  return lines;
}

function identityOf(item: PlannedItem, volume: VolumeConfig): string {
  const identity = kopiaIdentity(item, claimOf(item, volume));
  return `${identity.username}@${identity.hostname}`;
}

/** `kopia repository connect` for the repository a mover Secret describes, with literal names. */
function kopiaConnect(recipe: SecretRecipe): Lines {
  const t = recipe.template;
  const location = repositoryLocation(t.KOPIA_REPOSITORY);
  const lines = ['export KOPIA_CONFIG_PATH="$PWD/kopia-restore.config"'];
  if (location?.kind === "filesystem") {
    lines.push(`kopia repository connect filesystem --path=${shellQuote(location.path)}`);
  } else if (location?.kind === "s3") {
    lines.push(
      "# kopia reads the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      `kopia repository connect s3 --bucket=${shellQuote(location.bucket)} --prefix=${shellQuote(`${location.path}/`)} --endpoint=${shellQuote(t.KOPIA_S3_ENDPOINT)} --region=${shellQuote(t.AWS_REGION ?? "auto")}`,
    );
  } else if (location?.kind === "sftp") {
    lines.push(
      "umask 077",
      `printf '%s\\n' "$SFTP_KEY_FILE" > ./sftp-key`,
      `printf '%s\\n' "$SFTP_KNOWN_HOSTS_DATA" > ./known_hosts`,
      `kopia repository connect sftp --host=${shellQuote(t.SFTP_HOST)} --port=${t.SFTP_PORT} --username=${shellQuote(t.SFTP_USERNAME)} --path=${shellQuote(t.SFTP_PATH)} --keyfile="$PWD/sftp-key" --known-hosts="$PWD/known_hosts"`,
    );
  } else {
    throw new Error(`unsupported Kopia repository ${t.KOPIA_REPOSITORY}`);
  }
  return lines;
}

function kopiaFileRestore(identity: string): Lines {
  return [
    `kopia snapshot list ${identity}`,
    `SNAPSHOT=$(kopia snapshot list ${identity} --json | jq -r 'max_by(.startTime) | .rootEntry.obj')`,
    'kopia ls "$SNAPSHOT" | head -n 50',
    `kopia snapshot restore "$SNAPSHOT/<path in the volume>" ./restore`,
  ];
}

/** A ReplicationDestination that restores one copy into the existing claim (copyMethod Direct). */
function manualDestination(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Record<string, unknown> {
  // The bootstrap's destination for exactly this copy: the same repository, identity, mover settings.
  const built = bootstrap(config, { ...item, copies: [copy] }, { ...volume, restoreOnBootstrap: true }, config.images)!.destination as {
    metadata: { labels: Record<string, string> };
    spec: Record<string, Record<string, unknown>>;
  };
  const claim = claimOf(item, volume);
  const { capacity: _c, accessModes: _a, storageClassName: _s, volumeSnapshotClassName: _v, cleanupTempPVC: _t, copyMethod: _m, ...settings } = built.spec[volume.mover];
  const { [LABELS.managedBy]: _managed, ...labels } = built.metadata.labels;
  return {
    apiVersion: "volsync.backube/v1alpha1",
    kind: "ReplicationDestination",
    metadata: { name: kubeName([claim, "restore", copy.destination]), namespace: item.namespace, labels },
    spec: {
      trigger: { manual: "restore-now" },
      [volume.mover]: { destinationPVC: claim, copyMethod: "Direct", previous: 0, ...settings },
    },
  };
}

function wholeVolume(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Lines {
  const claim = claimOf(item, volume);
  const ns = item.namespace;
  const rd = manualDestination(config, item, volume, copy);
  const rdName = (rd.metadata as { name: string }).name;
  const sources = item.copies.filter((c) => c.method === "volsync-restic" || c.method === "volsync-kopia").map((c) => replicationSourceName(item, volume, c));
  return [
    "#### The whole volume",
    "",
    `A manual ReplicationDestination restores this copy straight into the existing claim \`${claim}\` (the sourcePVC of the ReplicationSources), the way the community runbooks do. \`enableFileDeletion\` makes the claim equal to the backup.`,
    "",
    `1. Stop everything that writes to \`${claim}\` (suspend Flux first if it manages the app, or it scales back up):`,
    "",
    ...code("sh", [workloadsOf(ns, claim), `kubectl scale -n ${ns} deployment/<workload> --replicas=0   # or statefulset/<workload>`, `kubectl get pods -n ${ns} -w   # until the app's pods are gone`]),
    "2. Pause the backups of the claim, so none copies a half-restored volume:",
    "",
    ...code("sh", [`for rs in ${sources.join(" ")}; do kubectl patch replicationsource -n ${ns} "$rs" --type merge -p '{"spec":{"paused":true}}'; done`]),
    "3. Restore. `previous: 0` is the newest backup, 1 the one before; or replace it with `restoreAsOf: \"2026-01-31T23:59:59Z\"` (RFC 3339):",
    "",
    ...code("sh", ["kubectl apply -f - <<'EOF'", ...stringify(rd).trimEnd().split("\n"), "EOF"]),
    "4. Wait for the mover Job and check that it succeeded:",
    "",
    ...code("sh", [
      `kubectl logs -n ${ns} -f job/volsync-dst-${rdName}`,
      `kubectl wait -n ${ns} replicationdestination/${rdName} --for=jsonpath='{.status.lastManualSync}'=restore-now --timeout=120m`,
      `kubectl get replicationdestination -n ${ns} ${rdName} -o jsonpath='{.status.latestMoverStatus.result}{"\\n"}'   # Successful`,
    ]),
    "5. Clean up, resume the backups and start the app:",
    "",
    ...code("sh", [
      `kubectl delete replicationdestination -n ${ns} ${rdName}`,
      `for rs in ${sources.join(" ")}; do kubectl patch replicationsource -n ${ns} "$rs" --type merge -p '{"spec":{"paused":false}}'; done`,
      `kubectl scale -n ${ns} deployment/<workload> --replicas=1`,
    ]),
  ];
}

function csiSnapshots(config: StackConfig, item: PlannedItem, copies: PlannedCopy[]): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const claim = claimOf(item, volume);
  const ns = item.namespace;
  const pvc = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: kubeName([claim, "from-snapshot"]), namespace: ns },
    spec: {
      storageClassName: storageClassOf(config, volume),
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: volume.capacity } },
      dataSource: { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: "<snapshot>" },
    },
  };
  return [
    `### From \`${copies[0].destination}\`: CSI snapshots of \`${copies.map((c) => c.location).join("`, `")}\``,
    "",
    `SnapScheduler keeps ${copies.map((c) => `${describeCopyRetention(c.retention)} (${c.schedule.description})`).join(" and ")}. They live on the same storage as the claim: a rollback after a mistake, not a backup.`,
    "",
    ...code("sh", [
      `kubectl get volumesnapshot -n ${ns} -o json | jq -r '.items[] | select(.spec.source.persistentVolumeClaimName == "${claim}") | [.metadata.name, .status.creationTime, .status.readyToUse] | @tsv' | sort -k2`,
    ]),
    "A new claim from one snapshot (mount it beside the app to copy files back, or point the app at it):",
    "",
    ...code("sh", ["kubectl apply -f - <<'EOF'", ...stringify(pvc).trimEnd().split("\n"), "EOF"]),
  ];
}

// ---------------------------------------------------------------------------------------------
// CloudNativePG
// ---------------------------------------------------------------------------------------------

function pgbackrestRepos(config: StackConfig, item: PlannedItem): Array<{ repo: number; copy: PlannedCopy }> {
  return item.copies.filter((c) => c.method === "pgbackrest").map((copy) => ({ repo: pgbackrestRepoEnv(config, item, copy).repo, copy }));
}

function pgbackrestCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const cluster = cnpgClusterName(config, item);
  const ns = item.namespace;
  const env = pgbackrestRepoEnv(config, item, copy);
  const toolEnv: ToolEnv = { template: { ...env.settings, ...env.template }, values: env.values };
  const database = config.apps[item.app].databases[item.name];
  const owned = database.engine === "cnpg" && database.owned;
  const restoreName = kubeName([cluster, "restore"]);
  const stanzaName = kubeName([cluster, "restore", copy.destination]);
  // The program's Stanza with only this repository: the restore reads this copy and no other.
  const only = stanza(config, { ...item, copies: [copy] }) as { metadata: Record<string, unknown>; spec: unknown };
  const restoreStanza = { ...only, metadata: { name: stanzaName, namespace: ns } };
  const restored = {
    apiVersion: CNPG_API,
    kind: "Cluster",
    metadata: { name: restoreName, namespace: ns },
    spec: {
      instances: 1,
      imageName: database.engine === "cnpg" ? database.imageName : undefined,
      storage: { size: owned && database.storage ? database.storage : "${SIZE}", storageClass: config.cluster.storageClass },
      // The plugin serves the WAL during recovery; it is not the WAL archiver, so the restored
      // cluster never writes into the original's repository.
      plugins: [{ name: PGBACKREST_PLUGIN, enabled: true, isWALArchiver: false, parameters: { stanzaRef: stanzaName } }],
      bootstrap: { recovery: { source: "origin", recoveryTarget: { targetTime: "${TARGET_TIME}" } } },
      externalClusters: [{ name: "origin", plugin: { name: PGBACKREST_PLUGIN, parameters: { stanzaRef: stanzaName } } }],
    },
  };
  const clusterYaml = stringify(restored).replace("targetTime: ${TARGET_TIME}", 'targetTime: "${TARGET_TIME}"');
  return [
    `### From \`${copy.destination}\`: pgBackRest repo${env.repo}, bucket \`${copy.location}\``,
    "",
    ...credentialBlocks(config, toolEnv, pgbackrestSecretRecipe(config, item)),
    "#### What the repository holds",
    "",
    ...code("sh", [`# stanza ${cluster}, repo${env.repo} = s3://${copy.location}/${cluster}`, `pgbackrest --repo=${env.repo} info`]),
    "#### Point-in-time recovery into a new Cluster",
    "",
    `A new Cluster \`${restoreName}\` beside \`${cluster}\`, recovered from repo${env.repo} only (a restore Stanza \`${stanzaName}\` that lists just this repository) up to \`TARGET_TIME\` (UTC; leave out \`recoveryTarget\` for the newest WAL). The Secret \`${pgbackrestSecretRecipe(config, item).name}\` the Stanza reads must exist in \`${ns}\` (its ExternalSecret creates it).`,
    "",
    ...code("sh", [
      "TARGET_TIME='<YYYY-MM-DD HH:MM:SS+00>'   # just before the mistake",
      ...(owned && database.engine === "cnpg" && database.storage ? [] : [`SIZE=$(kubectl get cluster -n ${ns} ${cluster} -o jsonpath='{.spec.storage.size}')   # or the size it had`]),
      "kubectl apply -f - <<'EOF'",
      ...stringify(restoreStanza).trimEnd().split("\n"),
      "EOF",
      "kubectl apply -f - <<EOF",
      ...clusterYaml.trimEnd().split("\n"),
      "EOF",
      `kubectl get cluster -n ${ns} ${restoreName} -w   # until "Cluster in healthy state"`,
    ]),
    `Then check the data (\`kubectl cnpg psql -n ${ns} ${restoreName}\`), and either point the app at the service \`${restoreName}-rw\` or copy what was lost back into \`${cluster}\`. Delete \`${restoreName}\` and the Stanza \`${stanzaName}\` when done.`,
    "",
    "#### By hand, without the operator",
    "",
    "With the credentials above and the same PostgreSQL major version:",
    "",
    ...code("sh", [
      `pgbackrest --repo=${env.repo} restore --pg1-path="$PWD/pgdata" --type=time --target='<YYYY-MM-DD HH:MM:SS+00>' --target-action=promote`,
      `# or the newest: pgbackrest --repo=${env.repo} restore --pg1-path="$PWD/pgdata"`,
      'pg_ctl -D "$PWD/pgdata" start',
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Dumps
// ---------------------------------------------------------------------------------------------

/** A grep -E pattern for an item's dump files in a listing. */
function dumpPattern(item: PlannedItem): string {
  return `/${item.name.replace(/[.[\]\\*^$+?(){}|]/g, "\\$&")}-[0-9]{8}T[0-9]{6}Z\\.`;
}

function nasDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const colon = copy.location.indexOf(":");
  const server = copy.location.slice(0, colon);
  const dir = `${copy.location.slice(colon + 1)}/${repositoryPath(item, copy)}`;
  return [
    `### From \`${copy.destination}\`: the newest dump on the NAS`,
    "",
    `The dump jobs write \`${dumpDirectory(config, item.app)}/${item.name}-<UTC time>.<ext>\` (the share mounted at \`${dumpDirectory(config, item.app).split("/").slice(0, 2).join("/")}\`); on the NAS that is \`${copy.location}/${repositoryPath(item, copy)}\`.`,
    "",
    ...code("sh", [`NEWEST=$(ssh ${server} "ls -1 ${dir}/${item.name}-${STAMP_GLOB}.*" | tail -n 1)`, `scp "${server}:$NEWEST" .`]),
  ];
}

function resticDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const recipe = offsiteSecretRecipe(config, item, copy);
  const dir = dumpDirectory(config, item.app);
  const filter = `--tag ${RESTIC_TAG} --path ${dir}`;
  return [
    `### From \`${copy.destination}\`: restic copy of the dump directory, bucket \`${copy.location}\``,
    "",
    `Repository \`${resticRepository(config, item, copy)}\`: snapshots of \`${dir}\` tagged \`${RESTIC_TAG}\`, shared by every dump of ${item.app}.`,
    "",
    ...credentialBlocks(config, recipe, recipe),
    ...code("sh", [
      `# RESTIC_REPOSITORY is ${resticRepository(config, item, copy)}`,
      `restic snapshots ${filter}`,
      `NEWEST=$(restic ls latest ${filter} | grep -E '${dumpPattern(item)}' | sort | tail -n 1)`,
      `restic restore latest ${filter} --target ./restore --include "$NEWEST"`,
      'cp "./restore$NEWEST" .',
    ]),
  ];
}

function rsyncDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const target = config.destinations[copy.destination];
  if (target.kind !== "ssh") return [];
  const recipe = offsiteSecretRecipe(config, item, copy);
  const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
  const remote = `${target.user}@${copy.location.replace(/^[^:]*:/, `${target.host}:`)}/${repositoryPath(item, copy)}`;
  const ssh = `ssh -i ./offsite-key -o UserKnownHostsFile=./known_hosts -o StrictHostKeyChecking=yes -p ${target.port}`;
  return [
    `### From \`${copy.destination}\`: rsync copy of the dump directory on \`${target.host}\``,
    "",
    `Plain files in \`${copy.location}/${repositoryPath(item, copy)}\` (not encrypted), reached with the SSH key the offsite job uses.`,
    "",
    ...code("sh", [
      "umask 077",
      `${secretRead(recipe.namespace, recipe.name, "ssh-private-key")} > ./offsite-key   # cluster running`,
      `# or after losing the cluster: ${storeRead(config, keyItem, keyField)} > ./offsite-key`,
      `printf '%s\\n' ${shellQuote(recipe.template.known_hosts.replace(/\n$/, ""))} > ./known_hosts`,
      `NEWEST=$(rsync -e '${ssh}' --list-only '${remote}/' | awk '{print $NF}' | grep -E '^${dumpPattern(item).slice(1)}' | sort | tail -n 1)`,
      `rsync -e '${ssh}' "${remote}/$NEWEST" .`,
    ]),
  ];
}

/** How to load the fetched dump: once per item, after its copies. */
function loadSection(config: StackConfig, item: PlannedItem): Lines {
  const dump = item.copies.find((c) => c.method === "dump");
  if (!dump) return [];
  const ns = item.namespace;
  const head = [anchor(`${runbookAnchor(item)}-load`), `### Load the dump`, ""];
  if (item.kind === "postgres") {
    const db = config.apps[item.app].databases[item.name];
    if (db.engine !== "postgres") return [];
    const secret = dumpSecretRecipe(config, item)!.name;
    const pod = kubeName([item.app, item.name, "restore"]);
    const command = db.database === "all" ? ["psql", "--dbname=postgres", "--set=ON_ERROR_STOP=1"] : ["pg_restore", "--clean", "--if-exists", "--no-owner", `--dbname=${db.database}`];
    const overrides = {
      apiVersion: "v1",
      spec: { containers: [{ name: pod, image: config.images.postgres, stdin: true, command, envFrom: [{ secretRef: { name: secret } }] }] },
    };
    return [
      ...head,
      `Stop the app first. A pod in \`${ns}\` reads the server's address and credentials from the dump job's Secret \`${secret}\` (store item \`${db.credentialsRef}\`) and loads the file from stdin:`,
      "",
      ...code("sh", [
        `${db.database === "all" ? "gunzip -c" : "cat"} ./${item.name}-*.${db.database === "all" ? "sql.gz" : "dump"} | kubectl run -n ${ns} ${pod} -i --rm --restart=Never --image=${config.images.postgres} \\`,
        `  --overrides=${shellQuote(JSON.stringify(overrides))}`,
      ]),
    ];
  }
  if (item.kind === "sqlite") {
    const file = config.apps[item.app].sqlite[item.name];
    const job = dumpCronJob(config, item, dump) as { spec: { jobTemplate: { spec: { template: { spec: { securityContext: { runAsUser: number } } } } } } };
    const uid = job.spec.jobTemplate.spec.template.spec.securityContext.runAsUser;
    const pod = kubeName([item.app, item.name, "restore"]);
    const manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod, namespace: ns },
      spec: {
        securityContext: { runAsUser: uid, runAsNonRoot: true, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
          {
            name: "restore",
            image: config.images.sqlite,
            command: ["sleep", "3600"],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            volumeMounts: [{ name: "data", mountPath: "/target" }],
          },
        ],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: file.claim } }],
      },
    };
    return [
      ...head,
      `Check the file, stop the app (\`${file.claim}\` is mounted by one node at a time), then put it in place of \`${file.path}\` on claim \`${file.claim}\` through a helper pod that runs as the file's owner (${uid}):`,
      "",
      ...code("sh", [
        `gunzip -c ./${item.name}-*.sqlite.gz > ./restored.sqlite`,
        `sqlite3 ./restored.sqlite 'PRAGMA integrity_check'   # ok`,
        workloadsOf(ns, file.claim),
        `kubectl scale -n ${ns} deployment/<workload> --replicas=0`,
        "kubectl apply -f - <<'EOF'",
        ...stringify(manifest).trimEnd().split("\n"),
        "EOF",
        `kubectl wait -n ${ns} pod/${pod} --for=condition=Ready --timeout=5m`,
        `kubectl exec -n ${ns} ${pod} -- rm -f '/target${file.path}-wal' '/target${file.path}-shm'`,
        `kubectl cp ./restored.sqlite ${ns}/${pod}:/target${file.path}`,
        `kubectl delete pod -n ${ns} ${pod}`,
        `kubectl scale -n ${ns} deployment/<workload> --replicas=1`,
      ]),
    ];
  }
  if (item.kind === "redis") {
    const redis = config.apps[item.app].redis[item.name];
    return [
      ...head,
      `Redis loads an RDB file only at start. Check it, then with Redis at \`${redis.host}\` stopped put it into its data directory as its \`dbfilename\` (with \`appendonly no\`, or the AOF wins), and start it:`,
      "",
      ...code("sh", [
        `gunzip -c ./${item.name}-*.rdb.gz > ./dump.rdb`,
        "redis-check-rdb ./dump.rdb",
        `# where it reads from (REDISCLI_AUTH from the dump job's Secret when the server has a password):`,
        `kubectl exec -n ${ns} <redis pod> -- redis-cli CONFIG GET dir`,
        `kubectl exec -n ${ns} <redis pod> -- redis-cli CONFIG GET dbfilename`,
      ]),
      "A Redis used only as a queue or cache (a Celery broker) can also start empty.",
      "",
    ];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// TrueNAS datasets and hosts
// ---------------------------------------------------------------------------------------------

function zfsSnapshots(config: StackConfig, item: PlannedItem, copies: PlannedCopy[]): Lines {
  const dataset = config.truenas!.datasets[item.name].dataset;
  const target = truenasTarget(config);
  const mountpoint = `"$(zfs get -H -o value mountpoint ${dataset})"`;
  return [
    `### From \`${copies[0].destination}\`: ZFS snapshots of \`${dataset}\``,
    "",
    `TrueNAS keeps ${copies.map((c) => `${describeCopyRetention(c.retention)} (${c.schedule.description})`).join(" and ")}. Same pool as the data: a rollback, not a backup. In the UI: Datasets, \`${dataset}\`, Data Protection, Manage Snapshots (Rollback, or Clone to New Dataset).`,
    "",
    ...code("sh", [
      `ssh -p ${target.port} ${target.user}@${target.host}`,
      ...copies.map((c) => `zfs list -H -t snapshot -o name,creation -s creation ${dataset} | grep '^${c.location}-'`),
      "# one file or directory: every snapshot is browsable read-only",
      `ls ${mountpoint}/.zfs/snapshot/`,
      `cp -a ${mountpoint}/.zfs/snapshot/<snapshot name after @>/<path> <where>`,
      "# the whole dataset beside the live one",
      `zfs clone ${dataset}@<snapshot name after @> ${dataset}-restore`,
      "# or in place: destroys every newer snapshot and all changes since",
      `zfs rollback -r ${dataset}@<snapshot name after @>`,
    ]),
  ];
}

/** The Cloud Sync task the program installs for a copy, as its payload (no secrets in it). */
function cloudSyncSpec(config: StackConfig, item: PlannedItem, copy: PlannedCopy): { description: string; path: string; attributes: { bucket: string; folder: string } } | undefined {
  for (const task of datasetTasks(config, item)) {
    const match = /HB_TASK_PAYLOAD='((?:[^']|'\\'')*)'/.exec(task.create);
    if (!match) continue;
    const payload = JSON.parse(match[1].replace(/'\\''/g, "'")) as { description: string; path: string; attributes?: { bucket: string; folder: string } };
    if (payload.attributes?.bucket === copy.location) return payload as { description: string; path: string; attributes: { bucket: string; folder: string } };
  }
  return undefined;
}

/** The drill objects of a copy (a drill of another copy of the item, pointed at this one). */
function drillFor(config: StackConfig, plan: BackupPlan, item: PlannedItem, copy: PlannedCopy) {
  const job = plan.jobs.find((j) => j.kind === "restore-drill" && j.itemId === item.id);
  const base: PlannedJob = job ?? { id: `${item.id}/drill@${copy.destination}`, kind: "restore-drill", app: item.app, itemId: item.id, namespace: item.namespace, destination: copy.destination, controller: "cronjob", schedule: copy.schedule };
  return restoreDrill(config, item, { ...base, copyId: copy.id, destination: copy.destination });
}

function cloudSyncCopy(config: StackConfig, plan: BackupPlan, item: PlannedItem, copy: PlannedCopy): Lines {
  const spec = cloudSyncSpec(config, item, copy);
  const folder = spec?.attributes.folder ?? item.name;
  const drill = drillFor(config, plan, item, copy);
  const container = (drill.cronJob as { spec: { jobTemplate: { spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } } } }).spec.jobTemplate.spec.template.spec.containers[0];
  const settings = Object.fromEntries((container.env ?? []).filter((e) => e.name.startsWith("RCLONE_CONFIG_OFFSITE_") && e.value !== undefined).map((e) => [e.name, e.value!]));
  const secret = drill.secret!;
  const keyEnv: ToolEnv = {
    template: Object.fromEntries(Object.entries(secret.template).filter(([key]) => key.startsWith("RCLONE_CONFIG_OFFSITE_"))),
    values: secret.values,
  };
  const field = (name: string) => secret.values.find((v) => v.field === name);
  const password = field("cloudsync-password");
  const salt = field("cloudsync-salt");
  const lines: Lines = [
    `### From \`${copy.destination}\`: Cloud Sync copy in bucket \`${copy.location}\`, folder \`${folder}\``,
    "",
    "Encrypted with rclone crypt (contents; file names readable with a `.bin` suffix), pushed in COPY mode: files deleted on the NAS stay here.",
    "",
    "**On TrueNAS** (the NAS and its Cloud Sync credential still exist): Data Protection, Cloud Sync Tasks," +
      (spec ? ` the task \`${spec.description}\` (path \`${spec.path}\`),` : "") +
      " Restore: Transfer Mode COPY into a new directory, then move what you need. The restore task reuses the task's encryption password and salt.",
    "",
    "**Anywhere, with rclone** (also after losing the NAS):",
    "",
    ...code("sh", [
      "export RCLONE_CONFIG=/dev/null",
      ...Object.entries(settings).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
      ...fromStore(config, keyEnv),
      "export RCLONE_CONFIG_ENCRYPTED_TYPE=crypt",
      `export RCLONE_CONFIG_ENCRYPTED_REMOTE=${shellQuote(`offsite:${copy.location}/${folder}`)}`,
      "export RCLONE_CONFIG_ENCRYPTED_FILENAME_ENCRYPTION=off",
      "export RCLONE_CONFIG_ENCRYPTED_DIRECTORY_NAME_ENCRYPTION=true",
      ...(password ? [`export RCLONE_CONFIG_ENCRYPTED_PASSWORD="$(${storeRead(config, password.item, password.field)} | rclone obscure -)"`] : []),
      ...(salt ? [`export RCLONE_CONFIG_ENCRYPTED_PASSWORD2="$(${storeRead(config, salt.item, salt.field)} | rclone obscure -)"`] : []),
      "rclone lsf -R encrypted: | head -n 50",
      "rclone copy 'encrypted:<path>' './restore/<path>'   # one file or directory",
      "rclone copy encrypted: ./restore --progress         # everything",
    ]),
  ];
  return lines;
}

function hostCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const target = hostTarget(config, item);
  const task = hostTask(config, item, copy);
  const environmentFile = hostBackupPaths(task.name).environmentFile;
  const repository = resticRepository(config, item, copy);
  const own = storeItem(config.cluster.name, item.app);
  const fields = bucketFields({ destination: copy.destination, credential: credentialKindOf(copy.method)! });
  const destination = config.destinations[copy.destination];
  const env: ToolEnv = {
    template: {
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: "{{ .password }}",
      AWS_ACCESS_KEY_ID: "{{ .id }}",
      AWS_SECRET_ACCESS_KEY: "{{ .secret }}",
      AWS_DEFAULT_REGION: destination.kind === "b2" ? destination.region : "auto",
    },
    values: [
      { variable: "password", item: own, field: "restic-password" },
      { variable: "id", item: own, field: fields.accessKeyId },
      { variable: "secret", item: own, field: fields.secretAccessKey },
    ],
  };
  return [
    `### From \`${copy.destination}\`: restic repository in bucket \`${copy.location}\``,
    "",
    `Repository \`${repository}\`, snapshots of host \`${item.name}\`; written by \`${unitNames(task.name).service}\`.`,
    "",
    `On the host, as root, the backup's own environment file \`${environmentFile}\` opens it:`,
    "",
    ...code("sh", [`ssh -p ${target.port} ${target.user}@${target.host}`, `set -a; . ${environmentFile}; set +a`]),
    `From any machine (the host is gone), from the store (${storeName(config)}):`,
    "",
    ...code("sh", fromStore(config, env)),
    "Then:",
    "",
    ...code("sh", [
      `# RESTIC_REPOSITORY is ${repository}`,
      `restic snapshots --host ${item.name}`,
      `restic ls latest --host ${item.name} | head -n 50`,
      `restic restore latest --host ${item.name} --target ./restore --include '<path>'   # one file or directory`,
      `restic restore latest --host ${item.name} --target /mnt/newroot                   # everything, onto a reinstalled machine's disk`,
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Drills and verifications
// ---------------------------------------------------------------------------------------------

function runNow(namespace: string, cronJob: string): Lines {
  const job = kubeName([cronJob, "manual"]);
  return [
    `kubectl delete job -n ${namespace} ${job} --ignore-not-found`,
    `kubectl create job -n ${namespace} --from=cronjob/${cronJob} ${job}`,
    `kubectl logs -n ${namespace} -f job/${job} --all-containers`,
  ];
}

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
    if (item.kind === "cnpg") ownerIds.add(cnpgOwner(cnpgClusterName(config, item)));
    if (item.copies.some((c) => c.method === "truenas-cloudsync")) ownerIds.add("truenas");
  }
  const owners = allOwners.filter((o) => ownerIds.has(o.id));
  const storeLines = owners.map(
    (o) =>
      `- \`${o.item}\`: ${[...o.passwords, ...o.bucketCredentials.flatMap((c) => Object.values(bucketFields(c)))].map((f) => `\`${f}\``).join(", ")}`,
  );
  const userRefs = new Set<string>();
  for (const item of app.items) {
    if (item.kind === "postgres") {
      const db = config.apps[item.app].databases[item.name];
      if (db.engine === "postgres") userRefs.add(`\`${db.credentialsRef}\` (username, password) for the dump of ${item.name}`);
    }
    if (item.kind === "redis") {
      const ref = config.apps[item.app].redis[item.name].passwordRef;
      if (ref) userRefs.add(`\`${ref}\` for Redis ${item.name}`);
    }
    for (const copy of item.copies) {
      const target = config.destinations[copy.destination];
      if (target?.kind === "ssh") userRefs.add(`\`${sshKeyRef(copy.destination, target.privateKeyRef).join("/")}\`: the SSH key of \`${copy.destination}\``);
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
  if (app.namespace === "") {
    const kind = app.items[0]?.kind;
    lines.push(
      "**Order.** This data lives outside the cluster; its copies do not need it:",
      "",
      kind === "dataset"
        ? `1. Restore the dataset from a Cloud Sync copy (sections above; rclone works without TrueNAS), or from its snapshots if the pool survived.`
        : `1. Reinstall the host, install restic, restore from a repository above with the store's credentials.`,
      "2. `pulumi up` the stack again: it reinstalls the tasks and timers over SSH (the pinned host keys must still match, or update them in the config).",
      `3. Run the drill now (see [drills](#${drillsAnchor(app.items[0])})) to prove the backups run again.`,
      "",
    );
    return lines;
  }
  const kinds = new Set(app.items.map((i) => i.kind));
  const operators = [
    kinds.has("volume") ? `VolSync (\`${volsyncChart(config).chart}\` ${volsyncChart(config).version} in \`${volsyncChart(config).namespace}\`)` : undefined,
    kinds.has("volume") ? `the CSI snapshot controller (\`${snapshotControllerChart(config).chart}\`) and SnapScheduler (\`${snapschedulerChart(config).chart}\`)` : undefined,
    `External Secrets with the ${config.secretStore.kind} \`${config.secretStore.name}\` (${config.secretStore.provider})`,
    kinds.has("cnpg") ? `CloudNativePG and the \`${PGBACKREST_PLUGIN}\` plugin` : undefined,
  ].filter(Boolean);
  lines.push(
    "**Order.**",
    "",
    `1. A cluster with the storage class \`${config.cluster.storageClass}\` and the VolumeSnapshotClass \`${config.cluster.volumeSnapshotClass}\`, then the operators: ${operators.join(", ")}${config.operators.volsync.manage ? " (the stack installs the ones with `manage: true`)" : ""}.`,
    `2. The store's access (for 1Password: the service account token Secret), then \`pulumi up --refresh\` with this stack's config: Pulumi's state still lists the old cluster's objects, and only a refresh shows them gone, so a plain \`pulumi up\` would create nothing. It recreates the credentials' ExternalSecrets, which read the same store items, so the same repositories open. Check them:`,
    "",
    ...code("sh", [`kubectl get externalsecret -n ${app.namespace}${kinds.has("cnpg") ? ` && kubectl get externalsecret -n ${[...new Set(app.items.filter((i) => i.kind === "cnpg").map((i) => i.namespace))].join(" ")}` : ""}   # all SecretSynced`]),
    "3. Restore the data before the app starts:",
    "",
  );
  for (const item of app.items) {
    if (item.kind === "volume") {
      const volume = config.apps[item.app].volumes[item.name];
      const boot = bootstrap(config, item, volume, config.images);
      if (boot) {
        const rd = (boot.destination.metadata as { name: string }).name;
        const check = boot.check && (boot.check.metadata as { name: string }).name;
        lines.push(
          `   - volume \`${item.name}\`: restored by \`pulumi up --refresh\` itself: ReplicationDestination \`${rd}\` fills the new claim \`${claimOf(item, volume)}\`${check ? `, after the Job \`${check}\` proved the repository holds a backup (if it fails, fix the repository or credentials; do not skip it)` : ""}. Watch: \`kubectl get replicationdestination -n ${item.namespace} ${rd} -w\`.`,
        );
      } else if (item.copies.some((c) => c.method === "volsync-restic" || c.method === "volsync-kopia")) {
        lines.push(`   - volume \`${item.name}\`: create the claim \`${claimOf(item, volume)}\` empty, then [restore the whole volume](#${copyAnchor(item, item.copies[0])}) before the app starts.`);
      } else {
        lines.push(`   - volume \`${item.name}\`: only local snapshots, which were lost with the storage: starts empty.`);
      }
    } else if (item.kind === "cnpg") {
      const cluster = cnpgClusterName(config, item);
      const database = config.apps[item.app].databases[item.name];
      const manifest = {
        apiVersion: CNPG_API,
        kind: "Cluster",
        metadata: { name: cluster, namespace: item.namespace },
        spec: {
          plugins: [pluginEntry(config, item)],
          bootstrap: { recovery: { source: "origin" } },
          externalClusters: [{ name: "origin", plugin: { name: PGBACKREST_PLUGIN, parameters: { stanzaRef: cluster } } }],
        },
      };
      lines.push(
        `   - CNPG \`${cluster}\`: give your Cluster manifest this bootstrap (instead of initdb) before it is first applied, so it recovers the newest WAL from the Stanza \`${cluster}\` the stack recreated (both repositories) and then archives on into it on a new timeline${database.engine === "cnpg" && database.owned ? "; the stack owns this Cluster (`owned: true`): apply it so before `pulumi up` creates it empty, or recover into a new Cluster as above and switch" : ""}:`,
        "",
        ...code("yaml", stringify(manifest).trimEnd().split("\n")).map((l) => (l ? `     ${l}` : l)),
      );
    } else if (item.kind === "postgres" || item.kind === "sqlite" || item.kind === "redis") {
      lines.push(`   - ${item.kind} \`${item.name}\`: once its server or volume is back, [load the newest dump](#${runbookAnchor(item)}-load) from the first copy that still exists.`);
    }
  }
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
