import { stringify } from "yaml";
import type { StackConfig, VolumeConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName, LABELS } from "../../domain/naming";
import { kopiaIdentity, kopiaRepository, moverSecretRecipe, repositoryLocation, resticRepository, SecretRecipe } from "../../domain/repositories";
import { bootstrap, claimOf, replicationSourceName, storageClassOf } from "./manifests";
import { shellQuote } from "../../domain/truenas";
import { code, credentialBlocks, Lines, nasMount, workloadsOf } from "../../domain/runbookText";
import { copyAnchor } from "../../domain/runbookLinks";
import { methodOf } from "../registry";
import { snapschedulerChart, snapshotControllerChart, volsyncChart } from "../../domain/operators";
import { isObjectStorage } from "../../destinations/registry";

export function volumeIntro(config: StackConfig, item: PlannedItem): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const sources = item.copies.filter((c) => c.method === "volsync-restic" || c.method === "volsync-kopia").map((c) => `\`${replicationSourceName(item, volume, c)}\``);
  const boot = bootstrap(config, item, volume, config.images);
  return [
    `Claim \`${claimOf(item, volume)}\` in namespace \`${item.namespace}\` (${volume.capacity}, storage class \`${storageClassOf(config, volume)}\`), mover \`${volume.mover}\`, files owned by ${volume.uid}:${volume.gid}.` +
      (sources.length ? ` ReplicationSources: ${sources.join(", ")}.` : ""),
    boot
      ? `Restored automatically on a new cluster (restoreOnBootstrap): ReplicationDestination \`${(boot.destination.metadata as { name: string }).name}\`.`
      : "Not restored automatically on a new cluster: restore it by hand before the app starts.",
  ];
}

export function volumeCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const recipe = moverSecretRecipe(config, item, copy);
  const restic = copy.method === "volsync-restic";
  const repository = restic ? resticRepository(config, item, copy) : kopiaRepository(config, item, copy);
  const lines: Lines = [
    `### From \`${copy.destination}\`: ${restic ? "restic" : "Kopia"}, ReplicationSource \`${replicationSourceName(item, volume, copy)}\``,
    "",
    `Repository \`${repository}\`${isObjectStorage(copy.destinationKind) ? ` (bucket \`${copy.location}\`)` : ` (on \`${copy.location}\`)`}${restic ? "" : `, Kopia identity \`${identityOf(item, volume)}\``}.`,
    "",
    ...credentialBlocks(config, recipe, recipe),
    ...nasMount(config, copy),
    "#### One file or directory",
    "",
  ];
  if (restic) {
    lines.push(
      ...code("sh", [
        `# RESTIC_REPOSITORY is ${repository}`,
        "restic snapshots --host volsync",
        "# VolSync's mover runs `restic backup .` inside the volume (snapshot path /data): files sit at the snapshot's root.",
        "restic ls latest --host volsync | head -n 50",
        "restic restore latest --host volsync --target ./restore --include '/<path in the volume>'",
      ]),
      "An older version: take its ID from `restic snapshots` instead of `latest`.",
      "",
    );
  } else {
    lines.push(...code("sh", [...kopiaConnect(recipe), ...kopiaFileRestore(identityOf(item, volume))]));
  }
  lines.push(...wholeVolume(config, item, volume, copy));
  return lines;
}

export function identityOf(item: PlannedItem, volume: VolumeConfig): string {
  const identity = kopiaIdentity(item, claimOf(item, volume));
  return `${identity.username}@${identity.hostname}`;
}

/** `kopia repository connect` for the repository a mover Secret describes, with literal names. */
export function kopiaConnect(recipe: SecretRecipe): Lines {
  const t = recipe.template;
  const location = repositoryLocation(t.KOPIA_REPOSITORY);
  const lines = ['export KOPIA_CONFIG_PATH="$PWD/kopia-restore.config"'];
  if (location?.kind === "filesystem") {
    lines.push(`kopia repository connect filesystem --path=${shellQuote(location.path)}`);
  } else if (location?.kind === "s3") {
    lines.push(
      "# kopia reads the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      `kopia repository connect s3 --bucket=${shellQuote(location.bucket)} --prefix=${shellQuote(`${location.path}/`)} --endpoint=${shellQuote(t.KOPIA_S3_ENDPOINT)} --region=${shellQuote(t.AWS_REGION ?? "auto")}`,
    );
  } else if (location?.kind === "sftp") {
    lines.push(
      "umask 077",
      `printf '%s\\n' "$SFTP_KEY_FILE" > ./sftp-key`,
      `printf '%s\\n' "$SFTP_KNOWN_HOSTS_DATA" > ./known_hosts`,
      `kopia repository connect sftp --host=${shellQuote(t.SFTP_HOST)} --port=${t.SFTP_PORT} --username=${shellQuote(t.SFTP_USERNAME)} --path=${shellQuote(t.SFTP_PATH)} --keyfile="$PWD/sftp-key" --known-hosts="$PWD/known_hosts"`,
    );
  } else {
    throw new Error(`unsupported Kopia repository ${t.KOPIA_REPOSITORY}`);
  }
  return lines;
}

export function kopiaFileRestore(identity: string): Lines {
  return [
    `kopia snapshot list ${identity}`,
    `SNAPSHOT=$(kopia snapshot list ${identity} --json | jq -r 'max_by(.startTime) | .rootEntry.obj')`,
    'kopia ls "$SNAPSHOT" | head -n 50',
    `kopia snapshot restore "$SNAPSHOT/<path in the volume>" ./restore`,
  ];
}

/** A ReplicationDestination that restores one copy into the existing claim (copyMethod Direct). */
export function manualDestination(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Record<string, unknown> {
  // The bootstrap's destination for exactly this copy: the same repository, identity, mover settings.
  const built = bootstrap(config, { ...item, copies: [copy] }, { ...volume, restoreOnBootstrap: true }, config.images)!.destination as {
    metadata: { labels: Record<string, string> };
    spec: Record<string, Record<string, unknown>>;
  };
  const claim = claimOf(item, volume);
  const { capacity: _c, accessModes: _a, storageClassName: _s, volumeSnapshotClassName: _v, cleanupTempPVC: _t, copyMethod: _m, ...settings } = built.spec[volume.mover];
  const { [LABELS.managedBy]: _managed, ...labels } = built.metadata.labels;
  return {
    apiVersion: "volsync.backube/v1alpha1",
    kind: "ReplicationDestination",
    metadata: { name: kubeName([claim, "restore", copy.destination]), namespace: item.namespace, labels },
    spec: {
      trigger: { manual: "restore-now" },
      [volume.mover]: { destinationPVC: claim, copyMethod: "Direct", previous: 0, ...settings },
    },
  };
}

export function wholeVolume(config: StackConfig, item: PlannedItem, volume: VolumeConfig, copy: PlannedCopy): Lines {
  const claim = claimOf(item, volume);
  const ns = item.namespace;
  const rd = manualDestination(config, item, volume, copy);
  const rdName = (rd.metadata as { name: string }).name;
  const sources = item.copies.filter((c) => c.method === "volsync-restic" || c.method === "volsync-kopia").map((c) => replicationSourceName(item, volume, c));
  return [
    "#### The whole volume",
    "",
    `A manual ReplicationDestination restores this copy straight into the existing claim \`${claim}\` (the sourcePVC of the ReplicationSources), the way the community runbooks do. \`enableFileDeletion\` makes the claim equal to the backup.`,
    "",
    `1. Stop everything that writes to \`${claim}\` (suspend Flux first if it manages the app, or it scales back up):`,
    "",
    ...code("sh", [workloadsOf(ns, claim), `kubectl scale -n ${ns} deployment/<workload> --replicas=0   # or statefulset/<workload>`, `kubectl get pods -n ${ns} -w   # until the app's pods are gone`]),
    "2. Pause the backups of the claim, so none copies a half-restored volume:",
    "",
    ...code("sh", [`for rs in ${sources.join(" ")}; do kubectl patch replicationsource -n ${ns} "$rs" --type merge -p '{"spec":{"paused":true}}'; done`]),
    "3. Restore. `previous: 0` is the newest backup, 1 the one before; or replace it with `restoreAsOf: \"2026-01-31T23:59:59Z\"` (RFC 3339):",
    "",
    ...code("sh", ["kubectl apply -f - <<'EOF'", ...stringify(rd).trimEnd().split("\n"), "EOF"]),
    "4. Wait for the mover Job and check that it succeeded:",
    "",
    ...code("sh", [
      `kubectl logs -n ${ns} -f job/volsync-dst-${rdName}`,
      `kubectl wait -n ${ns} replicationdestination/${rdName} --for=jsonpath='{.status.lastManualSync}'=restore-now --timeout=120m`,
      `kubectl get replicationdestination -n ${ns} ${rdName} -o jsonpath='{.status.latestMoverStatus.result}{"\\n"}'   # Successful`,
    ]),
    "5. Clean up, resume the backups and start the app:",
    "",
    ...code("sh", [
      `kubectl delete replicationdestination -n ${ns} ${rdName}`,
      `for rs in ${sources.join(" ")}; do kubectl patch replicationsource -n ${ns} "$rs" --type merge -p '{"spec":{"paused":false}}'; done`,
      `kubectl scale -n ${ns} deployment/<workload> --replicas=1`,
    ]),
  ];
}

/** The operators a volume's restore needs in a new cluster. */
export function volumeOperators(config: StackConfig): string[] {
  const volsync = volsyncChart(config);
  return [
    `VolSync (\`${volsync.chart}\` ${volsync.version} in \`${volsync.namespace}\`)`,
    `the CSI snapshot controller (\`${snapshotControllerChart(config).chart}\`) and SnapScheduler (\`${snapschedulerChart(config).chart}\`)`,
  ];
}

/** A volume after a lost cluster: the restore-once bootstrap fills it, or the runbook's whole-volume restore, or it starts empty. */
export function volumeAfterLostCluster(config: StackConfig, item: PlannedItem): Lines {
  const volume = config.apps[item.app].volumes[item.name];
  const boot = bootstrap(config, item, volume, config.images);
  if (boot) {
    const rd = (boot.destination.metadata as { name: string }).name;
    const check = boot.check && (boot.check.metadata as { name: string }).name;
    return [
      `   - volume \`${item.name}\`: restored by \`pulumi up --refresh\` itself: ReplicationDestination \`${rd}\` fills the new claim \`${claimOf(item, volume)}\`${check ? `, after the Job \`${check}\` proved the repository holds a backup (if it fails, fix the repository or credentials; do not skip it)` : ""}. Watch: \`kubectl get replicationdestination -n ${item.namespace} ${rd} -w\`.`,
    ];
  }
  if (item.copies.some((c) => methodOf(c.method).controller === "volsync")) {
    return [`   - volume \`${item.name}\`: create the claim \`${claimOf(item, volume)}\` empty, then [restore the whole volume](#${copyAnchor(item, item.copies[0])}) before the app starts.`];
  }
  return [`   - volume \`${item.name}\`: only local snapshots, which were lost with the storage: starts empty.`];
}
