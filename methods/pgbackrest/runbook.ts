import { stringify } from "yaml";
import type { StackConfig } from "../../domain/config/schema";
import type { PlannedCopy, PlannedItem } from "../../domain/model";
import { kubeName } from "../../domain/naming";
import { pgbackrestSecretRecipe } from "../../domain/repositories";
import { CNPG_API, PGBACKREST_PLUGIN, pluginEntry, stanza } from "./cluster";
import { cnpgClusterName } from "../../domain/storage";
import { pgbackrestRepoEnv } from "../../domain/drills";
import { code, credentialBlocks, Lines, ToolEnv } from "../../domain/runbookText";

export function cnpgIntro(config: StackConfig, item: PlannedItem): Lines {
  const cluster = cnpgClusterName(config, item);
  const repos = pgbackrestRepos(config, item);
  return [
    `CloudNativePG Cluster \`${cluster}\` in namespace \`${item.namespace}\`, pgBackRest stanza \`${cluster}\` (Stanza object \`${cluster}\`), WAL archived to every repository:`,
    "",
    ...repos.map((r) => `- repo${r.repo}: \`${r.copy.destination}\`, bucket \`${r.copy.location}\`, path \`/${cluster}\``),
  ];
}

export function pgbackrestRepos(config: StackConfig, item: PlannedItem): Array<{ repo: number; copy: PlannedCopy }> {
  return item.copies.filter((c) => c.method === "pgbackrest").map((copy) => ({ repo: pgbackrestRepoEnv(config, item, copy).repo, copy }));
}

export function pgbackrestCopy(config: StackConfig, item: PlannedItem, copy: PlannedCopy): Lines {
  const cluster = cnpgClusterName(config, item);
  const ns = item.namespace;
  const env = pgbackrestRepoEnv(config, item, copy);
  const toolEnv: ToolEnv = { template: { ...env.settings, ...env.template }, values: env.values };
  const database = config.apps[item.app].databases[item.name];
  const owned = database.engine === "cnpg" && database.owned;
  const restoreName = kubeName([cluster, "restore"]);
  const stanzaName = kubeName([cluster, "restore", copy.destination]);
  // The program's Stanza with only this repository: the restore reads this copy and no other.
  const only = stanza(config, { ...item, copies: [copy] }) as { metadata: Record<string, unknown>; spec: unknown };
  const restoreStanza = { ...only, metadata: { name: stanzaName, namespace: ns } };
  const restored = {
    apiVersion: CNPG_API,
    kind: "Cluster",
    metadata: { name: restoreName, namespace: ns },
    spec: {
      instances: 1,
      imageName: database.engine === "cnpg" ? database.imageName : undefined,
      storage: { size: owned && database.storage ? database.storage : "${SIZE}", storageClass: config.cluster.storageClass },
      // The plugin serves the WAL during recovery; it is not the WAL archiver, so the restored
      // cluster never writes into the original's repository.
      plugins: [{ name: PGBACKREST_PLUGIN, enabled: true, isWALArchiver: false, parameters: { stanzaRef: stanzaName } }],
      bootstrap: { recovery: { source: "origin", recoveryTarget: { targetTime: "${TARGET_TIME}" } } },
      externalClusters: [{ name: "origin", plugin: { name: PGBACKREST_PLUGIN, parameters: { stanzaRef: stanzaName } } }],
    },
  };
  const clusterYaml = stringify(restored).replace("targetTime: ${TARGET_TIME}", 'targetTime: "${TARGET_TIME}"');
  return [
    `### From \`${copy.destination}\`: pgBackRest repo${env.repo}, bucket \`${copy.location}\``,
    "",
    ...credentialBlocks(config, toolEnv, pgbackrestSecretRecipe(config, item)),
    "#### What the repository holds",
    "",
    ...code("sh", [`# stanza ${cluster}, repo${env.repo} = s3://${copy.location}/${cluster}`, `pgbackrest --repo=${env.repo} info`]),
    "#### Point-in-time recovery into a new Cluster",
    "",
    `A new Cluster \`${restoreName}\` beside \`${cluster}\`, recovered from repo${env.repo} only (a restore Stanza \`${stanzaName}\` that lists just this repository) up to \`TARGET_TIME\` (UTC; leave out \`recoveryTarget\` for the newest WAL). The Secret \`${pgbackrestSecretRecipe(config, item).name}\` the Stanza reads must exist in \`${ns}\` (its ExternalSecret creates it).`,
    "",
    ...code("sh", [
      "TARGET_TIME='<YYYY-MM-DD HH:MM:SS+00>'   # just before the mistake",
      ...(owned && database.engine === "cnpg" && database.storage ? [] : [`SIZE=$(kubectl get cluster -n ${ns} ${cluster} -o jsonpath='{.spec.storage.size}')   # or the size it had`]),
      "kubectl apply -f - <<'EOF'",
      ...stringify(restoreStanza).trimEnd().split("\n"),
      "EOF",
      "kubectl apply -f - <<EOF",
      ...clusterYaml.trimEnd().split("\n"),
      "EOF",
      `kubectl get cluster -n ${ns} ${restoreName} -w   # until "Cluster in healthy state"`,
    ]),
    `Then check the data (\`kubectl cnpg psql -n ${ns} ${restoreName}\`), and either point the app at the service \`${restoreName}-rw\` or copy what was lost back into \`${cluster}\`. Delete \`${restoreName}\` and the Stanza \`${stanzaName}\` when done.`,
    "",
    "#### By hand, without the operator",
    "",
    "With the credentials above and the same PostgreSQL major version:",
    "",
    ...code("sh", [
      `pgbackrest --repo=${env.repo} restore --pg1-path="$PWD/pgdata" --type=time --target='<YYYY-MM-DD HH:MM:SS+00>' --target-action=promote`,
      `# or the newest: pgbackrest --repo=${env.repo} restore --pg1-path="$PWD/pgdata"`,
      'pg_ctl -D "$PWD/pgdata" start',
    ]),
  ];
}

/** A CNPG cluster after a lost cluster: recover from the Stanza the stack recreated. */
export function cnpgAfterLostCluster(config: StackConfig, item: PlannedItem): Lines {
  const cluster = cnpgClusterName(config, item);
  const database = config.apps[item.app].databases[item.name];
  const manifest = {
    apiVersion: CNPG_API,
    kind: "Cluster",
    metadata: { name: cluster, namespace: item.namespace },
    spec: {
      plugins: [pluginEntry(config, item)],
      bootstrap: { recovery: { source: "origin" } },
      externalClusters: [{ name: "origin", plugin: { name: PGBACKREST_PLUGIN, parameters: { stanzaRef: cluster } } }],
    },
  };
  return [
    `   - CNPG \`${cluster}\`: give your Cluster manifest this bootstrap (instead of initdb) before it is first applied, so it recovers the newest WAL from the Stanza \`${cluster}\` the stack recreated (both repositories) and then archives on into it on a new timeline${database.engine === "cnpg" && database.owned ? "; the stack owns this Cluster (`owned: true`): apply it so before `pulumi up` creates it empty, or recover into a new Cluster as above and switch" : ""}:`,
    "",
    ...code("yaml", stringify(manifest).trimEnd().split("\n")).map((l) => (l ? `     ${l}` : l)),
  ];
}
