/**
 * What a data-protecting component declares about its data: the inputs it registers, which the
 * policy pack reads. One shape for the components that write it and the policies that read it.
 */
import type { DataKind, PlannedCopy, PlannedItem } from "./model";
import type { Tier } from "./tiers";

export type DeclaredCopy = Pick<
  PlannedCopy,
  "destination" | "destinationKind" | "site" | "method" | "retention" | "encrypted" | "immutable" | "independent" | "continuous" | "rpoHours" | "location"
> & {
  /** Controller-facing cron and the zone it is read in. */
  schedule: string;
  scheduleTimeZone: string;
};

export interface ProtectedData {
  app: string;
  /** Where the data is configured in the stack config: "apps.immich", "truenas.datasets.images", "hosts.router". */
  configPath: string;
  dataId: string;
  kind: DataKind;
  tier: Tier;
  namespace: string;
  rpoTargetHours: number;
  restoreDrillDays: number;
  copies: DeclaredCopy[];
  /** Destinations of the app this data cannot use, and why. */
  skipped: Array<{ destination: string; reason: string }>;
}

export function protectionOf(item: PlannedItem): ProtectedData {
  return {
    app: item.app,
    configPath: item.configPath,
    dataId: item.id,
    kind: item.kind,
    tier: item.tier,
    namespace: item.namespace,
    // Infinity does not survive the wire; 0 means "no target".
    rpoTargetHours: Number.isFinite(item.rpoTargetHours) ? item.rpoTargetHours : 0,
    restoreDrillDays: item.restoreDrillDays,
    copies: item.copies.map((copy) => ({
      destination: copy.destination,
      destinationKind: copy.destinationKind,
      site: copy.site,
      method: copy.method,
      schedule: copy.schedule.controllerCron,
      scheduleTimeZone: copy.schedule.controllerTimeZone,
      retention: copy.retention,
      encrypted: copy.encrypted,
      immutable: copy.immutable,
      independent: copy.independent,
      continuous: copy.continuous,
      rpoHours: copy.rpoHours,
      location: copy.location,
    })),
    skipped: item.skipped,
  };
}
