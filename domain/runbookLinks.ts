/**
 * Where an app's generated runbook lives and how alerts link into it. Runbooks put an explicit
 * `<a id="...">` before each data item's section, so links do not depend on a renderer's slugs.
 */
import type { StackConfig } from "./config/schema";
import type { PlannedCopy, PlannedItem } from "./model";

/** Repository-relative directory of the generated runbooks. */
export const RUNBOOK_DIR = "docs/runbooks";

/** The section of an app's runbook about its Kopia mirrors (apps.<app>.kopiaMirrors). */
export const MIRROR_ANCHOR = "kopia-mirror";

/** The page the platform alerts link to (metrics every app's alerts depend on), and its sections. */
export const PLATFORM_PAGE = "homelab-backups";
export const PLATFORM_ANCHORS = { volsync: "volsync-controller", kubeStateMetrics: "kube-state-metrics" } as const;

export function runbookPath(app: string): string {
  return `${RUNBOOK_DIR}/${app}.md`;
}

/** The anchor of a data item's section: "<kind>-<name>", e.g. "volume-library", "cnpg-photos-db". */
export function runbookAnchor(item: Pick<PlannedItem, "kind" | "name">): string {
  return `${item.kind}-${item.name}`;
}

/** The link an alert carries: alerts.runbookBaseUrl when set, else the repository-relative path. */
export function runbookUrl(config: StackConfig, app: string, item?: Pick<PlannedItem, "kind" | "name">): string {
  const base = config.alerts.runbookBaseUrl ? `${config.alerts.runbookBaseUrl.replace(/\/+$/, "")}/${app}.md` : runbookPath(app);
  return item ? `${base}#${runbookAnchor(item)}` : base;
}

/** The anchor of the section that restores an item from one destination's copies. */
export function copyAnchor(item: Pick<PlannedItem, "kind" | "name">, copy: Pick<PlannedCopy, "destination">): string {
  return `${runbookAnchor(item)}-from-${copy.destination}`;
}

/** The anchor of an item's drill and verification section. */
export function drillsAnchor(item: Pick<PlannedItem, "kind" | "name">): string {
  return `${runbookAnchor(item)}-drills`;
}
