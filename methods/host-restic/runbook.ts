import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { resticRepository, s3Endpoint } from "../../domain/repositories";
import { bucketFields, storeItem } from "../../domain/secrets";
import { credentialKindOf } from "../../domain/storage";
import { hostTarget, hostTask } from "../../domain/machines";
import { hostBackupPaths, unitNames } from "../../domain/hostBackup";
import { code, fromStore, Lines, storeName, ToolEnv } from "../../domain/runbookText";

export function hostIntro(config: StackConfig, item: PlannedItem): Lines {
  const host = config.hosts[item.name];
  const target = hostTarget(config, item);
  return [
    `Host \`${host.host}\`: paths ${host.paths.map((p) => `\`${p}\``).join(", ")}${host.excludes.length ? `, excluding ${host.excludes.map((p) => `\`${p}\``).join(", ")}` : ""}. Shell: \`ssh -p ${target.port} ${target.user}@${target.host}\`.`,
    ...(host.preHook ? ["", `Before each backup the host runs \`${host.preHook}\`: what it writes is in the backup too.`] : []),
  ];
}

export function hostCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const target = hostTarget(config, item);
  const task = hostTask(config, item, copy);
  const environmentFile = hostBackupPaths(task.name).environmentFile;
  const repository = resticRepository(config, item, copy);
  const own = storeItem(config.cluster.name, item.app);
  const fields = bucketFields({ destination: copy.destination, credential: credentialKindOf(copy.method)! });
  const env: ToolEnv = {
    template: {
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: "{{ .password }}",
      AWS_ACCESS_KEY_ID: "{{ .id }}",
      AWS_SECRET_ACCESS_KEY: "{{ .secret }}",
      AWS_DEFAULT_REGION: s3Endpoint(config, copy.destination).region,
    },
    values: [
      { variable: "password", item: own, field: "restic-password" },
      { variable: "id", item: own, field: fields.accessKeyId },
      { variable: "secret", item: own, field: fields.secretAccessKey },
    ],
  };
  return [
    `### From \`${copy.destination}\`: restic repository in bucket \`${copy.location}\``,
    "",
    `Repository \`${repository}\`, snapshots of host \`${item.name}\`; written by \`${unitNames(task.name).service}\`.`,
    "",
    `On the host, as root, the backup's own environment file \`${environmentFile}\` opens it:`,
    "",
    ...code("sh", [`ssh -p ${target.port} ${target.user}@${target.host}`, `set -a; . ${environmentFile}; set +a`]),
    `From any machine (the host is gone), from the store (${storeName(config)}):`,
    "",
    ...code("sh", fromStore(config, env)),
    "Then:",
    "",
    ...code("sh", [
      `# RESTIC_REPOSITORY is ${repository}`,
      `restic snapshots --host ${item.name}`,
      `restic ls latest --host ${item.name} | head -n 50`,
      `restic restore latest --host ${item.name} --target ./restore --include '<path>'   # one file or directory`,
      `restic restore latest --host ${item.name} --target /mnt/newroot                   # everything, onto a reinstalled machine's disk`,
    ]),
  ];
}
