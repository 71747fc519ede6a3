import type { StackConfig } from "../../domain/config/schema";
import type { BackupPlan, PlannedCopy, PlannedItem, PlannedJob } from "../../domain/model";
import { restoreDrill } from "../../domain/drills";
import { datasetTasks } from "../../domain/machines";
import { shellQuote } from "../../domain/truenas";
import { code, fromStore, Lines, storeRead, ToolEnv } from "../../domain/runbookText";

/** The Cloud Sync task the program installs for a copy, as its payload (no secrets in it). */
export function cloudSyncSpec(config: StackConfig, item: PlannedItem, copy: PlannedCopy): { description: string; path: string; attributes: { bucket: string; folder: string } } | undefined {
  for (const task of datasetTasks(config, item)) {
    const match = /HB_TASK_PAYLOAD='((?:[^']|'\\'')*)'/.exec(task.create);
    if (!match) continue;
    const payload = JSON.parse(match[1].replace(/'\\''/g, "'")) as { description: string; path: string; attributes?: { bucket: string; folder: string } };
    if (payload.attributes?.bucket === copy.location) return payload as { description: string; path: string; attributes: { bucket: string; folder: string } };
  }
  return undefined;
}

/** The drill objects of a copy (a drill of another copy of the item, pointed at this one). */
export function drillFor(config: StackConfig, plan: BackupPlan, item: PlannedItem, copy: PlannedCopy) {
  const job = plan.jobs.find((j) => j.kind === "restore-drill" && j.itemId === item.id);
  const base: PlannedJob = job ?? { id: `${item.id}/drill@${copy.destination}`, kind: "restore-drill", app: item.app, itemId: item.id, namespace: item.namespace, destination: copy.destination, controller: "cronjob", schedule: copy.schedule };
  return restoreDrill(config, item, { ...base, copyId: copy.id, destination: copy.destination });
}

export function cloudSyncCopy(config: StackConfig, plan: BackupPlan, item: PlannedItem, copy: PlannedCopy): Lines {
  const spec = cloudSyncSpec(config, item, copy);
  const folder = spec?.attributes.folder ?? item.name;
  const drill = drillFor(config, plan, item, copy);
  const container = (drill.cronJob as { spec: { jobTemplate: { spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } } } }).spec.jobTemplate.spec.template.spec.containers[0];
  const settings = Object.fromEntries((container.env ?? []).filter((e) => e.name.startsWith("RCLONE_CONFIG_OFFSITE_") && e.value !== undefined).map((e) => [e.name, e.value!]));
  const secret = drill.secret!;
  const keyEnv: ToolEnv = {
    template: Object.fromEntries(Object.entries(secret.template).filter(([key]) => key.startsWith("RCLONE_CONFIG_OFFSITE_"))),
    values: secret.values,
  };
  const field = (name: string) => secret.values.find((v) => v.field === name);
  const password = field("cloudsync-password");
  const salt = field("cloudsync-salt");
  const lines: Lines = [
    `### From \`${copy.destination}\`: Cloud Sync copy in bucket \`${copy.location}\`, folder \`${folder}\``,
    "",
    "Encrypted with rclone crypt (contents; file names readable with a `.bin` suffix), pushed in COPY mode: files deleted on the NAS stay here.",
    "",
    "**On TrueNAS** (the NAS and its Cloud Sync credential still exist): Data Protection, Cloud Sync Tasks," +
      (spec ? ` the task \`${spec.description}\` (path \`${spec.path}\`),` : "") +
      " Restore: Transfer Mode COPY into a new directory, then move what you need. The restore task reuses the task's encryption password and salt.",
    "",
    "**Anywhere, with rclone** (also after losing the NAS):",
    "",
    ...code("sh", [
      "export RCLONE_CONFIG=/dev/null",
      ...Object.entries(settings).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
      ...fromStore(config, keyEnv),
      "export RCLONE_CONFIG_ENCRYPTED_TYPE=crypt",
      `export RCLONE_CONFIG_ENCRYPTED_REMOTE=${shellQuote(`offsite:${copy.location}/${folder}`)}`,
      "export RCLONE_CONFIG_ENCRYPTED_FILENAME_ENCRYPTION=off",
      "export RCLONE_CONFIG_ENCRYPTED_DIRECTORY_NAME_ENCRYPTION=true",
      ...(password ? [`export RCLONE_CONFIG_ENCRYPTED_PASSWORD="$(${storeRead(config, password.item, password.field)} | rclone obscure -)"`] : []),
      ...(salt ? [`export RCLONE_CONFIG_ENCRYPTED_PASSWORD2="$(${storeRead(config, salt.item, salt.field)} | rclone obscure -)"`] : []),
      "rclone lsf -R encrypted: | head -n 50",
      "rclone copy 'encrypted:<path>' './restore/<path>'   # one file or directory",
      "rclone copy encrypted: ./restore --progress         # everything",
    ]),
  ];
  return lines;
}
