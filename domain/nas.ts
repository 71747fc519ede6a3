/**
 * The NAS share inside the cluster. Pods reach it through a claim bound to a static NFS
 * PersistentVolume, one per namespace that needs it, never through an inline `nfs:` volume:
 * Pod Security "restricted" admits PersistentVolumeClaim volumes but not NFS ones.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan } from "./model";
import { compareText } from "./compare";
import { kubeName, LABELS } from "./naming";

type Manifest = Record<string, unknown>;

/** The claim name, the same in every namespace: "hb-<destination>". */
export function nasClaimName(destination: string): string {
  return kubeName(["hb", destination]);
}

/** Namespaces whose jobs reach each NFS destination: movers, maintenance, dumps and their offsite jobs. */
export function nasMounts(plan: BackupPlan): Array<{ destination: string; namespace: string }> {
  const mounts = new Set<string>();
  for (const item of plan.items) {
    for (const copy of item.copies) {
      if (copy.destinationKind === "nfs") mounts.add(`${copy.destination}\u0000${item.namespace}`);
    }
    // Offsite dump jobs read the dump directory on the NAS share the dumps landed on.
    const dump = item.copies.find((copy) => copy.method === "dump");
    if (dump && item.copies.some((copy) => copy.method === "dump-restic" || copy.method === "dump-rsync")) {
      mounts.add(`${dump.destination}\u0000${item.namespace}`);
    }
  }
  return [...mounts]
    .sort(compareText)
    .map((key) => {
      const [destination, namespace] = key.split("\u0000");
      return { destination, namespace };
    });
}

export function nasPersistentVolume(config: StackConfig, destination: string, namespace: string): Manifest {
  const target = config.destinations[destination];
  if (target.kind !== "nfs") throw new Error(`${destination} is not an NFS share`);
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: kubeName(["hb", destination, namespace]), labels: { [LABELS.managedBy]: "homelab-backups", [LABELS.destination]: destination } },
    spec: {
      capacity: { storage: "1Ti" },
      accessModes: ["ReadWriteMany"],
      // Deleting the volume object must never touch the share.
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: "",
      mountOptions: ["nfsvers=4.1", "hard"],
      nfs: { server: target.server, path: target.path },
      claimRef: { namespace, name: nasClaimName(destination) },
    },
  };
}

export function nasPersistentVolumeClaim(destination: string, namespace: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: nasClaimName(destination), namespace, labels: { [LABELS.managedBy]: "homelab-backups", [LABELS.destination]: destination } },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: "",
      volumeName: kubeName(["hb", destination, namespace]),
      resources: { requests: { storage: "1Ti" } },
    },
  };
}
