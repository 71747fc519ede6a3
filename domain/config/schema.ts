/**
 * The stack config contract: every key under `homelab-backups:` in Pulumi.<stack>.yaml.
 * docs/config.md is generated from this file (`npm run docs`); descriptions here are the docs.
 */
import { z } from "zod";
import { cnpgScheduleError, isValidTimeZone, parseSchedule, SCHEDULE_HELP } from "../schedule";
import { DNS_LABEL, DNS_LABEL_HELP } from "../naming";
import { QUANTITY, QUANTITY_HELP, quantityBytes } from "../quantity";
import { DEFAULT_IMAGES, isPinned } from "../images";
import { TIER_DEFINITIONS } from "../tiers";
import { readWritePathError } from "../hostBackup";
import { isObjectStorage, objectStorageKinds } from "../../destinations/registry";

export const PROJECT = "homelab-backups";

const dnsLabel = () => z.string().max(63, { error: "must be at most 63 characters" }).regex(DNS_LABEL, { error: `must be ${DNS_LABEL_HELP}` });
const quantity = () => z.string().regex(QUANTITY, { error: `must be ${QUANTITY_HELP}` });
/** A size that must not be zero: a claim or cache of 0 bytes cannot hold anything. */
const size = () => quantity().refine((value) => !QUANTITY.test(value) || quantityBytes(value) > 0, { error: "must be larger than zero" });
const hostname = () =>
  z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, { error: "must be a hostname or IP address" });
const absolutePath = () => z.string().regex(/^\/[^\0]*$/, { error: "must be an absolute path starting with /" });
const storeKey = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._ -]*)+$/, {
      error: 'must be a secret-store reference "<item>/<field>", e.g. "offsite-nas/ssh-private-key"',
    });
const storeItem = () =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'must be the name of a secret-store item, e.g. "paperless-postgres"' });
const secretString = () => z.string().min(1, { error: "must not be empty" });

const schedule = () =>
  z.string().superRefine((value, ctx) => {
    const parsed = parseSchedule(value);
    if ("error" in parsed) ctx.addIssue({ code: "custom", message: parsed.error, input: value });
  });

const count = () => z.int({ error: "must be a whole number" }).min(0, { error: "must be 0 or more" });

export const retentionSchema = z
  .strictObject({
    hourly: count().optional().describe("Hourly recovery points kept"),
    daily: count().optional().describe("Daily recovery points kept"),
    weekly: count().optional().describe("Weekly recovery points kept"),
    monthly: count().optional().describe("Monthly recovery points kept"),
    yearly: count().optional().describe("Yearly recovery points kept"),
  })
  .describe("Grandfather-father-son retention");

const scheduleOverride = z
  .strictObject({
    onsite: schedule().optional().describe(`Schedule of copies on the NAS: ${SCHEDULE_HELP}`),
    offsite: schedule().optional().describe("Schedule of copies that leave the site"),
  })
  .describe("Schedules, in the cluster timezone; keywords are spread over the clock");

const retentionOverride = z
  .strictObject({
    onsite: retentionSchema.optional().describe("Retention on on-site destinations"),
    offsite: retentionSchema.optional().describe("Retention on offsite destinations"),
  })
  .describe("Retention per site");

/** CephFS classes: movers on them corrupt sparse files on restore. Also the policy pack's default. */
export const DEFAULT_MOVER_DENYLIST = ["ceph-filesystem", "cephfs", "csi-cephfs-sc"] as const;

export const clusterSchema = z
  .strictObject({
    name: dnsLabel().describe("Cluster name; part of bucket names, repository paths and Kopia identities"),
    timezone: z
      .string()
      .refine(isValidTimeZone, { error: 'must be an IANA time zone such as "Europe/Berlin" or "UTC"' })
      .default("UTC")
      .describe("Time zone every schedule is written in; UTC-only controllers get shifted crons"),
    storageClass: z.string().min(1).describe("Default StorageClass of app volumes and mover copies (block storage)"),
    volumeSnapshotClass: z.string().min(1).describe("VolumeSnapshotClass used for copy-on-snapshot backups"),
    moverStorageClassDenylist: z
      .array(z.string().min(1))
      .default([...DEFAULT_MOVER_DENYLIST])
      .describe("StorageClasses movers must never use (CephFS corrupts sparse files on restore)"),
    kubeContext: z.string().min(1).optional().describe("kubeconfig context to deploy to (default: the current context)"),
    systemNamespace: dnsLabel().default("backup-system").describe("Locked-down namespace for generated credentials and shared jobs"),
    backupWindow: z
      .strictObject({
        start: z
          .string()
          .regex(/^([01]\d|2[0-3]):00$/, { error: 'must be a whole hour "HH:00", e.g. "01:00"' })
          .default("01:00")
          .describe("First hour daily and weekly copies may start, local time"),
        hours: z.int().min(1).max(12).default(6).describe("Hours the window spans"),
        weeklyDay: z
          .enum(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
          .default("sun")
          .describe("Day of week for weekly jobs"),
      })
      .prefault({})
      .describe("When daily and weekly jobs run"),
  })
  .describe("The Kubernetes cluster being backed up");

export const secretStoreSchema = z
  .strictObject({
    kind: z.enum(["ClusterSecretStore", "SecretStore"]).default("ClusterSecretStore").describe("ESO store kind"),
    name: dnsLabel().default("onepassword").describe("ESO store name"),
    provider: z
      .enum(["onepassword-sdk", "kubernetes"])
      .default("onepassword-sdk")
      .describe("Where credentials live: 1Password (SDK provider) or the in-cluster kubernetes provider for trying it out"),
    vault: z.string().min(1).default("homelab").describe("1Password vault holding the backup items"),
    manage: z
      .boolean()
      .default(false)
      .describe("Create the 1Password store too (the kubernetes provider's store is always created)"),
    serviceAccountSecret: z
      .strictObject({
        name: dnsLabel().default("onepassword-service-account").describe("Secret holding the 1Password service account token"),
        key: z.string().min(1).default("token").describe("Key of the token in that Secret"),
        namespace: dnsLabel().default("external-secrets").describe("Namespace of that Secret"),
      })
      .prefault({})
      .describe("Where a managed 1Password store finds its token (needs read and write on the vault)"),
    refreshInterval: z
      .string()
      .regex(/^\d+[smh]$/, { error: 'must be a duration such as "1h" or "30m"' })
      .default("1h")
      .describe("How often ExternalSecrets and PushSecrets sync"),
  })
  .describe("The External Secrets Operator store app credentials come from");

const immutable = () =>
  z
    .boolean()
    .default(true)
    .describe("Lock tier-1 copies against deletion from the cluster; false leaves them deletable (and fails the immutable-offsite-required rule)");

const lockDays = () =>
  z
    .int()
    .min(1)
    .max(365)
    .default(14)
    .describe("Days a tier-1 object stays undeletable from the cluster (keep it at most the offsite daily retention)");

const destinationCommon = {
  pricePerTbMonth: z.number().min(0).optional().describe("Storage price per TB-month, overriding pricing defaults"),
};

const nfsDestination = z.strictObject({
  kind: z.literal("nfs").describe("On-site NAS share over NFS"),
  server: hostname().describe("NFS server"),
  path: absolutePath().describe("Exported backup share"),
  ...destinationCommon,
});

const b2Destination = z.strictObject({
  kind: z.literal("b2").describe("Backblaze B2, offsite"),
  accountId: z
    .string()
    .regex(/^[0-9a-f]{12}$/, { error: "must be the 12-hex-digit B2 account id" })
    .describe("B2 account id (not secret); makes bucket names globally unique"),
  region: z
    .string()
    .regex(/^[a-z]{2}-[a-z]+-\d{3}$/, { error: 'must be a B2 region such as "us-east-005"' })
    .describe("B2 region, from the account's S3 endpoint s3.<region>.backblazeb2.com"),
  bucketPrefix: dnsLabel().optional().describe("Bucket name prefix (default: the cluster name)"),
  immutable: immutable(),
  lockDays: lockDays(),
  ...destinationCommon,
});

const r2Destination = z.strictObject({
  kind: z.literal("r2").describe("Cloudflare R2, offsite"),
  accountId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex-digit Cloudflare account id" })
    .describe("Cloudflare account id (not secret)"),
  jurisdiction: z.enum(["default", "eu", "fedramp"]).default("default").describe("R2 jurisdiction"),
  location: z
    .enum(["apac", "eeur", "enam", "weur", "wnam", "oc"])
    .optional()
    .describe("Location hint, honoured only when a bucket is created"),
  bucketPrefix: dnsLabel().optional().describe("Bucket name prefix (default: the cluster name)"),
  immutable: immutable(),
  lockDays: lockDays(),
  ...destinationCommon,
});

const unixUser = () => z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: "must be a Unix user name" });
const hostKey = () =>
  z
    .string()
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, {
      error: 'must be a public host key line "<type> <base64>", e.g. from `ssh-keyscan -t ed25519 <host>`',
    })
    .describe("Pinned host key; connections to any other key fail");

const sshDestination = z.strictObject({
  kind: z.literal("ssh").describe("Offsite NAS reached by rsync over SSH"),
  host: hostname().describe("SSH host"),
  port: z.int().min(1).max(65535).default(22).describe("SSH port"),
  user: unixUser().describe("SSH user"),
  path: absolutePath().describe("Directory backups are written under"),
  hostKey: hostKey(),
  privateKeyRef: storeKey().optional().describe('Secret-store reference of the client key (default "<destination>/ssh-private-key")'),
  ...destinationCommon,
});

export const destinationSchema = z.discriminatedUnion("kind", [nfsDestination, b2Destination, r2Destination, sshDestination]);

const volumeSchema = z.strictObject({
  claim: dnsLabel().optional().describe("PersistentVolumeClaim name (default: the volume's key)"),
  capacity: size().describe("Claim size"),
  mover: z.enum(["restic", "kopia"]).default("restic").describe("restic (upstream VolSync) or kopia (the perfectra1n fork)"),
  uid: z.int().min(0).default(1000).describe("User id owning the files; movers run as it"),
  gid: z.int().min(0).default(1000).describe("Group id owning the files"),
  storageClass: z
    .string()
    .min(1)
    .optional()
    .describe("StorageClass of the claim (default: cluster.storageClass); another class needs its own volumeSnapshotClass"),
  volumeSnapshotClass: z
    .string()
    .min(1)
    .optional()
    .describe("VolumeSnapshotClass of the claim's copies and CSI snapshots, of its StorageClass's CSI driver (default: cluster.volumeSnapshotClass, when the claim is on cluster.storageClass)"),
  restoreOnBootstrap: z
    .boolean()
    .default(false)
    .describe("Create the claim from the latest backup (restore-once) when it does not exist yet"),
  allowEmptyRestore: z
    .boolean()
    .default(false)
    .describe("Tier 1 bootstraps stop when the repository has no backup of this volume; set true for the very first deploy"),
  cacheCapacity: size().default("2Gi").describe("Mover cache size, independent of the data size"),
  expectedSize: quantity().optional().describe("Expected data size, for cost estimates (default: capacity)"),
  canary: z
    .boolean()
    .optional()
    .describe("Write a canary file (.homelab-backups-canary) to the claim's root daily before the drilled backup, and make the restore drill find it (default: true when the volume is drilled)"),
  appSelector: z
    .record(z.string(), z.string())
    .optional()
    .describe("Labels of the app's pods that mount the claim: the canary job runs on their node, as a ReadWriteOnce claim needs (default app.kubernetes.io/name: <app>)"),
});

const cnpgDatabase = z.strictObject({
  engine: z.literal("cnpg").describe("A CloudNativePG cluster, backed up by the pgBackRest plugin"),
  cluster: dnsLabel().optional().describe("CNPG Cluster name (default: the database's key)"),
  namespace: dnsLabel().optional().describe("Namespace of the Cluster (default: the app's namespace)"),
  owned: z
    .boolean()
    .default(false)
    .describe("true: this program owns the whole Cluster; false: only its backup plugin entry is patched in"),
  schedule: z
    .string()
    .superRefine((value, ctx) => {
      const error = cnpgScheduleError(value);
      // The same check as the policy pack's rule, named so the two read as one.
      if (error) ctx.addIssue({ code: "custom", message: `${error} (policy cnpg-schedule-six-fields)`, input: value });
    })
    .optional()
    .describe("Six-field schedule (seconds first) of the daily backup, overriding the spread default"),
  retention: z
    .strictObject({
      full: z.int().min(1).optional().describe("Full backups kept (one a week)"),
      diff: z.int().min(1).optional().describe("Differential backups kept"),
      archive: z.int().min(1).optional().describe("Keep WAL for the newest N full backups (pgBackRest counts backups, not days)"),
      historyDays: z.int().min(0).optional().describe("Days of backup history manifests"),
    })
    .optional()
    .describe("pgBackRest retention per repository (default: the tier's)"),
  instances: z.int().min(1).default(3).describe("owned: instances of the Cluster"),
  storage: quantity().optional().describe("owned: volume size of each instance (required when owned)"),
  imageName: z
    .string()
    .refine(isPinned, { error: "must be pinned to an exact version tag or a digest" })
    .default("ghcr.io/cloudnative-pg/postgresql:18.1")
    .describe("PostgreSQL image of the Cluster (when owned) and of its restore drill: the Cluster's major version"),
  expectedSize: quantity().optional().describe("Expected database size, for cost estimates"),
});

const postgresDump = z.strictObject({
  engine: z.literal("postgres").describe("A plain PostgreSQL server, dumped by a CronJob"),
  host: hostname().describe("Server host (a Service name works)"),
  port: z.int().min(1).max(65535).default(5432).describe("Server port"),
  database: z.string().min(1).default("all").describe('Database to pg_dump, or "all" for pg_dumpall'),
  credentialsRef: storeItem().describe("Secret-store item with username and password fields"),
  expectedSize: quantity().optional().describe("Expected dump size, for cost estimates"),
});

const sqliteSchema = z.strictObject({
  claim: dnsLabel().describe("Claim holding the database file"),
  path: absolutePath().describe('Path of the database file from the root of the claim, e.g. "/db.sqlite3"'),
  uid: z.int().min(1).optional().describe("User owning the file; the dump runs as it (default: the claim's volume owner, or 1000)"),
  appSelector: z
    .record(z.string(), z.string())
    .optional()
    .describe("Labels of the app's pods: the dump runs on their node, as a ReadWriteOnce claim needs (default app.kubernetes.io/name: <app>)"),
  expectedSize: quantity().optional().describe("Expected size, for cost estimates"),
});

const redisSchema = z.strictObject({
  host: hostname().describe("Redis host"),
  port: z.int().min(1).max(65535).default(6379).describe("Redis port"),
  passwordRef: storeKey().optional().describe("Secret-store reference of the Redis password"),
  expectedSize: quantity().optional().describe("Expected RDB size, for cost estimates"),
});

export const appSchema = z.strictObject({
  namespace: dnsLabel().optional().describe("Namespace of the app (default: the app's key)"),
  tier: z.literal([1, 2, 3]).describe("Data tier: 1 irreplaceable, 2 important, 3 replaceable"),
  destinations: z.array(dnsLabel()).optional().describe("Destinations of this app's copies (default: its tier's)"),
  schedule: scheduleOverride.optional(),
  retention: retentionOverride.optional(),
  rpoHours: z.number().positive().optional().describe("Recovery point objective, stricter than the tier's"),
  volumes: z.record(dnsLabel(), volumeSchema).default({}).describe("Volumes backed up with VolSync"),
  databases: z
    .record(dnsLabel(), z.discriminatedUnion("engine", [cnpgDatabase, postgresDump]))
    .default({})
    .describe("PostgreSQL databases"),
  sqlite: z.record(dnsLabel(), sqliteSchema).default({}).describe("SQLite files backed up with the online backup API"),
  redis: z.record(dnsLabel(), redisSchema).default({}).describe("Redis instances backed up as RDB snapshots"),
  kopiaMirrors: z
    .array(dnsLabel())
    .default([])
    .describe(
      "Offsite b2/r2 destinations the app's NAS Kopia repository is mirrored to daily (kopia repository sync-to --delete), into the Kopia bucket of the app's own copies there; in this order, an hour apart from an hour into the backup window",
    ),
});

/** What the app cross-checks below read: shapes declared above, so the stack schema's own type stays out of them. */
interface AppReferences {
  cluster: { storageClass: string; volumeSnapshotClass: string; moverStorageClassDenylist: string[] };
  destinations: Record<string, { kind: string }>;
  tiers: Partial<Record<"1" | "2" | "3", { destinations?: string[] } | undefined>>;
  apps: Record<string, z.output<typeof appSchema>>;
}

/**
 * Checks between an app's volumes and the rest of the stack: a claim on another StorageClass names
 * the VolumeSnapshotClass of that class's driver, and a Kopia mirror has a NAS repository to read
 * and a Kopia bucket of the app's to write to.
 */
function checkAppVolumes(config: AppReferences, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const cluster = config.cluster;
  for (const [appName, app] of Object.entries(config.apps)) {
    for (const [volumeName, volume] of Object.entries(app.volumes)) {
      if (volume.storageClass === undefined || volume.storageClass === cluster.storageClass || volume.volumeSnapshotClass) continue;
      // A denylisted class is refused for itself (the cross-checks say why): that comes first.
      if (cluster.moverStorageClassDenylist.includes(volume.storageClass)) continue;
      issue(
        ["apps", appName, "volumes", volumeName, "volumeSnapshotClass"],
        `is required: the claim is on StorageClass "${volume.storageClass}", not cluster.storageClass "${cluster.storageClass}", whose VolumeSnapshotClass "${cluster.volumeSnapshotClass}" belongs to another CSI driver; ` +
          `set apps.${appName}.volumes.${volumeName}.volumeSnapshotClass to a VolumeSnapshotClass of ${volume.storageClass}'s driver`,
      );
    }
    const kopia = Object.values(app.volumes).filter((volume) => volume.mover === "kopia");
    const tierKey = String(app.tier) as "1" | "2" | "3";
    const kinds: readonly string[] = TIER_DEFINITIONS[app.tier].defaults.destinationKinds;
    const destinations =
      app.destinations ?? config.tiers[tierKey]?.destinations ?? Object.keys(config.destinations).filter((name) => kinds.includes(config.destinations[name].kind));
    if (app.kopiaMirrors.length === 0) continue;
    const mirrorsPath = ["apps", appName, "kopiaMirrors"];
    const listed = `apps.${appName}.destinations${app.destinations ? "" : ` (or tiers.${tierKey}.destinations)`}`;
    if (kopia.length === 0) {
      issue(mirrorsPath, "mirrors the app's NAS Kopia repository, but no volume of the app uses mover: kopia");
      continue;
    }
    if (!destinations.some((name) => config.destinations[name]?.kind === "nfs")) {
      issue(mirrorsPath, `mirrors the app's NAS Kopia repository, but the app's destinations (${destinations.join(", ") || "none"}) include no nfs destination; add one to ${listed}`);
      continue;
    }
    if (kopia[0].uid === 0) {
      issue(mirrorsPath, "the mirror reads the NAS repository as the files' owner, here uid 0, which Pod Security restricted does not admit; run the app's Kopia volumes as a non-root uid");
    }
    app.kopiaMirrors.forEach((name, index) => {
      const path = [...mirrorsPath, index];
      const kind = config.destinations[name]?.kind;
      if (app.kopiaMirrors.indexOf(name) !== index) issue(path, `"${name}" is listed twice`);
      else if (kind === undefined) issue(path, `unknown destination "${name}"; configured destinations: ${Object.keys(config.destinations).join(", ") || "none"}`);
      else if (!isObjectStorage(kind)) issue(path, `"${name}" is a ${kind} destination; Kopia mirrors go to ${objectStorageKinds()} object storage`);
      else if (!destinations.includes(name)) {
        issue(path, `"${name}" is not one of the app's destinations (${destinations.join(", ")}): the mirror lands in the Kopia bucket of the app's own copies there; add it to ${listed}`);
      }
    });
  }
}

const datasetSchema = z.strictObject({
  dataset: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.: -]*)+$/, { error: 'must be a ZFS dataset "<pool>/<name>", e.g. "storage0/images"' })
    .describe("ZFS dataset"),
  tier: z.literal([1, 2, 3]).describe("Data tier: 1 irreplaceable, 2 important, 3 replaceable"),
  path: absolutePath().optional().describe("Mountpoint cloud sync reads (default /mnt/<dataset>)"),
  recursive: z.boolean().default(false).describe("Snapshot child datasets too"),
  destinations: z.array(dnsLabel()).optional().describe("Offsite destinations of the cloud sync (default: the tier's b2/r2)"),
  schedule: scheduleOverride.optional(),
  retention: retentionOverride.optional(),
  expectedSize: quantity().optional().describe("Expected data size, for cost estimates"),
});

export const truenasSchema = z
  .strictObject({
    host: hostname().describe("TrueNAS SCALE host, reached over SSH to run the middleware client (midclt)"),
    port: z.int().min(1).max(65535).default(22).describe("SSH port"),
    user: unixUser().default("root").describe("SSH user allowed to run midclt"),
    hostKey: hostKey(),
    cloudCredentials: z
      .record(dnsLabel(), z.int().min(1))
      .default({})
      .describe("TrueNAS cloud credential id per offsite destination (System > Credentials > Backup Credentials)"),
    datasets: z.record(dnsLabel(), datasetSchema).default({}).describe("Datasets: periodic snapshots, and cloud sync offsite where the tier asks"),
  })
  .describe("The TrueNAS box: snapshot and cloud sync tasks managed over SSH");

const hostSchema = z.strictObject({
  host: hostname().describe("SSH host"),
  port: z.int().min(1).max(65535).default(22).describe("SSH port"),
  user: unixUser().default("root").describe("SSH user with root rights (the backup reads every file)"),
  hostKey: hostKey(),
  tier: z.literal([1, 2, 3]).describe("Data tier: 1 irreplaceable, 2 important, 3 replaceable"),
  paths: z.array(absolutePath()).min(1).describe("Paths to back up"),
  excludes: z.array(z.string().min(1)).default([]).describe("restic --exclude patterns"),
  preHook: z.string().min(1).optional().describe('Shell run before the backup, e.g. "pg_dumpall > /var/backup/pg.sql"'),
  postHook: z.string().min(1).optional().describe("Shell run after the backup, even when it failed"),
  readWritePaths: z
    .array(
      z.string().superRefine((path, ctx) => {
        const error = readWritePathError(path);
        if (error) ctx.addIssue({ code: "custom", message: error, input: path });
      }),
    )
    .default([])
    .describe("Paths the hooks write, e.g. /var/backup for the preHook's dump: the service sees everything else read-only (ProtectSystem=strict); each must exist on the host"),
  destinations: z.array(dnsLabel()).optional().describe("Offsite destinations (default: the tier's b2/r2)"),
  schedule: scheduleOverride.optional(),
  retention: retentionOverride.optional(),
  expectedSize: quantity().optional().describe("Expected data size, for cost estimates"),
});

const tierOverride = z.strictObject({
  destinations: z.array(dnsLabel()).optional().describe("Destinations of the tier's copies"),
  schedule: scheduleOverride.optional(),
  retention: retentionOverride.optional(),
  dumpKeep: count().optional().describe("Dump files kept on the NAS"),
  snapshots: retentionSchema.optional().describe("Local snapshots kept, per period (CSI snapshots of volumes, ZFS snapshots of datasets)"),
  restoreDrillDays: count().optional().describe("Longest time between restore drills, days (0: none); drills run weekly below 31, monthly from 31, quarterly from 92, yearly from 366"),
  mirrorHistoryDays: count().optional().describe("Days B2 keeps replaced and deleted files of TrueNAS Cloud Sync copies (their point-in-time history)"),
  verifyDays: count()
    .optional()
    .describe("Days between integrity checks of each repository (0: none); each check reads a share of the data so that all of it is read every 28 days"),
});

export const tiersSchema = z
  .strictObject({
    "1": tierOverride.optional().describe("Tier 1: irreplaceable"),
    "2": tierOverride.optional().describe("Tier 2: important"),
    "3": tierOverride.optional().describe("Tier 3: replaceable"),
  })
  .describe("Per-tier defaults that override the built-in tier definition");

export const notificationsSchema = z
  .strictObject({
    ntfy: z
      .strictObject({
        url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as "https://ntfy.sh/my-backups"' }).describe("Topic URL"),
        tokenRef: storeKey().optional().describe("Secret-store reference of an access token"),
      })
      .describe("ntfy topic that receives success and failure messages"),
    healthchecks: z
      .strictObject({
        url: z.url({ protocol: /^https?$/ }).default("https://hc-ping.com").describe("Ping endpoint"),
        pingKeyRef: storeKey().describe("Secret-store reference of the project ping key; checks are pinged by slug"),
      })
      .optional()
      .describe("Optional healthchecks.io dead-man's switch per job"),
  })
  .describe("Where backup jobs report");

export const alertsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Create PrometheusRules (needs the prometheus-operator CRDs, kube-state-metrics and the CNPG and VolSync metrics scraped)"),
    runbookBaseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as "https://github.com/me/homelab/blob/main/docs/runbooks"' })
      .optional()
      .describe("Where docs/runbooks is published; alerts link <url>/<app>.md#<item> (default: the repository-relative path)"),
    ruleLabels: z
      .record(z.string().min(1), z.string())
      .default({})
      .describe('Labels every PrometheusRule carries, for Prometheus\' ruleSelector (e.g. release: kube-prometheus-stack)'),
  })
  .describe("Prometheus alerts for stale, failed and stuck backups, with severities by tier");

export const pricingSchema = z
  .strictObject({
    currency: z.string().length(3).default("USD").describe("Currency of the prices"),
    b2PerTbMonth: z.number().min(0).default(6.95).describe("Backblaze B2 price per TB-month"),
    r2PerTbMonth: z.number().min(0).default(15).describe("Cloudflare R2 price per TB-month"),
    sshPerTbMonth: z.number().min(0).default(0).describe("Offsite NAS cost per TB-month"),
    nfsPerTbMonth: z.number().min(0).default(0).describe("On-site NAS cost per TB-month"),
    historyOverhead: z
      .number()
      .min(1)
      .default(1.3)
      .describe("Stored bytes per live byte once retention history accumulates"),
  })
  .describe("Prices for the monthly cost estimate in BACKUP-PLAN.md");

const destinationCredentials = z.strictObject({
  applicationKeyId: secretString().optional().describe("b2: id of a key with listBuckets, writeBuckets, listKeys, writeKeys, deleteKeys"),
  applicationKey: secretString().optional().describe("b2: that key's secret"),
  apiToken: secretString().optional().describe("r2: Cloudflare API token with R2 and API-token write"),
  sshPrivateKey: secretString().optional().describe('"truenas" and hosts: the private key Pulumi connects with'),
});

export const credentialsSchema = z
  .record(dnsLabel(), destinationCredentials)
  .default({})
  .describe('Secret, set with `pulumi config set --secret --path`: per destination, "truenas" or host, the credentials Pulumi itself uses');

const imageRef = () =>
  z.string().refine(isPinned, { error: 'must be pinned to an exact version tag or a digest, e.g. "docker.io/restic/restic:0.18.1" or "...@sha256:<digest>"' });

export const imagesSchema = z
  .strictObject(
    Object.fromEntries(
      Object.entries(DEFAULT_IMAGES).map(([name, image]) => [name, imageRef().default(image).describe(`Image for ${name} jobs`)]),
    ) as { [K in keyof typeof DEFAULT_IMAGES]: z.ZodDefault<z.ZodString> },
  )
  .describe("Container images of generated jobs, pinned; add digests to pin them fully");

export const operatorsSchema = z
  .strictObject({
    volsync: z
      .strictObject({
        manage: z.boolean().default(false).describe("Install VolSync with a pinned Helm chart (false: you install it, e.g. with Flux)"),
        flavor: z
          .enum(["auto", "upstream", "kopia-fork"])
          .default("auto")
          .describe("upstream backube/volsync, or the perfectra1n fork that adds Kopia (auto: the fork when a volume uses kopia)"),
        namespace: dnsLabel().default("volsync-system").describe("Namespace of the release"),
      })
      .prefault({})
      .describe("VolSync operator"),
    snapshotController: z
      .strictObject({
        manage: z.boolean().default(false).describe("Install the CSI snapshot controller with a pinned Helm chart"),
        namespace: dnsLabel().default("kube-system").describe("Namespace of the release"),
      })
      .prefault({})
      .describe("CSI snapshot controller (VolumeSnapshots)"),
    snapscheduler: z
      .strictObject({
        manage: z.boolean().default(false).describe("Install SnapScheduler with a pinned Helm chart"),
        namespace: dnsLabel().default("snapscheduler").describe("Namespace of the release"),
      })
      .prefault({})
      .describe("SnapScheduler (scheduled CSI snapshots)"),
  })
  .describe("Operators the program may install; most homelabs install them with Flux");

export const rotationsSchema = z
  .record(
    z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, { error: 'must be "<owner>/<credential>", e.g. "immich/b2-kopia" or "immich/restic-password"' }),
    count(),
  )
  .default({})
  .describe("Rotation counters: raise one to replace just that generated credential (see README, Rotation)");

export const stackConfigSchema = z.strictObject({
  cluster: clusterSchema,
  secretStore: secretStoreSchema.prefault({}),
  destinations: z.record(dnsLabel(), destinationSchema).default({}).describe("Where copies go, by name"),
  apps: z.record(dnsLabel(), appSchema).default({}).describe("Apps whose data is backed up, by name"),
  tiers: tiersSchema.prefault({}),
  notifications: notificationsSchema.optional(),
  alerts: alertsSchema.prefault({}),
  pricing: pricingSchema.prefault({}),
  credentials: credentialsSchema,
  truenas: truenasSchema.optional(),
  hosts: z.record(dnsLabel(), hostSchema).default({}).describe("Machines outside the cluster backed up with restic through systemd timers"),
  rotations: rotationsSchema,
  images: imagesSchema.prefault({}),
  operators: operatorsSchema.prefault({}),
}).superRefine((config, ctx) => checkAppVolumes(config, ctx));

export type StackConfig = z.output<typeof stackConfigSchema>;
export type StackConfigInput = z.input<typeof stackConfigSchema>;
export type AppConfig = z.output<typeof appSchema>;
export type DestinationConfig = z.output<typeof destinationSchema>;
export type VolumeConfig = z.output<typeof volumeSchema>;
export type DatabaseConfig = AppConfig["databases"][string];
export type SqliteConfig = z.output<typeof sqliteSchema>;
export type RedisConfig = z.output<typeof redisSchema>;
export type TierOverride = z.output<typeof tierOverride>;
export type DatasetConfig = z.output<typeof datasetSchema>;
export type HostConfig = z.output<typeof hostSchema>;

/** Top-level keys that hold secrets; their values never appear in messages. */
export const SECRET_KEYS = ["credentials"] as const;
