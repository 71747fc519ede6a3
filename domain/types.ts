/** Type tokens of our components and of the resources policies look at. */

export const COMPONENT_TYPES = {
  platform: "homelab-backups:index:BackupPlatform",
  app: "homelab-backups:apps:AppBackup",
  volume: "homelab-backups:volumes:VolumeBackup",
  canary: "homelab-backups:volumes:VolumeCanary",
  kopiaMirror: "homelab-backups:volumes:KopiaMirror",
  cnpg: "homelab-backups:databases:CnpgBackup",
  dump: "homelab-backups:databases:DumpBackup",
  dataset: "homelab-backups:truenas:DatasetBackup",
  host: "homelab-backups:hosts:HostBackup",
  drill: "homelab-backups:drills:RestoreDrill",
  verification: "homelab-backups:drills:RepositoryVerification",
  alerts: "homelab-backups:alerts:BackupAlerts",
} as const;

/** Components that each protect one piece of data and declare its copies as their inputs. */
export const DATA_COMPONENT_TYPES: readonly string[] = [
  COMPONENT_TYPES.volume,
  COMPONENT_TYPES.cnpg,
  COMPONENT_TYPES.dump,
  COMPONENT_TYPES.dataset,
  COMPONENT_TYPES.host,
];
