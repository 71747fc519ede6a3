import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { runbookAnchor } from "../../domain/runbookLinks";
import { resticRepository, sshKeyRef } from "../../domain/repositories";
import { repositoryPath } from "../../domain/storage";
import { dumpDirectory, offsiteSecretRecipe } from "./manifests";
import { shellQuote } from "../../domain/truenas";
import { RESTIC_TAG, STAMP_GLOB } from "../../domain/jobs/scripts";
import { anchor, code, credentialBlocks, Lines, secretRead, storeRead } from "../../domain/runbookText";

/** A grep -E pattern for an item's dump files in a listing. */
export function dumpPattern(item: PlannedItem): string {
  return `/${item.name.replace(/[.[\]\\*^$+?(){}|]/g, "\\$&")}-[0-9]{8}T[0-9]{6}Z\\.`;
}

export function nasDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const colon = copy.location.indexOf(":");
  const server = copy.location.slice(0, colon);
  const dir = `${copy.location.slice(colon + 1)}/${repositoryPath(config, item, copy)}`;
  return [
    `### From \`${copy.destination}\`: the newest dump on the NAS`,
    "",
    `The dump jobs write \`${dumpDirectory(config, item.app)}/${item.name}-<UTC time>.<ext>\` (the share mounted at \`${dumpDirectory(config, item.app).split("/").slice(0, 2).join("/")}\`); on the NAS that is \`${copy.location}/${repositoryPath(config, item, copy)}\`.`,
    "",
    ...code("sh", [`NEWEST=$(ssh ${server} "ls -1 ${dir}/${item.name}-${STAMP_GLOB}.*" | tail -n 1)`, `scp "${server}:$NEWEST" .`]),
  ];
}

export function resticDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const recipe = offsiteSecretRecipe(config, item, copy);
  const dir = dumpDirectory(config, item.app);
  const filter = `--tag ${RESTIC_TAG} --path ${dir}`;
  return [
    `### From \`${copy.destination}\`: restic copy of the dump directory, bucket \`${copy.location}\``,
    "",
    `Repository \`${resticRepository(config, item, copy)}\`: snapshots of \`${dir}\` tagged \`${RESTIC_TAG}\`, shared by every dump of ${item.app}.`,
    "",
    ...credentialBlocks(config, recipe, recipe),
    ...code("sh", [
      `# RESTIC_REPOSITORY is ${resticRepository(config, item, copy)}`,
      `restic snapshots ${filter}`,
      `NEWEST=$(restic ls latest ${filter} | grep -E '${dumpPattern(item)}' | sort | tail -n 1)`,
      `restic restore latest ${filter} --target ./restore --include "$NEWEST"`,
      'cp "./restore$NEWEST" .',
    ]),
  ];
}

export function rsyncDumpCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const target = config.destinations[copy.destination];
  if (target.kind !== "ssh") return [];
  const recipe = offsiteSecretRecipe(config, item, copy);
  const [keyItem, keyField] = sshKeyRef(copy.destination, target.privateKeyRef);
  const remote = `${target.user}@${copy.location.replace(/^[^:]*:/, `${target.host}:`)}/${repositoryPath(config, item, copy)}`;
  const ssh = `ssh -i ./offsite-key -o UserKnownHostsFile=./known_hosts -o StrictHostKeyChecking=yes -p ${target.port}`;
  return [
    `### From \`${copy.destination}\`: rsync copy of the dump directory on \`${target.host}\``,
    "",
    `Plain files in \`${copy.location}/${repositoryPath(config, item, copy)}\` (not encrypted), reached with the SSH key the offsite job uses.`,
    "",
    ...code("sh", [
      "umask 077",
      `${secretRead(recipe.namespace, recipe.name, "ssh-private-key")} > ./offsite-key   # cluster running`,
      `# or after losing the cluster: ${storeRead(config, keyItem, keyField)} > ./offsite-key`,
      `printf '%s\\n' ${shellQuote(recipe.template.known_hosts.replace(/\n$/, ""))} > ./known_hosts`,
      `NEWEST=$(rsync -e '${ssh}' --list-only '${remote}/' | awk '{print $NF}' | grep -E '^${dumpPattern(item).slice(1)}' | sort | tail -n 1)`,
      `rsync -e '${ssh}' "${remote}/$NEWEST" .`,
    ]),
  ];
}

/** How to load the fetched dump: once per item, after its copies. */
/** The "Load the dump" section of a dumped item, from its dump copy on the NAS share; `body` says how. */
export function loadDump(config: StackConfig, item: PlannedItem, body: (config: StackConfig, item: PlannedItem, dump: PlannedCopy) => Lines): Lines {
  const dump = item.copies.find((c) => c.method === "dump");
  if (!dump) return [];
  const lines = body(config, item, dump);
  return lines.length > 0 ? [anchor(`${runbookAnchor(item)}-load`), `### Load the dump`, "", ...lines] : [];
}

/** A dumped item after a lost cluster: load the newest dump once its server is back. */
export function dumpAfterLostCluster(_config: StackConfig, item: PlannedItem): Lines {
  return [`   - ${item.kind} \`${item.name}\`: once its server or volume is back, [load the newest dump](#${runbookAnchor(item)}-load) from the first copy that still exists.`];
}
