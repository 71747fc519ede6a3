/** A VolSync ReplicationSource with the restic mover: one restic repository per volume and destination. */
import type { MethodPlugin } from "../types";
import { gfsRetention } from "../planning";
import { resticLockPrefixes } from "../tools/restic";
import { volumeCopy } from "../volsync/runbook";

export const volsyncRestic: MethodPlugin = {
  methods: [
    {
      id: "volsync-restic",
      label: "VolSync restic",
      controller: "volsync",
      encrypted: true,
      forgetsSnapshots: true,
      drillable: true,
      runbook: { tools: ["restic", "jq"], section: (config, _plan, item, [copy]) => volumeCopy(config, item, copy) },
      repositoryPath: (_config, item) => `${item.app}/${item.name}`,
      storage: { credential: "volsync", keyPrefix: (item) => `${item.app}/`, lockPrefixes: resticLockPrefixes },
      bucketPurpose: () => "volsync",
      retention: ({ config, item, site }) => gfsRetention(config, item, site),
      verification: { repository: (item, copy) => `${item.id}/verify@${copy.destination}`, locksRepository: true },
    },
  ],
};
