/** A VolSync ReplicationSource with the restic mover: one restic repository per volume and destination. */
import type { MethodPlugin } from "../types";
import { gfsRetention } from "../planning";
import { resticLockPrefixes } from "../tools/restic";
import { volumeCopy } from "../volsync/runbook";
import { resticRepository } from "../../domain/repositories";
import { replicationSourceEvidence } from "../volsync/evidence";
import { volumeDrill } from "../volsync/drill";
import { moverRepositoryVerification } from "../volsync/verify";
import { volsyncCopyRules } from "../volsync/alerts";

export const volsyncRestic: MethodPlugin = {
  methods: [
    {
      id: "volsync-restic",
      label: "VolSync restic",
      controller: "volsync",
      encrypted: true,
      forgetsSnapshots: true,
      drillable: true,
      alerts: { copy: volsyncCopyRules },
      drill: volumeDrill,
      evidence: replicationSourceEvidence("restic"),
      secrets: { passwords: ["restic-password"] },
      recovery: ({ config, item, copy, onNas }) => ({ tool: "restic", repository: onNas ?? resticRepository(config, item, copy), how: "restic restore latest --target <dir>" }),
      runbook: { tools: ["restic", "jq"], section: (config, _plan, item, [copy]) => volumeCopy(config, item, copy) },
      repositoryPath: (_config, item) => `${item.app}/${item.name}`,
      storage: { credential: "volsync", keyPrefix: (item) => `${item.app}/`, lockPrefixes: resticLockPrefixes },
      bucketPurpose: () => "volsync",
      retention: ({ config, item, site }) => gfsRetention(config, item, site),
      verification: { repository: (item, copy) => `${item.id}/verify@${copy.destination}`, locksRepository: true, job: moverRepositoryVerification },
    },
  ],
};
