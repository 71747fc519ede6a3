/** Validates a stack config: shape first (zod), then the references between its parts. */
import { ConfigError, didYouMean, formatIssues, formatPath, listAlternatives, Path } from "./errors";
import { appDestinations, appNamespace, DestinationChoice } from "./resolve";
import { StackConfig, stackConfigSchema } from "./schema";
import { planBackups } from "../plan";
import { rotationIds, secretOwners } from "../secrets";

interface Problem {
  path: Path;
  message: string;
}

/**
 * Parses the `homelab-backups:*` config (keys without the namespace). Throws ConfigError listing
 * every problem, each with its key path.
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const result = stackConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, stackConfigSchema, raw));
  const problems = crossCheck(result.data);
  if (problems.length === 0) problems.push(...checkRotations(result.data));
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${formatPath(p.path)}: ${p.message}`).sort());
  return result.data;
}

/** Rotation counters must name a credential this stack generates (needs the plan, so runs last). */
function checkRotations(config: StackConfig): Problem[] {
  const keys = Object.keys(config.rotations);
  if (keys.length === 0) return [];
  const valid = rotationIds(secretOwners(config, planBackups(config)));
  return keys.flatMap((key): Problem[] => {
    if (key.endsWith("/cipher-pass") && valid.includes(key)) {
      return [
        {
          path: ["rotations", key],
          message: "pgBackRest cannot re-encrypt an existing repository; a new cipher pass needs a new stanza (see README, Rotation)",
        },
      ];
    }
    if (valid.includes(key)) return [];
    const suggestion = didYouMean(key, valid);
    return [{ path: ["rotations", key], message: `no generated credential is named "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}` }];
  });
}

function crossCheck(config: StackConfig): Problem[] {
  return [
    ...checkDestinationReferences(config),
    ...checkDumpsHaveNas(config),
    ...checkVolumes(config),
    ...checkCnpgClusters(config),
    ...checkCredentials(config),
    ...checkSecretStore(config),
  ];
}

function checkSecretStore(config: StackConfig): Problem[] {
  const store = config.secretStore;
  const managed = store.provider === "kubernetes" || store.manage;
  if (managed && store.kind !== "ClusterSecretStore") {
    return [
      {
        path: ["secretStore", "kind"],
        message: `a store this program creates is a ClusterSecretStore, so every app namespace can use it; set secretStore.kind: ClusterSecretStore${store.provider === "onepassword-sdk" ? " or secretStore.manage: false" : ""}`,
      },
    ];
  }
  return [];
}

function unknownDestination(config: StackConfig, choice: DestinationChoice): Problem[] {
  const known = Object.keys(config.destinations);
  if (!choice.path) return [];
  return choice.names.flatMap((name, index) => {
    if (config.destinations[name]) return [];
    const suggestion = didYouMean(name, known);
    const valid = known.length > 0 ? `configured destinations: ${known.join(", ")}` : "no destinations are configured";
    const hint = suggestion ? ` (did you mean "${suggestion}"?)` : "";
    return [{ path: [...choice.path!, index], message: `unknown destination "${name}"${hint}; ${valid}` }];
  });
}

function checkDestinationReferences(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  for (const tier of ["1", "2", "3"] as const) {
    const names = config.tiers[tier]?.destinations;
    if (names) problems.push(...unknownDestination(config, { names, path: ["tiers", tier, "destinations"] }));
  }
  for (const [name, app] of Object.entries(config.apps)) {
    if (app.destinations) problems.push(...unknownDestination(config, { names: app.destinations, path: ["apps", name, "destinations"] }));
  }
  return problems;
}

function checkDumpsHaveNas(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  for (const [appName, app] of Object.entries(config.apps)) {
    const dumps: Path[] = [
      ...Object.entries(app.databases)
        .filter(([, db]) => db.engine === "postgres")
        .map(([name]) => ["apps", appName, "databases", name]),
      ...Object.keys(app.sqlite).map((name) => ["apps", appName, "sqlite", name]),
      ...Object.keys(app.redis).map((name) => ["apps", appName, "redis", name]),
    ];
    if (dumps.length === 0) continue;
    const choice = appDestinations(config, appName);
    const hasNas = choice.names.some((name) => config.destinations[name]?.kind === "nfs");
    // An app with no destinations at all keeps no copies, which the tier rules judge; dumps that
    // should go offsite but have no NAS share to land on first cannot be built.
    if (hasNas || choice.names.length === 0) continue;
    const where = choice.path ? formatPath(choice.path) : `apps.${appName}.destinations or tiers.${app.tier}.destinations`;
    for (const path of dumps) {
      problems.push({ path, message: `dumps are written to the NAS share first, but this app has no nfs destination; add one to ${where}` });
    }
  }
  return problems;
}

function checkVolumes(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  const denylist = config.cluster.moverStorageClassDenylist;
  const claims = new Map<string, string>();
  if (denylist.includes(config.cluster.storageClass)) {
    problems.push({
      path: ["cluster", "storageClass"],
      message: `"${config.cluster.storageClass}" is on cluster.moverStorageClassDenylist; backup movers must use block storage`,
    });
  }
  for (const [appName, app] of Object.entries(config.apps)) {
    const namespace = appNamespace(appName, app);
    const kopia = Object.entries(app.volumes).filter(([, volume]) => volume.mover === "kopia");
    for (const [volumeName, volume] of kopia.slice(1)) {
      const [firstName, first] = kopia[0];
      if (volume.uid !== first.uid || volume.gid !== first.gid) {
        problems.push({
          path: ["apps", appName, "volumes", volumeName, "uid"],
          message:
            `Kopia volumes of one app share a repository, whose maintenance runs as one user; ` +
            `use the uid/gid of apps.${appName}.volumes.${firstName} (${first.uid}/${first.gid}) or mover: restic`,
        });
      }
    }
    for (const [volumeName, volume] of Object.entries(app.volumes)) {
      const claim = volume.claim ?? volumeName;
      const key = `${namespace}/${claim}`;
      const owner = claims.get(key);
      if (owner) {
        problems.push({ path: ["apps", appName, "volumes", volumeName], message: `claim ${key} is already declared by ${owner}` });
      } else {
        claims.set(key, `apps.${appName}.volumes.${volumeName}`);
      }
      if (volume.storageClass && denylist.includes(volume.storageClass)) {
        problems.push({
          path: ["apps", appName, "volumes", volumeName, "storageClass"],
          message:
            `"${volume.storageClass}" is on cluster.moverStorageClassDenylist: CephFS loses sparse-file contents on restore; ` +
            `move the volume to a block StorageClass such as "${config.cluster.storageClass}"`,
        });
      }
    }
  }
  return problems;
}

function checkCnpgClusters(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const [appName, app] of Object.entries(config.apps)) {
    for (const [dbName, db] of Object.entries(app.databases)) {
      if (db.engine !== "cnpg") continue;
      if (db.owned && !db.storage) {
        problems.push({ path: ["apps", appName, "databases", dbName, "storage"], message: "is required when the program owns the Cluster (owned: true)" });
      }
      const key = `${db.namespace ?? appNamespace(appName, app)}/${db.cluster ?? dbName}`;
      const owner = seen.get(key);
      if (owner) {
        problems.push({
          path: ["apps", appName, "databases", dbName],
          message: `CNPG cluster ${key} is already declared by ${owner}; declare each cluster once, under the app with the highest tier`,
        });
      } else {
        seen.set(key, `apps.${appName}.databases.${dbName}`);
      }
    }
  }
  return problems;
}

const CREDENTIAL_FIELDS = {
  b2: ["applicationKeyId", "applicationKey"],
  r2: ["apiToken"],
  nfs: [],
  ssh: [],
} as const;

function checkCredentials(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  for (const [name, destination] of Object.entries(config.destinations)) {
    const needed: readonly string[] = CREDENTIAL_FIELDS[destination.kind];
    const given = config.credentials[name] ?? {};
    for (const field of needed) {
      if (!given[field as keyof typeof given]) {
        problems.push({
          path: ["credentials", name, field],
          message: `is required for ${destination.kind} destination "${name}"; set it with \`pulumi config set --secret --path 'credentials.${name}.${field}' <value>\``,
        });
      }
    }
    for (const field of Object.keys(given)) {
      if (!needed.includes(field)) {
        problems.push({
          path: ["credentials", name, field],
          message: `is not used by ${destination.kind} destinations${needed.length ? `; they take ${listAlternatives(needed)}` : ""}`,
        });
      }
    }
  }
  for (const name of Object.keys(config.credentials)) {
    if (!config.destinations[name]) {
      const suggestion = didYouMean(name, Object.keys(config.destinations));
      problems.push({ path: ["credentials", name], message: `no destination is named "${name}"${suggestion ? `; did you mean "${suggestion}"?` : ""}` });
    }
  }
  return problems;
}
