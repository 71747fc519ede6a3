/** What the policy graph follows for dump copies: the dump CronJob, and the app's offsite CronJob's Secret. */
import type { DeclaredCopy } from "../../domain/protection";
import { LABELS, labelValue } from "../../domain/naming";
import { BackupGraph, CopyEvidence, cronGapHours, DataNode, GraphJson, labelsOf, missing, nameOf, namespaceOf, TYPES } from "../../policies/graph";
import type { MethodEvidence } from "../types";
import { keepFlagsIn } from "../tools/restic";
import type { PolicyResource } from "@pulumi/policy";
import type { Retention } from "../../domain/tiers";

export function followDumpJob(graph: BackupGraph, { data }: DataNode, declared: DeclaredCopy): CopyEvidence {
  const job = graph
    .labelled(TYPES.cronJob, LABELS.data, data.dataId)
    .find((cj) => namespaceOf(cj) === data.namespace && labelsOf(cj)[LABELS.destination] === labelValue(declared.destination) && labelsOf(cj)[LABELS.drill] === undefined);
  return job ? { declared, implementedBy: job, site: "onsite", encrypted: false } : missing(declared, `no dump CronJob for ${declared.destination}`);
}

export function followOffsiteDumpJob(graph: BackupGraph, { data }: DataNode, declared: DeclaredCopy, over: "restic" | "rsync"): CopyEvidence {
  const job = graph
    .labelled(TYPES.cronJob, LABELS.data, `${data.app}/dumps`)
    .find((cj) => namespaceOf(cj) === data.namespace && labelsOf(cj)[LABELS.destination] === labelValue(declared.destination));
  if (!job) return missing(declared, `no CronJob takes ${data.app}'s dumps to ${declared.destination}`);
  const pod = (job.props as GraphJson).spec?.jobTemplate?.spec?.template?.spec ?? {};
  if (over === "rsync") {
    const secret = ((pod.volumes ?? []) as GraphJson[]).find((v) => v.secret)?.secret?.secretName;
    const template = secret ? graph.secretTemplate(data.namespace, secret) : undefined;
    if (!template?.known_hosts) return { ...missing(declared, `the SSH Secret of CronJob ${nameOf(job)} is not built by an ExternalSecret`), implementedBy: job };
    return { declared, implementedBy: job, site: "offsite", encrypted: false };
  }
  const secret = ((pod.containers ?? []) as GraphJson[]).flatMap((c) => (c.envFrom ?? []) as GraphJson[]).find((e) => e.secretRef)?.secretRef?.name;
  const template = secret ? graph.secretTemplate(data.namespace, secret) : undefined;
  if (!template) return { ...missing(declared, `the repository Secret of CronJob ${nameOf(job)} is not built by an ExternalSecret`), implementedBy: job };
  return { ...graph.atRepository(declared, template.RESTIC_REPOSITORY), implementedBy: job, encrypted: Boolean(template.RESTIC_PASSWORD) };
}

/** restic's --keep flags in the offsite job's containers. */
export function offsiteJobRetention(job: PolicyResource): Retention {
  const containers = ((job.props as GraphJson).spec?.jobTemplate?.spec?.template?.spec?.containers ?? []) as GraphJson[];
  return keepFlagsIn(containers.map((c) => (c.command ?? []).join(" ")).join("\n"));
}

const cronJobGap = (_graph: BackupGraph, _evidence: CopyEvidence, job: PolicyResource) => cronGapHours((job.props as GraphJson).spec?.schedule);

/** The dump CronJob writes onsite and keeps what its pruning keeps, which no resource field states. */
export const dumpJobEvidence: MethodEvidence = { follow: followDumpJob, rpoHours: cronJobGap };

export function offsiteDumpEvidence(over: "restic" | "rsync"): MethodEvidence {
  return {
    follow: (graph, node, declared) => followOffsiteDumpJob(graph, node, declared, over),
    // rsync mirrors the share: it keeps no history of its own.
    retention: over === "restic" ? (_graph, _evidence, job) => offsiteJobRetention(job) : undefined,
    rpoHours: cronJobGap,
  };
}
