/** What the policy graph follows for a pgBackRest copy: the item's Stanza and its repository in the bucket. */
import type { PolicyResource } from "@pulumi/policy";
import type { DeclaredCopy } from "../../domain/protection";
import { LABELS } from "../../domain/naming";
import { pgbackrestCoverage, Retention } from "../../domain/tiers";
import { BackupGraph, CopyEvidence, cronGapHours, DataNode, GraphJson, missing, nameOf, namespaceOf, TYPES } from "../../policies/graph";
import type { MethodEvidence } from "../types";

export function followStanza(graph: BackupGraph, { data }: DataNode, declared: DeclaredCopy): CopyEvidence {
  const stanza = graph.labelled(TYPES.stanza, LABELS.data, data.dataId).find((s) => namespaceOf(s) === data.namespace);
  if (!stanza) return missing(declared, "no pgBackRest Stanza");
  const repos = ((stanza.props as GraphJson).spec?.stanzaConfiguration?.s3Repositories ?? []) as GraphJson[];
  const repo = repos.find((r) => r.bucket === declared.location);
  if (!repo) return { ...missing(declared, `Stanza ${nameOf(stanza)} has no repository in ${declared.location}`), implementedBy: stanza };
  const bucket = graph.buckets.get(repo.bucket);
  const encrypted = Boolean(repo.cipherConfig?.encryptionPass) && (repo.cipherConfig?.type ?? "none") !== "none";
  const path = String(repo.repoPath ?? "").replace(/^\//, "");
  return { declared, implementedBy: stanza, site: "offsite", bucket, pathInBucket: path, encrypted, problem: bucket ? undefined : `bucket ${repo.bucket} is not managed by this stack` };
}

/** The recovery points the repository's retention policy keeps; undefined unless it counts fulls. */
export function stanzaRetention(stanza: PolicyResource, declared: DeclaredCopy): Retention | undefined {
  const repo = (((stanza.props as GraphJson).spec?.stanzaConfiguration?.s3Repositories ?? []) as GraphJson[]).find((r) => r.bucket === declared.location);
  const policy = repo?.retentionPolicy;
  if (!policy || policy.fullType !== "count") return undefined;
  return pgbackrestCoverage({ full: Number(policy.full), diff: Number(policy.diff ?? 0), archive: Number(policy.archive ?? 0), historyDays: Number(policy.history ?? 0) });
}

/** CloudNativePG archives WAL at least every five minutes (archive_timeout). */
const WAL_RPO_HOURS = 5 / 60;

/**
 * WAL archiving bounds the RPO when a CNPG cluster's plugin entry archives to this stanza;
 * otherwise the most frequent ScheduledBackup that writes to the copy's repository does.
 */
export function stanzaRpoHours(graph: BackupGraph, evidence: CopyEvidence, stanza: PolicyResource): number | undefined {
  const name = nameOf(stanza);
  const archiving = [...graph.of(TYPES.cluster), ...graph.of(TYPES.clusterPatch)].some(
    (cluster) =>
      namespaceOf(cluster) === namespaceOf(stanza) &&
      (((cluster.props as GraphJson).spec?.plugins ?? []) as GraphJson[]).some((plugin) => plugin.isWALArchiver === true && plugin.parameters?.stanzaRef === name),
  );
  if (archiving) return WAL_RPO_HOURS;
  const repos = (((stanza.props as GraphJson).spec?.stanzaConfiguration?.s3Repositories ?? []) as GraphJson[]).map((r) => r.bucket);
  const repo = String(repos.indexOf(evidence.declared.location) + 1);
  const gaps = graph
    .of(TYPES.scheduledBackup)
    .filter((sb) => namespaceOf(sb) === namespaceOf(stanza) && (sb.props as GraphJson).spec?.pluginConfiguration?.parameters?.selectedRepository === repo)
    .map((sb) => cronGapHours((sb.props as GraphJson).spec?.schedule))
    .filter((hours): hours is number => hours !== undefined);
  return gaps.length > 0 ? Math.min(...gaps) : undefined;
}

export const stanzaEvidence: MethodEvidence = {
  follow: followStanza,
  retention: (_graph, evidence, stanza) => stanzaRetention(stanza, evidence.declared),
  rpoHours: stanzaRpoHours,
};
