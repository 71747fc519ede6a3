/** A TrueNAS Cloud Sync task pushing a dataset to object storage, encrypted with rclone crypt. */
import { TIER_DEFINITIONS } from "../../domain/tiers";
import type { MethodPlugin } from "../types";
import { tierOverrides } from "../planning";
import { cloudSyncCopy } from "./runbook";
import { cloudSyncEvidence } from "./evidence";
import { destinationPlugin } from "../../destinations/registry";
import { cloudSyncDrill } from "./drill";

export const truenasCloudsync: MethodPlugin = {
  methods: [
    {
      id: "truenas-cloudsync",
      label: "TrueNAS Cloud Sync (rclone crypt)",
      controller: "truenas",
      encrypted: true,
      drillable: true,
      drill: cloudSyncDrill,
      evidence: cloudSyncEvidence,
      // rclone crypt: without this password and salt the copy is unreadable.
      secrets: { passwords: ["cloudsync-password", "cloudsync-salt"] },
      recovery: ({ item, copy }) => ({
        tool: "rclone crypt",
        repository: `${copy.location}/${item.name}`,
        how: "a TrueNAS Cloud Sync PULL task with the same password and salt, or rclone with a crypt remote",
      }),
      runbook: { tools: ["rclone"], section: (config, plan, item, [copy]) => cloudSyncCopy(config, plan, item, copy) },
      repositoryPath: (_config, item) => item.name,
      storage: {
        credential: "truenas",
        // TrueNAS has one cloud credential per destination, shared by every dataset it syncs.
        owner: () => "truenas",
        // Cloud sync copies files without deleting (transfer mode COPY): the folder can be locked whole.
        lockPrefixes: (path) => [{ prefix: `${path}/`, retention: "age" }],
      },
      bucketPurpose: () => "truenas",
      retention({ config, item, destination }) {
        // B2 keeps replaced and deleted versions (hidden) as long as the bucket's lifecycle says; a
        // destination without old versions (R2) mirrors only the present state.
        const target = config.destinations[destination];
        const tier = item.owner.tier;
        const history = tierOverrides(config, tier).mirrorHistoryDays ?? TIER_DEFINITIONS[tier].defaults.mirrorHistoryDays;
        return { kind: "mirror", historyDays: destinationPlugin(target.kind).keepsOldVersions && "lockDays" in target ? Math.max(target.immutable ? target.lockDays : 0, history) : 0 };
      },
    },
  ],
};
