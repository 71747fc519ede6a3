/**
 * What the program asks of a backup method and of a kind of data. Free of Pulumi: the planner,
 * the renderers and the policy pack read these; components wire what they declare.
 *
 * A *data kind* (volume, cnpg, sqlite, dataset, host, ...) says where items of its kind are
 * configured and which method copies one to a given destination. A *method* (volsync-restic,
 * pgbackrest, dump-restic, ...) says how its copies are scheduled, kept, located and checked.
 * One folder under methods/ registers one or more of each (methods/registry.ts).
 */
import type { StackConfig } from "../domain/config/schema";
import type { BackupPlan, Controller, CopyMethod, CopyRetention, DataKind, DestinationKind, JobKind, PlannedCopy, PlannedItem } from "../domain/model";
import type { ScheduleSpec } from "../domain/schedule";
import type { Retention, Site, Tier } from "../domain/tiers";
import type { CredentialKind, R2LockPrefix } from "../domain/storage";
import type { PasswordName } from "../domain/secrets";
import type { DrillContext, DrillObjects } from "../domain/drills";
import type { VerificationContext } from "../domain/verification";
import type { AlertContext, AlertRule } from "../domain/alerts";
import type { DeclaredCopy } from "../domain/protection";
import type { BackupGraph, CopyEvidence, DataNode } from "../policies/graph";
import type { PolicyResource } from "@pulumi/policy";
import type { StoreValue } from "../domain/repositories";
import type { Notify } from "../domain/jobs/scripts";
import type { DumpEngine as DumpVerifyEngine } from "../domain/jobs/drills";

/** What every data owner (an app, a dataset, a host) may say about its copies. */
export interface OwnerPolicy {
  tier: Tier;
  schedule?: { onsite?: string; offsite?: string };
  retention?: { onsite?: Retention; offsite?: Retention };
  rpoHours?: number;
}

/** An item of data before its copies are planned. */
export interface ItemDraft extends Pick<PlannedItem, "id" | "app" | "configPath" | "kind" | "name" | "namespace" | "expectedBytes"> {
  owner: OwnerPolicy;
  destinations: string[];
  /** The volume's claim or the dataset's name, for local snapshot locations. */
  snapshotSubject?: string;
}

/** A copy before the schedules of the whole stack are spread. */
export interface CopyDraft {
  item: ItemDraft;
  destination: string;
  kind: DestinationKind;
  method: CopyMethod;
  spec: ScheduleSpec;
  specText: string;
  retention: CopyRetention;
}

/** Scheduled work a method needs besides its copies (repository maintenance, full backups). */
export interface JobDraft {
  id: string;
  kind: JobKind;
  app: string;
  itemId?: string;
  namespace: string;
  destination: string;
  controller: Controller;
  spec: ScheduleSpec;
  group: string;
  gapMinutes?: number;
}

export interface RetentionContext {
  config: StackConfig;
  item: ItemDraft;
  site: Site;
  destination: string;
}

/** How a method's repositories are checked by the scheduled verification jobs. */
export interface MethodVerification {
  /** The repository a copy lives in: copies that share one share one verification. */
  repository(item: PlannedItem, copy: PlannedCopy): string;
  /** Fewest days between two runs, whatever the tier asks (a whole-repository read is expensive). */
  minIntervalDays?: number;
  /** The check reads the whole repository every run rather than a share of it. */
  readsWholeRepository?: boolean;
  /** The check takes the repository's exclusive lock and the mover does not wait: keep it off frequent backups. */
  locksRepository?: boolean;
  /** The Secret recipe and CronJob that check the repository. */
  job(context: VerificationContext): DrillObjects;
}

/** The alert rules of a method's copies, in the PrometheusRule of the item's app. */
export interface MethodAlerts {
  /** Rules of one copy. */
  copy?(context: AlertContext, item: PlannedItem, copy: PlannedCopy): AlertRule[];
  /** Rules of all of an item's copies by this method at once (metrics per item, not per copy). */
  item?(context: AlertContext, item: PlannedItem, copies: PlannedCopy[]): AlertRule[];
}

/** A copy's access to its bucket in object storage: one credential per consumer per bucket. */
export interface MethodStorage {
  /** What the credential is for; also its name in the store ("<destination>-<credential>-..."). */
  credential: CredentialKind;
  /** Who the credential is for (default: the app); copies with one owner share one credential. */
  owner?(config: StackConfig, item: PlannedItem): string;
  /** The owner's part of its rotation key `rotations."<owner>/<destination>-<credential>"` (default: the owner). */
  rotationOwner?(owner: string): string;
  /** The key prefix the consumer works under (B2 keys are restricted to it); none: the whole bucket. */
  keyPrefix?(item: PlannedItem): string;
  /** The secret owner holding the credential, from its `owner` (default: the same). */
  secretOwner?(owner: string): string;
  /** What an R2 bucket lock protects of a repository at `path` (see domain/storage.ts r2LockPrefixes). */
  lockPrefixes(path: string): R2LockPrefix[];
}

/** The passwords that open a method's repositories, kept in the secret store under their owner. */
export interface MethodSecrets {
  /** The store item's owner (default: the app): the CNPG cluster for pgBackRest. */
  owner?(config: StackConfig, item: PlannedItem): string;
  /** Every password the copy needs; the first decrypts it. */
  passwords: readonly PasswordName[];
}

/** One row of the recovery sheet: what a person needs to restore the copy by hand. */
export interface RecoveryEntry {
  tool: string;
  /** Repository, bucket path or directory to restore from. */
  repository: string;
  /** One hint on the restore command. */
  how: string;
}

/** What the recovery sheet knows of the copy's store item and NAS location. */
export interface RecoveryContext {
  config: StackConfig;
  item: PlannedItem;
  copy: PlannedCopy;
  /** On the NAS, the share's path of the repository (the in-pod mount path means nothing to a person). */
  onNas?: string;
}

/** The runbook page's part of a method: its tools and the restore section of its copies. */
export interface MethodRunbook {
  /** Command-line tools its restore commands use ("restic", "kopia", "jq", ...). */
  tools: readonly string[];
  /** How to restore from one copy (snapshots: from all of one item's snapshot copies). */
  section(config: StackConfig, plan: BackupPlan, item: PlannedItem, copies: PlannedCopy[]): string[];
}

/** The runbook page's part of a data kind. */
export interface DataKindRunbook {
  /** What the item is and where it lives, the first lines of its section. */
  intro(config: StackConfig, item: PlannedItem): string[];
  /** How to put restored files back into the running service (dumps), after the copies' sections. */
  load?(config: StackConfig, item: PlannedItem): string[];
  /** Secrets of the user's own in the store a restore needs besides the stack's (a database login). */
  userSecrets?(config: StackConfig, item: PlannedItem): string[];
  /** The operators the item's restore needs in a new cluster, for the lost-cluster order. */
  operators?(config: StackConfig): string[];
  /** The lost-cluster step that brings the item back before its app starts (indented list lines). */
  afterLostCluster?(config: StackConfig, item: PlannedItem): string[];
  /** The first step of restoring a machine's data (datasets, hosts) when everything is gone. */
  machineRestore?: string;
}

export interface BackupMethod {
  id: CopyMethod;
  /** What the copy is, in a few words, for plan tables, runbooks and alerts. */
  label: string;
  controller: Controller;
  /** Encrypted by the backup tool itself, so the storage provider sees only ciphertext. */
  encrypted: boolean;
  /** A snapshot on the live data's own storage: a rollback, not an independent copy. */
  snapshot?: boolean;
  /** WAL archiving: recovery points are minutes old, not a schedule apart. */
  continuous?: boolean;
  /** The tool deletes old snapshots itself (restic forget), so it must keep those a lock still holds. */
  forgetsSnapshots?: boolean;
  /** Where in the bucket (or directory) the copy's repository lives; "" for snapshots. */
  repositoryPath(config: StackConfig, item: Pick<PlannedItem, "app" | "name" | "kind">): string;
  /** How the copy reaches object storage; none for copies that never go there. */
  storage?: MethodStorage;
  /** What the bucket or directory holding this copy is for: "volsync", "kopia", "dumps", "pg-<cluster>". */
  bucketPurpose(config: StackConfig, item: ItemDraft): string;
  retention(context: RetentionContext): CopyRetention;
  /** Copies with one key share one scheduled run (default: the copy's own id). */
  scheduleKey?(copy: CopyDraft, copyId: string): string;
  /** Runs of one group keep apart (default: the item's copies). */
  scheduleGroup?(copy: CopyDraft): string;
  /** Least minutes between two runs of one group. */
  gapMinutes?: number;
  /** Where the copy lives when it is not in a destination's bucket or directory (snapshots). */
  location?(copy: CopyDraft): string;
  /** Scheduled work of this copy besides the copy itself. */
  jobs?(copy: CopyDraft): JobDraft[];
  /** A restore drill knows how to restore this copy. */
  drillable: boolean;
  /** The Kubernetes objects of a drill of this copy that runs in the cluster. */
  drill?(context: DrillContext): DrillObjects;
  verification?: MethodVerification;
  alerts?: MethodAlerts;
  /** How the policy pack finds the resources that make this copy. */
  evidence?: MethodEvidence;
  runbook: MethodRunbook;
  secrets?: MethodSecrets;
  /** The recovery sheet's row for an independent copy. */
  recovery?(context: RecoveryContext): RecoveryEntry;
}

/**
 * What the policy pack reads from the resources of a stack to believe a declared copy: which
 * resource makes it and where it writes, what it keeps and how often it runs.
 */
export interface MethodEvidence {
  follow(graph: BackupGraph, node: DataNode, declared: DeclaredCopy): CopyEvidence;
  /** The recovery points the resource keeps (default: none known). */
  retention?(graph: BackupGraph, evidence: CopyEvidence, resource: PolicyResource): Retention | undefined;
  /** Worst-case age in hours of the newest recovery point (default: unknown). */
  rpoHours?(graph: BackupGraph, evidence: CopyEvidence, resource: PolicyResource): number | undefined;
}

/** The outcome of asking a data kind how an item reaches one destination. */
export type MethodChoice = { method: CopyMethod } | { reason: string };

export interface DataKindPlugin {
  kind: DataKind;
  /** The key of an app's config its items come from ("volumes", "databases"): the plan lists an app's items section by section, by name. */
  configSection: string;
  /** Items of this kind in one app (app data kinds). */
  appItems?(config: StackConfig, appName: string, base: AppItemBase): ItemDraft[];
  /** Items of this kind outside the cluster's apps (TrueNAS datasets, hosts). */
  machineItems?(config: StackConfig): ItemDraft[];
  /** The method that copies `item` to a destination of `kind`, or why none can; `chosen` are the methods of its earlier destinations. */
  methodFor(config: StackConfig, item: ItemDraft, kind: DestinationKind, chosen: readonly CopyMethod[]): MethodChoice;
  /** The method of its local snapshots, one copy per snapshot period the tier keeps. */
  snapshotMethod?: CopyMethod;
  /** Reorders or adjusts an item's copies once all are drafted (pgBackRest's repository order). */
  arrangeCopies?(config: StackConfig, item: ItemDraft, copies: CopyDraft[]): CopyDraft[];
  /** Who runs its restore drills: a CronJob in the cluster, or systemd on the machine. */
  drillController: Controller;
  runbook: DataKindRunbook;
  /** Alert rules of the item itself, after its copies' (a volume's restore-once bootstrap). */
  alerts?(context: AlertContext, item: PlannedItem): AlertRule[];
  /** How the dump method dumps and loads items of this kind. */
  dump?: DumpEngine;
}

/** How the dump method dumps an item of a kind to one file and proves the file by loading it. */
export interface DumpEngine {
  /** The image with the engine's client tools: it writes the dump, and loads it in drills. */
  image(config: StackConfig): string;
  /** The engine's part of the dump job's Secret: the server's address and the user's credentials. */
  credentials?(config: StackConfig, item: PlannedItem): { values: StoreValue[]; template: Record<string, string> };
  /** The dump job's script, who it runs as, and the app claim it reads (file databases). */
  job(config: StackConfig, item: PlannedItem, o: { keepLast: number; dir: string; notify: Notify }): DumpJob;
  /** How the drill loads the fetched dump (dumpVerifyScript's engine) and how long it may take. */
  drill(config: StackConfig, item: PlannedItem): { engine: DumpVerifyEngine; uid?: number; deadlineSeconds: number };
}

export interface DumpJob {
  script: string;
  uid: number;
  gid: number;
  /** The app's claim, mounted at SOURCE_MOUNT: the job runs beside the app's pods (`affinity`). */
  sourceClaim?: string;
  affinity?: Record<string, unknown>;
}

/** What every app item starts from. */
export interface AppItemBase {
  app: string;
  configPath: string;
  namespace: string;
  owner: OwnerPolicy;
  destinations: string[];
}

/** A folder under methods/: the data kinds and methods it registers. */
export interface MethodPlugin {
  dataKinds?: readonly DataKindPlugin[];
  methods?: readonly BackupMethod[];
}
