/** TrueNAS periodic ZFS snapshots of a dataset: a rollback on the same pool, not an independent copy. */
import type { MethodPlugin } from "../types";
import { zfsSnapshotsSection } from "./runbook";
import { localSnapshotEvidence } from "../../policies/graph";

export const zfsSnapshots: MethodPlugin = {
  methods: [
    {
      id: "zfs-snapshot",
      label: "ZFS snapshots",
      controller: "truenas",
      encrypted: false,
      snapshot: true,
      drillable: false,
      evidence: localSnapshotEvidence,
      runbook: { tools: ["ssh"], section: (config, _plan, item, copies) => zfsSnapshotsSection(config, item, copies) },
      repositoryPath: () => "",
      bucketPurpose: () => "snapshots",
      // Local snapshot copies are drafted with their period's count; there is nothing to derive.
      retention: () => ({ kind: "count", keepLast: 1 }),
      location: (copy) => `${copy.item.snapshotSubject}@auto-${copy.specText}`,
    },
  ],
};
