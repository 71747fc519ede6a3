/** What the policy graph follows for a host copy: the host task whose restic environment names the bucket. */
import type { DeclaredCopy } from "../../domain/protection";
import { repositoryLocation } from "../../domain/repositories";
import { BackupGraph, CopyEvidence, DataNode, GraphJson, missing } from "../../policies/graph";
import { keepFlagsIn } from "../tools/restic";
import type { MethodEvidence } from "../types";

export function followHostTask(graph: BackupGraph, node: DataNode, declared: DeclaredCopy): CopyEvidence {
  for (const command of graph.commandsUnder(node)) {
    const url = /printf 'RESTIC_REPOSITORY=%s\\n' '([^']+)'/.exec(String((command.props as GraphJson).create ?? ""))?.[1];
    const location = url ? repositoryLocation(url) : undefined;
    if (url && location?.kind === "s3" && location.bucket === declared.location) {
      return { ...graph.atRepository(declared, url), implementedBy: command, encrypted: true };
    }
  }
  return missing(declared, `no host task writes to ${declared.location}`);
}

export const hostTaskEvidence: MethodEvidence = {
  follow: followHostTask,
  retention: (_graph, _evidence, command) => keepFlagsIn(String((command.props as GraphJson).create ?? "")),
  // The timer's OnCalendar is the declared cron, rendered by the same function that planned it.
  rpoHours: (_graph, evidence) => evidence.declared.rpoHours,
};
