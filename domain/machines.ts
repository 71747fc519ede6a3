/**
 * What runs on the machines outside the cluster: TrueNAS periodic snapshot and cloud sync tasks
 * (managed through the middleware client), and host backups (restic under a systemd timer).
 * Each becomes one remote script to create and one to delete, run over SSH by domain/ssh.ts.
 */
import type { StackConfig } from "./config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem, PlannedJob } from "./model";
import { resticVolumeDrillScript } from "./jobs/drills";
import { DRILL_READ_PERCENT, DRILL_SAMPLE_FILES } from "./drillSchedule";
import { kubeName } from "./naming";
import { resticRepository, s3Endpoint } from "./repositories";
import { CLOUDSYNC_SECRET_ENV, cloudSyncTaskCommands, cronToTruenasSchedule, cronToTruenasSnapshotSchedule, lifetimeForRetention, RetentionPeriod, snapshotTaskCommands } from "./truenas";
import { cronToOnCalendar, hostBackupPaths, HostBackupPaths, hostBackupScript, hostLockFile, installCommands, prepareCommands, systemdUnits, uninstallCommands } from "./hostBackup";
import { SshTarget } from "./ssh";

export interface RemoteTask {
  /** Logical name, stable across schedule changes. */
  name: string;
  /** What the task is, for people. */
  description: string;
  /** When it runs, as the machine is told: a TrueNAS schedule or a systemd OnCalendar. */
  schedule: string;
  create: string;
  delete: string;
  /** Local environment variables the remote side needs (secrets, and the recorded stdout). */
  forward: string[];
}

export function truenasTarget(config: StackConfig): SshTarget {
  const truenas = config.truenas!;
  return { host: truenas.host, port: truenas.port, user: truenas.user, hostKey: truenas.hostKey };
}

export function hostTarget(config: StackConfig, item: PlannedItem): SshTarget {
  const host = config.hosts[item.name];
  return { host: host.host, port: host.port, user: host.user, hostKey: host.hostKey };
}

/** The snapshot tasks (one per period) and cloud sync tasks (one per offsite copy) of a dataset. */
export function datasetTasks(config: StackConfig, item: PlannedItem): RemoteTask[] {
  const dataset = config.truenas!.datasets[item.name];
  const tasks: RemoteTask[] = [];
  for (const copy of item.copies) {
    if (copy.method === "zfs-snapshot") {
      const period = copy.schedule.spec as RetentionPeriod;
      const count = copy.retention.kind === "gfs" ? (copy.retention[period as keyof typeof copy.retention] as number) : 1;
      const commands = snapshotTaskCommands({
        dataset: dataset.dataset,
        recursive: dataset.recursive,
        ...lifetimeForRetention(period, count),
        naming_schema: `auto-${period}-%Y-%m-%d_%H-%M`,
        schedule: cronToTruenasSnapshotSchedule(copy.schedule.controllerCron),
      });
      tasks.push({
        name: kubeName([item.name, "snapshots", period]),
        description: `${period} ZFS snapshots of ${dataset.dataset}, kept ${count}`,
        schedule: describeTruenasSchedule(cronToTruenasSnapshotSchedule(copy.schedule.controllerCron)),
        create: commands.create,
        delete: commands.delete,
        forward: ["PULUMI_COMMAND_STDOUT"],
      });
    } else if (copy.method === "truenas-cloudsync") {
      const commands = cloudSyncTaskCommands({
        description: `homelab-backups ${item.id} to ${copy.destination}`,
        path: dataset.path ?? `/mnt/${dataset.dataset}`,
        credentials: config.truenas!.cloudCredentials[copy.destination],
        attributes: { bucket: copy.location, folder: item.name },
        // COPY never deletes offsite: a wiped or encrypted dataset cannot take the copy with it.
        transfer_mode: "COPY",
        schedule: cronToTruenasSchedule(copy.schedule.controllerCron),
        encryption: true,
        snapshot: true,
      });
      tasks.push({
        name: kubeName([item.name, "cloudsync", copy.destination]),
        description: `encrypted cloud sync of ${dataset.dataset} to ${copy.destination} (${copy.location}/${item.name})`,
        schedule: describeTruenasSchedule(cronToTruenasSchedule(copy.schedule.controllerCron)),
        create: commands.create,
        delete: commands.delete,
        forward: ["PULUMI_COMMAND_STDOUT", CLOUDSYNC_SECRET_ENV.password, CLOUDSYNC_SECRET_ENV.salt],
      });
    }
  }
  return tasks;
}

/** A shell step that writes `content` to `path` through a quoted here-document (no expansion). */
function file(path: string, content: string, delimiter: string): string {
  return `cat >${shellWord(path)} <<'${delimiter}'\n${content.replace(/\n$/, "")}\n${delimiter}`;
}

/** Secrets a host's install forwards; the environment file on the host is built from them. */
export const HOST_SECRET_ENV = ["RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const;

/**
 * Where one host backup (to one destination) and its restore drill live. The drill reads the
 * backup's environment file: the last of the two to be removed deletes it.
 */
export function hostInstallPaths(item: PlannedItem, copy: PlannedCopy): { backup: HostBackupPaths; drill: HostBackupPaths } {
  const backup = hostBackupPaths(kubeName([item.name, copy.destination]));
  const drill = { ...hostBackupPaths(kubeName([item.name, copy.destination, "drill"])), environmentFile: backup.environmentFile };
  return { backup, drill };
}

function parentDirectory(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/**
 * Installs (and on delete removes) one host's restic backup to one destination. The backups of
 * one host to several destinations share the host's lock file, so their hooks never overlap; the
 * unit may write the lock's directory and the host's `readWritePaths` (the hooks' dump directory).
 */
export function hostTask(config: StackConfig, item: PlannedItem, copy: PlannedCopy): RemoteTask {
  const host = config.hosts[item.name];
  const { backup: paths, drill } = hostInstallPaths(item, copy);
  const name = paths.name;
  const lockFile = hostLockFile(item.name);
  const keep = copy.retention.kind === "gfs" ? (({ kind: _kind, ...buckets }) => buckets)(copy.retention) : undefined;
  const script = hostBackupScript({
    host: item.name,
    paths: host.paths,
    excludes: host.excludes,
    preHook: host.preHook,
    postHook: host.postHook,
    keep,
    tag: "homelab-backups",
    environmentFile: paths.environmentFile,
    lockFile,
    notify: config.notifications ? { ntfyUrl: config.notifications.ntfy.url } : undefined,
  });
  const onCalendar = cronToOnCalendar(copy.schedule.controllerCron);
  const units = systemdUnits({
    name,
    schedule: onCalendar,
    environmentFile: paths.environmentFile,
    scriptPath: paths.script,
    readWritePaths: [...host.readWritePaths, parentDirectory(lockFile)],
    description: `homelab-backups: restic backup of ${item.name} to ${copy.destination}`,
  });
  const { region } = s3Endpoint(config, copy.destination);
  const create = [
    prepareCommands(paths),
    file(paths.script, script, "HOMELAB_BACKUPS_SCRIPT_EOF"),
    file(paths.service, units.service, "HOMELAB_BACKUPS_SERVICE_EOF"),
    file(paths.timer, units.timer, "HOMELAB_BACKUPS_TIMER_EOF"),
    "umask 077",
    // Secrets arrive in the session's environment, never in this text; the file is root's alone.
    `{ printf 'RESTIC_REPOSITORY=%s\\n' ${shellWord(resticRepository(config, item, copy))}`,
    `  printf 'AWS_DEFAULT_REGION=%s\\n' ${shellWord(region)}`,
    ...HOST_SECRET_ENV.map((key) => `  printf '${key}=%s\\n' "$${key}"`),
    `} >${shellWord(paths.environmentFile)}`,
    `chmod 600 ${shellWord(paths.environmentFile)}`,
    installCommands(paths),
  ].join("\n");
  return {
    name,
    description: `restic backup of ${item.name} (${host.paths.join(", ")}) to ${copy.destination}`,
    schedule: onCalendar.map((expression) => `OnCalendar=${expression}`).join(" "),
    create,
    delete: uninstallCommands(paths, { environmentFileSharedWith: [drill.service] }),
    forward: [...HOST_SECRET_ENV],
  };
}

function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Marks a host command as a restore drill, with its cron, for the policy pack to find. */
export const HOST_DRILL_MARKER = "# homelab-backups restore drill";

/**
 * A restore drill on a host: a second systemd service and timer that checks a share of the
 * repository and restores sample files, reading the backup's own environment file.
 */
export function hostDrillTask(config: StackConfig, item: PlannedItem, job: PlannedJob): RemoteTask {
  const copy = item.copies.find((c) => c.id === job.copyId);
  if (!copy || copy.method !== "host-restic") throw new Error(`${job.id}: host drills restore host-restic copies`);
  const { backup, drill: paths } = hostInstallPaths(item, copy);
  const script = resticVolumeDrillScript({
    notify: { app: item.app, item: item.name, ntfyUrl: config.notifications?.ntfy.url },
    maxAgeHours: job.maxAgeHours ?? 50,
    sampleFiles: DRILL_SAMPLE_FILES,
    readDataSubset: `${DRILL_READ_PERCENT}%`,
  });
  const onCalendar = cronToOnCalendar(job.schedule.controllerCron);
  const units = systemdUnits({
    name: paths.name,
    schedule: onCalendar,
    environmentFile: paths.environmentFile,
    scriptPath: paths.script,
    description: `homelab-backups: restore drill of ${item.name} from ${copy.destination}`,
  });
  const create = [
    `${HOST_DRILL_MARKER} of ${item.id} from ${copy.destination}`,
    `# drill schedule: ${job.schedule.cron}`,
    prepareCommands(paths),
    file(paths.script, script, "HOMELAB_BACKUPS_SCRIPT_EOF"),
    file(paths.service, units.service, "HOMELAB_BACKUPS_SERVICE_EOF"),
    file(paths.timer, units.timer, "HOMELAB_BACKUPS_TIMER_EOF"),
    installCommands(paths),
  ].join("\n");
  return {
    name: paths.name,
    description: `restore drill of ${item.name} from ${copy.destination}: check ${DRILL_READ_PERCENT}% of the repository, restore ${DRILL_SAMPLE_FILES} files`,
    schedule: onCalendar.map((expression) => `OnCalendar=${expression}`).join(" "),
    create,
    delete: uninstallCommands(paths, { environmentFileSharedWith: [backup.service] }),
    forward: [],
  };
}

/** A TrueNAS schedule object in the words of its UI: "minute 15, hour *, ...". */
function describeTruenasSchedule(schedule: { minute: string; hour: string; dom: string; month: string; dow: string; begin?: string; end?: string }): string {
  const window = schedule.begin && !(schedule.begin === "00:00" && schedule.end === "23:59") ? ` between ${schedule.begin} and ${schedule.end}` : "";
  return `minute ${schedule.minute}, hour ${schedule.hour}, day ${schedule.dom}, month ${schedule.month}, weekday ${schedule.dow}${window}`;
}

export interface MachineTask {
  /** Where the task lives: "truenas" or the host's name. */
  machine: string;
  /** The SSH address the task is installed through. */
  address: string;
  /** The config key of the dataset or host. */
  configPath: string;
  task: RemoteTask;
}

/** Every task the program installs outside the cluster, in plan order (for BACKUP-PLAN.md). */
export function machineTasks(config: StackConfig, plan: Pick<BackupPlan, "items" | "jobs">): MachineTask[] {
  return plan.items.flatMap((item): MachineTask[] => {
    if (item.kind === "dataset") {
      const address = truenasTarget(config).host;
      return datasetTasks(config, item).map((task) => ({ machine: "truenas", address, configPath: item.configPath, task }));
    }
    if (item.kind === "host") {
      const address = hostTarget(config, item).host;
      const drills = plan.jobs.filter((job) => job.kind === "restore-drill" && job.itemId === item.id);
      return [
        ...item.copies.filter((copy) => copy.method === "host-restic").map((copy) => hostTask(config, item, copy)),
        ...drills.map((job) => hostDrillTask(config, item, job)),
      ].map((task) => ({ machine: item.name, address, configPath: item.configPath, task }));
    }
    return [];
  });
}
