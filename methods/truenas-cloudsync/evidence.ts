/** What the policy graph follows for a Cloud Sync copy: the TrueNAS command whose task payload names the bucket. */
import type { PolicyResource } from "@pulumi/policy";
import type { DeclaredCopy } from "../../domain/protection";
import { mirrorCoverage, Retention } from "../../domain/tiers";
import { BackupGraph, CopyEvidence, cronGapHours, DataNode, GraphJson, missing, TYPES } from "../../policies/graph";
import type { MethodEvidence } from "../types";

/** The middleware payload a TrueNAS Cloud Sync command sends (HB_TASK_PAYLOAD='...'). */
export function cloudSyncPayload(command: PolicyResource): GraphJson | undefined {
  const text = String((command.props as GraphJson).create ?? "");
  if (!/HB_TASK_KIND='cloudsync'/.test(text)) return undefined;
  const quoted = /HB_TASK_PAYLOAD='((?:[^']|'\\'')*)'/.exec(text)?.[1];
  if (quoted === undefined) return undefined;
  try {
    return JSON.parse(quoted.replace(/'\\''/g, "'")) as GraphJson;
  } catch {
    return undefined;
  }
}

export function followCloudSync(graph: BackupGraph, node: DataNode, declared: DeclaredCopy): CopyEvidence {
  const command = graph.commandsUnder(node).find((c) => cloudSyncPayload(c)?.attributes?.bucket === declared.location);
  if (!command) return missing(declared, `no TrueNAS Cloud Sync task writes to ${declared.location}`);
  const payload = cloudSyncPayload(command)!;
  const bucket = graph.buckets.get(declared.location);
  return {
    declared,
    implementedBy: command,
    site: "offsite",
    bucket,
    pathInBucket: String(payload.attributes?.folder ?? "").replace(/^\/|\/$/g, ""),
    encrypted: payload.encryption === true,
    problem: bucket ? undefined : `bucket ${declared.location} is not managed by this stack`,
  };
}

/** The history a mirror keeps: hidden versions in a B2 bucket, and only when the task copies without deleting. */
export function cloudSyncRetention(graph: BackupGraph, evidence: CopyEvidence, command: PolicyResource): Retention {
  const payload = cloudSyncPayload(command);
  // SYNC deletes offsite what was deleted on the NAS; only COPY keeps a history at all.
  if (payload?.transfer_mode !== "COPY" || !evidence.bucket || evidence.bucket.provider !== "b2") return {};
  const lifecycle = graph.of(TYPES.b2Lifecycle).find((l) => (l.props as GraphJson).bucket === evidence.bucket!.name);
  const days = ((lifecycle?.props as GraphJson | undefined)?.rules ?? [])
    .filter((rule: GraphJson) => rule.status === "Enabled" && rule.noncurrentVersionExpiration)
    .map((rule: GraphJson) => Number(rule.noncurrentVersionExpiration.noncurrentDays));
  return mirrorCoverage(days.length > 0 ? Math.min(...days) : 3650);
}

export const cloudSyncEvidence: MethodEvidence = {
  follow: followCloudSync,
  retention: cloudSyncRetention,
  rpoHours: (_graph, _evidence, command) => {
    const schedule = cloudSyncPayload(command)?.schedule;
    return schedule ? cronGapHours(`${schedule.minute} ${schedule.hour} ${schedule.dom} ${schedule.month} ${schedule.dow}`) : undefined;
  },
};
