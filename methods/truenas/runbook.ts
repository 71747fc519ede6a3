import type { StackConfig } from "../../domain/config/schema";
import type { PlannedItem } from "../../domain/model";
import { truenasTarget } from "../../domain/machines";
import { Lines } from "../../domain/runbookText";

export function datasetIntro(config: StackConfig, item: PlannedItem): Lines {
  const dataset = config.truenas!.datasets[item.name];
  const target = truenasTarget(config);
  return [`ZFS dataset \`${dataset.dataset}\` on TrueNAS \`${target.host}\` (${dataset.recursive ? "with its children" : "without children"}). Shell: \`ssh -p ${target.port} ${target.user}@${target.host}\`.`];
}
