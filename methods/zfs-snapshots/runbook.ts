import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { describeCopyRetention } from "../../domain/retention";
import { truenasTarget } from "../../domain/machines";
import { code, Lines } from "../../domain/runbookText";

export function zfsSnapshotsSection(config: StackConfig, item: PlannedItem, copies: PlannedCopy[]): Lines {
  const dataset = config.truenas!.datasets[item.name].dataset;
  const target = truenasTarget(config);
  const mountpoint = `"$(zfs get -H -o value mountpoint ${dataset})"`;
  return [
    `### From \`${copies[0].destination}\`: ZFS snapshots of \`${dataset}\``,
    "",
    `TrueNAS keeps ${copies.map((c) => `${describeCopyRetention(c.retention)} (${c.schedule.description})`).join(" and ")}. Same pool as the data: a rollback, not a backup. In the UI: Datasets, \`${dataset}\`, Data Protection, Manage Snapshots (Rollback, or Clone to New Dataset).`,
    "",
    ...code("sh", [
      `ssh -p ${target.port} ${target.user}@${target.host}`,
      ...copies.map((c) => `zfs list -H -t snapshot -o name,creation -s creation ${dataset} | grep '^${c.location}-'`),
      "# one file or directory: every snapshot is browsable read-only",
      `ls ${mountpoint}/.zfs/snapshot/`,
      `cp -a ${mountpoint}/.zfs/snapshot/<snapshot name after @>/<path> <where>`,
      "# the whole dataset beside the live one",
      `zfs clone ${dataset}@<snapshot name after @> ${dataset}-restore`,
      "# or in place: destroys every newer snapshot and all changes since",
      `zfs rollback -r ${dataset}@<snapshot name after @>`,
    ]),
  ];
}
