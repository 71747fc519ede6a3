/** TrueNAS datasets: data on the NAS itself, snapshotted by ZFS and pushed offsite by Cloud Sync. */
import { tierDestinations } from "../../domain/config/resolve";
import type { MethodPlugin } from "../types";
import { expectedBytes, sortedEntries } from "../planning";
import { datasetIntro } from "./runbook";
import { isObjectStorage, objectStorageKinds } from "../../destinations/registry";

export const truenas: MethodPlugin = {
  dataKinds: [
    {
      kind: "dataset",
      configSection: "truenas.datasets",
      drillController: "cronjob",
      snapshotMethod: "zfs-snapshot",
      runbook: { intro: datasetIntro, machineRestore: "Restore the dataset from a Cloud Sync copy (sections above; rclone works without TrueNAS), or from its snapshots if the pool survived." },
      machineItems: (config) =>
        sortedEntries(config.truenas?.datasets ?? {}).map(([name, dataset]) => ({
          id: `truenas/dataset/${name}`,
          app: `truenas-${name}`,
          configPath: `truenas.datasets.${name}`,
          kind: "dataset",
          name,
          namespace: "",
          expectedBytes: expectedBytes(dataset.expectedSize, "100Gi"),
          owner: dataset,
          destinations: dataset.destinations ?? tierDestinations(config, dataset.tier).names,
          snapshotSubject: dataset.dataset,
        })),
      methodFor(_config, _item, kind) {
        if (isObjectStorage(kind)) return { method: "truenas-cloudsync" };
        return kind === "nfs"
          ? { reason: "the dataset lives on the NAS; its ZFS snapshots are the on-site rollback" }
          : { reason: `TrueNAS pushes datasets offsite with Cloud Sync to object storage; use a ${objectStorageKinds()} destination` };
      },
    },
  ],
};
