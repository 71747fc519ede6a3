/** What the policy graph follows for a VolSync copy: ReplicationSource → repository Secret → ExternalSecret → bucket. */
import type { DeclaredCopy } from "../../domain/protection";
import { LABELS, labelValue } from "../../domain/naming";
import { BackupGraph, CopyEvidence, cronGapHours, DataNode, GraphJson, labelsOf, missing, nameOf, namespaceOf, TYPES } from "../../policies/graph";
import type { MethodEvidence } from "../types";
import type { Retention } from "../../domain/tiers";
import type { PolicyResource } from "@pulumi/policy";

export function followReplicationSource(graph: BackupGraph, { data }: DataNode, declared: DeclaredCopy, mover: "restic" | "kopia"): CopyEvidence {
  const source = graph
    .labelled(TYPES.replicationSource, LABELS.data, data.dataId)
    .find((rs) => namespaceOf(rs) === data.namespace && labelsOf(rs)[LABELS.destination] === labelValue(declared.destination));
  if (!source) return missing(declared, `no ReplicationSource for ${declared.destination}`);
  const secretName = (source.props as GraphJson).spec?.[mover]?.repository;
  const template = typeof secretName === "string" ? graph.secretTemplate(data.namespace, secretName) : undefined;
  if (!template) return { ...missing(declared, `the repository Secret ${secretName} of ReplicationSource ${nameOf(source)} is not built by an ExternalSecret`), implementedBy: source };
  const url = template[mover === "restic" ? "RESTIC_REPOSITORY" : "KOPIA_REPOSITORY"];
  const password = template[mover === "restic" ? "RESTIC_PASSWORD" : "KOPIA_PASSWORD"];
  return { ...graph.atRepository(declared, url, mover === "kopia" ? template.KOPIA_S3_BUCKET : undefined), implementedBy: source, encrypted: Boolean(password) };
}

/** The `retain` buckets of the ReplicationSource's mover. */
export function replicationSourceRetention(source: PolicyResource): Retention {
  const spec = (source.props as GraphJson).spec;
  const retain: GraphJson = (spec?.restic ?? spec?.kopia)?.retain ?? {};
  const retention: Retention = {};
  for (const bucket of ["hourly", "daily", "weekly", "monthly", "yearly"] as const) {
    if (retain[bucket] !== undefined) retention[bucket] = Number(retain[bucket]);
  }
  return retention;
}

export function replicationSourceEvidence(mover: "restic" | "kopia"): MethodEvidence {
  return {
    follow: (graph, node, declared) => followReplicationSource(graph, node, declared, mover),
    retention: (_graph, _evidence, source) => replicationSourceRetention(source),
    rpoHours: (_graph, _evidence, source) => cronGapHours((source.props as GraphJson).spec?.trigger?.schedule),
  };
}
