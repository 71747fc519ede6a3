/**
 * Every backup method and data kind: one folder each under methods/, one line here. The order is
 * the plan's: an app's items come section by section in the order their kinds appear, machines
 * (datasets, hosts) after the apps.
 */
import type { BackupMethod, DataKindPlugin, MethodPlugin, MethodStorage } from "./types";
import { volsync } from "./volsync";
import { volsyncRestic } from "./volsync-restic";
import { volsyncKopia } from "./volsync-kopia";
import { csiSnapshots } from "./csi-snapshots";
import { pgbackrest } from "./pgbackrest";
import { dumps } from "./dumps";
import { dumpPostgres } from "./dump-postgres";
import { dumpSqlite } from "./dump-sqlite";
import { dumpRedis } from "./dump-redis";
import { truenas } from "./truenas";
import { zfsSnapshots } from "./zfs-snapshots";
import { truenasCloudsync } from "./truenas-cloudsync";
import { hostRestic } from "./host-restic";
import type { PlannedItem } from "../domain/model";
import type { StackConfig } from "../domain/config/schema";

export const PLUGINS: readonly MethodPlugin[] = [
  volsync,
  volsyncRestic,
  volsyncKopia,
  csiSnapshots,
  pgbackrest,
  dumps,
  dumpPostgres,
  dumpSqlite,
  dumpRedis,
  truenas,
  zfsSnapshots,
  truenasCloudsync,
  hostRestic,
];

export const DATA_KINDS: readonly DataKindPlugin[] = PLUGINS.flatMap((plugin) => plugin.dataKinds ?? []);
export const METHODS: readonly BackupMethod[] = PLUGINS.flatMap((plugin) => plugin.methods ?? []);

const METHOD_BY_ID = new Map(METHODS.map((method) => [method.id, method]));
const KIND_BY_ID = new Map(DATA_KINDS.map((kind) => [kind.kind, kind]));

export function methodOf(id: string): BackupMethod {
  const method = METHOD_BY_ID.get(id);
  if (!method) throw new Error(`unknown backup method "${id}"`);
  return method;
}

/** Who keeps a copy's passwords and who its bucket credential in the store (the app unless the method says otherwise). */
export function copyStoreOwners(config: StackConfig, item: PlannedItem, method: BackupMethod): { passwords: string; credential: string } {
  const consumer = method.storage?.owner?.(config, item) ?? item.app;
  return { passwords: method.secrets?.owner?.(config, item) ?? item.app, credential: method.storage?.secretOwner?.(consumer) ?? consumer };
}

/** The storage facts of the method whose credential is `credential`. */
export function methodStorage(credential: string): MethodStorage | undefined {
  return METHODS.find((method) => method.storage?.credential === credential)?.storage;
}

export function dataKindOf(kind: string): DataKindPlugin {
  const plugin = KIND_BY_ID.get(kind);
  if (!plugin) throw new Error(`unknown data kind "${kind}"`);
  return plugin;
}
