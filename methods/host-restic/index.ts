/** Hosts outside the cluster: restic on the host, run by a systemd timer, to object storage. */
import { tierDestinations } from "../../domain/config/resolve";
import type { Retention } from "../../domain/tiers";
import type { MethodPlugin } from "../types";
import { expectedBytes, sortedEntries } from "../planning";
import { resticLockPrefixes } from "../tools/restic";
import { hostCopy, hostIntro } from "./runbook";
import { resticRepository } from "../../domain/repositories";
import { hostTaskEvidence } from "./evidence";
import { isObjectStorage, objectStorageKinds } from "../../destinations/registry";
import { resticRepositoryVerification } from "../tools/resticVerify";

/** Host backups keep the seed's restic policy unless told otherwise. */
export const HOST_RETENTION: Retention = { daily: 7, weekly: 4, monthly: 6, yearly: 2 };

export const hostRestic: MethodPlugin = {
  dataKinds: [
    {
      kind: "host",
      configSection: "hosts",
      drillController: "systemd",
      runbook: { intro: hostIntro, machineRestore: "Reinstall the host, install restic, restore from a repository above with the store's credentials." },
      machineItems: (config) =>
        sortedEntries(config.hosts).map(([name, host]) => ({
          id: `hosts/host/${name}`,
          app: `host-${name}`,
          configPath: `hosts.${name}`,
          kind: "host",
          name,
          namespace: "",
          expectedBytes: expectedBytes(host.expectedSize, "50Gi"),
          owner: host,
          destinations: host.destinations ?? tierDestinations(config, host.tier).names,
        })),
      methodFor: (_config, _item, kind) =>
        isObjectStorage(kind)
          ? { method: "host-restic" }
          : { reason: `host backups write restic repositories to object storage; use a ${objectStorageKinds()} destination` },
    },
  ],
  methods: [
    {
      id: "host-restic",
      label: "restic on the host",
      controller: "systemd",
      encrypted: true,
      forgetsSnapshots: true,
      drillable: true,
      evidence: hostTaskEvidence,
      secrets: { passwords: ["restic-password"] },
      recovery: ({ config, item, copy }) => ({ tool: "restic", repository: resticRepository(config, item, copy), how: `restic restore latest --host ${item.name} --target <dir>` }),
      runbook: { tools: ["restic", "ssh"], section: (config, _plan, item, [copy]) => hostCopy(config, item, copy) },
      repositoryPath: (_config, item) => item.name,
      storage: { credential: "hosts", keyPrefix: (item) => `${item.name}/`, lockPrefixes: resticLockPrefixes },
      bucketPurpose: () => "hosts",
      retention: ({ item }) => ({ kind: "gfs", ...(item.owner.retention?.offsite ?? HOST_RETENTION) }),
      verification: { repository: (item, copy) => `${item.id}/verify@${copy.destination}`, job: resticRepositoryVerification },
    },
  ],
};
