/**
 * Safety rules for what the program puts in the cluster: secrets only through ExternalSecrets,
 * schedules that mean what they say, movers off storage that corrupts restores, repositories
 * that cannot collide, and backup jobs operators can trust.
 */
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { DEFAULT_MOVER_DENYLIST } from "../domain/config/schema";
import { LABELS } from "../domain/naming";
import { restrictedViolations } from "../domain/podSecurity";
import { cnpgScheduleError, isValidTimeZone, MINUTES_PER_WEEK, standardOffsetMinutes, weeklyStartMinutes } from "../domain/schedule";
import { describeMinuteOfWeek } from "../domain/spread";
import { BackupGraph, namespaceOf, nameOf, scheduleError, TYPES } from "./graph";

// `any`: manifests are walked by field name, as the API server reads them.
type Json = Record<string, any>;

/** The namespace generated credentials live in: where the PushSecrets are. */
function systemNamespaces(graph: BackupGraph): Set<string> {
  return new Set(graph.of("kubernetes:external-secrets.io/v1alpha1:PushSecret").map((push) => namespaceOf(push)!).filter(Boolean));
}

/** Every Secret a workload or backup object in the cluster reads, by namespace. */
function secretReferences(resource: PolicyResource): string[] {
  const props = resource.props as Json;
  const spec = props.spec ?? {};
  const names: unknown[] = [];
  if (resource.type === TYPES.replicationSource || resource.type === TYPES.replicationDestination) {
    names.push(spec.restic?.repository, spec.kopia?.repository);
  } else if (resource.type === TYPES.kopiaMaintenance) {
    names.push(spec.repository?.repository);
  } else if (resource.type === TYPES.stanza) {
    for (const repo of (spec.stanzaConfiguration?.s3Repositories ?? []) as Json[]) {
      names.push(repo.cipherConfig?.encryptionPass?.name, repo.secretRef?.accessKeyId?.name, repo.secretRef?.secretAccessKey?.name);
    }
  } else if (resource.type === TYPES.cronJob || resource.type === TYPES.job) {
    const pod = (resource.type === TYPES.cronJob ? spec.jobTemplate?.spec?.template?.spec : spec.template?.spec) ?? {};
    for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as Json[]) {
      for (const from of (container.envFrom ?? []) as Json[]) names.push(from.secretRef?.name);
      for (const env of (container.env ?? []) as Json[]) names.push(env.valueFrom?.secretKeyRef?.name);
    }
    for (const volume of (pod.volumes ?? []) as Json[]) names.push(volume.secret?.secretName);
  }
  return [...new Set(names.filter((name): name is string => typeof name === "string" && name.length > 0))];
}

const CONSUMER_TYPES = [TYPES.replicationSource, TYPES.replicationDestination, TYPES.kopiaMaintenance, TYPES.stanza, TYPES.cronJob, TYPES.job];

export const secretsFromExternalSecrets: StackValidationPolicy = {
  name: "secrets-from-external-secrets",
  description: "No Kubernetes Secret with literal data outside the locked-down system namespace; every Secret a backup object reads is built by an ExternalSecret in its namespace.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, report) => {
    const graph = new BackupGraph(args.resources);
    const system = systemNamespaces(graph);
    const consumers = CONSUMER_TYPES.flatMap((type) => graph.of(type));
    const secrets = graph.of(TYPES.secret);
    if (consumers.length === 0 && secrets.length === 0) args.notApplicable("no Secrets and nothing that reads one");
    for (const secret of secrets) {
      const props = secret.props as Json;
      const literal = Object.keys(props.data ?? {}).length + Object.keys(props.stringData ?? {}).length > 0;
      if (literal && !system.has(namespaceOf(secret) ?? "")) {
        report(
          `Secret ${namespaceOf(secret)}/${nameOf(secret)} holds literal data outside ${[...system].join(", ") || "the system namespace"}: anyone who can read that namespace reads the credential, and a rebuilt cluster loses it. Deliver it with an ExternalSecret from the store.`,
          secret.urn,
        );
      }
    }
    for (const consumer of consumers) {
      const namespace = namespaceOf(consumer);
      for (const name of secretReferences(consumer)) {
        if (graph.externalSecretFor(namespace, name)) continue;
        report(
          `${(consumer.props as Json).kind} ${namespace}/${nameOf(consumer)} reads Secret ${name}, which no ExternalSecret in ${namespace} builds: it would be missing on a rebuilt cluster, or hold literal credentials. Build it with an ExternalSecret.`,
          consumer.urn,
        );
      }
    }
  },
};

export const cnpgScheduleSixFields: ResourceValidationPolicy = {
  name: "cnpg-schedule-six-fields",
  description: "CloudNativePG ScheduledBackup schedules have six fields, seconds first: a five-field string silently runs hourly.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.scheduledBackup) return args.notApplicable("not a CNPG ScheduledBackup");
    const props = args.props as Json;
    const schedule = String(props.spec?.schedule ?? "");
    const error = cnpgScheduleError(schedule);
    if (error === undefined) return;
    const app = props.metadata?.labels?.[LABELS.app];
    reportViolation(
      `ScheduledBackup ${props.metadata?.namespace}/${props.metadata?.name}${app ? ` (app ${app})` : ""}: schedule "${schedule}" ${error}. ` +
        "Write CNPG schedules with six fields, seconds first (apps.<app>.databases.<db>.schedule in the stack config).",
    );
  },
};

/** Cron strings of objects whose controller reads five-field crons, and the zone they are read in. */
function cronOf(type: string, props: Json): { cron: string; timeZone?: string } | undefined {
  switch (type) {
    case TYPES.cronJob:
      return { cron: props.spec?.schedule, timeZone: props.spec?.timeZone };
    case TYPES.replicationSource:
    case TYPES.replicationDestination:
    case TYPES.kopiaMaintenance:
      return props.spec?.trigger?.schedule !== undefined ? { cron: props.spec.trigger.schedule } : undefined;
    case TYPES.snapshotSchedule:
      return { cron: props.spec?.schedule };
    default:
      return undefined;
  }
}

export const cronSchedulesValid: ResourceValidationPolicy = {
  name: "cron-schedules-valid",
  description: "Every cron string of a CronJob, ReplicationSource, KopiaMaintenance or SnapshotSchedule is a valid five-field expression, and a CronJob's timeZone exists.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    const props = args.props as Json;
    const schedule = cronOf(args.type, props);
    if (!schedule) return args.notApplicable("no cron schedule");
    const where = `${props.kind} ${props.metadata?.namespace}/${props.metadata?.name}`;
    const error = typeof schedule.cron === "string" ? scheduleError(schedule.cron) : "is missing";
    if (error || String(schedule.cron).trim().split(/\s+/).length === 6) {
      reportViolation(`${where}: schedule "${schedule.cron}" ${error ?? "has six fields; this controller takes five"}.`);
    }
    if (schedule.timeZone !== undefined && !isValidTimeZone(schedule.timeZone)) {
      reportViolation(`${where}: timeZone "${schedule.timeZone}" is not an IANA time zone; the CronJob would never run.`);
    }
  },
};

export const moverStorageClassAllowed: ResourceValidationPolicy = {
  name: "mover-storage-class-allowed",
  description: "VolSync movers never put their snapshot copies or caches on a denylisted StorageClass (CephFS corrupts sparse files on restore), and name their classes explicitly.",
  enforcementLevel: "mandatory",
  severity: "high",
  configSchema: {
    properties: {
      deniedStorageClasses: {
        type: "array",
        items: { type: "string" },
        default: [...DEFAULT_MOVER_DENYLIST],
        description: "StorageClasses movers must never use (keep in step with cluster.moverStorageClassDenylist)",
      },
    },
  },
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.replicationSource && args.type !== TYPES.replicationDestination) return args.notApplicable("not a VolSync mover");
    const { deniedStorageClasses } = args.getConfig<{ deniedStorageClasses: string[] }>();
    const props = args.props as Json;
    const mover = props.spec?.restic ?? props.spec?.kopia;
    if (!mover) return args.notApplicable("not a restic or Kopia mover");
    const where = `${props.kind} ${props.metadata?.namespace}/${props.metadata?.name}`;
    if (mover.storageClassName === undefined) {
      reportViolation(`${where} leaves storageClassName unset, so the mover copies onto the source claim's class, which may be a denylisted one. Set it explicitly.`);
    }
    for (const field of ["storageClassName", "cacheStorageClassName"]) {
      if (deniedStorageClasses.includes(mover[field])) {
        reportViolation(`${where}: ${field} ${mover[field]} is denylisted for movers (sparse files restore corrupted). Use block storage: cluster.storageClass or the volume's storageClass.`);
      }
    }
  },
};

export const resticRepositoryUnique: StackValidationPolicy = {
  name: "restic-repository-unique",
  description: "No two restic ReplicationSources write one repository: each PVC has its own path (followed through its Secret's ExternalSecret).",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, report) => {
    const graph = new BackupGraph(args.resources);
    const sources = graph.of(TYPES.replicationSource).filter((rs) => (rs.props as Json).spec?.restic);
    if (sources.length === 0) args.notApplicable("no restic ReplicationSources");
    const byRepository = new Map<string, PolicyResource[]>();
    for (const source of sources) {
      const namespace = namespaceOf(source);
      const url = graph.secretTemplate(namespace, (source.props as Json).spec.restic.repository)?.RESTIC_REPOSITORY;
      if (!url) continue; // secrets-from-external-secrets reports it
      byRepository.set(url, [...(byRepository.get(url) ?? []), source]);
    }
    for (const [url, writers] of byRepository) {
      if (writers.length < 2) continue;
      const names = writers.map((rs) => `${namespaceOf(rs)}/${nameOf(rs)} (claim ${(rs.props as Json).spec?.sourcePVC})`);
      report(`restic repository ${url} is written by ${names.join(" and ")}: their snapshots and prunes would mix. Give each volume its own repository (the program derives one per claim).`, writers[1].urn);
    }
  },
};

export const kopiaIdentityMatch: StackValidationPolicy = {
  name: "kopia-identity-match",
  description: "Kopia sources set username and hostname explicitly; a volume's bootstrap destination uses the same identity; no two volumes share one identity in a repository.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, report) => {
    const graph = new BackupGraph(args.resources);
    const sources = graph.of(TYPES.replicationSource).filter((rs) => (rs.props as Json).spec?.kopia);
    const destinations = graph.of(TYPES.replicationDestination).filter((rd) => (rd.props as Json).spec?.kopia);
    if (sources.length === 0 && destinations.length === 0) args.notApplicable("no Kopia movers");
    const identity = (resource: PolicyResource) => {
      const kopia = (resource.props as Json).spec.kopia;
      return { username: kopia.username as string | undefined, hostname: kopia.hostname as string | undefined, repository: kopia.repository as string };
    };
    const seen = new Map<string, PolicyResource>();
    for (const source of sources) {
      const { username, hostname, repository } = identity(source);
      const where = `ReplicationSource ${namespaceOf(source)}/${nameOf(source)}`;
      if (!username || !hostname) {
        report(`${where} leaves the Kopia ${!username ? "username" : "hostname"} to the mover's default (derived from names that change on rebuild): set both explicitly.`, source.urn);
        continue;
      }
      const url = graph.secretTemplate(namespaceOf(source), repository)?.KOPIA_REPOSITORY ?? `${namespaceOf(source)}/${repository}`;
      const key = `${url}|${username}@${hostname}`;
      const other = seen.get(key);
      if (other) report(`${where} and ReplicationSource ${namespaceOf(other)}/${nameOf(other)} share the Kopia identity ${username}@${hostname} in ${url}: their snapshots would be one history.`, source.urn);
      else seen.set(key, source);
    }
    for (const destination of destinations) {
      const labels = ((destination.props as Json).metadata?.labels ?? {}) as Record<string, string>;
      const source = sources.find(
        (rs) =>
          namespaceOf(rs) === namespaceOf(destination) &&
          ((rs.props as Json).metadata?.labels ?? {})[LABELS.data] === labels[LABELS.data] &&
          ((rs.props as Json).metadata?.labels ?? {})[LABELS.destination] === labels[LABELS.destination],
      );
      const mine = identity(destination);
      if (!source) {
        report(`ReplicationDestination ${namespaceOf(destination)}/${nameOf(destination)} restores a Kopia repository no ReplicationSource of this data writes.`, destination.urn);
        continue;
      }
      const theirs = identity(source);
      if (mine.username !== theirs.username || mine.hostname !== theirs.hostname || mine.repository !== theirs.repository) {
        report(
          `ReplicationDestination ${namespaceOf(destination)}/${nameOf(destination)} restores ${mine.username}@${mine.hostname} from ${mine.repository}, but ReplicationSource ${nameOf(source)} writes ${theirs.username}@${theirs.hostname} to ${theirs.repository}: the restore would find nothing.`,
          destination.urn,
        );
      }
    }
  },
};

function isOurs(props: Json): boolean {
  return props.metadata?.labels?.[LABELS.managedBy] === "homelab-backups";
}

export const backupJobHygiene: ResourceValidationPolicy = {
  name: "backup-job-hygiene",
  description: "Backup CronJobs and Jobs run one at a time (concurrencyPolicy: Forbid), have deadlines, run under Pod Security restricted and set resources on every container.",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.cronJob && args.type !== TYPES.job) return args.notApplicable("not a CronJob or Job");
    const props = args.props as Json;
    if (!isOurs(props)) return args.notApplicable("not a backup job of this program");
    const where = `${props.kind} ${props.metadata?.namespace}/${props.metadata?.name}`;
    const jobSpec = args.type === TYPES.cronJob ? props.spec?.jobTemplate?.spec : props.spec;
    const problems: string[] = [];
    if (args.type === TYPES.cronJob) {
      if (props.spec?.concurrencyPolicy !== "Forbid") problems.push(`concurrencyPolicy is ${props.spec?.concurrencyPolicy ?? "Allow (the default)"}, not Forbid: a slow run and the next one would lock the same repository`);
      if (props.spec?.startingDeadlineSeconds === undefined) problems.push("startingDeadlineSeconds is unset: after an outage the controller may refuse to schedule it at all (too many missed starts)");
    }
    if (jobSpec?.activeDeadlineSeconds === undefined) problems.push("activeDeadlineSeconds is unset: a hung run would block every later one");
    const pod = jobSpec?.template?.spec ?? {};
    problems.push(...restrictedViolations(pod).map((violation) => `not Pod Security restricted: ${violation}`));
    for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as Json[]) {
      if (!container.resources?.requests || !container.resources?.limits?.memory) problems.push(`container ${container.name} lacks resource requests or a memory limit`);
    }
    for (const problem of problems) reportViolation(`${where}: ${problem}.`);
  },
};

/** Schedules of everything that starts backup work, as UTC five- or six-field crons. */
function starts(resource: PolicyResource): { cron: string; offsetMinutes: number } | undefined {
  const props = resource.props as Json;
  if (!isOurs(props)) return undefined;
  if (resource.type === TYPES.scheduledBackup) return { cron: String(props.spec?.schedule), offsetMinutes: 0 };
  const schedule = cronOf(resource.type, props);
  if (!schedule || typeof schedule.cron !== "string" || scheduleError(schedule.cron)) return undefined;
  // A CronJob with a time zone starts at local wall-clock times; compare everything in UTC.
  const offsetMinutes = schedule.timeZone && isValidTimeZone(schedule.timeZone) ? standardOffsetMinutes(schedule.timeZone) : 0;
  return { cron: schedule.cron, offsetMinutes };
}

export const jobStartSpread: StackValidationPolicy = {
  name: "job-start-spread",
  description: "Advisory: no more than N backup jobs start in the same minute (they compete for the NAS, the uplink and the API server).",
  enforcementLevel: "advisory",
  severity: "low",
  configSchema: { properties: { maxStartsPerMinute: { type: "integer", minimum: 1, default: 8, description: "Jobs that may start in one minute" } } },
  validateStack: (args, report) => {
    const { maxStartsPerMinute } = args.getConfig<{ maxStartsPerMinute: number }>();
    const scheduled = args.resources.map((resource) => ({ resource, schedule: starts(resource) })).filter((s) => s.schedule !== undefined);
    if (scheduled.length === 0) args.notApplicable("no scheduled backup jobs");
    const load = new Map<number, PolicyResource[]>();
    for (const { resource, schedule } of scheduled) {
      for (const minute of weeklyStartMinutes(schedule!.cron)) {
        const utc = (((minute - schedule!.offsetMinutes) % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
        load.set(utc, [...(load.get(utc) ?? []), resource]);
      }
    }
    const [minute, busiest] = [...load.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0] ?? [0, []];
    if (busiest.length <= maxStartsPerMinute) return;
    report(
      `${busiest.length} backup jobs start at ${describeMinuteOfWeek(minute)} UTC (${busiest.slice(0, 5).map((r) => r.name).join(", ")}${busiest.length > 5 ? ", ..." : ""}); the limit is ${maxStartsPerMinute}. ` +
        "Use keyword schedules (hourly, daily, ...) in the stack config so the planner spreads them, or move hand-written crons apart.",
      busiest[0].urn,
    );
  },
};

export const kubernetesPolicies = [
  secretsFromExternalSecrets,
  cnpgScheduleSixFields,
  cronSchedulesValid,
  moverStorageClassAllowed,
  resticRepositoryUnique,
  kopiaIdentityMatch,
  backupJobHygiene,
  jobStartSpread,
];
