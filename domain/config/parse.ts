/** Validates a stack config: shape first (zod), then the references between its parts. */
import { ConfigError, didYouMean, formatIssues, formatPath, listAlternatives, Path } from "./errors";
import { appDestinations, appNamespace, DestinationChoice, tierDestinations } from "./resolve";
import { StackConfig, stackConfigSchema } from "./schema";
import { planBackups } from "../plan";
import { cnpgOwner, rotationIds, secretOwners, UNROTATABLE_PASSWORDS } from "../secrets";
import { isObjectStorage } from "../../destinations/registry";

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
    const password = UNROTATABLE_PASSWORDS.find((name) => key.endsWith(`/${name}`));
    if (password && valid.includes(key)) {
      const why =
        password === "cipher-pass"
          ? "pgBackRest cannot re-encrypt an existing repository; a new cipher pass needs a new stanza"
          : "TrueNAS Cloud Sync (rclone crypt) cannot re-encrypt what it uploaded; a new password or salt needs a new remote folder";
      return [{ path: ["rotations", key], message: `${why} (see README, Rotation)` }];
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
    ...checkMachines(config),
    ...checkOwnerIds(config),
  ];
}

/**
 * Each owner of generated credentials gets its own secret-store item named by its id: an app by
 * its name, a CNPG cluster as "pg-<cluster>", a dataset as "truenas-<dataset>", a host as
 * "host-<host>". Two owners with one id would read each other's credentials.
 */
function checkOwnerIds(config: StackConfig): Problem[] {
  const claimed = new Map<string, string>([["truenas", "TrueNAS's own cloud sync credentials"]]);
  for (const name of Object.keys(config.truenas?.datasets ?? {})) claimed.set(`truenas-${name}`, `truenas.datasets.${name}`);
  for (const name of Object.keys(config.hosts)) claimed.set(`host-${name}`, `hosts.${name}`);
  const problems: Problem[] = [];
  const clusters = new Set<string>(); // a cluster declared twice is checkCnpgClusters' error
  for (const [appName, app] of Object.entries(config.apps)) {
    for (const [dbName, db] of Object.entries(app.databases)) {
      if (db.engine !== "cnpg") continue;
      const namespace = db.namespace ?? appNamespace(appName, app);
      if (clusters.has(`${namespace}/${db.cluster ?? dbName}`)) continue;
      clusters.add(`${namespace}/${db.cluster ?? dbName}`);
      const id = cnpgOwner(db.cluster ?? dbName);
      const where = `apps.${appName}.databases.${dbName} (namespace ${namespace})`;
      const earlier = claimed.get(id);
      if (earlier) {
        problems.push({
          path: ["apps", appName, "databases", dbName, "cluster"],
          message: `the credentials of CNPG cluster ${db.cluster ?? dbName} would share the store item of ${earlier}; give one of the clusters another name`,
        });
      } else claimed.set(id, where);
    }
  }
  for (const appName of Object.keys(config.apps)) {
    const earlier = claimed.get(appName);
    if (earlier) {
      problems.push({
        path: ["apps", appName],
        message: `the app's credentials would share the store item homelab-backups-${config.cluster.name}-${appName} with ${earlier}; rename the app`,
      });
    }
  }
  return problems;
}

/** TrueNAS datasets and hosts: destinations exist, and cloud sync knows TrueNAS's credential for each. */
function checkMachines(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  for (const [name, dataset] of Object.entries(config.truenas?.datasets ?? {})) {
    const path = ["truenas", "datasets", name, "destinations"];
    if (dataset.destinations) problems.push(...unknownDestination(config, { names: dataset.destinations, path }));
    const names = dataset.destinations ?? tierDestinations(config, dataset.tier).names;
    for (const destination of names) {
      const kind = config.destinations[destination]?.kind;
      if (isObjectStorage(kind) && config.truenas!.cloudCredentials[destination] === undefined) {
        problems.push({
          path: ["truenas", "cloudCredentials", destination],
          message: `is required: the id of TrueNAS's cloud credential for ${destination}, which datasets.${name} syncs to (create it from the ${destination}-truenas key in the store item homelab-backups-${config.cluster.name}-truenas)`,
        });
      }
    }
  }
  for (const [name, host] of Object.entries(config.hosts)) {
    if (host.destinations) problems.push(...unknownDestination(config, { names: host.destinations, path: ["hosts", name, "destinations"] }));
  }
  return problems;
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
            `Kopia volumes of one app share a repository, whose maintenance runs as one user (and on a NAS whose files only their owner can read); ` +
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
  machine: ["sshPrivateKey"],
} as const;

function checkCredentials(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  // Credentials are keyed by destination, "truenas" or host name: the names must not collide.
  for (const host of Object.keys(config.hosts)) {
    if (config.destinations[host] || host === "truenas") {
      problems.push({ path: ["hosts", host], message: `"${host}" is already the name of ${host === "truenas" ? "the TrueNAS entry" : "a destination"}; credentials.${host} would be ambiguous` });
    }
  }
  const owners: Array<[string, keyof typeof CREDENTIAL_FIELDS]> = [
    ...Object.entries(config.destinations).map(([name, destination]): [string, keyof typeof CREDENTIAL_FIELDS] => [name, destination.kind]),
    ...(config.truenas ? [["truenas", "machine"] as [string, "machine"]] : []),
    ...Object.keys(config.hosts).map((host): [string, "machine"] => [host, "machine"]),
  ];
  for (const [name, kind] of owners) {
    const needed: readonly string[] = CREDENTIAL_FIELDS[kind];
    const given = config.credentials[name] ?? {};
    const what = kind === "machine" ? (name === "truenas" ? "the TrueNAS box" : `host "${name}"`) : `${kind} destination "${name}"`;
    for (const field of needed) {
      if (!given[field as keyof typeof given]) {
        problems.push({
          path: ["credentials", name, field],
          message: `is required for ${what}; set it with \`pulumi config set --secret --path 'credentials.${name}.${field}' <value>\``,
        });
      }
    }
    for (const field of Object.keys(given)) {
      if (!needed.includes(field)) {
        problems.push({
          path: ["credentials", name, field],
          message: `is not used by ${kind === "machine" ? "SSH connections" : `${kind} destinations`}${needed.length ? `; they take ${listAlternatives(needed)}` : ""}`,
        });
      }
    }
  }
  const known = owners.map(([name]) => name);
  for (const name of Object.keys(config.credentials)) {
    if (!known.includes(name)) {
      const suggestion = didYouMean(name, known);
      problems.push({ path: ["credentials", name], message: `no destination is named "${name}"${suggestion ? `; did you mean "${suggestion}"?` : ""}` });
    }
  }
  return problems;
}
