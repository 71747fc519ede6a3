import { stringify } from "yaml";
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { describeCopyRetention } from "../../domain/retention";
import { kubeName } from "../../domain/naming";
import { claimOf, storageClassOf } from "../volsync/manifests";
import { code, Lines } from "../../domain/runbookText";

export function csiSnapshotsSection(config: StackConfig, item: PlannedItem, copies: PlannedCopy[]): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const claim = claimOf(item, volume);
  const ns = item.namespace;
  const pvc = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: kubeName([claim, "from-snapshot"]), namespace: ns },
    spec: {
      storageClassName: storageClassOf(config, volume),
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: volume.capacity } },
      dataSource: { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: "<snapshot>" },
    },
  };
  return [
    `### From \`${copies[0].destination}\`: CSI snapshots of \`${copies.map((c) => c.location).join("`, `")}\``,
    "",
    `SnapScheduler keeps ${copies.map((c) => `${describeCopyRetention(c.retention)} (${c.schedule.description})`).join(" and ")}. They live on the same storage as the claim: a rollback after a mistake, not a backup.`,
    "",
    ...code("sh", [
      `kubectl get volumesnapshot -n ${ns} -o json | jq -r '.items[] | select(.spec.source.persistentVolumeClaimName == "${claim}") | [.metadata.name, .status.creationTime, .status.readyToUse] | @tsv' | sort -k2`,
    ]),
    "A new claim from one snapshot (mount it beside the app to copy files back, or point the app at it):",
    "",
    ...code("sh", ["kubectl apply -f - <<'EOF'", ...stringify(pvc).trimEnd().split("\n"), "EOF"]),
  ];
}
