/** App volumes (PVCs), copied by VolSync movers and snapshotted by SnapScheduler. */
import type { DataKindPlugin, MethodPlugin } from "../types";
import { expectedBytes, sortedEntries } from "../planning";
import { volumeAfterLostCluster, volumeIntro, volumeOperators } from "./runbook";
import { restoreRules } from "./alerts";

const volume: DataKindPlugin = {
  kind: "volume",
  configSection: "volumes",
  drillController: "cronjob",
  snapshotMethod: "csi-snapshot",
  runbook: { intro: volumeIntro, operators: volumeOperators, afterLostCluster: volumeAfterLostCluster },
  alerts: restoreRules,
  appItems: (config, appName, base) =>
    sortedEntries(config.apps[appName].volumes).map(([name, settings]) => ({
      ...base,
      id: `${appName}/volume/${name}`,
      kind: "volume",
      name,
      expectedBytes: expectedBytes(settings.expectedSize, settings.capacity),
      snapshotSubject: settings.claim ?? name,
    })),
  methodFor(config, item, kind) {
    const mover = config.apps[item.app].volumes[item.name].mover;
    if (kind === "ssh" && mover === "restic") {
      return { reason: "the restic mover cannot reach an SSH destination; use mover: kopia (SFTP) or a b2/r2 destination" };
    }
    return { method: mover === "kopia" ? "volsync-kopia" : "volsync-restic" };
  },
};

export const volsync: MethodPlugin = { dataKinds: [volume] };
