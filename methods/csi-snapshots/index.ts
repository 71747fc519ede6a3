/** SnapScheduler CSI snapshots of a volume: a rollback on the same storage, not an independent copy. */
import type { MethodPlugin } from "../types";
import { csiSnapshotsSection } from "./runbook";
import { localSnapshotEvidence } from "../../policies/graph";

export const csiSnapshots: MethodPlugin = {
  methods: [
    {
      id: "csi-snapshot",
      label: "CSI snapshots",
      controller: "snapscheduler",
      encrypted: false,
      snapshot: true,
      drillable: false,
      evidence: localSnapshotEvidence,
      runbook: { tools: ["jq"], section: (config, _plan, item, copies) => csiSnapshotsSection(config, item, copies) },
      repositoryPath: () => "",
      bucketPurpose: () => "snapshots",
      // Local snapshot copies are drafted with their period's count; there is nothing to derive.
      retention: () => ({ kind: "count", keepLast: 1 }),
      // One SnapshotSchedule per namespace, tier and period serves every volume it selects.
      scheduleKey: (copy) => `${copy.item.namespace}/snapshots/t${copy.item.owner.tier}/${copy.specText}`,
      scheduleGroup: (copy) => `${copy.item.namespace}/snapshots/t${copy.item.owner.tier}/${copy.specText}`,
      location: (copy) => `${copy.item.namespace}/${copy.item.snapshotSubject}`,
    },
  ],
};
