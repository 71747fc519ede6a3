/**
 * A VolSync ReplicationSource with the Kopia mover of the perfectra1n fork: one Kopia repository
 * per app and destination holds all its volumes, cared for by one daily KopiaMaintenance.
 */
import type { MethodPlugin } from "../types";
import type { R2LockPrefix } from "../../domain/storage";
import { gfsRetention } from "../planning";
import { volumeCopy } from "../volsync/runbook";
import { kopiaIdentity, kopiaRepository, s3Endpoint } from "../../domain/repositories";
import { destinationPlugin } from "../../destinations/registry";
import { replicationSourceEvidence } from "../volsync/evidence";
import { volumeDrill } from "../volsync/drill";
import { moverRepositoryVerification } from "../volsync/verify";
import { volsyncCopyRules } from "../volsync/alerts";

/**
 * Kopia writes pack blobs (p, q) once; on object storage it names the format blobs that hold the
 * repository's key without the ".f" its filesystem storage adds.
 */
function kopiaLockPrefixes(path: string): R2LockPrefix[] {
  return [
    { prefix: `${path}/p`, retention: "age" },
    { prefix: `${path}/q`, retention: "age" },
    { prefix: `${path}/kopia.repository`, retention: "indefinite" },
    { prefix: `${path}/kopia.blobcfg`, retention: "indefinite" },
  ];
}

export const volsyncKopia: MethodPlugin = {
  methods: [
    {
      id: "volsync-kopia",
      label: "VolSync Kopia",
      controller: "volsync",
      encrypted: true,
      drillable: true,
      alerts: { copy: volsyncCopyRules },
      drill: volumeDrill,
      evidence: replicationSourceEvidence("kopia"),
      secrets: { passwords: ["kopia-password"] },
      recovery({ config, item, copy, onNas }) {
        const identity = kopiaIdentity(item, config.apps[item.app].volumes[item.name].claim ?? item.name);
        const inBucket = destinationPlugin(copy.destinationKind).layout === "bucket";
        return {
          tool: "kopia",
          repository: onNas ?? `${kopiaRepository(config, item, copy)}${inBucket ? ` at ${s3Endpoint(config, copy.destination).url}` : ""}`,
          how: `kopia snapshot list ${identity.username}@${identity.hostname}, then kopia restore <id> <dir>`,
        };
      },
      runbook: { tools: ["kopia", "jq"], section: (config, _plan, item, [copy]) => volumeCopy(config, item, copy) },
      repositoryPath: (_config, item) => item.app,
      storage: { credential: "kopia", keyPrefix: (item) => `${item.app}/`, lockPrefixes: kopiaLockPrefixes },
      bucketPurpose: () => "kopia",
      retention: ({ config, item, site }) => gfsRetention(config, item, site),
      jobs: (copy) => [
        {
          id: `${copy.item.app}/kopia-maintenance@${copy.destination}`,
          kind: "kopia-maintenance",
          app: copy.item.app,
          namespace: copy.item.namespace,
          destination: copy.destination,
          controller: "volsync",
          spec: { kind: "daily" },
          group: `${copy.item.app}/kopia-maintenance@${copy.destination}`,
        },
      ],
      verification: { repository: (item, copy) => `${item.app}/kopia-verify@${copy.destination}`, job: moverRepositoryVerification },
    },
  ],
};
